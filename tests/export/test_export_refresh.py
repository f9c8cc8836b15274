"""The review's Save keeps the exports consistent: rewritten, or renamed .stale with a
warning when the export extra is missing."""

import sys

import numpy as np
import pandas as pd
import pytest

import caimg
from caimg.export import BATCH_XLSX, ExportWarning, export_nwb, export_xlsx, refresh_exports
from caimg.review import ReviewSession

pytest.importorskip("openpyxl")
pynwb = pytest.importorskip("pynwb")
nwbinspector = pytest.importorskip("nwbinspector")


def _accepted_in_nwb(path):
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        ps = nwb.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        table = ps.to_dataframe()
        accepted = dict(zip(table.index, table["accepted"].astype(bool), strict=True))
        return (accepted, nwb.subject.species,
                set(nwb.processing["ophys"]["kinetics"].to_dataframe()["roi"]))


def test_review_save_rewrites_nwb_and_workbook(fresh):
    out = fresh("fura2")
    nwb = export_nwb(out / "hyper", metadata={"subject": {"species": "Homo sapiens"}})
    book = export_xlsx(out, out / BATCH_XLSX)
    other = export_nwb(out / "cells")
    other_stamp = other.stat().st_mtime_ns
    s = ReviewSession.open(out / "hyper")
    roi = int(s.roi_ids[0])
    accepted, species, kin_rois = _accepted_in_nwb(nwb)
    assert accepted[roi] and roi in kin_rois
    s.reject(roi)
    s.save()
    accepted, species, kin_rois = _accepted_in_nwb(nwb)
    assert not accepted[roi] and roi not in kin_rois
    assert species == "Homo sapiens"  # the user's metadata survives the rewrite
    msgs = [m for m in nwbinspector.inspect_nwbfile(nwbfile_path=str(nwb))
            if m.importance.name in ("CRITICAL", "BEST_PRACTICE_VIOLATION")]
    assert msgs == []
    rois = pd.read_excel(book, sheet_name="rois")
    row = rois[(rois["recording"] == "hyper") & (rois["roi"] == roi)]
    assert not bool(row["accepted"].iloc[0])
    pd.testing.assert_frame_equal(pd.read_excel(book, sheet_name="kinetics"),
                                  pd.read_csv(out / "kinetics.csv"))
    assert other.stat().st_mtime_ns == other_stamp  # another recording's file untouched


def test_review_save_without_extra_marks_stale_then_refresh(fresh, monkeypatch):
    out = fresh("fluo4")
    nwb = export_nwb(out / "fluo", metadata={"subject": {"species": "Mus musculus"}})
    book = export_xlsx(out, out / BATCH_XLSX)
    s = ReviewSession.open(out / "fluo")
    roi = int(s.roi_ids[-1])
    s.reject(roi)
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "pynwb", None)
        m.setitem(sys.modules, "openpyxl", None)
        with pytest.warns(ExportWarning, match=r"caimg\[export\]") as rec:
            folder = s.save()
    assert len(rec) == 2
    assert not nwb.exists() and not book.exists()
    stale_nwb, stale_book = out / "fluo.nwb.stale", out / f"{BATCH_XLSX}.stale"
    assert stale_nwb.is_file() and stale_book.is_file()
    assert not bool(caimg.load_result(folder).rois.set_index("roi").loc[roi, "accepted"])
    # with the extra back, a refresh writes them again and removes the stale copies
    written = refresh_exports(folder)
    assert sorted(p.name for p in written) == sorted([nwb.name, book.name])
    assert nwb.is_file() and book.is_file()
    assert not stale_nwb.exists() and not stale_book.exists()
    accepted, species, _ = _accepted_in_nwb(nwb)
    assert not accepted[roi] and species == "Mus musculus"


def test_forced_rerun_refreshes_an_existing_export(batches, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    src = caimg.load_result(batches["fluo4"] / "fluo").provenance["inputs"][0]["path"]
    (data / "fluo.tif").write_bytes(open(src, "rb").read())
    out = tmp_path / "out"
    over = {"stimulus_time_s": 12.0}
    caimg.run_batch(data, out, "fluo4", overrides=over)
    nwb = export_nwb(out / "fluo")
    with pynwb.NWBHDF5IO(str(nwb), "r") as io:
        before = io.read().identifier
    caimg.run_batch(data, out, "fluo4", overrides=over)  # skipped: left alone
    with pynwb.NWBHDF5IO(str(nwb), "r") as io:
        assert io.read().identifier == before
    caimg.run_batch(data, out, "fluo4", overrides=over, force=True)  # remade: rewritten
    with pynwb.NWBHDF5IO(str(nwb), "r") as io:
        f = io.read()
        assert f.identifier != before
        _, _, dff = caimg.load_result(out / "fluo").trace_matrix()
        np.testing.assert_array_equal(np.asarray(f.processing["ophys"]["DfOverF"]["dff"].data),
                                      dff)

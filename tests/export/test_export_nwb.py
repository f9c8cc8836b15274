"""NWB files open with pynwb, pass nwbinspector and give back the result folder."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import caimg
from caimg.export import ExportError, export_nwb
from caimg.export.nwb import SERIES, read_nwb_metadata

pynwb = pytest.importorskip("pynwb")
nwbinspector = pytest.importorskip("nwbinspector")

SERIOUS = ("CRITICAL", "BEST_PRACTICE_VIOLATION")


def serious_findings(path):
    """nwbinspector findings of importance CRITICAL or BEST_PRACTICE_VIOLATION."""
    msgs = list(nwbinspector.inspect_nwbfile(nwbfile_path=str(path)))
    assert all(hasattr(m, "importance") for m in msgs)
    return [f"{m.importance.name} {m.check_function_name}: {m.message}" for m in msgs
            if m.importance.name in SERIOUS]


def check_against_result(path, folder):
    """Everything the NWB file says about the traces, ROIs and tables equals the folder."""
    res = caimg.load_result(folder)
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        ophys = nwb.processing["ophys"]
        ps = ophys["ImageSegmentation"]["PlaneSegmentation"]
        ids = np.asarray(ps.id.data)
        np.testing.assert_array_equal(ids, res.rois["roi"].to_numpy())
        masks = np.asarray(ps["image_mask"].data)
        labels = np.zeros(res.labels.shape, int)
        for roi, mask in zip(ids, masks, strict=True):
            assert mask.shape == res.labels.T.shape  # NWB (x, y)
            labels[mask.T] = roi
        np.testing.assert_array_equal(labels, res.labels)
        table = ps.to_dataframe()
        for col in res.rois.columns.drop("roi"):
            got, want = table[col].to_numpy(), res.rois[col].to_numpy()
            if col in ("source", "reject_reason"):
                want = pd.Series(want, dtype=object).where(pd.notna(want), "").astype(str)
                want = want.to_numpy()
                got = got.astype(str)
            elif res.rois[col].dtype == bool:
                got = got.astype(bool)
            np.testing.assert_array_equal(got, want, err_msg=col)
        signal_cols = [c for c in res.traces.columns if c not in ("roi", "frame", "time_s")]
        found = {}
        for cont in ("Fluorescence", "DfOverF", "Calcium"):
            if cont in ophys.data_interfaces:
                for name, s in ophys[cont].roi_response_series.items():
                    assert SERIES[name][0] == cont
                    found[name] = s
        assert sorted(found) == sorted(signal_cols)
        time_s, roi_ids, _ = res.trace_matrix()
        for col, s in found.items():
            _, ids_c, values = res.trace_matrix(col)
            np.testing.assert_array_equal(np.asarray(s.data), values, err_msg=col)
            np.testing.assert_array_equal(ids[np.asarray(s.rois.data)], ids_c)
            if s.timestamps is not None:
                np.testing.assert_array_equal(np.asarray(s.timestamps), time_s)
            else:
                t = s.starting_time + np.arange(len(time_s)) / s.rate
                np.testing.assert_allclose(t, time_s, rtol=0, atol=1e-9)
        kin = ophys["kinetics"].to_dataframe().reset_index(drop=True)
        pd.testing.assert_frame_equal(kin, res.kinetics, check_dtype=False)
        if res.treatments is not None:
            tr = ophys["treatment_responses"].to_dataframe().reset_index(drop=True)
            want = res.treatments.copy()
            want["treatment"] = want["treatment"].astype(str)
            pd.testing.assert_frame_equal(tr.astype({"treatment": str}), want,
                                          check_dtype=False)
        return sorted(found)


@pytest.mark.parametrize("batch, rec", [("fura2", "hyper"), ("fura2", "cells"),
                                        ("fluo4", "fluo")])
def test_nwb_round_trip_and_inspector(fresh, batch, rec):
    out = fresh(batch)
    path = export_nwb(out / rec)
    assert path == out / f"{rec}.nwb"
    assert serious_findings(path) == []
    check_against_result(path, out / rec)
    res = caimg.load_result(out / rec)
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert nwb.session_id == rec and nwb.session_start_time.tzinfo is not None
        planes = nwb.imaging_planes
        if batch == "fura2":
            assert sorted(p.excitation_lambda for p in planes.values()) == [340.0, 380.0]
            assert {p.indicator for p in planes.values()} == {"Fura-2"}
            assert next(iter(planes.values())).optical_channel[0].emission_lambda == 510.0
            assert "ca_nM" in nwb.processing["ophys"]["Calcium"].roi_response_series
            assert nwb.processing["ophys"]["Calcium"]["ca_nM"].unit == "nM"
        else:
            (plane,) = planes.values()
            assert (plane.excitation_lambda, plane.indicator) == (494.0, "Fluo-4")
            assert "Calcium" not in nwb.processing["ophys"].data_interfaces
        assert all(p.imaging_rate == pytest.approx(2.0) for p in planes.values())
        # the raw stacks: relative external links that resolve to the inputs in run.json
        inputs = sorted(i["path"] for i in res.provenance["inputs"])
        linked = sorted(str((path.parent / s.external_file[0]).resolve())
                        for s in nwb.acquisition.values())
        assert linked == inputs
        if rec == "cells":
            assert sorted(nwb.acquisition) == ["raw_f340", "raw_f380"]
            assert nwb.acquisition["raw_f340"].external_file[0].endswith("_340.tif")
        stim = nwb.intervals["stimulus"].to_dataframe()
        assert stim["start_time"].tolist() == [12.0]
        treat = nwb.intervals["treatments"].to_dataframe()
        assert treat["treatment"].tolist() == ["ATP", "ionomycin"]
        assert treat["start_time"].tolist() == [12.0, 24.0]
        assert treat["stop_time"].tolist()[0] == 24.0
        assert "ATP" in nwb.pharmacology
        prov = json.loads(nwb.notes.split("result folder):\n", 1)[1])
        assert prov["recording"] == rec and prov["config"]["indicator"] == batch


def test_irregular_time_written_as_timestamps(fresh):
    out = fresh("fluo4")
    tr = pd.read_csv(out / "fluo" / "traces.csv")
    jitter = np.random.default_rng(0).uniform(-0.1, 0.1, tr["frame"].max() + 1)
    jitter[0] = 0
    tr["time_s"] = tr["frame"] * 0.5 + jitter[tr["frame"]]
    tr.to_csv(out / "fluo" / "traces.csv", index=False)
    path = export_nwb(out / "fluo", out / "irregular.nwb")
    assert serious_findings(path) == []
    check_against_result(path, out / "fluo")
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        ophys = io.read().processing["ophys"]
        f, dff = ophys["Fluorescence"]["f"], ophys["DfOverF"]["dff"]
        assert f.rate is None and f.timestamps is not None
        np.testing.assert_array_equal(np.asarray(dff.timestamps), np.asarray(f.timestamps))


def test_metadata_missing_input_and_errors(fresh, tmp_path, monkeypatch):
    out = fresh("fluo4")
    md = {"nwbfile": {"experimenter": ["Doe, Jane"], "institution": "Example U",
                      "session_start_time": "2026-05-04T10:30:00+02:00"},
          "subject": {"species": "Homo sapiens", "subject_id": "HEK293-p12"}}
    # the raw stack is gone: not linked, said in the notes, still a valid file
    moved = shutil.copytree(out / "fluo", tmp_path / "fluo")
    prov = json.loads((moved / "run.json").read_text())
    prov["inputs"][0]["path"] = str(tmp_path / "gone.tif")
    (moved / "run.json").write_text(json.dumps(prov))
    path = export_nwb(moved, tmp_path / "meta.nwb", metadata=md)
    assert serious_findings(path) == []
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert list(nwb.experimenter) == ["Doe, Jane"] and nwb.institution == "Example U"
        assert nwb.subject.species == "Homo sapiens" and nwb.subject.subject_id == "HEK293-p12"
        assert nwb.subject.sex == "U"
        assert nwb.session_start_time.isoformat() == "2026-05-04T10:30:00+02:00"
        assert len(nwb.acquisition) == 0 and "gone.tif" in nwb.notes
    # what a rewrite carries over: exactly what the user gave, not caimg's defaults
    assert read_nwb_metadata(path) == md
    with pytest.raises(ExportError, match="unknown key.*'speces'"):
        export_nwb(out / "fluo", tmp_path / "x.nwb", metadata={"subject": {"speces": "x"}})
    with pytest.raises(ExportError, match="ISO 8601"):
        export_nwb(out / "fluo", tmp_path / "x.nwb",
                   metadata={"nwbfile": {"session_start_time": "yesterday"}})
    with pytest.raises(caimg.ResultError):
        export_nwb(tmp_path, tmp_path / "x.nwb")
    monkeypatch.setitem(sys.modules, "pynwb", None)
    with pytest.raises(ExportError, match=r"pynwb.*pip install 'caimg\[export\]'"):
        export_nwb(out / "fluo")
    assert not Path(out / "fluo.nwb").exists() and not (tmp_path / "x.nwb").exists()

"""Every bad input of issue 7: a one-line error naming the file and the expectation, a row in
failures.csv, the rest of the batch completes; doubtful-but-usable data completes with a
warning in run.json. docs/bad_inputs.md lists the same cases and what the user sees."""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import roifile
import tifffile

import caimg
from caimg.cli import main
from caimg.errors import ConfigError, RoiError, StackReadError
from caimg.io.stack import MetadataWarning, find_recordings, read_recording, write_recording
from caimg.synthetic import make_recording
from caimg.validate import DataQualityWarning

DT = 0.5
STIM = 12.0  # s; recordings have 60 frames (0 .. 29.5 s)


def _truth(indicator="fluo4", seed=1, n_frames=60):
    return make_recording(indicator, preset="easy", shape=(64, 64), n_frames=n_frames,
                          n_cells=6, stimulus_time_s=STIM, rng=seed)


@pytest.fixture(scope="module")
def fluo():
    return _truth().recording.channels["f"]


@pytest.fixture(scope="module")
def fura():
    return _truth("fura2", seed=2).recording.channels


def _single(arr, path, **kw):
    kw.setdefault("frame_interval_s", DT)
    return write_recording({"f": arr}, path, layout="single", pixel_size_um=1.0, **kw)[0]


def _run(capsys, *args):
    code = main([*map(str, args)])
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def _failures(out):
    df = pd.read_csv(Path(out) / "failures.csv")
    return {r.recording: r for r in df.itertuples()}


def _assert_row(rows, name, error_type, *needles):
    assert name in rows, f"{name} not in failures.csv: {sorted(rows)}"
    row = rows[name]
    assert row.error_type == error_type, (row.error_type, row.message)
    assert "\n" not in row.message
    for needle in needles:
        assert needle in row.message, (needle, row.message)


def _warnings(out, name):
    return json.loads((Path(out) / name / "run.json").read_text())["warnings"]


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory, fluo, fura):
    """One folder holding one good recording and every kind of bad file."""
    d = tmp_path_factory.mktemp("bad_inputs")
    good = _single(fluo, d / "good.tif")
    data = good.read_bytes()
    (d / "truncated.tif").write_bytes(data[: len(data) // 3])
    (d / "nottiff.tif").write_text("these are my notes, not an image\n")
    (d / "empty.tif").write_bytes(b"")
    tifffile.imwrite(d / "single_image.tif", fluo[0], imagej=True,
                     metadata={"finterval": DT}, photometric="minisblack")
    write_recording({"f340": fura["f340"][:1], "f380": fura["f380"][:1]}, d / "x", layout="pair",
                    frame_interval_s=DT)  # pair written, then its 380 file removed
    os.replace(d / "x_340.tif", d / "lonely_340.tif")
    (d / "x_380.tif").unlink()
    write_recording({"f": fura["f340"]}, d / "shape_340.tif", layout="single", frame_interval_s=DT)
    write_recording({"f": fura["f380"][:, :32]}, d / "shape_380.tif", layout="single",
                    frame_interval_s=DT)
    write_recording({"f": fura["f340"]}, d / "count_340.tif", layout="single", frame_interval_s=DT)
    write_recording({"f": fura["f380"][:40]}, d / "count_380.tif", layout="single",
                    frame_interval_s=DT)
    tifffile.imwrite(d / "no_interval.tif", fluo, photometric="minisblack")  # plain, no metadata
    many_nan = fluo.astype(np.float32)
    many_nan[10, :20] = np.nan
    _single(many_nan, d / "many_nan.tif")
    inf = fluo.astype(np.float32)
    inf[3:6] = np.inf
    _single(inf, d / "inf.tif")
    few_nan = fluo.astype(np.float32)
    few_nan[12, 5, 7] = np.nan
    few_nan[30, 40, 41] = np.nan
    _single(few_nan, d / "few_nan.tif")
    _single(np.zeros_like(fluo), d / "zeros.tif")
    _single(np.full_like(fluo, 1234), d / "constant.tif")
    sat = fluo.copy()
    bright = sat[20:24] > np.percentile(sat[20:24], 97)
    sat[20:24][bright] = np.iinfo(np.uint16).max
    _single(sat, d / "saturated.tif")
    _single(fluo[:12], d / "too_long_interval.tif", frame_interval_s=15.0)  # 1 frame before 12 s
    _single(fluo[:10], d / "ends_early.tif")  # 0 .. 4.5 s, stimulus at 12 s
    _single(fluo[:2], d / "two_frames.tif")
    return d


@pytest.fixture(scope="module")
def bad_batch(bad_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("bad_out") / "out"
    code = main(["-q", "run", str(bad_folder), "--out", str(out), "--stimulus-time", str(STIM)])
    return code, out


def test_batch_completes_with_failures_listed(bad_batch):
    code, out = bad_batch
    assert code == 1
    rows = _failures(out)
    for ok in ("good", "few_nan", "saturated"):
        assert ok not in rows, rows[ok].message if ok in rows else None
        caimg.load_result(out / ok)  # complete and loadable
    assert not any((out / name).exists() for name in rows)
    recs = pd.read_csv(out / "recordings.csv").set_index("recording")
    assert set(recs.loc[list(rows), "status"]) == {"failed"}
    assert set(recs.loc[["good", "few_nan", "saturated"], "status"]) == {"ok"}


@pytest.mark.parametrize("name, error_type, needles", [
    ("truncated", "StackReadError", ["truncated.tif", "truncated or damaged",
                                     "expected a complete TIFF"]),
    ("nottiff", "StackReadError", ["nottiff.tif", "not a readable TIFF", "expected a TIFF"]),
    ("empty", "StackReadError", ["empty.tif", "0 bytes", "expected a TIFF stack"]),
    ("single_image", "StackReadError", ["single_image.tif", "single 2-D image",
                                        "expected a time series"]),
    ("lonely", "StackReadError", ["lonely_340.tif", "no _380 partner", "expected lonely_380.tif"]),
    ("shape", "StackReadError", ["shape_340.tif", "shape_380.tif", "(60, 32, 64)",
                                 "expected the same frame count and frame size"]),
    ("count", "StackReadError", ["count_340.tif", "(40, 64, 64)",
                                 "expected the same frame count"]),
    ("no_interval", "StackReadError", ["no_interval.tif", "no frame interval",
                                       "--frame-interval"]),
    ("many_nan", "StackReadError", ["many_nan.tif", "NaN or infinite", "frame 10",
                                    "expected finite intensities"]),
    ("inf", "StackReadError", ["inf.tif", "NaN or infinite", "first in frame 3",
                               "expected finite intensities"]),
    ("zeros", "StackReadError", ["zeros.tif", "constant", "is 0", "expected an image of cells"]),
    ("constant", "StackReadError", ["constant.tif", "is 1234", "expected an image of cells"]),
    ("too_long_interval", "ConfigError", ["too_long_interval.tif",
                                          "1 frame(s) before the stimulus", "needs at least 2"]),
    ("ends_early", "ConfigError", ["ends_early.tif", "after the last frame",
                                   "expected a time within the recording"]),
    ("two_frames", "StackReadError", ["two_frames.tif", "2 frame(s)", "expected a time series"]),
])
def test_bad_file_row(bad_batch, name, error_type, needles):
    _, out = bad_batch
    _assert_row(_failures(out), name, error_type, *needles)


def test_doubtful_data_completes_with_warning(bad_batch):
    _, out = bad_batch
    assert _warnings(out, "good") == []
    few = _warnings(out, "few_nan")
    assert any("few_nan.tif" in w and "2 NaN or infinite pixel(s)" in w for w in few), few
    sat = _warnings(out, "saturated")
    assert any(w.startswith("DataQualityWarning") and "saturated in 4 of 60 frames" in w
               for w in sat), sat
    prov = json.loads((out / "few_nan" / "run.json").read_text())
    assert prov["inputs"][0]["path"].endswith("few_nan.tif")


def test_direct_reads_raise_caimg_errors(bad_folder):
    for name, needle in (("truncated.tif", "truncated"), ("nottiff.tif", "not a readable TIFF"),
                         ("empty.tif", "0 bytes"), ("single_image.tif", "single 2-D image"),
                         ("no_interval.tif", "no frame interval"),
                         ("many_nan.tif", "NaN or infinite"), ("missing.tif", "No such file")):
        with pytest.raises(StackReadError, match="expected") as info:
            read_recording(bad_folder / name)
        assert name in str(info.value) and needle in str(info.value)
    with pytest.raises(StackReadError, match="no _380 partner"):
        read_recording(bad_folder / "lonely_340.tif", layout="pair")
    with pytest.raises(StackReadError, match="expected the same frame count"):
        read_recording([bad_folder / "count_340.tif", bad_folder / "count_380.tif"])
    # a few NaN pixels: read, filled with the frame median, with a warning
    with pytest.warns(MetadataWarning, match="2 NaN or infinite pixel"):
        rec = read_recording(bad_folder / "few_nan.tif")
    frame = np.asarray(rec.channels["f"][12])
    assert np.isfinite(frame).all()
    raw = tifffile.imread(bad_folder / "few_nan.tif")
    assert frame[5, 7] == np.median(raw[12][np.isfinite(raw[12])])
    assert np.isnan(raw[12, 5, 7])  # the file itself is untouched
    assert rec.metadata["nonfinite_pixels_filled"] == {"f": 2}


def test_truncation_found_with_logging_disabled(bad_folder):
    """tifffile only logs a broken ImageJ series; the metadata's plane count is checked too."""
    import logging

    logging.disable(logging.CRITICAL)
    try:
        with pytest.raises(StackReadError, match="metadata describes 60 planes but only 1"):
            read_recording(bad_folder / "truncated.tif")
    finally:
        logging.disable(logging.NOTSET)


def test_direct_run_raises_for_unusable_content(bad_folder):
    with pytest.raises(StackReadError, match="expected an image of cells") as info:
        caimg.run(bad_folder / "zeros.tif", "fluo4", stimulus_time_s=STIM)
    assert "zeros.tif" in str(info.value)
    with pytest.raises(ConfigError, match="after the last frame"):
        caimg.run(bad_folder / "ends_early.tif", "fluo4", stimulus_time_s=STIM)
    with pytest.warns(DataQualityWarning, match="saturated"):
        res = caimg.run(bad_folder / "saturated.tif", "fluo4", stimulus_time_s=STIM)
    assert any("saturated" in w for w in res.provenance["warnings"])


def test_alternating_odd_frame_count(tmp_path, fura, capsys):
    d = tmp_path / "in"
    write_recording(fura, d / "alt_even.tif", layout="alternating", frame_interval_s=DT)
    tifffile.imwrite(d / "alt_odd.tif", np.stack([fura["f340"][0], fura["f380"][0],
                                                  fura["f340"][1]]), photometric="minisblack")
    out = tmp_path / "out"
    code, text = _run(capsys, "run", d, "--out", out, "--layout", "alternating",
                      "--pipeline", "fura2", "--frame-interval", DT, "--stimulus-time", STIM)
    assert code == 1, text
    _assert_row(_failures(out), "alt_odd", "StackReadError", "alt_odd.tif", "found 3 pages",
                "even number of pages")
    caimg.load_result(out / "alt_even")


def test_frame_interval_disagreeing_with_metadata_warns(tmp_path, fluo, capsys):
    d = tmp_path / "in"
    _single(fluo, d / "cells.tif")  # metadata says 0.5 s
    out = tmp_path / "out"
    code, text = _run(capsys, "run", d, "--out", out, "--frame-interval", 0.6,
                      "--stimulus-time", STIM)
    assert code == 0, text
    warns = _warnings(out, "cells")
    assert any(w.startswith("MetadataWarning") and "0.5 s but 0.6 s was given" in w
               for w in warns), warns
    prov = json.loads((out / "cells" / "run.json").read_text())
    assert prov["frame_interval_s"] == 0.6 and prov["frame_interval_source"] == "override"


@pytest.mark.parametrize("args, needles", [
    (["--frame-interval", "-1"], ["input.frame_interval_s", "-1", "expected a value > 0"]),
    (["--frame-interval", "0"], ["input.frame_interval_s", "expected a value > 0"]),
    (["--set", "kinetics.responder_kk=3"], ["kinetics.responder_kk",
                                            "did you mean 'responder_k'"]),
    (["--set", "motion.upsample_factor='ten'"], ["motion.upsample_factor",
                                                  "expected a whole number"]),
    (["--set", "background.percentile=150"], ["background.percentile", "out of range",
                                              ">= 0 and <= 100"]),
    (["--set", "kinetics.events='some'"], ["kinetics.events",
                                           "expected one of ['single', 'all']"]),
])
def test_bad_recipe_values_fail_every_recording(tmp_path, fluo, capsys, args, needles):
    d = tmp_path / "in"
    _single(fluo, d / "a.tif")
    _single(fluo, d / "b.tif")
    out = tmp_path / "out"
    code, text = _run(capsys, "run", d, "--out", out, *args)
    assert code == 2
    for needle in needles:
        assert needle in text, text
    rows = _failures(out)
    assert sorted(rows) == ["a", "b"]
    for row in rows.values():
        assert row.error_type == "ConfigError" and needles[0] in row.message
    assert not (out / "a").exists()


def test_recipe_file_with_unknown_key(tmp_path, fluo, capsys):
    d = tmp_path / "in"
    _single(fluo, d / "a.tif")
    recipe = tmp_path / "mine.toml"
    recipe.write_text('indicator = "fluo4"\n[kinetics]\nresponder_k = 4\nbaseline_windw_s = 5\n')
    code, text = _run(capsys, "run", d, "--out", tmp_path / "out", "--pipeline", recipe)
    assert code == 2
    assert "kinetics.baseline_windw_s" in text
    assert "did you mean 'baseline_window_s'" in text
    assert list(_failures(tmp_path / "out")) == ["a"]


def test_unreadable_folder_is_a_failure_row(tmp_path, fluo, capsys, monkeypatch):
    d = tmp_path / "in"
    _single(fluo, d / "a.tif")
    _single(fluo, d / "locked" / "b.tif")
    real_scandir = os.scandir
    locked = str(d / "locked")

    def scandir(path="."):  # root can read anything: simulate a folder without permission
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(StackReadError, match="locked: folder cannot be read"):
        find_recordings(d)
    out = tmp_path / "out"
    code, text = _run(capsys, "run", d, "--out", out, "--stimulus-time", STIM)
    assert code == 1, text
    (row,) = _failures(out).values()
    assert row.error_type == "StackReadError"
    assert locked in row.message and "Permission denied" in row.message
    assert "expected a readable folder" in row.message
    caimg.load_result(out / "a")


def test_missing_path_is_a_failure_row(tmp_path, fluo, capsys):
    d = tmp_path / "in"
    _single(fluo, d / "a.tif")
    out = tmp_path / "out"
    code, text = _run(capsys, "run", d, tmp_path / "nowhere" / "b.tif", "--out", out,
                      "--stimulus-time", STIM)
    assert code == 1, text
    (row,) = _failures(out).values()
    assert row.error_type == "StackReadError"
    assert "nowhere/b.tif" in row.message and "no such file or folder" in row.message
    assert "expected a TIFF file" in row.message
    caimg.load_result(out / "a")
    # only missing paths: a usage error (exit 2), listed in failures.csv too
    code, text = _run(capsys, "run", tmp_path / "nowhere", "--out", tmp_path / "out2")
    assert code == 2 and "no such file or folder" in text
    assert len(_failures(tmp_path / "out2")) == 1


def test_roiset_outside_image(tmp_path, fluo, capsys):
    d = tmp_path / "in"
    _single(fluo, d / "a.tif")
    rois = tmp_path / "RoiSet.zip"
    square = np.array([[100, 100], [110, 100], [110, 110], [100, 110]], float)  # x, y
    roifile.roiwrite(rois, [roifile.ImagejRoi.frompoints(square, name="far")])
    out = tmp_path / "out"
    code, text = _run(capsys, "run", d, "--out", out, "--rois", rois, "--stimulus-time", STIM)
    assert code == 1, text
    rows = _failures(out)
    _assert_row(rows, "a", "RoiError", "RoiSet.zip")
    assert "(64, 64)" in rows["a"].message
    with pytest.raises(RoiError, match="RoiSet.zip"):
        caimg.run(d / "a.tif", "fluo4", rois_file=str(rois))


def test_out_inside_input_is_refused(tmp_path, fluo, capsys):
    d = tmp_path / "in"
    _single(fluo, d / "a.tif")
    code, text = _run(capsys, "run", d, "--out", d / "results")
    assert code == 2
    assert "inside the input folder" in text and "expected an output folder outside" in text
    assert sorted(p.name for p in d.iterdir()) == ["a.tif"]  # nothing written

"""Issue 16, recipes/options and data plausibility: every bad recipe or option stops the
batch once with a ConfigError naming it (exit 2); implausible data is an error or a
warning in run.json naming the option or file, never a traceback, a hang or a silent
wrong number. docs/bad_inputs.md ("Recipes, options and plausibility") lists the cases."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from caimg.cli import main
from caimg.io.stack import write_recording
from caimg.synthetic import make_recording

DT = 0.5
STIM = 12.0  # s; recordings have 60 frames (0 .. 29.5 s)


def _truth(indicator="fluo4", seed=1, n_frames=60, **kw):
    return make_recording(indicator, preset="easy", shape=(64, 64), n_frames=n_frames,
                          n_cells=6, stimulus_time_s=STIM, rng=seed, **kw)


@pytest.fixture(scope="module")
def fluo():
    return _truth().recording.channels["f"]


def _single(arr, path, **kw):
    kw.setdefault("frame_interval_s", DT)
    kw.setdefault("pixel_size_um", 1.0)
    return write_recording({"f": arr}, path, layout="single", **kw)[0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, fluo):
    d = tmp_path_factory.mktemp("in")
    _single(fluo, d / "cells.tif")
    return d


def _run(capsys, *args):
    code = main([*map(str, args)])
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def _run_json(out, name="cells"):
    return json.loads((Path(out) / name / "run.json").read_text())


def _warnings(out, name="cells"):
    return "\n".join(_run_json(out, name)["warnings"])


# --- recipes and --set: a ConfigError for the whole batch (exit 2), never a traceback ----

def test_non_utf8_recipe_is_a_config_error(tmp_path, folder, capsys):
    recipe = tmp_path / "latin1.toml"
    recipe.write_bytes('indicator = "fluo4"\n# caf\xe9 (Latin-1)\n'.encode("latin-1"))
    code, text = _run(capsys, "run", folder, "--out", tmp_path / "out", "-p", recipe)
    assert code == 2
    assert "latin1.toml" in text and "UTF-8" in text and "Traceback" not in text


@pytest.mark.parametrize("how", ["recipe", "set"])
def test_calibration_profile_not_a_string(tmp_path, folder, capsys, how):
    if how == "recipe":
        recipe = tmp_path / "p7.toml"
        recipe.write_text("[signal.calibration]\nprofile = 7\n")
        args = ["-p", recipe]
    else:
        args = ["--set", "signal.calibration.profile=7"]
    code, text = _run(capsys, "run", folder, "--out", tmp_path / "out", *args)
    assert code == 2
    assert "signal.calibration.profile" in text and "= 7" in text and "path" in text


@pytest.mark.parametrize("setting, needles", [
    ("kinetics=5", ["'kinetics' = 5", "table"]),
    ("segment.params=5", ["'segment.params' = 5", "table"]),
    ('segment.params={gradient_sigma="abc"}', ["segment.params.gradient_sigma", "number"]),
    ("segment.params={refine=5}", ["segment.params.refine", "true or false"]),
    ('segment.params={outline_reference="edge"}',
     ["segment.params.outline_reference", "'rim', 'core', 'peak'"]),
    ("segment.params={gradient_sigma=[1, 2]}", ["segment.params.gradient_sigma", "number"]),
    ("segment.params={sigma=5}", ["segment.params.sigma", "gradient_sigma"]),
    ("segment.method='foo'", ["segment.method", "'foo'", "watershed"]),
    ("kinetics.decay_fit_start='abc'", ["kinetics.decay_fit_start", "'peak'"]),
])
def test_bad_set_stops_the_batch_with_exit_2(tmp_path, folder, capsys, setting, needles):
    out = tmp_path / "out"
    code, text = _run(capsys, "run", folder, "--out", out, "--set", setting)
    assert code == 2, text
    assert "Traceback" not in text and "TypeError" not in text
    for needle in needles:
        assert needle in text, (needle, text)
    rows = pd.read_csv(out / "failures.csv")
    assert list(rows["recording"]) == ["cells"]
    assert set(rows["error_type"]) == {"ConfigError"}
    assert not (out / "cells").exists()


# --- pixel size in the wrong unit: a clear error before segmentation, never hours or GiBs -

def _failure(out, name="cells"):
    rows = pd.read_csv(Path(out) / "failures.csv")
    row = rows.set_index("recording").loc[name]
    return row.error_type, row.message


@pytest.mark.parametrize("pixel_size, unit", [("6.5e-6", "m"), ("0.0065", "mm")])
def test_pixel_size_in_wrong_unit_is_an_error(tmp_path, folder, capsys, pixel_size, unit):
    out = tmp_path / "out"
    code, _ = _run(capsys, "run", folder, "--out", out, "--pixel-size", pixel_size)
    assert code == 1
    error_type, message = _failure(out)
    assert error_type == "ConfigError"
    for needle in ("cells.tif", "--pixel-size", "cell_diameter_um", f"looks like {unit}:",
                   "expected 1 to 128 px"):
        assert needle in message, (needle, message)


def test_pixel_size_from_file_implausible_is_an_error(tmp_path, fluo, capsys):
    """1e-6 um in the file's metadata: 12e6 px cells; was a 21 GiB allocation."""
    src = tmp_path / "in"
    src.mkdir()
    _single(fluo, src / "tiny.tif", pixel_size_um=1e-6)
    out = tmp_path / "out"
    code, _ = _run(capsys, "run", src, "--out", out)
    assert code == 1
    error_type, message = _failure(out, "tiny")
    assert error_type == "ConfigError"
    assert "tiny.tif" in message and "file metadata" in message and "--pixel-size" in message


def test_coarse_pixel_size_warns(tmp_path, folder, capsys):
    out = tmp_path / "out"
    code, _ = _run(capsys, "run", folder, "--out", out, "--pixel-size", "6.5")
    assert code == 0
    text = _warnings(out)
    assert "1.85 px across" in text and "hardly resolved" in text


# --- frame interval, stimulus and treatment times: messages naming the option ------------

@pytest.mark.parametrize("args, needles", [
    (["--frame-interval", "1e308"], ["--frame-interval", "1e+308 s", "1e-06 to 3600 s"]),
    (["--frame-interval", "1e9", "--stimulus-time", "1.2e10"],
     ["--frame-interval", "1e+09 s", "1e-06 to 3600 s"]),
    (["--frame-interval", "100", "--stimulus-time", "1200"],
     ["kinetics.baseline_window_s = 10 s", "--stimulus-time", "--frame-interval", "100 s"]),
    (["--frame-interval", "5000"], ["5000 s", "looks like ms: 5 s"]),
])
def test_implausible_frame_interval_names_the_option(tmp_path, folder, capsys, args, needles):
    out = tmp_path / "out"
    code, _ = _run(capsys, "run", folder, "--out", out, *args)
    assert code == 1
    error_type, message = _failure(out)
    assert error_type == "ConfigError"
    assert "cells.tif" in message
    for needle in needles:
        assert needle in message, (needle, message)


def test_stimulus_after_the_end_names_the_file(tmp_path, folder, capsys):
    out = tmp_path / "out"
    code, _ = _run(capsys, "run", folder, "--out", out, "--stimulus-time", "100")
    assert code == 1
    error_type, message = _failure(out)
    assert error_type == "ConfigError"
    assert "cells.tif" in message and "after the last frame (29.5 s)" in message


def test_negative_treatment_stops_the_batch(tmp_path, folder, capsys):
    code, text = _run(capsys, "run", folder, "--out", tmp_path / "out", "--treatment", "KCl=-5")
    assert code == 2
    assert "kinetics.treatments.KCl" in text and "--treatment KCl=-5" in text


@pytest.mark.parametrize("time_s, needle", [("1e6", "after the last frame (29.5 s)"),
                                            ("0", "no baseline precedes it")])
def test_unmeasurable_treatment_warns(tmp_path, folder, capsys, time_s, needle):
    out = tmp_path / "out"
    code, _ = _run(capsys, "run", folder, "--out", out, "--treatment", f"ATP={time_s}")
    assert code == 0
    text = _warnings(out)
    assert "kinetics.treatments ATP" in text and needle in text, text
    rows = pd.read_csv(out / "cells" / "treatments.csv")
    assert rows["amplitude"].isna().all()  # still the documented empty rows


# --- dropped frames: detected, left out of F0/baselines/kinetics, reported ---------------

def test_dropped_frames_mask():
    from caimg.validate import channel_stats, dropped_frames

    rng = np.random.default_rng(0)
    v = rng.integers(100, 200, (6, 5, 4)).astype(np.uint16)
    v[1] = 0
    v[4] = 1234
    assert dropped_frames(v).tolist() == [False, True, False, False, True, False]
    f = v.astype(np.float32)
    f[2] = np.nan
    assert dropped_frames(stats=channel_stats(f)).tolist() == [False, True, True, False, True,
                                                                False]


def test_dropped_frame_in_baseline_is_left_out(tmp_path):
    """One all-zero frame before the stimulus: was amplitude +8..13 %, rise +3..8 %."""
    import warnings

    from caimg.config import load_pipeline
    from caimg.pipeline import process_recording
    from caimg.recording import Recording

    rec = _truth().recording
    cfg = load_pipeline("fluo4", overrides={"stimulus_time_s": STIM})
    f = np.array(rec.channels["f"])
    f[10] = 0  # 5 s, inside the 10 s baseline window before the 12 s stimulus
    bad = Recording(channels={"f": f}, frame_interval_s=rec.frame_interval_s,
                    pixel_size_um=rec.pixel_size_um, name="bad")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = process_recording(rec, cfg)
        res = process_recording(bad, cfg, labels=clean.labels)
    a, b = clean.kinetics.set_index("roi"), res.kinetics.set_index("roi")
    resp = a["responder"].astype(bool)
    assert resp.sum() >= 3
    assert b["responder"].astype(bool).equals(resp)
    amp = (b["amplitude"] / a["amplitude"] - 1)[resp].abs()
    rise = (b["rise_time_s"] / a["rise_time_s"] - 1)[resp].abs()
    assert amp.max() < 0.02, amp
    assert rise.max() < 0.05, rise
    assert res.provenance["dropped_frames"] == [10]
    assert any("DataQualityWarning" in w and "frame(s) 10" in w and "dropped" in w
               for w in res.provenance["warnings"])
    traces = res.traces.set_index(["roi", "frame"])
    assert traces.xs(10, level="frame")["dff"].isna().all()
    assert traces.xs(11, level="frame")["dff"].notna().all()


def test_dropped_frame_reported_in_run_json(tmp_path, fluo, capsys):
    src = tmp_path / "in"
    src.mkdir()
    f = np.array(fluo)
    f[[3, 40]] = 0
    _single(f, src / "cells.tif")
    out = tmp_path / "out"
    code, _ = _run(capsys, "run", src, "--out", out, "--stimulus-time", STIM)
    assert code == 0
    prov = _run_json(out)
    assert prov["dropped_frames"] == [3, 40]
    assert "2 of 60 frame(s) are dropped" in _warnings(out)


# --- drift at the search limit ------------------------------------------------------------

def _drifting_stack(drift_px=50.0, n_frames=60, size=128):
    from scipy import ndimage

    rng = np.random.default_rng(0)
    big = ndimage.gaussian_filter(rng.random((size + 2 * 60 + 60, size + 120)), 3) * 1000 + 100
    rows = np.round(np.linspace(0, drift_px, n_frames)).astype(int)
    return np.stack([big[60 + r:60 + r + size, 60:60 + size] for r in rows]).astype(np.float32)


def test_drift_beyond_the_search_limit_warns():
    """50 px of drift, 20 px searched: was estimated as ~13 px without a word."""
    from caimg.errors import DataQualityWarning
    from caimg.motion import register

    with pytest.warns(DataQualityWarning, match=r"reached the search limit of 20 px .*"
                      r"motion.max_shift_px = 20.*--set motion.max_shift_px=40"):
        register(_drifting_stack())


def test_small_drift_does_not_warn():
    import warnings

    from caimg.motion import register

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg = register(_drifting_stack(drift_px=6.0))
    assert np.abs(reg.shifts).max() < 8


def test_drift_warning_reaches_run_json():
    import warnings

    from caimg.pipeline import process_recording
    from caimg.recording import Recording

    rec = Recording(channels={"f": _drifting_stack()}, frame_interval_s=DT, name="drift")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = process_recording(rec, "fluo4")
    assert any("DataQualityWarning: motion:" in w and "search limit" in w
               for w in res.provenance["warnings"]), res.provenance["warnings"]


# --- intensity scale, inverted contrast, 0 ROIs -------------------------------------------

def _process(channels, **kw):
    import warnings

    from caimg.pipeline import process_recording
    from caimg.recording import Recording

    rec = Recording(channels=channels, frame_interval_s=DT, name="rec")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return process_recording(rec, "fluo4", **kw)


@pytest.mark.parametrize("scale", [1e-30, 1e-15])
def test_float_stack_scaled_finds_the_same_cells(fluo, scale):
    """Was 0 ROIs at 1e-30 (and 4 of 6 at 1e-15): segmentation is now scale-invariant."""
    f = np.asarray(fluo, dtype=np.float64)
    ref = _process({"f": f.astype(np.float32)})
    res = _process({"f": (f * scale).astype(np.float32)})
    assert ref.labels.max() == 6
    np.testing.assert_array_equal(res.labels, ref.labels)
    a, b = ref.kinetics.set_index("roi"), res.kinetics.set_index("roi")
    np.testing.assert_allclose(b["amplitude"], a["amplitude"], rtol=1e-3)


def test_inverted_contrast_warns(fluo):
    f = np.asarray(fluo, dtype=np.float64)
    res = _process({"f": (f.max() + f.min() - f).astype(np.float32)})
    text = "\n".join(res.provenance["warnings"])
    assert "DataQualityWarning" in text and "contrast looks inverted" in text, text
    assert "inverted" not in "\n".join(_process({"f": f.astype(np.float32)})
                                       .provenance["warnings"])


def test_no_roi_warns(tmp_path, capsys):
    """A featureless field (a smooth ramp with noise): 0 ROIs used to pass without a word."""
    rng = np.random.default_rng(3)
    ramp = np.linspace(100, 200, 64)[None, :] + np.zeros((64, 1))
    f = (ramp[None] + rng.normal(0, 1, (60, 64, 64))).astype(np.float32)
    src = tmp_path / "in"
    src.mkdir()
    _single(f, src / "empty_field.tif")
    out = tmp_path / "out"
    code, _ = _run(capsys, "run", src, "--out", out)
    assert code == 0
    prov = _run_json(out, "empty_field")
    assert prov["rois"]["n_rois"] == 0
    text = _warnings(out, "empty_field")
    assert "0 ROIs" in text and "segment.cell_diameter_um = 12 um at 1 um/px" in text, text


def test_no_roi_in_given_labels_warns(fluo):
    res = _process({"f": np.asarray(fluo)}, labels=np.zeros((64, 64), np.int32))
    assert any("0 ROIs: the ROIs given cover no pixel" in w for w in res.provenance["warnings"])


# --- ROI files ----------------------------------------------------------------------------

def _roiset(path, *rois):
    import roifile

    for r in rois:
        roifile.roiwrite(path, r, mode="a")
    return path


def test_single_vertex_polygon_roi_names_its_vertices(tmp_path, folder, capsys):
    """Was: 'has no pixel inside the image' for a point well inside it."""
    import roifile

    good = roifile.ImagejRoi.frompoints([[10, 10], [20, 10], [20, 20], [10, 20]])
    good.roitype, good.name = roifile.ROI_TYPE.POLYGON, "good"
    one = roifile.ImagejRoi.frompoints([[30, 30]])
    one.roitype, one.name = roifile.ROI_TYPE.POLYGON, "dot"
    rois = _roiset(tmp_path / "RoiSet.zip", good, one)
    out = tmp_path / "out"
    code, _ = _run(capsys, "run", folder, "--out", out, "--rois", rois)
    assert code == 1
    error_type, message = _failure(out)
    assert error_type == "RoiError"
    assert "RoiSet.zip" in message and "'dot'" in message
    assert "1 vertex" in message and "at least 3 vertices" in message
    assert "no pixel inside the image" not in message


def test_zero_area_polygon_inside_image_is_not_outside(tmp_path):
    import roifile

    from caimg.errors import RoiError
    from caimg.io.rois import read_rois

    flat = roifile.ImagejRoi.frompoints([[10, 10], [20, 10], [30, 10]])
    flat.roitype, flat.name = roifile.ROI_TYPE.POLYGON, "flat"
    path = _roiset(tmp_path / "RoiSet.zip", flat)
    with pytest.raises(RoiError, match="'flat'.*encloses no pixel centre"):
        read_rois(path, (64, 64))


@pytest.mark.parametrize("setting, needles", [
    ("segment.min_area_px=6000", ["segment.min_area_px", "6000", "segment.max_area_px"]),
])
def test_more_bad_settings_stop_the_batch(tmp_path, folder, capsys, setting, needles):
    code, text = _run(capsys, "run", folder, "--out", tmp_path / "out", "--set", setting)
    assert code == 2, text
    for needle in needles:
        assert needle in text, (needle, text)


def test_smoothing_window_longer_than_the_recording(tmp_path, folder, capsys):
    """Was an internal IndexError per recording."""
    out = tmp_path / "out"
    code, text = _run(capsys, "run", folder, "--out", out, "--stimulus-time", STIM,
                      "--set", "kinetics.smooth_frames=1000")
    assert code == 0, text
    assert len(pd.read_csv(out / "cells" / "kinetics.csv")) > 0

"""rois.csv ``saturated`` (issue 13): clipped ROIs are flagged, never dropped; run.json
records the segmentation settings used (cell diameter and where it came from, the accept
rules)."""

import dataclasses
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from caimg._segment_stage import camera_ceiling
from caimg.config import config_to_dict
from caimg.io.result import load_result, save_result
from caimg.pipeline import process_recording, resolve_pipeline
from caimg.result import ROI_COLUMNS
from caimg.rois import roi_table
from caimg.synthetic import make_recording


def _quiet_run(rec, cfg, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return process_recording(rec, cfg, **kw)


def test_roi_table_saturated_column():
    lab = np.zeros((20, 20), int)
    lab[2:6, 2:6] = 1
    lab[10:15, 10:15] = 2
    img = np.full((20, 20), 100.0)
    img[2:6, 2:6] = 150
    img[12, 12] = 300  # one clipped pixel makes ROI 2 saturated
    t = roi_table(lab, img, saturation_value=300)
    assert ROI_COLUMNS.index("saturated") == ROI_COLUMNS.index("saturated_fraction") + 1
    assert list(t.columns) == list(ROI_COLUMNS) and t["saturated"].dtype == bool
    assert t["saturated"].tolist() == [False, True]
    assert t["accepted"].tolist() == [True, True]  # flagged, not rejected
    assert not roi_table(lab, img)["saturated"].any()  # not measured: False


@pytest.mark.parametrize("top, n_top, dtype, expected", [
    (65535, 1, np.uint16, 65535.0),       # the dtype's maximum, even one pixel
    (65534.9998, 1, np.uint16, 65535.0),  # shifted by a fraction of a pixel
    (4095, 5, np.uint16, 4095.0),         # a 12-bit camera in uint16
    (4095.0002, 5, np.uint16, 4095.0),
    (4095, 1, np.uint16, None),           # one bright pixel is no plateau
    (3000, 50, np.uint16, None),          # not 2**n - 1
    (255, 4, np.uint8, 255.0),
    (4095, 5, np.float32, None),          # float data: no ceiling known
])
def test_camera_ceiling(top, n_top, dtype, expected):
    img = np.linspace(100, 2000, 400).reshape(20, 20)
    img.ravel()[:n_top] = top
    assert camera_ceiling(img, np.dtype(dtype)) == expected


def test_saturated_cells_of_a_12_bit_camera_are_flagged_and_kept():
    syn = make_recording("fluo4", preset="moderate", family="saturated", rng=303, n_frames=40)
    assert syn.recording.dtype == np.uint16 and int(syn.recording.channels["f"].max()) == 4095
    cfg = resolve_pipeline("fluo4", syn.recording,
                           overrides={"stimulus_time_s": syn.stimulus_time_s})
    res = _quiet_run(syn.recording, cfg, labels=syn.labels)  # the true cells as ROIs
    rois = res.rois.set_index("roi")
    truth = set((np.flatnonzero(syn.kinetics["saturated"].to_numpy()) + 1).tolist())
    assert len(truth) >= 3
    assert set(rois.index[rois["saturated"]]) == truth
    assert rois.loc[sorted(truth), "accepted"].all()
    assert (rois.loc[sorted(truth), "saturated_fraction"] > 0).all()


def test_saturated_survives_save_load_and_review(tmp_path):
    from caimg.review import ReviewSession

    syn = make_recording("fluo4", preset="moderate", family="saturated", rng=303, n_frames=40)
    cfg = resolve_pipeline("fluo4", syn.recording,
                           overrides={"stimulus_time_s": syn.stimulus_time_s})
    res = _quiet_run(syn.recording, cfg, labels=syn.labels)
    folder = save_result(res, tmp_path)
    back = load_result(folder)
    assert back.rois["saturated"].dtype == bool
    pd.testing.assert_series_equal(back.rois["saturated"], res.rois["saturated"])
    s = ReviewSession.open(folder, recording=syn.recording)
    roi = int(back.rois.loc[back.rois["saturated"], "roi"].iloc[0])
    s.reject(roi)
    s.save()
    again = pd.read_csv(folder / "rois.csv").set_index("roi")
    assert list(again.reset_index().columns[:len(ROI_COLUMNS)]) == list(ROI_COLUMNS)
    assert bool(again.loc[roi, "saturated"]) and not bool(again.loc[roi, "accepted"])


@pytest.fixture(scope="module")
def small():
    return make_recording("fluo4", preset="easy", shape=(64, 64), n_frames=30, n_cells=6,
                          stimulus_time_s=5.0, rng=4)


def _segment_info(rec, tmp_path=None, **ov):
    cfg = resolve_pipeline("fluo4", rec, overrides={"stimulus_time_s": 5.0, **ov})
    res = _quiet_run(rec, cfg)
    if tmp_path is not None:  # what run.json says, not only the in-memory provenance
        prov = json.loads((save_result(res, tmp_path) / "run.json").read_text())
        assert prov["segment"] == res.provenance["segment"]
        assert prov["rois"]["accept_rules"] == res.provenance["rois"]["accept_rules"]
    return res.provenance["segment"], res


def test_run_json_records_the_diameter_used_and_where_it_came_from(small, tmp_path):
    never = {"segment.params": {"estimate_diameter": "never"}}
    no_size = dataclasses.replace(small.recording, pixel_size_um=None)
    seg, res = _segment_info(no_size, tmp_path, **never, **{"segment.cell_diameter_px": 9.0})
    assert seg["cell_diameter_px"] == 9.0
    assert seg["cell_diameter_source"].startswith("recipe px")
    assert seg["rois_from"] == "segmentation" and seg["estimate_diameter"] == "never"
    assert res.provenance["rois"]["accept_rules"] == config_to_dict(res.config.rois)
    sized = dataclasses.replace(small.recording, pixel_size_um=0.5)
    seg, _ = _segment_info(sized, **never, **{"segment.cell_diameter_um": 5.0})
    assert seg["cell_diameter_px"] == 10.0
    assert seg["cell_diameter_source"].startswith("recipe um x pixel size")
    # a recipe diameter far off the image's: auto measures the cells instead
    seg, _ = _segment_info(no_size, **{"segment.cell_diameter_px": 60.0})
    assert seg["cell_diameter_source"] == "estimated from the image"
    assert 5 < seg["cell_diameter_px"] < 30


def test_run_json_records_the_accept_rules(small):
    _, res = _segment_info(small.recording, **{"rois.max_aspect_ratio": 3.5,
                                     "rois.accept_min_area_px": 12})
    rules = res.provenance["rois"]["accept_rules"]
    assert rules["max_aspect_ratio"] == 3.5 and rules["accept_min_area_px"] == 12
    assert {"accept_min_area_px", "max_aspect_ratio", "min_contrast",
            "min_snr_no_contrast"} <= set(rules)


def test_run_json_records_every_segmentation_rule_with_its_value(small):
    from caimg.segmentation import method_options

    seg, _ = _segment_info(small.recording, **{"segment.params": {"halo_ratio": 4.0}})
    defaults = method_options("gradient")  # what "auto" stands for
    assert set(seg["options"]) == set(defaults)
    assert seg["options"]["halo_ratio"] == 4.0  # the recipe's value
    assert seg["options"]["seed_reach"] == defaults["seed_reach"]  # a default, recorded too
    assert seg["params"] == {"halo_ratio": 4.0}
    seg, _ = _segment_info(small.recording, **{"segment.method": "textbook"})
    assert seg["options"] == method_options("textbook")

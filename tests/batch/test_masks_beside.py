"""A mask file beside a recording is that recording's ROIs in a batch (issue 13): Cellpose
PNG / TIFF, label TIFF and ImageJ RoiSet; the recipe's rois_file wins; a wrong mask fails
that recording only; run.json names the mask file and its SHA-256."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image

from caimg.batch import run_batch
from caimg.io.result import load_result
from caimg.io.rois import write_roiset
from caimg.io.stack import write_recording
from caimg.synthetic import make_recording

STIM = 12.0
OV = {"stimulus_time_s": STIM}


def _syn(indicator, seed):
    return make_recording(indicator, preset="easy", shape=(64, 64), n_frames=40, n_cells=6,
                          stimulus_time_s=STIM, rng=seed)


def _png(labels, path):
    Image.fromarray(np.asarray(labels, dtype=np.uint16)).save(path)
    return path


def _regions(labels):
    """The ROIs as a set of pixel sets (ids do not matter)."""
    labels = np.asarray(labels)
    return {tuple(np.flatnonzero(labels.ravel() == i)) for i in np.unique(labels) if i}


@pytest.fixture
def two(tmp_path):
    """``in/a.tif`` (Fluo-4) and ``in/b_340.tif`` + ``in/b_380.tif`` (Fura-2), and the true
    labels of each, with cell ids shuffled (a mask's own ids are not caimg's)."""
    d = tmp_path / "in"
    a, b = _syn("fluo4", 1), _syn("fura2", 2)
    write_recording(a.recording.channels, d / "a.tif", layout="single", frame_interval_s=0.5)
    write_recording(b.recording.channels, d / "b", layout="pair", frame_interval_s=0.5)
    lab_a = np.asarray(a.labels).copy()
    lab_a[lab_a > 0] += 300  # ids above 255: the PNG must be 16 bit
    return d, lab_a, np.asarray(b.labels)


def _run(d, out, **ov):
    s = run_batch(d, out, overrides={**OV, **ov})
    return s, {o.name: o for o in s.outcomes}


def test_batch_uses_cellpose_png_and_roiset_beside(two, tmp_path):
    d, lab_a, lab_b = two
    png = _png(lab_a, d / "a_cp_masks.png")
    roiset = write_roiset(lab_b, d / "RoiSet_b.zip")
    s, by = _run(d, tmp_path / "out")
    assert sorted(by) == ["a", "b"] and s.ok, s.failures
    ra, rb = load_result(by["a"].folder), load_result(by["b"].folder)
    np.testing.assert_array_equal(ra.labels, lab_a)  # the PNG's ids are kept
    assert _regions(rb.labels) == _regions(lab_b)  # RoiSet polygons fill the same pixels
    for res, mask in ((ra, png), (rb, roiset)):
        assert set(res.rois["source"]) == {"imported"}
        seg = res.provenance["segment"]
        assert seg["rois_file"] == str(mask.resolve())
        assert seg["rois_file_sha256"] == hashlib.sha256(mask.read_bytes()).hexdigest()
        assert seg["rois_from"] == "mask file beside the recording"
        assert res.config.segment.rois_file == str(mask)
    table = pd.read_csv(tmp_path / "out" / "rois.csv")
    assert set(table["source"]) == {"imported"}


def test_cellpose_tif_named_after_the_380_file_and_label_tiff(two, tmp_path):
    d, lab_a, lab_b = two
    tifffile.imwrite(d / "a_labels.tif", lab_a.astype(np.uint16))
    tifffile.imwrite(d / "b_380_cp_masks.tif", lab_b.astype(np.uint16))
    s, by = _run(d, tmp_path / "out")
    assert sorted(by) == ["a", "b"] and s.ok, s.failures  # the masks are no recordings
    np.testing.assert_array_equal(load_result(by["a"].folder).labels, lab_a)
    np.testing.assert_array_equal(load_result(by["b"].folder).labels, lab_b)


def test_recipe_rois_file_wins_and_the_switch_turns_it_off(two, tmp_path):
    d, lab_a, lab_b = two
    _png(lab_a, d / "a_cp_masks.png")
    one = np.zeros_like(lab_a)
    one[lab_a == lab_a.max()] = 1
    recipe_file = _png(one, tmp_path / "one_cell.png")
    _, by = _run(d, tmp_path / "o1", rois_file=str(recipe_file))
    ra = load_result(by["a"].folder)
    np.testing.assert_array_equal(ra.labels, one)
    assert ra.provenance["segment"]["rois_from"] == "file"
    _, by = _run(d, tmp_path / "o2", **{"segment.masks_beside": False})
    ra = load_result(by["a"].folder)
    assert set(ra.rois["source"]) == {"auto"}
    assert ra.provenance["segment"]["rois_from"] == "segmentation"


def test_a_mask_of_the_wrong_shape_fails_that_recording_only(two, tmp_path):
    d, lab_a, lab_b = two
    _png(lab_a[:50, :60], d / "a_cp_masks.png")
    s, by = _run(d, tmp_path / "out")
    assert by["a"].status == "failed" and by["b"].status == "ok"
    msg = by["a"].message
    assert "a_cp_masks.png" in msg and "(50, 60)" in msg and "(64, 64)" in msg
    assert "masks_beside" in msg


def test_two_mask_files_for_one_recording_fail_it_naming_both(two, tmp_path):
    d, lab_a, lab_b = two
    _png(lab_a, d / "a_cp_masks.png")
    tifffile.imwrite(d / "a_masks.tif", lab_a.astype(np.uint16))
    s, by = _run(d, tmp_path / "out")
    assert sorted(by) == ["a", "b"]
    assert by["a"].status == "failed" and by["b"].status == "ok"
    assert "a_cp_masks.png" in by["a"].message and "a_masks.tif" in by["a"].message


def test_a_changed_mask_redoes_the_recording(two, tmp_path):
    d, lab_a, lab_b = two
    png = _png(lab_a, d / "a_cp_masks.png")
    _run(d, tmp_path / "out")
    _, by = _run(d, tmp_path / "out")
    assert by["a"].status == "skipped"
    fewer = np.where(lab_a == lab_a.max(), 0, lab_a)
    _png(fewer, png)
    _, by = _run(d, tmp_path / "out")
    assert by["a"].status == "ok" and by["b"].status == "skipped"
    np.testing.assert_array_equal(load_result(by["a"].folder).labels, fewer)
    prov = json.loads((Path(by["a"].folder) / "run.json").read_text())
    assert prov["segment"]["rois_file_sha256"] == hashlib.sha256(png.read_bytes()).hexdigest()

"""Mask files beside recordings (issue 13): names, the folder search never takes them as
recordings, mask_for finds the one for each recording, PNG label images (16 bit)."""

import numpy as np
import pytest
import tifffile
from PIL import Image

from caimg.errors import RoiError
from caimg.io.find import find_recordings, mask_for
from caimg.io.inspection import format_report, inspect_inputs
from caimg.io.rois import find_mask_beside, mask_stem, read_rois


def _stack(path, frames=6, shape=(16, 16)):
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.zeros((frames, *shape), np.uint16), photometric="minisblack")
    return path


def _frame(path, shape=(16, 16)):
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.zeros(shape, np.uint16))
    return path


def _labels(path, shape=(16, 16)):
    lab = np.zeros(shape, np.uint16)
    lab[2:6, 2:6] = 1
    if path.suffix == ".png":
        Image.fromarray(lab).save(path)
    else:
        tifffile.imwrite(path, lab)
    return path


@pytest.mark.parametrize("name, expected", [
    ("cell_cp_masks.png", ("cell", "cellpose")), ("cell_cp_masks.TIF", ("cell", "cellpose")),
    ("cell_masks.tif", ("cell", "labels")), ("cell_labels.tiff", ("cell", "labels")),
    ("cell_labels.png", ("cell", "labels")), ("cell_RoiSet.zip", ("cell", "roiset")),
    ("RoiSet_cell.zip", ("cell", "roiset")), ("roiset_cell.ZIP", ("cell", "roiset")),
    ("cell.tif", None), ("cell.zip", None), ("_masks.tif", None), ("RoiSet.zip", None),
    ("cell_cp_outlines.png", None),
])
def test_mask_names(name, expected):
    assert mask_stem(name) == expected


def test_folder_search_never_takes_masks_as_recordings(tmp_path):
    d = tmp_path / "in"
    _stack(d / "a.tif")
    _labels(d / "a_cp_masks.tif")
    _labels(d / "a_masks.tif")
    _stack(d / "b_340.tif")
    _stack(d / "b_380.tif")
    _labels(d / "b_380_cp_masks.tif")
    _labels(d / "b_labels.tif")
    for i in range(1, 4):  # an image sequence c_0001.tif ... with its mask
        _frame(d / f"c_{i:04d}.tif")
    _labels(d / "c_masks.tif")
    _labels(d / "orphan_cp_masks.tif")  # Cellpose output is never a recording
    _stack(d / "x_labels.tif")  # a recording that happens to end in _labels: kept
    found = find_recordings(d)
    assert sorted(s.name for s in found) == ["a", "b", "c", "x_labels"]
    by = {s.name: s for s in found}
    assert (by["b"].layout, by["c"].layout) == ("pair", "sequence")
    assert (by["a"].stem, by["b"].stem, by["c"].stem) == ("a", "b", "c")
    # a file named explicitly is taken as given
    assert [s.name for s in find_recordings(d / "a_masks.tif")] == ["a_masks"]


def test_mask_for_each_recording(tmp_path):
    d = tmp_path / "in"
    _stack(d / "a.tif")
    _labels(d / "a_cp_masks.png")
    _stack(d / "b_340.tif")
    _stack(d / "b_380.tif")
    _labels(d / "b_380_cp_masks.tif")
    for i in range(1, 4):
        _frame(d / f"c_{i:04d}.tif")
    _labels(d / "c_labels.png")
    _stack(d / "e.tif")
    (d / "RoiSet_e.zip").write_bytes(b"")
    _stack(d / "n.tif")  # no mask
    by = {s.name: s for s in find_recordings(d)}
    assert mask_for(by["a"]) == d / "a_cp_masks.png"
    assert mask_for(by["b"]) == d / "b_380_cp_masks.tif"
    assert mask_for(by["c"]) == d / "c_labels.png"
    assert mask_for(by["e"]) == d / "RoiSet_e.zip"
    assert mask_for(by["n"]) is None


def test_two_masks_for_one_recording_is_an_error_naming_both(tmp_path):
    _labels(tmp_path / "a_cp_masks.png")
    (tmp_path / "a_RoiSet.zip").write_bytes(b"")
    with pytest.raises(RoiError, match=r"a_RoiSet\.zip, a_cp_masks\.png.*masks_beside"):
        find_mask_beside(tmp_path, ["a"])
    assert find_mask_beside(tmp_path, ["b"]) is None


def test_masks_of_a_recording_with_two_names_in_one_folder_stay_apart(tmp_path):
    """``a`` and ``ab``: ``a_masks.tif`` is a's, never ab's."""
    _stack(tmp_path / "ab.tif")
    _labels(tmp_path / "a_masks.tif")
    assert find_mask_beside(tmp_path, ["ab"]) is None
    assert [s.name for s in find_recordings(tmp_path)] == ["a_masks", "ab"]


def test_sixteen_bit_png_labels(tmp_path):
    lab = np.zeros((20, 30), np.uint16)
    lab[1:5, 1:5] = 300
    lab[10:15, 20:28] = 65000
    Image.fromarray(lab).save(tmp_path / "m.png")
    out = read_rois(tmp_path / "m.png", (20, 30))
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, lab.astype(np.int32))
    Image.fromarray(lab[:, :, None].repeat(3, 2).astype(np.uint8)).save(tmp_path / "g.png")
    assert read_rois(tmp_path / "g.png", (20, 30)).max() > 0  # grey saved as RGB is fine


def test_png_shape_and_colour_errors(tmp_path):
    Image.fromarray(np.zeros((20, 30), np.uint16)).save(tmp_path / "m.png")
    with pytest.raises(RoiError, match=r"m\.png has shape \(20, 30\).*\(16, 16\)"):
        read_rois(tmp_path / "m.png", (16, 16))
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[2:5, 2:5] = (255, 0, 0)
    Image.fromarray(rgb).save(tmp_path / "overlay.png")
    with pytest.raises(RoiError, match="colour"):
        read_rois(tmp_path / "overlay.png", (16, 16))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(RoiError, match="could not be read"):
        read_rois(tmp_path / "broken.png", (16, 16))


def test_inspect_names_the_mask_file(tmp_path):
    _stack(tmp_path / "a.tif", frames=5)
    _labels(tmp_path / "a_cp_masks.png")
    _stack(tmp_path / "b.tif", frames=5)
    entries = {e["recording"]: e for e in inspect_inputs(tmp_path, frame_interval_s=1.0)}
    assert entries["a"]["mask_file"] == str(tmp_path / "a_cp_masks.png")
    assert entries["b"]["mask_file"] is None
    assert "a_cp_masks.png" in format_report(list(entries.values()))
    off = inspect_inputs(tmp_path, frame_interval_s=1.0, masks_beside=False)
    assert "mask_file" not in off[0]
    _labels(tmp_path / "a_masks.tif")
    entries = {e["recording"]: e for e in inspect_inputs(tmp_path, frame_interval_s=1.0)}
    assert "2 mask files" in entries["a"]["refused"] and not entries["b"]["refused"]

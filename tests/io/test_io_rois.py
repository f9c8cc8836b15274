"""Tests of caimg.io.rois: ImageJ RoiSet / label TIFF import and export."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import roifile
import tifffile
from skimage.draw import disk

from caimg.errors import RoiError
from caimg.io.rois import read_rois, write_roiset
from caimg.rois import imagej_rois_to_labels, labels_to_imagej_rois


@pytest.mark.parametrize("seed", [0, 1])
def test_roiset_round_trip_pixel_identical_and_ids_kept(tmp_path, seed, make_blobs):
    lab = make_blobs(seed=seed)
    path = write_roiset(lab, tmp_path / "rois.zip")
    names = zipfile.ZipFile(path).namelist()
    assert len(names) == len(np.unique(lab)) - 1
    rois = roifile.roiread(path)
    ids = sorted(np.unique(lab)[1:])
    assert [r.name for r in rois] == [f"roi_{i:04d}" for i in ids]
    # independent check with roifile's own coordinates and the pixel-centre rule
    back = read_rois(path, lab.shape)
    assert back.dtype == np.int32
    np.testing.assert_array_equal(back, lab)
    # ids survive a second export/import too, and file order does not matter for named ROIs
    roifile.roiwrite(tmp_path / "rev.zip", rois[::-1], mode="w")
    np.testing.assert_array_equal(read_rois(tmp_path / "rev.zip", lab.shape), lab)


def test_roiset_unnamed_rois_get_file_order_ids(tmp_path):
    a = roifile.ImagejRoi.frompoints(np.array([[2, 2], [8, 2], [8, 6], [2, 6]]), name="cell a")
    a.roitype = roifile.ROI_TYPE.POLYGON
    b = roifile.ImagejRoi.frompoints(np.array([[12, 2], [18, 2], [18, 6], [12, 6]]), name="cell b")
    b.roitype = roifile.ROI_TYPE.POLYGON
    roifile.roiwrite(tmp_path / "set.zip", [a, b], mode="w")
    lab = read_rois(tmp_path / "set.zip", (10, 20))
    assert (lab[2:6, 2:8] == 1).all() and (lab[2:6, 12:18] == 2).all()
    assert np.count_nonzero(lab) == 2 * 24
    # a single .roi file
    a.tofile(tmp_path / "one.roi")
    assert np.count_nonzero(read_rois(tmp_path / "one.roi", (10, 20)) == 1) == 24


def test_rect_and_oval_rois(tmp_path):
    rect = roifile.ImagejRoi()
    rect.roitype = roifile.ROI_TYPE.RECT
    rect.left, rect.top, rect.right, rect.bottom = 1, 2, 6, 5
    rect.name = "r"
    oval = roifile.ImagejRoi()
    oval.roitype = roifile.ROI_TYPE.OVAL
    oval.left, oval.top, oval.right, oval.bottom = 10, 0, 20, 10
    oval.name = "o"
    lab = imagej_rois_to_labels([rect, oval], (12, 24))
    assert np.count_nonzero(lab == 1) == 15 and (lab[2:5, 1:6] == 1).all()
    rr, cc = disk((4.5, 14.5), 5.0)
    want = np.zeros((12, 24), bool)
    want[rr, cc] = True
    got = lab == 2
    assert (got & want).sum() / (got | want).sum() >= 0.9


def test_write_roiset_empty(tmp_path):
    path = write_roiset(np.zeros((5, 5), int), tmp_path / "rois.zip")
    assert zipfile.ZipFile(path).namelist() == []
    assert labels_to_imagej_rois(np.zeros((5, 5), int)) == []


# ---------------------------------------------------------------------------- label TIFF
def test_label_tiff_import(tmp_path, make_blobs):
    lab = make_blobs()
    tifffile.imwrite(tmp_path / "rois.tif", lab.astype(np.uint16), imagej=True)
    back = read_rois(tmp_path / "rois.tif", lab.shape)
    assert back.dtype == np.int32
    np.testing.assert_array_equal(back, lab)
    with pytest.raises(RoiError, match=r"rois\.tif.*\(80, 100\).*\(50, 50\)"):
        read_rois(tmp_path / "rois.tif", (50, 50))
    tifffile.imwrite(tmp_path / "float.tif", lab.astype(np.float32) + 0.25)
    with pytest.raises(RoiError, match="float.tif"):
        read_rois(tmp_path / "float.tif", lab.shape)


# ---------------------------------------------------------------------------- errors
def test_roiset_outside_image_is_error(tmp_path):
    lab = np.zeros((100, 100), np.int32)
    lab[80:90, 80:90] = 1
    write_roiset(lab, tmp_path / "rois.zip")
    with pytest.raises(RoiError, match=r"rois\.zip.*\(50, 50\)"):
        read_rois(tmp_path / "rois.zip", (50, 50))


def test_missing_and_broken_files(tmp_path, make_blobs):
    with pytest.raises(RoiError, match="nope.zip"):
        read_rois(tmp_path / "nope.zip", (10, 10))
    lab = make_blobs()
    good = write_roiset(lab, tmp_path / "good.zip")
    data = bytearray(good.read_bytes())
    (tmp_path / "broken.zip").write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(RoiError, match="broken.zip"):
        read_rois(tmp_path / "broken.zip", lab.shape)
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(RoiError, match="x.png"):
        read_rois(tmp_path / "x.png", lab.shape)


# ---------------------------------------------------------------------------- real fixtures
def test_read_fissa_fixture(shared_data):
    path = shared_data / "fissa-2p-tiny-crop" / "rois.zip"
    if not path.exists():
        pytest.skip(f"real fixture {path} not present")
    lab = read_rois(path, (21, 14))
    assert sorted(np.unique(lab)[1:]) == [1, 2]
    rois = roifile.roiread(path)
    # ImageJ's pixel-centre rule on the first polygon: bounding box from the file
    r = rois[0]
    rows, cols = np.nonzero(lab == 1)
    assert rows.min() >= r.top and rows.max() < r.bottom
    assert cols.min() >= r.left and cols.max() < r.right
    assert 10 <= np.count_nonzero(lab == 1) <= (r.bottom - r.top) * (r.right - r.left)


def test_read_sima_fixture_and_reexport(tmp_path, shared_data):
    path = shared_data / "sima-2p-example" / "imageJ_ROIs.zip"
    if not path.exists():
        pytest.skip(f"real fixture {path} not present")
    lab = read_rois(path, (128, 256))
    assert sorted(np.unique(lab)[1:]) == [1, 2]
    areas = np.bincount(lab.ravel())[1:]
    assert (areas > 100).all()
    write_roiset(lab, tmp_path / "again.zip")
    np.testing.assert_array_equal(read_rois(tmp_path / "again.zip", lab.shape), lab)


def test_imported_roiset_drives_a_run_and_keeps_ids(tmp_path):
    """An exported RoiSet, given as the recipe's rois_file, is used as is: same ids, same
    pixels, source 'imported' (the fixed-ROI mode applies one file to many recordings)."""
    synthetic = pytest.importorskip("caimg.synthetic")
    from caimg.config import load_pipeline
    from caimg.pipeline import process_recording

    syn = synthetic.make_recording("fluo4", preset="easy", rng=0, n_frames=40, n_cells=6)
    ids = np.array([0, 3, 7, 11, 20, 21, 40])          # non-consecutive ids
    lab = ids[syn.labels]
    path = write_roiset(lab, tmp_path / "RoiSet.zip")
    cfg = load_pipeline("fluo4", overrides={"rois_file": str(path), "frame_interval_s": 0.5})
    for rec in (syn.recording, synthetic.make_recording("fluo4", preset="easy", rng=1,
                                                        n_frames=40).recording):
        res = process_recording(rec, cfg)
        np.testing.assert_array_equal(res.labels, lab)
        assert res.rois["roi"].tolist() == ids[1:].tolist()
        assert (res.rois["source"] == "imported").all()

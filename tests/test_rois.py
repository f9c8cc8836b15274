"""Tests of caimg.rois: measuring ROIs, accepting them, label outlines (pure code)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skimage.draw import disk

from caimg.errors import CaimgError, RoiError
from caimg.result import ROI_DTYPES
from caimg.rois import (
    accept_rois,
    fill_polygon,
    label_outline,
    measure_rois,
    roi_table,
)


# ---------------------------------------------------------------------------- roi_table
def test_roi_table_values_and_columns():
    lab = np.zeros((40, 40), np.int32)
    lab[5:10, 5:15] = 4          # 50 px rectangle
    rr, cc = disk((25, 25), 5)
    lab[rr, cc] = 9
    img = np.full(lab.shape, 100.0)
    img[lab == 4] = 150.0
    img[lab == 9] = 300.0
    sig = np.zeros((50, 2))
    sig[20, 1] = 10.0
    sig += np.random.default_rng(1).normal(0, 1, sig.shape)
    t = roi_table(lab, img, pixel_size_um=0.5, signal=sig, saturation_value=300)
    assert list(t.columns) == list(ROI_DTYPES)
    assert dict(t.dtypes.astype(str)) == {k: v for k, v in ROI_DTYPES.items()}
    assert t["roi"].tolist() == [4, 9]
    assert t.loc[0, "area_px"] == 50 and t.loc[0, "area_um2"] == pytest.approx(12.5)
    assert (t.loc[0, "centroid_row"], t.loc[0, "centroid_col"]) == (7.0, 9.5)
    assert t.loc[0, "contrast"] == pytest.approx(0.5)
    assert t.loc[1, "contrast"] == pytest.approx(2.0)
    assert t.loc[1, "saturated_fraction"] == 1.0 and t.loc[0, "saturated_fraction"] == 0.0
    assert t.loc[1, "snr"] > 6 and t.loc[0, "snr"] < 6
    assert t["accepted"].all() and (t["reject_reason"] == "").all()
    assert not t["touches_border"].any()
    assert (t["source"] == "auto").all()


def test_roi_table_accept_rules():
    lab = np.zeros((40, 60), np.int32)
    lab[2:4, 2:5] = 1            # 6 px: small
    lab[10:12, 5:40] = 2         # 2 x 35: elongated
    rr, cc = disk((25, 50), 5)
    lab[rr, cc] = 3              # no contrast (same as background)
    lab[0:8, 52:60] = 4          # good, touches border
    img = np.full(lab.shape, 100.0)
    img[(lab == 1) | (lab == 2) | (lab == 4)] = 200
    t = roi_table(lab, img, source="imported")
    reasons = dict(zip(t["roi"], t["reject_reason"], strict=False))
    assert reasons == {1: "small", 2: "elongated", 3: "no contrast", 4: ""}
    assert t["accepted"].tolist() == [False, False, False, True]
    assert t["touches_border"].tolist() == [False, False, False, True]
    assert (t["source"] == "imported").all()
    # a responding cell without structural contrast is kept
    sig = np.random.default_rng(0).normal(0, 1, (100, 4))
    sig[50:60, 2] += 20
    t2 = roi_table(lab, img, signal=sig)
    assert bool(t2.loc[2, "accepted"])


def test_roi_table_empty_has_same_columns_and_dtypes(make_blobs):
    t = roi_table(np.zeros((10, 10), int), np.ones((10, 10)))
    full = roi_table(make_blobs(), np.ones((80, 100)))
    assert len(t) == 0
    assert list(t.columns) == list(full.columns)
    assert (t.dtypes == full.dtypes).all()


def test_roi_table_background_mask_and_errors():
    lab = np.zeros((30, 30), np.int32)
    lab[10:20, 10:20] = 1
    img = np.full(lab.shape, 100.0)
    img[lab == 1] = 200
    img[:, :15][lab[:, :15] == 0] = 150      # brighter on the left
    right = np.zeros(lab.shape, bool)
    right[:, 20:] = True
    assert roi_table(lab, img, background=right).loc[0, "contrast"] == pytest.approx(1.0)
    assert roi_table(lab, img, background=50.0).loc[0, "background_intensity"] > 100
    with pytest.raises(RoiError, match="shape"):
        roi_table(lab, img[:20])
    with pytest.raises(CaimgError, match="signal"):
        roi_table(lab, img, signal=np.zeros((10, 3)))
    with pytest.raises(ValueError):
        roi_table(lab.astype(float) + 0.5, img)
    assert roi_table(lab.astype(float), img)["roi"].tolist() == [1]


def test_roi_table_does_not_modify_inputs(make_blobs):
    lab = make_blobs()
    img = np.random.default_rng(0).normal(100, 5, lab.shape)
    lab0, img0 = lab.copy(), img.copy()
    roi_table(lab, img, signal=np.ones((5, len(np.unique(lab)) - 1)))
    assert (lab == lab0).all() and (img == img0).all()


# ---------------------------------------------------------------------------- outlines
def test_label_outline_fills_back_exactly(make_blobs):
    lab = make_blobs(seed=3)
    for v in np.unique(lab)[1:]:
        m = lab == v
        poly = label_outline(m)
        assert poly.shape[1] == 2 and len(poly) >= 4
        assert (fill_polygon(poly, m.shape) == m).all()
    # diagonal-only neighbours are two 4-connected parts: the larger one is kept
    m = np.zeros((6, 6), bool)
    m[1:3, 1:3] = True
    m[3, 3] = True
    assert (fill_polygon(label_outline(m), m.shape) == (np.pad(np.ones((2, 2), bool),
                                                                 ((1, 3), (1, 3))))).all()
    assert label_outline(np.zeros((3, 3), bool)).shape == (0, 2)


# ---------------------------------------------------------------------------- round trip


def test_roi_table_nan_traces_and_dilated_background_mask():
    from scipy import ndimage as ndi

    lab = np.zeros((40, 40), np.int32)
    lab[5:12, 5:12] = 1
    lab[20:30, 20:30] = 2
    img = np.full(lab.shape, 100.0)
    img[lab > 0] = 180.0
    # background region as the pipeline makes it: 4 px away from every ROI
    bg = ~ndi.binary_dilation(lab > 0, iterations=4)
    sig = np.random.default_rng(0).normal(1, 0.01, (30, 2))
    sig[:, 1] = np.nan                      # e.g. a ratio with a zero denominator
    t = roi_table(lab, img, signal=sig, background=bg)
    assert t["contrast"].tolist() == pytest.approx([0.8, 0.8])
    assert np.isfinite(t.loc[0, "snr"]) and np.isnan(t.loc[1, "snr"])


# ---------------------------------------------------------------------------- measure + accept
def test_measure_then_accept_equals_roi_table(make_blobs):
    lab = make_blobs(seed=2)
    img = np.random.default_rng(2).normal(100, 5, lab.shape)
    img[lab > 0] += 40
    sig = np.random.default_rng(3).normal(0, 1, (40, len(np.unique(lab)) - 1))
    measured = measure_rois(lab, img, signal=sig)
    assert "accepted" not in measured and "source" not in measured
    rules = dict(accept_min_area_px=30, max_aspect_ratio=2.5, min_contrast=0.1,
                 min_snr_no_contrast=4.0)
    whole = roi_table(lab, img, signal=sig, **rules)
    pd.testing.assert_frame_equal(accept_rois(measured, **rules),
                                  whole.drop(columns=["source", "low_signal"]))


def test_accept_rules_change_the_call():
    lab = np.zeros((30, 30), np.int32)
    lab[2:5, 2:5] = 1       # 9 px
    lab[10:20, 10:20] = 2   # 100 px
    img = np.full(lab.shape, 100.0)
    img[lab > 0] = 150.0
    t = measure_rois(lab, img)
    assert accept_rois(t)["accepted"].tolist() == [False, True]
    assert accept_rois(t)["reject_reason"].tolist() == ["small", ""]
    assert accept_rois(t, accept_min_area_px=5)["accepted"].tolist() == [True, True]
    strict = accept_rois(t, accept_min_area_px=200, min_contrast=1.0)
    assert strict["reject_reason"].tolist() == ["small;no contrast", "small;no contrast"]
    assert t.equals(measure_rois(lab, img))  # accept_rois leaves its input alone


def test_snr_uses_the_shared_mad_estimator():
    from caimg.kinetics import difference_mad

    rng = np.random.default_rng(4)
    sig = rng.normal(0, 1, (200, 2))
    sig[100, 0] = 30.0
    lab = np.zeros((20, 20), np.int32)
    lab[2:8, 2:8], lab[10:16, 10:16] = 1, 2
    t = measure_rois(lab, np.ones(lab.shape), signal=sig)
    sd = difference_mad(sig, axis=0) / 0.6745 / np.sqrt(2.0)
    dev = np.abs(sig - np.median(sig, axis=0)).max(axis=0)
    np.testing.assert_allclose(t["snr"], dev / sd)
    assert t.loc[0, "snr"] > 10 > t.loc[1, "snr"]

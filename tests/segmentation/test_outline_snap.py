"""Outlines on the edge of a cell whatever its inside holds (``outline_snap``, issue 13).

A bright nucleus raises a cell's height, and a cut at a fraction of that height ran inside
the cell. ``outline_snap`` moves each outline out (at most 1 px, never towards another
cell) onto the level whose outline runs on the steepest edge.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from caimg.metrics import match_labels
from caimg.segmentation import segment
from caimg.synthetic import make_recording

SHAPE = (96, 96)
CENTRES = [(24, 24), (24, 70), (70, 26), (68, 68)]
RADIUS = 8


def _bright_nucleus_field(seed=0, centres=CENTRES):
    """Round cells (radius 8 px), each with a nucleus twice as bright as its
    cytoplasm, blurred by a 1 px PSF, on a flat background with noise."""
    rr, cc = np.indices(SHAPE)
    truth = np.zeros(SHAPE, np.int32)
    img = np.zeros(SHAPE)
    for i, (r, c) in enumerate(centres, start=1):
        d2 = (rr - r) ** 2 + (cc - c) ** 2
        cell = d2 <= RADIUS ** 2
        truth[cell] = i
        nucleus = np.exp(-d2 / (2 * 3.0 ** 2))
        img += np.where(cell, 100.0 * (1.0 + nucleus), 0.0)
    img = ndi.gaussian_filter(img, 1.0) + 50.0
    img += np.random.default_rng(seed).normal(0, 1.0, SHAPE)
    return img, truth


def _area_ratio_and_iou(labels, truth):
    m = match_labels(truth, labels, iou_threshold=0.5)
    assert len(m.pairs) == len(CENTRES)
    ratio = [np.sum(labels == p) / np.sum(truth == t) for t, p in m.pairs]
    return float(np.median(ratio)), float(np.mean(m.ious))


def test_bright_nucleus_outline_moves_out_to_the_edge():
    img, truth = _bright_nucleus_field()
    off = _area_ratio_and_iou(segment(img, method="gradient", cell_diameter_px=16,
                                      outline_snap=False), truth)
    on = _area_ratio_and_iou(segment(img, method="gradient", cell_diameter_px=16), truth)
    assert off[0] < 0.92  # the cut at a fraction of the nucleus' height: inside the cell
    assert 0.9 <= on[0] <= 1.15
    assert on[1] > off[1] + 0.04


def test_outline_grows_at_most_one_pixel_and_not_into_a_neighbour():
    # two cells apart, two pressed together (centres 16 px apart)
    img, _ = _bright_nucleus_field(seed=1, centres=[(24, 24), (24, 70), (68, 36), (68, 52)])
    off = segment(img, method="gradient", cell_diameter_px=16, outline_snap=False)
    on = segment(img, method="gradient", cell_diameter_px=16)
    assert on.max() == off.max() == 4
    grown = (on > 0) & (off == 0)
    assert grown.any()
    assert (ndi.distance_transform_edt(off == 0)[grown] <= 1.5).all()
    for lab in range(1, 5):
        # every ROI only grew (it lost no pixel, took none of another's) ...
        assert (on[off == lab] == lab).all()
        # ... and never onto a pixel next to another cell's ROI
        others = ndi.binary_dilation((off > 0) & (off != lab), structure=np.ones((3, 3)))
        assert not (grown & (on == lab) & others).any()


def test_bright_nucleus_family_iou_rises():
    # the generator's bright_nucleus family, one recording: mean IoU of matched cells
    syn = make_recording("fluo4", preset="moderate", family="bright_nucleus", rng=305,
                         n_frames=20)
    img = np.asarray(syn.recording.channels["f"]).mean(axis=0)
    ious = []
    for snap in (False, True):
        lab = segment(img, method="gradient", cell_diameter_px=12, outline_snap=snap)
        ious.append(float(np.mean(match_labels(syn.labels, lab, iou_threshold=0.5).ious)))
    assert ious[1] > ious[0] + 0.015  # 0.827 to 0.847

"""Granular cells are one ROI each; touching cells stay two (issue 13).

Coarse granules make one part of a cell much brighter than another; the watershed cut
such cells in two and the merge rule kept the parts apart on the step between them.
``merge_texture`` lets two rough pieces differ by up to ``merge_textured_step`` when their
union is one convex, round cell.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.draw import disk

from caimg.metrics import match_labels
from caimg.motion import summary_images
from caimg.segmentation import segment
from caimg.segmentation._merge import merge_fragments
from caimg.synthetic import make_recording

SHAPE = (48, 64)


def _granules(seed, contrast=0.45):
    """Multiplicative granules (SD ``contrast``, blobs of sigma 1.2 px), as the generator's
    ``granular`` family draws them."""
    g = ndi.gaussian_filter(np.random.default_rng(seed).normal(size=SHAPE), 1.2)
    return np.clip(1.0 + contrast * g / g.std(), 0.1, None)


def _disc(center, radius):
    m = np.zeros(SHAPE, bool)
    m[disk(center, radius, shape=SHAPE)] = True
    return m


def _n_rois(labels, smooth, **kw):
    return len(np.unique(merge_fragments(labels, smooth, **kw))) - 1


def test_two_pieces_of_one_granular_cell_are_merged():
    cell = _disc((24, 32), 8)
    smooth = np.where(cell, 200.0 * _granules(3), 0.0)
    left = cell & (np.indices(SHAPE)[1] < 31)
    smooth[left] *= 1.7  # granules brighter on one side: a step of 1.7x
    labels = np.where(left, 1, np.where(cell, 2, 0)).astype(np.int32)
    assert _n_rois(labels, smooth, min_texture=0.0) == 2  # the step kept them apart
    assert _n_rois(labels, smooth, min_texture=0.08) == 1


def test_two_touching_smooth_cells_stay_two():
    # a dim and a bright plain cell pressed together: a step, no texture
    rr, cc = np.indices(SHAPE)
    a, b = _disc((24, 26), 8), _disc((24, 38), 8)
    dome = lambda c: 1.0 - 0.5 * ((rr - 24) ** 2 + (cc - c) ** 2) / 64.0  # noqa: E731
    smooth = np.where(a, 120.0 * dome(26), 0.0) + np.where(b & ~a, 200.0 * dome(38), 0.0)
    labels = np.where(a, 1, np.where(b, 2, 0)).astype(np.int32)
    assert _n_rois(labels, smooth, min_texture=0.08) == 2
    # what keeps them apart is the step between smooth ROIs (the shape would pass)
    assert _n_rois(labels, smooth, max_step=2.0) == 1


def test_two_touching_granular_cells_side_by_side_stay_two():
    # both rough, a 1.7x step, the union convex enough but twice as long as wide
    a, b = _disc((24, 26), 8), _disc((24, 38), 8)
    b &= ~a
    smooth = np.where(a, 300.0, 0.0) * _granules(5) + np.where(b, 180.0, 0.0) * _granules(6)
    labels = np.where(a, 1, np.where(b, 2, 0)).astype(np.int32)
    assert _n_rois(labels, smooth, min_texture=0.08) == 2
    # what keeps them apart is the roundness test
    assert _n_rois(labels, smooth, min_texture=0.08, textured_elongation=3.0) == 1


def test_granular_recording_cells_are_not_cut():
    """A granular recording on a seed of its own (neither tuning 100-199 nor report 0-1):
    without the texture-aware merge, three cells came out in two pieces each."""
    syn = make_recording("fluo4", preset="moderate", family="granular", rng=309, n_frames=40)
    s = summary_images(syn.recording.channels["f"], syn.shifts)
    on = match_labels(syn.labels, segment(s, cell_diameter_px=12.0))
    off = match_labels(syn.labels, segment(s, cell_diameter_px=12.0, merge_texture=0))
    assert on.f1 >= off.f1 + 0.04, (on.f1, off.f1)
    assert on.f1 >= 0.9, on

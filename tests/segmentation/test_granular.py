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
from caimg.segmentation._merge import merge_fragments, merge_isolated
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
    without the texture-aware merge and the merge of isolated groups, three cells came out
    in two pieces each; either rule alone puts them together. (Measured without
    ``outline_snap``, whose wider outlines also join some of the pieces: F1 0.906 with
    both merge rules off, 0.923 with them on.)"""
    syn = make_recording("fluo4", preset="moderate", family="granular", rng=309, n_frames=40)
    s = summary_images(syn.recording.channels["f"], syn.shifts)

    def f1(**kw):
        return match_labels(syn.labels, segment(s, cell_diameter_px=12.0, outline_snap=False,
                                                **kw)).f1

    on, off = f1(), f1(merge_texture=0, isolated_area=0)
    assert on >= off + 0.04, (on, off)
    assert on >= 0.9, on
    assert f1(isolated_area=0) >= off + 0.04
    assert f1(merge_texture=0) >= off + 0.04


def _field_with(pair_labels, *others):
    """``pair_labels`` (ids 1, 2) plus each mask of ``others`` as ROIs 3, 4, ..."""
    labels = pair_labels.astype(np.int32).copy()
    for i, m in enumerate(others, start=3):
        labels[m & (labels == 0)] = i
    return labels


def test_isolated_pieces_of_one_cell_are_merged_whatever_their_border():
    # a granular cell cut by a line of dark granules: a border that dips like the notch
    # between two cells, so merge_fragments keeps the pieces apart
    cell = _disc((24, 14), 8)
    smooth = np.where(cell, 200.0 * _granules(7), 0.0)
    smooth[cell & (np.indices(SHAPE)[1] == 14)] *= 0.3
    left = cell & (np.indices(SHAPE)[1] < 14)
    pair = np.where(left, 1, np.where(cell, 2, 0))
    labels = _field_with(pair, _disc((12, 40), 8), _disc((34, 52), 8))
    assert _n_rois(labels, smooth, min_texture=0.08) == 4
    merged = merge_isolated(merge_fragments(labels, smooth, min_texture=0.08), smooth)
    assert len(np.unique(merged)) - 1 == 3
    assert np.all(merged[cell] == merged[cell][0])
    assert len(np.unique(merge_isolated(labels, smooth, max_area=0))) - 1 == 4  # off


def test_isolated_cells_side_by_side_or_touching_others_are_not_merged():
    flat = np.ones(SHAPE)
    a, b = _disc((24, 14), 8), _disc((24, 29), 8)  # two touching cells, nothing else near
    two = _field_with(np.where(a, 1, np.where(b, 2, 0)), _disc((10, 52), 8),
                      _disc((36, 52), 8))
    assert len(np.unique(merge_isolated(two, flat))) == 5
    # a small cell against a big one: a union of one big cell's size (1.3x the median ROI)
    # and nearly solid (0.90), but 1.65x as long as wide
    big, small = _disc((24, 16), 9), _disc((24, 29), 5)
    lop = _field_with(np.where(big, 1, np.where(small, 2, 0)), _disc((10, 50), 9),
                      _disc((37, 50), 9))
    assert len(np.unique(merge_isolated(lop, flat))) == 5
    # pieces of one cell that also touch another cell's ROI: the group is that cell too
    # (2.8x the median ROI, twice as long as wide), so nothing is merged
    cell = _disc((24, 20), 8)
    half = cell & (np.indices(SHAPE)[1] < 20)
    third = _disc((24, 33), 6) & ~cell
    group = _field_with(np.where(half, 1, np.where(cell, 2, 0)), third, _disc((10, 54), 7))
    assert len(np.unique(merge_isolated(group, flat))) == 5
    # a cell-shaped pair with one side 2.5x as bright as the other: a dim cell pressed
    # against a bright one (granules make at most about 2x)
    pair = _field_with(np.where(half, 1, np.where(cell, 2, 0)), _disc((10, 50), 8),
                       _disc((36, 50), 8))
    stepped = np.where(half, 2.5, 1.0)
    assert len(np.unique(merge_isolated(pair, stepped))) == 5
    assert len(np.unique(merge_isolated(pair, flat))) == 4

"""The activity split: an ROI that holds a responding and a quiet cell is cut in two.

Two touching cells of the same brightness form one smooth ellipse in the mean image (no
border to see); one half responds, the other does not. Controls: the same ellipse
responding all over, or with a response that reaches one half 3 s later (a wave), and a
responding cell with a dark nucleus, stay one ROI each.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import disk, ellipse

from caimg.segmentation import segment
from caimg.segmentation._activity_split import split_by_activity
from caimg.summary import summary_images

SHAPE = (80, 80)


def _movie(left, right, seed=0, n_frames=60):
    """Poisson movie: an ellipse of two halves (response onsets ``left``/``right`` as frame
    numbers, None = quiet) and four round cells (the first, with a dark nucleus, and the
    third respond). Returns the movie and the map of parts (1/2 = ellipse halves)."""
    rng = np.random.default_rng(seed)
    cell = np.zeros(SHAPE)
    part = np.zeros(SHAPE, int)
    rr, cc = ellipse(40, 40, 7, 13, shape=SHAPE)
    cell[rr, cc] = 1.0
    part[rr, cc] = np.where(cc < 40, 1, 2)
    for k, (r, c) in enumerate(((15, 15), (15, 62), (64, 18), (64, 62)), start=3):
        rr, cc = disk((r, c), 6, shape=SHAPE)
        cell[rr, cc] = 1.0
        part[rr, cc] = k
    rr, cc = disk((15, 15), 3, shape=SHAPE)
    cell[rr, cc] = 0.5
    t = np.arange(n_frames)[:, None, None]

    def response(onset):
        return np.where(t >= onset, np.exp(-(t - onset) / 8.0), 0.0)

    dff = np.zeros((n_frames, *SHAPE))
    for k, onset in ((1, left), (2, right), (3, 20), (5, 20)):
        if onset is not None:
            dff = np.where(part == k, response(onset), dff)
    f0 = 100.0 + 300.0 * cell
    return rng.poisson(f0 * (1.0 + dff)).astype(np.float32), part


def _ids(labels, where):
    return set(np.unique(labels[where]).tolist()) - {0}


def test_responding_and_quiet_halves_become_two_rois():
    movie, part = _movie(20, None)
    s = summary_images(movie)
    before = segment(s, cell_diameter_px=12.0, activity_split=False)
    # the mean image alone shows one cell: the premise of the test
    assert _ids(before, part == 1) == _ids(before, part == 2)
    after = segment(s, cell_diameter_px=12.0)
    left, right = _ids(after, part == 1), _ids(after, part == 2)
    assert len(left) == 1 and len(right) == 1 and left != right, (left, right)
    # each half's ROI holds (almost) only that half
    for k, ids in ((1, left), (2, right)):
        roi = after == ids.pop()
        assert (part[roi] == k).mean() > 0.9
        assert roi.sum() > 0.8 * (part == k).sum()


@pytest.mark.parametrize("right", [20, 26], ids=["uniform", "wave"])
def test_cells_that_respond_all_over_stay_whole(right):
    movie, part = _movie(20, right)
    labels = segment(summary_images(movie), cell_diameter_px=12.0)
    assert len(_ids(labels, part == 1) | _ids(labels, part == 2)) == 1
    for k in (3, 4, 5, 6):  # dark-nucleus responder, quiet, responder, quiet
        assert len(_ids(labels, part == k)) == 1, k


def test_split_function_leaves_quiet_rois_alone():
    movie, part = _movie(None, None)
    s = summary_images(movie)
    regions = (part > 0).astype(np.int32) + (part > 2)  # 1 = ellipse, 2 = round cells
    flat = np.asarray(s.mean, float) - 100.0
    activity = {"std": np.asarray(s.std, float), "corr": np.asarray(s.corr, float),
                "n_frames": s.n_frames}
    out = split_by_activity(regions, flat, activity, 12.0)
    np.testing.assert_array_equal(out, regions)

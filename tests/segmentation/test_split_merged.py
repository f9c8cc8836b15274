"""Two touching cells in one ROI are cut in two; single cells stay whole (issue 13).

The ``spindle_neurites`` family (hard preset) has spindle cells touching in a V, a T or
side by side; one watershed region held both when only one had a marker
(:func:`caimg.segmentation._split_merged.split_merged`, ``cut_solidity``).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.draw import ellipse

from caimg.metrics import match_labels
from caimg.motion import summary_images
from caimg.segmentation import segment
from caimg.segmentation._split_merged import split_merged
from caimg.synthetic import make_recording


def _spindle(shape, centre, half_len, half_width, angle_deg):
    m = np.zeros(shape, dtype=bool)
    rr, cc = ellipse(centre[0], centre[1], half_width, half_len, shape=shape,
                     rotation=np.deg2rad(angle_deg))
    m[rr, cc] = True
    return m


def _image(*masks, heights=None):
    """A smoothed image of the masks (domed a little by the blur) on a zero background."""
    img = np.zeros(masks[0].shape)
    for m, h in zip(masks, heights or [1.0] * len(masks), strict=True):
        img += h * m
    return ndi.gaussian_filter(img, 1.0)


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_two_spindles_in_a_v_are_cut_apart():
    """Two spindles touching at one end (a V): one ROI before, two matching ROIs after."""
    shape = (64, 64)
    a = _spindle(shape, (32, 24), 11, 4, 30)
    b = _spindle(shape, (32, 41), 11, 4, -30) & ~a
    labels = (a | b).astype(np.int32)
    assert ndi.label(a | b)[1] == 1  # they touch: one region
    out = split_merged(labels, _image(a, b, heights=[1.0, 0.8]), 12.0)
    ids = [i for i in np.unique(out) if i > 0]
    assert len(ids) == 2
    best = sorted(max(_iou(out == i, t) for i in ids) for t in (a, b))
    assert best[0] > 0.8, best
    # off: one ROI
    assert np.array_equal(split_merged(labels, _image(a, b), 12.0, max_solidity=0.0), labels)


def test_an_roi_no_bigger_than_a_cell_is_not_cut():
    """Only an ROI of at least ``min_area`` x the median ROI's area can be two cells: the
    same V among cells as big as it stays whole (a granular or dark-nucleus cell with a
    notch was cut on the families' report seeds when the cut had no size rule)."""
    shape = (64, 160)
    a = _spindle(shape, (32, 24), 11, 4, 30)
    b = _spindle(shape, (32, 41), 11, 4, -30) & ~a
    labels = (a | b).astype(np.int32)
    yy, xx = np.mgrid[:64, :160]
    r = np.sqrt((a | b).sum() / np.pi)
    masks = [a, b]
    for k, c in enumerate((70, 95, 120, 145), start=2):
        disc = (yy - 32) ** 2 + (xx - c) ** 2 <= r * r
        labels[disc] = k
        masks.append(disc)
    img = _image(*masks, heights=[1.0, 0.8, 1.0, 1.0, 1.0, 1.0])
    assert len(np.unique(split_merged(labels, img, 12.0))) == 7  # no size rule: cut
    out = split_merged(labels, img, 12.0, min_area=1.5)
    assert np.array_equal(out, labels)


def test_single_convex_spindle_and_dark_nucleus_cell_stay_whole():
    """A long convex spindle (aspect 3.5), a round cell with a dark nucleus (a hole in its
    ROI) and a spindle with a short neurite stub are one cell each."""
    shape = (96, 96)
    spindle = _spindle(shape, (20, 30), 14, 4, 20)
    yy, xx = np.mgrid[:96, :96]
    ring = ((yy - 60) ** 2 + (xx - 25) ** 2 <= 8 ** 2) & ((yy - 60) ** 2 + (xx - 25) ** 2 > 9)
    body = _spindle(shape, (60, 65), 10, 4, 90)
    stub = (np.abs(xx - 65) <= 1) & (yy >= 70) & (yy < 85)
    labels = np.zeros(shape, dtype=np.int32)
    labels[spindle] = 1
    labels[ring] = 2
    labels[body | stub] = 3
    img = _image(spindle, ring, body, stub, heights=[1.0, 1.0, 1.0, 0.4])
    out = split_merged(labels, img, 12.0)
    assert np.array_equal(out, labels)


def test_touching_spindles_merged_are_cut_on_the_family():
    """``spindle_neurites``, hard preset, seeds of their own: more cells found with the cut
    (on by default) than without."""
    found, found_off = 0, 0
    for indicator, seed in (("fluo4", 307), ("fura2", 308)):
        syn = make_recording(indicator, preset="hard", family="spindle_neurites", rng=seed,
                             n_frames=40)
        ch = "f380" if indicator == "fura2" else "f"
        s = summary_images(syn.recording.channels[ch], syn.shifts)
        on = segment(s, cell_diameter_px=12.0)
        found += len(match_labels(syn.labels, on).pairs)
        off = segment(s, cell_diameter_px=12.0, cut_solidity=0.0)
        found_off += len(match_labels(syn.labels, off).pairs)
    assert found >= found_off + 3, (found, found_off)


def _discs_field(pair_gap, *, big_radius=None):
    """Four single discs of radius 7 and, left of them, either two discs of radius 7 whose
    centres are ``pair_gap`` px apart (pressed side by side: one ROI; a 1-px unlit border
    between them in the image) or one round cell of ``big_radius``. Returns labels,
    image, and the true masks of the left object(s)."""
    shape = (48, 180)
    yy, xx = np.mgrid[:48, :180]
    labels = np.zeros(shape, dtype=np.int32)
    if big_radius is None:
        neck = 20 + pair_gap / 2  # the cells meet at the union's narrowest place
        a = ((yy - 24) ** 2 + (xx - 20) ** 2 <= 49) & (xx < neck)
        b = ((yy - 24) ** 2 + (xx - 20 - pair_gap) ** 2 <= 49) & (xx >= neck)
        left, heights = [a, b], [1.0, 0.8]
    else:
        left, heights = [(yy - 24) ** 2 + (xx - 26) ** 2 <= big_radius ** 2], [1.0]
    for m in left:
        labels[m] = 1
    masks = list(left)
    if big_radius is None:
        masks[1] = b & ~ndi.binary_dilation(a)
    for k, c in enumerate((70, 100, 130, 160), start=2):
        disc = (yy - 24) ** 2 + (xx - c) ** 2 <= 49
        labels[disc] = k
        masks.append(disc)
    return labels, _image(*masks, heights=heights + [1.0] * 4), left


LONG_CUT = {"max_solidity": 0.93, "min_gain": 0.02, "min_area": 1.7, "min_aspect": 1.4}


def test_two_round_cells_side_by_side_are_cut_by_the_long_pass():
    """Two round cells pressed together (their union nearly convex, solidity above the
    first pass's 0.85) in one ROI twice the size of the others: the first pass leaves it,
    the looser pass for big, long ROIs (``long_cut_*``) cuts it into the two cells."""
    labels, img, (a, b) = _discs_field(9)
    first = split_merged(labels, img, 12.0, min_area=1.5)
    assert np.array_equal(first, labels)
    out = split_merged(first, img, 12.0, **LONG_CUT)
    ids = [i for i in np.unique(out[a | b]) if i > 0]
    assert len(ids) == 2
    best = sorted(max(_iou(out == i, t) for i in ids) for t in (a, b))
    assert best[0] > 0.8, best
    assert np.array_equal(out[~(a | b)], labels[~(a | b)])


def test_long_pass_leaves_a_big_round_cell_and_a_pair_below_its_limits():
    """The long pass needs both size and length: a round cell twice the area of the
    others is left whole, and so is the pair of cells when the ROI must be bigger
    (``min_area``) or longer (``min_aspect``) than it is."""
    labels, img, _ = _discs_field(0, big_radius=10)
    assert np.array_equal(split_merged(labels, img, 12.0, **LONG_CUT), labels)
    labels, img, _ = _discs_field(9)  # area 1.77x the others', 1.68x as long as wide
    assert np.array_equal(split_merged(labels, img, 12.0, **{**LONG_CUT, "min_area": 2.5}),
                          labels)
    assert np.array_equal(split_merged(labels, img, 12.0, **{**LONG_CUT, "min_aspect": 2.0}),
                          labels)

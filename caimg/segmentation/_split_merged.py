"""Split an ROI whose shape is two touching cells.

Two cells that touch end to end or side by side (spindle cells in a V, a T or a row) can
give one watershed region when only one of them held a marker. Their union is not convex,
while each cell alone nearly is; and two disjoint convex shapes are always separated by a
straight line. :func:`split_merged` therefore looks, in each ROI that covers clearly less
than its convex hull, for the straight cut whose two parts together cover the most of
their two hulls, and makes it when those two parts are clearly more convex than the whole
and the image along the cut is dimmer than the brighter part (a border between two cells,
not the middle of one). A single convex cell, however elongated, gains nothing from a cut;
a cell with a dark nucleus is judged with its hole filled; a cell with a neurite stub cut
off along its bright body fails the seam test.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ._common import moment_aspects, padded

__all__ = ["split_merged", "two_piece_cut"]

_CORNERS = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]])


def _hull_px(pts):
    """Area (px) of the convex hull of the pixel squares centred at ``pts`` (N, 2)."""
    from scipy.spatial import ConvexHull, QhullError

    if len(pts) == 0:
        return 0.0
    try:
        return float(ConvexHull((pts[:, None, :] + _CORNERS[None]).reshape(-1, 2)).volume)
    except QhullError:  # collinear
        return float(len(pts))


def two_piece_cut(mask, *, min_px, step_deg=10.0, below=1.0):
    """The straight cut of ``mask`` into the two most convex parts.

    Parameters
    ----------
    mask : ndarray of bool, shape (Y, X)
        One object.
    min_px : float
        Smallest part allowed, pixels.
    step_deg : float
        Angle step of the cuts tried (offsets: every pixel across).
    below : float
        No cut is looked for when the object's solidity is at least this.

    Returns
    -------
    solidity : float
        The object's area over its convex hull's (pixel squares).
    two_piece : float
        The area over the sum of the two parts' hull areas, for the best cut
        (``solidity`` when no cut leaves two parts of ``min_px``).
    side : ndarray of bool, shape (Y, X) or None
        The pixels of ``mask`` on one side of the best cut (None when there is none).
    """
    rr, cc = np.nonzero(mask)
    pts = np.column_stack([rr, cc]).astype(np.float64)
    n = len(pts)
    solidity = n / max(_hull_px(pts), 1.0)
    best, arg = solidity, None
    for th in (np.deg2rad(np.arange(0.0, 180.0, step_deg)) if solidity < below else ()):
        p = pts[:, 0] * np.cos(th) + pts[:, 1] * np.sin(th)
        for t in np.arange(np.floor(p.min()) + 0.5, p.max(), 1.0):
            a = p < t
            na = int(a.sum())
            if na < min_px or n - na < min_px:
                continue
            s2 = n / (_hull_px(pts[a]) + _hull_px(pts[~a]))
            if s2 > best:
                best, arg = s2, a
    if arg is None:
        return solidity, best, None
    side = np.zeros(mask.shape, dtype=bool)
    side[rr[arg], cc[arg]] = True
    return solidity, best, side


def _deficit_taken(mask, labels_box):
    """Fraction of the pixels of ``mask``'s convex hull outside ``mask`` that other ROIs of
    ``labels_box`` hold.
    """
    from skimage.morphology import convex_hull_image

    deficit = convex_hull_image(mask) & ~mask
    if not deficit.any():
        return 0.0
    return float((labels_box[deficit] > 0).mean())


def split_merged(labels, smooth, diameter, *, max_solidity=0.85, min_gain=0.06,
                 max_seam=0.95, min_part=0.25, min_thickness=0.25, max_taken=0.8,
                 min_area=0.0, min_aspect=0.0):
    """Cut ROIs that are two convex cells touching into those two cells.

    An ROI (its holes filled) covering less than ``max_solidity`` of its convex hull is a
    candidate; its best straight cut (:func:`two_piece_cut`; each part at least
    ``min_part`` of the ROI and a quarter of a cell, ``pi d^2 / 16``) is made when the
    two parts cover at least ``min_gain`` more of their hulls than the ROI of its own, and
    the median of ``smooth`` along the cut (the pixels on both sides of it) is at most
    ``max_seam`` times the median of the brighter part, and each part is a body, not a
    string: its largest inscribed disc has a radius of at least ``min_thickness`` cell
    diameters (pieces of neurites, and a cell's slab cut off at a notch, are thinner).
    Only ROIs of at least ``min_area`` times the median ROI's area are tried (room for two
    cells; an ROI no bigger than a typical cell is one cell with a notch), and, with
    ``min_aspect``, only those whose moment ellipse is at least that many times as long as
    wide (two cells side by side).

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X)
        Labels, 0 = background.
    smooth : ndarray of float64, shape (Y, X)
        Background-flattened, smoothed image.
    diameter : float
        Typical cell diameter, pixels.
    max_solidity : float
        ROIs at least this convex are one cell and left alone (0 = off).
    min_gain : float
        Gain in solidity a cut must bring (two parts' area over their hulls' sum, less
        the ROI's area over its hull).
    max_seam : float
        The image along the cut must be at most this fraction of the brighter part's
        median (a dip: the border between two cells).
    min_part : float
        Smallest part, as a fraction of the ROI's pixels.
    min_thickness : float
        Smallest radius of each part's largest inscribed disc, in cell diameters.
    min_area : float
        Smallest ROI tried, as a multiple of the median ROI's area (0 = every ROI).
    min_aspect : float
        Smallest length over width (moment ellipse) of a ROI tried (0 = any shape).
    max_taken : float
        No cut when more than this fraction of the hull's pixels missing from the ROI
        belong to other ROIs: the ROI is then a piece of a cell whose other pieces fill
        its notch (a granular cell cut by the watershed), not two cells with free space
        between their arms.

    Returns
    -------
    ndarray of int32, shape (Y, X)
        Labels; a cut ROI keeps its id for one part, the other part gets a new id.
    """
    labels = np.asarray(labels)
    if max_solidity <= 0 or labels.max(initial=0) == 0:
        return labels
    out = labels.astype(np.int32, copy=True)
    nxt = int(labels.max()) + 1
    min_px = np.pi * diameter * diameter / 16.0
    areas = np.bincount(labels.ravel())[1:]
    typical = float(np.median(areas[areas > 0])) if (areas > 0).any() else 0.0
    for i, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        sl = padded(sl, 1, labels.shape)  # a free pixel around it: the inscribed discs
        own = labels[sl] == i
        m = ndi.binary_fill_holes(own)
        area = int(m.sum())
        if area < 2 * min_px or area < min_area * typical:
            continue
        if min_aspect > 0 and moment_aspects(m)[1] < min_aspect:
            continue
        solidity, two, side = two_piece_cut(m, min_px=max(min_part * area, min_px),
                                            below=max_solidity)
        if side is None or solidity >= max_solidity or two - solidity < min_gain:
            continue
        other = m & ~side
        if _deficit_taken(m, labels[sl]) > max_taken:
            continue
        thick = min(ndi.distance_transform_edt(p).max() for p in (side, other))
        if thick < min_thickness * diameter:
            continue
        v = smooth[sl]
        seam = (side & ndi.binary_dilation(other)) | (other & ndi.binary_dilation(side))
        body = max(float(np.median(v[side])), float(np.median(v[other])))
        if body <= 0 or np.median(v[seam]) > max_seam * body:
            continue
        out[sl][own & other] = nxt
        nxt += 1
    return out

"""Cut ROIs where their activity changes in a step: a piece of a neighbouring cell.

Two touching cells of about the same brightness may show no border in the structural
image, and the watershed then gives one cell's ROI a piece of its neighbour. When one of
them responds and the other does not, their *activity* differs: the signal part of the
temporal variance (:func:`signal_variance`), relative to the squared brightness above the
background, is about the square of the cell's relative signal SD (dF/F) whatever the
cell's inner texture (a dark or bright nucleus, granules), and about zero on a cell that
does not respond.

:func:`split_by_activity` looks, in each ROI, for a part that touches the ROI's outline
and whose relative activity is clearly lower or higher than the rest's (a step well
above the noise of that estimate), and cuts it off.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from ._common import hull_area, padded
from ._saturation import saturated_rois

__all__ = ["signal_variance", "split_by_activity"]


def signal_variance(std, corr, n_frames, regions):
    """Per pixel, the signal part of the temporal variance and its standard error.

    A pixel's mean correlation with its neighbours is about the fraction of its
    variance that is signal shared with them (the noise of neighbours is independent),
    so ``corr * std**2`` is its signal variance, without a model of the noise. The
    correlation that registration's interpolation gives to the noise of neighbours (the
    median over the pixels outside ``regions``) is taken off first.

    Parameters
    ----------
    std, corr : ndarray of float64, shape (Y, X)
        Temporal SD and local-correlation image of the same movie.
    n_frames : int
        Frames the summaries were taken over.
    regions : ndarray of int, shape (Y, X)
        Labels; the pixels outside them give the correlation of pure noise.

    Returns
    -------
    sv, se : ndarray of float64, shape (Y, X)
        Signal variance (squared units of ``std``; about 0, or a little below, where
        nothing but noise is) and the standard error of that estimate.
    """
    var = np.asarray(std, dtype=np.float64) ** 2
    c = np.asarray(corr, dtype=np.float64)
    free = np.asarray(regions) == 0
    c0 = float(np.median(c[free])) if free.sum() > 20 else 0.0
    c0 = min(max(c0, 0.0), 0.9)
    frac = (c - c0) / (1.0 - c0)
    # the SE of a correlation estimate is about (1 - r^2) / sqrt(T)
    se = var * (1.0 - np.clip(frac, 0.0, 1.0) ** 2) / math.sqrt(max(int(n_frames), 1))
    return frac * var, se


def split_by_activity(regions, flat, activity, diameter, *, min_part=0.1, max_ratio=0.35,
                      min_snr=8.0, min_cell_area=None, min_union_solidity=0.85, border_px=3):
    """Cut off the part of an ROI whose relative activity differs in a step from the rest.

    Per ROI, the relative activity (signal variance over squared height, see the module
    docstring) is smoothed within the ROI and split in two at its Otsu threshold; the
    biggest connected piece of the smaller class is the candidate part. It is cut off
    when it holds at least ``min_part`` of the ROI's pixels, touches the ROI's outline,
    leaves the rest in one piece, and the pooled relative activity of the lower side is
    below ``max_ratio`` times the higher side's while their difference is at least
    ``min_snr`` times its standard error (:func:`signal_variance`). The part goes to the
    neighbouring ROI it touches most when that one's activity is alike (not clearly
    different by the same rule) and their union fills at least ``min_union_solidity`` of
    its convex hull, becomes an ROI of its own when it is at least ``min_cell_area``
    pixels, and is dropped otherwise.

    Parameters
    ----------
    regions : ndarray of int, shape (Y, X)
        Labels, 0 = background.
    flat : ndarray of float64, shape (Y, X)
        ``structural`` minus its background (:func:`~caimg.segmentation._common.flatten`).
    activity : dict or None
        Summary images of the same movie, (Y, X) arrays: ``"std"`` (temporal SD) and
        ``"corr"`` (local correlation) are needed, ``"n_frames"`` (T) and ``"max"``
        (temporal maximum: ROIs with pixels clipped at the camera's ceiling are left
        alone, a clipped pixel is quiet while its cell responds) are used when given.
        None, or without ``"std"`` or ``"corr"``: ``regions`` are returned as they are.
    diameter : float
        Cell diameter, pixels.
    min_part : float
        Smallest part cut off, as a fraction of the ROI's area.
    max_ratio : float
        The lower side's relative activity must be below this fraction of the higher's.
    min_snr : float
        The difference must be at least this many of its standard errors.
    min_cell_area : float, optional
        Smallest part kept as an ROI of its own, pixels (default: a quarter of a disc of
        the cell diameter).
    min_union_solidity : float
        A part goes to a neighbour only when their union fills this fraction of its
        convex hull.
    border_px : int
        ROIs this close to the image's edge are left alone: registration repeats or
        interpolates the edge pixels of shifted frames, which makes them correlated.

    Returns
    -------
    ndarray of int32, shape (Y, X)
        Labels; ids of parts made ROIs follow ``regions.max()``.
    """
    out = np.asarray(regions).astype(np.int32, copy=True)
    n = int(out.max(initial=0))
    if n == 0 or activity is None or "std" not in activity or "corr" not in activity:
        return out
    n_frames = activity.get("n_frames", 2)
    peak = activity.get("max")
    sv, nse = signal_variance(activity["std"], activity["corr"], n_frames, regions)
    h2 = np.maximum(np.asarray(flat, dtype=np.float64), 0.0) ** 2
    if min_cell_area is None:
        min_cell_area = 0.25 * math.pi * diameter * diameter / 4.0
    sigma = max(1.0, diameter / 8.0)
    clipped = set() if peak is None else set(saturated_rois(out, peak).tolist())
    next_id = n + 1
    for i, sl in enumerate(ndi.find_objects(out.copy()), start=1):
        if sl is None or i in clipped or _at_border(sl, out.shape, border_px):
            continue
        win = padded(sl, 2, out.shape)
        lab = out[win]
        m = lab == i
        part = _candidate(m, sv[win], h2[win], sigma, min_part)
        if part is None:
            continue
        rest = m & ~part
        if not _differ(sv[win], h2[win], nse[win], part, rest, max_ratio, min_snr):
            continue
        to = _alike_neighbour(lab, part, i, sv[win], h2[win], nse[win], max_ratio, min_snr)
        # ... when the union stays cell-shaped (the part may be the scattered light of a
        # bright responding cell over a quiet one, not a piece of that cell)
        if to and _solidity((lab == to) | part) < min_union_solidity:
            to = 0
        if to:
            lab[part] = to
        elif part.sum() >= min_cell_area:
            lab[part] = next_id
            next_id += 1
        else:
            lab[part] = 0
    return out


def _at_border(sl, shape, px):
    """Whether the bounding box ``sl`` comes within ``px`` pixels of the image's edge."""
    return (sl[0].start < px or sl[1].start < px or sl[0].stop > shape[0] - px
            or sl[1].stop > shape[1] - px)


def _solidity(m):
    """Area of the mask ``m`` over the area of its convex hull (0 for a degenerate one)."""
    hull = hull_area(m)
    return 0.0 if hull is None else m.sum() / max(hull, 1)


def _candidate(m, sv, h2, sigma, min_part):
    """The biggest piece of the ROI ``m``'s smaller activity class, or None."""
    from skimage.filters import threshold_otsu

    area = int(m.sum())
    if area < 16:
        return None
    w = m.astype(np.float64)
    num = ndi.gaussian_filter(sv * w, sigma)
    den = ndi.gaussian_filter(h2 * w, sigma)
    ok = m & (den > 0)
    if ok.sum() < area:
        return None
    rel = np.where(ok, num / np.where(den > 0, den, 1.0), 0.0)
    vals = rel[m]
    if np.ptp(vals) <= 0:
        return None
    t = threshold_otsu(vals)
    hi = m & (rel > t)
    lo = m & ~hi
    small = hi if hi.sum() <= lo.sum() else lo
    comp, k = ndi.label(small)
    if k == 0:
        return None
    sizes = np.bincount(comp.ravel())
    sizes[0] = 0
    part = comp == int(np.argmax(sizes))
    if part.sum() < min_part * area:
        return None
    # at the outline (a piece of a neighbour, not an inner structure) ...
    if not (ndi.binary_dilation(part) & ~m).any():
        return None
    # ... and the rest stays one piece
    _, k = ndi.label(m & ~part)
    if k != 1:
        return None
    return part


def _pooled(sv, h2, nse, sel):
    """Pooled relative activity of the pixels ``sel`` and its standard error."""
    den = float(h2[sel].sum())
    if den <= 0:
        return 0.0, np.inf
    return float(sv[sel].sum()) / den, math.sqrt(float((nse[sel] ** 2).sum())) / den


def _differ(sv, h2, nse, a, b, max_ratio, min_snr):
    """Whether pixels ``a`` and ``b`` differ clearly in relative activity."""
    ra, ea = _pooled(sv, h2, nse, a)
    rb, eb = _pooled(sv, h2, nse, b)
    lo, hi = min(ra, rb), max(ra, rb)
    if hi <= 0:
        return False
    return lo < max_ratio * hi and hi - lo >= min_snr * math.hypot(ea, eb)


def _alike_neighbour(lab, part, own, sv, h2, nse, max_ratio, min_snr):
    """The neighbouring ROI ``part`` touches most, when its activity is alike; else 0.

    Only the main neighbour: the part is a piece of that cell or of none. Its activity is
    pooled over its pixels in the window ``lab`` (those nearest the part).
    """
    ring = ndi.binary_dilation(part) & ~part
    ids, counts = np.unique(lab[ring], return_counts=True)
    keep = (ids > 0) & (ids != own)
    if not keep.any():
        return 0
    j = int(ids[keep][np.argmax(counts[keep])])
    return 0 if _differ(sv, h2, nse, part, lab == j, max_ratio, min_snr) else j

"""Cut ROIs where their activity changes in a step: a piece of a neighbouring cell.

Two touching cells of about the same brightness may show no border in the structural
image, and the watershed then gives one cell's ROI a piece of its neighbour. When one of
them responds and the other does not, their *activity* differs: the signal part of the
temporal variance (the temporal variance minus the noise variance expected at that
brightness), relative to the squared brightness above the background, is about the
square of the cell's relative signal SD (dF/F), whatever the cell's inner texture (a dark
or bright nucleus, granules), and it is about zero on a cell that does not respond.

:func:`split_by_activity` looks, in each ROI, for a part that touches the ROI's outline
and whose relative activity is clearly lower or higher than the rest's (a step well
above the noise of that estimate), and cuts it off.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from ._saturation import saturated_rois

__all__ = ["noise_variance", "split_by_activity"]


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


def noise_variance(mean, std, n_frames, *, n_bins=24, percentile=10.0):
    """The temporal noise variance expected at each pixel's brightness, from the data.

    Pixels are binned by their temporal mean (equal-count bins); in each bin, the
    ``percentile`` of the temporal variance, divided by the same percentile of the
    variance of pure noise (a scaled chi-square with ``n_frames - 1`` degrees of freedom),
    estimates the noise variance there: the quietest pixels of a bin (background, cells
    that do not respond) hold no signal, whatever the fraction of responding ones.
    Between bin centres the estimate is interpolated; above the last it grows in
    proportion to the mean (shot noise), below the first it is held.

    Parameters
    ----------
    mean, std : ndarray of float64, shape (Y, X)
        Temporal mean and standard deviation (``ddof=0``) of the same movie.
    n_frames : int
        Number of frames (T) the summaries were taken over.
    n_bins : int
        Number of brightness bins.
    percentile : float
        Percentile of each bin's variances used.

    Returns
    -------
    ndarray of float64, shape (Y, X)
        Noise variance per pixel (squared units of ``mean``), at least 1e-12.
    """
    from scipy.stats import chi2

    m = np.asarray(mean, dtype=np.float64).ravel()
    v = np.asarray(std, dtype=np.float64).ravel() ** 2
    dof = max(int(n_frames) - 1, 1)
    # np.std has ddof=0: its square is chi2(dof) * sigma^2 / n_frames
    q = chi2.ppf(percentile / 100.0, dof) / max(int(n_frames), 1)
    edges = np.quantile(m, np.linspace(0.0, 1.0, n_bins + 1))
    which = np.clip(np.searchsorted(edges, m, side="right") - 1, 0, n_bins - 1)
    xs, ys = [], []
    for b in range(n_bins):
        sel = which == b
        if sel.sum() < 20:
            continue
        xs.append(float(np.median(m[sel])))
        ys.append(float(np.percentile(v[sel], percentile)) / q)
    if not xs:
        return np.full(np.shape(mean), max(float(np.median(v)), 1e-12))
    xs, ys = np.asarray(xs), np.asarray(ys)
    out = np.interp(m, xs, ys)
    top = m > xs[-1]
    if xs[-1] > 0:
        out[top] = ys[-1] * m[top] / xs[-1]
    return np.maximum(out, 1e-12).reshape(np.shape(mean))


def split_by_activity(regions, flat, std, corr, n_frames, diameter, *, peak=None,
                      min_part=0.1, max_ratio=0.35, min_snr=8.0, min_cell_area=None,
                      min_union_solidity=0.85, border_px=3):
    """Cut off the part of an ROI whose relative activity differs in a step from the rest.

    Per ROI, the relative activity (signal variance over squared height, see the module
    docstring) is smoothed within the ROI and split in two at its Otsu threshold; the
    biggest connected piece of the smaller class is the candidate part. It is cut off
    when it holds at least ``min_part`` of the ROI's pixels, touches the ROI's outline,
    leaves the rest in one piece, and the pooled relative activity of the lower side is
    below ``max_ratio`` times the higher side's while their difference is at least
    ``min_snr`` times its standard error (from the noise variance). The part goes to the
    neighbouring ROI it touches most when that one's activity is alike (not clearly
    different by the same rule) and their union fills at least ``min_union_solidity`` of
    its convex hull, becomes an ROI of its own when it is at least
    ``min_cell_area`` pixels, and is dropped otherwise.

    Parameters
    ----------
    regions : ndarray of int, shape (Y, X)
        Labels, 0 = background.
    flat : ndarray of float64, shape (Y, X)
        ``structural`` minus its background (:func:`~caimg.segmentation._common.flatten`).
    std, corr : ndarray of float64, shape (Y, X)
        Temporal standard deviation and local-correlation image of the same movie.
    n_frames : int
        Frames the summaries were taken over.
    diameter : float
        Cell diameter, pixels.
    peak : ndarray, shape (Y, X), optional
        Temporal maximum: ROIs with pixels clipped at the camera's ceiling are left alone
        (a clipped pixel is quiet while its cell responds).
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
    if n == 0:
        return out
    sv, nse = signal_variance(std, corr, n_frames, regions)
    h2 = np.maximum(np.asarray(flat, dtype=np.float64), 0.0) ** 2
    if min_cell_area is None:
        min_cell_area = 0.25 * math.pi * diameter * diameter / 4.0
    sigma = max(1.0, diameter / 8.0)
    clipped = set() if peak is None else set(saturated_rois(out, peak).tolist())
    ny, nx = out.shape
    next_id = n + 1
    for i, sl in enumerate(ndi.find_objects(out.copy()), start=1):
        if sl is None or i in clipped or _at_border(sl, out.shape, border_px):
            continue
        win = (slice(max(sl[0].start - 2, 0), min(sl[0].stop + 2, ny)),
               slice(max(sl[1].start - 2, 0), min(sl[1].stop + 2, nx)))
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
    from skimage.morphology import convex_hull_image

    try:
        return m.sum() / max(convex_hull_image(m).sum(), 1)
    except Exception:
        return 0.0


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
    rc, k = ndi.label(m & ~part)
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
    """The neighbouring ROI ``part`` touches most whose activity is alike, or 0."""
    ring = ndi.binary_dilation(part) & ~part
    ids, counts = np.unique(lab[ring], return_counts=True)
    keep = (ids > 0) & (ids != own)
    ids, counts = ids[keep], counts[keep]
    for j in ids[np.argsort(-counts)].tolist():
        if not _differ(sv, h2, nse, part, lab == j, max_ratio, min_snr):
            return int(j)
        break  # only the main neighbour: the part is a piece of that cell or of none
    return 0

"""Shape and focus rules of the ``"gradient"`` segmentation method: ROIs dropped as out of
focus, too thin, too elongated or not cell-shaped, and each ROI closed over its notches.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from ._common import hull_area, moment_aspects, padded

__all__ = ["close_each", "drop_blurred", "drop_elongated", "drop_irregular", "drop_thin",
           "drop_thin_core", "edge_band"]


def drop_elongated(labels, max_ratio):
    """Remove ROIs whose moment ellipse is more than ``max_ratio`` times as long as wide."""
    if labels.max(initial=0) == 0:
        return labels
    keep = moment_aspects(labels) <= max_ratio
    keep[0] = True
    return np.where(keep[labels], labels, 0)


def close_each(labels, radius):
    """Morphological closing of every ROI with a disc, growing into free pixels only."""
    r = int(round(radius))
    if r < 1 or labels.max(initial=0) == 0:
        return labels
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = yy * yy + xx * xx <= r * r
    out = labels.copy()
    for i, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        sl = padded(sl, r, labels.shape)
        m = labels[sl] == i
        closed = ndi.binary_closing(np.pad(m, r), structure=disc)[r:-r, r:-r]
        add = closed & (out[sl] == 0)
        out[sl][add] = i
    return out


def edge_band(areas_px):
    """Width (px) of the bands either side of an outline that :func:`drop_blurred`
    compares: a sixth of the median ROI's equivalent diameter, at least 2 px.

    The blur of an in-focus cell's edge and the cell itself both grow with the
    magnification, so the band follows the cells of this image, not a fixed pixel count:
    with fixed 2 px bands, cells 14-26 px across whose edges were blurred by a Gaussian of
    sigma 2 px (a widefield image at high magnification) scored below
    ``min_edge_contrast`` and were dropped as haze (``benchmarks/foreign_generator.py
    --set psf_sigma_px=2.0``: F1 0.87 / 0.74, now 0.99 / 0.95). The median ROI, not each
    ROI's own size: a haze blob is wider than the cells around it, and a band that grew
    with it passed it as a cell.
    """
    areas = np.asarray(areas_px, dtype=np.float64)
    areas = areas[areas > 0]
    if not areas.size:
        return 2
    return max(2, int(round(2.0 * math.sqrt(float(np.median(areas)) / math.pi) / 6.0)))


def drop_blurred(labels, flat, min_contrast, *, relative=0.8, min_area_px=0):
    """Remove ROIs whose outline is no step: out-of-focus blobs (haze).

    A ROI's edge contrast is the median of the band just inside its outline minus that of
    the band just outside (each :func:`edge_band` = b px wide), as a fraction of its
    height above the ring 3b-3 to 3b-1 px out. A ROI is dropped when its contrast is
    below ``min_contrast`` and also below ``relative`` x the median contrast of the ROIs
    of this image (out of focus means blurrier than the cells around it), and its height
    is below the median ROI's (defocus spreads light: a blob is dimmer than the in-focus
    cells). Where every cell's edge is soft (a wide point-spread function at high
    magnification, a thick specimen) the cells are all alike and stay; a haze blob among
    sharp cells goes.

    Computed for blurred discs (radius R, Gaussian sigma s) and haze blobs (sources of
    radius 0-6 px blurred by sigma 4-8 px, cut at 40 % of their height): with fixed 2 px
    bands in-focus cells with R = 10-13 px and s = 2 px score 0.35-0.36, with bands of a
    sixth of their diameter 0.51-0.64; haze blobs score 0.34-0.42 either way, and cells
    with R <= 6 px score as before (their band is 2 px).

    The image's median contrast and height are taken over the ROIs of at least
    ``min_area_px`` pixels: specks that the end of segmentation drops anyway (often
    pieces of noise with no edge at all) otherwise pull the median contrast down and let
    a haze blob pass.
    """
    if labels.max(initial=0) == 0:
        return labels
    b = edge_band(np.bincount(labels.ravel())[1:])
    pad = 3 * b + 1
    judged = {}
    for i, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        sl = padded(sl, pad, labels.shape)
        m = labels[sl] == i
        free = labels[sl] == 0
        # the image border is no outline: erode as if the cell went on beyond it
        inner = m & ~ndi.binary_erosion(m, iterations=b, border_value=1)
        outer = ndi.binary_dilation(m, iterations=b) & ~m & free
        # the surroundings the height refers to lie 3b-3 to 3b-1 px out (3-5 px for the
        # 2 px band): farther out for a wider band, beyond the tail of a big haze blob,
        # which otherwise lowers the height and passes the blob as a cell
        ring = (ndi.binary_dilation(m, iterations=3 * b - 1)
                & ~ndi.binary_dilation(m, iterations=3 * b - 3) & free)
        if outer.sum() < 5 or ring.sum() < 5:  # packed among other cells: no judgement
            continue
        v = flat[sl]
        height = float(np.median(v[m]) - np.median(v[ring]))
        if height <= 0:
            continue
        judged[i] = (float(np.median(v[inner]) - np.median(v[outer])) / height, height)
    if not judged:
        return labels
    sizes = np.bincount(labels.ravel())
    ref = [v for i, v in judged.items() if sizes[i] >= min_area_px] or list(judged.values())
    limit = min_contrast
    if relative > 0:
        limit = min(limit, relative * float(np.median([c for c, _ in ref])))
    # defocus spreads a cell's light: a blob is dimmer than the cell it comes from, so a
    # ROI at least as high as the median ROI is no haze (the brightest cells' own
    # scattered light lowers their edge contrast: a bright cell was dropped)
    typical = float(np.median([h for _, h in ref]))
    gone = [i for i, (c, h) in judged.items() if c < limit and h < typical]
    return np.where(np.isin(labels, gone), 0, labels) if gone else labels


def drop_irregular(labels, min_solidity):
    """Remove ROIs whose area is less than ``min_solidity`` of their convex hull's."""
    if min_solidity <= 0 or labels.max(initial=0) == 0:
        return labels
    out = labels.copy()
    for i, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        m = labels[sl] == i
        if m.sum() < 5:
            continue
        hull = hull_area(m)
        if hull is not None and m.sum() < min_solidity * hull:
            out[sl][m] = 0
    return out


def drop_thin(labels, min_radius):
    """Remove ROIs whose largest inscribed disc has a radius below ``min_radius`` px.

    Those are slivers in the gaps between touching cells, and rims.
    """
    if labels.max(initial=0) == 0 or min_radius <= 0:
        return labels
    # distance to the nearest pixel of another label or background
    edge = np.zeros(labels.shape, dtype=bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:-1, :] |= labels[1:, :] != labels[:-1, :]
    inside = (labels > 0) & ~edge
    dt = ndi.distance_transform_edt(inside) + 1.0
    dt[labels == 0] = 0
    idx = np.arange(1, int(labels.max()) + 1)
    radius = ndi.maximum(dt, labels, idx)
    keep = np.zeros(idx.size + 1, dtype=bool)
    keep[1:] = np.asarray(radius) >= min_radius
    return np.where(keep[labels], labels, 0)


def _core_axes(m, v, ring):
    """Width and length (px) of the bright core of one ROI: its pixels above half its height
    over ``ring`` (its largest piece), as 4 x the SDs of the moment ellipse (the full axes
    of an ellipse; a band w px wide gives about 1.15 w). None when the core is tiny.
    """
    floor = float(np.median(v[ring])) if ring.sum() >= 5 else float(np.percentile(v[m], 5))
    peak = float(np.percentile(v[m], 90))
    core = m & (v >= floor + 0.5 * (peak - floor))
    cc, k = ndi.label(core)
    if k > 1:
        core = cc == (np.argmax(np.bincount(cc.ravel())[1:]) + 1)
    rr, cc_ = np.nonzero(core)
    if rr.size < 3:
        return None
    ev = np.linalg.eigvalsh(np.cov(np.vstack([rr, cc_])) + np.eye(2) / 12.0)
    return 4.0 * math.sqrt(max(ev[0], 0.0)), 4.0 * math.sqrt(max(ev[1], 0.0))


def drop_thin_core(labels, smooth, thin, elongation):
    """Remove ROIs whose bright core is a thin string: neurites (and debris strings).

    A neurite's ROI is cut at a fraction of its height over a blurred line, so it comes out
    several pixels wider than the neurite and passes the elongation and thickness tests of
    the whole ROI; its *core*, the pixels above half its height over the 2 px ring beyond
    it (:func:`_core_axes`), stays a line. A ROI goes when its core is narrower than
    ``thin`` x the median core width of the image's ROIs and more than ``elongation``
    times as long as wide. Relative to the cells of the same image, so it holds at every
    magnification; a small round cell is narrow but not long, a spindle cell long but as
    wide as the others.

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X)
        ROIs 1..N, 0 = background.
    smooth : ndarray of float64, shape (Y, X)
        Smoothed, background-flattened image.
    thin : float
        Core width limit, as a fraction of the median core width (0 = off).
    elongation : float
        Core length over width above which a thin core is a string.

    Returns
    -------
    ndarray of int, shape (Y, X)
        ``labels`` without the strings (ids unchanged).
    """
    if thin <= 0 or labels.max(initial=0) == 0:
        return labels
    axes = {}
    for i, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        sl = padded(sl, 4, labels.shape)
        m = labels[sl] == i
        ring = (ndi.binary_dilation(m, iterations=3) & ~ndi.binary_dilation(m, iterations=1)
                & (labels[sl] == 0))
        ax = _core_axes(m, smooth[sl], ring)
        if ax is not None:
            axes[i] = ax
    if len(axes) < 5:  # too few cells to say what is thin here
        return labels
    limit = thin * float(np.median([w for w, _ in axes.values()]))
    gone = [i for i, (w, length) in axes.items() if w < limit and length > elongation * w]
    return np.where(np.isin(labels, gone), 0, labels) if gone else labels

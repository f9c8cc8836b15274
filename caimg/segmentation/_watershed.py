"""The ``"watershed"`` segmentation method.

LoG seeds, seeded watershed, half-height outlines, an optional second pass and a split at
necks.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from ._common import (
    find_peaks,
    flatten,
    local_scale,
    log_response,
    mad_sd,
    nconv,
    refine_outlines,
    smoothed,
)

__all__ = ["segment_watershed"]


def segment_watershed(structural, activity, *, cell_diameter_px, min_area_px, max_area_px,
                      threshold_snr=4.0, edge_fraction=0.5, background_scale=3.0,
                      min_distance_fraction=0.5, local_contrast=True, use_activity=True,
                      activity_threshold=4.0, compactness=0.0, passes=1, neck_ratio=0.7,
                      seed_scale=0.7, merge_dip=0.15, merge_step=1.3, merge_solidity=0.9):
    """Seeded watershed from LoG peaks, with half-height outlines.

    LoG seeds on a flattened, contrast-normalised image + seeded watershed + half-height
    outlines, a second pass for cells hidden next to brighter ones, and a split at necks.

    Parameters
    ----------
    structural : ndarray of float64, shape (Y, X)
        Structural image (camera counts, finite).
    activity : dict or None
        ``"std"`` and ``"corr"`` (Y, X) activity images, or None.
    cell_diameter_px : float
        Typical cell diameter, pixels.
    min_area_px, max_area_px : int
        Area limits (applied later by ``segment``; here for methods that use them).
    threshold_snr : float
        A seed needs a LoG response above this many noise SDs of the LoG image, and its
        cell a height above its surroundings of at least this many noise SDs of the
        smoothed image.
    edge_fraction : float
        Where the outline is cut, as a fraction of each cell's height above its
        surroundings (0.5 = half maximum).
    background_scale : float
        Sigma of the background estimate, in cell diameters.
    min_distance_fraction : float
        Minimum seed spacing, in cell diameters.
    local_contrast : bool
        Detect seeds on the flattened image divided by its local RMS (finds dim cells
        next to bright ones).
    use_activity : bool
        Also seed from the local-correlation image (cells that respond but are dim).
    activity_threshold : float
        Correlation-image seeds need this many noise SDs of the correlation image.
    compactness : float
        Compact-watershed weight (0 = classical watershed).
    passes : int
        Detection passes. Pass 2 and later look again with the cells found so far
        removed, which finds dim cells pressed against bright ones.
    neck_ratio : float
        A ROI is split where its outline narrows to a neck: at a saddle of the distance
        transform lower than ``neck_ratio`` x the smaller of the two maxima (0 = never).
    seed_scale : float
        Scale of the LoG seed detector, in cell diameters.
    merge_dip, merge_step, merge_solidity : float
        Adjacent regions are merged (over-seeding, only with ``seed_scale < 1``) when
        their border dips less than ``merge_dip`` below the dimmer peak, their peaks
        differ by less than the factor ``merge_step`` and their union has at least
        ``merge_solidity``.

    Returns
    -------
    ndarray of int, shape (Y, X)
        Labels, 0 = background (``segment`` makes them consecutive and hole-free).
    """
    d = cell_diameter_px
    flat, bg, noise, bgmask = flatten(structural, d, scale=background_scale)
    smooth, noise_s = smoothed(flat, bgmask, noise, d)
    fg = smooth > 2.0 * noise_s
    ring_px = max(2.0, d / 3)

    def seeds_from(img, allowed):
        det = img / local_scale(img, d, noise) if local_contrast else img
        resp = log_response(det, seed_scale * d)
        rn = max(mad_sd(resp[bgmask]) if bgmask.sum() > 20 else mad_sd(resp), 1e-12)
        base = float(np.median(resp[bgmask])) if bgmask.any() else 0.0
        pk = find_peaks(resp, min_distance_fraction * seed_scale * d, base + threshold_snr * rn)
        if len(pk):
            pk = pk[allowed[pk[:, 0], pk[:, 1]]]
        return pk

    seeds = seeds_from(flat, fg)
    seed_img = np.zeros(structural.shape, dtype=np.int32)
    if len(seeds):
        seed_img[seeds[:, 0], seeds[:, 1]] = np.arange(1, len(seeds) + 1)

    if use_activity and activity is not None and "corr" in activity:
        corr = activity["corr"]
        cflat = corr - nconv(corr, bgmask, max(background_scale * d, 2.0))
        cnoise = max(mad_sd(cflat[bgmask]) if bgmask.sum() > 20 else mad_sd(cflat), 1e-12)
        cresp = log_response(cflat, d)
        crn = max(mad_sd(cresp[bgmask]) if bgmask.sum() > 20 else mad_sd(cresp), 1e-12)
        cseeds = find_peaks(cresp, min_distance_fraction * d, activity_threshold * crn)
        if len(cseeds):
            # only where no structural seed is already close
            if len(seeds):
                dist = ndi.distance_transform_edt(seed_img == 0)
                cseeds = cseeds[dist[cseeds[:, 0], cseeds[:, 1]] > min_distance_fraction * d]
            cfg = ndi.gaussian_filter(cflat, max(d / 12.0, 0.7)) > 2.0 * cnoise
            cseeds = cseeds[cfg[cseeds[:, 0], cseeds[:, 1]]] if len(cseeds) else cseeds
            start = seed_img.max()
            for j, (r, c) in enumerate(cseeds, start=1):
                seed_img[r, c] = start + j
            fg = fg | cfg
    merge = dict(merge_dip=merge_dip if seed_scale < 1 else None, merge_step=merge_step,
                 merge_solidity=merge_solidity)
    cells = _grow(smooth, seed_img, fg, d, edge_fraction, ring_px, noise_s, threshold_snr,
                  compactness, exclude=None, **merge)

    for _ in range(1, int(passes)):
        if cells.max() == 0:
            break
        claimed = ndi.binary_dilation(cells > 0, iterations=2)
        resid = np.where(claimed, 0.0, flat)
        seeds = seeds_from(resid, fg & ~claimed)
        if not len(seeds):
            break
        seed_img = np.zeros(structural.shape, dtype=np.int32)
        seed_img[seeds[:, 0], seeds[:, 1]] = np.arange(1, len(seeds) + 1) + cells.max()
        new = _grow(smooth, seed_img, fg & (cells == 0), d, edge_fraction, ring_px, noise_s,
                    threshold_snr, compactness, exclude=cells > 0, **merge)
        cells = np.where(cells > 0, cells, new)

    if neck_ratio > 0:
        cells = _split_necks(cells, d, neck_ratio, min_area_px)
    return cells


def _grow(smooth, seed_img, fg, d, edge_fraction, ring_px, noise_s, min_snr, compactness,
          exclude, merge_dip=None, merge_step=1.3, merge_solidity=0.9):
    """Seeded watershed of ``-smooth`` inside ``fg``, then per-cell half-height outlines."""
    from skimage.segmentation import watershed

    if seed_img.max() == 0:
        return np.zeros(seed_img.shape, dtype=np.int32)
    markers = ndi.grey_dilation(seed_img, size=3)
    markers = np.where(fg, markers, 0)
    regions = watershed(-smooth, markers, mask=fg, compactness=compactness)
    # limit regions to about a cell's reach from their seed
    reach = ndi.distance_transform_edt(seed_img == 0)
    regions = np.where(reach <= 1.5 * d, regions, 0).astype(np.int32)
    if merge_dip is not None:
        regions = _merge_regions(smooth, regions, d, merge_dip, merge_step, merge_solidity)
    return refine_outlines(smooth, regions, seed_img, d, edge_fraction, ring_px=ring_px,
                           noise=noise_s, min_peak_snr=min_snr, exclude=exclude)


def _find_root(parent, a):
    """Root of ``a`` in the union-find forest ``parent`` (halving the path on the way)."""
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


def _merge_regions(smooth, regions, d, max_dip, max_step, min_solidity):
    """Merge adjacent watershed regions of one cell (over-seeding), greedily.

    Two regions are one cell when the border between them hardly dips below the dimmer
    one's peak (``1 - border / min(peak) < max_dip``), their peaks are alike
    (``max(peak) / min(peak) < max_step``) and their union is convex
    (solidity >= ``min_solidity``) and not larger than a big cell.
    """
    from skimage.morphology import convex_hull_image

    n = int(regions.max(initial=0))
    if n < 2:
        return regions
    idx = np.arange(1, n + 1)
    peak = np.zeros(n + 1)
    peak[1:] = ndi.maximum(smooth, regions, idx)
    # saddle per pair: the highest border level (smaller of the two sides) between them
    saddle, counts = {}, {}
    for a_img, b_img, sa, sb in ((regions[:, :-1], regions[:, 1:], smooth[:, :-1], smooth[:, 1:]),
                                 (regions[:-1, :], regions[1:, :], smooth[:-1, :], smooth[1:, :])):
        border = (a_img != b_img) & (a_img > 0) & (b_img > 0)
        if not border.any():
            continue
        pa, pb = a_img[border], b_img[border]
        lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
        v = np.minimum(sa[border], sb[border])
        key = lo.astype(np.int64) * (n + 1) + hi
        u, inv = np.unique(key, return_inverse=True)
        mx = np.full(u.size, -np.inf)
        np.maximum.at(mx, inv, v)
        c_ = np.bincount(inv)
        for k_, mv, cv in zip(u.tolist(), mx.tolist(), c_.tolist(), strict=True):
            saddle[k_] = max(saddle.get(k_, -np.inf), mv)
            counts[k_] = counts.get(k_, 0) + cv
    cand = []
    for k_, sv in saddle.items():
        a, b = divmod(k_, n + 1)
        pmin, pmax = min(peak[a], peak[b]), max(peak[a], peak[b])
        if pmin <= 0:
            continue
        dip = 1.0 - sv / pmin
        if dip < max_dip and pmax / pmin < max_step:
            cand.append((dip, a, b))
    if not cand:
        return regions
    cand.sort()
    parent = np.arange(n + 1)
    slices = ndi.find_objects(regions)
    max_area = 2.0 * math.pi * d * d / 4
    members = {i: [i] for i in idx.tolist()}
    for _dip, a, b in cand:
        ra, rb = _find_root(parent, a), _find_root(parent, b)
        if ra == rb:
            continue
        group = members[ra] + members[rb]
        sl = tuple(slice(min(slices[g - 1][k].start for g in group),
                         max(slices[g - 1][k].stop for g in group)) for k in range(2))
        # judge the union by its upper half (about the cell outline the refinement keeps)
        m = np.isin(regions[sl], group) & (smooth[sl] >= 0.5 * min(peak[g] for g in group))
        area = int(m.sum())
        if area > max_area:
            continue
        hull = convex_hull_image(m)
        if area / max(int(hull.sum()), 1) < min_solidity:
            continue
        parent[rb] = ra
        members[ra] = group
        del members[rb]
    roots = np.array([_find_root(parent, i) for i in range(n + 1)])
    return roots[regions].astype(np.int32)


def _split_necks(cells, d, neck_ratio, min_area_px):
    """Split ROIs at narrow necks of their outline (distance-transform saddles)."""
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    out = np.zeros_like(cells)
    nxt = int(cells.max()) + 1
    slices = ndi.find_objects(cells)
    min_part = max(min_area_px, 0.15 * math.pi * d * d / 4)
    for i, sl in enumerate(slices, start=1):
        if sl is None:
            continue
        sl = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in sl)
        m = cells[sl] == i
        if m.sum() < 2 * min_part:
            out[sl][m] = i
            continue
        dt = ndi.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
        pk = peak_local_max(dt, min_distance=max(2, int(0.25 * d)), threshold_abs=1.5,
                            labels=m.astype(np.int32), exclude_border=False)
        if len(pk) < 2:
            out[sl][m] = i
            continue
        mk = np.zeros(m.shape, dtype=np.int32)
        mk[pk[:, 0], pk[:, 1]] = np.arange(1, len(pk) + 1)
        ws = watershed(-dt, mk, mask=m)
        k = len(pk)
        peak = ndi.maximum(dt, ws, np.arange(1, k + 1))
        # saddle between adjacent parts: highest DT on their shared border
        parent = list(range(k + 1))
        for a_img, b_img, dt_a, dt_b in (
                (ws[:, :-1], ws[:, 1:], dt[:, :-1], dt[:, 1:]),
                (ws[:-1, :], ws[1:, :], dt[:-1, :], dt[1:, :])):
            border = (a_img != b_img) & (a_img > 0) & (b_img > 0)
            if not border.any():
                continue
            pa, pb = a_img[border], b_img[border]
            val = np.minimum(dt_a[border], dt_b[border])
            saddle = {}
            for x, y, v in zip(pa.tolist(), pb.tolist(), val.tolist(), strict=True):
                key = (min(x, y), max(x, y))
                if v > saddle.get(key, -1):
                    saddle[key] = v
            for (x, y), v in saddle.items():
                if v >= neck_ratio * min(peak[x - 1], peak[y - 1]):
                    parent[_find_root(parent, x)] = _find_root(parent, y)
        roots = np.array([_find_root(parent, j) for j in range(k + 1)])
        merged = roots[ws]
        parts = [r for r in np.unique(merged[m]) if r > 0]
        areas = [int((merged == r).sum()) for r in parts]
        if len(parts) < 2 or min(areas) < min_part:
            out[sl][m] = i
            continue
        out[sl][merged == parts[0]] = i
        for r in parts[1:]:
            out[sl][merged == r] = nxt
            nxt += 1
    return out

"""The ``"gradient"`` segmentation method, the default.

A watershed of the gradient of log intensity, seeded by flat cell interiors (see the
package docstring).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from ._activity_split import split_by_activity
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
from ._merge import merge_fragments, merge_isolated
from ._scatter import scattered_light, very_bright
from ._shape_rules import (
    close_each,
    drop_blurred,
    drop_elongated,
    drop_irregular,
    drop_thin,
    drop_thin_core,
)
from ._split_merged import split_merged

__all__ = ["segment_gradient"]


def segment_gradient(structural, activity, *, cell_diameter_px, min_area_px, max_area_px,
                     threshold_snr=4.0, background_scale=3.0, interior_gradient=0.2,
                     gradient_sigma=1.0, enclosed_fraction=0.6, refine=True, edge_fraction=0.4,
                     log_seeds=True, marker_distance=0.3, min_thickness=0.25,
                     use_activity=True, activity_threshold=5.0, min_solidity=0.75,
                     merge_dip=0.08, merge_step=1.4, merge_solidity=0.93,
                     merge_texture=0.08, merge_textured_step=2.0, rim_ratio=0.8,
                     min_edge_contrast=0.42, outline_reference="rim", close_fraction=0.12,
                     max_elongation=5.0, halo_ratio=3.0, seed_reach=0.5,
                     activity_split=True, split_part=0.1, split_ratio=0.35, split_snr=8.0,
                     min_height_snr=3.0, thin_core=0.7, core_elongation=4.0,
                     scatter_ratio=10.0, cut_solidity=0.85, cut_gain=0.06, cut_seam=0.95,
                     cut_area=1.5, long_cut_area=1.7, long_cut_aspect=1.4, scatter_markers=True,
                     long_cut_solidity=0.93, long_cut_gain=0.02, isolated_area=1.55,
                     isolated_elongation=1.6, isolated_solidity=0.88, outline_snap=True):
    """Watershed of the gradient of log intensity, seeded by flat cell interiors.

    The relative gradient ``|grad I| / I`` is high on every cell outline, including the
    border between a bright and a dim cell pressed together (a step in log intensity),
    and low inside cells whatever their brightness; so cell interiors (low relative
    gradient) seed a watershed whose lines follow the outlines.

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
        Interior pixels must be this many noise SDs above the flattened background.
    background_scale : float
        Sigma of the background estimate, in cell diameters.
    interior_gradient : float
        Relative gradient (per pixel) below which a pixel counts as cell interior.
    gradient_sigma : float
        Gaussian sigma (px) of the gradient.
    enclosed_fraction : float
        A region whose border touches one neighbour along more than this fraction of
        its outline is merged into it (a dim nucleus inside a cell).
    refine : bool
        Cut each cell at ``edge_fraction`` of its height above its surroundings.
    edge_fraction : float
        Where the outline is cut, as a fraction of the cell's height (0.4: a little below
        half maximum, which fits the dimmer rim of a domed cell).
    log_seeds : bool
        Add Laplacian-of-Gaussian peaks (cells without a flat interior) as markers.
    marker_distance : float
        Minimum distance between interior markers, in cell diameters.
    min_thickness : float
        ROIs whose largest inscribed disc is narrower than this fraction of the cell
        diameter (radius ``min_thickness * d``) are slivers and dropped.
    use_activity : bool
        With activity images, add cells seen in the local-correlation image only.
    activity_threshold : float
        Correlation-image peaks need this many noise SDs of its LoG response.
    min_solidity : float
        ROIs covering less than this fraction of their convex hull are not cell-shaped
        (neuropil, dendrite tangles) and are dropped (0 = keep all).
    merge_dip, merge_step, merge_solidity : float
        Adjacent ROIs are one cell, and merged, when the image along their border dips
        less than ``merge_dip`` below the dimmer one's median, their medians differ by
        less than the factor ``merge_step`` and the union fills ``merge_solidity`` of its
        convex hull (:func:`~caimg.segmentation._merge.merge_fragments`; ``merge_dip =
        0`` turns it off).
    merge_texture, merge_textured_step : float
        Pieces of a granular cell: when both adjacent ROIs are rough (fine-texture SD at
        least ``merge_texture`` of their median) their medians may differ by up to the
        factor ``merge_textured_step`` (``min_texture`` and ``textured_step`` of
        :func:`~caimg.segmentation._merge.merge_fragments`). ``merge_texture = 0`` turns
        it off.
    isolated_area, isolated_elongation, isolated_solidity : float
        After that merge, a group of ROIs that touch each other and no other ROI is made
        one when its union is one cell: at most ``isolated_area`` x the median ROI's area,
        at most ``isolated_elongation`` times as long as wide, covering at least
        ``isolated_solidity`` of its hull, its ROIs' medians less than
        ``merge_textured_step`` apart (the pieces of a granular cell whose dark granules dip
        like the notch between two cells;
        :func:`~caimg.segmentation._merge.merge_isolated`). ``isolated_area = 0`` turns it
        off.
    min_edge_contrast : float
        Out-of-focus blobs (haze) are dropped: an in-focus cell's outline is a step. The
        median of the band just inside the outline minus the median of the band just
        outside (each ``max(2, d / 6)`` px wide) must be at least this fraction of the
        ROI's median height above its surroundings (the 2 px beyond the outer band) (cells
        of d = 12 px: 0.45 and more; a blob blurred by sigma 6 px: 0.3-0.4). Applies to
        cells seen in the structural image. 0 keeps all.
    max_elongation : float
        ROIs whose major axis is more than this many times their minor axis (of the
        ellipse with the same second moments) are neurites or debris strings, not cell
        bodies, and are dropped (spindle cells reach about 4). 0 keeps all.
    halo_ratio : float
        Pieces of the scattered light around a very bright (saturated) cell are dropped:
        an ROI near one at least this many times as high whose own median is mostly
        (70 %) explained by the light measured around that bright cell at the same distance
        (:func:`_drop_halo`); also, a region at most this many times dimmer than one it
        encloses is not merged into it. 0 keeps all.
    seed_reach : float
        Before its outline is cut, a watershed region whose brightest part lies beyond
        this many cell diameters from its flat interior (it ran out over a bright
        neighbour's scattered light) is cut back to that reach. 0 = off.
    activity_split, split_part, split_ratio, split_snr : bool, float, float, float
        Cut off the part of an ROI whose activity differs in a step from the rest's, and
        its thresholds (:func:`~caimg.segmentation._activity_split.split_by_activity`).
    close_fraction : float
        Each ROI is closed (morphological closing with a disc of this fraction of the
        cell diameter, into free pixels only): dark granules or a dark nucleus at the
        edge of a cell leave no notches in its outline. 0 = off.
    min_height_snr : float
        A watershed region whose height above its surroundings (90th percentile over the
        ring's median, smoothed image) is below this many noise SDs is dropped before its
        outline is cut. Lower than ``threshold_snr``: every region holds a marker that
        passed ``threshold_snr`` at the cell scale already, and a dim cell of ~80 px stands
        3 pixel noise SDs clear (the cells visible mostly while active were dropped here).
    thin_core, core_elongation : float
        Neurites and debris strings: a ROI whose bright core (above half its height) is
        narrower than ``thin_core`` x the median core width of the image's ROIs and more
        than ``core_elongation`` times as long as wide is dropped
        (:func:`~caimg.segmentation._shape_rules.drop_thin_core`). ``thin_core = 0`` turns
        it off.
    scatter_ratio : float
        Cells at least this many times as high as the median cell are very bright (the
        synthetic ``saturated`` family: 25-55x; ordinary fields, a real two-photon movie
        included: at most 3x): their
        skirt of scattered light is measured after a first pass and taken off the image,
        and the cells are found again (:func:`_without_scatter`). 0 = off.
    scatter_markers : bool
        In that second pass, also look for the dim cells' markers with the very bright
        cells set to the background (:func:`_add_log_markers`): a dim cell pressed against
        a 40x brighter one gave no marker of its own and was missed.
    cut_solidity, cut_gain, cut_seam, cut_area : float
        Two touching cells in one ROI (spindles in a V or a T, one marker between them): a
        ROI of at least ``cut_area`` x the median ROI's area (room for two cells) covering
        less than ``cut_solidity`` of its convex hull is cut along the straight
        line whose two parts are the most convex, when they cover at least ``cut_gain`` more
        of their hulls than the ROI and the image along the cut is at most ``cut_seam`` of
        the brighter part's median, and each part is thicker than ``min_thickness``
        (:func:`~caimg.segmentation._split_merged.split_merged`).
        No cut when other ROIs fill most (80 %) of the ROI's notch (a piece of a granular
        cell). ``cut_solidity = 0`` turns it off (docs/segmentation.md has the figures).
    long_cut_area, long_cut_aspect, long_cut_solidity, long_cut_gain : float
        Then the same cut, looser, for ROIs that are both big and long: at least
        ``long_cut_area`` x the median ROI's area and ``long_cut_aspect`` times as long as
        wide (two round cells pressed side by side, whose union is nearly convex), covering
        less than ``long_cut_solidity`` of their hull, with a gain of ``long_cut_gain``;
        the seam and thickness tests as above. ``long_cut_aspect = 0`` (or
        ``cut_solidity = 0``) turns it off.
    outline_reference : {"rim", "core", "peak"}
        Height the ``edge_fraction`` cut refers to (see
        :func:`~caimg.segmentation._common.refine_outlines`): ``"core"`` makes the outline
        of a cell with a bright nucleus or granules its whole body; ``"rim"`` (default)
        also raises the cut to half the height of the cell's rim when that is higher (a
        dark nucleus or a flat cell: the outline sits on the edge, not outside it).
    rim_ratio : float
        With ``outline_reference = "rim"``: cells whose rim is dimmer than this fraction
        of their inside (a bright nucleus, a domed centre) keep the core cut.
    outline_snap : bool
        After the cut, move each outline out (by at most 1 px, never towards another
        cell) onto the level whose outline runs on the steepest edge of the unsmoothed
        image (:func:`~caimg.segmentation._common.refine_outlines`, ``edges``).

    Returns
    -------
    ndarray of int, shape (Y, X)
        Labels, 0 = background (``segment`` makes them consecutive and hole-free).
    """
    opts = {k: v for k, v in locals().items() if k not in ("structural", "activity")}
    structural, bright = (_without_scatter(structural, activity, opts) if scatter_ratio > 0
                          else (structural, None))
    from skimage.segmentation import watershed

    d = cell_diameter_px
    flat, bg, noise, bgmask = flatten(structural, d, scale=background_scale)
    smooth, noise_s = smoothed(flat, bgmask, noise, d)
    fg = smooth > 3.0 * noise_s
    logi = np.log(np.maximum(smooth, 3.0 * noise_s))
    grad = ndi.gaussian_gradient_magnitude(logi, gradient_sigma)
    interior = fg & (grad < interior_gradient) & (smooth > threshold_snr * noise_s)
    interior = ndi.binary_opening(interior, structure=np.ones((3, 3), bool))
    # one marker per thick part of the interior: interiors of touching cells can leak
    # into each other through a weak stretch of their border, their distance-transform
    # maxima stay apart
    from skimage.feature import peak_local_max

    dts = ndi.gaussian_filter(ndi.distance_transform_edt(interior), 1.0)
    pk = peak_local_max(dts, min_distance=max(2, int(marker_distance * d)), threshold_abs=1.0,
                        labels=ndi.label(interior)[0], exclude_border=False)
    mk, n = np.zeros(structural.shape, dtype=np.int32), len(pk)
    for j, (r, c) in enumerate(pk, start=1):
        mk[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2] = j
    mk = np.where(interior, mk, 0)
    if log_seeds:
        mk, n = _add_log_markers(mk, n, flat, noise, bgmask, fg, interior, d, threshold_snr,
                                 bright if scatter_markers else None)
    ws = watershed(grad, np.where(ndi.binary_dilation(fg, iterations=1), mk, n + 1))
    regions = np.where(ws <= n, ws, 0).astype(np.int32)
    regions = _merge_enclosed(regions, enclosed_fraction, smooth, edge_fraction,
                              halo_ratio if halo_ratio > 0 else np.inf)
    if refine:
        regions = refine_outlines(smooth, regions, np.where(mk > 0, regions, 0), d,
                                  edge_fraction, ring_px=max(2.0, d / 3), noise=noise_s,
                                  min_peak_snr=min_height_snr, reference=outline_reference,
                                  reach_px=seed_reach * d if seed_reach > 0 else None,
                                  reach_from=_held_interior(regions, interior, mk),
                                  edges=np.hypot(*np.gradient(flat)) if outline_snap else None,
                                  rim_ratio=rim_ratio)
    if min_edge_contrast > 0:
        regions = drop_blurred(regions, flat, min_edge_contrast, min_area_px=min_area_px)
    if halo_ratio > 0:
        regions = _drop_halo(regions, smooth, halo_ratio, reach_px=max(2.0, d / 2))
    if use_activity and activity is not None and "corr" in activity:
        # a region too small to be kept does not keep a cell the correlation image sees away
        sizes = np.bincount(regions.ravel())
        tiny = (sizes < min_area_px)[regions] & (regions > 0)
        act = _activity_cells(activity["corr"], np.where(tiny, 0, regions), bgmask, d,
                              background_scale, activity_threshold, edge_fraction)
        regions = _with_activity_cells(np.where(tiny & (act > 0), 0, regions), act, smooth,
                                       halo_ratio, d)
    if merge_dip > 0:
        regions = merge_fragments(regions, smooth, max_dip=merge_dip, max_step=merge_step,
                                  min_solidity=merge_solidity, min_texture=merge_texture,
                                  textured_step=merge_textured_step)
    regions = merge_isolated(regions, smooth, min_solidity=isolated_solidity,
                             max_elongation=isolated_elongation, max_area=isolated_area,
                             max_step=merge_textured_step)
    regions = split_by_activity(regions, flat, activity if activity_split else None, d,
                                min_part=split_part, max_ratio=split_ratio, min_snr=split_snr)
    if close_fraction > 0:
        regions = close_each(regions, close_fraction * d)
    # capped at 3 px: with a wide range of sizes (d from the bigger cells) small cells stay
    regions = drop_thin(regions, min(min_thickness * d, 3.0))
    if max_elongation > 0:
        regions = drop_elongated(regions, max_elongation)
    regions = drop_thin_core(regions, smooth, thin_core, core_elongation)
    regions = drop_irregular(regions, min_solidity)
    # after the shape rules: only an ROI kept as one cell is cut, never a tangle they dropped
    regions = split_merged(regions, smooth, d, max_solidity=cut_solidity, min_gain=cut_gain,
                           max_seam=cut_seam, min_thickness=min_thickness, min_area=cut_area)
    if cut_solidity > 0 and long_cut_aspect > 0:
        regions = split_merged(regions, smooth, d, max_solidity=long_cut_solidity,
                               min_gain=long_cut_gain, max_seam=cut_seam,
                               min_thickness=min_thickness, min_area=long_cut_area,
                               min_aspect=long_cut_aspect)
    return regions


def _add_log_markers(mk, n, flat, noise, bgmask, fg, interior, d, threshold_snr,
                     bright=None):
    """Markers ``n + 1 ..`` added to ``mk`` at Laplacian-of-Gaussian peaks of the locally
    contrast-normalised image: cells too dim or small for a flat interior. Returns
    ``(mk, n)`` updated. With ``bright`` (pixels of very bright cells found before), the
    peaks of the image with those cells set to its background are added too, outside them
    and away from the peaks already found: a dim cell pressed against a cell 40x
    brighter gives no peak of its own beside the bright cell's response.
    """
    # cells too dim or small for a flat interior still give a LoG peak
    det = flat / local_scale(flat, d, noise)
    resp = log_response(det, d)
    rn = max(mad_sd(resp[bgmask]) if bgmask.sum() > 20 else mad_sd(resp), 1e-12)
    base = float(np.median(resp[bgmask])) if bgmask.any() else 0.0
    pk = find_peaks(resp, 0.5 * d, base + threshold_snr * rn)
    if bright is not None:
        more = find_peaks(log_response(np.where(bright, 0.0, det), d), 0.5 * d,
                          base + threshold_snr * rn)
        more = more[~bright[more[:, 0], more[:, 1]]] if len(more) else more
        if len(more) and len(pk):
            gap = np.hypot(*(more[:, None, :] - pk[None, :, :]).transpose(2, 0, 1)).min(axis=1)
            more = more[gap > 0.5 * d]
        pk = np.concatenate([pk, more]) if len(pk) else more
    if len(pk):
        pk = pk[fg[pk[:, 0], pk[:, 1]]]
        # not in a big flat interior that already has a marker: inside a cell bigger
        # than d the LoG at scale d answers to texture, and each answer made a
        # fragment (small interiors may be two touching cells leaking into each other)
        comp, _ = ndi.label(interior)
        sizes = np.bincount(comp.ravel())
        sizes[0] = 0
        marked = np.unique(comp[(mk > 0) & (comp > 0)])
        big = marked[sizes[marked] > 1.5 * math.pi * d * d / 4]
        owned = np.isin(comp, big) | (mk > 0)
        near = ndi.binary_dilation(owned, iterations=max(1, int(d / 4)))
        pk = pk[~near[pk[:, 0], pk[:, 1]]]
        for j, (r, c) in enumerate(pk, start=1):
            mk[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2] = n + j
        n += len(pk)
    return mk, n


def _without_scatter(structural, activity, opts):
    """``structural`` less the skirts of scattered light around its very bright cells.

    A first pass (without this step) finds the cells; the skirt of each one at least
    ``scatter_ratio`` times as high as the median cell is measured out to two cell diameters
    (:func:`~caimg.segmentation._scatter.scattered_light`) and taken off, so the dim cells
    on it stand on a flat background in the second pass. Returns that image and the
    pixels of the very bright cells (dilated by 1 px), or ``structural`` and None.
    """
    first = segment_gradient(structural, activity,
                             **{**opts, "scatter_ratio": 0.0, "cut_solidity": 0.0})
    d = opts["cell_diameter_px"]
    flat, _, noise, bgmask = flatten(structural, d, scale=opts["background_scale"])
    smooth, noise_s = smoothed(flat, bgmask, noise, d)
    bright = very_bright(first, smooth, opts["scatter_ratio"])
    skirt = scattered_light(first, smooth, noise_s, bright=bright, reach_px=2.0 * d)
    if skirt is None:
        return structural, None
    return structural - skirt, ndi.binary_dilation(np.isin(first, bright))


def _with_activity_cells(regions, act, smooth, halo_ratio, d):
    """``regions`` with the activity-only ROIs ``act`` added in free pixels.

    The scattered light of a bright responding cell is correlated too: the added ROIs
    face the scattered-light rule (:func:`_drop_halo`) as the structural ones did.
    """
    first = int(regions.max(initial=0)) + 1
    regions = np.where(regions > 0, regions, act)
    if halo_ratio > 0 and act.any():
        regions = _drop_halo(regions, smooth, halo_ratio, reach_px=max(2.0, d / 2),
                             first=first)
    return regions


def _held_interior(regions, interior, markers):
    """Per region, the flat interior pieces that hold its markers (and the markers).

    A cell reaches about a cell radius beyond these, whatever its watershed region
    swallowed farther out (the scattered light of a bright neighbour).
    """
    icomp, _ = ndi.label(interior)
    held = np.unique(icomp[(markers > 0) & (icomp > 0)])
    return np.where((np.isin(icomp, held) & (icomp > 0)) | (markers > 0), regions, 0)


def _drop_halo(labels, smooth, ratio, *, reach_px=2.0, explained=0.7, first=1):
    """Remove ROIs that are the scattered light of a much brighter neighbour.

    For an ROI within ``reach_px`` of ROIs at least ``ratio`` times as high (median of the
    flattened image) and at least half as high as the brightest of its neighbours, the
    light scattered from those bright ones is measured on the free
    pixels around them, as the median at each whole-pixel distance; when that light
    explains more than ``explained`` of the ROI's median (its median excess over the
    scattered light at its pixels' distances is below ``1 - explained`` of its median),
    the ROI is a piece of the halo, not a cell (the crescents beside saturated cells).
    A dim cell touching a bright one stands out of that light by its own height. Only
    ROIs with ids from ``first`` on are judged.
    """
    n = int(labels.max(initial=0))
    if n < 2:
        return labels
    idx = np.arange(1, n + 1)
    med = np.zeros(n + 1)
    med[1:] = ndi.median(smooth, labels, idx)
    out = labels.copy()
    ny, nx = labels.shape
    slices = ndi.find_objects(labels)
    for i, sl in enumerate(slices, start=1):
        if sl is None or med[i] <= 0 or i < first:
            continue
        r = int(math.ceil(reach_px))
        win = (slice(max(sl[0].start - r - 1, 0), min(sl[0].stop + r + 1, ny)),
               slice(max(sl[1].start - r - 1, 0), min(sl[1].stop + r + 1, nx)))
        m = labels[win] == i
        if m.sum() < 5:
            continue
        near = labels[win][(ndi.distance_transform_edt(~m) <= reach_px) & ~m]
        near = np.unique(near[near > 0])
        # the brightest neighbour's light dominates; dim cells around are no source
        bright = [j for j in near.tolist() if med[j] >= max(ratio * med[i],
                                                            0.5 * med[near].max())]
        if not bright:
            continue
        # a box holding the ROI, its bright neighbours and the light around them
        group = [i, *bright]
        r0 = min(slices[g - 1][0].start for g in group)
        r1 = max(slices[g - 1][0].stop for g in group)
        c0 = min(slices[g - 1][1].start for g in group)
        c1 = max(slices[g - 1][1].stop for g in group)
        pad = max(r1 - r0, c1 - c0) // 2 + 3
        box = (slice(max(r0 - pad, 0), min(r1 + pad, ny)),
               slice(max(c0 - pad, 0), min(c1 + pad, nx)))
        lab = labels[box]
        dist = np.rint(ndi.distance_transform_edt(~np.isin(lab, bright))).astype(int)
        own = lab == i
        # the light around the bright ones: the median at each distance of every pixel
        # but this ROI's (the rings are mostly free pixels and other halo pieces; a cell
        # beside them does not cover most of a ring)
        other = (lab != i) & (dist > 0)
        v = smooth[box]
        dmax = int(dist[own].max())
        scat = np.full(dmax + 1, np.nan)
        for k in range(1, dmax + 1):
            ring = other & (dist == k)
            if ring.sum() >= 5:
                scat[k] = np.median(v[ring])
        ok = np.isfinite(scat)
        if ok.sum() < 2:
            continue
        ks = np.arange(dmax + 1)
        scat = np.interp(ks, ks[ok], scat[ok])
        excess = np.median(v[own] - scat[dist[own]])
        if excess < (1.0 - explained) * med[i]:
            out[box][own] = 0
    return out


def _activity_cells(corr, cells, bgmask, d, background_scale, threshold, edge_fraction):
    """Cells seen in the local-correlation image only, away from the structural cells.

    Returns a label image with ids above ``cells.max()``; outlines are cut at
    ``edge_fraction`` of each cell's height in the (flattened) correlation image.
    """
    from skimage.segmentation import watershed

    out = np.zeros(cells.shape, dtype=np.int32)
    free = bgmask & (cells == 0)
    if free.sum() < 20:
        return out
    cflat = corr - nconv(corr, free, max(background_scale * d, 2.0))
    csmooth = ndi.gaussian_filter(cflat, max(d / 12.0, 0.7))
    cnoise = max(mad_sd(csmooth[free]), 1e-12)
    cfg = csmooth > 3.0 * cnoise
    resp = log_response(cflat, d)
    rn = max(mad_sd(resp[free]), 1e-12)
    pk = find_peaks(resp, 0.5 * d, float(np.median(resp[free])) + threshold * rn)
    if not len(pk):
        return out
    # scattered light of a responding cell is correlated too: stay clear of known cells
    far = ndi.distance_transform_edt(cells == 0) > 0.75 * d
    # edge pixels of registered frames are interpolated / repeated, hence correlated
    m = int(math.ceil(0.75 * d))
    far[:m, :] = far[-m:, :] = far[:, :m] = far[:, -m:] = False
    pk = pk[far[pk[:, 0], pk[:, 1]] & cfg[pk[:, 0], pk[:, 1]]]
    if not len(pk):
        return out
    start = int(cells.max())
    seeds = np.zeros(cells.shape, dtype=np.int32)
    seeds[pk[:, 0], pk[:, 1]] = np.arange(1, len(pk) + 1) + start
    allowed = cfg & ~ndi.binary_dilation(cells > 0, iterations=1)
    markers = np.where(allowed, ndi.grey_dilation(seeds, size=3), 0)
    regions = watershed(-csmooth, markers, mask=allowed)
    reach = ndi.distance_transform_edt(seeds == 0)
    regions = np.where(reach <= d, regions, 0).astype(np.int32)
    act = refine_outlines(csmooth, regions, seeds, d, edge_fraction, ring_px=max(2.0, d / 3),
                          noise=cnoise, min_peak_snr=threshold, exclude=cells > 0)
    return _drop_stuck(act, cells, 0.6 * math.pi * d * d / 4)


def _drop_stuck(act, cells, max_area, fraction=0.2):
    """Drop activity ROIs stuck to a cell or to the image edge.

    The scattered light of a responding cell is correlated with it, and so are the
    interpolated or repeated pixels at the edge of registered frames: an activity ROI whose
    2-px surroundings lie on a known cell for more than ``fraction`` of their length, or
    that touches the image border, is one of those (the small, often square, ROIs next to
    bright responding cells), not a cell, when it is smaller than ``max_area`` (a cell that
    is visible only while active and touches a visible one is bigger).
    """
    if act.max(initial=0) == 0:
        return act
    out = act.copy()
    ny, nx = act.shape
    occupied = cells > 0
    for i, sl in enumerate(ndi.find_objects(act), start=1):
        if sl is None:
            continue
        if sl[0].start == 0 or sl[1].start == 0 or sl[0].stop == ny or sl[1].stop == nx:
            out[act == i] = 0
            continue
        win = (slice(max(sl[0].start - 3, 0), min(sl[0].stop + 3, ny)),
               slice(max(sl[1].start - 3, 0), min(sl[1].stop + 3, nx)))
        m = act[win] == i
        if m.sum() >= max_area:
            continue
        ring = ndi.binary_dilation(m, iterations=2) & ~m
        if ring.any() and occupied[win][ring].mean() > fraction:
            out[win][m] = 0
    return out


def _merge_enclosed(regions, fraction, smooth=None, body_level=0.0, max_ratio=np.inf):
    """Merge regions that share more than ``fraction`` of their outline with one neighbour.

    With ``smooth`` (the flattened image) given, only when the neighbour is bright along
    that border: its pixels there reach at least ``body_level`` of its 90th percentile;
    and not when the enclosed region's median is more than ``max_ratio`` times the
    neighbour's. A nucleus or a granule lies inside its cell's body; a dim cell enclosed
    by the watershed region of a bright cell lies in that cell's faint skirt of scattered
    light, and a very bright (saturated) cell enclosed by the region of a dim neighbour
    that ran out over its skirt is no part of that neighbour: both stay cells.
    """
    n = int(regions.max(initial=0))
    if n < 2:
        return regions
    peak = med = None
    if smooth is not None:
        idx = np.arange(1, n + 1)
        peak = np.zeros(n + 1)
        peak[1:] = ndi.labeled_comprehension(smooth, regions, idx,
                                             lambda v: np.percentile(v, 90), float, 0.0)
        med = np.zeros(n + 1)
        med[1:] = ndi.median(smooth, regions, idx)
    perim = np.zeros(n + 1)
    shared = {}
    for a_img, b_img in ((regions[:, :-1], regions[:, 1:]), (regions[:-1, :], regions[1:, :])):
        diff = a_img != b_img
        for x_img, y_img in ((a_img, b_img), (b_img, a_img)):
            sel = diff & (x_img > 0)
            np.add.at(perim, x_img[sel], 1)
            sel2 = sel & (y_img > 0)
            key = x_img[sel2].astype(np.int64) * (n + 1) + y_img[sel2]
            u, c = np.unique(key, return_counts=True)
            for k_, c_ in zip(u.tolist(), c.tolist(), strict=True):
                shared[k_] = shared.get(k_, 0) + c_
    parent = np.arange(n + 1)
    for k_, c_ in sorted(shared.items(), key=lambda kv: -kv[1]):
        x, y = divmod(k_, n + 1)
        if perim[x] > 0 and c_ / perim[x] > fraction and parent[x] == x:
            if peak is not None:
                if med[x] > max_ratio * max(med[y], 0.0):
                    continue
                # y's pixels next to x
                around = ndi.binary_dilation(regions == x) & (regions == y)
                if np.median(smooth[around]) < body_level * peak[y]:
                    continue
            parent[x] = y
    roots = parent.copy()
    for i in range(n + 1):
        r = i
        seen = 0
        while roots[r] != r and seen < n:
            r = roots[r]
            seen += 1
        roots[i] = r
    return roots[regions].astype(np.int32)

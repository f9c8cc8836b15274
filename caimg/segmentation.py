"""Cell segmentation of widefield calcium-imaging recordings.

:func:`segment` turns summary images of a registered recording (a structural projection,
and optionally the activity images: temporal SD and local correlation) into a label
image. Methods are chosen by name (:func:`available_methods`); ``"auto"`` is the best one
(``"gradient"``, measured by ``benchmarks/segmentation_accuracy.py``). Everything here is
pure: arrays in, arrays out.

The default method, ``"gradient"``, in one paragraph: the structural image is flattened
(a smooth background, estimated from pixels that are not cells, is subtracted). The
gradient of the *log* of the flattened image, ``|grad I| / I``, is high on every cell
outline -- also between a bright and a dim cell pressed together, where intensity only
steps down without a dip -- and low inside every cell, whatever its dye loading. Cell
interiors (low relative gradient) give one marker per distance-transform maximum, so
interiors that leak into each other through a weak stretch of border still give one
marker per cell; cells too small or dim for a flat interior are added from peaks of a
scale-normalised Laplacian of Gaussian on a locally contrast-normalised image, and, when
activity images are given, from the local-correlation image (cells that respond but are
hardly visible). A watershed of the relative gradient from these markers splits touching
cells along their real border; each cell's outline is then cut at ``edge_fraction`` of its
own height above its own surroundings (one rule for cells of any brightness, which keeps
scattered-light halos outside), and slivers thinner than a quarter cell are dropped.
"""

from __future__ import annotations

import difflib
import inspect
import math
import warnings
from typing import Any, Callable

import numpy as np
from scipy import ndimage as ndi

from .errors import ConfigError

__all__ = ["segment", "available_methods", "register_method"]

_METHODS: dict[str, Callable[..., np.ndarray]] = {}
_DEFAULT = "gradient"


def register_method(name: str):
    """Decorator registering a segmentation method under ``name``.

    A method is called as ``fn(structural, activity, *, cell_diameter_px, min_area_px,
    max_area_px, **params)`` with ``structural`` a (Y, X) float64 image and ``activity``
    ``None`` or a dict with (Y, X) float64 ``"std"`` and ``"corr"``; it returns a (Y, X)
    integer label image. Its keyword-only parameters with defaults are its ``params``.
    """

    def deco(fn):
        _METHODS[name] = fn
        return fn

    return deco


def available_methods() -> list[str]:
    """Names accepted by ``segment(method=...)``: ``"auto"`` first, then the registered ones."""
    return ["auto", *sorted(_METHODS)]


_COMMON = ("cell_diameter_px", "min_area_px", "max_area_px")


def _method_params(fn) -> dict[str, Any]:
    sig = inspect.signature(fn)
    return {k: p.default for k, p in sig.parameters.items()
            if p.kind is p.KEYWORD_ONLY and k not in _COMMON}


def _as_images(images):
    """(structural, activity-or-None) as float64, from SummaryImages-like or an array."""
    if hasattr(images, "mean") and not isinstance(images, np.ndarray) and hasattr(images, "std"):
        structural = np.asarray(images.mean, dtype=np.float64)
        activity = {}
        for k in ("std", "corr"):
            v = getattr(images, k, None)
            if v is not None:
                v = np.asarray(v, dtype=np.float64)
                if v.shape != structural.shape:
                    raise ConfigError(f"summary image '{k}' has shape {v.shape}, expected the "
                                      f"shape of 'mean' {structural.shape}")
                activity[k] = v
        n_frames = getattr(images, "n_frames", None)
        if n_frames is not None:
            activity["n_frames"] = int(n_frames)
        if "corr" not in activity:
            activity = None
        return structural, activity
    arr = np.asarray(images)
    if arr.ndim != 2:
        raise ConfigError(f"'images' must be a (Y, X) projection or summary images with "
                          f"(Y, X) fields mean/std/corr, got an array of shape {arr.shape}")
    return arr.astype(np.float64), None


def segment(images, *, method="auto", cell_diameter_px=12.0, cell_diameter_um=None,
            pixel_size_um=None, min_area_px=20, max_area_px=5000, **params) -> np.ndarray:
    """Find cells and return them as a label image.

    Parameters
    ----------
    images : SummaryImages or (Y, X) array
        Summary images of the registered recording (an object with (Y, X) attributes
        ``mean``, ``std``, ``corr`` and ``n_frames``, as made by
        ``caimg.motion.summary_images``), or a single (Y, X) structural image (then the
        structural image alone is used). For Fura-2 use the 380 nm channel, whose resting
        fluorescence is brightest and most stable. Intensities in camera counts.
    method : str
        ``"auto"`` (the best method, currently ``"watershed"``) or a name from
        :func:`available_methods`.
    cell_diameter_px : float
        Typical cell diameter in pixels. Sets every length scale of the methods.
    cell_diameter_um, pixel_size_um : float, optional
        When both are known they override ``cell_diameter_px``
        (``cell_diameter_px = cell_diameter_um / pixel_size_um``).
    min_area_px, max_area_px : int
        Objects smaller or larger than this (in pixels) are dropped.
    **params
        Options of the chosen method (see each ``_seg_<name>`` function); an unknown
        name is a :class:`~caimg.errors.ConfigError`.

    Returns
    -------
    (Y, X) int32 array
        Labels 1..N (consecutive, in raster order of the cells' first pixel), 0 =
        background. Every ROI is one 4-connected region without holes. A featureless or
        empty image gives all zeros.

    Raises
    ------
    ConfigError
        Unknown method (listing the valid ones, closest first), unknown parameter for
        the method, or images of the wrong shape.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage.draw import disk
    >>> img = np.random.default_rng(0).normal(100, 2, (64, 64))
    >>> for r, c in [(16, 16), (16, 40), (44, 28)]:
    ...     rr, cc = disk((r, c), 6); img[rr, cc] += 40
    >>> int(segment(img).max())
    3
    """
    name = "auto" if method is None else str(method)
    if name == "auto":
        name = _DEFAULT
    if name not in _METHODS:
        valid = available_methods()
        close = difflib.get_close_matches(name, valid, n=len(valid), cutoff=0.0)
        raise ConfigError(f"unknown segmentation method '{method}': expected one of {close}")
    fn = _METHODS[name]
    valid_params = _method_params(fn)
    for k in params:
        if k not in valid_params:
            close = difflib.get_close_matches(k, list(valid_params), n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"unknown parameter '{k}' for segmentation method '{name}': "
                              f"expected one of {sorted(valid_params)}{hint}")
    if cell_diameter_um is not None and pixel_size_um is not None:
        if cell_diameter_um <= 0 or pixel_size_um <= 0:
            raise ConfigError(f"cell_diameter_um = {cell_diameter_um} and pixel_size_um = "
                              f"{pixel_size_um}: expected positive numbers")
        cell_diameter_px = float(cell_diameter_um) / float(pixel_size_um)
    cell_diameter_px = float(cell_diameter_px)
    if not cell_diameter_px >= 1:
        raise ConfigError(f"cell_diameter_px = {cell_diameter_px}: expected a value >= 1 pixel")
    if min_area_px > max_area_px:
        raise ConfigError(f"min_area_px = {min_area_px} is larger than max_area_px = "
                          f"{max_area_px}; expected min_area_px <= max_area_px")

    structural, activity = _as_images(images)
    finite = np.isfinite(structural)
    if not finite.all():
        fill = np.median(structural[finite]) if finite.any() else 0.0
        structural = np.where(finite, structural, fill)
    if activity is not None:
        for k in ("std", "corr"):
            if k in activity:
                activity[k] = np.nan_to_num(activity[k], nan=0.0, posinf=0.0, neginf=0.0)
    if structural.size == 0 or min(structural.shape) < 3 or np.ptp(structural) == 0:
        return np.zeros(structural.shape, dtype=np.int32)

    labels = fn(structural, activity, cell_diameter_px=cell_diameter_px,
                min_area_px=int(min_area_px), max_area_px=int(max_area_px), **params)
    return _finalise(labels, min_area_px, max_area_px)


# --------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------
def _finalise(labels, min_area_px, max_area_px):
    """One 4-connected, hole-free region per label, area filters, consecutive ids."""
    labels = np.asarray(labels)
    out = np.zeros(labels.shape, dtype=np.int32)
    if labels.max(initial=0) == 0:
        return out
    slices = ndi.find_objects(labels.astype(np.int64, copy=False))
    k = 0
    for i, sl in enumerate(slices, start=1):
        if sl is None:
            continue
        m = labels[sl] == i
        cc, n = ndi.label(m)
        if n > 1:
            sizes = np.bincount(cc.ravel())[1:]
            m = cc == (np.argmax(sizes) + 1)
        m = ndi.binary_fill_holes(m)
        m &= (out[sl] == 0)
        a = int(m.sum())
        if a < min_area_px or a > max_area_px:
            continue
        # filling may merge a disconnected sliver; keep the largest 4-connected part again
        cc, n = ndi.label(m)
        if n > 1:
            sizes = np.bincount(cc.ravel())[1:]
            m = cc == (np.argmax(sizes) + 1)
        k += 1
        out[sl][m] = k
    return out


def _mad_sd(x):
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        return 0.0
    med = np.median(x)
    return float(np.median(np.abs(x - med)) / 0.6745)


def _gaussian_filter(img, sigma, truncate=4.0):
    """``ndi.gaussian_filter(img, sigma, mode="reflect", truncate=truncate)`` of a 2-D
    float64 image, the same numbers to float64 rounding (~1e-15 relative).

    Wide kernels (radius ``r = int(truncate * sigma + 0.5)`` >= 32 px, e.g. 265 taps for the
    background at 3 cell diameters) are applied along each axis as a product of real FFTs
    of the symmetrically padded image (``np.pad(..., "symmetric")`` is ndimage's
    ``"reflect"``): O(n log n) per line instead of O(n r), ~10x faster at 512 x 512.
    Narrow kernels, and kernels wider than the image, go to ndimage directly.
    """
    import scipy.fft

    r = int(truncate * float(sigma) + 0.5)
    if img.ndim != 2 or r < 32 or r >= min(img.shape):
        return ndi.gaussian_filter(img, sigma, mode="reflect", truncate=truncate)
    x = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 / (float(sigma) * float(sigma)) * x * x)
    w /= w.sum()
    out = np.asarray(img, dtype=np.float64)
    for _ in range(2):  # along rows, then along the rows of the transpose (the columns)
        n = out.shape[1]
        nfft = scipy.fft.next_fast_len(n + 2 * r, real=True)
        spec = scipy.fft.rfft(np.pad(out, ((0, 0), (r, r)), mode="symmetric"), nfft, axis=1)
        spec *= scipy.fft.rfft(w, nfft)
        # (p * w)[j] for j = 2r .. 2r + n - 1 is sum_k w[k] p[i + k] (w is symmetric); a
        # circular convolution of length >= n + 2r does not wrap into those samples
        out = np.ascontiguousarray(scipy.fft.irfft(spec, nfft, axis=1)[:, 2 * r:2 * r + n].T)
    return out


def _nconv(img, weight, sigma):
    """Normalised convolution: Gaussian mean of ``img`` over pixels where ``weight``."""
    w = weight.astype(np.float64)
    num = _gaussian_filter(img * w, sigma)
    den = _gaussian_filter(w, sigma)
    fallback = np.median(img[weight]) if weight.any() else np.median(img)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 1e-3, num / den, fallback)
    return out


def _flatten(img, diameter, scale=3.0, k=1.0, iterations=3):
    """Subtract a smooth background estimated from non-cell pixels.

    Returns (flat, background, noise_sd, bg_mask). The background is a normalised Gaussian
    average (sigma = ``scale`` * diameter) of the pixels currently judged background;
    pixels more than ``k`` noise SDs above it, and their neighbourhood, are excluded and
    the estimate repeated.
    """
    sigma = max(scale * diameter, 2.0)
    bgmask = np.ones(img.shape, dtype=bool)
    hp = img - ndi.gaussian_filter(img, 1.0)
    # pixel noise of the image from its high-pass residual (cells are smooth at 1 px)
    noise = _mad_sd(hp) / 0.62 if hp.size else 0.0
    bg = None
    for _ in range(iterations):
        bg = _nconv(img, bgmask, sigma)
        flat = img - bg
        sm = ndi.gaussian_filter(flat, max(diameter / 6.0, 0.7))
        sd = _mad_sd(flat[bgmask]) if bgmask.any() else noise
        fg = sm > k * max(sd, 1e-12)
        fg = ndi.binary_dilation(fg, iterations=max(1, int(round(diameter / 4))))
        new = ~fg
        if new.sum() < 0.05 * img.size:  # nearly everything is a cell: keep the darkest 5 %
            new = img <= np.percentile(img, 5)
        bgmask = new
    flat = img - bg
    sd = _mad_sd(flat[bgmask]) if bgmask.any() else noise
    return flat, bg, max(sd, noise, 1e-12), bgmask


def _log_response(img, diameter):
    """Scale-normalised negative Laplacian of Gaussian at the cell scale (bright blobs > 0)."""
    sigma = max(diameter / (2.0 * math.sqrt(2.0)), 0.8)
    return -(sigma ** 2) * ndi.gaussian_laplace(img, sigma)


def _local_scale(flat, diameter, noise):
    """Local contrast scale: Gaussian-weighted RMS of the positive flat image, floored."""
    pos = np.clip(flat, 0, None)
    rms = np.sqrt(ndi.gaussian_filter(pos ** 2, 1.5 * diameter))
    return np.maximum(rms, 3.0 * noise)


def _peaks(response, min_distance, threshold, mask=None):
    from skimage.feature import peak_local_max

    if not np.isfinite(threshold):
        return np.empty((0, 2), dtype=int)
    coords = peak_local_max(response, min_distance=max(1, int(min_distance)),
                            threshold_abs=threshold, exclude_border=False,
                            labels=None if mask is None else mask.astype(np.int32))
    return coords


def _refine(smooth, regions, seeds_lab, diameter, edge_fraction, ring_px, noise,
            min_peak_snr, exclude=None):
    """Cut each watershed region at ``edge_fraction`` of its height above its surroundings."""
    out = np.zeros(regions.shape, dtype=np.int32)
    n = int(regions.max(initial=0))
    if n == 0:
        return out
    # local surroundings: pixels of no region, within ring_px of the region
    occupied = regions > 0 if exclude is None else (regions > 0) | exclude
    dist, (ir, ic) = ndi.distance_transform_edt(~occupied, return_indices=True)
    near_lab = np.where((~occupied) & (dist <= ring_px), regions[ir, ic], 0)
    idx = np.arange(1, n + 1)
    # a robust local floor: median of the ring; for packed cells with no ring, the
    # region's own low percentile
    slices = ndi.find_objects(regions)
    pad = int(ring_px) + 1
    Y, X = regions.shape
    for i in idx:
        sl = slices[i - 1]
        if sl is None:
            continue
        r0, r1 = max(sl[0].start - pad, 0), min(sl[0].stop + pad, Y)
        c0, c1 = max(sl[1].start - pad, 0), min(sl[1].stop + pad, X)
        win = (slice(r0, r1), slice(c0, c1))
        reg = regions[win] == i
        vals = smooth[win][reg]
        if vals.size == 0:
            continue
        ring = near_lab[win] == i
        peak = np.percentile(vals, 90)
        if ring.sum() >= 5:
            floor = np.median(smooth[win][ring])
        else:
            floor = np.percentile(vals, 5)
        floor = min(floor, np.percentile(vals, 20))
        height = peak - floor
        if height < min_peak_snr * noise:
            continue
        thr = floor + edge_fraction * height
        m = reg & (smooth[win] >= thr)
        if not m.any():
            continue
        cc, k = ndi.label(m)
        if k > 1:
            # keep the part holding the seed, else the largest
            s = seeds_lab[win][m & (seeds_lab[win] > 0)]
            keep = np.bincount(cc[(seeds_lab[win] > 0) & m]).argmax() if s.size else \
                np.bincount(cc.ravel())[1:].argmax() + 1
            m = cc == keep
        m = ndi.binary_fill_holes(m) & reg
        out[win][m] = i
    return out


# --------------------------------------------------------------------------------------
# methods
# --------------------------------------------------------------------------------------
@register_method("watershed")
def _seg_watershed(structural, activity, *, cell_diameter_px, min_area_px, max_area_px,
                   threshold_snr=4.0, edge_fraction=0.5, background_scale=3.0,
                   min_distance_fraction=0.5, local_contrast=True, use_activity=True,
                   activity_threshold=4.0, compactness=0.0, passes=1, neck_ratio=0.7,
                   seed_scale=0.7, merge_dip=0.15, merge_step=1.3, merge_solidity=0.9):
    """LoG seeds on a flattened, contrast-normalised image + seeded watershed + half-height
    outlines, a second pass for cells hidden next to brighter ones, and a split at necks.

    Parameters
    ----------
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
    """
    d = cell_diameter_px
    flat, bg, noise, bgmask = _flatten(structural, d, scale=background_scale)
    smooth = ndi.gaussian_filter(flat, max(d / 12.0, 0.7))
    # noise SD of the smoothed image, measured on background pixels
    noise_s = max(_mad_sd(smooth[bgmask]) if bgmask.sum() > 20 else noise, 1e-12)
    fg = smooth > 2.0 * noise_s
    ring_px = max(2.0, d / 3)

    def seeds_from(img, allowed):
        det = img / _local_scale(img, d, noise) if local_contrast else img
        resp = _log_response(det, seed_scale * d)
        rn = max(_mad_sd(resp[bgmask]) if bgmask.sum() > 20 else _mad_sd(resp), 1e-12)
        base = float(np.median(resp[bgmask])) if bgmask.any() else 0.0
        pk = _peaks(resp, min_distance_fraction * seed_scale * d, base + threshold_snr * rn)
        if len(pk):
            pk = pk[allowed[pk[:, 0], pk[:, 1]]]
        return pk

    seeds = seeds_from(flat, fg)
    seed_img = np.zeros(structural.shape, dtype=np.int32)
    if len(seeds):
        seed_img[seeds[:, 0], seeds[:, 1]] = np.arange(1, len(seeds) + 1)

    if use_activity and activity is not None and "corr" in activity:
        corr = activity["corr"]
        cflat = corr - _nconv(corr, bgmask, max(background_scale * d, 2.0))
        cnoise = max(_mad_sd(cflat[bgmask]) if bgmask.sum() > 20 else _mad_sd(cflat), 1e-12)
        cresp = _log_response(cflat, d)
        crn = max(_mad_sd(cresp[bgmask]) if bgmask.sum() > 20 else _mad_sd(cresp), 1e-12)
        cseeds = _peaks(cresp, min_distance_fraction * d, activity_threshold * crn)
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
    return _refine(smooth, regions, seed_img, d, edge_fraction, ring_px=ring_px,
                   noise=noise_s, min_peak_snr=min_snr, exclude=exclude)


def _adjacent_pairs(regions):
    """Adjacent label pairs (a < b) and, per pair, the pixels on both sides of their border."""
    pairs = {}
    for a_img, b_img in ((regions[:, :-1], regions[:, 1:]), (regions[:-1, :], regions[1:, :])):
        border = (a_img != b_img) & (a_img > 0) & (b_img > 0)
        if border.any():
            pa, pb = a_img[border], b_img[border]
            lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
            for x, y in set(zip(lo.tolist(), hi.tolist())):
                pairs[(x, y)] = None
    return pairs


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
        for k_, mv, cv in zip(u.tolist(), mx.tolist(), c_.tolist()):
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

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    slices = ndi.find_objects(regions)
    max_area = 2.0 * math.pi * d * d / 4
    members = {i: [i] for i in idx.tolist()}
    for dip, a, b in cand:
        ra, rb = find(a), find(b)
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
    roots = np.array([find(i) for i in range(n + 1)])
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

        def find(a):
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for a_img, b_img, dt_a, dt_b in (
                (ws[:, :-1], ws[:, 1:], dt[:, :-1], dt[:, 1:]),
                (ws[:-1, :], ws[1:, :], dt[:-1, :], dt[1:, :])):
            border = (a_img != b_img) & (a_img > 0) & (b_img > 0)
            if not border.any():
                continue
            pa, pb = a_img[border], b_img[border]
            val = np.minimum(dt_a[border], dt_b[border])
            saddle = {}
            for x, y, v in zip(pa.tolist(), pb.tolist(), val.tolist()):
                key = (min(x, y), max(x, y))
                if v > saddle.get(key, -1):
                    saddle[key] = v
            for (x, y), v in saddle.items():
                if v >= neck_ratio * min(peak[x - 1], peak[y - 1]):
                    parent[find(x)] = find(y)
        roots = np.array([find(j) for j in range(k + 1)])
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


@register_method("threshold")
def _seg_threshold(structural, activity, *, cell_diameter_px, min_area_px, max_area_px,
                   background_scale=3.0, threshold_snr=3.0, split=True):
    """Global threshold of the flattened image, touching cells split by distance transform.

    Parameters
    ----------
    background_scale : float
        Sigma of the background estimate, in cell diameters.
    threshold_snr : float
        Foreground is the smoothed flattened image above this many noise SDs.
    split : bool
        Split touching cells by a watershed of the distance transform.
    """
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    d = cell_diameter_px
    flat, bg, noise, bgmask = _flatten(structural, d, scale=background_scale)
    smooth = ndi.gaussian_filter(flat, max(d / 12.0, 0.7))
    noise_s = max(_mad_sd(smooth[bgmask]) if bgmask.sum() > 20 else noise, 1e-12)
    fg = smooth > threshold_snr * noise_s
    fg = ndi.binary_opening(fg)
    if not split:
        return ndi.label(fg)[0]
    dist = ndi.distance_transform_edt(fg)
    dist = ndi.gaussian_filter(dist, 1.0)
    peaks = peak_local_max(dist, min_distance=max(1, int(0.5 * d)), labels=ndi.label(fg)[0],
                           exclude_border=False)
    markers = np.zeros(fg.shape, dtype=np.int32)
    markers[peaks[:, 0], peaks[:, 1]] = np.arange(1, len(peaks) + 1)
    return watershed(-dist, markers, mask=fg)


@register_method("gradient")
def _seg_gradient(structural, activity, *, cell_diameter_px, min_area_px, max_area_px,
                  threshold_snr=4.0, background_scale=3.0, interior_gradient=0.2,
                  gradient_sigma=1.0, enclosed_fraction=0.6, refine=True, edge_fraction=0.4,
                  log_seeds=True, marker_distance=0.3, min_thickness=0.25,
                  use_activity=True, activity_threshold=5.0, min_solidity=0.75):
    """Watershed of the gradient of log intensity, seeded by flat cell interiors.

    The relative gradient ``|grad I| / I`` is high on every cell outline, including the
    border between a bright and a dim cell pressed together (a step in log intensity),
    and low inside cells whatever their brightness; so cell interiors (low relative
    gradient) seed a watershed whose lines follow the outlines.

    Parameters
    ----------
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
    """
    from skimage.segmentation import watershed

    d = cell_diameter_px
    flat, bg, noise, bgmask = _flatten(structural, d, scale=background_scale)
    smooth = ndi.gaussian_filter(flat, max(d / 12.0, 0.7))
    noise_s = max(_mad_sd(smooth[bgmask]) if bgmask.sum() > 20 else noise, 1e-12)
    fg = smooth > 3.0 * noise_s
    logi = np.log(np.maximum(smooth, 3.0 * noise_s))
    grad = ndi.gaussian_gradient_magnitude(logi, gradient_sigma)
    interior = fg & (grad < interior_gradient) & (smooth > threshold_snr * noise_s)
    interior = ndi.binary_opening(interior, structure=np.ones((3, 3), bool))
    # one marker per thick part of the interior: interiors of touching cells can leak
    # into each other through a weak stretch of their border, their distance-transform
    # maxima stay apart
    from skimage.feature import peak_local_max

    dt = ndi.distance_transform_edt(interior)
    dts = ndi.gaussian_filter(dt, 1.0)
    pk = peak_local_max(dts, min_distance=max(2, int(marker_distance * d)), threshold_abs=1.0,
                        labels=ndi.label(interior)[0], exclude_border=False)
    mk = np.zeros(structural.shape, dtype=np.int32)
    n = len(pk)
    for j, (r, c) in enumerate(pk, start=1):
        mk[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2] = j
    mk = np.where(interior, mk, 0)
    if log_seeds:
        # cells too dim or small for a flat interior still give a LoG peak
        det = flat / _local_scale(flat, d, noise)
        resp = _log_response(det, d)
        rn = max(_mad_sd(resp[bgmask]) if bgmask.sum() > 20 else _mad_sd(resp), 1e-12)
        base = float(np.median(resp[bgmask])) if bgmask.any() else 0.0
        pk = _peaks(resp, 0.5 * d, base + threshold_snr * rn)
        if len(pk):
            pk = pk[fg[pk[:, 0], pk[:, 1]]]
            near = ndi.binary_dilation(mk > 0, iterations=max(1, int(d / 4)))
            pk = pk[~near[pk[:, 0], pk[:, 1]]]
            for j, (r, c) in enumerate(pk, start=1):
                mk[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2] = n + j
            n += len(pk)
    markers = mk.copy()
    markers[~ndi.binary_dilation(fg, iterations=1)] = n + 1
    ws = watershed(grad, markers)
    regions = np.where(ws <= n, ws, 0).astype(np.int32)
    regions = _merge_enclosed(regions, enclosed_fraction)
    if refine:
        seeds = np.where(mk > 0, regions, 0)
        regions = _refine(smooth, regions, seeds, d, edge_fraction, ring_px=max(2.0, d / 3),
                          noise=noise_s, min_peak_snr=threshold_snr)
    if use_activity and activity is not None and "corr" in activity:
        act = _activity_cells(activity["corr"], regions, bgmask, d, background_scale,
                              activity_threshold, edge_fraction)
        regions = np.where(regions > 0, regions, act)
    regions = _drop_thin(regions, min_thickness * d)
    return _drop_irregular(regions, min_solidity)


def _drop_irregular(labels, min_solidity):
    """Remove ROIs whose area is less than ``min_solidity`` of their convex hull's."""
    from skimage.morphology import convex_hull_image

    if min_solidity <= 0 or labels.max(initial=0) == 0:
        return labels
    out = labels.copy()
    for i, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        m = labels[sl] == i
        if m.sum() < 5:
            continue
        try:
            hull = convex_hull_image(m)
        except Exception:  # collinear pixels
            continue
        if m.sum() < min_solidity * hull.sum():
            out[sl][m] = 0
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
    cflat = corr - _nconv(corr, free, max(background_scale * d, 2.0))
    csmooth = ndi.gaussian_filter(cflat, max(d / 12.0, 0.7))
    cnoise = max(_mad_sd(csmooth[free]), 1e-12)
    cfg = csmooth > 3.0 * cnoise
    resp = _log_response(cflat, d)
    rn = max(_mad_sd(resp[free]), 1e-12)
    pk = _peaks(resp, 0.5 * d, float(np.median(resp[free])) + threshold * rn)
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
    return _refine(csmooth, regions, seeds, d, edge_fraction, ring_px=max(2.0, d / 3),
                   noise=cnoise, min_peak_snr=threshold, exclude=cells > 0)


def _drop_thin(labels, min_radius):
    """Remove ROIs whose largest inscribed disc has a radius below ``min_radius`` px
    (slivers in the gaps between touching cells, rims)."""
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


def _merge_enclosed(regions, fraction):
    """Merge regions that share more than ``fraction`` of their outline with one neighbour."""
    n = int(regions.max(initial=0))
    if n < 2:
        return regions
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
            for k_, c_ in zip(u.tolist(), c.tolist()):
                shared[k_] = shared.get(k_, 0) + c_
    parent = np.arange(n + 1)
    for k_, c_ in sorted(shared.items(), key=lambda kv: -kv[1]):
        x, y = divmod(k_, n + 1)
        if perim[x] > 0 and c_ / perim[x] > fraction and parent[x] == x:
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

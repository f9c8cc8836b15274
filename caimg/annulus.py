"""Local background: a ring (annulus) of pixels around each ROI.

``[background] method = "annulus"`` (docs/background.md): every ROI gets its own
background per frame and channel, the median (by default) of a ring around it that leaves
out every ROI with a gap and the saturated pixels. :func:`annuli` makes the rings once from
the label image; :func:`caimg.traces.extract_traces` reads them per frame chunk with
:func:`ring_percentiles`; :func:`recipe_annuli` is the pipeline stage's recipe-to-rings step
and reports what it did for ``run.json``.
"""

from __future__ import annotations

import importlib
import math
import warnings
from dataclasses import dataclass

import numpy as np

from ._backend import kernels_or_none
from ._validation import check_labels, check_whole
from .errors import CaimgError, DataQualityWarning, RoiError

__all__ = ["Annuli", "annuli", "check_annuli", "ring_percentiles", "ring_noise_sd",
           "recipe_annuli", "MIN_WIDTH_PX"]

#: Narrowest ring, px: below 3 px a ring around a small cell holds too few pixels for a
#: stable median.
MIN_WIDTH_PX = 3


@dataclass(frozen=True)
class Annuli:
    """The local background ring of every ROI, as lists of pixels (see :func:`annuli`).

    Attributes
    ----------
    roi_ids : ndarray, (R,) int64
        Label values, sorted (the columns of :class:`Traces`).
    rows, cols : ndarray, (P,) int64
        The union of all rings: every pixel that is in at least one ROI's ring, once.
    members : ndarray, (M,) int64
        Indices into ``rows``/``cols``; ring ``j`` is ``members[offsets[j]:offsets[j + 1]]``
        (rings of neighbouring ROIs may share pixels).
    offsets : ndarray, (R + 1,) int64
    width_px : ndarray, (R,) int64
        Ring width of each ROI, px.
    gap_px : int
        Pixels within this distance of any ROI are in no ring.
    min_pixels : int
        Rings with fewer pixels fall back to the global background (``fallback``).
    """

    roi_ids: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    members: np.ndarray
    offsets: np.ndarray
    width_px: np.ndarray
    gap_px: int
    min_pixels: int

    @property
    def n_pixels(self) -> np.ndarray:
        """(R,) int64: pixels in each ROI's ring."""
        return np.diff(self.offsets)

    @property
    def fallback(self) -> np.ndarray:
        """(R,) bool: rings with fewer than ``min_pixels`` pixels (they use the global
        background).
        """
        return self.n_pixels < self.min_pixels

    def mask(self, shape) -> np.ndarray:
        """(Y, X) bool: the pixels of every ring."""
        m = np.zeros(shape, bool)
        m[self.rows, self.cols] = True
        return m


def annuli(labels, *, gap_px=2, width_factor=0.5, min_width_px=MIN_WIDTH_PX, min_pixels=20,
           exclude=None) -> Annuli:
    """A ring of local background pixels around every ROI.

    Parameters
    ----------
    labels : array-like, (Y, X) int
        Label image, 0 = background.
    gap_px : int
        Pixels as close as this (Euclidean distance) to ANY ROI are in no ring: the gap
        keeps each cell's blurred edge, and its neighbours', out of every ring.
    width_factor : float
        Ring width as a fraction of the ROI's equivalent diameter ``2 * sqrt(area / pi)``:
        the ring of ROI ``j`` is the pixels farther than ``gap_px`` from every ROI and at
        most ``gap_px + width_j`` from ROI ``j``, ``width_j = max(min_width_px,
        round(width_factor * diameter_j))``. Scaling with the cell keeps the ring's pixel
        count (hence the noise of its statistic) in proportion to the ROI's.
    min_width_px : int
        Narrowest ring, px.
    min_pixels : int
        Rings with fewer pixels are marked for the global fallback (:attr:`Annuli.fallback`).
    exclude : array-like, (Y, X) bool, optional
        Pixels in no ring (e.g. saturated pixels).

    Returns
    -------
    Annuli

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((40, 40), int); lab[10:20, 10:20] = 1; lab[10:20, 24:34] = 2
    >>> a = annuli(lab, gap_px=2, width_factor=0.5)
    >>> a.width_px.tolist(), bool(a.mask(lab.shape)[15, 22]), bool(a.mask(lab.shape)[15, 7])
    ([6, 6], False, True)
    """
    lab = check_labels(labels)
    gap_px = check_whole(gap_px, "gap_px", minimum=0)
    min_width_px = check_whole(min_width_px, "min_width_px", minimum=1)
    min_pixels = check_whole(min_pixels, "min_pixels", minimum=0)
    if isinstance(width_factor, bool) or not isinstance(width_factor, (int, float, np.number)) \
            or not 0.0 <= float(width_factor) <= 10.0:
        raise CaimgError(f"'width_factor' = {width_factor!r}: expected a number from 0 to 10 "
                         f"(ring width in ROI diameters, e.g. 0.5)")
    from scipy import ndimage  # lazy: keeps `import caimg.traces` light

    roi_ids = np.unique(lab[lab != 0]).astype(np.int64)
    ny, nx = lab.shape
    allowed = np.ones(lab.shape, bool) if not roi_ids.size else \
        ndimage.distance_transform_edt(lab == 0) > gap_px
    if exclude is not None:
        ex = np.asarray(exclude)
        if ex.shape != lab.shape or ex.dtype != bool:
            raise RoiError(f"'exclude' mask has shape {ex.shape} and dtype {ex.dtype}; "
                           f"expected a bool array of the label image's shape {lab.shape}")
        allowed &= ~ex
    areas = np.bincount(lab.ravel())[roi_ids] if roi_ids.size else np.zeros(0, np.int64)
    widths = np.maximum(min_width_px, np.rint(
        float(width_factor) * 2.0 * np.sqrt(areas / np.pi))).astype(np.int64)
    boxes = ndimage.find_objects(lab) if roi_ids.size else []
    flat_parts, sizes = [], []
    for j, rid in enumerate(roi_ids):
        reach = gap_px + int(widths[j])
        sl = boxes[rid - 1]
        r0, r1 = max(sl[0].start - reach, 0), min(sl[0].stop + reach, ny)
        c0, c1 = max(sl[1].start - reach, 0), min(sl[1].stop + reach, nx)
        crop = lab[r0:r1, c0:c1] != rid
        ring = (ndimage.distance_transform_edt(crop) <= reach) & allowed[r0:r1, c0:c1]
        rr, cc = np.nonzero(ring)
        flat_parts.append((rr + r0) * nx + (cc + c0))
        sizes.append(rr.size)
    flat = np.concatenate(flat_parts).astype(np.int64) if flat_parts else np.zeros(0, np.int64)
    union, members = np.unique(flat, return_inverse=True)
    offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
    return Annuli(roi_ids=roi_ids, rows=(union // nx).astype(np.int64),
                  cols=(union % nx).astype(np.int64), members=members.astype(np.int64).ravel(),
                  offsets=offsets, width_px=widths, gap_px=int(gap_px),
                  min_pixels=int(min_pixels))


def check_annuli(rings, roi_ids):
    """``rings`` checked against the ROIs of a label image (None passes through).

    Parameters
    ----------
    rings : Annuli or None
    roi_ids : ndarray, (R,) int
        Sorted label values of the label image the traces are read with.

    Returns
    -------
    Annuli or None
    """
    if rings is None:
        return None
    if not isinstance(rings, Annuli):
        raise RoiError(f"'annuli' is a {type(rings).__name__}; expected caimg.annulus.Annuli "
                       f"from caimg.annulus.annuli(labels)")
    if not np.array_equal(rings.roi_ids, roi_ids):
        raise RoiError(f"'annuli' were made for {rings.roi_ids.size} ROIs that are not the "
                       f"{np.size(roi_ids)} ROIs of 'labels'; make them from the same labels")
    return rings


def ring_percentiles(vals, rings, *, q, out):
    """The ``q`` percentile of each ring's values, per frame (compiled when numba may be
    used, else its numpy twin ``_ring_percentiles_numpy``).

    Parameters
    ----------
    vals : ndarray, (n, P) float32
        Values of the union of ring pixels (``rings.rows``, ``rings.cols``) in n frames.
    rings : Annuli
    q : float
        Percentile, 0-100 (linear interpolation).
    out : ndarray, (n, R) float64
        Written for the rings that are not :attr:`Annuli.fallback`; others untouched.

    Returns
    -------
    ndarray
        ``out``.
    """
    use = ~rings.fallback
    if kernels_or_none() is not None:
        kernel = importlib.import_module("._ring_kernels", __package__).ring_percentiles
        kernel(vals, rings.members, rings.offsets, use, float(q), out)
        return out
    return _ring_percentiles_numpy(vals, rings.members, rings.offsets, use, float(q), out)


def _ring_percentiles_numpy(vals, members, offsets, use, q, out):
    """Ring percentiles in numpy: twin of :func:`caimg._ring_kernels.ring_percentiles`
    (same arguments, same numbers).
    """
    for j in np.flatnonzero(use):
        a, b = offsets[j], offsets[j + 1]
        m = b - a
        if m == 0:
            out[:, j] = np.nan
            continue
        pos = q / 100.0 * (m - 1)
        lo = min(int(math.floor(pos)), m - 1)
        w = pos - lo
        hi = min(lo + 1, m - 1)
        x = vals.take(members[a:b], axis=1).astype(np.float64)
        x.partition(sorted({lo, hi}), axis=1)
        v = x[:, lo]
        out[:, j] = v + w * (x[:, hi] - v) if w > 0.0 else v
    return out


def ring_noise_sd(image, rings) -> float:
    """Robust SD of the background a ring median leaves: the spread of every ring's pixels
    around their own ring's median, pooled over the rings.

    Parameters
    ----------
    image : array_like, (Y, X)
        A time-averaged frame of one channel.
    rings : Annuli

    Returns
    -------
    float
        ``1.4826 * MAD`` of the pooled residuals (rings that fall back are left out); NaN
        with fewer than 2 residuals.

    Notes
    -----
    The ring-method twin of :func:`caimg.signal_quality.background_noise_sd`: there the
    background under a ROI differs from the one global level by about the whole field's
    spread (gradient, vignetting, haze), here only by what varies within the ring around
    it, so the low-signal test (``signal.low_signal_k``) uses this value.

    Examples
    --------
    >>> lab = np.zeros((100, 100), int); lab[40:45, 40:45] = 1
    >>> ramp = np.add.outer(np.zeros(100), 10.0 * np.arange(100))  # a steep gradient
    >>> field_sd = 1.4826 * np.median(np.abs(ramp - np.median(ramp)))
    >>> round(float(field_sd)), round(ring_noise_sd(ramp, annuli(lab)))
    (371, 67)
    """
    img = np.asarray(image, dtype=np.float64)
    vals = img[rings.rows, rings.cols]
    parts = [vals[rings.members[rings.offsets[j]:rings.offsets[j + 1]]]
             for j in np.flatnonzero(~rings.fallback)]
    res = np.concatenate([v - np.median(v) for v in parts]) if parts else np.zeros(0)
    res = res[np.isfinite(res)]
    if res.size < 2:
        return float("nan")
    return float(1.482602218505602 * np.median(np.abs(res - np.median(res))))


def recipe_annuli(rec, labels, bc, *, max_image=None, dropped_frames=None, global_mask=None):
    """The rings a recipe's ``[background]`` asks for, and what ``run.json`` says of them.

    Parameters
    ----------
    rec : caimg.recording.Recording
        Its channels give ``noise_sd`` (:func:`ring_noise_sd` of the mean of up to 64
        evenly spaced frames per channel) and its dtype the full scale.
    labels : ndarray, (Y, X) int
    bc : caimg.config.BackgroundConfig
        ``method``, ``annulus_gap_px``, ``annulus_width_factor``, ``annulus_min_pixels``,
        ``percentile``.
    max_image : ndarray, (Y, X), optional
        Maximum projection of the recording; with an integer dtype, pixels at its full
        scale (saturated in some frame) are in no ring: a clipped value is not the light.
    dropped_frames : sequence of int, optional
        Frames left out of the mean frames.
    global_mask : ndarray, (Y, X) bool, optional
        The global background's pixels: with it, ``info["global_noise_sd"]`` per channel,
        their spread in the same mean frames (how far the one global value may be off
        under a ROI, illumination included), which decides when a ROI uses the global
        background because its ring is not darker than the cell
        (:func:`caimg.signal_quality.ring_not_below_cell`).

    Returns
    -------
    rings : Annuli or None
        None unless ``bc.method == "annulus"``.
    info : dict
        The settings, the ring sizes, the ROIs that fall back to the global background and
        ``noise_sd`` per channel (replaces the global one; empty when ``rings`` is None).

    Warns
    -----
    UserWarning
        When some rings have fewer than ``annulus_min_pixels`` pixels (those ROIs use the
        global background).
    """
    if bc.method != "annulus":
        return None, {}
    saturated = None
    if max_image is not None and np.issubdtype(rec.dtype, np.integer):
        saturated = np.asarray(max_image) >= np.iinfo(rec.dtype).max
    rings = annuli(labels, gap_px=bc.annulus_gap_px, width_factor=bc.annulus_width_factor,
                   min_pixels=bc.annulus_min_pixels, exclude=saturated)
    fb = rings.roi_ids[rings.fallback]
    n = rings.n_pixels
    info = {"statistic": f"percentile {bc.percentile:g} of each ROI's ring, per frame and "
                         f"channel",
            "annulus_gap_px": bc.annulus_gap_px, "annulus_width_factor": bc.annulus_width_factor,
            "annulus_min_width_px": MIN_WIDTH_PX, "annulus_min_pixels": bc.annulus_min_pixels,
            "ring_pixels_median": float(np.median(n)) if n.size else None,
            "n_saturated_excluded": int(saturated.sum()) if saturated is not None else 0,
            "n_fallback": int(fb.size), "fallback_rois": [int(r) for r in fb]}
    from .signal_quality import background_noise_sd, mean_of_frames

    skip = set(dropped_frames or ())
    mean_frames = {ch: mean_of_frames(st, skip=skip) for ch, st in rec.channels.items()}
    info["noise_sd"] = {ch: float("nan") if m is None else ring_noise_sd(m, rings)
                        for ch, m in mean_frames.items()}
    if global_mask is not None:
        info["global_noise_sd"] = {ch: float("nan") if m is None else
                                   background_noise_sd(m, global_mask)
                                   for ch, m in mean_frames.items()}
    if fb.size:
        shown = ", ".join(str(int(r)) for r in fb[:10]) + (", ..." if fb.size > 10 else "")
        warnings.warn(f"background: {fb.size} of {rings.roi_ids.size} ROIs have fewer than "
                      f"annulus_min_pixels={bc.annulus_min_pixels} pixels in their background "
                      f"ring (ROIs {shown}); they use the global background instead. For "
                      f"more local values lower background.annulus_gap_px or raise "
                      f"background.annulus_width_factor", DataQualityWarning, stacklevel=3)
    return rings, info

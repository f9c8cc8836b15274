"""Per-ROI mean intensity traces and background, streamed over frame chunks.

The hot loop is a numba kernel over a precomputed ROI pixel list (compiled on first use,
cached on disk); numba is never imported when this module is imported. A pure-numpy path
gives the same traces to float32 precision; it is used when numba cannot be imported or
when the environment variable ``CAIMG_NO_NUMBA=1`` is set (checked at every call, see
:mod:`caimg._backend`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ._backend import kernels_or_none
from ._stream import ReadBuffer, chunks, read_frames, run_blocks, stack_shape
from ._validation import check_labels, check_shifts, check_whole
from .annulus import check_annuli, ring_percentiles
from .errors import CaimgError, RoiError

__all__ = ["Traces", "background_mask", "extract_traces", "neighbour_core"]

# background_mask: fewer background pixels than this -> shrink the dilation and warn
MIN_BACKGROUND_PIXELS = 50
# extract_traces: the background percentile of a frame is taken over at most this many
# background pixels, spread evenly over the mask (every k-th pixel in raster order). The
# standard error of a median of 10 000 samples is about 1.3 % of the pixel noise SD, while
# a percentile over every background pixel (np.partition is linear in their number) would
# cost more per frame than the whole ROI extraction.
MAX_BACKGROUND_SAMPLES = 10_000
#: neighbour_core: a ROI whose core would keep less than this fraction of its pixels keeps
#: them all (a small cell wedged between others: a trace from a handful of pixels would
#: trade the neighbours' light for noise, and the ROI must keep a trace)
MIN_CORE_FRACTION = 1.0 / 3.0


@dataclass(frozen=True)
class Traces:
    """Per-ROI traces of one channel.

    Attributes
    ----------
    roi_ids : ndarray, (R,) int
        Label values, sorted; column ``j`` of ``means`` belongs to ROI ``roi_ids[j]``.
    means : ndarray, (T, R) float64
        Mean raw intensity of each ROI in each frame (after the shifts).
    background : ndarray, (T,) float64 or None
        Per-frame percentile of the background pixels; ``None`` without a background mask,
        NaN where the mask is empty.
    n_pixels : ndarray, (R,) int
        Pixels per ROI.
    roi_background : ndarray, (T, R) float64 or None
        Local background of each ROI (percentile of its ring, :mod:`caimg.annulus`);
        ``None`` unless ``annuli`` was given. Columns of ROIs whose ring is too small
        (``Annuli.fallback``) hold ``background`` (NaN without a background mask).
    """

    roi_ids: np.ndarray
    means: np.ndarray
    background: np.ndarray | None
    n_pixels: np.ndarray
    roi_background: np.ndarray | None = None


def background_mask(labels, *, dilation_px=4) -> np.ndarray:
    """Pixels far from every ROI, for the background estimate.

    Parameters
    ----------
    labels : array-like, (Y, X) int
        Label image, 0 = background.
    dilation_px : int
        Pixels closer than or as close as this (Euclidean distance, in pixels) to any ROI
        pixel are excluded.

    Returns
    -------
    mask : ndarray, (Y, X) bool
        True where the pixel is in no ROI and farther than ``dilation_px`` from every ROI.
        All True when there are no ROIs.

    Warns
    -----
    UserWarning
        When fewer than ``MIN_BACKGROUND_PIXELS`` (50) pixels remain: the dilation is
        reduced step by step (down to 0 = every pixel outside the ROIs) until enough remain,
        and the warning says which dilation was used.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((20, 20), int); lab[8:12, 8:12] = 1
    >>> m = background_mask(lab, dilation_px=2)
    >>> bool(m[9, 9]), bool(m[9, 13]), bool(m[9, 15]), int(m.sum())
    (False, False, True, 348)
    """
    lab = check_labels(labels)
    check_whole(dilation_px, "dilation_px", minimum=0)
    roi = lab != 0
    if not roi.any():
        return np.ones(lab.shape, bool)
    from scipy import ndimage  # lazy: keeps `import caimg.traces` light

    dist = ndimage.distance_transform_edt(~roi)
    used = int(dilation_px)
    mask = dist > used
    while mask.sum() < MIN_BACKGROUND_PIXELS and used > 0:
        used -= 1
        mask = dist > used
    n = int(mask.sum())
    if used != dilation_px:
        warnings.warn(f"background_mask: only {int((dist > dilation_px).sum())} pixels are "
                      f"farther than dilation_px={dilation_px} from every ROI; used "
                      f"dilation_px={used} ({n} pixels) instead", stacklevel=2)
    if n < MIN_BACKGROUND_PIXELS:
        warnings.warn(f"background_mask: only {n} pixels lie outside the ROIs (expected at "
                      f"least {MIN_BACKGROUND_PIXELS}); the background estimate will be noisy"
                      + (" or NaN" if n == 0 else ""), stacklevel=2)
    return mask


def neighbour_core(labels, *, gap_px=2):
    """The ROIs without their pixels next to another ROI: the pixels a trace averages.

    A pixel within ``gap_px`` of a different ROI holds light of that neighbour (the
    optical blur of its edge, the residual of motion correction, a boundary drawn a pixel
    off): a non-responding cell touching a responding one shows a small copy of the
    neighbour's response in its trace, often enough noise SDs to be called a responder.
    Leaving those pixels out of the average removes most of that light at the cost of a
    few pixels of the cell's own; it is the ROI-side twin of the ring's gap
    (:func:`caimg.annulus.annuli`). Pixels next to the background stay in.

    Parameters
    ----------
    labels : array-like, (Y, X) int
        Label image, 0 = background.
    gap_px : float
        ROI pixels at Euclidean distance <= ``gap_px`` from a pixel of another ROI are left
        out; 0 leaves every pixel in.

    Returns
    -------
    core : ndarray, (Y, X), the dtype of ``labels``
        The label image with those pixels set to 0. A ROI whose core would keep fewer than
        ``MIN_CORE_FRACTION`` (1/3) of its pixels keeps all of them, so every ROI of
        ``labels`` is in ``core``.
    kept_whole : ndarray, (K,) int64
        The touching ROIs that kept every pixel for that reason.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((6, 12), int); lab[1:5, 1:6] = 1; lab[1:5, 6:11] = 2
    >>> core, whole = neighbour_core(lab, gap_px=2)
    >>> core[2].tolist(), whole.tolist()
    ([0, 1, 1, 1, 0, 0, 0, 0, 2, 2, 2, 0], [])
    """
    lab = check_labels(labels)
    if isinstance(gap_px, bool) or not isinstance(gap_px, (int, float, np.number)) \
            or not 0.0 <= float(gap_px) <= 50.0:
        raise CaimgError(f"'gap_px' = {gap_px!r}: expected a distance in pixels from 0 to 50 "
                         f"(background.neighbour_gap_px, e.g. 2)")
    if float(gap_px) < 1.0 or not lab.any():
        return lab.copy(), np.zeros(0, np.int64)
    from scipy import ndimage  # lazy: keeps `import caimg.traces` light

    r = int(math.floor(gap_px))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disk = yy * yy + xx * xx <= float(gap_px) ** 2
    # another label within the disk: a larger one (max filter) or a smaller non-zero one
    # (min filter with the background lifted above every label)
    top = ndimage.maximum_filter(lab, footprint=disk, mode="constant", cval=0)
    lifted = np.where(lab == 0, np.iinfo(lab.dtype).max, lab)
    bottom = ndimage.minimum_filter(lifted, footprint=disk, mode="nearest")
    near = (lab != 0) & ((top > lab) | (bottom < lab))
    core = np.where(near, 0, lab).astype(lab.dtype)
    area = np.bincount(lab.ravel())
    kept = np.bincount(core.ravel(), minlength=area.size)
    whole = np.flatnonzero((kept < MIN_CORE_FRACTION * area) & (kept < area))
    whole = whole[whole > 0].astype(np.int64)
    if whole.size:
        m = np.isin(lab, whole)
        core[m] = lab[m]
    return core, whole


def _pixel_runs(rows, cols, col_of, nx):
    """Raster-ordered pixel list -> runs of consecutive columns in one row and one ROI:
    (flat index of the first pixel, run length, ROI column), each (N,) int64.
    """
    if rows.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    new = np.ones(rows.size, bool)
    new[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1] + 1) | (col_of[1:] != col_of[:-1])
    starts = np.flatnonzero(new)
    lengths = np.diff(np.append(starts, rows.size))
    return ((rows[starts] * nx + cols[starts]).astype(np.int64), lengths.astype(np.int64),
            col_of[starts].astype(np.int64))


def _shift_parts(shifts, t):
    if shifts.shape[0] == 0:
        return 0, 0, 0.0, 0.0
    sr, sc = -shifts[t, 0], -shifts[t, 1]
    fr, fc = math.floor(sr), math.floor(sc)
    return fr, fc, sr - fr, sc - fc


def _roi_sums_numpy(frames, shifts, rows, cols, col_of, out):
    """Sum ROIs in numpy: twin of :func:`caimg._kernels.roi_sums` (gather, ``np.bincount``)."""
    n, ny, nx = frames.shape
    nr = out.shape[1]
    flat = frames.reshape(n, ny * nx)
    base = rows * nx + cols
    rmin, rmax, cmin, cmax = rows.min(), rows.max(), cols.min(), cols.max()
    for t in range(n):
        ir, ic, wr, wc = _shift_parts(shifts, t)
        f = flat[t]
        if (rmin + ir >= 0 and rmax + ir + 1 <= ny - 1
                and cmin + ic >= 0 and cmax + ic + 1 <= nx - 1):
            i00 = base + (ir * nx + ic)  # inside the frame: no clipping needed
            i01, i10, i11 = i00 + 1, i00 + nx, i00 + nx + 1
        else:
            r0 = np.clip(rows + ir, 0, ny - 1) * nx
            r1 = np.clip(rows + ir + 1, 0, ny - 1) * nx
            c0 = np.clip(cols + ic, 0, nx - 1)
            c1 = np.clip(cols + ic + 1, 0, nx - 1)
            i00, i01, i10, i11 = r0 + c0, r0 + c1, r1 + c0, r1 + c1
        if wr == 0.0 and wc == 0.0:
            v = f.take(i00).astype(np.float64)
        else:
            v = (1.0 - wr) * (1.0 - wc) * f.take(i00).astype(np.float64)
            v += (1.0 - wr) * wc * f.take(i01)
            v += wr * (1.0 - wc) * f.take(i10)
            v += wr * wc * f.take(i11)
        out[t] = np.bincount(col_of, weights=v, minlength=nr)
    return out


def _gather_numpy(frames, shifts, rows, cols, out):
    """Gather pixels in numpy: twin of :func:`caimg._kernels.gather_pixels` (nearest pixel)."""
    n, ny, nx = frames.shape
    flat = frames.reshape(n, ny * nx)
    for t in range(n):
        ir = ic = 0
        if shifts.shape[0]:
            ir, ic = int(np.rint(-shifts[t, 0])), int(np.rint(-shifts[t, 1]))
        idx = np.clip(rows + ir, 0, ny - 1) * nx + np.clip(cols + ic, 0, nx - 1)
        out[t] = flat[t][idx]
    return out


def _gather(kernels, frames, shifts, rows, cols, out):
    """Pixel list values at the nearest shifted position (compiled or numpy) -> ``out``."""
    if kernels is not None:
        kernels.gather_pixels(frames, shifts, rows, cols, out)
    else:
        _gather_numpy(frames, shifts, rows, cols, out)
    return out


def _percentile_rows(vals, q, out, compiled):
    """``out[:] = np.percentile(vals, q, axis=1)``, the same numbers, for ``vals`` (n, P)
    float32 with P >= 1 and ``q`` a float in 0..100.

    With ``compiled``, the two order statistics numpy interpolates between come from
    :func:`caimg._ring_kernels.row_order_stats` (a selection in a bracket that follows the
    background from frame to frame, ~4x faster than ``np.percentile``'s partition); the
    interpolation is numpy's own, step by step (``numpy.lib._function_base_impl._lerp``
    with a Python-float weight: float32 arithmetic), and a row with a NaN gives NaN.
    """
    if not compiled:
        out[:] = np.percentile(vals, q, axis=1)
        return out
    import importlib

    n, p = vals.shape
    index = (p - 1) * np.true_divide(q, 100)  # numpy's "linear" virtual index, float64
    if index >= p - 1:  # numpy takes the last value twice; its weight is index + 1
        lo, want_next, gamma = p - 1, False, float(index + 1)
    else:
        lo = int(np.floor(index))
        want_next, gamma = True, float(index - lo)
    stats = np.empty((n, 3))
    importlib.import_module("._ring_kernels", __package__).row_order_stats(
        vals, lo, want_next, stats)
    a = stats[:, 0].astype(np.float32)
    b = stats[:, 1].astype(np.float32)
    diff = b - a
    res = a + diff * gamma
    if gamma >= 0.5:
        res = b - diff * (1 - gamma)
    res[stats[:, 2] != 0] = np.nan
    out[:] = res
    return out


def _background_samples(background, yx):
    """(rows, cols) int64 of at most about MAX_BACKGROUND_SAMPLES pixels of the mask, spread
    evenly over it in raster order.
    """
    bg = np.asarray(background)
    if bg.shape != yx:
        raise RoiError(f"'background' mask has shape {bg.shape}; expected the frame shape "
                       f"{yx}")
    if bg.dtype != bool:
        raise RoiError(f"'background' mask has dtype {bg.dtype}; expected bool "
                       f"(e.g. from caimg.background_mask)")
    bg_rows, bg_cols = np.nonzero(bg)
    step = max(1, -(-bg_rows.size // MAX_BACKGROUND_SAMPLES))
    return bg_rows[::step].astype(np.int64), bg_cols[::step].astype(np.int64)


def extract_traces(stack, labels, *, shifts=None, background=None, background_percentile=50.0,
                   annuli=None, chunk_frames=64) -> Traces:
    r"""Mean intensity of every ROI in every frame, and a per-frame background.

    Parameters
    ----------
    stack : array-like, (T, Y, X)
        One channel; any real integer or float dtype; a numpy array, a memory map or a lazy
        object whose ``stack[t0:t1]`` returns numpy. Read in chunks, never modified.
    labels : array-like, (Y, X) int
        ROI label image in the reference geometry, 0 = background. Bool labels, and float
        labels whose values are all whole numbers, are read as integers (the rule of
        :func:`caimg._validation.check_labels`).
    shifts : array-like, (T, 2), optional
        ``(d_row, d_col)`` per frame as returned by :func:`caimg.register`. ROI pixel
        ``(r, c)`` is read from the frame at ``(r - d_row, c - d_col)``.
    background : array-like, (Y, X) bool, optional
        Background pixels (e.g. :func:`background_mask`). ``None``: no background.
    background_percentile : float
        Percentile (0-100, linear interpolation) of the background pixels per frame (of the
        global mask, and of each ring).
    annuli : caimg.annulus.Annuli, optional
        Local background rings (:func:`caimg.annulus.annuli` of the same labels): adds
        ``roi_background``, the ``background_percentile`` of each ROI's ring per frame.
    chunk_frames : int
        Frames read at a time.

    Returns
    -------
    Traces
        ``means`` (T, R) float64, ``background`` (T,) float64 or None, ``roi_ids`` (R,),
        ``n_pixels`` (R,). With no ROIs, ``means`` has shape (T, 0).

    Notes
    -----
    For ROI ``j`` with pixel set ``P_j`` and frame ``f_t`` shifted by ``(dr, dc)``:

    .. math:: m_{t,j} = \frac{1}{|P_j|}\sum_{(r,c)\in P_j} f_t(r - dr, c - dc)

    where ``f_t`` at a fractional position is the bilinear interpolation of its four
    neighbouring pixels, and positions outside the frame are clipped to the edge (the same
    sampling as :func:`caimg.apply_shifts`, so the traces equal the ROI means of the
    registered movie). Whole-pixel shifts read pixel values exactly. Bilinear rather than
    nearest-pixel sampling keeps subpixel motion from showing up as half-pixel jumps at
    ROI edges.

    The background of frame ``t`` is the ``background_percentile`` percentile of the
    background pixels, read at the nearest whole-pixel shifted position (so it is a
    percentile of real pixel values). Masks with more than ``MAX_BACKGROUND_SAMPLES``
    (10 000) pixels are sampled evenly down to about that many.

    Each ring is read like the global background (nearest whole-pixel shift, real pixel
    values); its percentile is taken over all its pixels, unsampled.

    Sums are accumulated in float64. Memory: one chunk of raw frames plus (chunk, R) and
    (chunk, background samples) buffers; nothing grows with T except the traces.

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.arange(2 * 4 * 4, dtype=np.uint16).reshape(2, 4, 4)
    >>> lab = np.zeros((4, 4), int); lab[0, :2] = 1; lab[3, 3] = 2
    >>> tr = extract_traces(stack, lab)
    >>> tr.roi_ids.tolist(), tr.means.tolist(), tr.n_pixels.tolist()
    ([1, 2], [[0.5, 15.0], [16.5, 31.0]], [2, 1])
    """
    n_frames, ny, nx = stack_shape(stack)
    chunk_frames = check_whole(chunk_frames, "chunk_frames", minimum=1)
    lab = check_labels(labels, (ny, nx))
    s = np.zeros((0, 2)) if shifts is None else check_shifts(shifts, n_frames)
    if isinstance(background_percentile, bool) or not isinstance(
            background_percentile, (int, float, np.number)) \
            or not 0.0 <= float(background_percentile) <= 100.0:
        raise CaimgError(f"'background_percentile' = {background_percentile!r}: expected a "
                         f"number from 0 to 100")

    rows, cols = np.nonzero(lab)
    roi_ids = np.unique(lab[rows, cols]).astype(np.int64)
    n_rois = roi_ids.size
    col_of = np.searchsorted(roi_ids, lab[rows, cols]).astype(np.int64)
    n_pixels = np.bincount(col_of, minlength=n_rois).astype(np.int64)
    rows = rows.astype(np.int64)
    cols = cols.astype(np.int64)
    run_start, run_len, run_col = _pixel_runs(rows, cols, col_of, nx)

    ring = check_annuli(annuli, roi_ids)
    bg_rows = bg_cols = None
    if background is not None:
        bg_rows, bg_cols = _background_samples(background, (ny, nx))
    kernels = kernels_or_none()
    q = float(background_percentile)
    means = np.empty((n_frames, n_rois))
    bg_trace = None if background is None else np.full(n_frames, np.nan)
    roi_bg = None if ring is None else np.full((n_frames, n_rois), np.nan)
    nbuf = min(chunk_frames, max(n_frames, 1))
    sums = np.empty((nbuf, n_rois))
    bg_vals = None if bg_rows is None else np.empty((nbuf, bg_rows.size), np.float32)
    ring_vals = None if ring is None else np.empty((nbuf, ring.rows.size), np.float32)
    inv_n = 1.0 / np.maximum(n_pixels, 1)
    rbuf = ReadBuffer()
    for t0, t1 in chunks(n_frames, chunk_frames):
        if n_rois == 0 and (bg_rows is None or bg_rows.size == 0):
            break
        chunk = read_frames(stack, t0, t1, (ny, nx), rbuf)
        sh = s[t0:t1] if s.shape[0] else s
        n = t1 - t0
        if n_rois:
            out = sums[:n]
            if kernels is not None:
                run_blocks(n, lambda a, b, chunk=chunk, sh=sh, out=out: kernels.roi_sums(
                    chunk[a:b], sh[a:b] if sh.shape[0] else sh, run_start, run_len, run_col,
                    out[a:b]))
            else:
                _roi_sums_numpy(chunk, sh, rows, cols, col_of, out)
            np.multiply(out, inv_n, out=means[t0:t1])

        def background_block(a, b, chunk=chunk, sh=sh, t0=t0):
            shb = sh[a:b] if sh.shape[0] else sh
            if bg_rows is not None and bg_rows.size:
                vals = _gather(kernels, chunk[a:b], shb, bg_rows, bg_cols, bg_vals[a:b])
                # the kernel (and np.partition) release the GIL: blocks run in parallel
                _percentile_rows(vals, q, bg_trace[t0 + a:t0 + b], kernels is not None)
            if ring is not None and ring.rows.size:
                vals = _gather(kernels, chunk[a:b], shb, ring.rows, ring.cols, ring_vals[a:b])
                ring_percentiles(vals, ring, q=q, out=roi_bg[t0 + a:t0 + b])

        if bg_rows is not None and bg_rows.size or ring is not None and ring.rows.size:
            run_blocks(n, background_block)
    if ring is not None and ring.fallback.any():
        roi_bg[:, ring.fallback] = np.nan if bg_trace is None else bg_trace[:, None]
    return Traces(roi_ids=roi_ids, means=means, background=bg_trace, n_pixels=n_pixels,
                  roi_background=roi_bg)

"""numba kernels for the streaming hot loops of :mod:`caimg.motion` and :mod:`caimg.traces`.

This module imports numba at its top, so it is itself imported lazily, on first use, through
:func:`caimg._backend.kernels_or_none`; ``import caimg.traces`` / ``caimg.motion`` never
import numba. Every kernel has a pure-numpy twin in the calling module that gives the same numbers
to float32 precision; ``CAIMG_NO_NUMBA=1`` (checked at every call) or a failing numba import
selects the twins.

The kernels are serial and release the GIL (``nogil``); the callers split the work into
blocks (frames or rows) over one shared Python thread pool (:func:`caimg._stream.run_blocks`),
the same pool that runs the FFTs of the shift estimator. No OpenMP: its idle threads
spin-wait after each parallel region and then steal the cores from the FFT threads (this
halved registration speed on 2 cores), GNU OpenMP is not fork-safe (batches use
processes), and numba's fallback "workqueue" layer aborts on concurrent launches.

Shift convention everywhere (``scipy.ndimage.shift``): a frame shifted by ``(dr, dc)`` is
``aligned(r, c) = frame(r - dr, c - dc)``, sampled bilinearly, with edge replication
(source coordinates are clipped to the frame).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ._csv_kernels import format_csv

__all__ = ["shift_frames", "accumulate_summary", "roi_sums", "gather_pixels", "taper_frames",
           "whiten_product", "correlation_peaks", "add_frames", "shift_accumulate32",
           "shift_add", "frame_stats", "format_csv"]


@nb.njit(cache=True, nogil=True)
def shift_frames(frames, shifts, out):  # pragma: no cover - compiled
    """Bilinear shift of each frame, edges replicated.

    frames (n, Y, X) any real dtype; shifts (n, 2) float64; out (n, Y, X) float32.
    Row by row through :func:`_shifted_row32` with float64 weights (contiguous slices, so
    the interior vectorises: 4-5x faster than gathering through per-column index arrays).
    """
    n = frames.shape[0]
    ny = frames.shape[1]
    ir = np.empty(n, np.int64)
    icol = np.empty(n, np.int64)
    w = np.empty((n, 4), np.float64)
    _split_shifts(shifts, 0, ir, icol, w)
    for t in range(n):
        f = frames[t]
        for r in range(ny):
            _shifted_row32(f, r, ir[t], icol[t], w[t], out[t, r])


@nb.njit(cache=True, nogil=True)
def accumulate_summary(buf, centre, s, ss, mx, cross, r_start, r_stop):  # pragma: no cover
    """Add the frames of ``buf`` (n, Y, X) to the running summary sums, in place.

    With ``x = frame - centre``: ``s += x``, ``ss += x**2``, ``mx = max(mx, frame)``, and
    ``cross[k] += x(p) * x(p + d_k)`` for the four neighbour offsets
    d = (0, +1), (+1, 0), (+1, +1), (+1, -1). Accumulators are float64 (Y, X). Only rows
    ``r_start:r_stop`` are updated (they read row ``r_stop`` too), so threads can share the
    work by row blocks.
    """
    n, ny, nx = buf.shape
    for r in range(r_start, r_stop):
        x = np.empty(nx, np.float64)
        xd = np.empty(nx, np.float64)
        for t in range(n):
            for c in range(nx):
                v = buf[t, r, c]
                x[c] = v - centre[r, c]
                if v > mx[r, c]:
                    mx[r, c] = v
            for c in range(nx):
                s[r, c] += x[c]
                ss[r, c] += x[c] * x[c]
            for c in range(nx - 1):
                cross[0, r, c] += x[c] * x[c + 1]
            if r + 1 < ny:
                for c in range(nx):
                    xd[c] = buf[t, r + 1, c] - centre[r + 1, c]
                for c in range(nx):
                    cross[1, r, c] += x[c] * xd[c]
                for c in range(nx - 1):
                    cross[2, r, c] += x[c] * xd[c + 1]
                for c in range(1, nx):
                    cross[3, r, c] += x[c] * xd[c - 1]


@nb.njit(cache=True, nogil=True)
def roi_sums(frames, shifts, run_start, run_len, run_col, out):  # pragma: no cover - compiled
    """Per-ROI sums of bilinearly shifted pixel values, one row of ``out`` per frame.

    frames (n, Y, X) C-contiguous; shifts (n, 2) float64 or a (0, 2) array for no shift;
    run_start, run_len, run_col (N,) int64: the ROI pixels as runs of consecutive columns in
    one row and one ROI (flat index ``r * X + c`` of the first pixel, length, column in
    ``out``), built by :func:`caimg.traces.extract_traces`; out (n, R) float64,
    overwritten. Pixel ``(r, c)`` is read at ``(r - dr, c - dc)``.

    A run whose source pixels (plus the bilinear neighbours that carry weight) lie inside
    the frame is summed over contiguous memory with no clipping and no scatter: for a run of
    length L starting at flat index i on source rows r0 and r1 = r0 + 1,
    ``sum = (1-wr) ((1-wc) A0 + wc B0) + wr ((1-wc) A1 + wc B1)`` with ``A = sum f[i:i+L]``
    and ``B = sum f[i+1:i+L+1]`` on each row (one pass: both share ``f[i+1:i+L]``). The
    inside test is per run and per frame, so ROIs touching the border cost extra only for
    their own clipped runs (pixel by pixel, edge replication). A neighbour with zero weight
    is never read, so whole-pixel shifts need no neighbour inside the frame.
    """
    n, ny, nx = frames.shape
    nruns = run_start.shape[0]
    has_shift = shifts.shape[0] > 0
    run_r = np.empty(nruns, np.int64)
    run_c = np.empty(nruns, np.int64)
    for j in range(nruns):
        run_r[j] = run_start[j] // nx
        run_c[j] = run_start[j] - run_r[j] * nx
    for t in range(n):
        o = out[t]
        for j in range(out.shape[1]):
            o[j] = 0.0
        sr = 0.0
        sc = 0.0
        if has_shift:
            sr = -shifts[t, 0]
            sc = -shifts[t, 1]
        fr = math.floor(sr)
        fc = math.floor(sc)
        wr = sr - fr
        wc = sc - fc
        if wr == 0.0 and wc == 0.0:
            _add_runs_whole(frames[t], int(fr), int(fc), run_start, run_len, run_col, run_r,
                            run_c, o)
        else:
            _add_runs_bilinear(frames[t], int(fr), int(fc), wr, wc, run_start, run_len, run_col,
                               run_r, run_c, o)


@nb.njit(cache=True, nogil=True)
def _add_runs_whole(frame, ir, ic, run_start, run_len, run_col, run_r, run_c,
                    o):  # pragma: no cover - compiled
    """:func:`roi_sums` of one frame read at a whole-pixel offset ``(ir, ic)``: add each
    run's sum to ``o[run_col]``.
    """
    ny, nx = frame.shape
    f = frame.reshape(ny * nx)
    off = ir * nx + ic
    # a run is read without clipping when its source row r + ir and columns
    # c + ic .. c + L - 1 + ic lie inside the frame
    r_lo = -ir
    r_hi = ny - 1 - ir
    c_lo = -ic
    c_hi = nx - 1 - ic
    for j in range(run_start.shape[0]):
        r = run_r[j]
        c = run_c[j]
        ln = run_len[j]
        if r >= r_lo and r <= r_hi and c >= c_lo and c + ln - 1 <= c_hi:
            i0 = run_start[j] + off
            acc = 0.0
            for i in range(i0, i0 + ln):
                acc += f[i]
            o[run_col[j]] += acc
        else:
            rr = min(max(r + ir, 0), ny - 1)
            acc = 0.0
            for cc in range(c, c + ln):
                acc += frame[rr, min(max(cc + ic, 0), nx - 1)]
            o[run_col[j]] += acc


@nb.njit(cache=True, nogil=True)
def _add_runs_bilinear(frame, ir, ic, wr, wc, run_start, run_len, run_col, run_r, run_c,
                       o):  # pragma: no cover - compiled
    """:func:`roi_sums` of one frame read at ``(ir + wr, ic + wc)``, ``0 <= wr, wc < 1`` not
    both 0: add each run's bilinearly interpolated sum to ``o[run_col]``.
    """
    ny, nx = frame.shape
    f = frame.reshape(ny * nx)
    off = ir * nx + ic
    a00 = (1.0 - wr) * (1.0 - wc)
    a01 = (1.0 - wr) * wc
    a10 = wr * (1.0 - wc)
    a11 = wr * wc
    # a run is read without clipping when its source rows r + ir (+ 1 if wr > 0) and
    # columns c + ic .. c + L - 1 + ic (+ 1) lie inside the frame
    r_lo = -ir
    r_hi = ny - 1 - ir - (1 if wr != 0.0 else 0)
    c_lo = -ic
    c_hi = nx - 1 - ic - (1 if wc != 0.0 else 0)
    for j in range(run_start.shape[0]):
        r = run_r[j]
        c = run_c[j]
        ln = run_len[j]
        if r >= r_lo and r <= r_hi and c >= c_lo and c + ln - 1 <= c_hi:
            i0 = run_start[j] + off
            i1 = i0 + ln
            s0 = 0.0
            s1 = 0.0
            for i in range(i0 + 1, i1):
                s0 += f[i]
                s1 += f[i + nx]
            # sums over [i0, i1) and [i0 + 1, i1 + 1) on both rows
            x0 = f[i0] + s0
            y0 = s0 + f[i1] if wc != 0.0 else 0.0
            if wr != 0.0:
                x1 = f[i0 + nx] + s1
                y1 = s1 + f[i1 + nx] if wc != 0.0 else 0.0
            else:
                x1 = 0.0
                y1 = 0.0
            o[run_col[j]] += a00 * x0 + a01 * y0 + a10 * x1 + a11 * y1
        else:
            r0 = min(max(r + ir, 0), ny - 1)
            r1 = min(max(r + ir + 1, 0), ny - 1)
            acc = 0.0
            for cc in range(c, c + ln):
                c0 = min(max(cc + ic, 0), nx - 1)
                c1 = min(max(cc + ic + 1, 0), nx - 1)
                acc += (a00 * frame[r0, c0] + a01 * frame[r0, c1]
                        + a10 * frame[r1, c0] + a11 * frame[r1, c1])
            o[run_col[j]] += acc


@nb.njit(cache=True, nogil=True)
def gather_pixels(frames, shifts, rows, cols, out):  # pragma: no cover - compiled
    """Values of the pixel list at the nearest source pixel ``(r - round(dr), c - round(dc))``.

    frames (n, Y, X); shifts (n, 2) float64 or (0, 2); rows, cols (P,) int64;
    out (n, P) float32, overwritten. Rounding is ``np.rint`` (half to even), as in the
    numpy twin.
    """
    n, ny, nx = frames.shape
    npix = rows.shape[0]
    has_shift = shifts.shape[0] > 0
    for t in range(n):
        ir = 0
        ic = 0
        if has_shift:
            ir = int(np.rint(-shifts[t, 0]))
            ic = int(np.rint(-shifts[t, 1]))
        for k in range(npix):
            r = min(max(rows[k] + ir, 0), ny - 1)
            c = min(max(cols[k] + ic, 0), nx - 1)
            out[t, k] = frames[t, r, c]


@nb.njit(cache=True, nogil=True, fastmath=True)
def taper_frames(frames, r0, c0, taper, out):  # pragma: no cover - compiled
    """``out[t] = (crop_t - mean(crop_t)) * taper`` for the crops ``frames[t, r0:r0+h,
    c0:c0+w]``; frames (n, Y, X) any real dtype, C-contiguous (whole frames, so each crop
    row is a contiguous slice and the loops vectorise: ~6x faster than indexing a strided
    crop view), taper (h, w) and out (n, h, w) float32. Serial: called from several threads
    at once.
    """
    n, h, w = out.shape
    for t in range(n):
        frame = frames[t]
        acc = 0.0
        for r in range(h):
            fr = frame[r0 + r, c0:c0 + w]
            for c in range(w):
                acc += fr[c]
        m = np.float32(acc / (h * w))
        for r in range(h):
            fr = frame[r0 + r, c0:c0 + w]
            tr = taper[r]
            o = out[t, r]
            for c in range(w):
                o[c] = (np.float32(fr[c]) - m) * tr[c]


@nb.njit(cache=True, nogil=True, fastmath=True)
def whiten_product(spec, refk):  # pragma: no cover - compiled
    """In place, for every spectrum ``t``: ``spec[t] = spec[t] * refk / sqrt(|spec[t]|)``
    (0 where ``spec[t] == 0``).

    spec (n, h, 2 w') and refk (h, 2 w') are float32 views of C-contiguous complex64
    arrays (interleaved real, imaginary), so the loops vectorise. Serial: called from
    several threads at once.

    ``|z| ** -0.5 = (|z|^2 + tiny) ** -0.25`` is computed as a bit-level first guess
    (exponent / 4, as in the classic fast inverse square root) refined by three Newton steps
    ``y <- y (5/4 - x y^4 / 4)``: relative error <= 1.6e-7 (about one float32 ulp) over the
    whole float32 range, and 5x faster here than ``1 / sqrt(sqrt(x))``, whose two square
    roots and division dominated the whole product (this CPU's vector square root is slow).
    Non-finite ``|z|^2`` gives 0.
    """
    n, h, w2 = spec.shape
    w = w2 // 2
    tiny = np.float32(1e-30)
    big = np.float32(3e38)
    magic = np.int32(0x4F58CAE4)
    c125 = np.float32(1.25)
    c025 = np.float32(0.25)
    a2 = np.empty(w, np.float32)
    g = np.empty(w, np.float32)
    gi = g.view(np.int32)
    ai = a2.view(np.int32)
    for t in range(n):
        for r in range(h):
            sp = spec[t, r]
            rk = refk[r]
            for c in range(w):
                a2[c] = sp[2 * c] * sp[2 * c] + sp[2 * c + 1] * sp[2 * c + 1] + tiny
            for c in range(w):
                gi[c] = magic - (ai[c] >> 2)
            for c in range(w):
                x = a2[c]
                y = g[c]
                y2 = y * y
                y = y * (c125 - c025 * x * y2 * y2)
                y2 = y * y
                y = y * (c125 - c025 * x * y2 * y2)
                y2 = y * y
                y = y * (c125 - c025 * x * y2 * y2)
                g[c] = y if x < big else np.float32(0.0)
            for c in range(w):
                re = sp[2 * c]
                im = sp[2 * c + 1]
                kr = rk[2 * c]
                ki = rk[2 * c + 1]
                sp[2 * c] = (re * kr - im * ki) * g[c]
                sp[2 * c + 1] = (re * ki + im * kr) * g[c]


@nb.njit(cache=True, nogil=True)
def correlation_peaks(rows, ci, upsample_factor, max_shift, out):  # pragma: no cover
    """Shift of each frame from its correlation rows: the largest value in the search window,
    a parabola through the log of it and its neighbours for the subpixel part, rounded to
    ``1 / upsample_factor`` and clipped to ``max_shift`` (same steps as the numpy path of
    ``_ShiftEstimator.estimate``).

    rows (n, 2 mr + 3, w) float32: the correlation at row lags ``-mr-1 .. mr+1``; ci
    (2 mc + 3,) int: the columns of lags ``-mc-1 .. mc+1``; out (n, 2) float64 receives
    ``(d_row, d_col)``. A frame whose peak is not positive (or with NaN in the window) gets
    ``(0, 0)``.
    """
    n, nr, _ = rows.shape
    nc = ci.shape[0]
    mr = (nr - 3) // 2
    mc = (nc - 3) // 2
    for t in range(n):
        best = -np.inf
        bi = -1
        bj = -1
        bad = False
        for i in range(1, nr - 1):
            for j in range(1, nc - 1):
                v = rows[t, i, ci[j]]
                if v != v:
                    bad = True
                elif v > best:
                    best = v
                    bi = i
                    bj = j
        if bad or not best > 0:
            out[t, 0] = 0.0
            out[t, 1] = 0.0
            continue
        mid = np.float64(rows[t, bi, ci[bj]])
        pr = (bi - mr - 1) + _subpixel(np.float64(rows[t, bi - 1, ci[bj]]), mid,
                                       np.float64(rows[t, bi + 1, ci[bj]]))
        pc = (bj - mc - 1) + _subpixel(np.float64(rows[t, bi, ci[bj - 1]]), mid,
                                       np.float64(rows[t, bi, ci[bj + 1]]))
        for k in range(2):
            v = np.rint(-(pr if k == 0 else pc) * upsample_factor) / upsample_factor
            out[t, k] = min(max(v, -max_shift), max_shift) + 0.0


@nb.njit(cache=True, nogil=True)
def _subpixel(lo, mid, hi):  # pragma: no cover - compiled
    """Vertex offset in [-0.5, 0.5] of the parabola through (-1, lo), (0, mid), (1, hi),
    on the logs when all three are positive (as caimg.motion._subpixel).
    """
    if lo > 0 and mid > 0 and hi > 0:
        lo = math.log(lo)
        mid = math.log(mid)
        hi = math.log(hi)
    den = lo - 2.0 * mid + hi
    if not den < 0:
        return 0.0
    return min(0.5, max(-0.5, 0.5 * (lo - hi) / den))


@nb.njit(cache=True, nogil=True)
def add_frames(frames, acc, r_start, r_stop):  # pragma: no cover - compiled
    """``acc[r] += frames[:, r].sum(axis=0)`` for rows ``r_start:r_stop``; acc (Y, X) float64."""
    n, _, nx = frames.shape
    for r in range(r_start, r_stop):
        for t in range(n):
            for c in range(nx):
                acc[r, c] += frames[t, r, c]


@nb.njit(cache=True, nogil=True)
def _split_shifts(shifts, start, ir, icol, w):  # pragma: no cover - compiled
    """Frames ``start .. start + len(ir)``: the source offset of each shift (the frame is read
    at ``(r - dr, c - dc)``) as whole rows/columns ``ir``, ``icol`` and the four bilinear
    weights ``w[t] = (a00, a01, a10, a11)`` of the fractional part (float32 or float64 ``w``).
    """
    for t in range(ir.shape[0]):
        sr = -shifts[start + t, 0]
        sc = -shifts[start + t, 1]
        fr = math.floor(sr)
        fc = math.floor(sc)
        wr = sr - fr
        wc = sc - fc
        ir[t] = int(fr)
        icol[t] = int(fc)
        w[t, 0] = (1.0 - wr) * (1.0 - wc)
        w[t, 1] = (1.0 - wr) * wc
        w[t, 2] = wr * (1.0 - wc)
        w[t, 3] = wr * wc


@nb.njit(cache=True, nogil=True)
def _shifted_row32(f, r, ir, ic, w, out):  # pragma: no cover - compiled
    """Row ``r`` of frame ``f`` shifted as in :func:`shift_frames`, with the bilinear weights
    ``w = (a00, a01, a10, a11)``, into ``out`` (X,) float32. With float64 weights the values
    are exactly shift_frames' (same products, same order); with float32 weights they agree
    to float32 precision. Whole-pixel shifts copy values exactly.
    """
    ny = f.shape[0]
    nx = f.shape[1]
    r0 = min(max(r + ir, 0), ny - 1)
    r1 = min(max(r + ir + 1, 0), ny - 1)
    lo = min(max(-ic, 0), nx)
    hi = max(min(nx - 1 - ic, nx), lo)
    fa = f[r0]
    fb = f[r1]
    a00 = w[0]
    a01 = w[1]
    a10 = w[2]
    a11 = w[3]
    # interior through slices indexed by non-negative range variables: numba then drops its
    # negative-index wraparound selects and the loop vectorises (10x faster than fa[c + ic])
    n = hi - lo
    ga = fa[lo + ic:hi + ic + 1]
    gb = fb[lo + ic:hi + ic + 1]
    o = out[lo:hi]
    if a01 == 0.0 and a10 == 0.0 and a11 == 0.0:
        for j in range(n):
            o[j] = np.float32(ga[j])
    else:
        for j in range(n):
            o[j] = (a00 * np.float32(ga[j]) + a01 * np.float32(ga[j + 1])
                    + a10 * np.float32(gb[j]) + a11 * np.float32(gb[j + 1]))
    for c in range(lo):
        _edge_pixel32(fa, fb, c, ic, a00, a01, a10, a11, out)
    for c in range(hi, nx):
        _edge_pixel32(fa, fb, c, ic, a00, a01, a10, a11, out)


@nb.njit(cache=True, nogil=True, inline="always")
def _edge_pixel32(fa, fb, c, ic, a00, a01, a10, a11, out):  # pragma: no cover - compiled
    nx = fa.shape[0]
    c0 = min(max(c + ic, 0), nx - 1)
    c1 = min(max(c + ic + 1, 0), nx - 1)
    if a01 == 0.0 and a10 == 0.0 and a11 == 0.0:
        out[c] = np.float32(fa[c0])
    else:
        out[c] = (a00 * np.float32(fa[c0]) + a01 * np.float32(fa[c1])
                  + a10 * np.float32(fb[c0]) + a11 * np.float32(fb[c1]))


@nb.njit(cache=True, nogil=True, fastmath={"contract", "arcp", "nsz"})
def shift_accumulate32(frames, shifts, centre, s, ss, mx, cross):  # pragma: no cover
    """:func:`shift_frames` then :func:`accumulate_summary` over all rows, fused and in
    float32 arithmetic: the shifted frames are never stored, and the sums equal the two
    kernels' in sequence to float32 precision, about 3x faster than float64 (16-lane
    vectors, row accumulators in L1).

    frames (n, Y, X) any real dtype; shifts (n, 2) float64; accumulators as in
    :func:`accumulate_summary`.

    Frames are taken in blocks of at most 32; for each row, the block's contributions are
    summed in float32 row accumulators (at most 32 terms of centred values, so the relative
    rounding error stays near float32 epsilon) and then added to the float64 accumulators
    ``s, ss, cross`` (and ``mx``, exact). Serial; callers give each thread its own
    accumulators.
    """
    n, ny, nx = frames.shape
    blk = 32
    cen = np.empty((2, nx), np.float32)
    ra = np.zeros((7, nx), np.float32)
    xa = np.empty(nx, np.float32)
    xd = np.empty(nx, np.float32)
    for b0 in range(0, n, blk):
        m = min(n, b0 + blk) - b0
        ir = np.empty(m, np.int64)
        icol = np.empty(m, np.int64)
        w = np.empty((m, 4), np.float32)
        _split_shifts(shifts, b0, ir, icol, w)
        prev = np.empty((m, nx), np.float32)
        cur = np.empty((m, nx), np.float32)
        for t in range(m):
            _shifted_row32(frames[b0 + t], 0, ir[t], icol[t], w[t], prev[t])
        for r in range(ny):
            last = r + 1 >= ny
            for c in range(nx):
                cen[0, c] = np.float32(centre[r, c])
            if not last:
                for c in range(nx):
                    cen[1, c] = np.float32(centre[r + 1, c])
            for k in range(7):
                for c in range(nx):
                    ra[k, c] = 0.0
            rs = ra[0]
            rss = ra[1]
            r0 = ra[2]
            r1 = ra[3]
            r2 = ra[4]
            r3 = ra[5]
            rmx = ra[6]
            for c in range(nx):
                rmx[c] = -np.inf
            c0 = cen[0]
            c1 = cen[1]
            # shifted-by-one views: plain range indices everywhere (no wraparound checks)
            xa1 = xa[1:]
            xd1 = xd[1:]
            r3s = r3[1:]
            for t in range(m):
                pv = prev[t]
                for c in range(nx):
                    v = pv[c]
                    x = v - c0[c]
                    xa[c] = x
                    rs[c] += x
                    rss[c] += x * x
                    rmx[c] = max(rmx[c], v)
                for c in range(nx - 1):
                    r0[c] += xa[c] * xa1[c]
                if not last:
                    cv = cur[t]
                    _shifted_row32(frames[b0 + t], r + 1, ir[t], icol[t], w[t], cv)
                    for c in range(nx):
                        xd[c] = cv[c] - c1[c]
                    for c in range(nx):
                        r1[c] += xa[c] * xd[c]
                    for c in range(nx - 1):
                        r2[c] += xa[c] * xd1[c]
                    for c in range(nx - 1):
                        r3s[c] += xa1[c] * xd[c]
            for c in range(nx):
                s[r, c] += rs[c]
                ss[r, c] += rss[c]
                mx[r, c] = max(mx[r, c], rmx[c])
                cross[0, r, c] += r0[c]
            if not last:
                for c in range(nx):
                    cross[1, r, c] += r1[c]
                    cross[2, r, c] += r2[c]
                    cross[3, r, c] += r3[c]
            prev, cur = cur, prev


@nb.njit(cache=True, nogil=True)
def shift_add(frames, shifts, acc, r_start, r_stop):  # pragma: no cover - compiled
    """``acc[r] += shift_frames(frames, shifts)[:, r].sum(axis=0)`` for rows
    ``r_start:r_stop``, without storing the shifted frames: the same float32 values as
    :func:`shift_frames`, added in frame order. frames (n, Y, X); shifts (n, 2) float64;
    acc (Y, X) float64.
    """
    n, ny, nx = frames.shape
    ir = np.empty(n, np.int64)
    icol = np.empty(n, np.int64)
    w = np.empty((n, 4))
    _split_shifts(shifts, 0, ir, icol, w)
    row = np.empty(nx, np.float32)
    for r in range(r_start, r_stop):
        a = acc[r]
        for t in range(n):
            _shifted_row32(frames[t], r, ir[t], icol[t], w[t], row)
            for c in range(nx):
                a[c] += row[c]


@nb.njit(cache=True, nogil=True)
def frame_stats(frames, sat_value, lo, hi, n_sat):  # pragma: no cover - compiled
    """Per frame of an integer stack: minimum, maximum and the number of pixels equal to
    ``sat_value``, in one pass. frames (n, Y, X) integer, C-contiguous; lo, hi, n_sat (n,)
    int64, overwritten.
    """
    n = frames.shape[0]
    for t in range(n):
        f = frames[t].ravel()
        a = f[0]
        b = f[0]
        k = 0
        for i in range(f.shape[0]):
            v = f[i]
            a = min(a, v)
            b = max(b, v)
            k += v == sat_value
        lo[t] = a
        hi[t] = b
        n_sat[t] = k

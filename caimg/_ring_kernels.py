"""numba kernels of :mod:`caimg.annulus` and :mod:`caimg.traces`: a percentile per
background ring and frame, and the order statistics of the global background per frame.

Imported lazily, on first use (only when :func:`caimg._backend.kernels_or_none` says numba
may be used); the numpy twins are ``caimg.annulus._ring_percentiles_numpy`` and
``np.percentile``. Serial and ``nogil``: the caller splits frames into blocks over the
shared thread pool, like the kernels of :mod:`caimg._kernels`.

Both find order statistics by selection, not sorting, and use that a background changes
little from one frame to the next: each ring (or the global mask) keeps a bracket around
its last frame's answer, at first 1/16 of its values wide. One pass counts the values below the
bracket and copies those inside it; when the wanted rank falls inside, the selection runs
on that short list only (2.5x less work on rings of a few hundred pixels, 4x on the
global mask's 10 000 samples than ``np.percentile``). The answer is
the same order statistic either way (the bracket only decides where to look), so the
numbers equal a full selection's; a frame whose answer left the bracket, or with a NaN,
takes the full selection, and the bracket follows it twice as wide (it narrows again when
it holds more than a quarter of the values).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["ring_percentiles", "row_order_stats"]

#: the bracket spans this fraction of a ring's values either side of the last answer
_BRACKET_FRACTION = 1.0 / 32.0


@nb.njit(cache=True, nogil=True)
def ring_percentiles(vals, members, offsets, use, q, out):  # pragma: no cover - compiled
    """Per frame and ring, the ``q`` percentile of the ring's values (linear interpolation
    ``v[lo] + w * (v[lo + 1] - v[lo])`` between order statistics, numpy's default).

    vals (n, P) float32; members (M,) int64 indices into P, ring ``j`` is
    ``members[offsets[j]:offsets[j + 1]]``; use (R,) bool (other columns untouched);
    q float64 in 0..100; out (n, R) float64.
    """
    n = vals.shape[0]
    nr = offsets.shape[0] - 1
    longest = 1
    for j in range(nr):
        longest = max(longest, offsets[j + 1] - offsets[j])
    buf = np.empty(longest, np.float64)
    centre = np.zeros(nr)
    half = np.full(nr, -1.0)  # bracket half-width; < 0: none yet
    res = np.empty(3)
    for t in range(n):
        row = vals[t]
        for j in range(nr):
            if not use[j]:
                continue
            a = offsets[j]
            m = offsets[j + 1] - a
            if m == 0:
                out[t, j] = np.nan
                continue
            pos = q / 100.0 * (m - 1)
            lo = min(int(math.floor(pos)), m - 1)
            w = pos - lo
            want_next = w > 0.0 and lo + 1 < m
            _order_stats(row, members, a, m, lo, want_next, buf, centre, half, j, res)
            v = res[0]
            if want_next:
                v = v + w * (res[1] - v)  # everything after lo is >= v
            out[t, j] = v


@nb.njit(cache=True, nogil=True)
def row_order_stats(vals, lo, want_next, out):  # pragma: no cover - compiled
    """Per row of ``vals`` (n, P) float32: ``out[t] = (v[lo], v[lo + 1], has_nan)`` of the
    sorted row (``v[lo + 1]`` only when ``want_next``, else ``v[lo]`` again); out (n, 3)
    float64. What ``np.percentile`` interpolates between (see
    ``caimg.traces._percentile_rows``).
    """
    n, p = vals.shape
    members = np.arange(p)
    buf = np.empty(max(p, 1), np.float64)
    centre = np.zeros(1)
    half = np.full(1, -1.0)
    res = np.empty(3)
    for t in range(n):
        _order_stats(vals[t], members, 0, p, lo, want_next, buf, centre, half, 0, res)
        out[t, 0] = res[0]
        out[t, 1] = res[1]
        out[t, 2] = res[2]


@nb.njit(cache=True, nogil=True)
def _order_stats(row, members, a, m, lo, want_next, buf, centre, half, j,
                 res):  # pragma: no cover - compiled
    """``res = (k-th, (k+1)-th smallest, has_nan)`` of ``row[members[a:a + m]]``, k = lo:
    inside the bracket ``centre[j] +- half[j]`` when the rank falls there, else by a full
    selection (after which the bracket is centred on the answer, twice as wide; the first
    one spans ``_BRACKET_FRACTION`` of the values either side). With a NaN among the
    values the full selection's numbers are returned, as the plain selection gives them.
    """
    h = half[j]
    if h >= 0.0:
        lo_v = centre[j] - h
        hi_v = centre[j] + h
        n_below = 0
        n_in = 0
        bad = False
        for i in range(m):  # branch-free: the three cases come in no order
            v = row[members[a + i]]
            buf[n_in] = v
            n_in += (v >= lo_v) & (v <= hi_v)
            n_below += v < lo_v
            bad |= v != v
        if not bad and n_below <= lo < n_below + n_in:
            k = lo - n_below
            x = _select(buf, n_in, k)
            res[0] = x
            res[1] = x
            res[2] = 0.0
            if want_next:
                if k + 1 < n_in:
                    res[1] = buf[k + 1:n_in].min()
                else:  # the next value lies above the bracket (rare: a second pass)
                    above = np.inf
                    for i in range(m):
                        v = row[members[a + i]]
                        if v > hi_v and v < above:
                            above = v
                    res[1] = above
            centre[j] = x
            if n_in > m // 4:  # wider than it need be: narrow it
                half[j] = h * 0.5
            return
    has_nan = False
    for i in range(m):
        v = row[members[a + i]]
        buf[i] = v
        if v != v:
            has_nan = True
    x = _select(buf, m, lo)
    res[0] = x
    res[1] = x
    res[2] = 1.0 if has_nan else 0.0
    if want_next:
        res[1] = buf[lo + 1:m].min()
    half[j] = -1.0
    if has_nan:
        return
    if h > 0.0 and h < np.inf:  # the answer left the bracket: follow it with a wider one
        centre[j] = x
        half[j] = 2.0 * h
        return
    # a new bracket: the values ``d`` ranks either side of the answer
    d = max(1, int(m * _BRACKET_FRACTION))
    h = -1.0
    if lo + d < m:
        h = _select(buf[lo + 1:m], m - lo - 1, d - 1) - x
    if lo - d >= 0:
        h = max(h, x - _select(buf[:lo], lo, lo - d))
    if h >= 0.0 and h < np.inf:
        centre[j] = x
        half[j] = h


@nb.njit(cache=True, nogil=True)
def _select(a, m, k):  # pragma: no cover - compiled
    """Reorder ``a[:m]`` so that ``a[k]`` is its k-th smallest value, nothing smaller after
    it, nothing larger before it; return ``a[k]`` (Wirth's selection, in place: numba's
    ``np.partition`` copies and was 10x slower on rings of a few hundred pixels).
    """
    lo = 0
    hi = m - 1
    while lo < hi:
        x = a[k]
        i = lo
        j = hi
        while i <= j:
            while a[i] < x:
                i += 1
            while x < a[j]:
                j -= 1
            if i <= j:
                tmp = a[i]
                a[i] = a[j]
                a[j] = tmp
                i += 1
                j -= 1
        if j < k:
            lo = i
        if k < i:
            hi = j
    return a[k]

"""numba kernel of :mod:`caimg.annulus`: a percentile per background ring and frame.

Imported lazily, on first use, by :func:`caimg.annulus.ring_percentiles` (only when
:func:`caimg._backend.kernels_or_none` says numba may be used); its numpy twin is
``caimg.annulus._ring_percentiles_numpy``. Serial and ``nogil``: the caller splits
frames into blocks over the shared thread pool, like the kernels of :mod:`caimg._kernels`.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["ring_percentiles"]


@nb.njit(cache=True, nogil=True)
def ring_percentiles(vals, members, offsets, use, q, out):  # pragma: no cover - compiled
    """Per frame and ring, the ``q`` percentile of the ring's values (linear interpolation
    ``v[lo] + w * (v[lo + 1] - v[lo])`` between order statistics, numpy's default).

    vals (n, P) float32; members (M,) int64 indices into P, ring ``j`` is
    ``members[offsets[j]:offsets[j + 1]]``; use (R,) bool (other columns untouched);
    q float64 in 0..100; out (n, R) float64. A selection per ring and frame
    (:func:`_select`), not a sort.
    """
    n = vals.shape[0]
    nr = offsets.shape[0] - 1
    longest = 1
    for j in range(nr):
        longest = max(longest, offsets[j + 1] - offsets[j])
    buf = np.empty(longest, np.float64)
    for t in range(n):
        for j in range(nr):
            if not use[j]:
                continue
            a = offsets[j]
            m = offsets[j + 1] - a
            if m == 0:
                out[t, j] = np.nan
                continue
            for k in range(m):
                buf[k] = vals[t, members[a + k]]
            pos = q / 100.0 * (m - 1)
            lo = min(int(math.floor(pos)), m - 1)
            w = pos - lo
            v = _select(buf, m, lo)
            if w > 0.0 and lo + 1 < m:
                v = v + w * (buf[lo + 1:m].min() - v)  # everything after lo is >= v
            out[t, j] = v


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

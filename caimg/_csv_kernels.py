"""numba kernel that formats CSV tables: ``%d`` integers and ``%.9g`` floats, as pandas
writes them with ``float_format="%.9g"`` (NaN as an empty field).

Used by :func:`caimg.io.result.write_table` for long tables (``traces.csv``) through
:mod:`caimg._kernels`, which re-exports :func:`format_csv`; like it, this module imports
numba at its top and is only imported lazily (:func:`caimg._backend.kernels_or_none`).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["format_csv"]


@nb.njit(cache=True, nogil=True)
def format_csv(ints, floats, kinds, pow10, out):  # pragma: no cover - compiled
    r"""CSV body rows (no header): column ``j`` is ``ints[idx]`` when ``kinds[j] = idx >= 0``,
    else ``floats[-idx - 1]``; ints (ni, N) int64 as ``%d``, floats (nf, N) float64 as
    ``%.9g`` (NaN empty), ``,`` between columns, ``\n`` after each row. ``out`` uint8 must
    hold 28 bytes per value; returns the number of bytes written.
    """
    n = ints.shape[1] if ints.shape[0] else floats.shape[1]
    ncols = kinds.shape[0]
    tmp = np.empty(24, np.uint8)
    p = 0
    for i in range(n):
        for j in range(ncols):
            if j:
                out[p] = 44
                p += 1
            kj = kinds[j]
            if kj >= 0:
                v = ints[kj, i]
                if v < 0:
                    out[p] = 45
                    p += 1
                    v = -v
                p = _put_digits(out, p, v, tmp)
            else:
                p = _put_g9(out, p, floats[-kj - 1, i], pow10, tmp)
        out[p] = 10
        p += 1
    return p


@nb.njit(cache=True, nogil=True)
def _put_digits(out, p, v, tmp):  # pragma: no cover - compiled
    """Decimal digits of the non-negative int ``v`` at ``out[p:]``; returns the new end."""
    n = 0
    while True:
        tmp[n] = 48 + v % 10
        v //= 10
        n += 1
        if v == 0:
            break
    for i in range(n):
        out[p + i] = tmp[n - 1 - i]
    return p + n


@nb.njit(cache=True, nogil=True)
def _put_g9(out, p, x, pow10, tmp):  # pragma: no cover - compiled
    """``"%.9g" % x`` at ``out[p:]`` (NaN -> empty, as pandas writes it); returns the new end.

    pow10[k + 400] is the correctly rounded float64 of 10**k. The 9 significant digits are
    ``rint(|x| * 10**(8 - e))``: one rounding of the product, so a value within ~1e-7 of a
    half-way point in its 10th digit can differ from C's printf in the last digit.
    """
    if x != x:
        return p
    if x < 0.0 or (x == 0.0 and math.copysign(1.0, x) < 0.0):
        out[p] = 45  # '-'
        p += 1
    a = abs(x)
    if a == math.inf:
        out[p] = 105
        out[p + 1] = 110
        out[p + 2] = 102
        return p + 3
    if a == 0.0:
        out[p] = 48
        return p + 1
    e = int(math.floor(math.log10(a)))
    k = 8 - e
    if k > 300:  # subnormal range: two steps, each product representable
        m = np.rint(a * pow10[300 + 400] * pow10[k - 300 + 400])
    else:
        m = np.rint(a * pow10[k + 400])
    if m >= 1e9:
        e += 1
        m = np.rint(a * pow10[8 - e + 400])
    elif m < 1e8:
        e -= 1
        m = np.rint(a * pow10[8 - e + 400])
        if m >= 1e9:  # pragma: no cover - log10 exactly on a power of ten
            e += 1
            m = 1e8
    mi = np.int64(m)
    d = np.empty(9, np.uint8)
    for i in range(8, -1, -1):
        d[i] = 48 + mi % 10
        mi //= 10
    nd = 9
    while nd > 1 and d[nd - 1] == 48:
        nd -= 1
    if -4 <= e < 9:
        if e >= 0:
            for i in range(e + 1):
                out[p] = d[i]
                p += 1
            if nd > e + 1:
                out[p] = 46  # '.'
                p += 1
                for i in range(e + 1, nd):
                    out[p] = d[i]
                    p += 1
        else:
            out[p] = 48
            out[p + 1] = 46
            p += 2
            for _ in range(-e - 1):
                out[p] = 48
                p += 1
            for i in range(nd):
                out[p] = d[i]
                p += 1
        return p
    out[p] = d[0]
    p += 1
    if nd > 1:
        out[p] = 46
        p += 1
        for i in range(1, nd):
            out[p] = d[i]
            p += 1
    out[p] = 101  # 'e'
    out[p + 1] = 45 if e < 0 else 43
    p += 2
    ae = abs(e)
    if ae < 10:
        out[p] = 48
        p += 1
    return _put_digits(out, p, ae, tmp)

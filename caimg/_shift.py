"""Bilinear shifting of frames, compiled or in numpy: shared by :mod:`caimg.motion` and
:mod:`caimg.summary`.

Shift convention (``scipy.ndimage.shift``): shifting frame ``t`` by ``shifts[t] = (dr, dc)``
gives ``aligned(r, c) = frame(r - dr, c - dc)``, sampled bilinearly, with source
coordinates clipped to the frame (edge replication).
"""

from __future__ import annotations

import math

import numpy as np

from ._stream import run_blocks

__all__ = ["shift_frames", "shift_frames_numpy"]


def shift_frames_numpy(frames, shifts, out):
    """Shift frames in numpy: twin of :func:`caimg._kernels.shift_frames` (float64 weights).

    Parameters
    ----------
    frames : ndarray, (n, Y, X)
        Any real dtype.
    shifts : ndarray, (n, 2) float64
        ``(d_row, d_col)`` per frame.
    out : ndarray, (n, Y, X) float32
        Overwritten.

    Returns
    -------
    ndarray
        ``out``.

    Examples
    --------
    >>> out = np.empty((1, 1, 4), np.float32)
    >>> shift_frames_numpy(np.arange(4.0).reshape(1, 1, 4), np.array([[0, 0.5]]), out)
    array([[[0. , 0.5, 1.5, 2.5]]], dtype=float32)
    """
    n, ny, nx = frames.shape
    rr = np.arange(ny)
    cc = np.arange(nx)
    for t in range(n):
        sr, sc = -shifts[t, 0], -shifts[t, 1]
        fr, fc = math.floor(sr), math.floor(sc)
        wr, wc = sr - fr, sc - fc
        r0 = np.clip(rr + fr, 0, ny - 1)
        c0 = np.clip(cc + fc, 0, nx - 1)
        f = frames[t]
        if wr == 0.0 and wc == 0.0:
            out[t] = f[r0][:, c0]
            continue
        r1 = np.clip(rr + fr + 1, 0, ny - 1)
        c1 = np.clip(cc + fc + 1, 0, nx - 1)
        top = f[r0].astype(np.float64)
        bot = f[r1].astype(np.float64)
        v = (1.0 - wr) * (1.0 - wc) * top[:, c0]
        v += (1.0 - wr) * wc * top[:, c1]
        v += wr * (1.0 - wc) * bot[:, c0]
        v += wr * wc * bot[:, c1]
        out[t] = v
    return out


def shift_frames(frames, shifts, out, kernels):
    """Shift ``frames`` into ``out`` with the compiled kernel (frames split over the worker
    threads) or, when ``kernels`` is None, with :func:`shift_frames_numpy`.

    Parameters
    ----------
    frames : ndarray, (n, Y, X)
        C-contiguous, native byte order (see :func:`caimg._stream.native_frames`).
    shifts : ndarray, (n, 2) float64
        ``(d_row, d_col)`` per frame.
    out : ndarray, (n, Y, X) float32
        Overwritten.
    kernels : module or None
        From :func:`caimg._backend.kernels_or_none`.

    Returns
    -------
    ndarray
        ``out``.

    Examples
    --------
    >>> out = np.empty((1, 1, 4), np.float32)
    >>> shift_frames(np.arange(4.0).reshape(1, 1, 4), np.array([[0.0, 1.0]]), out, None)
    array([[[0., 0., 1., 2.]]], dtype=float32)
    """
    if kernels is not None:
        run_blocks(frames.shape[0],
                   lambda a, b: kernels.shift_frames(frames[a:b], shifts[a:b], out[a:b]))
    else:
        shift_frames_numpy(frames, shifts, out)
    return out

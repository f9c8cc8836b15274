"""Summary images of a (T, Y, X) stack: mean, SD, max and local correlation.

The stack is read in frame chunks (see :mod:`caimg._stream`), optionally shifted first
(bilinearly, as :func:`caimg.apply_shifts`), and summed into float64 running sums centred
on a per-pixel constant, so the images of a long, bright stack keep their precision.
:func:`caimg.register` uses :func:`shifted_summary` to estimate, shift and summarise in one
pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._backend import kernels_or_none
from ._shift import shift_frames, shift_frames_numpy
from ._stream import (
    ReadBuffer,
    block_edges,
    chunks,
    machine_worker_count,
    read_frames,
    run_blocks,
    run_each,
    stack_shape,
)
from ._validation import check_shifts, check_whole

__all__ = ["SummaryImages", "summary_images", "shifted_summary"]


@dataclass(frozen=True)
class SummaryImages:
    """Projections of a (registered) stack.

    Attributes
    ----------
    mean : ndarray, (Y, X) float32
        Temporal mean.
    std : ndarray, (Y, X) float32
        Temporal standard deviation (``ddof=0``, as ``np.std``).
    max : ndarray, (Y, X) float32
        Temporal maximum.
    corr : ndarray, (Y, X) float32
        Mean Pearson correlation, over time, of each pixel with its 8 neighbours (fewer at
        the border). A pair where either pixel is constant counts as 0.
    n_frames : int
        Number of frames summarised (T).
    """

    mean: np.ndarray
    std: np.ndarray
    max: np.ndarray
    corr: np.ndarray
    n_frames: int


class _SummaryAccumulator:
    """Running sums for :class:`SummaryImages`, centred on a per-pixel constant for accuracy."""

    def __init__(self, ny, nx, centre=None):
        self.shape = (ny, nx)
        self.centre = None if centre is None else np.ascontiguousarray(centre, np.float64)
        self.s = np.zeros((ny, nx))
        self.ss = np.zeros((ny, nx))
        self.mx = np.full((ny, nx), -np.inf)
        self.cross = np.zeros((4, ny, nx))
        self.n = 0

    def add(self, frames, kernels=None):
        if frames.shape[0] == 0:
            return
        if self.centre is None:
            self.centre = frames[0].astype(np.float64)
        if kernels is not None:
            run_blocks(self.shape[0], lambda a, b: kernels.accumulate_summary(
                frames, self.centre, self.s, self.ss, self.mx, self.cross, a, b), min_block=8)
        else:
            for fr in frames:
                x = fr - self.centre
                self.s += x
                self.ss += x * x
                np.maximum(self.mx, fr, out=self.mx)
                self.cross[0, :, :-1] += x[:, :-1] * x[:, 1:]
                self.cross[1, :-1, :] += x[:-1, :] * x[1:, :]
                self.cross[2, :-1, :-1] += x[:-1, :-1] * x[1:, 1:]
                self.cross[3, :-1, 1:] += x[:-1, 1:] * x[1:, :-1]
        self.n += frames.shape[0]

    def finish(self):
        ny, nx = self.shape
        n = self.n
        if n == 0:
            nan = np.full((ny, nx), np.nan, np.float32)
            return SummaryImages(nan, nan.copy(), nan.copy(), nan.copy(), 0)
        m = self.s / n
        var = np.maximum(self.ss / n - m * m, 0.0)
        sd = np.sqrt(var)
        corr_sum = np.zeros((ny, nx))
        count = np.zeros((ny, nx))
        # (slice of p, slice of q = p + d) for the 4 offsets accumulated in cross
        pairs = [
            ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
            ((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
            ((slice(None, -1), slice(None, -1)), (slice(1, None), slice(1, None))),
            ((slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1))),
        ]
        for k, (p, q) in enumerate(pairs):
            cov = self.cross[k][p] / n - m[p] * m[q]
            den = sd[p] * sd[q]
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.where(den > 0, cov / np.where(den > 0, den, 1.0), 0.0)
            np.clip(r, -1.0, 1.0, out=r)
            corr_sum[p] += r
            corr_sum[q] += r
            count[p] += 1
            count[q] += 1
        corr = np.divide(corr_sum, count, out=np.zeros_like(corr_sum), where=count > 0)
        return SummaryImages(
            mean=(self.centre + m).astype(np.float32),
            std=sd.astype(np.float32),
            max=self.mx.astype(np.float32),
            corr=corr.astype(np.float32),
            n_frames=int(n),
        )


def shifted_summary(stack, shifts, centre, *, chunk_frames, kernels, estimate=None):
    """One streaming pass: (optionally) estimate every frame's shift into ``shifts``, then
    accumulate the summary images of the shifted frames.

    Parameters
    ----------
    stack : array-like, (T, Y, X)
        As in :func:`summary_images`.
    shifts : ndarray, (T, 2) float64
        The shifts applied; filled in place first when ``estimate`` is given.
    centre : ndarray, (Y, X)
        Per-pixel constant the sums are centred on (e.g. the reference, or the first
        shifted frame).
    chunk_frames : int
        Frames read at a time.
    kernels : module or None
        From :func:`caimg._backend.kernels_or_none`.
    estimate : callable, optional
        ``estimate(frames, out, t0)`` fills ``out`` (n, 2) with the shifts of ``frames``
        (n, Y, X), frames ``t0 .. t0 + n - 1`` of the stack; called from several threads at
        once, each on its own frames.

    Returns
    -------
    SummaryImages

    Notes
    -----
    The frames are split into one contiguous range per worker thread; each thread reads,
    estimates, shifts and sums its own range into its own accumulators (no barrier per
    chunk, no shared (chunk, Y, X) float buffer), and the partial sums are added in range
    order at the end, so the result does not depend on thread timing.

    Examples
    --------
    >>> stack = np.arange(24, dtype=np.uint16).reshape(2, 3, 4)
    >>> s = shifted_summary(stack, np.zeros((2, 2)), stack[0], chunk_frames=1, kernels=None)
    >>> float(s.mean[0, 0]), int(s.n_frames)
    (6.0, 2)
    """
    n_frames = shifts.shape[0]
    ny, nx = yx = np.shape(centre)
    # the partial sums follow the machine's cores, not the thread budget, so --jobs and
    # --threads never change the result's bytes (the sums are added in range order)
    edges = block_edges(n_frames, min_block=16, blocks=machine_worker_count())
    k = len(edges) - 1
    accs = [_SummaryAccumulator(ny, nx, centre=centre) for _ in range(k)]

    def work(i):
        acc = accs[i]
        buf = None
        rbuf = ReadBuffer()
        a, b = int(edges[i]), int(edges[i + 1])
        for t0 in range(a, b, chunk_frames):
            t1 = min(b, t0 + chunk_frames)
            chunk = read_frames(stack, t0, t1, yx, rbuf)
            sh = shifts[t0:t1]
            if estimate is not None:
                estimate(chunk, sh, t0)
            if kernels is not None:
                kernels.shift_accumulate32(chunk, sh, acc.centre, acc.s, acc.ss, acc.mx,
                                           acc.cross)
                acc.n += t1 - t0
            else:
                if buf is None:
                    buf = np.empty((min(chunk_frames, b - a), ny, nx), np.float32)
                acc.add(shift_frames_numpy(chunk, sh, buf[: t1 - t0]), None)

    run_each(k, work)
    acc = accs[0]
    for other in accs[1:]:
        acc.s += other.s
        acc.ss += other.ss
        np.maximum(acc.mx, other.mx, out=acc.mx)
        acc.cross += other.cross
        acc.n += other.n
    return acc.finish()


def summary_images(stack, shifts=None, *, chunk_frames=64) -> SummaryImages:
    """Mean, SD, max and local-correlation images of a stack, optionally after shifting.

    Parameters
    ----------
    stack : array-like, (T, Y, X)
        As in :func:`caimg.register`; read in chunks, never modified.
    shifts : array-like, (T, 2), optional
        Shifts applied (bilinearly, see :func:`caimg.apply_shifts`) before summarising.
    chunk_frames : int
        Frames read at a time.

    Returns
    -------
    SummaryImages
        All images NaN when T == 0.

    Notes
    -----
    With ``x_t(p)`` the (shifted) frames: ``mean = sum_t x_t / T``,
    ``std = sqrt(sum_t (x_t - mean)^2 / T)``, ``max = max_t x_t`` and
    ``corr(p) = mean over neighbours q in the 8-neighbourhood of p of pearson(x(p), x(q))``.
    Sums are accumulated in float64 around a per-pixel constant (the first frame), so the
    variance does not lose precision on bright, long stacks.

    Examples
    --------
    >>> import numpy as np
    >>> s = summary_images(np.arange(24, dtype=np.uint16).reshape(2, 3, 4))
    >>> float(s.mean[0, 0]), float(s.std[0, 0]), float(s.max[0, 0])
    (6.0, 6.0, 12.0)
    """
    n_frames, ny, nx = stack_shape(stack)
    chunk_frames = check_whole(chunk_frames, "chunk_frames", minimum=1)
    yx = (ny, nx)
    s = None if shifts is None else check_shifts(shifts, n_frames)
    kernels = kernels_or_none()
    if s is not None and n_frames:
        first = shift_frames(read_frames(stack, 0, 1, yx), s[:1],
                             np.empty((1, ny, nx), np.float32),
                             kernels)[0]  # centre of the sums: the first shifted frame, as below
        return shifted_summary(stack, s.copy(), first, chunk_frames=chunk_frames,
                               kernels=kernels)
    acc = _SummaryAccumulator(ny, nx)
    rbuf = ReadBuffer()
    for t0, t1 in chunks(n_frames, chunk_frames):
        acc.add(read_frames(stack, t0, t1, yx, rbuf), kernels)
    return acc.finish()

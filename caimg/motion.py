"""Rigid motion correction of a (T, Y, X) stack.

Shifts are estimated by FFT phase correlation against a reference built from the recording,
once (on one channel), and applied to every channel. Stacks are read in frame chunks
(``stack[t0:t1]``, see :mod:`caimg._stream`), so a numpy array, a memory map or any lazy
object with that indexing works and the stack is never copied whole. The summary images
of the registered frames (:mod:`caimg.summary`) come out of the same pass.

Shift convention (``scipy.ndimage.shift``): shifting frame ``t`` by ``shifts[t] = (dr, dc)``
aligns it to the reference, ``aligned(r, c) = frame(r - dr, c - dc)``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ._backend import kernels_or_none
from ._shift import shift_frames
from ._stream import ReadBuffer, chunks, native_frames, read_frames, run_blocks, stack_shape
from ._validation import check_positive, check_shifts, check_whole
from .errors import CaimgError, DataQualityWarning
from .summary import SummaryImages, shifted_summary, summary_images

# SummaryImages and summary_images live in caimg.summary; they stay importable from here,
# where callers have always found them
__all__ = ["SummaryImages", "Registration", "register", "estimate_shifts", "apply_shifts",
           "summary_images"]

# Gaussian smoothing (in pixels) of the correlation map, applied as a product with the
# cross-power spectrum. 1.15 px is suite2p's value; it suppresses single-pixel noise peaks
# and makes the peak smooth enough for a subpixel fit.
_SMOOTH_SIGMA_PX = 1.15
# Width of the raised-cosine edge ramp, as a fraction of each side (a Tukey window with
# alpha = 0.5): content entering and leaving the field at the edges otherwise biases the
# peak. 0.25 gave the smallest subpixel error on blob images (64-256 px, with and without
# noise) among 0.03, 0.08, 0.15 and 0.25.
_TAPER_FRACTION = 0.25
# Spectral whitening exponent: each spectrum is divided by |F| ** _WHITEN_POWER. Full
# whitening (1, classic phase correlation) amplifies the empty high frequencies of smooth
# wide-field images (cells several px across) into noise and gave 0.3-1 px errors on such
# images; none (0) gives a broad peak; 0.5 was as good as 0 or better in every case tried.
_WHITEN_POWER = 0.5


@dataclass(frozen=True)
class Registration:
    """Result of :func:`register`.

    Attributes
    ----------
    shifts : ndarray, (T, 2) float64
        ``(d_row, d_col)`` in pixels to apply to each frame to align it to ``reference``:
        ``aligned(r, c) = frame(r - d_row, c - d_col)`` (``scipy.ndimage.shift``).
    reference : ndarray, (Y, X) float32
        The reference image the frames were aligned to.
    summary : SummaryImages
        Summary images of the shifted (aligned) frames.
    """

    shifts: np.ndarray
    reference: np.ndarray
    summary: SummaryImages


# --------------------------------------------------------------------------- helpers

def _taper(n):
    """1-D window: 1 in the middle, a raised-cosine ramp to ~0 over the outer edge."""
    w = np.ones(n, np.float64)
    ramp = min(max(3, int(round(_TAPER_FRACTION * n))), n // 2)
    if ramp > 0:
        x = (np.arange(ramp) + 0.5) / ramp
        w[:ramp] = 0.5 - 0.5 * np.cos(np.pi * x)
        w[n - ramp:] = w[:ramp][::-1]
    return w


def _crop_slices(ny, nx, crop_px):
    if crop_px and crop_px < ny:
        r0 = (ny - crop_px) // 2
        rs = slice(r0, r0 + crop_px)
    else:
        rs = slice(0, ny)
    if crop_px and crop_px < nx:
        c0 = (nx - crop_px) // 2
        cs = slice(c0, c0 + crop_px)
    else:
        cs = slice(0, nx)
    return rs, cs


def _subpixel(lo, mid, hi):
    """Vertex offset (in [-0.5, 0.5]) of the parabola through three samples at -1, 0, +1.

    Fitted on the logarithm when all three are positive (exact for a Gaussian peak, which
    the Gaussian-smoothed phase correlation is close to), else on the values.
    """
    lo, mid, hi = float(lo), float(mid), float(hi)  # float64, as the compiled twin
    if lo > 0 and mid > 0 and hi > 0:
        lo, mid, hi = math.log(lo), math.log(mid), math.log(hi)
    den = lo - 2.0 * mid + hi
    if not den < 0:
        return 0.0
    return min(0.5, max(-0.5, 0.5 * (lo - hi) / den))


class _ShiftEstimator:
    """Phase correlation of frames against one precomputed, whitened, smoothed reference FFT."""

    def __init__(self, reference, *, upsample_factor, max_shift_px, crop_px):
        import scipy.fft  # lazy: keeps `import caimg.motion` light

        self.fft = scipy.fft
        ny, nx = reference.shape
        self.rs, self.cs = _crop_slices(ny, nx, crop_px)
        ref = np.asarray(reference, np.float64)[self.rs, self.cs]
        h, w = ref.shape
        self.hw = (h, w)
        self.upsample_factor = int(upsample_factor)
        self.max_shift_px = float(max_shift_px)
        self.taper = np.outer(_taper(h), _taper(w)).astype(np.float32)
        r = scipy.fft.rfft2(((ref - ref.mean()) * self.taper).astype(np.float32))
        fy = np.fft.fftfreq(h)[:, None]
        fx = np.fft.rfftfreq(w)[None, :]
        gauss = np.exp(-2.0 * np.pi ** 2 * _SMOOTH_SIGMA_PX ** 2 * (fy ** 2 + fx ** 2))
        mag = np.abs(r) ** _WHITEN_POWER
        np.divide(1.0, mag, out=mag, where=mag > 0)
        self.refk = (np.conj(r) * mag * gauss).astype(np.complex64)
        self.refk_f32 = self.refk.view(np.float32)
        self.kernels = kernels_or_none()
        # search window |d| <= m (per axis), plus one sample either side for the subpixel fit
        self.mr = max(0, min(int(math.ceil(max_shift_px)), h // 2 - 2))
        self.mc = max(0, min(int(math.ceil(max_shift_px)), w // 2 - 2))
        self.ri = np.arange(-self.mr - 1, self.mr + 2) % h
        self.ci = np.arange(-self.mc - 1, self.mc + 2) % w
        # frames per FFT batch in estimate_many: about 1 MiB of float32 input (4 frames of a
        # 256^2 crop, 1 of 512^2); bigger batches fall out of the cache and get slower
        self.batch = max(1, (1 << 20) // (h * w * 4))

    def estimate(self, frame):
        """Shift (d_row, d_col) that aligns one (Y, X) frame to the reference."""
        out = np.zeros((1, 2))
        self.estimate_many(np.asarray(frame)[None], out)
        return out[0]

    def estimate_many(self, frames, out, spectra=None, *, keep=None):
        """Fill ``out`` (n, 2) with the shifts of ``frames`` (n, Y, X), in this thread.

        With the compiled kernels, frames go through in small batches (one FFT call, one
        whitening call and one peak search per batch), which takes the per-frame Python
        overhead out of the loop; the numbers are those of frame-by-frame transforms
        (pocketfft transforms each frame of a batch alike).

        ``spectra`` (n, h, w // 2 + 1) complex64: the frames' tapered spectra from an
        earlier call's ``keep`` (they do not depend on the reference), used instead of
        transforming ``frames`` again (which may then be None); ``keep``: an array of
        that shape to store them in. Both need the compiled kernels.
        """
        if self.kernels is None:
            for t in range(frames.shape[0]):
                out[t] = self._estimate_numpy(frames[t])
            return out
        k = self.kernels
        fft = self.fft
        h, w = self.hw
        batch = self.batch
        n = out.shape[0]
        if spectra is None:
            frames = np.ascontiguousarray(frames)
            buf = np.empty((min(batch, n), h, w), np.float32)
        for a in range(0, n, batch):
            b = min(n, a + batch)
            if spectra is not None:
                f = spectra[a:b].copy()  # the product below is in place
            else:
                x = buf[: b - a]
                k.taper_frames(frames[a:b], self.rs.start, self.cs.start, self.taper, x)
                f = fft.rfft2(x, workers=1)
                if keep is not None:
                    keep[a:b] = f
            k.whiten_product(f.view(np.float32), self.refk_f32)
            # the inverse transform only for the rows of the search window: the complex
            # inverse along rows, then the real inverse of just those rows (the operations
            # irfft2 does, so the same numbers, ~45 % less inverse work)
            g = fft.ifft(f, axis=1, workers=1, overwrite_x=True)
            rows = fft.irfft(g[:, self.ri], n=w, axis=2, workers=1, overwrite_x=True)
            k.correlation_peaks(rows, self.ci, float(self.upsample_factor), self.max_shift_px,
                                out[a:b])
        return out

    def _estimate_numpy(self, frame):
        view = frame[self.rs, self.cs]
        fft = self.fft
        a = np.asarray(view, dtype=np.float32)
        a = a - a.mean(dtype=np.float64).astype(np.float32)
        a *= self.taper
        f = fft.rfft2(a, workers=1, overwrite_x=True)
        mag = np.abs(f)
        mag **= _WHITEN_POWER
        np.divide(1.0, mag, out=mag, where=mag > 0)
        f *= self.refk
        f *= mag
        g = fft.ifft(f, axis=0, workers=1, overwrite_x=True)
        rows = fft.irfft(g[self.ri], n=self.hw[1], axis=1, workers=1, overwrite_x=True)
        win = rows[:, self.ci]
        inner = win[1:-1, 1:-1]
        i, j = np.unravel_index(int(np.argmax(inner)), inner.shape)
        i += 1
        j += 1
        if not win[i, j] > 0:  # flat (or NaN) frame or reference: no evidence of motion
            return np.zeros(2)
        pr = (i - self.mr - 1) + _subpixel(win[i - 1, j], win[i, j], win[i + 1, j])
        pc = (j - self.mc - 1) + _subpixel(win[i, j - 1], win[i, j], win[i, j + 1])
        # a peak at +p means the frame is the reference moved by +p: shift back by -p
        out = np.array([-pr, -pc])
        uf = self.upsample_factor
        out = np.round(out * uf) / uf
        np.clip(out, -self.max_shift_px, self.max_shift_px, out=out)
        return out + 0.0  # no negative zeros

    def estimate_chunk(self, chunk, out, spectra=None, keep=None):
        """Fill ``out`` (n, 2) with the shifts of ``chunk`` (n, Y, X), split over threads
        (``spectra``, ``keep``: as in :meth:`estimate_many`).
        """
        run_blocks(out.shape[0], lambda a, b: self.estimate_many(
            None if spectra is not None else chunk[a:b], out[a:b],
            None if spectra is None else spectra[a:b],
            keep=None if keep is None else keep[a:b]))

    def spectra_buffer(self, n_frames):
        """An empty (m, h, w // 2 + 1) complex64 array for the spectra of the first
        ``m = min(n_frames, what fits in _SPECTRA_CACHE_BYTES)`` frames, or None (numpy path,
        or not one frame fits).
        """
        h, w = self.hw
        m = min(int(n_frames), _SPECTRA_CACHE_BYTES // (h * (w // 2 + 1) * 8))
        if self.kernels is None or m < 1:
            return None
        return np.empty((m, h, w // 2 + 1), np.complex64)


#: Most memory (bytes) spent keeping the spectra of the reference frames between the rounds
#: of the reference and the final pass (they do not depend on the reference): 64 MiB keeps
#: 240 frames of 256 x 256, and saves two of the three forward transforms of each
_SPECTRA_CACHE_BYTES = 64 << 20


def _check_motion_params(upsample_factor, max_shift_px, reference_frames, reference_iterations,
                         crop_px):
    check_whole(upsample_factor, "upsample_factor", minimum=1)
    check_whole(reference_frames, "reference_frames", minimum=1)
    check_whole(reference_iterations, "reference_iterations", minimum=0)
    check_whole(crop_px, "crop_px", minimum=0)
    check_positive(max_shift_px, "max_shift_px")


def _build_reference(stack, n_frames, yx, *, reference_frames, reference_iterations,
                     est_kwargs, chunk_frames, kernels, spectra=None):
    """Mean of the first frames, then ``reference_iterations`` rounds of register-and-average.

    With a centre crop, the estimator of the next round reads only the crop of the current
    reference, so every average but the last is summed over the crop's rows only (the same
    numbers there; the other rows are left at zero and never read).

    The first round keeps the frames' spectra (as many as fit in ``_SPECTRA_CACHE_BYTES``)
    and later rounds reuse them; ``spectra``, a list, gets that array (or None) for the
    caller's final pass.
    """
    n = min(int(reference_frames), n_frames)
    n_iter = int(reference_iterations)
    acc = np.zeros(yx)
    rbuf = ReadBuffer()
    ny = yx[0]
    crop_rows = _crop_slices(ny, yx[1], est_kwargs.get("crop_px", 0))[0]
    r_lo, r_hi = (0, ny) if n_iter == 0 else (crop_rows.start or 0, crop_rows.stop or ny)
    for t0, t1 in chunks(n, chunk_frames):
        _add_frames(read_frames(stack, t0, t1, yx, rbuf), acc, kernels, r_lo, r_hi)
    ref = (acc / n).astype(np.float32)
    buf = None if kernels is not None else np.empty((min(chunk_frames, n), *yx), np.float32)
    shifts = np.zeros((min(chunk_frames, n), 2))
    kept = None
    n_kept = 0  # frames whose spectra are in kept
    for it in range(n_iter):
        if it == n_iter - 1:
            r_lo, r_hi = 0, ny
        est = _ShiftEstimator(ref, **est_kwargs)
        if it == 0:
            kept = est.spectra_buffer(n)
        acc[...] = 0.0
        for t0, t1 in chunks(n, chunk_frames):
            chunk = read_frames(stack, t0, t1, yx, rbuf)
            sh = shifts[: t1 - t0]
            if kept is not None and t1 <= n_kept:
                est.estimate_chunk(chunk, sh, spectra=kept[t0:t1])
            else:
                keep = None if kept is None or t1 > kept.shape[0] else kept[t0:t1]
                est.estimate_chunk(chunk, sh, keep=keep)
                n_kept = t1 if keep is not None else n_kept
            if kernels is not None:  # shift and add fused: no shifted-frame buffer
                run_blocks(r_hi - r_lo, lambda a, b, chunk=chunk, sh=sh, r_lo=r_lo:
                           kernels.shift_add(chunk, sh, acc, r_lo + a, r_lo + b), min_block=8)
            else:
                _add_frames(shift_frames(chunk, sh, buf[: t1 - t0], None), acc, None, r_lo, r_hi)
        ref = (acc / n).astype(np.float32)
    if spectra is not None:
        spectra.append(kept[:n_kept] if kept is not None and n_kept else None)
    return ref


def _add_frames(frames, acc, kernels, r_lo=0, r_hi=None):
    """``acc[r_lo:r_hi] += frames[:, r_lo:r_hi].sum(axis=0)``, acc (Y, X) float64."""
    r_hi = acc.shape[0] if r_hi is None else r_hi
    if kernels is not None:
        run_blocks(r_hi - r_lo, lambda a, b: kernels.add_frames(frames, acc, r_lo + a, r_lo + b),
                   min_block=8)
    else:
        acc[r_lo:r_hi] += frames[:, r_lo:r_hi].sum(axis=0, dtype=np.float64)


def _anchor(shifts, offset, upsample_factor):
    """In place: ``shifts -= offset``, kept on the 1 / upsample_factor grid."""
    if np.any(offset):
        shifts -= offset
        np.round(shifts * upsample_factor, out=shifts)
        shifts /= upsample_factor
        shifts += 0.0


# --------------------------------------------------------------------------- public API

def register(stack, *, enabled=True, upsample_factor=10, max_shift_px=20.0, reference_frames=200,
             reference_iterations=2, crop_px=0, chunk_frames=64) -> Registration:
    r"""Rigid, subpixel registration of a stack by FFT phase correlation.

    Builds a reference from the first ``reference_frames`` frames, then makes one streaming
    pass that estimates the shift of every frame and accumulates the summary images of the
    shifted frames.

    Parameters
    ----------
    stack : array-like, (T, Y, X)
        Any real integer or float dtype; a numpy array, a memory map or a lazy object whose
        ``stack[t0:t1]`` returns numpy. Read in chunks of ``chunk_frames``; never modified.
    enabled : bool
        ``False``: no estimation; zero shifts and the summary images of the raw frames
        (whose mean is then also the reference).
    upsample_factor : int
        Shifts are reported on a grid of ``1 / upsample_factor`` px (1 = whole pixels). The
        subpixel position comes from a parabola fitted to the log of the correlation peak.
    max_shift_px : float
        Largest shift searched along each axis, in pixels (also limited to a bit less than
        half the frame or crop).
    reference_frames : int
        Number of frames, from the start, that build the reference.
    reference_iterations : int
        Rounds of "register the reference frames to the current reference and average
        them". 0 = plain mean of the reference frames.
    crop_px : int
        Estimate shifts on a central ``crop_px`` x ``crop_px`` crop (faster); 0 = full frame.
    chunk_frames : int
        Frames read at a time; sets the memory used (about ``chunk_frames * Y * X * 4``
        bytes for the shifted-frame buffer).

    Returns
    -------
    Registration
        ``shifts`` (T, 2) float64, ``reference`` (Y, X) float32, ``summary``.

    Notes
    -----
    For a frame ``f`` and reference ``g`` (each mean-subtracted and multiplied by a
    raised-cosine edge taper, a Tukey window with alpha = 0.5), with spectra ``F`` and ``G``,
    the smoothed, partially whitened phase correlation is

    .. math:: c = \mathcal{F}^{-1}\left[\frac{F}{|F|^{1/2}}\,\frac{G^*}{|G|^{1/2}}\,
              e^{-2\pi^2\sigma^2 (u^2 + v^2)}\right], \quad \sigma = 1.15\ \mathrm{px}

    (full whitening, ``|F| |G|`` in the denominator, turns the empty high frequencies of
    smooth wide-field images into noise; the square root keeps the peak sharp without
    that). Its largest value at ``p`` within ``max_shift_px`` means the frame is the
    reference moved by ``p``, so the shift that aligns it is ``-p``; the subpixel part comes
    from a parabola through the log of the peak and its two neighbours along each axis
    (exact for a Gaussian peak). A frame whose correlation peak is not positive (a flat
    frame) gets a zero shift. Shifts are applied bilinearly with edge replication. Frames
    are split over the worker threads (one FFT worker each; their number is
    :func:`caimg._stream.worker_count`).

    The reference is the mean of the first ``reference_frames`` frames, then
    ``reference_iterations`` times the mean of those frames after aligning them to the
    current reference. It is finally moved into the geometry of frame 0 (by frame 0's
    estimated shift ``o``, and every shift becomes ``s - o``), so ``shifts[0] == (0, 0)``
    and ROIs drawn on the first raw frame fit the registered geometry. The tapered spectra
    of the reference frames do not depend on the reference: they are transformed once and
    kept (up to 64 MiB: 240 frames of 256 x 256) for the later rounds and the final pass.
    ``max_shift_px`` bounds the search relative to the averaged reference, so shifts can
    exceed it by ``|o|``.

    References
    ----------
    .. [1] Kuglin & Hines (1975), "The phase correlation image alignment method",
       Proc. IEEE Int. Conf. Cybernetics and Society, 163-165.
    .. [2] Pachitariu et al. (2017), "Suite2p: beyond 10,000 neurons with standard two-photon
       microscopy", bioRxiv, doi:10.1101/061507 (smoothed, whitened phase correlation).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> rng = np.random.default_rng(0)
    >>> base = ndimage.gaussian_filter(rng.random((64, 64)), 2)
    >>> stack = np.stack([base, ndimage.shift(base, (2, -1), mode="nearest")])
    >>> reg = register(stack, reference_frames=1, reference_iterations=0)
    >>> np.round(reg.shifts).tolist()
    [[0.0, 0.0], [-2.0, 1.0]]
    """
    n_frames, ny, nx = stack_shape(stack)
    chunk_frames = check_whole(chunk_frames, "chunk_frames", minimum=1)
    _check_motion_params(upsample_factor, max_shift_px, reference_frames, reference_iterations,
                         crop_px)
    if not enabled or n_frames == 0:
        summary = summary_images(stack, None, chunk_frames=chunk_frames)
        return Registration(shifts=np.zeros((n_frames, 2)), reference=summary.mean.copy(),
                            summary=summary)
    kernels = kernels_or_none()
    yx = (ny, nx)
    est_kwargs = dict(upsample_factor=upsample_factor, max_shift_px=max_shift_px, crop_px=crop_px)
    kept = []
    reference = _build_reference(stack, n_frames, yx, reference_frames=reference_frames,
                                 reference_iterations=reference_iterations,
                                 est_kwargs=est_kwargs, chunk_frames=chunk_frames,
                                 kernels=kernels, spectra=kept)
    spectra = kept[0] if kept else None  # of frames 0, 1, ...: transformed once, not 3 times
    est = _ShiftEstimator(reference, **est_kwargs)
    offset = est.estimate(read_frames(stack, 0, 1, yx)[0])
    if np.any(offset):
        # move the reference into frame 0's geometry (the estimator keeps the original)
        reference = shift_frames(reference[None], -offset[None],
                                 np.empty((1, ny, nx), np.float32), kernels)[0]
    shifts = np.zeros((n_frames, 2))

    def estimate(frames, out, t0):
        # frames t0 .. t0 + cut - 1 have kept spectra
        cut = 0 if spectra is None else min(out.shape[0], max(0, spectra.shape[0] - t0))
        if cut:
            est.estimate_many(None, out[:cut], spectra[t0:t0 + cut])
        if cut < out.shape[0]:
            est.estimate_many(frames[cut:], out[cut:])
        _anchor(out, offset, upsample_factor)

    summary = shifted_summary(stack, shifts, reference, chunk_frames=chunk_frames,
                              kernels=kernels, estimate=estimate)
    _warn_at_limit(shifts + offset, max_shift_px, (est.mr, est.mc), (ny, nx))
    return Registration(shifts=shifts, reference=reference, summary=summary)


def _warn_at_limit(raw, max_shift_px, window, frame_shape):
    """Warn when estimates sit at the edge of the search window (drift larger than searched
    is estimated as anything up to the limit, issue 16). ``raw``: (T, 2) estimates against
    the averaged reference; ``window``: the searched half-widths (rows, columns) in px.
    """
    limit = np.asarray(window, float)
    # only where max_shift_px, not the frame size, bounds the search: raising it helps
    axes = limit >= float(max_shift_px)
    if len(raw) == 0 or not axes.any():
        return
    limit = np.minimum(float(max_shift_px), limit)
    hit = (np.abs(raw) >= limit - 0.5) & axes
    n_hit = int(hit.any(axis=1).sum())
    if not n_hit:
        return
    cap = min(frame_shape) // 2 - 2
    fix = (f"raise it, e.g. --set motion.max_shift_px={min(2 * float(max_shift_px), cap):g} "
           f"(searches reach at most {cap} px in frames of {frame_shape[0]}x{frame_shape[1]})")
    warnings.warn(f"motion: the shift estimate of {n_hit} of {len(raw)} frame(s) reached the "
                  f"search limit of {limit.min():g} px (motion.max_shift_px = {max_shift_px:g}"
                  "); the real drift may be larger than estimated and the registration is "
                  f"unreliable; {fix}", DataQualityWarning, stacklevel=3)


def estimate_shifts(stack, reference=None, *, enabled=True, upsample_factor=10,
                    max_shift_px=20.0, reference_frames=200, reference_iterations=2, crop_px=0,
                    chunk_frames=64) -> np.ndarray:
    """Shifts that align each frame of ``stack`` to ``reference``.

    Parameters
    ----------
    stack : array-like, (T, Y, X)
        As in :func:`register`.
    reference : ndarray, (Y, X), optional
        Image to align to (e.g. the reference of another recording, or of the other channel).
        ``None``: built from the stack as in :func:`register`, and the shifts made relative
        to frame 0 (``shifts[0] == (0, 0)``) as there.
    enabled, upsample_factor, max_shift_px, reference_frames, reference_iterations, crop_px, \
chunk_frames
        As in :func:`register` (``reference_*`` are only used when ``reference`` is None).

    Returns
    -------
    shifts : ndarray, (T, 2) float64
        ``(d_row, d_col)`` per frame, ``scipy.ndimage.shift`` convention.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> rng = np.random.default_rng(1)
    >>> ref = ndimage.gaussian_filter(rng.random((64, 64)), 2)
    >>> moved = ndimage.shift(ref, (1.5, 0), mode="nearest")[None]
    >>> estimate_shifts(moved, ref).round(1).tolist()
    [[-1.5, 0.0]]
    """
    n_frames, ny, nx = stack_shape(stack)
    chunk_frames = check_whole(chunk_frames, "chunk_frames", minimum=1)
    _check_motion_params(upsample_factor, max_shift_px, reference_frames, reference_iterations,
                         crop_px)
    if not enabled or n_frames == 0:
        return np.zeros((n_frames, 2))
    yx = (ny, nx)
    est_kwargs = dict(upsample_factor=upsample_factor, max_shift_px=max_shift_px, crop_px=crop_px)
    own_reference = reference is None
    if own_reference:
        reference = _build_reference(stack, n_frames, yx, reference_frames=reference_frames,
                                     reference_iterations=reference_iterations,
                                     est_kwargs=est_kwargs, chunk_frames=chunk_frames,
                                     kernels=kernels_or_none())
    reference = np.asarray(reference)
    if reference.shape != yx:
        raise CaimgError(f"'reference' has shape {reference.shape}; expected the frame "
                         f"shape {yx} of the stack")
    est = _ShiftEstimator(reference, **est_kwargs)
    offset = est.estimate(read_frames(stack, 0, 1, yx)[0]) if own_reference else np.zeros(2)
    shifts = np.zeros((n_frames, 2))
    rbuf = ReadBuffer()
    for t0, t1 in chunks(n_frames, chunk_frames):
        est.estimate_chunk(read_frames(stack, t0, t1, yx, rbuf), shifts[t0:t1])
        _anchor(shifts[t0:t1], offset, upsample_factor)
    return shifts


def apply_shifts(frames, shifts, *, out=None) -> np.ndarray:
    """Shift frames bilinearly, replicating edge pixels.

    Parameters
    ----------
    frames : array-like, (n, Y, X)
        Any real dtype; not modified. Read whole: pass a chunk, not a long stack.
    shifts : array-like, (n, 2)
        ``(d_row, d_col)`` per frame: ``out[t, r, c] = frames[t, r - d_row, c - d_col]``,
        bilinearly interpolated; source coordinates outside the frame are clipped to it.
        Whole-pixel shifts copy pixel values exactly.
    out : ndarray, (n, Y, X) float32, optional
        Buffer to write into (reuse it across chunks to avoid allocation).

    Returns
    -------
    ndarray, (n, Y, X) float32
        ``out`` when given.

    Examples
    --------
    >>> import numpy as np
    >>> apply_shifts(np.arange(4.0).reshape(1, 1, 4), [[0, 1]])[0, 0].tolist()
    [0.0, 0.0, 1.0, 2.0]
    """
    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise CaimgError(f"'frames' has shape {frames.shape}; expected (n, Y, X)")
    frames = native_frames(frames, "frames")
    n = frames.shape[0]
    s = check_shifts(shifts, n)
    if out is None:
        out = np.empty(frames.shape, np.float32)
    elif out.shape != frames.shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise CaimgError(f"'out' must be a C-contiguous float32 array of shape {frames.shape}, "
                         f"got {out.dtype} {out.shape}")
    if n == 0:
        return out
    return shift_frames(frames, s, out, kernels_or_none())

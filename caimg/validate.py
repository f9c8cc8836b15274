"""Checks of a recording's content before the pipeline runs on it (data quality).

Broken structure raises a :class:`~caimg.errors.StackReadError`; doubtful but usable data
is a warning that ends up in ``run.json`` (the pipeline records every warning raised while
it runs). What is checked, and what the user sees, is listed in ``docs/bad_inputs.md``.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._backend import kernels_or_none
from ._stream import ReadBuffer, chunks, read_frames, run_blocks
from .errors import DataQualityWarning, StackReadError
from .recording import Recording

__all__ = ["check_recording", "DataQualityWarning", "channel_stats", "dropped_frames"]

#: a frame counts as saturated when at least this fraction of its pixels (and at least
#: one pixel) sits at the maximum of the integer dtype
SATURATED_FRAME_FRACTION = 1e-4


def channel_stats(frames, *, chunk_frames: int = 64) -> dict:
    """Minimum, maximum and saturation of one channel, read in frame chunks.

    Parameters
    ----------
    frames : array-like, (T, Y, X)
        Numpy array, memory map or any lazy array indexable along the first axis.
    chunk_frames : int
        Frames read at once (bounds memory to ``chunk_frames`` frames).

    Returns
    -------
    dict
        ``min``, ``max`` (float; NaN pixels ignored), ``saturated_per_frame`` (int array
        (T,), pixels at the integer dtype's maximum; zeros for float data) and
        ``saturation_value`` (the dtype maximum, or None for float data), ``frame_min`` and
        ``frame_max`` (float arrays (T,), per frame; NaN pixels ignored, NaN for an all-NaN
        frame).

    Examples
    --------
    >>> s = channel_stats(np.array([[[0, 65535]], [[3, 4]]], np.uint16))
    >>> s["min"], s["max"], s["saturated_per_frame"].tolist()
    (0.0, 65535.0, [1, 0])
    """
    dtype = np.dtype(frames.dtype)
    sat_value = np.iinfo(dtype).max if dtype.kind in "ui" else None
    n = int(frames.shape[0])
    lo, hi = np.inf, -np.inf
    saturated = np.zeros(n, dtype=np.int64)
    frame_lo = np.full(n, np.nan)
    frame_hi = np.full(n, np.nan)
    if sat_value is not None and dtype.itemsize <= 4 and len(frames.shape) == 3 and n \
            and frames.shape[1] and frames.shape[2]:
        kernels = kernels_or_none()
        if kernels is not None:
            return _channel_stats_fast(frames, chunk_frames, kernels, sat_value)
    for t0 in range(0, n, chunk_frames):
        block = np.asarray(frames[t0:t0 + chunk_frames])
        if block.size == 0:
            continue
        flat = block.reshape(len(block), -1)
        if dtype.kind == "f":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks
                lo = min(lo, float(np.nanmin(block)))
                hi = max(hi, float(np.nanmax(block)))
                if flat.shape[1]:
                    frame_lo[t0:t0 + len(block)] = np.nanmin(flat, axis=1)
                    frame_hi[t0:t0 + len(block)] = np.nanmax(flat, axis=1)
        else:
            lo = min(lo, float(block.min()))
            hi = max(hi, float(block.max()))
            if flat.shape[1]:
                frame_lo[t0:t0 + len(block)] = flat.min(axis=1)
                frame_hi[t0:t0 + len(block)] = flat.max(axis=1)
        if sat_value is not None:
            saturated[t0:t0 + len(block)] = (block == sat_value).reshape(len(block), -1).sum(1)
    return {"min": lo, "max": hi, "saturated_per_frame": saturated,
            "saturation_value": sat_value, "frame_min": frame_lo, "frame_max": frame_hi}


def _channel_stats_fast(frames, chunk_frames, kernels, sat_value):
    """:func:`channel_stats` of an integer stack in one compiled pass per chunk (min, max
    and saturated count together, frames split over the worker threads), read into one
    reused buffer: about 10x faster than the three numpy reductions.
    """
    n, ny, nx = (int(s) for s in frames.shape)
    lo = np.empty(n, np.int64)
    hi = np.empty(n, np.int64)
    sat = np.empty(n, np.int64)
    rbuf = ReadBuffer()
    for t0, t1 in chunks(n, int(chunk_frames)):
        block = read_frames(frames, t0, t1, (ny, nx), rbuf)
        run_blocks(t1 - t0, lambda a, b, block=block, t0=t0: kernels.frame_stats(
            block[a:b], sat_value, lo[t0 + a:t0 + b], hi[t0 + a:t0 + b], sat[t0 + a:t0 + b]))
    return {"min": float(lo.min()), "max": float(hi.max()), "saturated_per_frame": sat,
            "saturation_value": sat_value, "frame_min": lo.astype(float),
            "frame_max": hi.astype(float)}


def dropped_frames(frames=None, *, stats: dict | None = None) -> np.ndarray:
    """Frames the camera or the acquisition dropped: every pixel the same value (all zero,
    or one constant), from per-frame minimum and maximum.

    Parameters
    ----------
    frames : array-like, (T, Y, X), optional
        One channel; read in frame chunks by :func:`channel_stats`.
    stats : dict, optional
        The result of :func:`channel_stats` for the channel (no second read).

    Returns
    -------
    ndarray of bool, (T,)
        True for a dropped frame (also for a frame that is all NaN).

    Notes
    -----
    A real frame of cells always has some noise, so a constant frame is never data; it
    is what a lost frame, a closed shutter with a zero-filling driver, or a padded
    acquisition writes. A stack constant everywhere is refused by :func:`check_recording`.

    Examples
    --------
    >>> v = np.arange(24, dtype=np.uint16).reshape(3, 2, 4); v[1] = 0
    >>> dropped_frames(v).tolist()
    [False, True, False]
    """
    if stats is None:
        stats = channel_stats(frames)
    lo, hi = stats["frame_min"], stats["frame_max"]
    return ~(hi > lo)  # NaN (all-NaN frame) compares False: dropped too


def _reemit_read_warnings(recording: Recording) -> None:
    """Warnings raised while the file was read happened before the pipeline started
    recording; raise them again, with their class, so that they reach run.json.

    ``recording.metadata["warnings"]`` holds :class:`caimg.io.read.ReadWarning` records
    (anything with ``category`` and ``message``); a plain string, from a Recording made
    elsewhere, is raised again as a :class:`UserWarning`.
    """
    for record in (recording.metadata or {}).get("warnings", ()) or ():
        category = getattr(record, "category", None)
        if isinstance(category, type) and issubclass(category, Warning):
            warnings.warn(str(record.message), category, stacklevel=3)
        else:
            warnings.warn(str(record), UserWarning, stacklevel=3)


def check_recording(recording: Recording, *, indicator: str) -> np.ndarray:
    """Raise for unusable recordings, warn for doubtful ones.

    Parameters
    ----------
    recording : Recording
        Channels ``(T, Y, X)``; read once more in frame chunks (never modified).
    indicator : {"fura2", "fluo4"}
        Only used in messages.

    Returns
    -------
    ndarray of bool, (T,)
        Dropped frames (:func:`dropped_frames`) of any channel; the pipeline leaves them
        out of F0, baselines and kinetics.

    Raises
    ------
    StackReadError
        A channel is constant (all zeros, or every pixel of every frame the same value):
        there are no cells to find and no signal to measure. The message names the file,
        the value and what was expected.

    Warns
    -----
    DataQualityWarning
        Frames with pixels at the integer dtype's maximum (camera saturation: peaks and
        ratios there are underestimated).
    MetadataWarning
        Again, each warning raised while the file was read (frame interval disagreeing
        with the metadata, NaN pixels filled, Z planes read as time, ...), so that they
        are recorded in ``run.json``.

    Notes
    -----
    A saturated frame is one where at least ``max(1, SATURATED_FRAME_FRACTION * Y * X)``
    pixels equal ``iinfo(dtype).max``. Cameras whose range is narrower than their dtype
    (12-bit data in uint16) saturate below that value; they are not detected.
    """
    where = ", ".join(str(p) for p in recording.source) or recording.name
    _reemit_read_warnings(recording)
    n_frames, rows, cols = recording.shape
    dropped = np.zeros(n_frames, dtype=bool)
    min_sat = max(1, int(np.ceil(SATURATED_FRAME_FRACTION * rows * cols)))
    for name, frames in recording.channels.items():
        st = channel_stats(frames)
        if not np.isfinite(st["min"]) or st["min"] == st["max"]:
            value = "NaN" if not np.isfinite(st["min"]) else f"{st['min']:g}"
            raise StackReadError(
                f"{where}: channel {name!r} is constant (every pixel of all {n_frames} frames "
                f"is {value}); expected an image of cells with varying intensity ({indicator}) "
                "- check the file, the lamp/shutter and the camera settings")
        sat = st["saturated_per_frame"]
        bad = np.flatnonzero(sat >= min_sat)
        if len(bad):
            k = int(bad[np.argmax(sat[bad])])
            warnings.warn(
                f"{where}: channel {name!r} is saturated in {len(bad)} of {n_frames} frames "
                f"(pixels at {st['saturation_value']}, the {np.dtype(frames.dtype).name} "
                f"maximum; up to {100 * sat[k] / (rows * cols):.2g} % of frame {k}); "
                "intensities there are clipped, so peaks, amplitudes and ratios are "
                "underestimated", DataQualityWarning, stacklevel=2)
        if rows * cols > 1:  # a one-pixel frame is constant by nature
            dropped |= dropped_frames(stats=st)
    if dropped.any():
        idx = np.flatnonzero(dropped)
        shown = ", ".join(str(i) for i in idx[:10]) + (", ..." if len(idx) > 10 else "")
        warnings.warn(
            f"{where}: {len(idx)} of {n_frames} frame(s) are dropped (every pixel the same "
            f"value, e.g. all zero): frame(s) {shown}; they are left out of F0, baselines "
            "and kinetics (their trace values are NaN) - check the acquisition",
            DataQualityWarning, stacklevel=2)
    return dropped

"""Noise and event detection on one trace: the robust noise SD, the smoothed copy used to
locate features, and the hysteresis runs that make events.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["noise_sd", "difference_mad", "smooth", "robust_level", "drift_level",
           "event_runs", "detect_events"]

_NAN = float("nan")


def difference_mad(x, *, axis: int = 0):
    """Median absolute deviation of the first differences of ``x`` along ``axis``.

    The one MAD noise estimator of caimg: :func:`noise_sd` (kinetics) and the ROI table's
    SNR both scale it.

    Parameters
    ----------
    x : array_like
        Traces; differences are taken along ``axis`` (time).
    axis : int
        The time axis.

    Returns
    -------
    mad : ndarray (0-d for a 1-D ``x``), float64
        ``median(|d - median(d)|)`` over the finite differences ``d``; NaN where fewer than
        2 finite differences exist.

    Notes
    -----
    Differencing removes the slow signal, and the median absolute deviation ignores the
    few large steps of fast rises, so the figure measures frame-to-frame noise even on a
    trace full of responses.

    Examples
    --------
    >>> float(difference_mad([0.0, 1.0, 0.0, 1.0, 0.0]))
    1.0
    """
    d = np.diff(np.asarray(x, dtype=np.float64), axis=axis)
    d = np.where(np.isfinite(d), d, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN
        med = np.expand_dims(np.nanmedian(d, axis=axis), axis)
        mad = np.nanmedian(np.abs(d - med), axis=axis)
    n_finite = np.count_nonzero(np.isfinite(d), axis=axis)
    return np.where(n_finite >= 2, mad, np.nan)


def noise_sd(trace, *, axis: int = 0):
    """Robust noise SD of a trace from its first difference.

    Parameters
    ----------
    trace : array_like, shape (T,) or (T, R) with time along ``axis``
    axis : int
        The time axis.

    Returns
    -------
    sd : float (1-D input) or ndarray
        ``1.4826 * median(|d - median(d)|) / sqrt(2)`` with ``d = diff(trace)`` over finite
        differences (:func:`difference_mad`); NaN when fewer than 2 finite differences
        exist.

    Notes
    -----
    For white noise of SD s, ``diff`` has SD ``s*sqrt(2)``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(noise_sd(rng.normal(0, 2.0, 20000)), 1)
    2.0
    """
    sd = 1.482602218505602 * difference_mad(trace, axis=axis) / math.sqrt(2.0)
    return float(sd) if np.ndim(sd) == 0 else sd


def smooth(y, n):
    """NaN-aware centred moving average over ``n`` frames (n <= 1: a copy).

    Parameters
    ----------
    y : array_like, shape (T,)
    n : int
        Window length in frames.

    Returns
    -------
    ndarray, shape (T,), float64
    """
    y = np.asarray(y, dtype=np.float64)
    if n <= 1 or y.size == 0:
        return y.copy()
    ok = np.isfinite(y)
    # a window longer than the trace would make np.convolve(mode="same") return the
    # window's length instead of the trace's
    k = np.ones(min(int(n), y.size))
    num = np.convolve(np.where(ok, y, 0.0), k, mode="same")
    den = np.convolve(ok.astype(np.float64), k, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def robust_level(ys, sigma, k):
    """Median of the samples outside events (iterated).

    Parameters
    ----------
    ys : ndarray, shape (T,)
        Smoothed trace.
    sigma : float
        Noise SD.
    k : float
        Event threshold in noise SDs; samples above ``level + k*sigma/2`` are left out.

    Returns
    -------
    float
    """
    v = ys[np.isfinite(ys)]
    if v.size == 0:
        return _NAN
    b = float(np.median(v))
    if not (sigma > 0):
        return b
    for _ in range(3):
        keep = v[v <= b + 0.5 * k * sigma]
        if keep.size == 0:
            break
        b = float(np.median(keep))
    return b


def drift_level(ys, t, sigma, k, window_s):
    """A baseline that follows slow drift: the running median of the samples outside events.

    Parameters
    ----------
    ys : ndarray, shape (T,)
        Smoothed trace.
    t : ndarray, shape (T,)
        Frame times (s), increasing.
    sigma : float
        Noise SD.
    k : float
        Event threshold in noise SDs; samples above ``level + k*sigma/2`` are left out.
    window_s : float
        Length of the centred running window, s (shorter at the ends of the trace).

    Returns
    -------
    level : ndarray, shape (T,), float64
        NaN only when ``ys`` has no finite sample.

    Notes
    -----
    The time-varying form of :func:`robust_level`: a centred running median over
    ``window_s`` (loading drift, bleaching and slow focus changes pass, transients much
    shorter than the window do not), then three times: leave out the samples more than
    ``k*sigma/2`` above the current level and take the running median of the rest. In the
    first and last half window, where a centred median sees one side only and lags a
    drift, the level is blended into a straight line fitted to the kept samples of that
    whole window (all line at the end frame, all median half a window in).
    Stretches where every sample was left out (an event longer than the window) are
    bridged linearly between their neighbours. With a window at least twice as long as
    the trace the level is constant and equals :func:`robust_level`.

    Examples
    --------
    >>> t = np.arange(200.0)
    >>> y = 0.01 * t                      # slow drift, no event
    >>> lv = drift_level(y, t, 0.05, 5.0, 30.0)
    >>> bool(np.all(np.abs(lv[20:-20] - y[20:-20]) < 1e-9))
    True
    """
    import pandas as pd

    ys = np.asarray(ys, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    ok = np.isfinite(ys)
    if not ok.any():
        return np.full(ys.shape, _NAN)
    dt = float(np.median(np.diff(t))) if t.size > 1 else 1.0
    w = max(1, int(round(window_s / dt)))
    w += (w + 1) % 2  # odd, so the window is centred on the frame
    keep = ok.copy()
    level = np.full(ys.shape, _NAN)
    for _ in range(4):
        v = pd.Series(np.where(keep, ys, np.nan))
        new = v.rolling(w, center=True, min_periods=1).median().to_numpy(dtype=np.float64)
        if not np.isfinite(new).any():
            break
        level = _line_ends(new, ys, t, keep, w)
        if not (sigma > 0):
            break
        idx = np.flatnonzero(np.isfinite(level))
        level = np.interp(np.arange(ys.size), idx, level[idx])
        keep = ok & (ys <= level + 0.5 * k * sigma)
    if not np.isfinite(level).all():
        idx = np.flatnonzero(np.isfinite(level))
        level = np.interp(np.arange(ys.size), idx, level[idx])
    return level


def _line_ends(level, ys, t, keep, w):
    """Blend the first and last half windows of a running median into a straight line
    fitted to the kept samples of the first and last whole window (weight 1 at the end
    frame, falling linearly to 0 half a window in): a centred median there sees only one
    side and lags a drifting trace by up to a quarter window.
    """
    T = ys.size
    h = w // 2
    if T <= w or h == 0:
        return level
    out = level.copy()
    ramp = np.arange(h, 0, -1) / h  # weight of the line: 1 at the end, -> 0 inwards
    for sl, ends, wt in ((slice(0, w), slice(0, h), ramp),
                         (slice(T - w, T), slice(T - h, T), ramp[::-1])):
        m = keep[sl]
        if np.count_nonzero(m) >= 3:
            slope, icpt = np.polyfit(t[sl][m] - t[sl][0], ys[sl][m], 1)
            line = icpt + slope * (t[ends] - t[sl][0])
            out[ends] = wt * line + (1 - wt) * level[ends]
    return out


def event_runs(ys, t, level, sigma, k, min_duration_s, min_separation_s):
    """Runs of ``ys > level + k*sigma/2`` that reach ``level + k*sigma`` (hysteresis).

    Parameters
    ----------
    ys, t : ndarray, shape (T,)
        Smoothed trace and frame times (s).
    level : float or ndarray, shape (T,)
        Baseline level: a constant (:func:`robust_level`) or one per frame
        (:func:`drift_level`).
    sigma, k : float
        Noise SD and threshold in SDs.
    min_duration_s, min_separation_s : float
        Shorter runs are dropped; closer runs are merged.

    Returns
    -------
    list of (int, int)
        ``(start, end)`` frame indices, end exclusive.
    """
    level = np.broadcast_to(np.asarray(level, dtype=np.float64), np.shape(ys))
    if not (sigma > 0) or not np.all(np.isfinite(level)):
        return []
    hi_thr, lo_thr = level + k * sigma, level + 0.5 * k * sigma
    above = np.where(np.isfinite(ys), ys > lo_thr, False)
    if not above.any():
        return []
    d = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)  # end exclusive
    runs = [[s, e] for s, e in zip(starts, ends, strict=True)
            if np.nanmax(ys[s:e] - hi_thr[s:e]) > 0]
    merged = []
    for s, e in runs:
        if merged and t[s] - t[merged[-1][1] - 1] < min_separation_s:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged if t[e - 1] - t[s] >= min_duration_s]


def detect_events(trace, time_s, *, threshold_k: float = 5.0, min_duration_s: float = 0.0,
                  min_separation_s: float = 0.0, smooth_frames: int = 3,
                  drift_window_s: float | None = 30.0):
    """Find transients in one trace.

    Parameters
    ----------
    trace : array_like, shape (T,)
    time_s : array_like, shape (T,)
    threshold_k : float
        An event is a run of frames where the smoothed trace exceeds
        ``level + threshold_k/2 * sd`` and reaches ``level + threshold_k * sd`` somewhere,
        with ``sd`` from :func:`noise_sd` and ``level`` the median of the frames outside
        events (a running one, see ``drift_window_s``).
    min_duration_s : float
        Runs shorter than this (first to last frame) are dropped.
    min_separation_s : float
        Runs closer than this to the previous one are merged into it.
    smooth_frames : int
        Centred moving-average length used for detection only.
    drift_window_s : float or None, default 30
        ``level`` follows slow drift: :func:`drift_level` over a running window of this
        many seconds (the default of ``kinetics.drift_window_s``); None: one constant
        level for the whole trace (:func:`robust_level`).

    Returns
    -------
    events : ndarray of int, shape (n, 3)
        ``start, peak, end`` frame indices (end exclusive) of each event, in time order;
        the peak is the largest smoothed value in the run.
    """
    y = np.asarray(trace, dtype=np.float64)
    t = np.asarray(time_s, dtype=np.float64)
    ys = smooth(y, smooth_frames)
    sigma = noise_sd(y)
    if drift_window_s is None:
        level = robust_level(ys, sigma, threshold_k)
    else:
        level = drift_level(ys, t, sigma, threshold_k, drift_window_s)
    runs = event_runs(ys, t, level, sigma, threshold_k, min_duration_s, min_separation_s)
    out = np.zeros((len(runs), 3), dtype=np.int64)
    for i, (s, e) in enumerate(runs):
        seg = np.where(np.isfinite(ys[s:e]), ys[s:e], -np.inf)
        out[i] = (s, s + int(np.argmax(seg)), e)
    return out

"""Response kinetics of calcium traces: one row per ROI and response.

:func:`measure_kinetics` turns a ``(T, R)`` signal (Fura-2 ratio or [Ca2+], Fluo-4
dF/F0) into a table with exactly :data:`KINETICS_COLUMNS`. It is a loop over
:func:`measure_trace`, which returns :class:`Response` objects that also carry what a
plot needs (peak time, 10/90 % crossing times, baseline window, decay fit).

Features (the peak frame, event extents) are located on a lightly smoothed copy of
the trace (``smooth_frames``-point centred moving average); every reported value is
measured on the unsmoothed trace. Every definition, with its formula, is in
``docs/definitions.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .._validation import check_time_s
from ..errors import CaimgError
from ..result import KINETICS_COLUMNS, KINETICS_DTYPES
from ._events import drift_level, event_runs, noise_sd, robust_level, smooth
from ._fit import fit_exponential, fit_tied_or_free
from ._response import Response, integrate

__all__ = ["KINETICS_COLUMNS", "Response", "measure_kinetics", "measure_trace", "integrate"]

_NAN = float("nan")
_ASYMPTOTES = ("auto", "free")
#: frame-to-frame changes below this fraction of a trace's magnitude are float rounding
#: (e.g. a ratio of two constant channels), not noise: such a trace counts as noiseless
_ROUNDING = 1e-12


def _cross_before(t, y, i_peak, level, i_min):
    """Time of the last upward crossing of ``level`` before ``i_peak`` (linear interp.)."""
    for i in range(i_peak - 1, i_min - 1, -1):
        yi = y[i]
        if yi < level:
            y1 = y[i + 1]
            return float(t[i] + (level - yi) / (y1 - yi) * (t[i + 1] - t[i]))
    return _NAN


def _cross_after(t, y, i_peak, level, i_max):
    """Time of the first fall to ``level`` after ``i_peak`` (linear interp.); and index."""
    for j in range(i_peak + 1, i_max):
        yj = y[j]
        if yj <= level:
            y0 = y[j - 1]
            if not math.isfinite(y0):
                return float(t[j]), j
            return float(t[j - 1] + (y0 - level) / (y0 - yj) * (t[j] - t[j - 1])), j
    return _NAN, -1



@dataclass(frozen=True)
class _Options:
    """The checked keyword options of :func:`measure_trace` (defaults live in the
    signatures of :func:`measure_trace` / :func:`measure_kinetics` and in
    :class:`caimg.config.KineticsConfig`).
    """

    stimulus_time_s: float | None
    baseline_window_s: float
    responder_k: float
    events: str
    responder_window_s: float
    event_threshold_k: float
    min_event_duration_s: float
    min_event_separation_s: float
    decay_fit_start: str | float
    decay_fit_baseline_samples: int
    decay_fit_asymptote: str
    smooth_frames: int
    drift_window_s: float | None = None


def _checked_fit_start(fs):
    if isinstance(fs, str):
        if fs != "peak":
            try:
                fs = float(fs)
            except ValueError:
                raise CaimgError(f"'decay_fit_start' = {fs!r}: expected 'peak' or a fraction "
                                 "of the amplitude between 0 and 1 (0.5 = 50 %)") from None
    if not isinstance(fs, str) and not (0 < float(fs) <= 1):
        raise CaimgError(f"'decay_fit_start' = {fs!r}: expected 'peak' or a fraction of "
                         "the amplitude in (0, 1]")
    return fs if isinstance(fs, str) else float(fs)


def _checked_options(**o) -> _Options:
    """Check every option once; the message names the option, the value and the range."""
    if o["events"] not in ("single", "all"):
        raise CaimgError(f"'events' = {o['events']!r}: expected 'single' or 'all'")
    for key in ("baseline_window_s", "responder_k", "event_threshold_k"):
        v = o[key]
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise CaimgError(f"'{key}' = {v!r}: expected a number > 0")
    for key in ("min_event_duration_s", "min_event_separation_s", "responder_window_s"):
        v = o[key]
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise CaimgError(f"'{key}' = {v!r}: expected a number >= 0")
    st = o["stimulus_time_s"]
    if st is not None and not (isinstance(st, (int, float)) and math.isfinite(st)):
        raise CaimgError(f"'stimulus_time_s' = {st!r}: expected a time in seconds or None")
    o["decay_fit_start"] = _checked_fit_start(o["decay_fit_start"])
    if o["decay_fit_asymptote"] not in _ASYMPTOTES:
        raise CaimgError(f"'decay_fit_asymptote' = {o['decay_fit_asymptote']!r}: expected "
                         "'auto' (tied to the baseline unless a free asymptote fits "
                         "significantly better) or 'free'")
    nb = o["decay_fit_baseline_samples"]
    if isinstance(nb, bool) or not isinstance(nb, (int, np.integer)) or nb < 0:
        raise CaimgError(f"'decay_fit_baseline_samples' = {nb!r}: expected a whole number >= 0")
    dw = o.get("drift_window_s")
    if dw is not None and not (isinstance(dw, (int, float)) and math.isfinite(dw) and dw > 0):
        raise CaimgError(f"'drift_window_s' = {dw!r}: expected a window in seconds > 0 or None")
    sf = o["smooth_frames"]
    if isinstance(sf, bool) or not isinstance(sf, (int, np.integer)) or sf < 1:
        raise CaimgError(f"'smooth_frames' = {sf!r}: expected a whole number >= 1")
    return _Options(**o)


@dataclass(frozen=True)
class _Trace:
    """One trace, its smoothed copy (to locate features), frame times and noise SD."""

    y: np.ndarray
    ys: np.ndarray
    t: np.ndarray
    sigma: float


@dataclass(frozen=True)
class _Window:
    """Frames of one response: the peak lies in ``[i_lo, i_peak_hi)``; ``i_prev`` is the
    first frame the rising edge may use (end of the previous event); ``i_hi`` bounds the
    decay (next event's start or the end of the trace).
    """

    i_lo: int
    i_peak_hi: int
    i_hi: int
    i_prev: int


def _empty(roi, event, baseline=_NAN, sigma=_NAN, **extra):
    return Response(roi=roi, event=event, responder=False, onset_s=_NAN, baseline=baseline,
                    peak=_NAN, amplitude=_NAN, time_to_peak_s=_NAN, rise_time_s=_NAN,
                    decay_tau_s=_NAN, decay_r2=_NAN, half_decay_s=_NAN, fwhm_s=_NAN,
                    auc=_NAN, snr=_NAN, noise_sd=sigma, **extra)


def _peak_index(tr: _Trace, win: _Window, smooth_frames: int):
    """The peak frame: the largest raw value near the largest smoothed value (or None)."""
    h = int(smooth_frames) // 2
    seg = tr.ys[win.i_lo:win.i_peak_hi]
    if seg.size == 0 or not np.any(np.isfinite(seg)):
        return None
    i_s = win.i_lo + int(np.argmax(np.where(np.isfinite(seg), seg, -np.inf)))
    a, b = max(win.i_lo, i_s - h), min(win.i_peak_hi, i_s + h + 1)
    w = tr.y[a:b]
    if not np.any(np.isfinite(w)):
        return None
    return a + int(np.nanargmax(w))


def _mean_of(y, sel):
    v = y[sel]
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else _NAN


def _baseline(tr: _Trace, win: _Window, ip, baseline_sel, fallback_level, window_s):
    """Baseline level and the indices of its frames."""
    y, t = tr.y, tr.t
    if baseline_sel is not None:
        return _mean_of(y, baseline_sel), np.flatnonzero(baseline_sel)
    # Before the onset: iterate baseline -> 10/90 % crossings -> extrapolated onset.
    peak = float(y[ip])
    base, bl_idx = fallback_level, np.zeros(0, dtype=np.int64)
    for _ in range(2):
        amp = peak - base
        if not (math.isfinite(amp) and amp > 0):
            break
        t90 = _cross_before(t, y, ip, base + 0.9 * amp, win.i_prev)
        t10 = _cross_before(t, y, ip, base + 0.1 * amp, win.i_prev)
        if not (math.isfinite(t10) and math.isfinite(t90)):
            break
        onset = t10 - 0.125 * (t90 - t10)
        sel = (t >= onset - window_s) & (t < onset)
        sel[:win.i_prev] = False
        if not np.any(sel & np.isfinite(y)):
            break
        base, bl_idx = _mean_of(y, sel), np.flatnonzero(sel)
    return base, bl_idx


def _decay(tr: _Trace, win: _Window, ip, base, amp, bl_idx, o: _Options):
    """Decay fit of one response.

    Returns (tau, r2, fit parameters or None, first fitted frame, baseline slope).
    """
    y, t = tr.y, tr.t
    fs = o.decay_fit_start
    if fs == "peak":
        j0 = ip
    else:
        _, j0 = _cross_after(t, y, ip, base + fs * amp, win.i_hi)
    fit, slope = None, 0.0
    if j0 >= 0 and win.i_hi - j0 >= 3:
        td, yd = t[j0:win.i_hi], y[j0:win.i_hi]
        nb = int(o.decay_fit_baseline_samples)
        if nb:
            fit = fit_exponential(td, yd, baseline=y[bl_idx[:nb]] if bl_idx.size else None)
        else:
            fit = fit_exponential(td, yd)
            if o.decay_fit_asymptote == "auto":
                fit, slope = fit_tied_or_free(td, yd, t[bl_idx], y[bl_idx], fit, amp, tr.sigma)
    if fit is not None and fit.a * amp > 0:
        return fit.tau, fit.r2, (fit.c, fit.a, fit.t0, fit.tau), j0, slope
    return _NAN, _NAN, None, j0, 0.0


def _sustained(tr: _Trace, win: _Window, base, baseline_sel, o: _Options) -> bool:
    """The responder rule's window test: the largest mean of ``w`` consecutive frames
    after the stimulus (``w`` frames = ``responder_window_s``) exceeds the baseline mean by
    ``responder_k`` SDs of that difference of two means, ``sd * sqrt(1/w + 1/n_base)``.
    A response lasting seconds is seen by its mean over many frames, where one frame's
    amplitude (the first test) is buried in the noise of a dim cell.
    """
    t, y = tr.t, tr.y
    w = int(round(o.responder_window_s / float(np.median(np.diff(t))))) if t.size > 1 else 0
    n_base = int(np.count_nonzero(baseline_sel & np.isfinite(y)))
    seg = y[win.i_lo:]
    if w < 2 or n_base < 1 or seg.size < w:
        return False
    ok = np.isfinite(seg)
    k = np.ones(w)
    total = np.convolve(np.where(ok, seg, 0.0), k, mode="valid")
    full = np.convolve(ok.astype(np.float64), k, mode="valid") == w
    if not full.any():
        return False
    sd_diff = tr.sigma * math.sqrt(1.0 / w + 1.0 / n_base)
    return bool(float(np.max(total[full])) / w - base > o.responder_k * sd_diff)


def _measure_one(tr: _Trace, win: _Window, o: _Options, *, roi, event, baseline_sel,
                 fallback_level, stim):
    """Measure one response in ``win``; ``baseline_sel``: bool mask of baseline frames,
    or None = the window before the onset; ``stim``: the stimulus time or None.
    """
    y, t, sigma = tr.y, tr.t, tr.sigma
    ip = _peak_index(tr, win, o.smooth_frames)
    if ip is None:
        return _empty(roi, event, sigma=sigma)
    peak = float(y[ip])
    base, bl_idx = _baseline(tr, win, ip, baseline_sel, fallback_level, o.baseline_window_s)
    if not math.isfinite(base):
        return _empty(roi, event, sigma=sigma)
    amp = peak - base
    snr = amp / sigma if sigma > 0 else _NAN
    if sigma > 0:
        responder = bool(amp > o.responder_k * sigma) or (
            baseline_sel is not None and _sustained(tr, win, base, baseline_sel, o))
    else:  # noiseless: any rise above rounding
        responder = bool(amp > _ROUNDING * max(abs(peak), abs(base)))
    t_end = float(t[win.i_hi - 1])
    t90 = _cross_before(t, y, ip, base + 0.9 * amp, win.i_prev)
    t10 = _cross_before(t, y, ip, base + 0.1 * amp, win.i_prev)
    onset = t10 - 0.125 * (t90 - t10)
    auc_start = stim if stim is not None else onset
    common = dict(roi=roi, event=event, baseline=base, peak=peak, amplitude=amp,
                  auc=integrate(t, y - base, auc_start, t_end), snr=snr,
                  peak_time_s=float(t[ip]),
                  baseline_start_s=float(t[bl_idx[0]]) if bl_idx.size else _NAN,
                  baseline_end_s=float(t[bl_idx[-1]]) if bl_idx.size else _NAN,
                  auc_start_s=auc_start, auc_end_s=t_end, noise_sd=sigma)
    if not responder:
        return Response(responder=False, onset_s=_NAN, time_to_peak_s=_NAN,
                        rise_time_s=_NAN, decay_tau_s=_NAN, decay_r2=_NAN,
                        half_decay_s=_NAN, fwhm_s=_NAN, **common)
    t_half_up = _cross_before(t, y, ip, base + 0.5 * amp, win.i_prev)
    t_half_dn, _ = _cross_after(t, y, ip, base + 0.5 * amp, win.i_hi)
    t_peak = float(t[ip])
    tau, r2, params, j0, slope = _decay(tr, win, ip, base, amp, bl_idx, o)
    return Response(responder=True, onset_s=onset,
                    time_to_peak_s=t_peak - (stim if stim is not None else onset),
                    rise_time_s=t90 - t10, decay_tau_s=tau, decay_r2=r2,
                    half_decay_s=t_half_dn - t_peak, fwhm_s=t_half_dn - t_half_up,
                    t10_s=t10, t90_s=t90, half_rise_s=t_half_up, half_fall_s=t_half_dn,
                    decay_fit=params,
                    decay_fit_start_s=float(t[j0]) if j0 >= 0 else _NAN,
                    decay_fit_end_s=t_end, decay_fit_slope=slope, **common)


def _single_response(tr: _Trace, runs, level, o: _Options, roi):
    """``events="single"``: the main response, the largest smoothed value after the
    stimulus (or anywhere without one).
    """
    t, ys, T = tr.t, tr.ys, tr.y.size
    stim = o.stimulus_time_s
    if stim is not None:
        i_lo = int(np.searchsorted(t, stim, side="left"))
        if i_lo >= T:
            return _empty(roi, 1, sigma=tr.sigma)
        sel = (t >= stim - o.baseline_window_s) & (t < stim)
        if not np.any(sel & np.isfinite(tr.y)):
            return _empty(roi, 1, sigma=tr.sigma)
    else:
        i_lo, sel = 0, None
    seg = ys[i_lo:]
    i_s = i_lo + int(np.argmax(np.where(np.isfinite(seg), seg, -np.inf)))
    # the decay is bounded by the next event that starts after the main one
    i_hi = T
    for s, e in runs:
        if s > i_s and not (s <= i_s < e):
            i_hi = s
            break
    win = _Window(i_lo=i_lo, i_peak_hi=T, i_hi=i_hi, i_prev=0)
    return _measure_one(tr, win, o, roi=roi, event=1, baseline_sel=sel,
                        fallback_level=level, stim=stim)


def _responses(y, t, roi, o: _Options) -> list[Response]:
    """Every response of one trace ``y`` (a float64 copy, (T,)) at checked times ``t``."""
    T = y.size
    if T < 3 or np.isfinite(y).sum() < 3:
        return [_empty(roi, 1 if o.events == "single" else 0)]
    sigma = noise_sd(y)
    if not math.isfinite(sigma) or sigma <= _ROUNDING * float(np.nanmax(np.abs(y))):
        sigma = 0.0
    tr = _Trace(y=y, ys=smooth(y, o.smooth_frames), t=t, sigma=sigma)
    if o.stimulus_time_s is None and o.drift_window_s is not None:
        return _drift_responses(tr, o, roi)
    level = robust_level(tr.ys, sigma, o.event_threshold_k)
    runs = event_runs(tr.ys, t, level, sigma, o.event_threshold_k, o.min_event_duration_s,
                      o.min_event_separation_s)
    if o.events == "single":
        return [_single_response(tr, runs, level, o, roi)]
    if not runs:
        return [_empty(roi, 0, baseline=level, sigma=sigma)]
    out = []
    for n, (s, e) in enumerate(runs):
        win = _Window(i_lo=s, i_peak_hi=e, i_hi=runs[n + 1][0] if n + 1 < len(runs) else T,
                      i_prev=runs[n - 1][1] if n else 0)
        out.append(_measure_one(tr, win, o, roi=roi, event=n + 1, baseline_sel=None,
                                fallback_level=level, stim=None))
    return out


def _drift_responses(tr: _Trace, o: _Options, roi) -> list[Response]:
    """No stimulus time: events found above a baseline that follows slow drift.

    (sig13, issue 13.) Events are found above the trace's :func:`drift_level`, like
    ``events="all"``: hysteresis runs above ``event_threshold_k`` noise SDs are candidates,
    and one is an event when its amplitude exceeds ``responder_k`` noise SDs (noise SD: the
    larger of the frame-to-frame SD and the SD of the trace below its baseline, so slow
    wander the baseline does not follow counts as noise). Each event is measured on the
    trace with the drift before it flattened to the level at its start, so ``baseline`` is
    the drift level where the event begins and ``amplitude`` the rise above it; the event
    itself is measured as recorded. ``responder`` is True on every
    event row: a ROI is a responder exactly when it had at least one event.
    ``"single"``: the event of largest amplitude (``event = 1``); ``"all"``: every event,
    numbered 1, 2, ... No event: one row with ``responder = False``, the median drift level
    as ``baseline`` and NaN kinetics (``event`` 1 for ``"single"``, 0 for ``"all"``).
    """
    t, T, k = tr.t, tr.y.size, o.event_threshold_k
    level = drift_level(tr.ys, t, tr.sigma, k, o.drift_window_s)
    with np.errstate(invalid="ignore"):
        below = tr.y - level
    sigma = tr.sigma
    if np.isfinite(below).sum() >= 3:
        sigma = max(sigma, float(-np.nanpercentile(below, 15.865)))
        level = drift_level(tr.ys, t, sigma, k, o.drift_window_s)
    runs = event_runs(tr.ys, t, level, sigma, k, o.min_event_duration_s,
                      o.min_event_separation_s)
    found = []
    for n, (s, e) in enumerate(runs):
        win = _Window(i_lo=s, i_peak_hi=e, i_hi=runs[n + 1][0] if n + 1 < len(runs) else T,
                      i_prev=runs[n - 1][1] if n else 0)
        # the drift before the event is flattened to its level at the event's start, so
        # the pre-onset baseline does not lag it; the event itself is measured as recorded
        # (a long decay is not cut by a level that partly follows it)
        lift = level[:s] - level[s]
        ev = _Trace(y=np.concatenate([tr.y[:s] - lift, tr.y[s:]]),
                    ys=np.concatenate([tr.ys[:s] - lift, tr.ys[s:]]), t=t, sigma=sigma)
        r = _measure_one(ev, win, o, roi=roi, event=n + 1, baseline_sel=None,
                         fallback_level=float(level[s]), stim=None)
        if r.responder:
            found.append(r)
    if o.events == "single" and found:
        found = [max(found, key=lambda r: r.amplitude)]
    if not found:
        base = float(np.median(level)) if np.isfinite(level).any() else _NAN
        return [_empty(roi, 1 if o.events == "single" else 0, baseline=base, sigma=sigma)]
    return [replace(r, event=i + 1) for i, r in enumerate(found)]


def measure_trace(trace, time_s, *, roi: int = 1, stimulus_time_s: float | None = None,
                  baseline_window_s: float = 10.0, responder_k: float = 5.0,
                  responder_window_s: float = 0.0,
                  events: str = "single", event_threshold_k: float = 5.0,
                  min_event_duration_s: float = 0.0, min_event_separation_s: float = 0.0,
                  decay_fit_start: str | float = 0.9, decay_fit_baseline_samples: int = 0,
                  decay_fit_asymptote: str = "free", smooth_frames: int = 3,
                  drift_window_s: float | None = 30.0) -> list[Response]:
    """Measure the response(s) of one trace.

    Parameters
    ----------
    trace : array_like, shape (T,)
        The signal (Fura-2 ratio or [Ca2+], Fluo-4 dF/F0, ...).
    time_s : array_like, shape (T,)
        Frame times in seconds, strictly increasing.
    roi : int
        ROI id written into the responses.
    stimulus_time_s, baseline_window_s, responder_k, responder_window_s, events, \
event_threshold_k, min_event_duration_s, min_event_separation_s, decay_fit_start, \
decay_fit_baseline_samples, decay_fit_asymptote, smooth_frames, drift_window_s
        As in :func:`measure_kinetics`.

    Returns
    -------
    responses : list of Response
        ``events="single"``: exactly one. ``events="all"``: one per detected event
        (``event`` = 1, 2, ...), or one with ``event=0`` and NaN kinetics when none is found.

    Examples
    --------
    >>> t = np.arange(0, 60, 0.5)
    >>> y = np.where(t < 10, 1.0, 1.0 + np.exp(-(t - 10) / 5.0))
    >>> r, = measure_trace(y, t, stimulus_time_s=10.0)
    >>> round(r.amplitude, 6), round(r.decay_tau_s, 6)
    (1.0, 5.0)
    """
    o = _checked_options(
        stimulus_time_s=stimulus_time_s, baseline_window_s=baseline_window_s,
        responder_k=responder_k, responder_window_s=responder_window_s, events=events,
        event_threshold_k=event_threshold_k,
        min_event_duration_s=min_event_duration_s, min_event_separation_s=min_event_separation_s,
        decay_fit_start=decay_fit_start, decay_fit_baseline_samples=decay_fit_baseline_samples,
        decay_fit_asymptote=decay_fit_asymptote, smooth_frames=smooth_frames,
        drift_window_s=drift_window_s)
    y = np.array(trace, dtype=np.float64)  # a copy: inputs are never modified
    if y.ndim != 1:
        raise CaimgError(f"'trace' has shape {y.shape}: expected (T,)")
    return _responses(y, check_time_s(time_s, y.size), roi, o)


def measure_kinetics(signal, time_s, *, roi_ids=None, stimulus_time_s=None,
                     baseline_window_s=10.0, responder_k=5.0, responder_window_s=0.0,
                     events="single",
                     event_threshold_k=5.0, min_event_duration_s=0.0,
                     min_event_separation_s=0.0, decay_fit_start=0.9,
                     decay_fit_baseline_samples=0, decay_fit_asymptote="free",
                     smooth_frames=3, drift_window_s=30.0):
    """Response kinetics of every ROI.

    Parameters
    ----------
    signal : array_like, shape (T, R)
        One trace per column: Fura-2 ratio (or ca_nM), Fluo-4 dF/F0.
    time_s : array_like, shape (T,)
        Frame times in seconds, strictly increasing.
    roi_ids : array_like of int, shape (R,), optional
        ROI labels; default 1..R.
    stimulus_time_s : float, optional
        Stimulus time (s, clock of ``time_s``). The baseline is the mean over
        ``[stimulus_time_s - baseline_window_s, stimulus_time_s)``, the main response is
        searched after it, ``time_to_peak_s`` counts from it and ``auc`` starts at it.
        Without it, the baseline is the window of the same length before the onset.
    baseline_window_s : float
        Baseline window length in seconds.
    responder_k : float
        Responder when ``amplitude > responder_k * noise SD`` (:func:`noise_sd`), or (with
        a stimulus time) when the window test passes.
    responder_window_s : float
        The window test (0 = off, the default): the largest mean over this many seconds after the
        stimulus is more than ``responder_k`` SDs of a difference of means above the
        baseline mean (docs/definitions.md, ``responder``).
    events : {"single", "all"}
        ``"single"``: one row per ROI (``event = 1``), the main response.
        ``"all"``: one row per detected event (``event = 1, 2, ...``); a ROI without
        events keeps one row with ``event = 0``, ``responder = False``, its baseline level
        and NaN kinetics.
    event_threshold_k, min_event_duration_s, min_event_separation_s : float
        Event detection (:func:`detect_events`); used to find events and to bound each
        event's decay (the next event's first frame).
    decay_fit_start : "peak" or float
        The decay fit starts at the first frame after the peak where the signal has fallen
        to ``baseline + decay_fit_start * amplitude`` (default 0.9: the end of the rise and
        the noise-picked peak frame stay out; 0.5 = the window of Hess et al. 2019), or at
        the peak frame (docs/definitions.md).
    decay_fit_baseline_samples : int
        Fit the first this-many frames of the baseline window jointly as ``y = c``
        (0 = decay samples only; Hess et al. 2019 used 7).
    decay_fit_asymptote : {"free", "auto"}
        With ``decay_fit_baseline_samples = 0``: ``"free"`` fits the decay samples alone
        (``c`` free); ``"auto"`` ties ``c`` to the baseline frames (all of them, fitted
        jointly, optionally on a sloping line) unless a free ``c`` fits significantly
        better (likelihood-ratio test at p = 0.01 with the trace's noise SD). ``"auto"``
        roughly halves the scatter of tau on decays cut short by the end of the recording;
        use it on signals whose baseline does not drift (the Fura-2 ratio): a dF/F0 with a
        constant F0 on a bleaching recording drifts by less than the test can see per
        trace and biases the tied tau.
    smooth_frames : int
        Moving-average length used only to locate features.
    drift_window_s : float or None, default 30
        Only without ``stimulus_time_s``: events are runs above a baseline that follows
        slow drift (running median of the samples outside events over this many seconds),
        an event's amplitude must exceed ``responder_k`` noise SDs, and ``responder``
        means "had at least one event" (``"single"``: the largest event is reported).
        None: one constant level for the whole trace.

    Returns
    -------
    table : pandas.DataFrame
        Columns exactly :data:`KINETICS_COLUMNS`; ``roi`` and ``event`` int64,
        ``responder`` bool, the rest float64. Empty (with those columns) when R == 0.

    Notes
    -----
    Definitions and formulas of every column: ``docs/definitions.md``.

    Examples
    --------
    >>> t = np.arange(0, 60, 0.5)
    >>> y = np.where(t < 10, 1.0, 1.0 + np.exp(-(t - 10) / 5.0))
    >>> df = measure_kinetics(y[:, None], t, stimulus_time_s=10.0)
    >>> list(df.columns) == list(KINETICS_COLUMNS)
    True
    """
    o = _checked_options(
        stimulus_time_s=stimulus_time_s, baseline_window_s=baseline_window_s,
        responder_k=responder_k, responder_window_s=responder_window_s, events=events,
        event_threshold_k=event_threshold_k,
        min_event_duration_s=min_event_duration_s, min_event_separation_s=min_event_separation_s,
        decay_fit_start=decay_fit_start, decay_fit_baseline_samples=decay_fit_baseline_samples,
        decay_fit_asymptote=decay_fit_asymptote, smooth_frames=smooth_frames,
        drift_window_s=drift_window_s)
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise CaimgError(f"'signal' has shape {x.shape}: expected (T, R) (frames x ROIs)")
    T, R = x.shape
    t = check_time_s(time_s, T)
    if roi_ids is None:
        ids = np.arange(1, R + 1)
    else:
        ids = np.asarray(roi_ids)
        if ids.shape != (R,):
            raise CaimgError(f"'roi_ids' has shape {ids.shape}: expected ({R},), one id per "
                             "signal column")
    rows = []
    for j in range(R):
        for r in _responses(np.array(x[:, j]), t, int(ids[j]), o):
            rows.append(r.row())
    return _table(rows)


def _table(rows):
    import pandas as pd

    data = {c: [r[c] for r in rows] for c in KINETICS_COLUMNS}
    return pd.DataFrame({c: pd.Series(data[c], dtype=KINETICS_DTYPES[c])
                         for c in KINETICS_COLUMNS})

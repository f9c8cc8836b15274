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
import warnings
from dataclasses import asdict, dataclass, fields

import numpy as np

from .errors import CaimgError

__all__ = [
    "kinetics_options",
    "KINETICS_COLUMNS",
    "Response",
    "ExpFit",
    "measure_kinetics",
    "measure_trace",
    "detect_events",
    "noise_sd",
    "fit_exponential",
    "TREATMENT_COLUMNS",
    "measure_treatments",
    "treatments_from_table",
    "event_summary",
    "responder_fraction",
]

KINETICS_COLUMNS = ("roi", "event", "responder", "onset_s", "baseline", "peak", "amplitude",
                    "time_to_peak_s", "rise_time_s", "decay_tau_s", "decay_r2", "half_decay_s",
                    "fwhm_s", "auc", "snr")

_NAN = float("nan")


# --------------------------------------------------------------------------------------
# Small building blocks
# --------------------------------------------------------------------------------------

def noise_sd(trace) -> float:
    """Robust noise SD of a trace from its first difference.

    Parameters
    ----------
    trace : array_like, shape (T,)

    Returns
    -------
    sd : float
        ``1.4826 * median(|d - median(d)|) / sqrt(2)`` with ``d = diff(trace)`` over finite
        differences; NaN when fewer than 2 finite differences exist.

    Notes
    -----
    Differencing removes the slow signal, and the median absolute deviation ignores the
    few large steps of fast rises, so the figure measures frame-to-frame noise even on a
    trace full of responses. For white noise of SD s, ``diff`` has SD ``s*sqrt(2)``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(noise_sd(rng.normal(0, 2.0, 20000)), 1)
    2.0
    """
    y = np.asarray(trace, dtype=np.float64)
    d = np.diff(y)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return _NAN
    mad = np.median(np.abs(d - np.median(d)))
    return float(1.482602218505602 * mad / math.sqrt(2.0))


def _smooth(y, n):
    """NaN-aware centred moving average over ``n`` frames (n <= 1: a copy)."""
    y = np.asarray(y, dtype=np.float64)
    if n <= 1 or y.size == 0:
        return y.copy()
    ok = np.isfinite(y)
    k = np.ones(int(n))
    num = np.convolve(np.where(ok, y, 0.0), k, mode="same")
    den = np.convolve(ok.astype(np.float64), k, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


@dataclass(frozen=True)
class ExpFit:
    """A single-exponential fit ``y = c + a*exp(-(t - t0)/tau)``.

    Attributes
    ----------
    c, a : float
        Asymptote and amplitude at ``t0`` (signal units).
    t0 : float
        Time origin in seconds (the first fitted decay sample).
    tau : float
        Time constant in seconds.
    r2 : float
        ``1 - SS_res/SS_tot`` over every fitted sample (baseline samples included).
    n : int
        Number of fitted samples.
    """

    c: float
    a: float
    t0: float
    tau: float
    r2: float
    n: int

    def __call__(self, t):
        """Evaluate the decay model at times ``t`` (seconds)."""
        return self.c + self.a * np.exp(-(np.asarray(t, dtype=np.float64) - self.t0) / self.tau)


def _vp_grid(t, y, nb, taus):
    """Variable projection: for each tau solve c, a by least squares; return SSE, c, a."""
    # design: rows of baseline samples are [1, 0], decay rows are [1, exp(-t/tau)]
    e = np.exp(-np.outer(1.0 / taus, t))  # (K, n)
    if nb:
        e[:, :nb] = 0.0
    n = t.size
    s_e = e.sum(1)
    s_ee = (e * e).sum(1)
    s_y = y.sum()
    s_ey = e @ y
    det = n * s_ee - s_e * s_e
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (n * s_ey - s_e * s_y) / det
        c = (s_y - a * s_e) / n
    sse = ((y[None, :] - c[:, None] - a[:, None] * e) ** 2).sum(1)
    sse = np.where(np.isfinite(sse), sse, np.inf)
    return sse, c, a


def fit_exponential(t, y, *, t0: float | None = None, baseline=None) -> ExpFit | None:
    """Least-squares fit of ``y = c + a*exp(-(t - t0)/tau)``, optionally with baseline
    samples fitted jointly as ``y = c``.

    Parameters
    ----------
    t, y : array_like, shape (n,)
        Times (s) and values of the decay phase. Non-finite values are dropped.
    t0 : float, optional
        Time origin; default the first time in ``t``.
    baseline : array_like, shape (m,), optional
        Baseline samples that share the asymptote ``c`` (the authors' joint fit in
        Hess et al. 2019).

    Returns
    -------
    fit : ExpFit or None
        None when fewer than 3 finite decay samples (or 4 samples in all) are given,
        or when no finite fit exists.

    Notes
    -----
    The initial guess comes from a grid over tau (log-spaced from a tenth of the
    shortest sample spacing to 100 times the fitted span) with ``c`` and ``a`` solved
    exactly for each tau (variable projection); :func:`scipy.optimize.curve_fit`
    (Levenberg-Marquardt) then polishes it. If the polish fails or leaves the grid's
    bounds, the best grid point is refined by a bounded 1-D search over log(tau).
    """
    from scipy.optimize import curve_fit, minimize_scalar

    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    base = np.zeros(0) if baseline is None else np.asarray(baseline, dtype=np.float64)
    base = base[np.isfinite(base)]
    if t.size < 3 or t.size + base.size < 4:
        return None
    t0 = float(t[0]) if t0 is None else float(t0)
    nb = base.size
    tt = np.concatenate([np.zeros(nb), t - t0])
    yy = np.concatenate([base, y])
    span = float(t.max() - t.min())
    steps = np.diff(np.sort(t))
    step = float(steps[steps > 0].min()) if np.any(steps > 0) else span
    if not span > 0:
        return None
    lo, hi = 0.1 * step, 100.0 * span
    taus = np.geomspace(lo, hi, 48)
    sse, cs, as_ = _vp_grid(tt, yy, nb, taus)
    k = int(np.argmin(sse))
    p0 = (cs[k], as_[k], taus[k])
    mask = np.arange(tt.size) < nb

    def model(x, c, a, tau):
        out = c + a * np.exp(-x / tau)
        out[mask] = c
        return out

    p = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p, _ = curve_fit(model, tt, yy, p0=p0, method="lm", maxfev=2000)
        if not (np.all(np.isfinite(p)) and lo <= p[2] <= hi):
            p = None
    except (RuntimeError, ValueError, FloatingPointError):
        p = None
    if p is None:
        def cost(logtau):
            return _vp_grid(tt, yy, nb, np.array([math.exp(logtau)]))[0][0]
        kl, kh = max(k - 1, 0), min(k + 1, taus.size - 1)
        res = minimize_scalar(cost, bounds=(math.log(taus[kl]), math.log(taus[kh])),
                              method="bounded")
        tau = math.exp(res.x)
        _, c1, a1 = _vp_grid(tt, yy, nb, np.array([tau]))
        p = (c1[0], a1[0], tau)
    c, a, tau = (float(v) for v in p)
    if not all(math.isfinite(v) for v in (c, a, tau)):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        res = yy - model(tt, c, a, tau)
    ss_res = float(np.sum(res * res))
    ss_tot = float(np.sum((yy - yy.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else _NAN
    return ExpFit(c=c, a=a, t0=t0, tau=tau, r2=r2, n=int(tt.size))


def _robust_level(ys, sigma, k):
    """Median of the samples outside events (iterated twice)."""
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


def _event_runs(ys, t, level, sigma, k, min_duration_s, min_separation_s):
    """Runs of ``ys > level + k*sigma/2`` that reach ``level + k*sigma`` (hysteresis)."""
    if not (sigma > 0) or not math.isfinite(level):
        return []
    hi_thr, lo_thr = level + k * sigma, level + 0.5 * k * sigma
    above = np.where(np.isfinite(ys), ys > lo_thr, False)
    if not above.any():
        return []
    d = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)  # end exclusive
    runs = [[s, e] for s, e in zip(starts, ends) if np.nanmax(ys[s:e]) > hi_thr]
    merged = []
    for s, e in runs:
        if merged and t[s] - t[merged[-1][1] - 1] < min_separation_s:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged if t[e - 1] - t[s] >= min_duration_s]


def detect_events(trace, time_s, *, threshold_k: float = 5.0, min_duration_s: float = 0.0,
                  min_separation_s: float = 0.0, smooth_frames: int = 3):
    """Find transients in one trace.

    Parameters
    ----------
    trace : array_like, shape (T,)
    time_s : array_like, shape (T,)
    threshold_k : float
        An event is a run of frames where the smoothed trace exceeds
        ``level + threshold_k/2 * sd`` and reaches ``level + threshold_k * sd`` somewhere,
        with ``sd`` from :func:`noise_sd` and ``level`` the median of the frames outside
        events.
    min_duration_s : float
        Runs shorter than this (first to last frame) are dropped.
    min_separation_s : float
        Runs closer than this to the previous one are merged into it.
    smooth_frames : int
        Centred moving-average length used for detection only.

    Returns
    -------
    events : ndarray of int, shape (n, 3)
        ``start, peak, end`` frame indices (end exclusive) of each event, in time order;
        the peak is the largest smoothed value in the run.
    """
    y = np.asarray(trace, dtype=np.float64)
    t = np.asarray(time_s, dtype=np.float64)
    ys = _smooth(y, smooth_frames)
    sigma = noise_sd(y)
    level = _robust_level(ys, sigma, threshold_k)
    runs = _event_runs(ys, t, level, sigma, threshold_k, min_duration_s, min_separation_s)
    out = np.zeros((len(runs), 3), dtype=np.int64)
    for i, (s, e) in enumerate(runs):
        seg = np.where(np.isfinite(ys[s:e]), ys[s:e], -np.inf)
        out[i] = (s, s + int(np.argmax(seg)), e)
    return out


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


def _integrate(t, v, t_a, t_b):
    """Integral of the piecewise-linear interpolant of ``v`` from ``t_a`` to ``t_b``."""
    if not (math.isfinite(t_a) and math.isfinite(t_b)) or t_b <= t_a:
        return _NAN
    t_a, t_b = max(t_a, float(t[0])), min(t_b, float(t[-1]))
    if t_b <= t_a:
        return _NAN
    inner = (t > t_a) & (t < t_b)
    tt = np.concatenate([[t_a], t[inner], [t_b]])
    vv = np.concatenate([[np.interp(t_a, t, v)], v[inner], [np.interp(t_b, t, v)]])
    if not np.all(np.isfinite(vv)):
        ok = np.isfinite(vv)
        tt, vv = tt[ok], vv[ok]
        if tt.size < 2:
            return _NAN
    return float(np.trapezoid(vv, tt))


# --------------------------------------------------------------------------------------
# Response and per-trace measurement
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Response:
    """One response of one ROI: every :data:`KINETICS_COLUMNS` value plus what a plot
    needs to draw the kinetics. Times are in seconds on the clock of ``time_s``."""

    roi: int
    event: int
    responder: bool
    onset_s: float
    baseline: float
    peak: float
    amplitude: float
    time_to_peak_s: float
    rise_time_s: float
    decay_tau_s: float
    decay_r2: float
    half_decay_s: float
    fwhm_s: float
    auc: float
    snr: float
    # drawing aids
    peak_time_s: float = _NAN
    t10_s: float = _NAN
    t90_s: float = _NAN
    half_rise_s: float = _NAN
    half_fall_s: float = _NAN
    baseline_start_s: float = _NAN
    baseline_end_s: float = _NAN
    auc_start_s: float = _NAN
    auc_end_s: float = _NAN
    noise_sd: float = _NAN
    decay_fit: tuple[float, float, float, float] | None = None  # (c, a, t0, tau)
    decay_fit_start_s: float = _NAN
    decay_fit_end_s: float = _NAN

    def row(self) -> dict:
        """The table row: exactly :data:`KINETICS_COLUMNS`."""
        d = asdict(self)
        return {k: d[k] for k in KINETICS_COLUMNS}


_OPTIONS = ("stimulus_time_s", "baseline_window_s", "responder_k", "events",
            "event_threshold_k", "min_event_duration_s", "min_event_separation_s",
            "decay_fit_start", "decay_fit_baseline_samples", "smooth_frames")


def _check_options(o):
    if o["events"] not in ("single", "all"):
        raise CaimgError(f"'events' = {o['events']!r}: expected 'single' or 'all'")
    for key in ("baseline_window_s", "responder_k", "event_threshold_k"):
        v = o[key]
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise CaimgError(f"'{key}' = {v!r}: expected a number > 0")
    for key in ("min_event_duration_s", "min_event_separation_s"):
        v = o[key]
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise CaimgError(f"'{key}' = {v!r}: expected a number >= 0")
    st = o["stimulus_time_s"]
    if st is not None and not (isinstance(st, (int, float)) and math.isfinite(st)):
        raise CaimgError(f"'stimulus_time_s' = {st!r}: expected a time in seconds or None")
    fs = o["decay_fit_start"]
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
    o["decay_fit_start"] = fs if isinstance(fs, str) else float(fs)
    nb = o["decay_fit_baseline_samples"]
    if isinstance(nb, bool) or not isinstance(nb, (int, np.integer)) or nb < 0:
        raise CaimgError(f"'decay_fit_baseline_samples' = {nb!r}: expected a whole number >= 0")
    sf = o["smooth_frames"]
    if isinstance(sf, bool) or not isinstance(sf, (int, np.integer)) or sf < 1:
        raise CaimgError(f"'smooth_frames' = {sf!r}: expected a whole number >= 1")
    return o


def _options(kwargs):
    o = dict(stimulus_time_s=None, baseline_window_s=10.0, responder_k=5.0, events="single",
             event_threshold_k=5.0, min_event_duration_s=0.0, min_event_separation_s=0.0,
             decay_fit_start="peak", decay_fit_baseline_samples=0, smooth_frames=3)
    unknown = set(kwargs) - set(o)
    if unknown:
        import difflib
        key = sorted(unknown)[0]
        close = difflib.get_close_matches(key, list(o), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise CaimgError(f"unknown kinetics option '{key}'{hint} (valid: {', '.join(o)})")
    o.update(kwargs)
    return _check_options(o)


def _check_time(time_s, n):
    t = np.asarray(time_s, dtype=np.float64)
    if t.ndim != 1 or t.shape[0] != n:
        raise CaimgError(f"'time_s' has shape {t.shape}: expected ({n},), one time per frame")
    if not np.all(np.isfinite(t)) or (n > 1 and not np.all(np.diff(t) > 0)):
        raise CaimgError("'time_s' must be finite and strictly increasing (seconds)")
    return t


def _empty(roi, event, baseline=_NAN, sigma=_NAN, **extra):
    return Response(roi=roi, event=event, responder=False, onset_s=_NAN, baseline=baseline,
                    peak=_NAN, amplitude=_NAN, time_to_peak_s=_NAN, rise_time_s=_NAN,
                    decay_tau_s=_NAN, decay_r2=_NAN, half_decay_s=_NAN, fwhm_s=_NAN,
                    auc=_NAN, snr=_NAN, noise_sd=sigma, **extra)


def _measure_one(y, ys, t, sigma, *, roi, event, i_lo, i_peak_hi, i_hi, i_prev,
                 baseline_sel, fallback_level, stim, o):
    """Measure one response whose peak lies in frames [i_lo, i_peak_hi).

    ``i_prev``: first frame the rising edge may use (end of the previous event).
    ``i_hi`` also bounds the decay (next event's start or the end of the trace).
    ``baseline_sel``: bool mask of baseline frames, or None = before the onset.
    """
    h = int(o["smooth_frames"]) // 2
    seg = ys[i_lo:i_peak_hi]
    if seg.size == 0 or not np.any(np.isfinite(seg)):
        return _empty(roi, event, sigma=sigma)
    i_s = i_lo + int(np.argmax(np.where(np.isfinite(seg), seg, -np.inf)))
    a, b = max(i_lo, i_s - h), min(i_peak_hi, i_s + h + 1)
    win = y[a:b]
    if not np.any(np.isfinite(win)):
        return _empty(roi, event, sigma=sigma)
    ip = a + int(np.nanargmax(win))
    peak = float(y[ip])

    def baseline_from(sel):
        v = y[sel]
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else _NAN

    if baseline_sel is not None:
        base = baseline_from(baseline_sel)
        bl_idx = np.flatnonzero(baseline_sel)
    else:
        # Before the onset: iterate baseline -> 10/90 % crossings -> extrapolated onset.
        base, bl_idx = fallback_level, np.zeros(0, dtype=np.int64)
        for _ in range(2):
            amp = peak - base
            if not (math.isfinite(amp) and amp > 0):
                break
            t90 = _cross_before(t, y, ip, base + 0.9 * amp, i_prev)
            t10 = _cross_before(t, y, ip, base + 0.1 * amp, i_prev)
            if not (math.isfinite(t10) and math.isfinite(t90)):
                break
            onset = t10 - 0.125 * (t90 - t10)
            sel = (t >= onset - o["baseline_window_s"]) & (t < onset)
            sel[:i_prev] = False
            if not np.any(sel & np.isfinite(y)):
                break
            base, bl_idx = baseline_from(sel), np.flatnonzero(sel)
    if not math.isfinite(base):
        return _empty(roi, event, sigma=sigma)
    amp = peak - base
    snr = amp / sigma if sigma > 0 else _NAN
    if sigma > 0:
        responder = bool(amp > o["responder_k"] * sigma)
    else:
        responder = bool(amp > 0)
    bl_start = float(t[bl_idx[0]]) if bl_idx.size else _NAN
    bl_end = float(t[bl_idx[-1]]) if bl_idx.size else _NAN
    t_end = float(t[i_hi - 1])

    t90 = _cross_before(t, y, ip, base + 0.9 * amp, i_prev)
    t10 = _cross_before(t, y, ip, base + 0.1 * amp, i_prev)
    onset = t10 - 0.125 * (t90 - t10)
    auc_start = stim if stim is not None else onset
    auc = _integrate(t, y - base, auc_start, t_end)
    common = dict(roi=roi, event=event, baseline=base, peak=peak, amplitude=amp, auc=auc,
                  snr=snr, peak_time_s=float(t[ip]), baseline_start_s=bl_start,
                  baseline_end_s=bl_end, auc_start_s=auc_start, auc_end_s=t_end,
                  noise_sd=sigma)
    if not responder:
        return Response(responder=False, onset_s=_NAN, time_to_peak_s=_NAN,
                        rise_time_s=_NAN, decay_tau_s=_NAN, decay_r2=_NAN,
                        half_decay_s=_NAN, fwhm_s=_NAN, **common)

    t_half_up = _cross_before(t, y, ip, base + 0.5 * amp, i_prev)
    t_half_dn, _ = _cross_after(t, y, ip, base + 0.5 * amp, i_hi)
    t_peak = float(t[ip])
    ttp = t_peak - (stim if stim is not None else onset)

    # decay fit window
    fs = o["decay_fit_start"]
    if fs == "peak":
        j0 = ip
    else:
        _, j0 = _cross_after(t, y, ip, base + fs * amp, i_hi)
    fit = None
    if j0 >= 0 and i_hi - j0 >= 3:
        nb = int(o["decay_fit_baseline_samples"])
        bl = y[bl_idx[:nb]] if nb and bl_idx.size else None
        fit = fit_exponential(t[j0:i_hi], y[j0:i_hi], baseline=bl)
    if fit is not None and fit.a * amp > 0:
        tau, r2, params = fit.tau, fit.r2, (fit.c, fit.a, fit.t0, fit.tau)
    else:
        tau, r2, params = _NAN, _NAN, None
    return Response(responder=True, onset_s=onset, time_to_peak_s=ttp,
                    rise_time_s=t90 - t10, decay_tau_s=tau, decay_r2=r2,
                    half_decay_s=t_half_dn - t_peak, fwhm_s=t_half_dn - t_half_up,
                    t10_s=t10, t90_s=t90, half_rise_s=t_half_up, half_fall_s=t_half_dn,
                    decay_fit=params,
                    decay_fit_start_s=float(t[j0]) if j0 >= 0 else _NAN,
                    decay_fit_end_s=t_end, **common)


def measure_trace(trace, time_s, *, roi: int = 1, **options) -> list[Response]:
    """Measure the response(s) of one trace.

    Parameters
    ----------
    trace : array_like, shape (T,)
        The signal (Fura-2 ratio or [Ca2+], Fluo-4 dF/F0, ...).
    time_s : array_like, shape (T,)
        Frame times in seconds, strictly increasing.
    roi : int
        ROI id written into the responses.
    **options
        The keyword options of :func:`measure_kinetics` (``stimulus_time_s``,
        ``baseline_window_s``, ``responder_k``, ``events``, ``event_threshold_k``,
        ``min_event_duration_s``, ``min_event_separation_s``, ``decay_fit_start``,
        ``decay_fit_baseline_samples``, ``smooth_frames``).

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
    o = _options(options)
    y = np.array(trace, dtype=np.float64)  # a copy: inputs are never modified
    if y.ndim != 1:
        raise CaimgError(f"'trace' has shape {y.shape}: expected (T,)")
    t = _check_time(time_s, y.size)
    T = y.size
    finite = np.isfinite(y)
    if T < 3 or finite.sum() < 3:
        return [_empty(roi, 1 if o["events"] == "single" else 0)]
    sigma = noise_sd(y)
    if not math.isfinite(sigma):
        sigma = 0.0
    ys = _smooth(y, o["smooth_frames"])
    k = o["event_threshold_k"]
    level = _robust_level(ys, sigma, k)
    runs = _event_runs(ys, t, level, sigma, k, o["min_event_duration_s"],
                       o["min_event_separation_s"])
    stim = o["stimulus_time_s"]
    W = o["baseline_window_s"]

    if o["events"] == "single":
        if stim is not None:
            i_lo = int(np.searchsorted(t, stim, side="left"))
            if i_lo >= T:
                return [_empty(roi, 1, sigma=sigma)]
            sel = (t >= stim - W) & (t < stim)
            if not np.any(sel & finite):
                return [_empty(roi, 1, sigma=sigma)]
            i_prev = 0
        else:
            i_lo, sel, i_prev = 0, None, 0
        # the main response: largest smoothed value after the stimulus
        seg = ys[i_lo:]
        i_s = i_lo + int(np.argmax(np.where(np.isfinite(seg), seg, -np.inf)))
        # the decay is bounded by the next event that starts after the main one
        i_hi = T
        for s, e in runs:
            if s > i_s and not (s <= i_s < e):
                i_hi = s
                break
        return [_measure_one(y, ys, t, sigma, roi=roi, event=1, i_lo=i_lo, i_peak_hi=T,
                             i_hi=i_hi,
                             i_prev=i_prev, baseline_sel=sel, fallback_level=level,
                             stim=stim, o=o)]

    if not runs:
        return [_empty(roi, 0, baseline=level, sigma=sigma)]
    out = []
    for n, (s, e) in enumerate(runs):
        i_prev = runs[n - 1][1] if n else 0
        i_hi = runs[n + 1][0] if n + 1 < len(runs) else T
        out.append(_measure_one(y, ys, t, sigma, roi=roi, event=n + 1, i_lo=s, i_peak_hi=e,
                                i_hi=i_hi, i_prev=i_prev, baseline_sel=None,
                                fallback_level=level, stim=None, o=o))
    return out


def measure_kinetics(signal, time_s, *, roi_ids=None, stimulus_time_s=None,
                     baseline_window_s=10.0, responder_k=5.0, events="single",
                     event_threshold_k=5.0, min_event_duration_s=0.0,
                     min_event_separation_s=0.0, decay_fit_start="peak",
                     decay_fit_baseline_samples=0, smooth_frames=3):
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
        Responder when ``amplitude > responder_k * noise SD`` (:func:`noise_sd`).
    events : {"single", "all"}
        ``"single"``: one row per ROI (``event = 1``), the main response.
        ``"all"``: one row per detected event (``event = 1, 2, ...``); a ROI without
        events keeps one row with ``event = 0``, ``responder = False``, its baseline level
        and NaN kinetics.
    event_threshold_k, min_event_duration_s, min_event_separation_s : float
        Event detection (:func:`detect_events`); used to find events and to bound each
        event's decay (the next event's first frame).
    decay_fit_start : "peak" or float
        The decay fit starts at the peak frame, or at the first frame after the peak where
        the signal has fallen to ``baseline + decay_fit_start * amplitude``
        (0.5 = the window of Hess et al. 2019).
    decay_fit_baseline_samples : int
        Fit the first this-many frames of the baseline window jointly as ``y = c``
        (0 = decay samples only; Hess et al. 2019 used 7).
    smooth_frames : int
        Moving-average length used only to locate features.

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
    opts = _options(dict(stimulus_time_s=stimulus_time_s, baseline_window_s=baseline_window_s,
                         responder_k=responder_k, events=events,
                         event_threshold_k=event_threshold_k,
                         min_event_duration_s=min_event_duration_s,
                         min_event_separation_s=min_event_separation_s,
                         decay_fit_start=decay_fit_start,
                         decay_fit_baseline_samples=decay_fit_baseline_samples,
                         smooth_frames=smooth_frames))
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise CaimgError(f"'signal' has shape {x.shape}: expected (T, R) (frames x ROIs)")
    T, R = x.shape
    _check_time(time_s, T)
    if roi_ids is None:
        ids = np.arange(1, R + 1)
    else:
        ids = np.asarray(roi_ids)
        if ids.shape != (R,):
            raise CaimgError(f"'roi_ids' has shape {ids.shape}: expected ({R},), one id per "
                             "signal column")
    rows = []
    for j in range(R):
        for r in measure_trace(x[:, j], time_s, roi=int(ids[j]), **opts):
            rows.append(r.row())
    return _table(rows)


def _table(rows):
    import pandas as pd

    dtypes = {c: "float64" for c in KINETICS_COLUMNS}
    dtypes.update(roi="int64", event="int64", responder="bool")
    data = {c: [r[c] for r in rows] for c in KINETICS_COLUMNS}
    return pd.DataFrame({c: pd.Series(data[c], dtype=dtypes[c]) for c in KINETICS_COLUMNS})


# --------------------------------------------------------------------------------------
# Treatments, event frequency, responder fraction
# --------------------------------------------------------------------------------------

TREATMENT_COLUMNS = ("roi", "treatment", "treatment_time_s", "baseline", "baseline_sd",
                     "peak", "amplitude", "auc", "max_slope", "latency_s", "responder")


def _treatment_list(treatments):
    if isinstance(treatments, dict) or hasattr(treatments, "items"):
        items = list(treatments.items())
    else:
        items = [tuple(x) for x in treatments]
    out = []
    for item in items:
        if len(item) != 2:
            raise CaimgError(f"treatment {item!r}: expected (name, time_s)")
        name, ts = item
        try:
            ts = float(ts)
        except (TypeError, ValueError):
            raise CaimgError(f"treatment {name!r}: time_s = {ts!r} is not a number") from None
        if not math.isfinite(ts):
            raise CaimgError(f"treatment {name!r}: time_s = {ts!r}: expected a finite time")
        out.append((str(name), ts))
    return sorted(out, key=lambda x: x[1])


def treatments_from_table(table, recording: str):
    """Treatment times of one recording from a table with columns ``recording``,
    ``treatment``, ``time_s`` (e.g. a small CSV next to the recordings, read by the IO
    layer).

    Returns
    -------
    list of (str, float)
        ``(treatment, time_s)`` sorted by time.
    """
    missing = {"recording", "treatment", "time_s"} - set(table.columns)
    if missing:
        raise CaimgError(f"treatment table lacks column(s) {sorted(missing)}: expected "
                         "columns recording, treatment, time_s")
    rows = table[table["recording"].astype(str) == str(recording)]
    return _treatment_list(list(zip(rows["treatment"], rows["time_s"])))


def measure_treatments(signal, time_s, treatments, *, roi_ids=None,
                       baseline_window_s: float = 10.0, window_s: float | None = None,
                       responder_k: float = 5.0, slope_frames: int = 3):
    """Per ROI and treatment: peak, AUC over a window, maximum slope, latency, responder.

    Parameters
    ----------
    signal : array_like, shape (T, R)
    time_s : array_like, shape (T,)
    treatments : mapping name -> time_s, or sequence of (name, time_s)
        Treatment / stimulus times (s, clock of ``time_s``).
    roi_ids : array_like of int, shape (R,), optional
    baseline_window_s : float
        Baseline = frames with ``t_k - baseline_window_s <= t < t_k`` (and after the
        previous treatment's time).
    window_s : float, optional
        Response window length after each treatment; default up to the next treatment
        (or the end of the recording).
    responder_k : float
        Responder when ``peak > baseline + responder_k * baseline_sd``.
    slope_frames : int
        Frames of the local straight-line fit that estimates the slope (>= 2).

    Returns
    -------
    table : pandas.DataFrame
        :data:`TREATMENT_COLUMNS`, one row per ROI and treatment (treatments in time
        order). ``baseline_sd`` is the SD (ddof=1) of the baseline frames, ``peak`` the
        largest value in the window, ``amplitude = peak - baseline``, ``auc`` the
        trapezoid integral of ``y - baseline`` over the window (signal x s),
        ``max_slope`` the largest least-squares slope over ``slope_frames`` consecutive
        frames in the window (signal/s), ``latency_s`` the interpolated time from the
        treatment to the first crossing of ``baseline + responder_k * baseline_sd``
        (NaN for non-responders).
    """
    import pandas as pd

    x = np.asarray(signal, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise CaimgError(f"'signal' has shape {x.shape}: expected (T, R)")
    T, R = x.shape
    t = _check_time(time_s, T)
    ids = np.arange(1, R + 1) if roi_ids is None else np.asarray(roi_ids)
    if ids.shape != (R,):
        raise CaimgError(f"'roi_ids' has shape {ids.shape}: expected ({R},)")
    if isinstance(slope_frames, bool) or int(slope_frames) != slope_frames or slope_frames < 2:
        raise CaimgError(f"'slope_frames' = {slope_frames!r}: expected a whole number >= 2")
    for key, v in (("baseline_window_s", baseline_window_s), ("responder_k", responder_k)):
        if not (math.isfinite(v) and v > 0):
            raise CaimgError(f"'{key}' = {v!r}: expected a number > 0")
    if window_s is not None and not (math.isfinite(window_s) and window_s > 0):
        raise CaimgError(f"'window_s' = {window_s!r}: expected a number > 0 or None")
    tr = _treatment_list(treatments)
    rows = []
    n = int(slope_frames)
    for k, (name, tk) in enumerate(tr):
        t_prev = tr[k - 1][1] if k else -np.inf
        t_next = tr[k + 1][1] if k + 1 < len(tr) else np.inf
        t_end = min(t_next, tk + window_s if window_s is not None else np.inf, t[-1])
        bsel = (t >= max(tk - baseline_window_s, t_prev)) & (t < tk)
        wsel = (t >= tk) & (t <= t_end)
        iw = np.flatnonzero(wsel)
        for j in range(R):
            y = x[:, j]
            vb = y[bsel][np.isfinite(y[bsel])]
            vw = y[wsel]
            row = dict(roi=int(ids[j]), treatment=name, treatment_time_s=tk,
                       baseline=_NAN, baseline_sd=_NAN, peak=_NAN, amplitude=_NAN, auc=_NAN,
                       max_slope=_NAN, latency_s=_NAN, responder=False)
            if vb.size and np.any(np.isfinite(vw)):
                b = float(vb.mean())
                sd = float(vb.std(ddof=1)) if vb.size > 1 else _NAN
                peak = float(np.nanmax(vw))
                row.update(baseline=b, baseline_sd=sd, peak=peak, amplitude=peak - b,
                           auc=_integrate(t, y - b, tk, t_end))
                if iw.size >= n:
                    tw, yw = t[iw], y[iw]
                    win_t = np.lib.stride_tricks.sliding_window_view(tw, n)
                    win_y = np.lib.stride_tricks.sliding_window_view(yw, n)
                    tc = win_t - win_t.mean(1, keepdims=True)
                    slopes = (tc * (win_y - win_y.mean(1, keepdims=True))).sum(1) / \
                        (tc * tc).sum(1)
                    if np.any(np.isfinite(slopes)):
                        row["max_slope"] = float(np.nanmax(slopes))
                if math.isfinite(sd) and sd > 0:
                    level = b + responder_k * sd
                    responder = peak > level
                    row["responder"] = bool(responder)
                    if responder:
                        i0 = iw[0]
                        above = np.flatnonzero(np.where(np.isfinite(y[iw]), y[iw] > level,
                                                        False))
                        i1 = i0 + int(above[0])
                        if i1 == i0 or not math.isfinite(y[i1 - 1]):
                            tc1 = float(t[i1])
                        else:
                            tc1 = float(t[i1 - 1] + (level - y[i1 - 1]) /
                                        (y[i1] - y[i1 - 1]) * (t[i1] - t[i1 - 1]))
                        row["latency_s"] = max(tc1, tk) - tk
            rows.append(row)
    dtypes = {c: "float64" for c in TREATMENT_COLUMNS}
    dtypes.update(roi="int64", treatment="object", responder="bool")
    return pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=dtypes[c])
                         for c in TREATMENT_COLUMNS})


def event_summary(kinetics, duration_s: float):
    """Per ROI: number of events and event frequency from an ``events="all"`` table.

    Parameters
    ----------
    kinetics : pandas.DataFrame
        Output of :func:`measure_kinetics` (rows with ``event == 0`` count as no event;
        only responder events are counted).
    duration_s : float
        Recording duration in seconds.

    Returns
    -------
    pandas.DataFrame
        Columns ``roi``, ``n_events`` (int64), ``event_frequency_hz`` (= n_events /
        duration_s).
    """
    import pandas as pd

    if not (math.isfinite(duration_s) and duration_s > 0):
        raise CaimgError(f"'duration_s' = {duration_s!r}: expected a duration > 0 s")
    rois = pd.unique(kinetics["roi"])
    counted = kinetics[(kinetics["event"] > 0) & kinetics["responder"]]
    n = counted.groupby("roi").size().reindex(rois, fill_value=0).to_numpy(dtype=np.int64)
    return pd.DataFrame({"roi": pd.Series(rois, dtype="int64"),
                         "n_events": pd.Series(n, dtype="int64"),
                         "event_frequency_hz": pd.Series(n / float(duration_s),
                                                         dtype="float64")})


def responder_fraction(kinetics) -> float:
    """Fraction of ROIs with at least one responder row (NaN when there are no ROIs)."""
    if len(kinetics) == 0:
        return _NAN
    per_roi = kinetics.groupby("roi")["responder"].any()
    return float(per_roi.mean())


def kinetics_options(config) -> dict[str, Any]:
    """The keyword options of :func:`measure_kinetics` / :func:`measure_trace` from a
    recipe's ``[kinetics]`` section: one mapping shared by the pipeline and the review
    model, so a re-measured ROI gets exactly the numbers a run gives.

    Parameters
    ----------
    config : PipelineConfig

    Returns
    -------
    dict
    """
    kc = config.kinetics
    return dict(stimulus_time_s=kc.stimulus_time_s, baseline_window_s=kc.baseline_window_s,
                responder_k=kc.responder_k, events=kc.events,
                event_threshold_k=kc.event_threshold_k,
                min_event_duration_s=kc.min_event_duration_s,
                min_event_separation_s=kc.min_event_separation_s,
                decay_fit_start=kc.decay_fit_start,
                decay_fit_baseline_samples=kc.decay_fit_baseline_samples,
                smooth_frames=kc.smooth_frames)

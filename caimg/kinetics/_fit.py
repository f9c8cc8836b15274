"""Single-exponential decay fits: :class:`ExpFit`, :func:`fit_exponential` (free or
baseline-shared asymptote), :func:`fit_exponential_on_line` (onto a sloping baseline) and
:func:`fit_tied_or_free` (the choice between them of ``decay_fit_asymptote = "auto"``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["ExpFit", "fit_exponential", "fit_exponential_on_line", "fit_tied_or_free"]

_NAN = float("nan")
#: :func:`fit_tied_or_free`: the cost of one more parameter in noise variances, the 99 %
#: point of chi-squared with 1 degree of freedom (a likelihood-ratio test at p = 0.01)
_FREE_ASYMPTOTE_CHI2 = 6.635


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


def fit_exponential(time_s, y, *, t0: float | None = None, baseline=None) -> ExpFit | None:
    """Least-squares fit of ``y = c + a*exp(-(t - t0)/tau)``, optionally with baseline
    samples fitted jointly as ``y = c``.

    Parameters
    ----------
    time_s, y : array_like, shape (n,)
        Times (s) and values of the decay phase. Non-finite values are dropped.
    t0 : float, optional
        Time origin; default the first time in ``time_s``.
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

    t = np.asarray(time_s, dtype=np.float64)
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


def fit_exponential_on_line(time_s, y, baseline_time_s, baseline, *, t0: float | None = None):
    """Least-squares fit of an exponential decay onto a straight baseline:
    ``y = c + s*(t - t0) + a*exp(-(t - t0)/tau)`` on the decay samples and
    ``y = c + s*(t - t0)`` on the baseline samples, fitted jointly.

    Parameters
    ----------
    time_s, y : array_like, shape (n,)
        Times (s) and values of the decay phase. Non-finite values are dropped.
    baseline_time_s, baseline : array_like, shape (m,)
        Times (s) and values of baseline samples (before the response) that share the line.
    t0 : float, optional
        Time origin; default the first time in ``time_s``.

    Returns
    -------
    (fit, slope) : (ExpFit, float) or None
        ``fit`` holds ``c`` (the line's value at ``t0``), ``a``, ``t0``, ``tau`` and ``r2``
        over every fitted sample; ``slope`` is ``s`` (signal units per s). None when fewer
        than 3 finite decay samples or 2 finite baseline samples are given, or no finite
        fit exists.

    Notes
    -----
    ``c``, ``s`` and ``a`` enter linearly: for each tau of a log-spaced grid (as in
    :func:`fit_exponential`) they are solved by linear least squares (variable
    projection); a bounded 1-D search over log(tau) around the best grid point refines it.
    """
    from scipy.optimize import minimize_scalar

    t = np.asarray(time_s, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    tb = np.asarray(baseline_time_s, dtype=np.float64)
    yb = np.asarray(baseline, dtype=np.float64)
    okb = np.isfinite(tb) & np.isfinite(yb)
    tb, yb = tb[okb], yb[okb]
    if t.size < 3 or tb.size < 2:
        return None
    t0 = float(t[0]) if t0 is None else float(t0)
    span = float(t.max() - t.min())
    steps = np.diff(np.sort(t))
    if not span > 0 or not np.any(steps > 0):
        return None
    lo, hi = 0.1 * float(steps[steps > 0].min()), 100.0 * span
    x = np.concatenate([tb - t0, t - t0])
    yy = np.concatenate([yb, y])
    decay = np.concatenate([np.zeros(tb.size, bool), np.ones(t.size, bool)])

    def solve(tau):
        e = np.where(decay, np.exp(-np.where(decay, x, 0.0) / tau), 0.0)
        design = np.stack([np.ones_like(x), x, e], axis=1)
        coef, *_ = np.linalg.lstsq(design, yy, rcond=None)
        res = yy - design @ coef
        return float(res @ res), coef

    taus = np.geomspace(lo, hi, 48)
    sse = np.array([solve(tau)[0] for tau in taus])
    sse = np.where(np.isfinite(sse), sse, np.inf)
    k = int(np.argmin(sse))
    kl, kh = max(k - 1, 0), min(k + 1, taus.size - 1)
    r = minimize_scalar(lambda lt: solve(math.exp(lt))[0],
                        bounds=(math.log(taus[kl]), math.log(taus[kh])), method="bounded")
    tau = math.exp(r.x) if solve(math.exp(r.x))[0] <= sse[k] else float(taus[k])
    ss_res, (c, slope, a) = solve(tau)
    if not all(math.isfinite(v) for v in (c, slope, a, tau, ss_res)):
        return None
    ss_tot = float(np.sum((yy - yy.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else _NAN
    return ExpFit(c=float(c), a=float(a), t0=t0, tau=tau, r2=r2, n=int(yy.size)), float(slope)


def _sse(y, model):
    """Sum of squared residuals of the finite samples (inf when the model overflows)."""
    with np.errstate(over="ignore", invalid="ignore"):
        r = y - model
    r = r[np.isfinite(y)]
    v = float(r @ r)
    return v if math.isfinite(v) else math.inf


def fit_tied_or_free(td, yd, tb, yb, free, amp, sigma):
    """The decay fit with its asymptote tied to the baseline unless the data show it
    settles elsewhere (``decay_fit_asymptote = "auto"`` of :func:`measure_kinetics`).

    A decay cut by the end of the recording (or by the next event) pins a free asymptote
    poorly, and ``c`` and ``tau`` trade off against each other; tying ``c`` to the baseline
    frames removes most of that scatter. Three models are compared on the decay and
    baseline frames together: the asymptote tied to a flat baseline (baseline frames
    ``y = c``, fitted jointly), tied to a sloping one (``y = c + s*(t - t0)`` before and
    under the decay: slow drift), and free (``free``; the baseline frames about their own
    mean). Each is scored by its sum of squares plus ``_FREE_ASYMPTOTE_CHI2 * sigma**2``
    per parameter beyond the flat model (the 1 % point of the likelihood-ratio test for one
    parameter); the lowest score wins, ties to the simpler model.

    Parameters
    ----------
    td, yd : ndarray, shape (n,)
        Times (s) and values of the decay samples.
    tb, yb : ndarray, shape (m,)
        Times (s) and values of the baseline frames; non-finite ones are dropped.
    free : ExpFit or None
        The free-asymptote fit of ``(td, yd)`` (:func:`fit_exponential`).
    amp : float
        The response amplitude: a fit whose ``a`` has the other sign is no decay.
    sigma : float
        Noise SD of the trace (signal units).

    Returns
    -------
    (fit, slope) : (ExpFit or None, float)
        The chosen fit and the slope of its baseline line (signal units / s; 0 unless the
        sloping-baseline model won).
    """
    ok = np.isfinite(tb) & np.isfinite(yb)
    tb, yb = tb[ok], yb[ok]
    if yb.size == 0:
        return free, 0.0
    penalty = _FREE_ASYMPTOTE_CHI2 * sigma * sigma
    cands = []  # (score, complexity, fit, slope)
    tied = fit_exponential(td, yd, baseline=yb)
    if tied is not None and tied.a * amp > 0:
        cands.append((_sse(yd, tied(td)) + _sse(yb, tied.c), 0, tied, 0.0))
    line = fit_exponential_on_line(td, yd, tb, yb)
    if line is not None and line[0].a * amp > 0:
        f, slope = line
        score = _sse(yd, f(td) + slope * (td - f.t0)) + _sse(yb, f.c + slope * (tb - f.t0))
        cands.append((score + penalty, 1, f, slope))
    if free is not None and free.a * amp > 0:
        cands.append((_sse(yd, free(td)) + _sse(yb, yb.mean()) + penalty, 2, free, 0.0))
    cands = [c for c in cands if math.isfinite(c[0])]
    if not cands:
        return free, 0.0
    best = min(cands, key=lambda c: (c[0], c[1]))
    return best[2], best[3]

"""One photobleaching curve per recording, from its population of ROIs.

A constant F0 (the pre-stimulus mean) on a single-wavelength dye that bleaches makes
the dF/F0 baseline sink after the stimulus and the decay look faster. Every ROI of a
recording bleaches under the same light, so one curve ``b(t)`` (1 over the baseline
window) estimated from all ROIs gives ``F0(t) = F0_roi * b(t)`` without fitting each ROI
(a per-ROI fit follows each ROI's own transients and noise). The curve is a low
percentile across ROIs of ``F / F0_roi`` per frame (responders' transients only push a
frame's values up), fitted in log by a quadratic in time that discards frames lying
above it (transients again) until the kept set is stable. Definitions:
``docs/definitions.md`` (F0).
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["population_bleach"]


def _lower_fit(t, y, *, degree, clip_k=2.0, n_iter=30):
    """Polynomial fit of ``y(t)`` that ignores points above it: the noise SD comes from
    the points below the fit (transients only add), points more than ``clip_k`` SD above
    are dropped, repeated until the kept set does not change.
    """
    keep = np.isfinite(y)
    coef = None
    for _ in range(n_iter):
        if keep.sum() <= degree + 2:
            break
        coef = np.polynomial.polynomial.polyfit(t[keep], y[keep], degree)
        resid = y - np.polynomial.polynomial.polyval(t, coef)
        below = resid[keep & (resid < 0)]
        sd = float(np.sqrt(np.mean(below ** 2))) if below.size else 0.0
        new = np.isfinite(y) & (resid <= clip_k * sd)
        if np.array_equal(new, keep):
            break
        keep = new
    return coef


def population_bleach(f, f0, time_s, *, stimulus_time_s: float, baseline_window_s: float,
                      percentile: float = 25.0, min_rois: int = 8,
                      min_bleach: float = 0.01) -> tuple[np.ndarray, dict]:
    """The recording's photobleaching curve, 1 over the pre-stimulus baseline window.

    Parameters
    ----------
    f : ndarray, shape (T, R)
        Background-subtracted fluorescence of every ROI.
    f0 : ndarray, shape (T, R)
        Constant pre-stimulus baseline of each ROI (:func:`caimg.signals.compute_f0`,
        ``mode="prestim"``).
    time_s : ndarray, shape (T,)
        Frame times in seconds.
    stimulus_time_s, baseline_window_s : float
        The baseline window ``stimulus_time_s - baseline_window_s <= t < stimulus_time_s``
        (seconds) over which the curve averages 1.
    percentile : float
        Per frame, this percentile across ROIs of ``F / F0_roi`` (low, so responders'
        transients do not lift it while fewer than ``100 - percentile`` % respond).
    min_rois : int
        Fewer ROIs with a positive F0: no curve (too few to tell bleaching from signal).
    min_bleach : float
        A fitted curve that departs from 1 by less than this fraction anywhere, or that
        rises over the recording, is not applied (no bleaching to correct).

    Returns
    -------
    curve : ndarray, shape (T,)
        ``b(t)``; all ones when not applied.
    info : dict
        ``applied`` (bool), ``rois_used`` (int), ``bleach_fraction`` (``1 - b`` at the
        last frame, fitted) and ``reason`` when not applied; for ``run.json``.
    """
    t = np.asarray(time_s, dtype=np.float64)
    ones = np.ones(t.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.isfinite(f0).all(axis=0) & (f0 > 0).all(axis=0)
        ratio = f[:, ok] / f0[:, ok]
    n_used = int(ok.sum())
    info: dict = {"applied": False, "rois_used": n_used}
    if n_used < min_rois:
        return ones, {**info, "reason": f"{n_used} ROIs with a positive F0, fewer than "
                                        f"{min_rois}: constant F0 kept"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames -> NaN
        low = np.nanpercentile(ratio, percentile, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(low > 0, np.log(low), np.nan)
    span = max(float(t[-1] - t[0]), 1e-12)
    x = (t - t[0]) / span
    curve = None
    for degree in (2, 1):  # a quadratic that turns upward falls back to an exponential
        coef = _lower_fit(x, y, degree=degree)
        if coef is None:  # too few frames with a positive percentile for this degree
            continue
        fitted = np.exp(np.polynomial.polynomial.polyval(x, coef))
        if np.all(np.diff(fitted) <= 1e-12):
            curve = fitted
            break
    if curve is None:
        return ones, {**info, "reason": "no falling population baseline (or too few "
                                        "frames to fit one): constant F0 kept"}
    base = (t >= stimulus_time_s - baseline_window_s) & (t < stimulus_time_s)
    curve = curve / float(np.mean(curve[base])) if base.any() else curve / curve[0]
    info["bleach_fraction"] = round(float(1.0 - curve[-1] / curve[0]), 5)
    if np.max(np.abs(curve - 1.0)) < min_bleach:
        return ones, {**info, "reason": f"bleaching below {min_bleach:g}: constant F0 kept"}
    return curve, {**info, "applied": True}

"""What one response of one trace is: :class:`Response` (a ``kinetics.csv`` row and what a
plot needs), and :func:`integrate`, the area under a sampled trace between two times.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..result import KINETICS_COLUMNS

__all__ = ["Response", "integrate"]

_NAN = float("nan")


def integrate(t, v, t_a, t_b):
    """Integral of the piecewise-linear interpolant of ``v`` from ``t_a`` to ``t_b``.

    Parameters
    ----------
    t, v : ndarray, shape (T,)
        Times (s) and values; non-finite values are left out.
    t_a, t_b : float
        Limits in seconds, clipped to ``t``.

    Returns
    -------
    float
        NaN when the limits are not finite, empty, or fewer than 2 finite points remain.
    """
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
    needs to draw the kinetics. Times are in seconds on the clock of ``time_s``.
    """

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
    # slope (signal units / s) of the baseline line under the fitted decay: the drawn decay
    # is c + slope * (t - t0) + a * exp(-(t - t0) / tau); 0 unless decay_fit_asymptote =
    # "auto" chose a sloping baseline
    decay_fit_slope: float = 0.0

    def row(self) -> dict:
        """The table row: exactly :data:`KINETICS_COLUMNS`."""
        d = asdict(self)
        return {k: d[k] for k in KINETICS_COLUMNS}

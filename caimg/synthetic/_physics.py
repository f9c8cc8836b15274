"""Photophysics and response model of the synthetic generator.

The Fura-2 and Fluo-4 equations, the response curve, and the per-cell response truth.

These equations are written out here, not imported from :mod:`caimg.signals`: the ground
truth must not be computed by the code it is used to test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import ConfigError

__all__ = ["fura2_ratio_to_calcium", "fura2_calcium_to_ratio", "fura2_fluorescence",
           "fluo4_calcium", "rise_time_factor", "response_curve", "draw_responses"]


# duplicates caimg.signals.grynkiewicz on purpose: the ground truth must not use the code
# under test
def fura2_ratio_to_calcium(ratio, *, kd_nM=224.0, rmin=0.3, rmax=6.0, beta=6.0):
    """[Ca2+] from a Fura-2 ratio by the Grynkiewicz equation.

    Parameters
    ----------
    ratio : array_like
        R = F340 / F380 (background-subtracted), any shape.
    kd_nM, rmin, rmax, beta : float
        Dissociation constant (nM), ratio at zero and at saturating calcium, and
        F380(free) / F380(bound).

    Returns
    -------
    ndarray of float64
        [Ca2+] in nM, same shape as ``ratio``.

    Notes
    -----
    ``Ca = Kd * beta * (R - Rmin) / (Rmax - R)``.

    References
    ----------
    Grynkiewicz G, Poenie M, Tsien RY (1985) J Biol Chem 260:3440-3450.
    doi:10.1016/S0021-9258(19)83641-4

    Examples
    --------
    >>> round(float(fura2_ratio_to_calcium(1.0)), 1)  # 224 * 6 * 0.7 / 5
    188.2
    """
    r = np.asarray(ratio, dtype=float)
    return kd_nM * beta * (r - rmin) / (rmax - r)


def fura2_calcium_to_ratio(ca_nM, *, kd_nM=224.0, rmin=0.3, rmax=6.0, beta=6.0):
    """Fura-2 ratio from [Ca2+] (inverse of :func:`fura2_ratio_to_calcium`).

    Parameters
    ----------
    ca_nM : array_like
        [Ca2+] in nM.
    kd_nM : float
        Dissociation constant in nM.
    rmin, rmax : float
        Ratios (F340/F380) of calcium-free and calcium-saturated dye.
    beta : float
        F380 of free over bound dye.

    Returns
    -------
    ndarray
        The ratio F340/F380, same shape as ``ca_nM``.

    Notes
    -----
    ``R = (Rmin * Kd * beta + Rmax * Ca) / (Kd * beta + Ca)``.
    """
    ca = np.asarray(ca_nM, dtype=float)
    kb = kd_nM * beta
    return (rmin * kb + rmax * ca) / (kb + ca)


def fura2_fluorescence(ca_nM, loading, *, kd_nM=224.0, rmin=0.3, rmax=6.0, beta=6.0):
    """Per-wavelength Fura-2 fluorescence of a cell from its [Ca2+].

    Parameters
    ----------
    ca_nM : array_like, shape (T, N) or broadcastable
        [Ca2+] in nM.
    loading : array_like, shape (N,) or broadcastable
        Dye amount, as the 380 nm fluorescence of calcium-free dye (photoelectrons).
    kd_nM, rmin, rmax, beta : float
        Calibration constants.

    Returns
    -------
    f340, f380 : ndarray of float64
        Fluorescence at 340 and 380 nm excitation, broadcast shape.

    Notes
    -----
    ``fb = Ca / (Ca + Kd)``, ``F = loading * (s_free * (1 - fb) + s_bound * fb)`` with
    ``s380f = 1``, ``s380b = 1 / beta``, ``s340f = Rmin``, ``s340b = Rmax / beta``, so
    that ``F340 / F380 = fura2_calcium_to_ratio(Ca)``.
    """
    ca = np.asarray(ca_nM, dtype=float)
    fb = ca / (ca + kd_nM)
    load = np.asarray(loading, dtype=float)
    f340 = load * (rmin * (1 - fb) + (rmax / beta) * fb)
    f380 = load * ((1 - fb) + fb / beta)
    return f340, f380


def fluo4_calcium(dff, ca_rest_nM, *, kd_nM=345.0, fmax_fmin=100.0):
    """[Ca2+] of a single-wavelength indicator from dF/F0 and the resting [Ca2+].

    Parameters
    ----------
    dff : array_like, shape (T, N)
        dF/F0.
    ca_rest_nM : array_like, shape (N,)
        Resting [Ca2+] (the calcium at F0), nM.
    kd_nM, fmax_fmin : float
        Dissociation constant and dynamic range Fmax / Fmin.

    Returns
    -------
    ndarray of float64, shape (T, N)
        [Ca2+] in nM.

    Notes
    -----
    ``F0 / Fmin = 1 + (Fmax/Fmin - 1) * fb0`` with ``fb0 = Ca0 / (Ca0 + Kd)``,
    ``F / Fmin = F0 / Fmin * (1 + dF/F0)`` and ``Ca = Kd * (F - Fmin) / (Fmax - F)``.
    """
    ca0 = np.asarray(ca_rest_nM, dtype=float)
    fb0 = ca0 / (ca0 + kd_nM)
    f = (1 + (fmax_fmin - 1) * fb0) * (1 + np.asarray(dff, dtype=float))
    return kd_nM * (f - 1) / (fmax_fmin - f)


def rise_time_factor(*, rise_shape="linear"):
    """10-90 % rise time as a fraction of the rise duration (onset to peak).

    ``0.8`` for a linear ramp; ``(acos(-0.8) - acos(0.8)) / pi`` (about 0.590) for a
    raised cosine ``(1 - cos(pi * u)) / 2``.

    Parameters
    ----------
    rise_shape : {"linear", "cosine"}
        The shape of the rise.

    Returns
    -------
    float
        The 10-90 % rise time over the rise duration (dimensionless).

    Raises
    ------
    ConfigError
        For another ``rise_shape``.
    """
    if rise_shape == "linear":
        return 0.8
    if rise_shape == "cosine":
        return (math.acos(-0.8) - math.acos(0.8)) / math.pi
    raise ConfigError(f"rise_shape = {rise_shape!r}: expected 'linear' or 'cosine'")


def response_curve(time_s, *, baseline, amplitude, onset_s, rise_duration_s, decay_tau_s,
                   rise_shape="linear"):
    """Evaluate the model response at any times.

    Parameters
    ----------
    time_s : array_like, shape (T,)
        Times in s.
    baseline, amplitude : float or array_like of shape (N,)
        ``S0`` and ``A`` (signal units).
    onset_s, rise_duration_s, decay_tau_s : float or array_like of shape (N,)
        Start of the rise, its duration to the peak, and the decay time constant (s).
    rise_shape : {"linear", "cosine"}
        Ramp or raised cosine.

    Returns
    -------
    ndarray of float64, shape (T,) or (T, N)

    Notes
    -----
    ``S = S0`` for ``t < onset``; ``S0 + A * g((t - onset) / rise)`` during the rise with
    ``g(u) = u`` or ``(1 - cos(pi u)) / 2``; ``S0 + A * exp(-(t - t_peak) / tau)`` after
    ``t_peak = onset + rise``.

    Examples
    --------
    >>> y = response_curve([0.0, 2.0, 7.0], baseline=1, amplitude=2, onset_s=1,
    ...                    rise_duration_s=2, decay_tau_s=4)
    >>> bool(np.allclose(y, [1.0, 2.0, 1 + 2 * np.exp(-1)]))
    True
    """
    t = np.asarray(time_s, dtype=float)
    scalar_params = all(np.ndim(v) == 0 for v in
                        (baseline, amplitude, onset_s, rise_duration_s, decay_tau_s))
    if not scalar_params:
        t = t[..., None]
    s0 = np.asarray(baseline, dtype=float)
    a = np.asarray(amplitude, dtype=float)
    on = np.asarray(onset_s, dtype=float)
    rise = np.asarray(rise_duration_s, dtype=float)
    tau = np.asarray(decay_tau_s, dtype=float)
    t_peak = on + rise
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.clip((t - on) / np.where(rise > 0, rise, 1.0), 0.0, 1.0)
        if rise_shape == "cosine":
            g = (1 - np.cos(np.pi * u)) / 2
        else:
            rise_time_factor(rise_shape=rise_shape)
            g = u
        g = np.where(t >= t_peak, np.exp(-np.maximum(t - t_peak, 0.0) / tau), g)
        g = np.where(t < on, 0.0, g)
    out = s0 + a * g
    return np.asarray(out, dtype=float)


def draw_responses(k, rng, n, time_s, stim, indicator):
    """Draw the per-cell responses: the true signal, [Ca2+] and kinetics.

    Parameters
    ----------
    k : dict
        Resolved knobs (:func:`resolve_knobs`).
    rng : numpy.random.Generator
        The recording's generator (the order of its draws is part of the contract).
    n : int
        Number of cells N.
    time_s : ndarray of float64, shape (T,)
        Frame times, s.
    stim : float
        Stimulus time, s.
    indicator : {"fura2", "fluo4"}
        Sets the signal (ratio or dF/F0) and its conversion to [Ca2+].

    Returns
    -------
    signal : ndarray of float64, shape (T, N)
        True noiseless signal.
    calcium : ndarray of float64, shape (T, N)
        True [Ca2+], nM.
    kinetics : pandas.DataFrame
        One row per cell: the truth columns plus ``peak_time_s``, ``rise_duration_s``,
        ``fwhm_s`` and ``ca_rest_nM``.
    """
    dt = k["frame_interval_s"]
    n_frames = len(time_s)
    n_resp = int(round(k["responder_fraction"] * n))
    responder = np.zeros(n, dtype=bool)
    if n_resp:
        responder[rng.choice(n, size=n_resp, replace=False)] = True
    ca_rest = rng.uniform(k["ca_rest_min_nM"], k["ca_rest_max_nM"], size=n)
    if k["spontaneous"]:  # onsets anywhere from latency_min_s to 70 % of the recording
        lat_lo = k["latency_min_s"] - stim
        lat_hi = max(lat_lo, 0.7 * float(time_s[-1]) - stim)
    else:
        lat_lo, lat_hi = k["latency_min_s"], k["latency_max_s"]
    latency = rng.uniform(lat_lo, lat_hi, size=n)
    rise = rng.uniform(k["rise_min_s"], k["rise_max_s"], size=n)
    tau = rng.uniform(k["tau_min_s"], k["tau_max_s"], size=n)
    amp = rng.uniform(k["amplitude_min"], k["amplitude_max"], size=n)
    if indicator == "fura2":
        s0 = fura2_calcium_to_ratio(ca_rest, kd_nM=k["kd_nM"], rmin=k["rmin"], rmax=k["rmax"],
                                    beta=k["beta"])
        headroom = k["rmax"] - s0
    else:
        s0 = np.zeros(n)
        fb0 = ca_rest / (ca_rest + k["kd_nM"])
        headroom = k["fmax_fmin"] / (1 + (k["fmax_fmin"] - 1) * fb0) - 1
    amp = np.minimum(amp, 0.8 * headroom)
    # peak on a frame time so the sampled maximum is the true peak
    t_peak = stim + latency + rise
    t_peak = np.clip(np.round(t_peak / dt) * dt, time_s[0], time_s[-1])
    onset = t_peak - rise
    amp = np.where(responder, amp, 0.0)
    signal = response_curve(time_s, baseline=s0, amplitude=amp, onset_s=onset,
                            rise_duration_s=rise, decay_tau_s=tau, rise_shape=k["rise_shape"])
    signal = np.broadcast_to(signal, (n_frames, n)).astype(float)
    if indicator == "fura2":
        ca = fura2_ratio_to_calcium(signal, kd_nM=k["kd_nM"], rmin=k["rmin"],
                                    rmax=k["rmax"], beta=k["beta"])
    else:
        ca = fluo4_calcium(signal, ca_rest, kd_nM=k["kd_nM"], fmax_fmin=k["fmax_fmin"])
    nan = np.full(n, np.nan)
    f_rise = rise_time_factor(rise_shape=k["rise_shape"])
    kin = pd.DataFrame({
        "roi": np.arange(1, n + 1, dtype=np.int64),
        "responder": responder,
        "onset_s": np.where(responder, onset, nan),
        "baseline": s0,
        "peak": s0 + amp,
        "amplitude": amp,
        "time_to_peak_s": np.where(responder & (not k["spontaneous"]), t_peak - stim, nan),
        "rise_time_s": np.where(responder, f_rise * rise, nan),
        "decay_tau_s": np.where(responder, tau, nan),
        "half_decay_s": np.where(responder, tau * math.log(2), nan),
        "peak_time_s": np.where(responder, t_peak, nan),
        "rise_duration_s": np.where(responder, rise, nan),
        "fwhm_s": np.where(responder, rise / 2 + tau * math.log(2), nan),
        "ca_rest_nM": ca_rest,
    })
    return signal, ca, kin

"""Behaviour families of the synthetic generator: responses that cross the cell as a wave.

A wave cell is rendered as ``wave_bands`` stripes across its direction of travel, each
with the cell's response delayed by its distance along the wave; the truth is the
signal of the whole mask (what a ROI measures), and its kinetics are measured on a fine
time grid.
"""

from __future__ import annotations

import math

import numpy as np

from ._physics import (
    fluo4_calcium,
    fura2_fluorescence,
    fura2_ratio_to_calcium,
    response_curve,
)

__all__ = ["wave_bands", "wave_columns", "wave_truth"]


def wave_bands(owner, labels, prof, n, responder, k, rng):
    """Split each responding cell into stripes along a random direction.

    Parameters
    ----------
    owner : ndarray of int32, shape (Y, X)
        Cell id per rendered pixel (masks and neurites), 0 = none.
    labels : ndarray of int32, shape (Y, X)
        True masks.
    prof : ndarray of float64, shape (Y, X)
        Static weights.
    n : int
        Number of cells.
    responder : ndarray of bool, shape (N,)
        Which cells respond (only those get a wave).
    k : dict
        Knobs (``wave_bands``, ``wave_delay_s``).
    rng : numpy.random.Generator
        The recording's generator.

    Returns
    -------
    band_owner : ndarray of int32, shape (Y, X)
        Column id (1-based) per pixel: column ``cell_index * B + band + 1``.
    delay_s : ndarray of float64, shape (N, B)
        Delay of each band after the cell's own onset, s.
    weight : ndarray of float64, shape (N, B)
        Sum of ``prof`` over each band's true-mask pixels (what a mask mean weighs).
    """
    n_b = int(k["wave_bands"])
    band = np.zeros(owner.shape, dtype=np.int64)
    angles = rng.uniform(0, 2 * np.pi, size=n)
    rr, cc = np.indices(owner.shape)
    for i in range(1, n + 1):
        if not responder[i - 1]:
            continue
        sel = owner == i
        if not sel.any():
            continue
        proj = rr[sel] * math.sin(angles[i - 1]) + cc[sel] * math.cos(angles[i - 1])
        mask_proj = proj[labels[sel] == i]
        lo, hi = (mask_proj.min(), mask_proj.max()) if mask_proj.size else (proj.min(),
                                                                              proj.max())
        u = np.clip((proj - lo) / max(hi - lo, 1e-9), 0, 1 - 1e-9)
        band[sel] = (u * n_b).astype(np.int64)
    band_owner = np.where(owner > 0, (owner - 1) * n_b + band + 1, 0).astype(np.int32)
    delay = np.zeros((n, n_b))
    delay[responder] = k["wave_delay_s"] * (np.arange(n_b) + 0.5) / n_b
    in_mask = labels > 0
    weight = np.bincount(band_owner[in_mask], weights=prof[in_mask],
                         minlength=n * n_b + 1)[1:].reshape(n, n_b)
    return band_owner, delay, weight


def _column_signal(time_s, kin, delay, k):
    """Signal (T, N, B) of every band: the cell's response with the band's delay."""
    n, n_b = delay.shape
    amp = kin["amplitude"].to_numpy()
    onset = np.nan_to_num(kin["onset_s"].to_numpy(), nan=0.0)
    rise = np.nan_to_num(kin["rise_duration_s"].to_numpy(), nan=1.0)
    tau = np.nan_to_num(kin["decay_tau_s"].to_numpy(), nan=1.0)
    s0 = kin["baseline"].to_numpy()

    def rep(a):
        return np.repeat(a, n_b)

    sig = response_curve(time_s, baseline=rep(s0), amplitude=rep(amp),
                         onset_s=rep(onset) + delay.ravel(), rise_duration_s=rep(rise),
                         decay_tau_s=rep(tau), rise_shape=k["rise_shape"])
    return np.broadcast_to(sig, (len(time_s), n * n_b)).reshape(len(time_s), n, n_b)


def wave_columns(time_s, kin, delay, f_rest_or_loading, indicator, k):
    """Per-channel fluorescence (T, N*B) of every band column, photoelectrons."""
    sig = _column_signal(time_s, kin, delay, k)
    n, n_b = delay.shape
    t = len(time_s)
    if indicator == "fura2":
        ca = fura2_ratio_to_calcium(sig, kd_nM=k["kd_nM"], rmin=k["rmin"], rmax=k["rmax"],
                                    beta=k["beta"])
        f340, f380 = fura2_fluorescence(ca, f_rest_or_loading[None, :, None], kd_nM=k["kd_nM"],
                                        rmin=k["rmin"], rmax=k["rmax"], beta=k["beta"])
        return [f340.reshape(t, n * n_b), f380.reshape(t, n * n_b)]
    return [(f_rest_or_loading[None, :, None] * (1 + sig)).reshape(t, n * n_b)]


def _mask_signal(time_s, kin, delay, weight, indicator, k):
    """The signal a true mask measures: weighted band mean (Fluo-4) or ratio of sums."""
    sig = _column_signal(time_s, kin, delay, k)
    w = weight / np.maximum(weight.sum(axis=1, keepdims=True), 1e-12)
    if indicator == "fura2":
        ca = fura2_ratio_to_calcium(sig, kd_nM=k["kd_nM"], rmin=k["rmin"], rmax=k["rmax"],
                                    beta=k["beta"])
        f340, f380 = fura2_fluorescence(ca, 1.0, kd_nM=k["kd_nM"], rmin=k["rmin"],
                                        rmax=k["rmax"], beta=k["beta"])
        return (f340 * w[None]).sum(axis=2) / (f380 * w[None]).sum(axis=2)
    return (sig * w[None]).sum(axis=2)


def wave_truth(time_s, kin, delay, weight, indicator, k):
    """The truth of wave cells: mask signal, [Ca2+] and kinetics measured on a fine grid.

    Returns
    -------
    signal : ndarray of float64, shape (T, N)
    calcium : ndarray of float64, shape (T, N)
    kin : pandas.DataFrame
        ``kin`` with amplitude, peak, peak/onset times, rise and half-decay times of the
        wave cells replaced by those of their mask signal (decay tau is unchanged: a sum
        of exponentials with one tau is that exponential).
    """
    signal = _mask_signal(time_s, kin, delay, weight, indicator, k)
    if indicator == "fura2":
        ca = fura2_ratio_to_calcium(signal, kd_nM=k["kd_nM"], rmin=k["rmin"], rmax=k["rmax"],
                                    beta=k["beta"])
    else:
        ca = fluo4_calcium(signal, kin["ca_rest_nM"].to_numpy(), kd_nM=k["kd_nM"],
                           fmax_fmin=k["fmax_fmin"])
    dt = float(time_s[1] - time_s[0]) if len(time_s) > 1 else 1.0
    fine = np.arange(time_s[0], time_s[-1] + dt / 2, dt / 50)
    fs = _mask_signal(fine, kin, delay, weight, indicator, k)
    kin = kin.copy()
    s0 = kin["baseline"].to_numpy()
    stim_rel = (kin["peak_time_s"] - kin["time_to_peak_s"]).to_numpy()
    for i in np.flatnonzero(kin["responder"].to_numpy()):
        y = fs[:, i] - s0[i]
        j = int(np.argmax(y))
        a = float(y[j])
        if a <= 0:
            continue
        up = y[:j + 1]
        t10 = fine[np.argmax(up >= 0.1 * a)]
        t90 = fine[np.argmax(up >= 0.9 * a)]
        onset = fine[np.argmax(up > 1e-9 * a)]
        kin.loc[kin.index[i], "amplitude"] = a
        kin.loc[kin.index[i], "peak"] = s0[i] + a
        kin.loc[kin.index[i], "peak_time_s"] = fine[j]
        kin.loc[kin.index[i], "time_to_peak_s"] = fine[j] - stim_rel[i]
        kin.loc[kin.index[i], "onset_s"] = onset
        kin.loc[kin.index[i], "rise_time_s"] = t90 - t10
        kin.loc[kin.index[i], "rise_duration_s"] = fine[j] - onset
    return signal, ca, kin

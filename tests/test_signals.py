"""Signals: background, Fura-2 ratio NaN rule, calibration, F0 modes, dF/F0."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from caimg.errors import CaimgError
from caimg.signals import (
    calibration_flags,
    compute_f0,
    dff,
    fluo_calcium,
    fura2_ratio,
    fura2_ratio_flags,
    grynkiewicz,
    insitu_calibration,
    ratio_over_r0,
    subtract_background,
)


def test_subtract_background_shapes():
    m = np.arange(12, dtype=np.uint16).reshape(4, 3)
    out = subtract_background(m, np.array([1.0, 2.0, 3.0, 4.0]))
    assert out.dtype == np.float64 and out.shape == (4, 3)
    assert np.array_equal(out[:, 0], [-1.0, 1.0, 3.0, 5.0])
    assert np.array_equal(subtract_background(m, 2), m - 2.0)  # no uint wrap-around
    assert np.array_equal(subtract_background(m, np.ones((4, 3))), m - 1.0)
    with pytest.raises(CaimgError, match="background"):
        subtract_background(m, np.ones(5))


def test_ratio_nan_rule_and_warning():
    f340 = np.array([[2.0, 2.0, 2.0], [3.0, 3.0, 3.0], [4.0, 4.0, 4.0]])
    f380 = np.array([[1.0, 1.0, 1.0], [1.5, 0.0, 1.0], [2.0, -1.0, 1e-9]])
    with pytest.warns(UserWarning, match="2 of 3 ROI"):
        r = fura2_ratio(f340, f380)
    assert np.array_equal(r[:, 0], [2.0, 2.0, 2.0])
    assert np.isnan(r[1, 1]) and np.isnan(r[2, 1])  # zero and negative F380
    assert np.isnan(r[2, 2])                        # 1e-9 <= 1e-6 * median(|F380|) = 1e-6
    assert not np.isinf(r).any()
    flags = fura2_ratio_flags(f340, f380)
    assert np.array_equal(flags, np.isnan(r))
    # a looser threshold flags more; 0 keeps only the sign rule
    assert fura2_ratio_flags(f340, f380, min_denominator=0.8).sum() > flags.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean = fura2_ratio(f340[:, :1], f380[:, :1])
    assert clean.shape == (3, 1)


def test_ratio_inputs_unchanged_and_shape_mismatch():
    a, b = np.ones((5, 2)), np.full((5, 2), 2.0)
    a0, b0 = a.copy(), b.copy()
    fura2_ratio(a, b)
    assert np.array_equal(a, a0) and np.array_equal(b, b0)
    with pytest.raises(CaimgError, match="f380"):
        fura2_ratio(a, np.ones((5, 3)))


def test_grynkiewicz_by_hand():
    # Kd*beta*(R-Rmin)/(Rmax-R) with Kd=224, beta=5, Rmin=0.2, Rmax=2.2
    r = np.array([0.1, 0.2, 0.7, 1.2, 2.2, 3.0, np.nan])
    ca = grynkiewicz(r, rmin=0.2, rmax=2.2, kd_nM=224.0, beta=5.0)
    assert ca[2] == pytest.approx(1120 * 0.5 / 1.5)
    assert ca[3] == pytest.approx(1120.0)
    assert np.isnan(ca[[0, 1, 4, 5, 6]]).all()
    assert np.array_equal(np.isnan(ca), calibration_flags(r, lo=0.2, hi=2.2))
    assert np.allclose(grynkiewicz(r, rmin=0.2, rmax=2.2, keff_nM=1120.0), ca, equal_nan=True)
    # keff_nM wins over kd_nM * beta (a recipe always carries a default kd_nM)
    assert np.allclose(grynkiewicz(r, rmin=0.2, rmax=2.2, keff_nM=1120.0, kd_nM=1.0, beta=1.0),
                       ca, equal_nan=True)


@pytest.mark.parametrize("kwargs, word", [
    (dict(rmin=0.2, rmax=2.0), "keff_nM"),
    (dict(rmin=2.0, rmax=0.2, keff_nM=1.0), "rmin"),
    (dict(rmin=None, rmax=2.0, keff_nM=1.0), "rmin"),
    (dict(rmin=0.2, rmax=2.0, kd_nM=224.0), "beta"),
])
def test_grynkiewicz_bad_profile(kwargs, word):
    with pytest.raises(CaimgError, match=word):
        grynkiewicz(np.ones(3), **kwargs)


def test_fluo_calcium_by_hand():
    f = np.array([50.0, 100.0, 600.0, 1100.0, 2000.0])
    ca = fluo_calcium(f, kd_nM=345.0, fmin=100.0, fmax=1100.0)
    assert ca[2] == pytest.approx(345.0)
    assert np.isnan(ca[[0, 1, 3, 4]]).all()


def test_dff_and_ratio_over_r0():
    f = np.array([[1.0, 2.0], [1.5, 2.0], [2.0, 4.0]])
    f0 = np.array([1.0, 0.0])
    d = dff(f, f0)
    assert np.allclose(d[:, 0], [0.0, 0.5, 1.0])
    assert np.isnan(d[:, 1]).all()  # F0 <= 0
    rr0, drr0 = ratio_over_r0(f, f0)
    assert np.allclose(rr0[:, 0], [1.0, 1.5, 2.0]) and np.allclose(drr0[:, 0], d[:, 0])


T = np.arange(0, 120, 0.5)


def test_f0_prestim_and_auto():
    f = np.where(T < 30, 100.0, 150.0)[:, None] * np.array([1.0, 2.0])
    f0 = compute_f0(f, T, mode="prestim", stimulus_time_s=30.0, baseline_window_s=10.0)
    assert f0.shape == f.shape and np.allclose(f0, [100.0, 200.0])
    assert np.array_equal(compute_f0(f, T, stimulus_time_s=30.0), f0)  # auto -> prestim
    with pytest.raises(CaimgError, match="stimulus_time_s"):
        compute_f0(f, T, mode="prestim")
    with pytest.raises(CaimgError, match="stimulus_time_s"):
        compute_f0(f, T, mode="prestim", stimulus_time_s=0.0)
    with pytest.raises(CaimgError, match="f0_mode"):
        compute_f0(f, T, mode="median")


def test_f0_percentile():
    f = np.arange(T.size, dtype=float)
    f0 = compute_f0(f, T)  # auto without stimulus -> 10th percentile
    assert np.allclose(f0, np.percentile(f, 10))
    assert np.allclose(compute_f0(f, T, mode="percentile", percentile=50), np.median(f))


def test_f0_rolling_follows_slow_drift_not_transients():
    drift = 100.0 + 0.5 * T
    f0 = compute_f0(drift, T, mode="rolling", percentile=10, window_s=20.0)
    inner = (T > 10) & (T < 110)
    # the 10th percentile of a centred 20 s (41 frames) ramp lies 16 frames = 8 s below
    # its centre: 0.5 * 8 = 4 below the ramp
    assert np.allclose(f0[inner], drift[inner] - 4.0)
    f = np.full(T.size, 100.0)
    f[(T >= 60) & (T < 64)] += 50.0  # a short transient does not lift F0
    f0 = compute_f0(f, T, mode="rolling", percentile=10, window_s=20.0)
    assert np.allclose(f0, 100.0)
    assert f0.shape == f.shape and np.isfinite(f0).all()
    f_nan = f.copy()
    f_nan[::7] = np.nan
    assert np.isfinite(compute_f0(f_nan, T, mode="rolling")).all()


def test_f0_bleach_fit_recovers_exponential():
    bleach = 80.0 + 40.0 * np.exp(-T / 35.0)
    rng = np.random.default_rng(0)
    f = np.stack([bleach, bleach * 2.0], axis=1)
    f[T >= 50] *= 1.3  # a sustained response after the stimulus must not bias F0
    f_noisy = f + rng.normal(0, 0.2, f.shape)
    f0 = compute_f0(f, T, mode="bleach_fit", stimulus_time_s=50.0)
    assert np.allclose(f0[:, 0], bleach, rtol=1e-4)
    assert np.allclose(f0[:, 1], 2 * bleach, rtol=1e-4)
    f0n = compute_f0(f_noisy, T, mode="bleach_fit", stimulus_time_s=50.0)
    assert np.allclose(f0n[:, 0], bleach, rtol=0.01)
    # dF/F0 after the stimulus is the response, not the bleaching
    assert np.allclose(dff(f, f0)[T >= 50], 0.3, atol=1e-3)


def test_f0_empty_and_all_nan_columns():
    assert compute_f0(np.zeros((10, 0)), np.arange(10.0)).shape == (10, 0)
    f = np.full((10, 1), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(compute_f0(f, np.arange(10.0), stimulus_time_s=5.0)).all()
        assert np.isnan(compute_f0(f, np.arange(10.0))).all()


def test_insitu_calibration():
    t = np.arange(0, 300, 1.0)
    rmin, rmax, beta = 0.3, 3.0, 6.0
    f380_free = 1000.0
    f380 = np.where(t < 100, 600.0, np.where(t < 200, f380_free, f380_free / beta))
    ratio = np.where(t < 100, 1.0, np.where(t < 200, rmin, rmax))
    f340 = ratio * f380
    prof = insitu_calibration(f340[:, None], f380[:, None], t, rmin_window_s=(120, 190),
                              rmax_window_s=(220, 290), kd_nM=224.0)
    assert prof["rmin"] == pytest.approx(rmin) and prof["rmax"] == pytest.approx(rmax)
    assert prof["beta"] == pytest.approx(beta)
    assert prof["keff_nM"] == pytest.approx(224.0 * beta)
    with pytest.raises(CaimgError, match="rmax_window_s"):
        insitu_calibration(f340, f380, t, rmin_window_s=(120, 190), rmax_window_s=(400, 500))

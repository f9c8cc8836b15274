"""Population bleaching curve for a single-wavelength dF/F0 (signal.bleach_correction)."""

from __future__ import annotations

import numpy as np
import pytest

from caimg._bleach import population_bleach
from caimg.config import load_pipeline
from caimg.indicators import single_wavelength_signal
from caimg.kinetics import measure_trace
from caimg.signals import compute_f0, dff

STIM_S, WINDOW_S = 40.0, 10.0


def _recording(n_rois=60, bleach_tau_s=500.0, responder_fraction=0.7, seed=3):
    """(t, F, true dF/F0, responder flags, true decay tau): 240 s at 2 s/frame."""
    rng = np.random.default_rng(seed)
    t = np.arange(120) * 2.0
    resp = rng.random(n_rois) < responder_fraction
    tau = rng.uniform(12, 40, n_rois)
    amp = rng.uniform(1.0, 3.0, n_rois)
    s = np.clip(t[:, None] - STIM_S, 0, None)
    shape = (1 - np.exp(-s / 2.0)) * np.exp(-s / tau)
    true = np.where(resp, amp, 0.0) * shape / shape.max(axis=0)
    rest = rng.uniform(200, 700, n_rois)
    f = rest * (1 + true) * np.exp(-t / bleach_tau_s)[:, None]
    f = f + rng.normal(0, 0.01, f.shape) * rest
    return t, f, true, resp, tau


def _errors(t, d, true, resp, tau):
    """Median relative amplitude and decay-tau errors of the responders."""
    amp_err, tau_err = [], []
    for j in np.flatnonzero(resp):
        r, = measure_trace(d[:, j], t, stimulus_time_s=STIM_S, baseline_window_s=WINDOW_S)
        amp_err.append(abs(r.amplitude / true[:, j].max() - 1))
        tau_err.append(abs(r.decay_tau_s / tau[j] - 1))
    return float(np.median(amp_err)), float(np.median(tau_err))


def _f0(t, f):
    return compute_f0(f, t, mode="prestim", stimulus_time_s=STIM_S,
                      baseline_window_s=WINDOW_S)


def test_curve_recovers_bleaching_and_kinetics():
    t, f, true, resp, tau = _recording()
    f0 = _f0(t, f)
    curve, info = population_bleach(f, f0, t, stimulus_time_s=STIM_S,
                                    baseline_window_s=WINDOW_S)
    truth = np.exp(-t / 500.0)
    base = (t >= STIM_S - WINDOW_S) & (t < STIM_S)
    assert info["applied"] and info["rois_used"] == 60
    assert np.abs(curve - truth / truth[base].mean()).max() < 0.02
    assert info["bleach_fraction"] == pytest.approx(1 - truth[-1], abs=0.01)
    amp_before, tau_before = _errors(t, dff(f, f0), true, resp, tau)
    amp_after, tau_after = _errors(t, dff(f, f0 * curve[:, None]), true, resp, tau)
    assert tau_before > 0.1 and amp_before > 0.03  # a constant F0 is wrong here ...
    assert tau_after < 0.04 and amp_after < 0.015  # ... and the curve puts it right


def test_no_bleaching_and_few_rois_keep_the_constant_f0():
    t, f, *_ = _recording(bleach_tau_s=1e9)
    curve, info = population_bleach(f, _f0(t, f), t, stimulus_time_s=STIM_S,
                                    baseline_window_s=WINDOW_S)
    assert not info["applied"] and "below" in info["reason"]
    assert np.array_equal(curve, np.ones(t.size))
    t, f, *_ = _recording(n_rois=5)
    curve, info = population_bleach(f, _f0(t, f), t, stimulus_time_s=STIM_S,
                                    baseline_window_s=WINDOW_S)
    assert not info["applied"] and info["rois_used"] == 5 and "fewer than 8" in info["reason"]
    assert np.array_equal(curve, np.ones(t.size))


def test_signal_step_follows_the_recipe_option():
    t, f, *_ = _recording()
    over = {"stimulus_time_s": STIM_S, "kinetics.baseline_window_s": WINDOW_S}
    ids = np.arange(1, f.shape[1] + 1)
    on = single_wavelength_signal({"f": f}, t, ids, load_pipeline(
        "fluo4", overrides={**over, "signal.bleach_correction": "population"}))
    off = single_wavelength_signal({"f": f}, t, ids, load_pipeline(
        "fluo4", overrides={**over, "signal.bleach_correction": "none"}))
    assert on.info["bleach_correction"]["applied"]
    assert on.columns["f0"][-1, 0] < 0.7 * on.columns["f0"][0, 0]  # F0 follows bleaching
    assert "bleach_correction" not in off.info
    assert np.ptp(off.columns["f0"], axis=0).max() == 0  # constant
    # no stimulus time: the percentile F0 is left alone
    free = single_wavelength_signal({"f": f}, t, ids, load_pipeline(
        "fluo4", overrides={"signal.bleach_correction": "population"}))
    assert "bleach_correction" not in free.info


def test_a_rising_population_or_too_few_frames_keeps_the_constant_f0():
    t, f, *_ = _recording(bleach_tau_s=-500.0)  # brightening: not bleaching
    curve, info = population_bleach(f, _f0(t, f), t, stimulus_time_s=STIM_S,
                                    baseline_window_s=WINDOW_S)
    assert not info["applied"] and "no falling" in info["reason"]
    assert np.array_equal(curve, np.ones(t.size))
    t, f = t[:3], f[:3]
    curve, info = population_bleach(f, f[:1].repeat(3, axis=0), t, stimulus_time_s=2.0,
                                    baseline_window_s=WINDOW_S)
    assert not info["applied"] and "too few" in info["reason"]

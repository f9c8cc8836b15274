"""caimg.kinetics measure_trace / measure_kinetics: exact kinetics on known curves, the
table, degenerate input, options."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from caimg.errors import CaimgError
from caimg.kinetics import (
    KINETICS_COLUMNS,
    Response,
    measure_kinetics,
    measure_trace,
    noise_sd,
)

FRAME_INTERVALS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
B, A = 1.0, 2.0          # baseline and amplitude of every analytic curve
TS = 20.0                # stimulus / response start (on every frame grid)
T_END = 200.0            # last frame


def _time(dt):
    return np.round(np.arange(0.0, T_END + dt / 2, dt), 10)


# ----------------------------------------------------------------------------- curves
# Each returns (y(t), exact dict). Exact values are derived in closed form.

def exp_rise_decay(t, tau_r=3.0, t_rise=12.0, tau_d=15.0):
    """Exponential rise from TS for t_rise seconds, then exponential decay from the peak."""
    tp = TS + t_rise
    norm = 1.0 - math.exp(-t_rise / tau_r)
    u = np.clip(t - TS, 0.0, None)
    rise = A * (1.0 - np.exp(-u / tau_r)) / norm
    decay = A * np.exp(-np.clip(t - tp, 0.0, None) / tau_d)
    y = B + np.where(t < TS, 0.0, np.where(t <= tp, rise, decay))
    # fraction f of the amplitude on the rise: 1 - exp(-u/tau_r) = f * norm
    cross = lambda f: TS - tau_r * math.log(1.0 - f * norm)  # noqa: E731
    t10, t90, t50 = cross(0.1), cross(0.9), cross(0.5)
    auc_rise = A / norm * (t_rise - tau_r * norm)
    auc_decay = A * tau_d * (1.0 - math.exp(-(T_END - tp) / tau_d))
    exact = dict(baseline=B, peak=B + A, amplitude=A, time_to_peak_s=t_rise,
                 rise_time_s=t90 - t10, onset_s=t10 - 0.125 * (t90 - t10),
                 decay_tau_s=tau_d, decay_r2=1.0, half_decay_s=tau_d * math.log(2.0),
                 fwhm_s=tp + tau_d * math.log(2.0) - t50, auc=auc_rise + auc_decay)
    return y, exact


def alpha(t, tau=20.0):
    """Alpha function A*(x)*exp(1-x), x = (t-TS)/tau: peak A at TS+tau."""
    x = np.clip(t - TS, 0.0, None) / tau
    y = B + A * x * np.exp(1.0 - x)
    g = lambda x, f: x * math.exp(1.0 - x) - f  # noqa: E731
    up = lambda f: brentq(g, 0.0, 1.0, args=(f,))  # noqa: E731
    down = lambda f: brentq(g, 1.0, 50.0, args=(f,))  # noqa: E731
    t10, t90 = TS + tau * up(0.1), TS + tau * up(0.9)
    X = (T_END - TS) / tau
    # integral of x e^(1-x) dx from 0 to X = e * (1 - (1 + X) e^-X)
    auc = A * tau * math.e * (1.0 - (1.0 + X) * math.exp(-X))
    exact = dict(baseline=B, peak=B + A, amplitude=A, time_to_peak_s=tau,
                 rise_time_s=t90 - t10, onset_s=t10 - 0.125 * (t90 - t10),
                 half_decay_s=tau * (down(0.5) - 1.0), fwhm_s=tau * (down(0.5) - up(0.5)),
                 auc=auc)
    return y, exact


def plateau(t, ramp=4.0, hold=40.0, tau_d=10.0):
    """Linear ramp from TS to a plateau, held until TS+hold, then exponential decay."""
    t1 = TS + hold
    y = B + np.where(t < TS, 0.0, np.where(t < TS + ramp, A * (t - TS) / ramp,
                     np.where(t <= t1, A, A * np.exp(-(t - t1) / tau_d))))
    tp = TS + ramp  # first frame at the maximum
    auc = A * (ramp / 2 + (hold - ramp) + tau_d * (1 - math.exp(-(T_END - t1) / tau_d)))
    exact = dict(baseline=B, peak=B + A, amplitude=A, time_to_peak_s=ramp,
                 rise_time_s=0.8 * ramp, onset_s=TS, decay_tau_s=tau_d, decay_r2=1.0,
                 half_decay_s=t1 + tau_d * math.log(2) - tp,
                 fwhm_s=t1 + tau_d * math.log(2) - (TS + 0.5 * ramp), auc=auc)
    return y, exact


def _check(resp, exact, rel=0.01, label=""):
    for key, want in exact.items():
        got = getattr(resp, key)
        assert got == pytest.approx(want, rel=rel), f"{label} {key}: got {got}, exact {want}"


@pytest.mark.parametrize("dt", FRAME_INTERVALS)
def test_exponential_rise_and_decay(dt):
    t = _time(dt)
    y, exact = exp_rise_decay(t)
    r, = measure_trace(y, t, stimulus_time_s=TS)
    assert r.responder and r.event == 1
    _check(r, exact, label=f"dt={dt}")


@pytest.mark.parametrize("dt", FRAME_INTERVALS)
def test_exponential_without_stimulus_counts_from_onset(dt):
    t = _time(dt)
    y, exact = exp_rise_decay(t)
    r, = measure_trace(y, t)
    exact["time_to_peak_s"] = TS + 12.0 - exact["onset_s"]
    _check(r, exact, label=f"dt={dt}")


@pytest.mark.parametrize("dt", FRAME_INTERVALS)
def test_alpha_function(dt):
    t = _time(dt)
    y, exact = alpha(t)
    r, = measure_trace(y, t, stimulus_time_s=TS)
    assert r.responder
    _check(r, exact, label=f"dt={dt}")
    # the alpha function has no single time constant: the fit is only required to exist
    assert r.decay_tau_s > 0 and 0.9 < r.decay_r2 <= 1


@pytest.mark.parametrize("dt", FRAME_INTERVALS)
def test_plateau(dt):
    t = _time(dt)
    y, exact = plateau(t)
    # the decay starts at the end of the plateau: fit from where it has fallen to 90 %
    r, = measure_trace(y, t, stimulus_time_s=TS, decay_fit_start=0.9)
    _check(r, exact, label=f"dt={dt}")


def test_decay_fit_from_half_recovers_tau_of_double_exponential():
    # b + A' (exp(-t/10) - exp(-t/1)): after the fall to 50 % the fast term is < 1e-3
    t = _time(0.1)
    u = np.clip(t - TS, 0, None)
    y = B + 3.0 * (np.exp(-u / 10.0) - np.exp(-u / 1.0))
    r, = measure_trace(y, t, stimulus_time_s=TS, decay_fit_start=0.5)
    assert r.decay_tau_s == pytest.approx(10.0, rel=0.01)
    peak_only, = measure_trace(y, t, stimulus_time_s=TS)
    assert abs(peak_only.decay_tau_s - 10.0) > abs(r.decay_tau_s - 10.0)


def test_noise_sd_and_snr():
    rng = np.random.default_rng(1)
    sd = 0.05
    t = _time(0.1)
    y, exact = exp_rise_decay(t)
    noisy = y + rng.normal(0, sd, t.size)
    assert noise_sd(rng.normal(0, sd, 20000)) == pytest.approx(sd, rel=0.03)
    r, = measure_trace(noisy, t, stimulus_time_s=TS)
    assert r.noise_sd == pytest.approx(sd, rel=0.1)
    assert r.snr == pytest.approx(A / sd, rel=0.15)
    assert r.responder
    assert r.decay_tau_s == pytest.approx(exact["decay_tau_s"], rel=0.05)
    assert r.amplitude == pytest.approx(A, rel=0.05)


@pytest.mark.parametrize("dt", FRAME_INTERVALS)
def test_auto_asymptote_is_exact_on_noiseless_curves(dt):
    t = _time(dt)
    y, exact = exp_rise_decay(t)
    r, = measure_trace(y, t, stimulus_time_s=TS, decay_fit_asymptote="auto")
    _check(r, exact, label=f"dt={dt}")
    y, exact = plateau(t)
    r, = measure_trace(y, t, stimulus_time_s=TS, decay_fit_start=0.9,
                       decay_fit_asymptote="auto")
    _check(r, exact, label=f"plateau dt={dt}")


def _truncated_decays(rng, n, *, settle=0.0, slope_per_s=0.0, sd=0.05, end_s=30.0):
    """n noisy responses (tau 8 s, peak at 16 s) cut at ``end_s``, the decay settling
    ``settle`` above the baseline; every trace drifts by ``slope_per_s``."""
    t = np.arange(0.0, end_s, 0.5)
    u = np.clip(t - 16.0, 0, None)
    y = np.where(t < 10, B, np.where(t < 16, B + A * (t - 10) / 6,
                                     B + settle + (A - settle) * np.exp(-u / 8.0)))
    y = y + slope_per_s * t
    return t, y[:, None] + rng.normal(0, sd, (t.size, n))


def test_auto_asymptote_halves_tau_scatter_of_truncated_decays():
    t, y = _truncated_decays(np.random.default_rng(5), 200)
    err = {}
    for mode in ("free", "auto"):
        df = measure_kinetics(y, t, stimulus_time_s=10.0, decay_fit_asymptote=mode)
        assert df["responder"].all()
        err[mode] = np.median(np.abs(df["decay_tau_s"] / 8.0 - 1))
    assert err["auto"] < 0.6 * err["free"], err
    assert err["auto"] < 0.05


def test_auto_asymptote_frees_a_decay_that_settles_above_baseline():
    # settles 0.6 above the baseline, seen for 5 tau: a tied asymptote would make tau far
    # too long. (Cut after 2 tau, the same decay looks like a slower one returning to
    # baseline, and no per-trace test can tell them apart.)
    t, y = _truncated_decays(np.random.default_rng(6), 100, settle=0.6, end_s=56.0)
    free = measure_kinetics(y, t, stimulus_time_s=10.0, decay_fit_asymptote="free")
    auto = measure_kinetics(y, t, stimulus_time_s=10.0, decay_fit_asymptote="auto")
    tied = measure_kinetics(y, t, stimulus_time_s=10.0, decay_fit_baseline_samples=20)
    assert np.median(tied["decay_tau_s"]) > 12.0  # the bias "auto" has to avoid
    assert np.median(auto["decay_tau_s"]) == pytest.approx(8.0, rel=0.1)
    assert np.median(np.abs(auto["decay_tau_s"] / 8 - 1)) <= np.median(
        np.abs(free["decay_tau_s"] / 8 - 1)) * 1.2


def test_auto_asymptote_follows_a_sloping_baseline():
    t, y = _truncated_decays(np.random.default_rng(7), 100, slope_per_s=-0.03, sd=0.02)
    rs = [measure_trace(y[:, j], t, stimulus_time_s=10.0, decay_fit_asymptote="auto")[0]
          for j in range(y.shape[1])]
    assert np.median([r.decay_tau_s for r in rs]) == pytest.approx(8.0, rel=0.05)
    slopes = [r.decay_fit_slope for r in rs if r.decay_fit_slope != 0.0]
    assert len(slopes) > 50 and np.median(slopes) == pytest.approx(-0.03, rel=0.2)


def test_rounding_is_not_noise_nor_a_response():
    # a flat ratio of two constant channels wobbles at float rounding: not a responder
    t = _time(0.5)
    f340 = np.full(t.size, 0.3 * 1234.5)
    f380 = 1234.5 * (1 + 1e-15 * (np.arange(t.size) % 3))
    flat = f340 / f380
    assert noise_sd(flat) < 1e-14 and np.ptp(flat) > 0
    r, = measure_trace(flat, t, stimulus_time_s=TS)
    assert not r.responder and np.isnan(r.snr)
    y, _ = exp_rise_decay(t)
    r, = measure_trace(y * (1 + 1e-15 * (np.arange(t.size) % 2)), t, stimulus_time_s=TS)
    assert r.responder


def test_noise_only_is_not_a_responder():
    rng = np.random.default_rng(2)
    t = _time(0.5)
    df = measure_kinetics(1.0 + rng.normal(0, 0.01, (t.size, 20)), t, stimulus_time_s=TS)
    assert not df["responder"].any()
    assert df["rise_time_s"].isna().all() and df["decay_tau_s"].isna().all()
    assert df["baseline"].notna().all() and df["amplitude"].notna().all()


def test_a_dim_lasting_response_is_called_by_its_window_mean():
    """A 10 s response of 1.5 noise SDs at 10 Hz: one frame is not enough evidence, 20
    frames (responder_window_s = 2 s) are; noise alone passes neither test (1,000 traces)."""
    rng = np.random.default_rng(7)
    t = _time(0.1)
    step = np.where((t >= TS + 1) & (t < TS + 11), 1.5, 0.0)
    y = step[:, None] + rng.normal(0, 1, (t.size, 50))
    on = measure_kinetics(y, t, stimulus_time_s=TS, responder_window_s=2.0)
    off = measure_kinetics(y, t, stimulus_time_s=TS)
    assert on["responder"].mean() > 0.9 and off["responder"].mean() < 0.2
    noise = rng.normal(0, 1, (t.size, 1000))
    assert not measure_kinetics(noise, t, stimulus_time_s=TS,
                                responder_window_s=2.0)["responder"].any()


def test_dim_silent_cells_are_called_responders():
    """Cells visible only while active (synthetic family ``silent``, hard, true masks, a
    tune seed): their single-frame amplitude is 2-5 noise SDs; the window test finds most."""
    import warnings

    from caimg.pipeline import process_recording, resolve_pipeline
    from caimg.synthetic import make_recording

    syn = make_recording("fluo4", preset="hard", family="silent", rng=101, n_frames=60)
    truth = syn.kinetics.set_index("roi")["responder"]
    wrong = {}
    for window in (2.0, 0.0):
        cfg = resolve_pipeline("fluo4", syn.recording, overrides={
            "stimulus_time_s": syn.stimulus_time_s, "kinetics.responder_window_s": window})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = process_recording(syn.recording, cfg, labels=syn.labels).kinetics
        got = got.set_index("roi")["responder"].astype(bool)
        wrong[window] = [int(r) for r in truth.index if got.loc[r] != truth.loc[r]]
    assert all(truth.loc[r] for r in wrong[0.0])  # only missed responders
    assert len(wrong[2.0]) <= len(wrong[0.0]) - 3 and len(wrong[2.0]) <= 6


def test_responder_window_is_checked():
    with pytest.raises(CaimgError, match="responder_window_s"):
        measure_trace(np.ones(10), np.arange(10.0), responder_window_s=-1)


# ------------------------------------------------------------------- table + degenerate

def _assert_table(df, n_rows):
    assert tuple(df.columns) == KINETICS_COLUMNS
    assert len(df) == n_rows
    assert df["roi"].dtype == np.int64 and df["event"].dtype == np.int64
    assert df["responder"].dtype == bool
    for c in KINETICS_COLUMNS[3:]:
        assert df[c].dtype == np.float64, c


@pytest.mark.parametrize("events", ["single", "all"])
def test_empty_signal_gives_empty_table(events):
    df = measure_kinetics(np.zeros((50, 0)), np.arange(50.0), events=events)
    _assert_table(df, 0)


def test_degenerate_traces_give_nan_rows_without_warnings():
    t = np.arange(100) * 0.5
    flat = np.ones(100)
    nan = np.full(100, np.nan)
    partly = np.where(t < 20, np.nan, 2.0)
    sig = np.stack([flat, nan, partly, np.zeros(100)], axis=1)
    df = measure_kinetics(sig, t, roi_ids=[5, 6, 7, 8], stimulus_time_s=10.0)
    _assert_table(df, 4)
    assert list(df["roi"]) == [5, 6, 7, 8]
    assert not df["responder"].any()
    assert df["decay_tau_s"].isna().all() and df["rise_time_s"].isna().all()
    assert df.loc[0, "baseline"] == 1.0 and df.loc[0, "amplitude"] == 0.0


@pytest.mark.parametrize("n", [0, 1, 2])
def test_too_short(n):
    df = measure_kinetics(np.ones((n, 2)), np.arange(float(n)))
    _assert_table(df, 2)
    assert df["amplitude"].isna().all() and not df["responder"].any()


def test_stimulus_outside_recording():
    t = _time(1.0)
    y, _ = exp_rise_decay(t)
    r, = measure_trace(y, t, stimulus_time_s=0.0)  # no baseline frame before it
    assert np.isnan(r.amplitude) and not r.responder
    r, = measure_trace(y, t, stimulus_time_s=T_END + 10)
    assert np.isnan(r.amplitude)


def test_input_not_modified_and_1d_accepted():
    t = _time(1.0)
    y, _ = exp_rise_decay(t)
    keep = y.copy()
    df = measure_kinetics(y, t, stimulus_time_s=TS)
    assert np.array_equal(y, keep)
    _assert_table(df, 1)


@pytest.mark.parametrize("kwargs, word", [
    (dict(events="some"), "events"),
    (dict(decay_fit_start="middle"), "decay_fit_start"),
    (dict(decay_fit_start=1.5), "decay_fit_start"),
    (dict(smooth_frames=0), "smooth_frames"),
    (dict(baseline_window_s=0), "baseline_window_s"),
    (dict(decay_fit_baseline_samples=-1), "decay_fit_baseline_samples"),
    (dict(decay_fit_asymptote="tied"), "decay_fit_asymptote"),
])
def test_bad_options_name_the_parameter(kwargs, word):
    t = np.arange(10.0)
    with pytest.raises(CaimgError, match=word):
        measure_kinetics(np.ones((10, 1)), t, **kwargs)


def test_bad_time_and_unknown_option():
    with pytest.raises(CaimgError, match="time_s"):
        measure_kinetics(np.ones((10, 1)), np.arange(9.0))
    with pytest.raises(CaimgError, match="time_s"):
        measure_kinetics(np.ones((3, 1)), np.array([0.0, 2.0, 1.0]))
    with pytest.raises(TypeError, match="responder"):  # explicit keywords: a typo is a TypeError
        measure_trace(np.ones(10), np.arange(10.0), responder=3)
    with pytest.raises(ValueError):  # CaimgError is a ValueError
        measure_kinetics(np.ones((2, 2, 2)), np.arange(2.0))


def test_response_carries_plot_data():
    t = _time(0.5)
    y, exact = exp_rise_decay(t)
    r, = measure_trace(y, t, stimulus_time_s=TS)
    assert isinstance(r, Response)
    assert r.peak_time_s == TS + 12.0
    assert r.t90_s - r.t10_s == pytest.approx(r.rise_time_s)
    c, a, t0, tau = r.decay_fit
    # the fit starts at the first frame after the peak at or below 90 % of the amplitude
    i0 = int(np.flatnonzero((t > r.peak_time_s) & (y <= r.baseline + 0.9 * r.amplitude))[0])
    assert t0 == r.decay_fit_start_s == t[i0] > r.peak_time_s and tau == pytest.approx(15.0)
    assert r.baseline_start_s == pytest.approx(TS - 10.0) and r.baseline_end_s < TS
    assert set(r.row()) == set(KINETICS_COLUMNS)
    with pytest.raises(AttributeError):
        r.peak = 3.0  # frozen


def test_defaults_are_the_recipe_defaults():
    """One set of defaults: KineticsConfig, measure_kinetics and measure_trace agree."""
    import inspect

    from caimg.config import KineticsConfig, kinetics_options

    recipe = kinetics_options(KineticsConfig())
    for func in (measure_kinetics, measure_trace):
        sig = inspect.signature(func).parameters
        assert {k: sig[k].default for k in recipe} == recipe

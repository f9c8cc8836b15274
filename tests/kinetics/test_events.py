"""caimg.kinetics event detection (events="all")."""

from __future__ import annotations

import numpy as np
import pytest

from caimg.kinetics import (
    KINETICS_COLUMNS,
    detect_events,
    measure_kinetics,
    measure_trace,
)

FRAME_INTERVALS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
B, A = 1.0, 2.0          # baseline and amplitude of every analytic curve
TS = 20.0                # stimulus / response start (on every frame grid)
T_END = 200.0            # last frame


def _time(dt):
    return np.round(np.arange(0.0, T_END + dt / 2, dt), 10)


# ------------------------------------------------------------------------------ events

def _assert_table(df, n_rows):
    assert tuple(df.columns) == KINETICS_COLUMNS
    assert len(df) == n_rows
    assert df["roi"].dtype == np.int64 and df["event"].dtype == np.int64
    assert df["responder"].dtype == bool
    for c in KINETICS_COLUMNS[3:]:
        assert df[c].dtype == np.float64, c


def _oscillations(t, onsets, tau_r=0.5, tau_d=3.0, amp=1.0):
    y = np.zeros_like(t)
    for t0 in onsets:
        u = np.clip(t - t0, 0, None)
        y += amp * (np.exp(-u / tau_d) - np.exp(-u / tau_r)) * (t >= t0)
    return y


def test_multi_event_count_and_index():
    rng = np.random.default_rng(3)
    t = np.arange(0, 300, 0.2)
    onsets = [20, 55, 100, 140, 190, 240]
    y = 1.0 + _oscillations(t, onsets) + rng.normal(0, 0.02, t.size)
    rs = measure_trace(y, t, events="all", min_event_separation_s=2.0)
    assert [r.event for r in rs] == list(range(1, len(onsets) + 1))
    assert all(r.responder for r in rs)
    onset_err = [r.onset_s - t0 for r, t0 in zip(rs, onsets, strict=False)]
    assert np.all(np.abs(onset_err) < 1.0)
    # every event's decay is bounded to the event and recovers tau_d
    taus = [r.decay_tau_s for r in rs]
    assert np.median(taus) == pytest.approx(3.0, rel=0.15)
    assert all(r.decay_fit_end_s <= nxt.onset_s + 1.0 for r, nxt in zip(rs, rs[1:], strict=False))
    ev = detect_events(y, t, min_separation_s=2.0)
    assert ev.shape == (len(onsets), 3)
    # table: one row per event, ROI without events keeps one row with event 0
    sig = np.stack([y, 1.0 + rng.normal(0, 0.02, t.size)], axis=1)
    df = measure_kinetics(sig, t, events="all", min_event_separation_s=2.0)
    _assert_table(df, len(onsets) + 1)
    assert list(df["event"]) == [1, 2, 3, 4, 5, 6, 0]
    assert list(df["roi"]) == [1] * 6 + [2]
    assert not df["responder"].iloc[-1] and np.isnan(df["amplitude"].iloc[-1])


def test_min_duration_and_separation():
    t = np.arange(0, 100, 0.1)
    y = np.zeros_like(t)
    y[(t >= 20) & (t < 20.3)] = 1.0  # 0.2 s long (first to last frame)
    y[(t >= 50) & (t < 55)] = 1.0
    y[(t >= 56) & (t < 60)] = 1.0
    y = y + np.random.default_rng(4).normal(0, 0.01, t.size)
    assert len(detect_events(y, t, smooth_frames=1)) == 3
    assert len(detect_events(y, t, smooth_frames=1, min_duration_s=1.0)) == 2
    assert len(detect_events(y, t, smooth_frames=1, min_separation_s=2.0)) == 2
    assert len(detect_events(y, t, smooth_frames=1, min_separation_s=2.0,
                             min_duration_s=1.0)) == 1


def test_noise_sd_is_difference_mad_scaled_and_vectorised():
    from caimg.kinetics import difference_mad, noise_sd

    rng = np.random.default_rng(5)
    x = rng.normal(0, 2.0, (500, 3))
    x[10, 1] = np.nan
    x[:, 2] = np.nan
    cols = noise_sd(x, axis=0)
    assert cols.shape == (3,) and np.isnan(cols[2])
    assert cols[0] == noise_sd(x[:, 0]) and cols[1] == noise_sd(x[:, 1])
    assert noise_sd(x.T, axis=1)[0] == cols[0]
    assert float(difference_mad(x[:, 0])) * 1.482602218505602 / np.sqrt(2) == cols[0]
    assert np.isnan(noise_sd([1.0, 2.0]))  # one difference: no spread to measure

"""No stimulus time (issue 13): events against a baseline that follows slow drift, and
``responder`` = "had at least one event"."""

import numpy as np
import pytest

from caimg.errors import CaimgError
from caimg.kinetics import detect_events, measure_kinetics, measure_trace
from caimg.kinetics._events import drift_level, robust_level


def _event(t, t_on, amp, rise_s=1.0, tau_s=4.0):
    """A linear rise over ``rise_s`` then an exponential decay, starting at ``t_on``."""
    up = np.clip((t - t_on) / rise_s, 0.0, 1.0)
    down = np.where(t > t_on + rise_s, np.exp(-(t - t_on - rise_s) / tau_s), 1.0)
    return amp * up * down


@pytest.fixture
def t():
    return np.arange(0.0, 150.0, 0.5)  # 300 frames, 150 s


def _loading(t, rise=0.5):
    """dF/F0 of a cell whose dye is still loading: +50 % over the recording, curved."""
    return rise * (1 - np.exp(-t / 60.0)) / (1 - np.exp(-t[-1] / 60.0))


def test_drift_level_follows_a_drift_to_the_ends(t):
    y = _loading(t)
    lv = drift_level(y, t, 0.01, 5.0, 30.0)
    # within a small fraction of the threshold (5 x 0.01) everywhere, the ends included
    assert np.max(np.abs(lv - y)) < 0.02  # a plain running median: 0.033 at the start
    # a window much longer than the trace: one constant level, the robust median
    flat = np.random.default_rng(0).normal(1.0, 0.01, t.size)
    lv = drift_level(flat, t, 0.01, 5.0, 1000.0)
    assert np.ptp(lv) == pytest.approx(0.0, abs=1e-3)
    assert lv[0] == pytest.approx(robust_level(flat, 0.01, 5.0), abs=2e-3)


def test_drift_level_ignores_events(t):
    rng = np.random.default_rng(1)
    base = _loading(t)
    y = base + _event(t, 60.0, 1.0) + rng.normal(0, 0.01, t.size)
    lv = drift_level(y, t, 0.01, 5.0, 30.0)
    peak = np.argmax(y)
    assert abs(lv[peak] - base[peak]) < 0.03  # the event (amplitude 1) is left out


def test_events_found_against_the_drift_not_the_drift_itself(t):
    rng = np.random.default_rng(2)
    y = _loading(t) + _event(t, 40.0, 0.6) + _event(t, 110.0, 0.6) + rng.normal(0, 0.02, t.size)
    ev = detect_events(y, t)
    assert len(ev) == 2
    assert np.abs(t[ev[:, 1]] - np.array([41.0, 111.0])).max() <= 1.0
    # the old constant level calls the loaded late half one long event
    old = detect_events(y, t, drift_window_s=None)
    assert len(old) != 2 or np.abs(t[old[:, 1]] - np.array([41.0, 111.0])).max() > 1.0


def test_a_drifting_trace_without_events_is_no_responder(t):
    rng = np.random.default_rng(3)
    y = _loading(t, 0.8) + rng.normal(0, 0.02, t.size)
    r, = measure_trace(y, t)  # no stimulus: the drift-following default
    assert not r.responder and r.event == 1 and np.isnan(r.amplitude)
    old, = measure_trace(y, t, drift_window_s=None)
    assert old.responder  # what issue 13 saw: loading drift called a response
    k = measure_kinetics(y[:, None], t, events="all")
    assert k["event"].tolist() == [0] and not k["responder"].any()


def test_responder_means_at_least_one_event(t):
    rng = np.random.default_rng(4)
    cols, truth = [], []
    for j in range(30):
        y = _loading(t, rng.uniform(0, 0.8)) + rng.normal(0, 0.02, t.size)
        has = j % 3 == 0
        if has:
            y = y + _event(t, rng.uniform(10, 120), rng.uniform(0.3, 1.0))
        cols.append(y)
        truth.append(has)
    x = np.column_stack(cols)
    single = measure_kinetics(x, t)
    every = measure_kinetics(x, t, events="all")
    assert single["responder"].tolist() == truth
    had_event = every.groupby("roi")["responder"].any()
    assert had_event.tolist() == truth
    # every event row is an event: responder True, amplitude above responder_k noise SDs
    rows = every[every["event"] > 0]
    assert rows["responder"].all() and (rows["snr"] > 5.0).all()


def test_single_reports_the_largest_event_with_its_time(t):
    rng = np.random.default_rng(5)
    y = _loading(t) + _event(t, 30.0, 0.4) + _event(t, 100.0, 1.2) + rng.normal(0, 0.02, t.size)
    r, = measure_trace(y, t)
    assert r.responder and r.onset_s == pytest.approx(100.0, abs=0.6)
    assert r.amplitude == pytest.approx(1.2, rel=0.1)  # against the local, drifted baseline
    rows = measure_trace(y, t, events="all")
    assert [round(x.onset_s) for x in rows] == [30, 100]


def test_a_stimulus_time_keeps_the_stimulus_baseline(t):
    y = np.where(t < 20, 1.0, 1.0 + np.exp(-(t - 20) / 5.0))
    a, = measure_trace(y, t, stimulus_time_s=20.0)
    b, = measure_trace(y, t, stimulus_time_s=20.0, drift_window_s=None)
    assert a == b


def test_drift_window_is_checked(t):
    with pytest.raises(CaimgError, match="drift_window_s"):
        measure_trace(np.zeros(t.size), t, drift_window_s=0.0)

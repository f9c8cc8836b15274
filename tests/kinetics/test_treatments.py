"""caimg.kinetics treatments, and the batch summaries over a kinetics table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caimg.errors import CaimgError

FRAME_INTERVALS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
B, A = 1.0, 2.0          # baseline and amplitude of every analytic curve
TS = 20.0                # stimulus / response start (on every frame grid)
T_END = 200.0            # last frame


def _time(dt):
    return np.round(np.arange(0.0, T_END + dt / 2, dt), 10)


# -------------------------------------------------------------------------- treatments

def test_measure_treatments_by_hand():
    from caimg.kinetics import TREATMENT_COLUMNS, measure_treatments

    t = np.arange(0, 120, 0.5)
    rng = np.random.default_rng(5)
    base = 1.0 + rng.normal(0, 0.01, t.size)
    # treatment "atp" at 20 s: linear ramp 0.5/s for 4 s then hold at +2 until 50 s;
    # treatment "kcl" at 60 s: nothing happens
    resp = np.clip((t - 20) * 0.5, 0, 2.0) * (t < 50)
    y = np.stack([base + resp, base], axis=1)
    df = measure_treatments(y, t, {"kcl": 60.0, "atp": 20.0}, responder_k=5.0)
    assert tuple(df.columns) == TREATMENT_COLUMNS
    assert list(df["treatment"]) == ["atp", "atp", "kcl", "kcl"]  # time order
    atp = df.iloc[0]
    assert atp["responder"] and atp["amplitude"] == pytest.approx(2.0, abs=0.05)
    assert atp["max_slope"] == pytest.approx(0.5, rel=0.05)
    # crossing of baseline + 5 SD (about 0.05) on a 0.5/s ramp: about 0.1 s after 20 s
    assert 0.0 <= atp["latency_s"] < 0.3
    # AUC over 20..60 s: ramp 4 s (area 4) + hold 26 s (area 52)
    assert atp["auc"] == pytest.approx(56.0, rel=0.02)
    assert not df.iloc[1]["responder"] and not df.iloc[2]["responder"]
    assert np.isnan(df.iloc[1]["latency_s"])
    empty = measure_treatments(np.zeros((t.size, 0)), t, {"a": 10.0})
    assert len(empty) == 0 and tuple(empty.columns) == TREATMENT_COLUMNS
    with pytest.raises(CaimgError, match="treatment"):
        measure_treatments(y, t, [("a", "soon")])


def test_treatments_from_table_and_summaries():
    from caimg.batch import event_summary, responder_fraction
    from caimg.kinetics import treatments_from_table

    table = pd.DataFrame({"recording": ["r1", "r1", "r2"], "treatment": ["b", "a", "a"],
                          "time_s": [30.0, 10.0, 5.0]})
    assert treatments_from_table(table, "r1") == [("a", 10.0), ("b", 30.0)]
    with pytest.raises(CaimgError, match="time_s"):
        treatments_from_table(table.drop(columns="time_s"), "r1")
    kin = pd.DataFrame({"roi": [1, 1, 1, 2], "event": [1, 2, 3, 0],
                        "responder": [True, True, False, False]})
    s = event_summary(kin, duration_s=100.0)
    assert list(s["n_events"]) == [2, 0]
    assert list(s["event_frequency_hz"]) == [0.02, 0.0]
    assert responder_fraction(kin) == 0.5
    assert np.isnan(responder_fraction(kin.iloc[:0]))

"""caimg.kinetics.fit_exponential."""

from __future__ import annotations

import numpy as np
import pytest

from caimg.kinetics import (
    fit_exponential,
)
from caimg.kinetics._fit import fit_exponential_on_line

FRAME_INTERVALS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
B, A = 1.0, 2.0          # baseline and amplitude of every analytic curve
TS = 20.0                # stimulus / response start (on every frame grid)
T_END = 200.0            # last frame


def _time(dt):
    return np.round(np.arange(0.0, T_END + dt / 2, dt), 10)


def test_fit_exponential_joint_baseline():
    t = np.arange(0, 30, 0.1)
    y = 0.5 + 2.0 * np.exp(-t / 4.0)
    fit = fit_exponential(t, y, baseline=np.full(7, 0.5))
    assert fit.tau == pytest.approx(4.0, rel=1e-6)
    assert fit.c == pytest.approx(0.5, rel=1e-6) and fit.n == t.size + 7
    assert fit(t) == pytest.approx(y)
    # a biased baseline pulls c (and so tau) when fitted jointly
    biased = fit_exponential(t[:40], y[:40], baseline=np.full(7, 0.7))
    assert biased.c > 0.5
    assert fit_exponential(t[:2], y[:2]) is None


def test_fit_exponential_on_line_exact():
    tb = np.arange(0, 10, 0.5)
    t = np.arange(15, 40, 0.5)
    line = lambda x: 0.5 - 0.01 * (x - 15)  # noqa: E731
    y = line(t) + 2.0 * np.exp(-(t - 15) / 6.0)
    fit, slope = fit_exponential_on_line(t, y, tb, line(tb))
    assert fit.tau == pytest.approx(6.0, rel=1e-6) and slope == pytest.approx(-0.01, rel=1e-6)
    assert fit.c == pytest.approx(0.5, rel=1e-6) and fit.a == pytest.approx(2.0, rel=1e-6)
    assert fit.t0 == 15 and fit.n == t.size + tb.size and fit.r2 == pytest.approx(1.0)
    # a flat-baseline joint fit of the same data is biased: the slope is what fixes it
    assert abs(fit_exponential(t, y, baseline=line(tb)).tau - 6.0) > 0.3
    assert fit_exponential_on_line(t[:2], y[:2], tb, line(tb)) is None
    assert fit_exponential_on_line(t, y, tb[:1], line(tb[:1])) is None

"""The four-parameter logistic fit against simulated concentration series of known truth."""

import numpy as np
import pytest

from caimg.errors import CaimgError
from caimg.experiment.doseresponse import cheng_prusoff, fit_dose_response, logistic4

# 7 concentrations (vehicle + 1 nM ... 100 uM, one per decade), 3 recordings each
CONC_M = np.repeat([0.0, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4], 3)
BOTTOM, TOP, NOISE_SD = 0.1, 1.0, 0.06   # noise SD = 6.7 % of the span


def _simulate(n, seed):
    """n experiments, alternately stimulation and inhibition, true log10 EC50 uniform in
    [-7.5, -5.5] and Hill slope uniform in [0.7, 1.5]; returns the truths and the fits."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        direction = ("stimulation", "inhibition")[i % 2]
        le, h = rng.uniform(-7.5, -5.5), rng.uniform(0.7, 1.5)
        y = logistic4(CONC_M, bottom=BOTTOM, top=TOP, log10_ec50=le, hill_slope=h,
                      direction=direction)
        fit = fit_dose_response(CONC_M, y + rng.normal(0.0, NOISE_SD, CONC_M.size))
        rows.append((direction, le, h, fit))
    return rows


@pytest.fixture(scope="module")
def simulated():
    return _simulate(300, seed=20261130)


def test_estimates_unbiased(simulated):
    """Median error of log10 EC50/IC50 within 0.05 decades, of the Hill slope within
    0.05 decades (log10 ratio), of the plateaus within 2 % of the span, per direction."""
    for direction in ("stimulation", "inhibition"):
        fits = [(le, h, f) for d, le, h, f in simulated if d == direction and f.determined]
        assert len(fits) >= 145
        assert all(f.direction == direction for _, _, f in fits)
        assert all(f.label == ("EC50" if direction == "stimulation" else "IC50")
                   for _, _, f in fits)
        err = np.array([f.log10_ec50 - le for le, _, f in fits])
        herr = np.array([np.log10(f.hill_slope / h) for _, h, f in fits])
        assert abs(np.median(err)) < 0.05
        assert abs(np.median(herr)) < 0.05
        assert abs(np.median([f.bottom for _, _, f in fits]) - BOTTOM) < 0.02 * (TOP - BOTTOM)
        assert abs(np.median([f.top for _, _, f in fits]) - TOP) < 0.02 * (TOP - BOTTOM)
        assert np.median([f.r_squared for _, _, f in fits]) > 0.9


def test_ci_coverage(simulated):
    """The 95 % profile-likelihood interval covers the true EC50/IC50 in 90-98 % of 300
    experiments (binomial SD at 95 %: 1.3 %). A "not determined" counts as a miss."""
    hits = [f.determined and f.ci_low_M <= 10 ** le <= f.ci_high_M
            for _, le, _, f in simulated]
    assert 0.90 <= np.mean(hits) <= 0.98, np.mean(hits)
    for _, _, _, f in simulated:
        if f.determined:
            assert f.ci_low_M < f.ec50_M < f.ci_high_M


def test_exact_curve_recovered():
    y = logistic4(CONC_M, bottom=2.0, top=5.0, log10_ec50=-6.3, hill_slope=1.2)
    fit = fit_dose_response(CONC_M, y + np.tile([-1e-3, 0.0, 1e-3], 7))
    assert fit.determined
    assert fit.log10_ec50 == pytest.approx(-6.3, abs=1e-3)
    assert fit.hill_slope == pytest.approx(1.2, rel=1e-2)
    assert (fit.bottom, fit.top) == pytest.approx((2.0, 5.0), abs=1e-2)
    assert fit.predict([0.0])[0] == pytest.approx(2.0, abs=1e-2)


def test_flat_series_not_determined():
    rng = np.random.default_rng(3)
    fit = fit_dose_response(CONC_M, 1.0 + rng.normal(0, 0.1, CONC_M.size))
    assert not fit.determined
    assert fit.reason.startswith("flat")
    assert "horizontal line" in fit.reason and "p =" in fit.reason
    assert np.isnan(fit.ec50_M) and np.isnan(fit.ci_low_M) and np.isnan(fit.hill_slope)
    assert np.isnan(fit.predict([1e-6])).all()


@pytest.mark.parametrize("direction", ["stimulation", "inhibition"])
def test_no_plateau_not_determined(direction):
    """True EC50 two decades above the highest concentration: only the foot of the curve
    was tested, so no number is given."""
    rng = np.random.default_rng(4)
    y = logistic4(CONC_M, bottom=0.0, top=10.0, log10_ec50=-2.0, hill_slope=1.0,
                  direction=direction)
    fit = fit_dose_response(CONC_M, y + rng.normal(0, 0.02, CONC_M.size))
    assert not fit.determined
    assert fit.reason.startswith("no plateau")
    assert np.isnan(fit.ec50_M)


def test_direction_constraint_and_too_few_points():
    y = logistic4(CONC_M, bottom=0.0, top=1.0, log10_ec50=-7.0, hill_slope=1.0,
                  direction="inhibition")
    fit = fit_dose_response(CONC_M, y, direction="stimulation")
    assert not fit.determined and "inhibition" in fit.reason
    few = fit_dose_response([0, 1e-9, 1e-8], [0, 0.5, 1.0])
    assert not few.determined and few.reason.startswith("too few data")
    with pytest.raises(CaimgError, match="one concentration per response"):
        fit_dose_response([1e-9, 1e-8], [1.0])
    with pytest.raises(CaimgError, match="negative"):
        fit_dose_response([-1e-9, 1e-8, 1e-7, 1e-6, 1e-5], [1.0] * 5)


def test_cheng_prusoff_hand_example():
    # IC50 = 300 nM against an agonist at 2 x its Kd: Ki = 300 / (1 + 2) = 100 nM
    assert cheng_prusoff(300e-9, 20e-9, 10e-9) == pytest.approx(100e-9)
    assert cheng_prusoff(300.0, 0.0, 10.0) == 300.0
    np.testing.assert_allclose(cheng_prusoff([150.0, 600.0], 20.0, 10.0), [50.0, 200.0])
    with pytest.raises(CaimgError, match="kd"):
        cheng_prusoff(1.0, 1.0, 0.0)

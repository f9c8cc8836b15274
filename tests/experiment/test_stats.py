"""Comparisons with the control on recording-level values: the numbers by hand."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from caimg.errors import CaimgError
from caimg.experiment.stats import compare_to_control, hedges_g, holm


def test_hedges_g_by_hand():
    # means 3 and 2, both SD 1 -> d = 1; J = 1 - 3 / (4 * 6 - 9) = 0.8
    assert hedges_g([2.0, 3.0, 4.0], [1.0, 2.0, 3.0]) == pytest.approx(0.8)
    assert hedges_g([5.0, 7.0, 9.0, 11.0], [1.0, 3.0, 5.0, 7.0]) == pytest.approx(
        (1 - 3 / (4 * 8 - 9)) * 4 / math.sqrt((3 * 20 / 3 + 3 * 20 / 3) / 6))
    assert math.isnan(hedges_g([1.0], [1.0, 2.0]))
    assert math.isnan(hedges_g([1.0, 1.0], [1.0, 1.0]))


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.04 -> 3 x 0.01, 2 x 0.02, 1 x 0.04 (kept monotone)
    np.testing.assert_allclose(holm([0.04, 0.01, 0.02]), [0.04, 0.03, 0.04])
    np.testing.assert_allclose(holm([0.5, np.nan, 0.01]), [0.5, np.nan, 0.02])


def _table(groups):
    return pd.DataFrame([{"condition": k, "value": v} for k, vs in groups.items() for v in vs])


GROUPS = {"vehicle": [1.0, 1.2, 0.9, 1.1], "low": [1.3, 1.1, 1.4, 1.2],
          "high": [2.0, 2.4, 2.2, 1.9], "single": [5.0]}


def test_dunnett_matches_scipy():
    t = compare_to_control(_table(GROUPS), "vehicle").set_index("condition")
    ref = stats.dunnett(GROUPS["low"], GROUPS["high"], control=GROUPS["vehicle"],
                        random_state=np.random.default_rng(0))
    assert t.loc["low", "p_value"] == pytest.approx(ref.pvalue[0], rel=1e-2)
    assert t.loc["high", "p_value"] == pytest.approx(ref.pvalue[1], rel=1e-2, abs=1e-6)
    assert t.loc["high", "difference"] == pytest.approx(2.125 - 1.05)
    assert t.loc["high", "difference_ci_low"] < 1.075 < t.loc["high", "difference_ci_high"]
    assert t.loc["high", "test"] == "Dunnett many-to-one"
    assert t.loc["single", "note"].startswith("not tested: 1 recording")
    assert math.isnan(t.loc["single", "p_value"])


def test_welch_holm_matches_scipy():
    t = compare_to_control(_table(GROUPS), "vehicle", method="welch-holm").set_index(
        "condition")
    p = [stats.ttest_ind(GROUPS[g], GROUPS["vehicle"], equal_var=False).pvalue
         for g in ("low", "high")]
    np.testing.assert_allclose(t.loc[["low", "high"], "p_value"], holm(p))
    assert t.loc["low", "test"] == "Welch t-test, Holm-adjusted"


def test_bad_control():
    with pytest.raises(CaimgError, match="control condition 'nope'"):
        compare_to_control(_table(GROUPS), "nope")
    with pytest.raises(CaimgError, match="expected >= 2"):
        compare_to_control(_table(GROUPS), "single")

"""Comparisons of each condition with the control, on recording-level values.

The recording (coverslip) is the experimental unit: cells of one coverslip share its
loading, its culture and its day, so treating them as independent samples inflates n and
shrinks p-values (pseudo-replication, Lazic 2010). Every test here takes one value per
recording.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import CaimgError

__all__ = ["compare_to_control", "hedges_g", "holm", "COMPARISON_COLUMNS", "methods_text"]

COMPARISON_COLUMNS = ("condition", "control", "n", "n_control", "mean", "mean_control",
                      "difference", "difference_ci_low", "difference_ci_high", "hedges_g",
                      "statistic", "p_value", "test", "note")


def hedges_g(treated, control) -> float:
    r"""Standardised mean difference with the small-sample correction (Hedges' g).

    Parameters
    ----------
    treated, control : array_like, shape (n1,), (n0,)
        One value per recording; NaNs are dropped. Both need >= 2 values.

    Returns
    -------
    float
        :math:`g = J \, (\bar x_1 - \bar x_0) / s_p` with the pooled SD
        :math:`s_p = \sqrt{((n_1 - 1) s_1^2 + (n_0 - 1) s_0^2) / (n_1 + n_0 - 2)}` and
        :math:`J = 1 - 3 / (4 (n_1 + n_0) - 9)`; NaN when a group has < 2 values or
        :math:`s_p = 0`.

    References
    ----------
    .. [1] Hedges LV (1981). Distribution theory for Glass's estimator of effect size and
       related estimators. J Educ Stat 6:107-128. doi:10.3102/10769986006002107

    Examples
    --------
    >>> round(hedges_g([2.0, 3.0, 4.0], [1.0, 2.0, 3.0]), 3)
    0.8
    """
    a = np.asarray(treated, float)
    b = np.asarray(control, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    n1, n0 = a.size, b.size
    if n1 < 2 or n0 < 2:
        return math.nan
    sp = math.sqrt(((n1 - 1) * a.var(ddof=1) + (n0 - 1) * b.var(ddof=1)) / (n1 + n0 - 2))
    if sp == 0:
        return math.nan
    return float((1.0 - 3.0 / (4.0 * (n1 + n0) - 9.0)) * (a.mean() - b.mean()) / sp)


def holm(p_values) -> np.ndarray:
    r"""Holm's step-down adjusted p-values (family-wise error control).

    Parameters
    ----------
    p_values : array_like
        Unadjusted p-values of one family of tests; NaN = not tested.

    Returns
    -------
    ndarray
        :math:`p_{(i)}^{adj} = \max_{j \le i} \min(1, (m - j + 1) p_{(j)})` over the
        sorted p-values, in the input order; NaNs stay NaN and do not count in m.

    References
    ----------
    .. [1] Holm S (1979). A simple sequentially rejective multiple test procedure.
       Scand J Stat 6:65-70.
    """
    p = np.asarray(p_values, float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok])]
    m = order.size
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        out[idx] = running
    return out


def _dunnett(groups, control_values, names, confidence):
    with warnings.catch_warnings():
        # scipy warns about groups whose values are all equal (e.g. a responder fraction
        # of 1 on every coverslip); the pooled variance is still valid
        warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        res = stats.dunnett(*[groups[n] for n in names], control=control_values,
                            random_state=np.random.default_rng(0))
    ci = res.confidence_interval(confidence_level=confidence)
    return (res.statistic, res.pvalue, ci.low, ci.high)


def _welch_holm(groups, control_values, names, confidence):
    stat, p, lo, hi = [], [], [], []
    for n in names:
        with warnings.catch_warnings():
            # nearly equal values in a group (no responders on any coverslip): scipy warns,
            # and the group's small variance is still what Welch's test should use
            warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
            r = stats.ttest_ind(groups[n], control_values, equal_var=False)
        ci = r.confidence_interval(confidence_level=confidence)
        stat.append(r.statistic)
        p.append(r.pvalue)
        lo.append(ci.low)
        hi.append(ci.high)
    return np.array(stat), holm(p), np.array(lo), np.array(hi)


#: "auto" uses Dunnett's pooled-variance test only when the standard deviations of the
#: groups differ by at most this factor (the same 3-fold rule the report warns with)
MAX_SD_RATIO = 3.0


def compare_to_control(values: pd.DataFrame, control: str, *, value: str = "value",
                       group: str = "condition", confidence: float = 0.95,
                       method: str = "auto") -> pd.DataFrame:
    """Compare every condition with the control, one value per recording.

    Parameters
    ----------
    values : pandas.DataFrame
        One row per recording with a ``group`` column and a ``value`` column.
    control : str
        The control condition (a value of ``group``).
    value, group : str
        Column names.
    confidence : float
        Confidence level of the intervals of the difference.
    method : {"auto", "dunnett", "welch-holm"}
        ``"auto"``: Dunnett's many-to-one test when its equal-variance assumption is
        reasonable (the largest standard deviation of the tested conditions and the
        control is at most :data:`MAX_SD_RATIO` times the smallest) and scipy has it
        (scipy >= 1.11); otherwise Welch t-tests with Holm's correction, which do not
        assume equal variances. Response spread usually grows with response size, and
        a pooled variance then hides real effects of small responses.

    Returns
    -------
    pandas.DataFrame
        :data:`COMPARISON_COLUMNS`, one row per non-control condition. ``difference`` =
        mean - mean_control with its simultaneous (Dunnett) or per-test (Welch)
        interval; ``p_value`` is adjusted for the comparisons in this table; a condition
        with fewer than 2 finite values is listed with NaN and a ``note``.

    Raises
    ------
    CaimgError
        The control is not among the groups, or has fewer than 2 finite values.

    Notes
    -----
    Dunnett (1955) compares k treatments with one control using the pooled within-group
    variance and controls the family-wise error rate of the k comparisons itself (no
    further correction). It assumes equal variances; Welch t-tests (Welch 1947) do not,
    and are corrected with Holm (1979).

    References
    ----------
    .. [1] Dunnett CW (1955). A multiple comparison procedure for comparing several
       treatments with a control. J Am Stat Assoc 50:1096-1121.
       doi:10.1080/01621459.1955.10501294
    .. [2] Welch BL (1947). The generalization of "Student's" problem when several
       different population variances are involved. Biometrika 34:28-35.
       doi:10.1093/biomet/34.1-2.28
    """
    if method not in ("auto", "dunnett", "welch-holm"):
        raise CaimgError(f"method = {method!r}: expected 'auto', 'dunnett' or 'welch-holm'")
    clean = values[[group, value]].copy()
    clean[value] = pd.to_numeric(clean[value], errors="coerce")
    clean = clean[np.isfinite(clean[value])]
    groups = {str(k): g[value].to_numpy(float) for k, g in clean.groupby(group, sort=False)}
    all_names = [str(k) for k in pd.unique(values[group]) if str(k) != str(control)]
    if str(control) not in groups or groups[str(control)].size < 2:
        have = groups.get(str(control), np.array([])).size
        raise CaimgError(f"control condition {control!r} has {have} recording value(s) of "
                         f"{value!r}; expected >= 2 (conditions: {sorted(map(str, groups))})")
    ctrl = groups[str(control)]
    testable = [n for n in all_names if groups.get(n, np.array([])).size >= 2]
    use = method
    if method == "auto":
        sds = [float(np.std(groups[n], ddof=1)) for n in testable] + [float(np.std(ctrl, ddof=1))]
        equal = min(sds) > 0 and max(sds) <= MAX_SD_RATIO * min(sds)
        use = "dunnett" if equal and hasattr(stats, "dunnett") else "welch-holm"
    res = {}
    within = sum(float(((groups[n] - groups[n].mean()) ** 2).sum()) for n in testable)
    if within + float(((ctrl - ctrl.mean()) ** 2).sum()) == 0:
        testable = []  # no variance within any condition: nothing to test against
    if testable:
        run = _dunnett if use == "dunnett" else _welch_holm
        res = dict(zip(testable, zip(*run(groups, ctrl, testable, confidence), strict=True),
                       strict=True))
    label = ("Dunnett many-to-one" if use == "dunnett" else "Welch t-test, Holm-adjusted")
    rows = []
    for n in all_names:
        g = groups.get(n, np.array([]))
        st, p, lo, hi = res.get(n, (math.nan,) * 4)
        rows.append({"condition": n, "control": str(control), "n": int(g.size),
                     "n_control": int(ctrl.size),
                     "mean": float(g.mean()) if g.size else math.nan,
                     "mean_control": float(ctrl.mean()),
                     "difference": float(g.mean() - ctrl.mean()) if g.size else math.nan,
                     "difference_ci_low": float(lo), "difference_ci_high": float(hi),
                     "hedges_g": hedges_g(g, ctrl), "statistic": float(st),
                     "p_value": float(p), "test": label if n in res else "",
                     "note": "" if n in res else (
                         f"not tested: {g.size} recording(s), need >= 2" if g.size < 2 else
                         "not tested: no variation within any condition")})
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


def methods_text(*, test: str, control: str | None, measure: str, per_recording: str,
                 cells: str) -> str:
    """Write the statistics paragraph of the report: what was done and why.

    Parameters
    ----------
    test : str
        Label of the test used (``"Dunnett ..."`` or ``"Welch ..."``).
    control : str or None
        The control condition (with how it was chosen); None: nothing was tested.
    measure, per_recording, cells : str
        The primary measure and the options of
        :func:`~caimg.experiment.summary.summarize`.

    Returns
    -------
    str
        One paragraph.
    """
    which = ("Dunnett's many-to-one test (scipy.stats.dunnett), which compares every "
             "condition with the control using the pooled variance and controls the "
             "family-wise error rate of those comparisons itself"
             if test.startswith("Dunnett") else
             "Welch's t-test for every condition against the control (no equal-variance "
             "assumption), with Holm's step-down correction for the number of conditions")
    compared = (
        f"Each condition was compared with the control '{control}' by {which}. The primary "
        f"measure is {measure}; the other measures and the responder fraction are tested the "
        f"same way, each as its own family (no correction across measures). Effect size: "
        f"Hedges' g = J (mean - mean_control) / s_pooled, J = 1 - 3/(4(n1 + n0) - 9) "
        f"(Hedges 1981, doi:10.3102/10769986006002107). Intervals of the difference are 95 % "
        f"{'simultaneous (Dunnett)' if test.startswith('Dunnett') else 'per-test (Welch)'}."
        if control is not None else
        "No control condition was given (--control) or recognised (a single condition at "
        "concentration 0), so no condition was tested.")
    return (
        f"Unit of analysis: the recording (coverslip). For each recording the {per_recording} "
        f"over its {cells} cells was taken for every measure; conditions are summarised as "
        f"mean, SEM = SD/sqrt(n) and n = number of recordings. Cell-level figures pooled "
        f"over recordings (columns pooled_cells_*) are shown for description only, never "
        f"tested, because cells of one coverslip are not independent (Lazic 2010, "
        f"doi:10.1186/1471-2202-11-5). " + compared)

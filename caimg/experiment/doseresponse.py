"""Concentration-response: the four-parameter logistic (Hill) fit, its profile-likelihood
confidence interval, and the Cheng-Prusoff conversion.

Pure functions on arrays; no file IO, no plotting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special, stats

from ..errors import CaimgError

__all__ = ["DoseResponseFit", "fit_dose_response", "logistic4", "cheng_prusoff"]

_LN10 = math.log(10.0)
#: Hill slopes allowed in the fit; steeper or shallower curves cannot be told apart from a
#: step or a line over the usual half-log concentration series.
HILL_BOUNDS = (0.1, 10.0)
#: How far (decades) beyond the tested concentrations the profile looks for the CI ends.
_SEARCH_DECADES = 2.0


def logistic4(concentration, *, bottom, top, log10_ec50, hill_slope, direction="stimulation"):
    """Evaluate the four-parameter logistic (Hill) curve.

    Parameters
    ----------
    concentration : array_like
        Concentrations in mol/L (M), >= 0; 0 (vehicle) gives the curve's limit.
    bottom, top : float
        Lower and upper plateau, in the unit of the response.
    log10_ec50 : float
        log10 of EC50 (or IC50) in M.
    hill_slope : float
        Hill slope ``h`` > 0 (steepness; the direction is given by ``direction``).
    direction : {"stimulation", "inhibition"}
        Rising (EC50) or falling (IC50) curve.

    Returns
    -------
    ndarray
        Response at each concentration.

    Notes
    -----
    Stimulation: :math:`y = b + (t - b) / (1 + (EC_{50}/x)^h)`, so ``y(0) = bottom``.
    Inhibition: :math:`y = b + (t - b) / (1 + (x/IC_{50})^h)`, so ``y(0) = top``.

    Examples
    --------
    >>> float(logistic4(1e-6, bottom=0.0, top=1.0, log10_ec50=-6.0, hill_slope=1.0))
    0.5
    """
    if direction not in ("stimulation", "inhibition"):
        raise CaimgError(f"direction = {direction!r}: expected 'stimulation' or 'inhibition'")
    y0, yinf = (bottom, top) if direction == "stimulation" else (top, bottom)
    return y0 + (yinf - y0) * _fraction(np.asarray(concentration, float), log10_ec50,
                                        hill_slope)


def _fraction(x, log10_ec50, hill):
    """``s = 1 / (1 + (EC50 / x)^h)``, computed in log space so that x = 0 gives 0."""
    with np.errstate(divide="ignore"):
        lx = np.log10(x)
    return special.expit(hill * _LN10 * (lx - log10_ec50))


def _projected_rss(x, y, log10_ec50, hill):
    """Residual sum of squares with the plateaus solved by linear least squares.

    For fixed log10 EC50 and Hill slope the model ``y = y0 (1 - s) + yinf s`` is linear in
    the two plateaus (variable projection, Golub & Pereyra 1973), so they are solved
    exactly. ``log10_ec50`` and ``hill`` broadcast against each other; ``x`` and ``y`` are
    1-D and run along a new last axis. Returns (rss, y0, yinf).
    """
    le = np.asarray(log10_ec50, float)[..., None]
    h = np.asarray(hill, float)[..., None]
    s = _fraction(x, le, h)
    u = 1.0 - s
    a, b, c = (u * u).sum(-1), (u * s).sum(-1), (s * s).sum(-1)
    d1, d2 = (u * y).sum(-1), (s * y).sum(-1)
    det = a * c - b * b
    ok = det > 1e-12 * np.maximum(a * c, 1e-300)
    safe = np.where(ok, det, 1.0)
    y0 = np.where(ok, (c * d1 - b * d2) / safe, y.mean())
    yinf = np.where(ok, (a * d2 - b * d1) / safe, y.mean())
    resid = y - (y0[..., None] * u + yinf[..., None] * s)
    return (resid * resid).sum(-1), y0, yinf


def _profile(x, y, log10_ec50, hill_grid):
    """Profile RSS at each log10 EC50: minimum over the Hill slope (and the plateaus)."""
    le = np.atleast_1d(np.asarray(log10_ec50, float))
    rss, _, _ = _projected_rss(x, y, le[:, None], hill_grid[None, :])
    out = np.empty(le.size)
    lo, hi = np.log(HILL_BOUNDS)
    for i, row in enumerate(rss):
        j = int(np.argmin(row))
        a = math.log(hill_grid[max(j - 1, 0)])
        b = math.log(hill_grid[min(j + 1, hill_grid.size - 1)])
        res = optimize.minimize_scalar(
            lambda lh, L=le[i]: float(_projected_rss(x, y, L, math.exp(lh))[0]),
            bounds=(max(a, lo), min(b, hi)), method="bounded", options={"xatol": 1e-4})
        out[i] = min(float(res.fun), float(row[j]))
    return out


@dataclass(frozen=True)
class DoseResponseFit:
    """A four-parameter logistic fit of response against concentration.

    Attributes
    ----------
    determined : bool
        False when the data do not define EC50/IC50; then ``reason`` says why and every
        parameter is NaN (no number is reported).
    reason : str
        Empty when determined.
    direction : {"stimulation", "inhibition"}
        Rising curve (EC50) or falling curve (IC50).
    label : {"EC50", "IC50"}
    ec50_M, ci_low_M, ci_high_M : float
        EC50 (or IC50) and its 95 % (``1 - alpha``) profile-likelihood interval, M.
    log10_ec50 : float
    bottom, top : float
        Lower and upper plateau (response units).
    hill_slope : float
        Hill slope > 0.
    r_squared : float
        ``1 - RSS / sum((y - mean(y))^2)``.
    n_points, n_concentrations : int
        Data points and distinct concentrations (vehicle included) used.
    f_flat, p_flat : float
        Extra-sum-of-squares F-test of the curve against a horizontal line.
    """

    determined: bool
    reason: str
    direction: str
    label: str
    ec50_M: float
    ci_low_M: float
    ci_high_M: float
    log10_ec50: float
    bottom: float
    top: float
    hill_slope: float
    r_squared: float
    n_points: int
    n_concentrations: int
    f_flat: float
    p_flat: float
    alpha: float = 0.05
    _params: tuple = field(default=(), repr=False)

    def predict(self, concentration) -> np.ndarray:
        """Fitted response at ``concentration`` (M); NaN when not determined."""
        x = np.asarray(concentration, float)
        if not self.determined:
            return np.full(x.shape, np.nan)
        return logistic4(x, bottom=self.bottom, top=self.top, log10_ec50=self.log10_ec50,
                         hill_slope=self.hill_slope, direction=self.direction)

    def as_dict(self) -> dict:
        """Return the public fields as a flat dict (one row of a table)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if not k.startswith("_")}


def _check_xy(concentration, response):
    x = np.asarray(concentration, float).ravel()
    y = np.asarray(response, float).ravel()
    if x.shape != y.shape:
        raise CaimgError(f"concentration has {x.size} values and response {y.size}: "
                         "expected one concentration per response")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if np.any(x < 0):
        raise CaimgError(f"concentration has negative values ({x[x < 0][:3]}): expected "
                         "concentrations >= 0 in M (0 = vehicle)")
    return x, y


def _not_determined(reason, direction, n, n_conc, f_flat=np.nan, p_flat=np.nan, alpha=0.05):
    nan = float("nan")
    return DoseResponseFit(False, reason, direction,
                           "IC50" if direction == "inhibition" else "EC50", nan, nan, nan, nan,
                           nan, nan, nan, nan, n, n_conc, f_flat, p_flat, alpha)


def _best_fit(x, y, lmin, lmax, hill_grid):
    """Global start on a grid (variable projection), then least_squares on all four."""
    grid = np.arange(lmin - 1.0, lmax + 1.0 + 1e-9, 0.05)
    rss, y0, yinf = _projected_rss(x, y, grid[:, None], hill_grid[None, :])
    i, j = np.unravel_index(int(np.argmin(rss)), rss.shape)
    p0 = np.array([y0[i, j], yinf[i, j], grid[i], hill_grid[j]])
    zero = x == 0

    def resid(p):
        return p[0] + (p[1] - p[0]) * _fraction(x, p[2], p[3]) - y

    def jac(p):
        s = _fraction(x, p[2], p[3])
        ds = s * (1.0 - s) * (p[1] - p[0]) * _LN10
        with np.errstate(divide="ignore"):
            dl = np.where(zero, 0.0, np.log10(np.where(zero, 1.0, x)) - p[2])
        return np.column_stack([1.0 - s, s, -p[3] * ds, dl * ds])

    lo = [-np.inf, -np.inf, lmin - 2 * _SEARCH_DECADES, HILL_BOUNDS[0]]
    hi = [np.inf, np.inf, lmax + 2 * _SEARCH_DECADES, HILL_BOUNDS[1]]
    p0[3] = np.clip(p0[3], *HILL_BOUNDS)
    res = optimize.least_squares(resid, p0, jac=jac, bounds=(lo, hi), method="trf",
                                 x_scale="jac")
    p = res.x if 2 * res.cost <= rss[i, j] else p0
    return p, float(np.sum(resid(p) ** 2))


def _ci_end(x, y, p_hat, threshold, step, limit, hill_grid):
    """log10 EC50 where the profile RSS crosses ``threshold`` going from the estimate
    towards ``limit`` in steps of ``step``; None when it never does (unbounded).
    """
    grid = np.arange(p_hat[2] + step, limit + step / 2, step)
    # a cheap scan (Hill slope on its grid only: an upper bound of the profile), each
    # crossing it finds checked on the exact profile
    coarse, _, _ = _projected_rss(x, y, grid[:, None], hill_grid[None, :])
    coarse = coarse.min(axis=1)
    prev = p_hat[2]
    for k in np.flatnonzero(coarse > threshold):
        if _profile(x, y, [grid[k]], hill_grid)[0] > threshold:
            a = prev if k == 0 else grid[k - 1]
            f = lambda L: _profile(x, y, [L], hill_grid)[0] - threshold  # noqa: E731
            if f(a) >= 0:  # the point before is above too (a non-monotone profile)
                return float(a)
            return float(optimize.brentq(f, a, grid[k], xtol=1e-4))
    return None


def fit_dose_response(concentration, response, *, direction="auto", alpha=0.05):
    r"""Fit a four-parameter logistic curve and the profile-likelihood CI of EC50/IC50.

    Parameters
    ----------
    concentration : array_like, shape (N,)
        Concentration of each data point in M (mol/L), >= 0. Vehicle = 0, which the
        model fits as its zero-concentration plateau.
    response : array_like, shape (N,)
        Response of each data point, e.g. one recording-level amplitude per coverslip
        (replicates as separate points, not their mean).
    direction : {"auto", "stimulation", "inhibition"}
        ``"auto"`` takes the direction of the best fit; the other two refuse (not
        determined) a curve going the other way.
    alpha : float
        1 - confidence level of the interval and the level of the flatness test.

    Returns
    -------
    DoseResponseFit
        ``determined=False`` with a ``reason`` when: fewer than 5 points or 4 distinct
        concentrations; the curve is not better than a horizontal line (flat series);
        the EC50 lies outside the tested concentrations, or its interval is unbounded
        (no plateau reached); the curve goes against ``direction``.

    Notes
    -----
    Model (stimulation; inhibition swaps the plateaus at x = 0 and x -> infinity):

    .. math:: y = \mathrm{bottom} + \frac{\mathrm{top} - \mathrm{bottom}}
              {1 + (EC_{50} / x)^{h}}

    fitted by least squares (``scipy.optimize.least_squares``, trust region) in the
    parameters (bottom, top, log10 EC50, h), ``h`` within :data:`HILL_BOUNDS`, started
    from the best point of a grid over log10 EC50 and h with the plateaus solved
    linearly. Residual degrees of freedom ``dof = N - 4``.

    *Flatness*: extra-sum-of-squares F-test against ``y = mean(y)``,
    ``F = ((RSS_0 - RSS) / 3) / (RSS / dof)``, F(3, dof); ``p >= alpha`` = flat.

    *95 % CI of log10 EC50* by profile likelihood (Venzon & Moolgavkar 1988): every
    log10 EC50 whose profile RSS (minimised over bottom, top and h) stays below
    ``RSS_min (1 + F_{1-alpha}(1, dof) / dof)``, the F-based profile interval GraphPad
    Prism reports as its profile-likelihood CI. The ends are searched up to
    2 decades beyond the tested concentrations; an end not found there is unbounded.

    References
    ----------
    .. [1] Motulsky H, Christopoulos A (2004). Fitting models to biological data using
       linear and nonlinear regression. Oxford University Press.
    .. [2] Venzon DJ, Moolgavkar SH (1988). A method for computing profile-likelihood-
       based confidence intervals. Appl Stat 37:87-94. doi:10.2307/2347496
    .. [3] Golub G, Pereyra V (1973). The differentiation of pseudo-inverses and nonlinear
       least squares problems whose variables separate. SIAM J Numer Anal 10:413-432.
       doi:10.1137/0710036

    Examples
    --------
    >>> x = np.repeat([0, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5], 3)
    >>> y = logistic4(x, bottom=0.0, top=1.0, log10_ec50=-7.0, hill_slope=1.0)
    >>> y = y + np.tile([-0.02, 0.0, 0.02], 6)
    >>> fit = fit_dose_response(x, y)
    >>> fit.label, round(fit.log10_ec50, 2)
    ('EC50', -7.0)
    """
    if direction not in ("auto", "stimulation", "inhibition"):
        raise CaimgError(f"direction = {direction!r}: expected 'auto', 'stimulation' or "
                         "'inhibition'")
    if not 0 < alpha < 1:
        raise CaimgError(f"alpha = {alpha!r}: expected a number between 0 and 1")
    x, y = _check_xy(concentration, response)
    n, n_conc = x.size, np.unique(x).size
    want = "stimulation" if direction == "auto" else direction
    positive = x[x > 0]
    if n < 5 or n_conc < 4 or positive.size == 0:
        return _not_determined(f"too few data: {n} points at {n_conc} concentrations "
                               "(a 4-parameter fit needs >= 5 points at >= 4 concentrations)",
                               want, n, n_conc, alpha=alpha)
    lmin, lmax = float(np.log10(positive.min())), float(np.log10(positive.max()))
    hill_grid = np.geomspace(HILL_BOUNDS[0], HILL_BOUNDS[1], 61)
    p, rss = _best_fit(x, y, lmin, lmax, hill_grid)
    dof = n - 4
    rss0 = float(np.sum((y - y.mean()) ** 2))
    got = "stimulation" if p[1] >= p[0] else "inhibition"
    if rss <= 0 or rss0 <= 0:
        f_flat, p_flat = (np.inf, 0.0) if rss0 > 0 else (0.0, 1.0)
    else:
        f_flat = ((rss0 - rss) / 3.0) / (rss / dof)
        p_flat = float(stats.f.sf(f_flat, 3, dof))
    nd = dict(n=n, n_conc=n_conc, f_flat=float(f_flat), p_flat=p_flat, alpha=alpha)
    if not p_flat < alpha:
        return _not_determined(
            f"flat: the curve is not better than a horizontal line (extra-sum-of-squares "
            f"F = {f_flat:.3g}, p = {p_flat:.3g} >= {alpha:g})", want, **nd)
    if direction != "auto" and got != direction:
        return _not_determined(f"the fitted curve is an {got}, not an {direction}", want, **nd)
    label = "IC50" if got == "inhibition" else "EC50"
    if not lmin - 1e-9 <= p[2] <= lmax + 1e-9:
        return _not_determined(
            f"no plateau: the best-fit {label} (10^{p[2]:.2f} M) lies outside the tested "
            f"concentrations (10^{lmin:.2f} to 10^{lmax:.2f} M)", got, **nd)
    threshold = rss * (1.0 + stats.f.ppf(1 - alpha, 1, dof) / dof)
    lo = _ci_end(x, y, p, threshold, -0.1, lmin - _SEARCH_DECADES, hill_grid)
    hi = _ci_end(x, y, p, threshold, 0.1, lmax + _SEARCH_DECADES, hill_grid)
    if lo is None or hi is None:
        side = "lower" if lo is None else "upper"
        return _not_determined(
            f"no plateau: the {100 * (1 - alpha):g} % interval of {label} is unbounded on "
            f"the {side} side (the data do not reach the "
            f"{'bottom' if (side == 'lower') == (got == 'stimulation') else 'top'} "
            f"plateau)", got, **nd)
    bottom, top = (p[0], p[1]) if got == "stimulation" else (p[1], p[0])
    return DoseResponseFit(True, "", got, label, float(10 ** p[2]), float(10 ** lo),
                           float(10 ** hi), float(p[2]), float(bottom), float(top),
                           float(p[3]), float(1 - rss / rss0), n, n_conc, float(f_flat),
                           p_flat, alpha, tuple(float(v) for v in p))


def cheng_prusoff(ic50, ligand_conc, kd):
    """Inhibition constant from an IC50 by the Cheng-Prusoff equation.

    Parameters
    ----------
    ic50 : float or array_like
        IC50 of the inhibitor (any concentration unit; an interval converts end by end).
    ligand_conc : float
        Concentration [L] of the agonist or radioligand used, same unit as ``kd``.
    kd : float
        Dissociation constant (or EC50) of that ligand, > 0.

    Returns
    -------
    float or ndarray
        :math:`K_i = IC_{50} / (1 + [L] / K_d)`, in the unit of ``ic50``.

    Notes
    -----
    Valid for a competitive inhibitor at equilibrium (Cheng & Prusoff 1973).

    References
    ----------
    .. [1] Cheng Y, Prusoff WH (1973). Relationship between the inhibition constant (Ki)
       and the concentration of inhibitor which causes 50 per cent inhibition (I50) of an
       enzymatic reaction. Biochem Pharmacol 22:3099-3108.
       doi:10.1016/0006-2952(73)90196-2

    Examples
    --------
    >>> cheng_prusoff(100e-9, 10e-9, 10e-9)
    5e-08
    """
    for name, v in (("ligand_conc", ligand_conc), ("kd", kd)):
        if not (isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v)):
            raise CaimgError(f"{name} = {v!r}: expected a finite number")
    if kd <= 0 or ligand_conc < 0:
        raise CaimgError(f"kd = {kd!r}, ligand_conc = {ligand_conc!r}: expected kd > 0 and "
                         "ligand_conc >= 0 (same unit)")
    out = np.asarray(ic50, float) / (1.0 + ligand_conc / kd)
    return float(out) if out.ndim == 0 else out

"""From background-subtracted channel means to the signal kinetics are measured on.

Fura-2: ``R = F340 / F380`` (:func:`fura2_ratio`), ``R/R0`` and ``dR/R0``
(:func:`ratio_over_r0`), [Ca2+] with Grynkiewicz's equation (:func:`grynkiewicz`),
in-situ calibration from an EGTA / ionomycin segment (:func:`insitu_calibration`).
Single wavelength (Fluo-4, GCaMP, ...): a baseline ``F0`` in one of four named modes
(:func:`compute_f0`), ``dF/F0`` (:func:`dff`) and [Ca2+] from Kd, Fmin, Fmax
(:func:`fluo_calcium`).

Every function takes arrays shaped ``(T, R)`` (frames x ROIs; a 1-D ``(T,)`` trace is
accepted where noted), never modifies its inputs and returns new float64 arrays.
Definitions and formulas: ``docs/definitions.md``.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._validation import check_time_s
from .errors import CaimgError

__all__ = [
    "subtract_background",
    "fura2_ratio",
    "fura2_ratio_flags",
    "ratio_over_r0",
    "grynkiewicz",
    "calibration_flags",
    "fluo_calcium",
    "compute_f0",
    "F0_MODES",
    "dff",
    "insitu_calibration",
]

F0_MODES = ("auto", "prestim", "percentile", "rolling", "bleach_fit")


def _as_2d(a, name):
    """float64 copy-free view as (T, R); remember whether the input was 1-D."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        return arr[:, None], True
    if arr.ndim != 2:
        raise CaimgError(f"'{name}' has shape {arr.shape}: expected (T,) or (T, R) "
                         "(frames x ROIs)")
    return arr, False


def _restore(arr, was_1d):
    return arr[:, 0] if was_1d else arr


def subtract_background(means, background) -> np.ndarray:
    """Subtract a background from per-ROI channel means.

    Parameters
    ----------
    means : array_like, shape (T, R) or (T,)
        Mean intensity of each ROI per frame (camera counts; never rescaled).
    background : float or array_like, shape (T,) or (T, R)
        Background per frame (the automatic or user-drawn background ROI), one value per
        frame and ROI, or a constant.

    Returns
    -------
    corrected : ndarray of float64, same shape as ``means``
        ``means - background`` (broadcast along ROIs).

    Examples
    --------
    >>> subtract_background(np.array([[10.0, 20.0], [12.0, 22.0]]), np.array([2.0, 4.0]))
    array([[ 8., 18.],
           [ 8., 18.]])
    """
    m, was_1d = _as_2d(means, "means")
    bg = np.asarray(background, dtype=np.float64)
    if bg.ndim == 0:
        out = m - bg
    elif bg.ndim == 1:
        if bg.shape[0] != m.shape[0]:
            raise CaimgError(f"'background' has {bg.shape[0]} frames but 'means' has "
                             f"{m.shape[0]}: expected one background value per frame")
        out = m - bg[:, None]
    elif bg.shape == m.shape:
        out = m - bg
    else:
        raise CaimgError(f"'background' has shape {bg.shape}: expected a scalar, (T,) = "
                         f"({m.shape[0]},) or (T, R) = {m.shape}")
    return _restore(out, was_1d)


def fura2_ratio_flags(f340, f380, *, min_denominator: float = 1e-6) -> np.ndarray:
    """Where the Fura-2 ratio is undefined.

    Parameters
    ----------
    f340, f380 : array_like, shape (T, R) or (T,)
        Background-subtracted intensities at 340 nm and 380 nm excitation.
    min_denominator : float
        Fraction of each ROI's median ``|F380|``: frames where the background-subtracted
        F380 is at or below ``min_denominator * median(|F380|)``, or at or below 0, or
        where either channel is not finite, are flagged.

    Returns
    -------
    flags : ndarray of bool, same shape as the inputs
        True where :func:`fura2_ratio` returns NaN.
    """
    a, was_1d = _as_2d(f340, "f340")
    b, _ = _as_2d(f380, "f380")
    if a.shape != b.shape:
        raise CaimgError(f"'f340' has shape {a.shape} and 'f380' {b.shape}: expected the "
                         "same (T, R) shape")
    if min_denominator < 0:
        raise CaimgError(f"'min_denominator' = {min_denominator!r}: expected a value >= 0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns -> NaN median
        scale = np.nanmedian(np.abs(b), axis=0) if b.shape[0] else np.zeros(b.shape[1])
    limit = min_denominator * np.where(np.isfinite(scale), scale, 0.0)
    flags = ~np.isfinite(a) | ~np.isfinite(b) | (b <= 0) | (b <= limit[None, :])
    return _restore(flags, was_1d)


def fura2_ratio(f340, f380, *, min_denominator: float = 1e-6) -> np.ndarray:
    """Fura-2 ratio ``R = F340 / F380`` of background-subtracted channels.

    Parameters
    ----------
    f340, f380 : array_like, shape (T, R) or (T,)
        Background-subtracted intensities at 340 nm and 380 nm excitation
        (see :func:`subtract_background`).
    min_denominator : float, default 1e-6
        Frames whose F380 is at or below ``min_denominator`` times that ROI's median
        ``|F380|``, or at or below zero, get NaN (see :func:`fura2_ratio_flags`).

    Returns
    -------
    ratio : ndarray of float64, same shape
        ``F340 / F380``; NaN where flagged, never inf.

    Warns
    -----
    UserWarning
        Once, with the number of ROIs that have at least one flagged frame.

    Notes
    -----
    ``R = (F340 - B340) / (F380 - B380)``; the ratio cancels dye loading, cell thickness
    and most bleaching (Grynkiewicz et al. 1985).

    References
    ----------
    .. [1] Grynkiewicz G, Poenie M, Tsien RY (1985) A new generation of Ca2+ indicators
       with greatly improved fluorescence properties. J Biol Chem 260:3440-3450.
       doi:10.1016/S0021-9258(19)83641-4

    Examples
    --------
    >>> fura2_ratio(np.array([[2.0], [3.0]]), np.array([[1.0], [1.5]]))
    array([[2.],
           [2.]])
    """
    flags = fura2_ratio_flags(f340, f380, min_denominator=min_denominator)
    a, was_1d = _as_2d(f340, "f340")
    b, _ = _as_2d(f380, "f380")
    flags2 = flags[:, None] if was_1d else flags
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(flags2, np.nan, a / np.where(flags2, 1.0, b))
    # A column that is entirely NaN on input is missing data, not a denominator problem.
    bad = flags2.any(axis=0) & ~(~np.isfinite(a) | ~np.isfinite(b)).all(axis=0)
    n_bad = int(bad.sum())
    if n_bad:
        warnings.warn(f"fura2_ratio: {n_bad} of {a.shape[1]} ROI(s) have frames where the "
                      "background-subtracted F380 is near zero or negative; their ratio is "
                      "NaN there (check the background)", stacklevel=2)
    return _restore(ratio, was_1d)


def ratio_over_r0(ratio, r0) -> tuple[np.ndarray, np.ndarray]:
    """``R/R0`` and ``dR/R0`` of a Fura-2 ratio.

    Parameters
    ----------
    ratio : array_like, shape (T, R) or (T,)
    r0 : array_like, broadcastable to ``ratio``
        Baseline ratio, e.g. from :func:`compute_f0`.

    Returns
    -------
    r_r0 : ndarray
        ``R / R0``; NaN where ``R0 <= 0`` or not finite.
    dr_r0 : ndarray
        ``(R - R0) / R0 = R/R0 - 1``.
    """
    d = dff(ratio, r0)
    return d + 1.0, d


def _check_interval(rmin, rmax, lo_name, hi_name):
    if rmin is None or rmax is None:
        raise CaimgError(f"calibration needs '{lo_name}' and '{hi_name}', got "
                         f"{lo_name}={rmin!r}, {hi_name}={rmax!r}")
    if not (np.isfinite(rmin) and np.isfinite(rmax) and rmax > rmin):
        raise CaimgError(f"calibration '{lo_name}' = {rmin!r}, '{hi_name}' = {rmax!r}: "
                         f"expected finite values with {lo_name} < {hi_name}")


def calibration_flags(values, *, lo: float, hi: float) -> np.ndarray:
    """Flag the values of a ratio (or F) outside the open interval ``(lo, hi)`` or not finite.

    These are the samples :func:`grynkiewicz` and :func:`fluo_calcium` return as NaN.

    Parameters
    ----------
    values : array_like, any shape
        Ratios (Fura-2) or fluorescence (single wavelength).
    lo, hi : float
        The open interval of valid values (``rmin``/``rmax`` or ``fmin``/``fmax``).

    Returns
    -------
    numpy.ndarray of bool, shape of ``values``
        True where a value is ``<= lo``, ``>= hi`` or not finite.
    """
    v = np.asarray(values, dtype=np.float64)
    return ~((v > lo) & (v < hi))


def grynkiewicz(ratio, *, rmin: float, rmax: float, kd_nM: float | None = None,
                beta: float | None = None, keff_nM: float | None = None) -> np.ndarray:
    """[Ca2+] in nM from a Fura-2 ratio (Grynkiewicz et al. 1985).

    Parameters
    ----------
    ratio : array_like, any shape
        Background-subtracted ``F340/F380``.
    rmin, rmax : float
        Ratio of the Ca2+-free and Ca2+-saturated dye, measured on the same set-up.
    kd_nM : float, optional
        Dissociation constant of Fura-2 in nM (224 nM in vitro at 37 C is typical).
    beta : float, optional
        ``F380(free) / F380(bound)``.
    keff_nM : float, optional
        Effective constant ``Kd * beta`` in nM; when given, ``kd_nM`` and ``beta`` are
        ignored.

    Returns
    -------
    ca_nM : ndarray of float64, shape of ``ratio``
        NaN where ``R <= Rmin`` or ``R >= Rmax`` or R is not finite (see
        :func:`calibration_flags`).

    Notes
    -----
    ``[Ca2+] = Kd * beta * (R - Rmin) / (Rmax - R)``. The result has the unit of
    ``kd_nM`` / ``keff_nM`` (pass uM to get uM).

    References
    ----------
    .. [1] Grynkiewicz G, Poenie M, Tsien RY (1985) J Biol Chem 260:3440-3450.
       doi:10.1016/S0021-9258(19)83641-4

    Examples
    --------
    >>> float(grynkiewicz(0.5, rmin=0.2, rmax=2.0, keff_nM=1000.0))
    200.0
    """
    _check_interval(rmin, rmax, "rmin", "rmax")
    if keff_nM is not None:  # replaces kd_nM * beta (recipes keep a default kd_nM)
        keff = float(keff_nM)
    elif kd_nM is not None and beta is not None:
        keff = float(kd_nM) * float(beta)
    else:
        raise CaimgError(f"calibration needs 'keff_nM', or 'kd_nM' and 'beta'; got "
                         f"kd_nM={kd_nM!r}, beta={beta!r}, keff_nM={keff_nM!r}")
    if not (np.isfinite(keff) and keff > 0):
        raise CaimgError(f"calibration Kd*beta = {keff!r}: expected a positive number")
    r = np.asarray(ratio, dtype=np.float64)
    bad = calibration_flags(r, lo=rmin, hi=rmax)
    with np.errstate(divide="ignore", invalid="ignore"):
        ca = keff * (r - rmin) / (rmax - r)
    return np.where(bad, np.nan, ca)


def fluo_calcium(f, *, kd_nM: float, fmin: float, fmax: float) -> np.ndarray:
    """[Ca2+] in nM from a single-wavelength indicator.

    Parameters
    ----------
    f : array_like, any shape
        Background-subtracted fluorescence.
    kd_nM : float
        Dissociation constant (Fluo-4: 345 nM).
    fmin, fmax : float
        Fluorescence of the Ca2+-free and Ca2+-saturated indicator.

    Returns
    -------
    ca_nM : ndarray of float64
        ``Kd * (F - Fmin) / (Fmax - F)``; NaN where F is outside ``(Fmin, Fmax)``.

    Examples
    --------
    >>> float(fluo_calcium(200.0, kd_nM=345.0, fmin=100.0, fmax=1100.0))
    38.333333333333336
    """
    _check_interval(fmin, fmax, "fmin", "fmax")
    if kd_nM is None or not (np.isfinite(kd_nM) and kd_nM > 0):
        raise CaimgError(f"'kd_nM' = {kd_nM!r}: expected a positive number")
    v = np.asarray(f, dtype=np.float64)
    bad = calibration_flags(v, lo=fmin, hi=fmax)
    with np.errstate(divide="ignore", invalid="ignore"):
        ca = kd_nM * (v - fmin) / (fmax - v)
    return np.where(bad, np.nan, ca)


def _nanmean0(a):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=0)


def compute_f0(f, time_s, *, mode: str = "auto", stimulus_time_s: float | None = None,
               baseline_window_s: float = 10.0, percentile: float = 10.0,
               window_s: float = 30.0) -> np.ndarray:
    """Baseline fluorescence F0 (or baseline ratio R0) per ROI and frame.

    Parameters
    ----------
    f : array_like, shape (T, R) or (T,)
        Background-subtracted fluorescence (or a Fura-2 ratio).
    time_s : array_like, shape (T,)
        Frame times in seconds, strictly increasing.
    mode : {"auto", "prestim", "percentile", "rolling", "bleach_fit"}
        ``"prestim"``: mean of the frames with ``stimulus_time_s - baseline_window_s
        <= t < stimulus_time_s``. ``"percentile"``: the ``percentile``-th percentile of the
        whole trace. ``"rolling"``: the ``percentile``-th percentile in a window of
        ``window_s`` seconds centred on each frame (shorter at the ends).
        ``"bleach_fit"``: ``c + a*exp(-t/tau)`` fitted (least squares) to the frames
        before the stimulus (the whole trace when no stimulus time is given) and
        evaluated on every frame, so F0 follows photobleaching across the recording.
        ``"auto"``: ``"prestim"`` when ``stimulus_time_s`` is given, else ``"percentile"``.
    stimulus_time_s : float, optional
        Stimulus time in seconds (same clock as ``time_s``).
    baseline_window_s : float
        Length of the pre-stimulus window (``"prestim"``).
    percentile : float
        0..100 (``"percentile"``, ``"rolling"``).
    window_s : float
        Rolling window length in seconds (``"rolling"``).

    Returns
    -------
    f0 : ndarray of float64, shape of ``f``
        Constant in time for ``"prestim"`` and ``"percentile"``. NaN for a ROI whose
        frames in the window are all NaN.

    Examples
    --------
    >>> t = np.arange(5.0)
    >>> compute_f0(np.array([1.0, 1.0, 3.0, 5.0, 3.0]), t, mode="prestim",
    ...            stimulus_time_s=2.0)
    array([1., 1., 1., 1., 1.])
    """
    x, was_1d = _as_2d(f, "f")
    t = check_time_s(time_s, x.shape[0])
    if mode not in F0_MODES:
        raise CaimgError(f"'f0_mode' = {mode!r}: expected one of {list(F0_MODES)}")
    if mode == "auto":
        mode = "prestim" if stimulus_time_s is not None else "percentile"
    if not 0 <= percentile <= 100:
        raise CaimgError(f"'percentile' = {percentile!r}: expected a value in 0..100")
    T, R = x.shape
    if T == 0 or R == 0:
        return _restore(np.full_like(x, np.nan), was_1d)

    if mode == "prestim":
        if stimulus_time_s is None:
            raise CaimgError("f0_mode 'prestim' needs 'stimulus_time_s'; give a stimulus "
                             "time or choose f0_mode 'percentile', 'rolling' or 'bleach_fit'")
        if not baseline_window_s > 0:
            raise CaimgError(f"'baseline_window_s' = {baseline_window_s!r}: expected > 0")
        sel = (t >= stimulus_time_s - baseline_window_s) & (t < stimulus_time_s)
        if not sel.any():
            raise CaimgError(f"'stimulus_time_s' = {stimulus_time_s!r}: no frame lies in the "
                             f"{baseline_window_s} s before it (first frame at {t[0]} s); "
                             "expected a stimulus after the first frame")
        f0 = np.broadcast_to(_nanmean0(x[sel]), x.shape).copy()
    elif mode == "percentile":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            f0 = np.broadcast_to(np.nanpercentile(x, percentile, axis=0), x.shape).copy()
    elif mode == "rolling":
        f0 = _rolling_percentile(x, t, percentile, window_s)
    else:  # bleach_fit
        f0 = _bleach_fit(x, t, stimulus_time_s)
    return _restore(f0, was_1d)


def _rolling_percentile(x, t, percentile, window_s):
    import pandas as pd

    if not window_s > 0:
        raise CaimgError(f"'window_s' = {window_s!r}: expected a window length > 0 s")
    dt = float(np.median(np.diff(t))) if t.size > 1 else 1.0
    w = max(1, int(round(window_s / dt)))
    w += (w + 1) % 2  # odd, so the window is centred on the frame
    df = pd.DataFrame(x)
    return df.rolling(w, center=True, min_periods=1).quantile(percentile / 100.0).to_numpy(
        dtype=np.float64, copy=True)


def _bleach_fit(x, t, stimulus_time_s):
    from .kinetics import fit_exponential

    sel = t < stimulus_time_s if stimulus_time_s is not None else np.ones(t.size, bool)
    out = np.full_like(x, np.nan)
    if sel.sum() < 4:
        raise CaimgError(f"f0_mode 'bleach_fit' needs at least 4 frames before "
                         f"'stimulus_time_s' = {stimulus_time_s!r}; got {int(sel.sum())}")
    ts = t[sel]
    for j in range(x.shape[1]):
        fit = fit_exponential(ts, x[sel, j], t0=t[0])
        if fit is None:
            out[:, j] = _nanmean0(x[sel, j:j + 1])[0]
        else:
            c, a, t0, tau = fit.c, fit.a, fit.t0, fit.tau
            out[:, j] = c + a * np.exp(-(t - t0) / tau)
    return out


def dff(f, f0) -> np.ndarray:
    """``dF/F0 = (F - F0) / F0``.

    Parameters
    ----------
    f : array_like, shape (T, R) or (T,)
    f0 : array_like, broadcastable to ``f``
        Baseline, e.g. from :func:`compute_f0`.

    Returns
    -------
    dff : ndarray of float64, broadcast shape
        NaN where ``F0 <= 0`` or either value is not finite.

    Examples
    --------
    >>> dff(np.array([1.0, 1.5, 2.0]), 1.0)
    array([0. , 0.5, 1. ])
    """
    a = np.asarray(f, dtype=np.float64)
    b = np.asarray(f0, dtype=np.float64)
    ok = np.isfinite(b) & (b > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (a - b) / np.where(ok, b, 1.0)
    return np.where(ok & np.isfinite(a), out, np.nan)


def insitu_calibration(f340, f380, time_s, *, rmin_window_s: tuple[float, float],
                       rmax_window_s: tuple[float, float], kd_nM: float = 224.0) -> dict:
    """Rmin, Rmax and beta from the EGTA (Ca2+-free) and ionomycin (saturating) segments
    of one recording.

    Parameters
    ----------
    f340, f380 : array_like, shape (T, R) or (T,)
        Background-subtracted intensities.
    time_s : array_like, shape (T,)
        Frame times in seconds.
    rmin_window_s : (float, float)
        ``(start, end)`` in seconds of the Ca2+-free segment (EGTA, Ca2+-free bath).
    rmax_window_s : (float, float)
        ``(start, end)`` of the saturating segment (ionomycin + high Ca2+).
    kd_nM : float
        Kd used for ``keff_nM = kd_nM * beta``.

    Returns
    -------
    profile : dict
        ``rmin``, ``rmax``, ``beta``, ``kd_nM``, ``keff_nM`` (floats: median over ROIs),
        and ``per_roi``: a dict of (R,) arrays ``rmin``, ``rmax``, ``beta``.

    Notes
    -----
    Per ROI: ``Rmin`` = mean ratio over the free window, ``Rmax`` = mean ratio over the
    saturating window, ``beta = mean F380(free) / mean F380(bound)``. Frames are selected
    with ``start <= t <= end``.
    """
    a, _ = _as_2d(f340, "f340")
    b, _ = _as_2d(f380, "f380")
    t = check_time_s(time_s, a.shape[0])
    sels = {}
    for name, win in (("rmin_window_s", rmin_window_s), ("rmax_window_s", rmax_window_s)):
        lo, hi = (float(v) for v in win)
        sel = (t >= lo) & (t <= hi)
        if not sel.any():
            raise CaimgError(f"'{name}' = {win!r}: no frame in that interval (frames from "
                             f"{t[0]} to {t[-1]} s); expected (start, end) in seconds")
        sels[name] = sel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ratio = fura2_ratio(a, b)
    free, bound = sels["rmin_window_s"], sels["rmax_window_s"]
    rmin = _nanmean0(ratio[free])
    rmax = _nanmean0(ratio[bound])
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = _nanmean0(b[free]) / _nanmean0(b[bound])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = {k: float(np.nanmedian(v)) for k, v in
               (("rmin", rmin), ("rmax", rmax), ("beta", beta))}
    return {**med, "kd_nM": float(kd_nM), "keff_nM": float(kd_nM) * med["beta"],
            "per_roi": {"rmin": rmin, "rmax": rmax, "beta": beta}}

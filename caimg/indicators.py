"""The signal step, by indicator: a registry of functions from background-subtracted
channel means to the trace columns and the signal kinetics are measured on.

Fura-2 (``fura2``) and single-wavelength dyes (``fluo4``) are registered here; a third
indicator is one function::

    @register_indicator("gcamp", channels=("f",), motion_channel="f", signal_column="dff")
    def gcamp_signal(channels, time_s, roi_ids, config):
        ...
        return SignalOutput(columns={"f": f, "dff": d}, signal=d, info={})

The registry also says which channels an indicator needs, the channel motion is estimated
on by default, and what a recipe must set (``check``), so a bad recipe fails when the
config is built, once for a batch.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = ["Indicator", "SignalOutput", "register_indicator", "get_indicator",
           "available_indicators"]


@dataclass(frozen=True)
class SignalOutput:
    """What a signal function returns.

    Attributes
    ----------
    columns : dict of str to ndarray, each (T, R)
        Trace columns in ``traces.csv`` order (after ``roi``, ``frame``, ``time_s``).
    signal : ndarray, (T, R)
        The trace kinetics are measured on (one of ``columns``).
    info : dict
        Provenance of the step (``run.json`` ``signal`` entry, after ``f0_mode``).
    low_signal : ndarray, (R,) bool, optional
        ROIs whose baseline is not clearly above the background noise; set by the
        pipeline's signal stage (:func:`caimg._stages.signal`), not by indicator functions.
    """

    columns: dict[str, np.ndarray]
    signal: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    low_signal: np.ndarray | None = None


@dataclass(frozen=True)
class Indicator:
    """One registered indicator.

    Attributes
    ----------
    name : str
        The recipe's ``indicator`` value.
    channels : tuple of str
        Channels a recording must have.
    motion_channel : str
        Channel motion is estimated on when ``motion.channel = "auto"``.
    signal_column : str
        The trace column kinetics are measured on.
    signal : callable
        ``signal(channels, time_s, roi_ids, config) -> SignalOutput`` with ``channels``
        the background-subtracted (T, R) means per channel, ``roi_ids`` (R,) and
        ``config`` the PipelineConfig.
    check : callable or None
        ``check(config)`` raises :class:`~caimg.errors.ConfigError` for settings this
        indicator cannot run with (e.g. missing calibration constants).
    """

    name: str
    channels: tuple[str, ...]
    motion_channel: str
    signal_column: str
    signal: Callable[..., SignalOutput]
    check: Callable[[Any], None] | None = None


_REGISTRY: dict[str, Indicator] = {}


def register_indicator(name: str, *, channels, motion_channel: str, signal_column: str,
                       check: Callable[[Any], None] | None = None):
    """Register the decorated function as the signal step of indicator ``name``.

    Parameters
    ----------
    name : str
        Indicator name used in recipes.
    channels : sequence of str
        Channels the recording must have.
    motion_channel : str
        Default channel for motion estimation (one of ``channels``).
    signal_column : str
        The column of the function's output kinetics are measured on.
    check : callable, optional
        Recipe check, called when a :class:`~caimg.config.PipelineConfig` is built.

    Returns
    -------
    callable
        The decorator; it returns the function unchanged.
    """
    channels = tuple(channels)
    if motion_channel not in channels:
        raise ConfigError(f"indicator '{name}': motion_channel '{motion_channel}' is not one of "
                          f"its channels {list(channels)}")

    def deco(func):
        _REGISTRY[name] = Indicator(name=name, channels=channels, motion_channel=motion_channel,
                                    signal_column=signal_column, signal=func, check=check)
        return func

    return deco


def available_indicators() -> list[str]:
    """List the registered indicators.

    Returns
    -------
    list of str
        Their names, sorted.
    """
    return sorted(_REGISTRY)


def get_indicator(name: str) -> Indicator:
    """Look up the registered indicator ``name``.

    Parameters
    ----------
    name : str

    Returns
    -------
    Indicator

    Raises
    ------
    ConfigError
        Unknown name (with the closest registered one).
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"'indicator' = {name!r}: expected one of {available_indicators()}"
                          f"{hint}") from None


# --------------------------------------------------------------------------------------
# the built-in indicators
# --------------------------------------------------------------------------------------

def _need(cal, keys, what):
    missing = [k for k in keys if getattr(cal, k) is None]
    if missing:
        raise ConfigError(f"signal.calibration is enabled but {', '.join(missing)} "
                          f"{'is' if len(missing) == 1 else 'are'} not set; {what} calibration "
                          f"needs {', '.join(keys)} (and kd_nM)")


def _check_fura2(config) -> None:
    cal = config.signal.calibration
    if cal.enabled:
        _need(cal, ("rmin", "rmax"), "Fura-2")
        if cal.keff_nM is None and cal.beta is None:
            raise ConfigError("signal.calibration needs beta (with kd_nM) or keff_nM "
                              "for Fura-2 calibration")


def _check_single(config) -> None:
    cal = config.signal.calibration
    if cal.enabled:
        _need(cal, ("fmin", "fmax"), "single-wavelength")


def f0_options(config) -> dict[str, Any]:
    """Keyword options of :func:`caimg.signals.compute_f0` from a recipe.

    Parameters
    ----------
    config : PipelineConfig

    Returns
    -------
    dict
    """
    sc = config.signal
    return dict(mode=sc.f0_mode, stimulus_time_s=config.kinetics.stimulus_time_s,
                baseline_window_s=config.kinetics.baseline_window_s,
                percentile=sc.f0_percentile, window_s=sc.f0_window_s)


def _calibration_info(cal, out) -> dict[str, Any]:
    return {"calibration": {k: getattr(cal, k) for k in
                            ("kd_nM", "rmin", "rmax", "beta", "keff_nM", "fmin", "fmax")},
            "calibration_out_of_range_samples": int(out.sum())}


@register_indicator("fura2", channels=("f340", "f380"), motion_channel="f380",
                    signal_column="ratio", check=_check_fura2)
def fura2_signal(channels: Mapping[str, np.ndarray], time_s, roi_ids,
                 config) -> SignalOutput:
    """Fura-2: ratio F340/F380, R/R0, dR/R0 and (calibrated) [Ca2+] by Grynkiewicz.

    Parameters
    ----------
    channels : mapping of str to ndarray, (T, R)
        Background-subtracted ``f340`` and ``f380`` means.
    time_s : ndarray, (T,)
        Frame times in seconds.
    roi_ids : ndarray, (R,)
        ROI id of each column.
    config : PipelineConfig

    Returns
    -------
    SignalOutput
        Columns ``f340, f380, ratio, r_r0, dr_r0`` (``ca_nM`` when calibrated); the
        signal is ``ratio``.
    """
    from .signals import (
        calibration_flags,
        compute_f0,
        fura2_ratio,
        fura2_ratio_flags,
        grynkiewicz,
        ratio_over_r0,
    )

    sc, cal = config.signal, config.signal.calibration
    f340, f380 = channels["f340"], channels["f380"]
    ratio = fura2_ratio(f340, f380, min_denominator=sc.min_denominator)
    bad = fura2_ratio_flags(f340, f380, min_denominator=sc.min_denominator)
    r_r0, dr_r0 = ratio_over_r0(ratio, compute_f0(ratio, time_s, **f0_options(config)))
    columns = {"f340": f340, "f380": f380, "ratio": ratio, "r_r0": r_r0, "dr_r0": dr_r0}
    info = {"nan_ratio_samples": int(bad.sum()),
            "rois_with_nan_ratio": [int(r) for r in roi_ids[bad.any(axis=0)]]}
    if cal.enabled:
        columns["ca_nM"] = grynkiewicz(ratio, rmin=cal.rmin, rmax=cal.rmax, kd_nM=cal.kd_nM,
                                       beta=cal.beta, keff_nM=cal.keff_nM)
        info.update(_calibration_info(cal, calibration_flags(ratio, lo=cal.rmin,
                                                             hi=cal.rmax)))
    return SignalOutput(columns=columns, signal=ratio, info=info)


@register_indicator("fluo4", channels=("f",), motion_channel="f", signal_column="dff",
                    check=_check_single)
def single_wavelength_signal(channels: Mapping[str, np.ndarray], time_s, roi_ids,
                             config) -> SignalOutput:
    """Single-wavelength dyes (Fluo-4, Cal-520, GCaMP): F0, dF/F0 and (calibrated)
    [Ca2+] = Kd (F - Fmin) / (Fmax - F).

    Parameters
    ----------
    channels : mapping of str to ndarray, (T, R)
        Background-subtracted ``f`` means.
    time_s : ndarray, (T,)
        Frame times in seconds.
    roi_ids : ndarray, (R,)
        ROI id of each column.
    config : PipelineConfig

    Returns
    -------
    SignalOutput
        Columns ``f, f0, dff`` (``ca_nM`` when calibrated); the signal is ``dff``.
    """
    from .signals import calibration_flags, compute_f0, dff, fluo_calcium

    cal = config.signal.calibration
    f = channels["f"]
    opts = f0_options(config)
    f0 = compute_f0(f, time_s, **opts)
    info: dict[str, Any] = {}
    if (config.signal.bleach_correction == "population" and opts["stimulus_time_s"] is not None
            and opts["mode"] in ("auto", "prestim")):
        from ._bleach import population_bleach

        curve, info["bleach_correction"] = population_bleach(
            f, f0, time_s, stimulus_time_s=opts["stimulus_time_s"],
            baseline_window_s=opts["baseline_window_s"])
        f0 = f0 * curve[:, None]
    d = dff(f, f0)
    columns = {"f": f, "f0": f0, "dff": d}
    if cal.enabled:
        columns["ca_nM"] = fluo_calcium(f, kd_nM=cal.kd_nM, fmin=cal.fmin, fmax=cal.fmax)
        info.update(_calibration_info(cal, calibration_flags(f, lo=cal.fmin, hi=cal.fmax)))
    return SignalOutput(columns=columns, signal=d, info=info)

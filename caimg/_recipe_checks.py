"""Rules that span sections of a recipe, checked when a :class:`~caimg.config.PipelineConfig`
is built, so a bad recipe fails once for a batch, before any recording is read.
"""

from __future__ import annotations

import difflib
import typing
from typing import TYPE_CHECKING

from .errors import ConfigError
from .indicators import available_indicators, get_indicator

if TYPE_CHECKING:  # the config module imports this one
    from .config import PipelineConfig, SegmentConfig

__all__ = ["check_recipe", "closest_hint", "check_range", "describe_type"]


def closest_hint(key, valid) -> str:
    """``"; did you mean 'x'?"`` for the closest valid name, or ``""``.

    Parameters
    ----------
    key : str
        The name given.
    valid : iterable of str
        The names allowed.

    Returns
    -------
    str

    Examples
    --------
    >>> closest_hint("moton", ["motion", "segment"])
    "; did you mean 'motion'?"
    """
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


def check_recipe(cfg: PipelineConfig) -> None:
    """Check the rules that span sections of a recipe.

    Parameters
    ----------
    cfg : PipelineConfig

    Raises
    ------
    ConfigError
        Naming the setting, what was found and what is expected.

    Notes
    -----
    ``pipeline = "auto"`` builds one recipe per indicator from the same overrides before a
    recording says which it is. Settings that fit the recipe's indicator, or another
    registered one, pass here (e.g. Fura-2 calibration constants in the Fluo-4 sibling);
    each recording's stages check them again, strictly, once its indicator is known.
    """
    get_indicator(cfg.indicator)  # registered
    bc = cfg.background
    if bc.method == "roi" and not bc.roi_file:
        raise ConfigError("background.method = 'roi' needs background.roi_file (an ImageJ "
                          "ROI or mask TIFF marking background)")
    _check_segment(cfg.segment)
    _check_fit_start(cfg.kinetics.decay_fit_start)
    for name, time_s in cfg.kinetics.treatments.items():
        if time_s < 0:
            raise ConfigError(f"'kinetics.treatments.{name}' = {time_s:g} s (--treatment "
                              f"{name}={time_s:g}): expected a time >= 0 s from the first "
                              "frame")
    others = [name for name in available_indicators() if name != cfg.indicator]
    for rule in (_indicator_check, _constant_background, _motion_channel):
        problem = rule(cfg, cfg.indicator)
        if problem is not None and all(rule(cfg, name) is not None for name in others):
            raise problem


def _check_segment(sc: SegmentConfig) -> None:
    """The segmentation method is registered and ``params`` fit its signature and types,
    so a bad ``--set segment...`` stops the batch once (exit 2), not each recording.
    """
    if sc.min_area_px > sc.max_area_px:
        raise ConfigError(f"'segment.min_area_px' = {sc.min_area_px} is larger than "
                          f"'segment.max_area_px' = {sc.max_area_px}; expected min <= max")
    if sc.method == "auto" and not sc.params:
        return  # the default: nothing to check, and no import of the segmentation package
    from .segmentation import OPTION_CHOICES, available_methods, method_options

    name = "gradient" if sc.method == "auto" else sc.method
    known = available_methods()
    if name not in known:
        raise ConfigError(f"'segment.method' = {sc.method!r}: unknown segmentation method; "
                          f"expected one of {known}{closest_hint(name, known)}")
    valid = method_options(name)
    if valid is None:
        return  # a method that takes any option (**params): it checks them itself
    valid = {**valid, "estimate_diameter": "auto"}  # segment()'s own option, any method
    for key, value in sc.params.items():
        if key not in valid:
            raise ConfigError(f"'segment.params.{key}': unknown parameter of segmentation "
                              f"method '{name}'{closest_hint(key, valid)}; expected one of "
                              f"{sorted(valid)}")
        default = valid[key]
        if isinstance(default, bool):
            ok, want = isinstance(value, bool), "true or false"
        elif isinstance(default, (int, float)):
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
                  and value == value and abs(value) != float("inf"))
            want = "a finite number"
        elif key in OPTION_CHOICES and isinstance(default, str):
            ok, want = value in OPTION_CHOICES[key], f"one of {list(OPTION_CHOICES[key])}"
        else:
            continue
        if not ok:
            raise ConfigError(f"'segment.params.{key}' = {value!r}: expected {want} (the "
                              f"default of method '{name}' is {default!r})")


def _check_fit_start(fs) -> None:
    ok = fs == "peak"
    if not ok:
        try:
            ok = 0 < float(fs) <= 1
        except (TypeError, ValueError):
            ok = False
    if not ok:
        raise ConfigError(f"'kinetics.decay_fit_start' = {fs!r}: expected 'peak' or a fraction "
                          "of the amplitude in (0, 1] (0.5 = 50 %)")


def _indicator_check(cfg: PipelineConfig, name: str) -> ConfigError | None:
    """The indicator's own rule (e.g. calibration constants), as an error or None."""
    ind = get_indicator(name)
    if ind.check is not None:
        try:
            ind.check(cfg)
        except ConfigError as exc:
            return exc
    return None


def _constant_background(cfg: PipelineConfig, name: str) -> ConfigError | None:
    bc = cfg.background
    missing = set(get_indicator(name).channels) - set(bc.constant)
    if bc.method == "constant" and missing:
        return ConfigError(f"background.method = 'constant' needs background.constant for "
                           f"channels {sorted(missing)}, e.g. {{ {sorted(missing)[0]} = 100 }}")
    return None


def _motion_channel(cfg: PipelineConfig, name: str) -> ConfigError | None:
    channels = get_indicator(name).channels
    channel = cfg.motion.channel
    if channel != "auto" and channel not in channels:
        return ConfigError(f"motion.channel = '{channel}' is not a channel of the {name} "
                           f"indicator (channels: {sorted(channels)}); expected one of them "
                           "or 'auto'")
    return None


def describe_type(tp) -> str:
    """``"int or str"`` for a union type annotation.

    Parameters
    ----------
    tp : type annotation

    Returns
    -------
    str
    """
    return " or ".join(getattr(a, "__name__", str(a)) for a in typing.get_args(tp))


def check_range(value, key: str, meta) -> None:
    """Raise a ConfigError naming ``key`` when ``value`` is outside the field's range.

    Parameters
    ----------
    value : int or float
    key : str
        Dotted recipe key, for the message.
    meta : mapping
        The dataclass field's metadata; its ``"range"`` is ``(lo, hi, lo_open, hi_open)``.
    """
    rng = meta.get("range")
    if not rng:
        return
    lo, hi, lo_open, hi_open = rng
    bad = ((lo is not None and (value < lo or (lo_open and value == lo)))
           or (hi is not None and (value > hi or (hi_open and value == hi))))
    if bad:
        lo_s = "" if lo is None else (f"> {lo}" if lo_open else f">= {lo}")
        hi_s = "" if hi is None else (f"< {hi}" if hi_open else f"<= {hi}")
        allowed = " and ".join(s for s in (lo_s, hi_s) if s)
        raise ConfigError(f"'{key}' = {value!r} is out of range: expected a value {allowed}")

"""Pipeline configuration: one frozen dataclass per step, nested in :class:`PipelineConfig`.

Recipes are TOML files (``pipelines/fura2.toml``, ``pipelines/fluo4.toml`` or any path).
Loading is strict: an unknown key is a :class:`~caimg.errors.ConfigError` that names the
closest valid key, a value of the wrong type or out of range is an error that names the
key and the allowed range. A config is never mutated; :func:`replace_config` returns a
new one with overrides applied.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._recipe_checks import check_range, check_recipe, closest_hint, describe_type
from .errors import ConfigError

__all__ = ["InputConfig", "MotionConfig", "SegmentConfig", "RoisConfig", "BackgroundConfig",
           "CalibrationConfig", "SignalConfig", "KineticsConfig", "OutputConfig",
           "PipelineConfig", "load_pipeline", "pipeline_path", "available_pipelines",
           "config_from_dict", "config_to_dict", "replace_config", "read_calibration_profile",
           "kinetics_options", "SHORTCUTS"]


def _range(lo=None, hi=None, *, lo_open=False, hi_open=False):
    """Field metadata: allowed numeric range (checked on load and on replace)."""
    return {"range": (lo, hi, lo_open, hi_open)}


@dataclass(frozen=True)
class InputConfig:
    """How to read a recording.

    layout: ``auto`` (hyperstack with C=2, single channel, or a ``*_340``/``*_380`` pair
    found by name), ``hyperstack``, ``alternating`` (plain TIFF, frames 340, 380, 340, ...),
    ``pair`` or ``single``.
    """

    layout: Literal["auto", "hyperstack", "alternating", "pair", "single"] = "auto"
    pair_suffixes: tuple[str, str] = ("_340", "_380")
    # order of the two channels in a hyperstack's C axis, or of frames in alternating files
    channel_order: tuple[str, str] = ("f340", "f380")
    frame_interval_s: float | None = field(default=None, metadata=_range(0, None, lo_open=True))
    pixel_size_um: float | None = field(default=None, metadata=_range(0, None, lo_open=True))
    timestamps_file: str | None = None  # per-frame times, see docs/formats.md for these
    sequence_pattern: str = r"^(?P<name>.*?)(?P<frame>\d+)$"
    channels: Mapping[str, int | str] | None = None
    z_plane: int | str | None = None


@dataclass(frozen=True)
class MotionConfig:
    """Rigid motion correction by FFT phase correlation."""

    enabled: bool = True
    # channel the shifts are estimated on ("auto": f380 for Fura-2, f for single channel)
    channel: str = "auto"
    upsample_factor: int = field(default=10, metadata=_range(1, 1000))
    max_shift_px: float = field(default=20.0, metadata=_range(0, None, lo_open=True))
    reference_frames: int = field(default=200, metadata=_range(1, None))
    reference_iterations: int = field(default=2, metadata=_range(0, 10))
    # estimate on a central crop of this many pixels per side (0 = full frame)
    crop_px: int = field(default=0, metadata=_range(0, None))


@dataclass(frozen=True)
class SegmentConfig:
    """ROI segmentation. ``method`` names a registered method; ``params`` are its options
    (checked against the method's signature).
    """

    method: str = "auto"
    cell_diameter_um: float | None = field(default=None, metadata=_range(0, None, lo_open=True))
    cell_diameter_px: float = field(default=12.0, metadata=_range(1, None))
    min_area_px: int = field(default=20, metadata=_range(1, None))
    max_area_px: int = field(default=5000, metadata=_range(1, None))
    params: Mapping[str, Any] = field(default_factory=dict)
    # a file of ROIs (ImageJ RoiSet.zip / .roi, or a label TIFF) used instead of segmentation
    rois_file: str | None = None
    # batch: a mask file beside a recording (<stem>_cp_masks.png ..., caimg.io.rois) is used
    masks_beside: bool = True  # for it instead of segmentation, unless rois_file is set


@dataclass(frozen=True)
class RoisConfig:
    """Which ROIs are accepted (``rois.csv`` ``accepted``; only accepted ROIs get kinetics).

    A ROI is rejected when it is smaller than ``accept_min_area_px`` ("small"), its moment
    ellipse is more elongated than ``max_aspect_ratio`` ("elongated"), or it is not
    brighter than its surroundings (``contrast <= min_contrast``) while its trace shows no
    activity either (``snr < min_snr_no_contrast``) ("no contrast").
    """

    # not segment.min_area_px (what segmentation keeps): the smallest area accepted as a cell
    accept_min_area_px: int = field(default=10, metadata=_range(0, None))
    max_aspect_ratio: float = field(default=4.0, metadata=_range(1, None))
    min_contrast: float = 0.0
    min_snr_no_contrast: float = field(default=5.0, metadata=_range(0, None))


@dataclass(frozen=True)
class BackgroundConfig:
    """Background per channel and frame; the methods and their settings: docs/background.md."""

    method: Literal["auto", "annulus", "roi", "constant", "none"] = "auto"
    dilation_px: int = field(default=4, metadata=_range(0, 200))  # auto: px from every ROI
    percentile: float = field(default=50.0, metadata=_range(0, 100))  # per frame; 50 = median
    annulus_gap_px: int = field(default=2, metadata=_range(0, 50))  # px from every ROI
    annulus_width_factor: float = field(default=0.5, metadata=_range(0, 10))  # x diameter
    annulus_min_pixels: int = field(default=20, metadata=_range(0, None))  # else global
    # ROI pixels this close to another ROI are left out of its trace (neighbour light), px
    neighbour_gap_px: float = field(default=2.0, metadata=_range(0, 50))
    constant: Mapping[str, float] = field(default_factory=dict)  # {f340 = 100, f380 = 120}
    roi_file: str | None = None  # roi: one ROI file (.roi / RoiSet.zip / mask TIFF)


@dataclass(frozen=True)
class CalibrationConfig:
    """[Ca2+] calibration. Fura-2: Grynkiewicz ``Kd*beta*(R-Rmin)/(Rmax-R)``;
    single wavelength: ``Kd*(F-Fmin)/(Fmax-F)``. Off unless ``enabled``.
    """

    enabled: bool = False
    kd_nM: float = field(default=224.0, metadata=_range(0, None, lo_open=True))
    rmin: float | None = field(default=None, metadata=_range(0, None))
    rmax: float | None = field(default=None, metadata=_range(0, None, lo_open=True))
    beta: float | None = field(default=None, metadata=_range(0, None, lo_open=True))
    # Keff = Kd * beta, in nM; used instead of kd_nM * beta when given
    keff_nM: float | None = field(default=None, metadata=_range(0, None, lo_open=True))
    fmin: float | None = None
    fmax: float | None = None
    # a calibration profile: a TOML file with any of the keys above (e.g. written by
    # `caimg calibrate`); keys set in the recipe itself win over the profile's
    profile: str | None = None


@dataclass(frozen=True)
class SignalConfig:
    """From background-subtracted channel means to the signal kinetics are measured on."""

    # F0 for dF/F0 (and R0 for dR/R0): prestim, percentile, rolling, bleach_fit; auto =
    # prestim when a stimulus time is known, else percentile
    f0_mode: Literal["auto", "prestim", "percentile", "rolling", "bleach_fit"] = "auto"
    f0_percentile: float = field(default=10.0, metadata=_range(0, 100))
    f0_window_s: float = field(default=30.0, metadata=_range(0, None, lo_open=True))
    # prestim F0 of a single-wavelength dye x the ROIs' bleaching curve (README F0)
    bleach_correction: Literal["population", "none"] = "population"
    # background-subtracted F380 at or below this fraction of its ROI median -> NaN ratio
    min_denominator: float = field(default=1e-6, metadata=_range(0, None))
    low_signal_k: float = field(default=1.5, metadata=_range(0, None))  # README low_signal
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)


@dataclass(frozen=True)
class KineticsConfig:
    """Response kinetics (see README, "Definitions")."""

    stimulus_time_s: float | None = field(default=None, metadata=_range(0, None))
    # baseline: the window just before the stimulus (or the onset), in seconds
    baseline_window_s: float = field(default=10.0, metadata=_range(0, None, lo_open=True))
    # responder: amplitude > responder_k * baseline noise SD
    responder_k: float = field(default=5.0, metadata=_range(0, None, lo_open=True))
    # or: the largest mean over this many seconds after the stimulus > responder_k SDs of
    # a difference of means above the baseline (0 = off, the default; docs/definitions.md)
    responder_window_s: float = field(default=0.0, metadata=_range(0, None))
    # events: "single" = the main response only; "all" = every event (oscillations)
    events: Literal["single", "all"] = "single"
    event_threshold_k: float = field(default=5.0, metadata=_range(0, None, lo_open=True))
    min_event_duration_s: float = field(default=0.0, metadata=_range(0, None))
    min_event_separation_s: float = field(default=0.0, metadata=_range(0, None))
    # decay fit start: "peak", or a fraction of the amplitude the signal has fallen to
    # (e.g. 0.5 = start where the rise above baseline has fallen to 50 %)
    decay_fit_start: str | float = 0.9
    # also fit this many baseline samples jointly with the decay (0 = decay only)
    decay_fit_baseline_samples: int = field(default=0, metadata=_range(0, None))
    # "auto": the decay's asymptote is tied to the baseline unless a free one fits better
    decay_fit_asymptote: Literal["free", "auto"] = "free"
    # smoothing (frames) used only to locate features, never for reported values
    smooth_frames: int = field(default=3, metadata=_range(1, None))
    drift_window_s: float = field(default=30.0, metadata=_range(0, None, lo_open=True))  # README
    # named treatment times in seconds, e.g. {ATP = 30.0, ionomycin = 120.0}; each gets peak,
    # AUC, maximum slope, latency and a responder call in treatments.csv. A treatments.csv
    # (recording, treatment, time_s) next to the recordings adds to these.
    treatments: Mapping[str, float] = field(default_factory=dict)
    # window after each treatment (s); default: until the next treatment or the end
    treatment_window_s: float | None = field(default=None, metadata=_range(0, None, lo_open=True))


@dataclass(frozen=True)
class OutputConfig:
    """``[output]``: which files besides the tables a result folder and a batch get."""

    overview_png: bool = True
    roiset_zip: bool = True
    nwb: bool = False  # <out>/<recording>.nwb beside each result (caimg[export]; docs/export.md)
    xlsx: bool = False  # <out>/caimg_batch.xlsx after the batch tables (caimg[export])
    nwb_metadata: str | None = None  # TOML with [nwbfile] and [subject] tables for the NWB


@dataclass(frozen=True)
class ExperimentConfig:
    """How ``caimg summarize`` maps recordings to the experiment design when no
    ``design.csv`` is given (docs/experiment.md).
    """

    # regular expression with named groups (condition, compound, concentration,
    # replicate, ...) matched on each recording's input path, e.g.
    # '(?P<compound>[A-Za-z]+)_(?P<concentration>[0-9.]+[munp]?M)_cs(?P<replicate>\d+)'
    name_pattern: str | None = None


@dataclass(frozen=True)
class PipelineConfig:
    """The whole recipe. ``indicator`` (a name in :mod:`caimg.indicators`) decides the
    signal path.

    Rules across sections are checked when the config is built (so a bad recipe fails
    once for a batch, before any recording is read): the indicator is registered, the
    calibration constants it needs are set when calibration is enabled, a ``roi``
    background names its file, a ``constant`` background has a value for every channel,
    and the motion channel is one of the indicator's channels.
    """

    name: str = "custom"
    indicator: str = "fluo4"
    input: InputConfig = field(default_factory=InputConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    rois: RoisConfig = field(default_factory=RoisConfig)
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    signal: SignalConfig = field(default_factory=SignalConfig)
    kinetics: KineticsConfig = field(default_factory=KineticsConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def __post_init__(self):
        check_recipe(self)


def kinetics_options(kc: KineticsConfig) -> dict[str, Any]:
    """The keyword options of :func:`caimg.kinetics.measure_kinetics` /
    :func:`caimg.kinetics.measure_trace` from a recipe's ``[kinetics]`` section: one
    mapping shared by the pipeline and the review model, so a re-measured ROI gets exactly
    the numbers a run gives.

    Parameters
    ----------
    kc : KineticsConfig

    Returns
    -------
    dict

    Examples
    --------
    >>> kinetics_options(KineticsConfig(responder_k=3.0))["responder_k"]
    3.0
    """
    # every field but the treatments (measure_treatments's, not measure_kinetics's)
    return {f.name: getattr(kc, f.name) for f in dataclasses.fields(kc)
            if f.name not in ("treatments", "treatment_window_s")}


# Short names accepted by caimg.run(**overrides) and the CLI flags, mapped to dotted keys.
SHORTCUTS = {
    "frame_interval_s": "input.frame_interval_s",
    "pixel_size_um": "input.pixel_size_um",
    "layout": "input.layout",
    "stimulus_time_s": "kinetics.stimulus_time_s",
    "rois_file": "segment.rois_file",
    "segment_method": "segment.method",
    "treatments": "kinetics.treatments",
    "calibration_profile": "signal.calibration.profile",
}

_PIPELINE_DIRS = (Path(__file__).resolve().parent / "pipelines",
                  Path(__file__).resolve().parent.parent / "pipelines")


def available_pipelines() -> list[str]:
    """Names of the recipes shipped with caimg.

    Returns
    -------
    list of str
    """
    names = set()
    for d in _PIPELINE_DIRS:
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.toml"))
    return sorted(names)


def pipeline_path(name_or_path: str | Path) -> Path:
    """Resolve a recipe name (``"fura2"``) or a path to a TOML file.

    Parameters
    ----------
    name_or_path : str or Path

    Returns
    -------
    Path
    """
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise ConfigError(f"recipe file {p} does not exist; expected a TOML file or one of "
                              f"{available_pipelines()}")
        return p
    for d in _PIPELINE_DIRS:
        cand = d / f"{name_or_path}.toml"
        if cand.is_file():
            return cand
    close = difflib.get_close_matches(str(name_or_path), available_pipelines(), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ConfigError(f"unknown pipeline '{name_or_path}': expected one of "
                      f"{available_pipelines()} or a path to a .toml recipe{hint}")


def load_pipeline(name_or_path: str | Path | PipelineConfig = "fluo4", *,
                  overrides: Mapping[str, Any] | None = None) -> PipelineConfig:
    """Load a recipe by name or path and apply overrides.

    Parameters
    ----------
    name_or_path : str, Path or PipelineConfig
        ``"fura2"``, ``"fluo4"``, a path to a TOML recipe, or a config to start from.
    overrides : mapping, optional
        Dotted keys (``{"kinetics.responder_k": 3}``), shortcut names from
        :data:`SHORTCUTS` (``{"stimulus_time_s": 10}``) or nested dicts
        (``{"segment": {"method": "watershed"}}``). ``None`` values are ignored.

    Returns
    -------
    PipelineConfig
    """
    if isinstance(name_or_path, PipelineConfig):
        cfg = name_or_path
    else:
        path = pipeline_path(name_or_path)
        data = _read_toml(path, "recipe")
        data.setdefault("name", path.stem)
        cal = data.get("signal", {}).get("calibration", {}) if isinstance(
            data.get("signal"), Mapping) else {}
        if isinstance(cal, Mapping) and cal.get("profile"):
            data["signal"]["calibration"] = {**read_calibration_profile(cal["profile"],
                                                                        base=path.parent),
                                             **cal}
        cfg = config_from_dict(data, where=str(path))
    if overrides:
        cfg = replace_config(cfg, overrides)
    return cfg


def _read_toml(path: Path, what: str) -> dict:
    """A TOML file as a dict; ConfigError naming the file for bad TOML or bad encoding."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} {path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                          f"at position {exc.start}); expected a TOML file saved as UTF-8 "
                          "(re-save it as UTF-8 in your editor)") from None


def _check_value(value, tp, key, meta, where=None):
    """Coerce ``value`` to the annotated type ``tp`` or raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _check_value(value, a, key, meta, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[-1] if len(errors) == 1 else
                          f"'{key}' = {value!r}: expected one of {describe_type(tp)}")
    if origin is Literal:
        if value not in args:
            close = closest_hint(str(value), [str(a) for a in args])
            raise ConfigError(f"'{key}' = {value!r}: expected one of {list(args)}{close}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"'{key}' = {value!r}: expected true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ConfigError(f"'{key}' = {value!r}: expected a whole number")
        check_range(value, key, meta)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"'{key}' = {value!r}: expected a number")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"'{key}' = {value!r}: expected a finite number")
        check_range(value, key, meta)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"'{key}' = {value!r}: expected a string")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"'{key}' = {value!r}: expected a list of {len(args)} values")
        return tuple(_check_value(v, a, f"{key}[{i}]", {})
                     for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin in (Mapping, dict) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"'{key}' = {value!r}: expected a table")
        vt = args[1] if len(args) == 2 else Any
        if vt is Any:
            return dict(value)
        return {k: _check_value(v, vt, f"{key}.{k}", {}) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"'{key}' = {value!r}: expected a table of {tp.__name__} settings")
        return config_from_dict(value, cls=tp, prefix=f"{key}.", where=where)
    return value


def _hints(cls):
    return typing.get_type_hints(cls)


def config_from_dict(data: Mapping[str, Any], *, cls=PipelineConfig, prefix: str = "",
                     where: str | None = None):
    """Build a config dataclass from a (TOML) dict, strictly.

    Parameters
    ----------
    data : mapping
    cls : type
        The config dataclass to build (a whole recipe by default, or one section).
    prefix, where : str
        The location of ``data`` in the recipe and its file, for messages.

    Returns
    -------
    cls instance

    Raises
    ------
    ConfigError
        For an unknown key (with the closest valid key), a wrong type or a value out of range.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"'{prefix.rstrip('.') or 'recipe'}': expected a table, got {data!r}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            loc = f" in {where}" if where else ""
            raise ConfigError(f"unknown key '{prefix}{key}'{loc}{closest_hint(key, fields)} "
                              f"(valid keys: {', '.join(fields)})")
        kwargs[key] = _check_value(value, hints[key], prefix + key, fields[key].metadata, where)
    try:
        cfg = cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - guarded by the checks above
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc
    return cfg


def config_to_dict(cfg) -> dict:
    """Plain dict (JSON/TOML-serialisable) of a config dataclass.

    Parameters
    ----------
    cfg : dataclass instance

    Returns
    -------
    dict
    """
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            v = config_to_dict(v)
        elif isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, Mapping):
            v = dict(v)
        out[f.name] = v
    return out


def _flatten(overrides: Mapping[str, Any], prefix="") -> dict[str, Any]:
    flat = {}
    for k, v in overrides.items():
        k = SHORTCUTS.get(k, k) if not prefix else k
        if isinstance(v, Mapping) and not k.endswith(("params", "constant", "treatments",
                                                      "channels")):
            flat.update(_flatten(v, prefix=f"{prefix}{k}."))
        else:
            flat[prefix + k] = v
    return flat


def read_calibration_profile(path: str | Path, *, base: Path | None = None) -> dict:
    """Read a calibration profile TOML (keys of ``[signal.calibration]``), strictly.

    A relative path is looked up from the working folder, then next to the recipe (``base``).

    Parameters
    ----------
    path : str or Path
    base : Path, optional

    Returns
    -------
    dict
    """
    if not isinstance(path, (str, Path)):
        raise ConfigError(f"'signal.calibration.profile' = {path!r}: expected the path of a "
                          "calibration profile TOML file as a string, e.g. profile = "
                          '"calibration.toml"')
    p = Path(path)
    if not p.is_absolute() and not p.is_file() and base is not None and (base / p).is_file():
        p = base / p
    if not p.is_file():
        raise ConfigError(f"calibration profile {path} does not exist; expected a TOML file "
                          "with rmin, rmax, kd_nM, beta (or keff_nM), e.g. from `caimg calibrate`")
    data = _read_toml(p, "calibration profile")
    data = data.get("calibration", data)
    data.pop("profile", None)
    config_from_dict(data, cls=CalibrationConfig, prefix="signal.calibration.", where=str(p))
    return dict(data)


def replace_config(cfg: PipelineConfig, overrides: Mapping[str, Any]) -> PipelineConfig:
    """Return a new config with dotted-key overrides applied (``None`` values skipped).

    Parameters
    ----------
    cfg : PipelineConfig
    overrides : mapping
        As in :func:`load_pipeline`.

    Returns
    -------
    PipelineConfig
    """
    data = config_to_dict(cfg)
    flat = _flatten(overrides)
    profile = flat.get("signal.calibration.profile")
    if profile:
        flat = {**{f"signal.calibration.{k}": v
                   for k, v in read_calibration_profile(profile).items()}, **flat}
    for dotted, value in flat.items():
        if value is None:
            continue
        parts = dotted.split(".")
        node, cls = data, PipelineConfig
        for i, part in enumerate(parts):
            fields = {f.name for f in dataclasses.fields(cls)}
            if part not in fields:
                valid = sorted(set(fields) | (set(SHORTCUTS) if i == 0 else set()))
                raise ConfigError(f"unknown setting '{dotted}'{closest_hint(part, valid)}")
            if i == len(parts) - 1:
                node[part] = value
            else:
                cls = _hints(cls)[part]
                if not dataclasses.is_dataclass(cls):
                    raise ConfigError(f"unknown setting '{dotted}': '{part}' is not a section")
                node = node[part]
    return config_from_dict(data)

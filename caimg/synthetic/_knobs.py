"""Knobs of the synthetic generator.

The presets, their indicator defaults, and the checks every knob passes before anything
is drawn.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from ..errors import ConfigError
from ._physics import rise_time_factor

__all__ = ["PRESETS", "FAMILIES", "preset_knobs", "resolve_knobs"]

_COMMON = {
    "pixel_size_um": 1.0,
    "diameter_min_px": 10.0,
    "diameter_max_px": 16.0,
    "aspect_max": 1.5,
    "irregularity": 0.06,
    "touching_fraction": 0.2,
    "min_gap_px": 3,
    "margin": 0,  # 0 = automatic: ceil(drift_px) + 2
    "brightness_range": 3.0,
    "dimmest_snr": 8.0,
    "cell_dome": 0.3,
    "nucleus_fraction": 0.3,
    "nucleus_contrast": 0.15,
    "texture": 0.05,
    "edge_blur_px": 0.7,
    "halo_strength": 0.05,
    "halo_sigma_px": 8.0,
    "background": 40.0,
    "background_gradient": 0.2,
    "vignetting": 0.1,
    "background_340_factor": 0.7,
    "bleach_per_frame": 0.0005,
    "drift_px": 1.0,
    "shot_noise": True,
    "gain": 1.0,
    "read_noise": 2.0,
    "offset": 100.0,
    "responder_fraction": 0.7,
    "latency_min_s": 1.0,
    "latency_max_s": 5.0,
    "rise_min_s": 1.0,
    "rise_max_s": 4.0,
    "rise_shape": "linear",
    "tau_min_s": 3.0,
    "tau_max_s": 10.0,
    "amplitude_min": None,  # None = indicator default
    "amplitude_max": None,
    "kd_nM": None,
    "rmin": 0.3,
    "rmax": 6.0,
    "beta": 6.0,
    "fmax_fmin": 100.0,
    "ca_rest_min_nM": 50.0,
    "ca_rest_max_nM": 100.0,
    # --- appearance and behaviour families (issue 13); the defaults change nothing and
    # draw nothing from the generator, so every preset renders bit for bit as before
    "aspect_min": 1.0,            # aspect ratio drawn from aspect_min .. aspect_max
    "granule_contrast": 0.0,      # granular cytoplasm: SD of coarse multiplicative granules
    "granule_size_px": 1.2,       # granule blob sigma, px
    "perinuclear_boost": 0.0,     # bright perinuclear region: +boost at the centre of flat cells
    "bright_fraction": 0.0,       # fraction of cells brightness_factor x brighter
    "bright_factor": 30.0,
    "saturation_adu": 65535.0,    # camera full well, ADU (frames are clipped here)
    "neurites_per_cell": 0.0,     # mean number of neurites per cell (not in the truth masks)
    "neurite_length": 2.0,        # in cell diameters
    "neurite_width_px": 1.5,
    "neurite_brightness": 0.6,    # relative to the soma's mean
    "wave_delay_s": 0.0,          # the response crosses each responding cell in this time
    "wave_bands": 6,
    "silent_fraction": 0.0,       # fraction of cells (all responders) visible only while active
    "silent_brightness": 0.15,    # their resting fluorescence, x the dimmest cell's
    "shading": 0.0,               # excitation shading of the cells, like vignetting
    "haze_cells": 0,              # out-of-focus cells (static blurred blobs, not in the truth)
    "haze_sigma_px": 6.0,
    "haze_brightness": 1.0,       # haze cell peak, x the dimmest cell's resting F
    # --- no stimulus (issue 13, honest signals)
    "spontaneous": False,         # responses at random times, not after the stimulus
    "loading_drift": 0.0,         # dye loading rises linearly by this fraction over the run
}

#: Named families of cell appearance and behaviour (issue 13): knob overrides applied on
#: top of a preset by ``make_recording(..., family=NAME)``. ``"n_cells_factor"`` scales
#: the preset's cell count (big cells need room).
FAMILIES = MappingProxyType({
    "plain": MappingProxyType({}),
    "dark_nucleus": MappingProxyType({"nucleus_fraction": 1.0, "nucleus_contrast": 0.6}),
    "bright_nucleus": MappingProxyType({"nucleus_fraction": 1.0, "nucleus_contrast": -1.0}),
    "granular": MappingProxyType({"granule_contrast": 0.45, "texture": 0.1}),
    "flat_perinuclear": MappingProxyType({
        "diameter_min_px": 20.0, "diameter_max_px": 32.0, "cell_dome": 0.0,
        "irregularity": 0.15, "perinuclear_boost": 1.5, "nucleus_fraction": 1.0,
        "nucleus_contrast": 0.5, "n_cells_factor": 0.35}),
    "saturated": MappingProxyType({"bright_fraction": 0.15, "bright_factor": 40.0,
                                   "saturation_adu": 4095.0}),
    "spindle_neurites": MappingProxyType({"aspect_min": 1.8, "aspect_max": 3.5,
                                          "neurites_per_cell": 1.5, "n_cells_factor": 0.8}),
    "wave": MappingProxyType({"wave_delay_s": 3.0}),
    "silent": MappingProxyType({"silent_fraction": 0.3, "responder_fraction": 0.8}),
    "vignetting": MappingProxyType({"vignetting": 2.0 / 3.0, "shading": 2.0 / 3.0}),
    "haze": MappingProxyType({"halo_strength": 0.4, "halo_sigma_px": 12.0, "haze_cells": 15,
                              "haze_sigma_px": 6.0}),
    "sizes": MappingProxyType({"diameter_min_px": 6.0, "diameter_max_px": 40.0,
                               "n_cells_factor": 0.45}),
})

_PRESET_DIFFS = {
    "easy": {
        "shape": (128, 128), "n_frames": 160, "n_cells": 16, "frame_interval_s": 0.5,
        "diameter_min_px": 12.0, "diameter_max_px": 16.0, "touching_fraction": 0.0,
        "min_gap_px": 6, "brightness_range": 1.5, "dimmest_snr": 20.0, "nucleus_fraction": 0.0,
        "edge_blur_px": 0.5, "halo_strength": 0.0, "background": 20.0,
        "background_gradient": 0.0, "vignetting": 0.0, "bleach_per_frame": 0.0,
        "drift_px": 0.0, "read_noise": 1.0, "irregularity": 0.03, "texture": 0.02,
    },
    "moderate": {
        "shape": (128, 128), "n_frames": 160, "n_cells": 25, "frame_interval_s": 0.5,
    },
    "hard": {
        "shape": (256, 256), "n_frames": 160, "n_cells": 90, "frame_interval_s": 0.5,
        "diameter_min_px": 8.0, "diameter_max_px": 14.0, "aspect_max": 1.7,
        "irregularity": 0.1, "touching_fraction": 0.5, "min_gap_px": 2,
        "brightness_range": 5.0, "dimmest_snr": 3.0, "nucleus_fraction": 0.5,
        "nucleus_contrast": 0.3,
        "edge_blur_px": 1.0, "halo_strength": 0.15, "halo_sigma_px": 6.0, "background": 60.0,
        "background_gradient": 0.5, "vignetting": 0.2, "bleach_per_frame": 0.001,
        "drift_px": 3.0, "texture": 0.08,
    },
}

_INDICATOR_DEFAULTS = {
    "fura2": {"amplitude_min": 0.4, "amplitude_max": 1.5, "kd_nM": 224.0},
    "fluo4": {"amplitude_min": 0.5, "amplitude_max": 3.0, "kd_nM": 345.0},
}

_STRUCTURAL = ("shape", "n_frames", "n_cells", "frame_interval_s")

#: Preset name -> knob defaults (read-only). Indicator-dependent knobs are ``None`` here
#: and filled in by :func:`preset_knobs`.
PRESETS = MappingProxyType({name: MappingProxyType({**_COMMON, **diff})
                            for name, diff in _PRESET_DIFFS.items()})

_FRACTIONS = ("touching_fraction", "responder_fraction", "cell_dome", "nucleus_fraction",
              "vignetting", "irregularity", "shading", "bright_fraction", "silent_fraction")
#: knobs that may be negative, with their lowest value
_SIGNED = {"nucleus_contrast": -3.0}


def preset_knobs(*, preset="moderate", indicator="fluo4"):
    """All knobs of a preset for one indicator, as a new dict.

    Parameters
    ----------
    preset : {"easy", "moderate", "hard"}
        The preset (see :data:`PRESETS`).
    indicator : {"fura2", "fluo4"}
        Fills in the indicator-dependent knobs (amplitudes, Kd).

    Returns
    -------
    dict
        Knob name -> value, including ``shape``, ``n_frames``, ``n_cells`` and
        ``frame_interval_s``.

    Examples
    --------
    >>> knobs = preset_knobs(preset="hard", indicator="fura2")
    >>> knobs["n_cells"], knobs["kd_nM"]
    (90, 224.0)
    """
    if preset not in PRESETS:
        raise ConfigError(f"preset = {preset!r}: expected one of {sorted(PRESETS)}")
    if indicator not in _INDICATOR_DEFAULTS:
        raise ConfigError(f"indicator = {indicator!r}: expected 'fura2' or 'fluo4'")
    knobs = dict(PRESETS[preset])
    for k, v in _INDICATOR_DEFAULTS[indicator].items():
        if knobs.get(k) is None:
            knobs[k] = v
    return knobs


def _check_knobs(k):
    def bad(name, expected):
        raise ConfigError(f"{name} = {k[name]!r}: expected {expected}")

    for name, v in k.items():
        if name in ("shape", "rise_shape"):
            continue
        if name in ("shot_noise", "spontaneous"):
            if not isinstance(v, (bool, np.bool_)):
                bad(name, "True or False")
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer,
                                                                 np.floating)):
            bad(name, "a number")
        if not np.isfinite(v) or v < _SIGNED.get(name, 0.0):
            bad(name, f"a finite number >= {_SIGNED.get(name, 0.0):g}")
    for name in (*_FRACTIONS, "nucleus_contrast"):
        if k[name] > 1:
            bad(name, "a value between 0 and 1")
    if k["aspect_min"] < 1 or k["aspect_min"] > max(k["aspect_max"], 1.0):
        bad("aspect_min", "a number between 1 and aspect_max")
    if int(k["wave_bands"]) != k["wave_bands"] or k["wave_bands"] < 1:
        bad("wave_bands", "a whole number >= 1")
    if int(k["haze_cells"]) != k["haze_cells"]:
        bad("haze_cells", "a whole number >= 0")
    if k["saturation_adu"] < 1:
        bad("saturation_adu", "a camera ceiling >= 1 ADU")
    shape = k["shape"]
    if (not isinstance(shape, (tuple, list)) or len(shape) != 2
            or not all(isinstance(s, (int, np.integer)) and s >= 16 for s in shape)):
        bad("shape", "two whole numbers >= 16 (rows, columns)")
    if int(k["n_frames"]) != k["n_frames"] or k["n_frames"] < 4:
        bad("n_frames", "a whole number >= 4")
    if int(k["n_cells"]) != k["n_cells"]:
        bad("n_cells", "a whole number >= 0")
    for name in ("frame_interval_s", "gain", "kd_nM", "beta", "pixel_size_um"):
        if k[name] <= 0:
            bad(name, "a number > 0")
    if k["brightness_range"] < 1:
        bad("brightness_range", "a number >= 1")
    if k["fmax_fmin"] <= 1:
        bad("fmax_fmin", "a number > 1")
    for lo, hi in (("diameter_min_px", "diameter_max_px"), ("latency_min_s", "latency_max_s"),
                   ("rise_min_s", "rise_max_s"), ("tau_min_s", "tau_max_s"),
                   ("amplitude_min", "amplitude_max"), ("ca_rest_min_nM", "ca_rest_max_nM"),
                   ("rmin", "rmax")):
        if k[lo] > k[hi]:
            raise ConfigError(f"{lo} = {k[lo]!r} is larger than {hi} = {k[hi]!r}: expected "
                              f"{lo} <= {hi}")
    if k["diameter_min_px"] < 3:
        bad("diameter_min_px", "a diameter >= 3 px")
    if k["tau_min_s"] <= 0:
        bad("tau_min_s", "a time constant > 0 s")
    if k["dimmest_snr"] <= 0:
        bad("dimmest_snr", "a number > 0")
    rise_time_factor(rise_shape=k["rise_shape"])


def resolve_knobs(indicator, preset, shape, n_frames, n_cells, frame_interval_s, overrides):
    """Every knob of one recording: the preset's, then the overrides, checked.

    Parameters
    ----------
    indicator : {"fura2", "fluo4"}
        Fills in the indicator-dependent knobs (amplitudes, Kd).
    preset : {"easy", "moderate", "hard"}
        Knob defaults.
    shape, n_frames, n_cells, frame_interval_s : optional
        ``make_recording``'s keyword arguments; None keeps the preset's value.
    overrides : dict
        Other knobs by name.

    Returns
    -------
    dict
        Knob name -> value, with ``shape`` a tuple of two ints, ``n_frames`` and
        ``n_cells`` ints and ``frame_interval_s`` a float.

    Raises
    ------
    ConfigError
        Unknown knob (with the closest valid name), or a value out of range.
    """
    knobs = preset_knobs(preset=preset, indicator=indicator)
    unknown = [n for n in overrides if n not in knobs or n in _STRUCTURAL]
    if unknown:
        import difflib
        valid = sorted(n for n in knobs if n not in _STRUCTURAL)
        hints = []
        for n in unknown:
            close = difflib.get_close_matches(n, valid, n=1)
            hints.append(f"'{n}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise ConfigError(f"unknown synthetic knob(s) {', '.join(hints)}; valid knobs: "
                          f"{', '.join(valid)} (shape, n_frames, n_cells, frame_interval_s "
                          f"and stimulus_time_s are keyword arguments)")
    knobs.update(overrides)
    for name, val in (("shape", shape), ("n_frames", n_frames), ("n_cells", n_cells),
                      ("frame_interval_s", frame_interval_s)):
        if val is not None:
            knobs[name] = val
    if isinstance(knobs["shape"], list):
        knobs["shape"] = tuple(knobs["shape"])
    _check_knobs(knobs)
    knobs["shape"] = (int(knobs["shape"][0]), int(knobs["shape"][1]))
    knobs["n_frames"] = int(knobs["n_frames"])
    knobs["n_cells"] = int(knobs["n_cells"])
    knobs["frame_interval_s"] = float(knobs["frame_interval_s"])
    return knobs

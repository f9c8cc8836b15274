"""Synthetic calcium-imaging recordings with exact ground truth.

:func:`make_recording` renders a Fura-2 (340/380 nm) or Fluo-4 recording of cultured
cells and returns it together with the true label image, the true noiseless signal of
every cell, its [Ca2+], the true response kinetics and the true drift. Everything is
drawn from one ``rng``; the same seed gives identical output.

Model
-----
**Cells.** Ellipses of random size (``diameter_min_px`` .. ``diameter_max_px``), aspect
ratio and orientation, made blobby by radial harmonics 2-4 (``irregularity``). A fraction
``touching_fraction`` of the cells is placed in clusters of 2-4 cells whose masks share a
border (overlaps are split between the two cells by the smaller normalised radius); all
other cells keep at least ``min_gap_px`` background pixels from every other cell and
``margin`` from the image border (drift never moves a true mask out of the field). The
label image is made from the same masks. Inside a mask the fluorescence follows a static
profile ``p`` normalised so that, after the edge blur, its mean over the mask is 1 (for
an isolated cell the mask mean of the background-free image is the cell's F): a dome ``1 - cell_dome * rho**2``
(thicker centre), a dimmer nucleus in a fraction ``nucleus_fraction`` of cells
(``nucleus_contrast``) and a fine multiplicative texture (``texture``). Dye loading per
cell is log-uniform over ``brightness_range`` (the dimmest cell exactly 1x, the brightest
exactly ``brightness_range`` x, in resting fluorescence of the segmentation channel, f380
or f). The dimmest cell's resting per-pixel, per-frame signal-to-noise ratio
``F / sqrt(F + B + (read_noise / gain)**2)`` (photoelectrons, B = background at the field
centre) equals ``dimmest_snr``.

**Response (signal domain, exact).** ``S(t) = S0`` before the onset; a rise over
``rise_duration_s`` (linear ramp, or a raised cosine with ``rise_shape = "cosine"``) to
``S0 + A`` at ``t_peak``; then ``S0 + A * exp(-(t - t_peak) / tau)``. ``t_peak`` is put on
a frame time, so the noiseless sampled maximum is the true peak. Onset latency after the
stimulus, ``A``, the rise duration and ``tau`` are uniform in their ranges per responder;
``round(responder_fraction * N)`` cells respond, the others are flat at ``S0``. A
response that does not fit in the recording is cut by its end (the truth still gives the
model values). Truth:
``baseline = S0``, ``peak = S0 + A``, ``amplitude = A``, ``time_to_peak_s = t_peak -
stimulus``, ``rise_time_s`` (10-90 %) ``= 0.8 * rise_duration`` (linear) or
``(acos(-0.8) - acos(0.8)) / pi * rise_duration`` (cosine), ``decay_tau_s = tau``,
``half_decay_s = tau * ln 2``, ``fwhm_s = rise_duration / 2 + tau * ln 2``.

**Fura-2.** ``S`` is the ratio R = F340/F380. The resting [Ca2+] per cell is uniform in
``ca_rest_min_nM`` .. ``ca_rest_max_nM`` and sets S0 by the Grynkiewicz equation. [Ca2+]
follows from R by ``Ca = Kd * beta * (R - Rmin) / (Rmax - R)``, the bound fraction is
``fb = Ca / (Ca + Kd)`` and each wavelength is
``F_lambda = loading * (s_free * (1 - fb) + s_bound * fb)`` with ``s380f = 1``,
``s380b = 1 / beta``, ``s340f = Rmin``, ``s340b = Rmax / beta``; hence Rmin = s340f/s380f,
Rmax = s340b/s380b, beta = s380f/s380b and F340/F380 equals S exactly: F340 rises and
F380 falls with calcium. Both wavelengths are taken at the same instant.

**Fluo-4.** ``S`` is dF/F0 and the cell fluorescence is ``F = F0 * (1 + S)`` with F0 the
resting fluorescence. [Ca2+] follows from ``F = Fmin + (Fmax - Fmin) * fb`` with
``Fmax / Fmin = fmax_fmin``: ``Ca = Kd * (F - Fmin) / (Fmax - F)``.

Amplitudes are capped at 80 % of the headroom to saturation (Rmax, or Fmax) so [Ca2+]
stays finite; the truth reports the capped value.

**Image.** Per channel and frame: cells ``F_c(t) * p`` (times the bleaching factor
``exp(-bleach_per_frame * t)``, the same for both Fura-2 wavelengths so the ratio is
unaffected) are blurred by a Gaussian of ``edge_blur_px``, plus a scattered-light halo
(``halo_strength`` x the cells blurred by ``halo_sigma_px``), shifted rigidly by the drift
(Fourier shift, subpixel; the drift is a smoothed random walk plus a slow sinusoid with
maximum displacement ``drift_px`` and zero at frame 0), then a static background is added
(``background`` photoelectrons at the field centre, linear gradient of relative size
``background_gradient`` across the field in a random direction, radial vignetting
``vignetting``; the 340 nm background is ``background_340_factor`` x the 380 nm one).
The background is not drifted (it belongs to the optics). Camera: Poisson shot noise on
photoelectrons (``shot_noise``), ``gain`` ADU per electron, Gaussian read noise
``read_noise`` (ADU), ``offset`` (ADU), rounded and clipped to uint16.

Because cells are rendered in photoelectrons and the blur is linear, the mean over a
true mask of the background-free, noiseless image of an isolated cell is proportional to
``F_c(t)``; its F340/F380 is exactly the true ratio.

Not modelled: the 340/380 time offset within a pair, ratio changes from Fura-2
photoproducts, z-focus changes, cells moving independently, excitation-field shading of
the cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import pandas as pd
import scipy.fft as sfft
from scipy import ndimage as ndi

from .errors import ConfigError
from .recording import Recording

__all__ = [
    "SyntheticRecording",
    "make_recording",
    "preset_knobs",
    "PRESETS",
    "response_curve",
    "rise_time_factor",
    "fura2_ratio_to_calcium",
    "fura2_calcium_to_ratio",
    "fura2_fluorescence",
    "fluo4_calcium",
    "touching_cells",
    "KINETICS_COLUMNS",
]

KINETICS_COLUMNS = ("roi", "responder", "onset_s", "baseline", "peak", "amplitude",
                    "time_to_peak_s", "rise_time_s", "decay_tau_s", "half_decay_s")

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
}

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
              "nucleus_contrast", "vignetting", "irregularity")


@dataclass(frozen=True)
class SyntheticRecording:
    """A synthetic recording and its ground truth.

    Attributes
    ----------
    recording : Recording
        Channels ``{"f340", "f380"}`` (Fura-2) or ``{"f"}`` (Fluo-4), uint16 (T, Y, X).
    labels : ndarray of int32, shape (Y, X)
        True cell masks 1..N, 0 = background, in the geometry of frame 0.
    signal : ndarray of float64, shape (T, N)
        True noiseless signal: Fura-2 ratio F340/F380 of the background-free cell
        fluorescence; Fluo-4 dF/F0 with F0 the resting fluorescence (bleaching excluded).
        Column ``i`` belongs to label ``i + 1``. Non-responders are exactly constant,
        so a correlation with them is undefined: compare traces on responders.
    calcium_nM : ndarray of float64, shape (T, N)
        True [Ca2+] in nM.
    kinetics : pandas.DataFrame
        One row per cell (:data:`KINETICS_COLUMNS` plus ``peak_time_s``,
        ``rise_duration_s``, ``fwhm_s``, ``touching``, ``area_px``, ``brightness``), exact,
        in the signal domain. Times in s; ``onset_s`` and ``peak_time_s`` from the first
        frame, ``time_to_peak_s`` from the stimulus. Non-responders: ``amplitude = 0``,
        ``peak = baseline``, times NaN.
    shifts : ndarray of float64, shape (T, 2)
        ``(d_row, d_col)`` per frame: ``scipy.ndimage.shift(frame_t, shifts[t])`` aligns
        frame ``t`` with frame 0. ``shifts[0] == (0, 0)``.
    stimulus_time_s : float
        Stimulus time in s from the first frame.
    params : dict
        Every parameter used (indicator, preset, seed, shape, knobs, Kd, Rmin, Rmax, beta,
        ...) plus a few measured figures (``n_touching``, ``touching_fraction_actual``).
    """

    recording: Recording
    labels: np.ndarray
    signal: np.ndarray
    calcium_nM: np.ndarray
    kinetics: pd.DataFrame
    shifts: np.ndarray
    stimulus_time_s: float
    params: dict


# --------------------------------------------------------------------------- physics


def fura2_ratio_to_calcium(ratio, *, kd_nM=224.0, rmin=0.3, rmax=6.0, beta=6.0):
    """[Ca2+] from a Fura-2 ratio by the Grynkiewicz equation.

    Parameters
    ----------
    ratio : array_like
        R = F340 / F380 (background-subtracted), any shape.
    kd_nM, rmin, rmax, beta : float
        Dissociation constant (nM), ratio at zero and at saturating calcium, and
        F380(free) / F380(bound).

    Returns
    -------
    ndarray of float64
        [Ca2+] in nM, same shape as ``ratio``.

    Notes
    -----
    ``Ca = Kd * beta * (R - Rmin) / (Rmax - R)``.

    References
    ----------
    Grynkiewicz G, Poenie M, Tsien RY (1985) J Biol Chem 260:3440-3450.
    doi:10.1016/S0021-9258(19)83641-4

    Examples
    --------
    >>> round(float(fura2_ratio_to_calcium(1.0)), 1)  # 224 * 6 * 0.7 / 5
    188.2
    """
    r = np.asarray(ratio, dtype=float)
    return kd_nM * beta * (r - rmin) / (rmax - r)


def fura2_calcium_to_ratio(ca_nM, *, kd_nM=224.0, rmin=0.3, rmax=6.0, beta=6.0):
    """Fura-2 ratio from [Ca2+] (inverse of :func:`fura2_ratio_to_calcium`).

    Notes
    -----
    ``R = (Rmin * Kd * beta + Rmax * Ca) / (Kd * beta + Ca)``.
    """
    ca = np.asarray(ca_nM, dtype=float)
    kb = kd_nM * beta
    return (rmin * kb + rmax * ca) / (kb + ca)


def fura2_fluorescence(ca_nM, loading, *, kd_nM=224.0, rmin=0.3, rmax=6.0, beta=6.0):
    """Per-wavelength Fura-2 fluorescence of a cell from its [Ca2+].

    Parameters
    ----------
    ca_nM : array_like, shape (T, N) or broadcastable
        [Ca2+] in nM.
    loading : array_like, shape (N,) or broadcastable
        Dye amount, as the 380 nm fluorescence of calcium-free dye (photoelectrons).
    kd_nM, rmin, rmax, beta : float
        Calibration constants.

    Returns
    -------
    f340, f380 : ndarray of float64
        Fluorescence at 340 and 380 nm excitation, broadcast shape.

    Notes
    -----
    ``fb = Ca / (Ca + Kd)``, ``F = loading * (s_free * (1 - fb) + s_bound * fb)`` with
    ``s380f = 1``, ``s380b = 1 / beta``, ``s340f = Rmin``, ``s340b = Rmax / beta``, so
    that ``F340 / F380 = fura2_calcium_to_ratio(Ca)``.
    """
    ca = np.asarray(ca_nM, dtype=float)
    fb = ca / (ca + kd_nM)
    load = np.asarray(loading, dtype=float)
    f340 = load * (rmin * (1 - fb) + (rmax / beta) * fb)
    f380 = load * ((1 - fb) + fb / beta)
    return f340, f380


def fluo4_calcium(dff, ca_rest_nM, *, kd_nM=345.0, fmax_fmin=100.0):
    """[Ca2+] of a single-wavelength indicator from dF/F0 and the resting [Ca2+].

    Parameters
    ----------
    dff : array_like, shape (T, N)
        dF/F0.
    ca_rest_nM : array_like, shape (N,)
        Resting [Ca2+] (the calcium at F0), nM.
    kd_nM, fmax_fmin : float
        Dissociation constant and dynamic range Fmax / Fmin.

    Returns
    -------
    ndarray of float64, shape (T, N)
        [Ca2+] in nM.

    Notes
    -----
    ``F0 / Fmin = 1 + (Fmax/Fmin - 1) * fb0`` with ``fb0 = Ca0 / (Ca0 + Kd)``,
    ``F / Fmin = F0 / Fmin * (1 + dF/F0)`` and ``Ca = Kd * (F - Fmin) / (Fmax - F)``.
    """
    ca0 = np.asarray(ca_rest_nM, dtype=float)
    fb0 = ca0 / (ca0 + kd_nM)
    f = (1 + (fmax_fmin - 1) * fb0) * (1 + np.asarray(dff, dtype=float))
    return kd_nM * (f - 1) / (fmax_fmin - f)


def rise_time_factor(rise_shape="linear"):
    """10-90 % rise time as a fraction of the rise duration (onset to peak).

    ``0.8`` for a linear ramp; ``(acos(-0.8) - acos(0.8)) / pi`` (about 0.590) for a
    raised cosine ``(1 - cos(pi * u)) / 2``.
    """
    if rise_shape == "linear":
        return 0.8
    if rise_shape == "cosine":
        return (math.acos(-0.8) - math.acos(0.8)) / math.pi
    raise ConfigError(f"rise_shape = {rise_shape!r}: expected 'linear' or 'cosine'")


def response_curve(time_s, *, baseline, amplitude, onset_s, rise_duration_s, decay_tau_s,
                   rise_shape="linear"):
    """The model response, evaluated at any times.

    Parameters
    ----------
    time_s : array_like, shape (T,)
        Times in s.
    baseline, amplitude : float or array_like of shape (N,)
        ``S0`` and ``A`` (signal units).
    onset_s, rise_duration_s, decay_tau_s : float or array_like of shape (N,)
        Start of the rise, its duration to the peak, and the decay time constant (s).
    rise_shape : {"linear", "cosine"}
        Ramp or raised cosine.

    Returns
    -------
    ndarray of float64, shape (T,) or (T, N)

    Notes
    -----
    ``S = S0`` for ``t < onset``; ``S0 + A * g((t - onset) / rise)`` during the rise with
    ``g(u) = u`` or ``(1 - cos(pi u)) / 2``; ``S0 + A * exp(-(t - t_peak) / tau)`` after
    ``t_peak = onset + rise``.

    Examples
    --------
    >>> y = response_curve([0.0, 2.0, 7.0], baseline=1, amplitude=2, onset_s=1,
    ...                    rise_duration_s=2, decay_tau_s=4)
    >>> bool(np.allclose(y, [1.0, 2.0, 1 + 2 * np.exp(-1)]))
    True
    """
    t = np.asarray(time_s, dtype=float)
    scalar_params = all(np.ndim(v) == 0 for v in
                        (baseline, amplitude, onset_s, rise_duration_s, decay_tau_s))
    if not scalar_params:
        t = t[..., None]
    s0 = np.asarray(baseline, dtype=float)
    a = np.asarray(amplitude, dtype=float)
    on = np.asarray(onset_s, dtype=float)
    rise = np.asarray(rise_duration_s, dtype=float)
    tau = np.asarray(decay_tau_s, dtype=float)
    t_peak = on + rise
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.clip((t - on) / np.where(rise > 0, rise, 1.0), 0.0, 1.0)
        if rise_shape == "cosine":
            g = (1 - np.cos(np.pi * u)) / 2
        else:
            rise_time_factor(rise_shape)
            g = u
        g = np.where(t >= t_peak, np.exp(-np.maximum(t - t_peak, 0.0) / tau), g)
        g = np.where(t < on, 0.0, g)
    out = s0 + a * g
    return np.asarray(out, dtype=float)


def touching_cells(labels):
    """Which labels share a border (4-connected) with another label.

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X)
        0 = background.

    Returns
    -------
    ndarray of bool, shape (labels.max(),)
        Entry ``i`` is True when label ``i + 1`` touches another label.
    """
    lab = np.asarray(labels)
    n = int(lab.max()) if lab.size else 0
    touch = np.zeros(n + 1, dtype=bool)
    for a, b in ((lab[1:, :], lab[:-1, :]), (lab[:, 1:], lab[:, :-1])):
        m = (a != b) & (a > 0) & (b > 0)
        touch[a[m]] = True
        touch[b[m]] = True
    return touch[1:]


# --------------------------------------------------------------------------- knobs


def preset_knobs(preset="moderate", indicator="fluo4"):
    """All knobs of a preset for one indicator, as a new dict.

    Parameters
    ----------
    preset : {"easy", "moderate", "hard"}
    indicator : {"fura2", "fluo4"}

    Returns
    -------
    dict
        Knob name -> value, including ``shape``, ``n_frames``, ``n_cells`` and
        ``frame_interval_s``.
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
        if name == "shot_noise":
            if not isinstance(v, (bool, np.bool_)):
                bad(name, "True or False")
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer,
                                                                 np.floating)):
            bad(name, "a number")
        if not np.isfinite(v) or v < 0:
            bad(name, "a finite number >= 0")
    for name in _FRACTIONS:
        if k[name] > 1:
            bad(name, "a value between 0 and 1")
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
    rise_time_factor(k["rise_shape"])


def _resolve(indicator, preset, shape, n_frames, n_cells, frame_interval_s, overrides):
    knobs = preset_knobs(preset, indicator)
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


# --------------------------------------------------------------------------- cells


def _raster_cell(rng, k, center, cell):
    """Boolean mask, normalised radius and nucleus weight of one cell in its bounding box."""
    a, b, ang, harm = cell["a"], cell["b"], cell["angle"], cell["harm"]
    rmax = max(a, b) * (1 + sum(abs(h[0]) for h in harm)) + 1
    r0 = int(math.floor(center[0] - rmax))
    c0 = int(math.floor(center[1] - rmax))
    r1 = int(math.ceil(center[0] + rmax)) + 1
    c1 = int(math.ceil(center[1] + rmax)) + 1
    # crop the bounding box to the image
    r0, c0 = max(r0, 0), max(c0, 0)
    r1, c1 = min(r1, k["shape"][0]), min(c1, k["shape"][1])
    rr, cc = np.mgrid[r0:r1, c0:c1]
    dy = rr - center[0]
    dx = cc - center[1]
    u = dx * math.cos(ang) + dy * math.sin(ang)
    v = -dx * math.sin(ang) + dy * math.cos(ang)
    theta = np.arctan2(v / b, u / a)
    mod = np.ones_like(theta)
    for amp, order, phase in harm:
        mod = mod + amp * np.cos(order * theta + phase)
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2) / mod
    mask = rho <= 1.0
    return (r0, c0), mask, rho


def _new_cell_shape(rng, k):
    d = rng.uniform(k["diameter_min_px"], k["diameter_max_px"])
    aspect = rng.uniform(1.0, max(1.0, k["aspect_max"]))
    a = d / 2 * math.sqrt(aspect)
    b = d / 2 / math.sqrt(aspect)
    harm = [(k["irregularity"] * rng.normal() / (order - 1), order, rng.uniform(0, 2 * np.pi))
            for order in (2, 3, 4)]
    harm = [(float(np.clip(h, -0.25, 0.25)), o, p) for h, o, p in harm]
    return {"a": a, "b": b, "angle": rng.uniform(0, np.pi), "harm": harm, "radius": d / 2}


def _place_cells(k, rng):
    """Place cells; returns labels (int32), rho image, list of cell dicts."""
    ny, nx = k["shape"]
    n = k["n_cells"]
    margin = int(k["margin"]) or int(math.ceil(k["drift_px"])) + 2
    gap = int(k["min_gap_px"])
    labels = np.zeros((ny, nx), dtype=np.int32)
    rho_img = np.full((ny, nx), np.inf)
    cells = []
    # Euclidean gap: a disk, so diagonal neighbours keep the same distance
    yy, xx = np.mgrid[-gap:gap + 1, -gap:gap + 1]
    gap_disk = yy ** 2 + xx ** 2 <= gap ** 2

    n_touch = int(round(k["touching_fraction"] * n))
    if n_touch == 1:
        n_touch = 2 if n >= 2 else 0
    n_touch = min(n_touch, n)
    clusters = []
    if n_touch >= 2:
        n_cl = max(1, int(round(n_touch / 2.4)))
        n_cl = min(n_cl, n_touch // 2)
        sizes = np.full(n_cl, 2)
        for _ in range(n_touch - 2 * n_cl):
            sizes[rng.integers(n_cl)] += 1
        clusters = [int(s) for s in sizes]
    n_isolated = n - n_touch

    def fits(origin, mask):
        r0, c0 = origin
        h, w = mask.shape
        rows = np.nonzero(mask.any(axis=1))[0]
        cols = np.nonzero(mask.any(axis=0))[0]
        if rows.size == 0:
            return False
        return (r0 + rows[0] >= margin and r0 + rows[-1] < ny - margin
                and c0 + cols[0] >= margin and c0 + cols[-1] < nx - margin)

    def neighbours(origin, mask):
        """Labels within `gap` pixels of the mask."""
        r0, c0 = origin
        pad = gap + 1
        m = np.pad(mask, pad)
        if gap > 0:
            m = ndi.binary_dilation(m, gap_disk)
        rs, cs = r0 - pad, c0 - pad
        sub_r = slice(max(rs, 0), min(rs + m.shape[0], ny))
        sub_c = slice(max(cs, 0), min(cs + m.shape[1], nx))
        mm = m[sub_r.start - rs:sub_r.stop - rs, sub_c.start - cs:sub_c.stop - cs]
        return set(np.unique(labels[sub_r, sub_c][mm]).tolist()) - {0}

    def commit(origin, mask, rho, cell, allowed):
        """Write a cell, splitting overlaps with `allowed` labels; False if it fails."""
        r0, c0 = origin
        sl = (slice(r0, r0 + mask.shape[0]), slice(c0, c0 + mask.shape[1]))
        lab_sub = labels[sl]
        rho_sub = rho_img[sl]
        take = mask & ((lab_sub == 0) | (rho < rho_sub))
        new_label = len(cells) + 1
        # every neighbour must keep most of its area and stay in one piece
        for lab_id in allowed:
            lost = int(np.count_nonzero(take & (lab_sub == lab_id)))
            if lost > 0.35 * cells[lab_id - 1]["area"]:
                return False
        if np.count_nonzero(take) < 0.65 * np.count_nonzero(mask):
            return False
        trial = lab_sub.copy()
        trial[take] = new_label
        for lab_id in list(allowed) + [new_label]:
            comp, ncomp = ndi.label(trial == lab_id)
            if ncomp > 1:
                return False
        if allowed:
            touch = touching_cells(np.where(np.isin(trial, list(allowed) + [new_label]),
                                            trial, 0))
            if not touch[new_label - 1]:
                return False
        labels[sl] = trial
        rho_sub[take] = rho[take]
        for lab_id in allowed:
            cells[lab_id - 1]["area"] = int(np.count_nonzero(labels == lab_id))
        cell["area"] = int(np.count_nonzero(trial == new_label))
        cell["origin"] = origin
        cell["bbox_shape"] = mask.shape
        cells.append(cell)
        return True

    def place_isolated(max_tries=400):
        for _ in range(max_tries):
            cell = _new_cell_shape(rng, k)
            center = (rng.uniform(margin, ny - margin), rng.uniform(margin, nx - margin))
            origin, mask, rho = _raster_cell(rng, k, center, cell)
            if not fits(origin, mask) or neighbours(origin, mask):
                continue
            cell["center"] = center
            if commit(origin, mask, rho, cell, []):
                return len(cells)
        return None

    def attach(members, max_tries=60):
        for _ in range(max_tries):
            parent = members[rng.integers(len(members))]
            pc = cells[parent - 1]
            cell = _new_cell_shape(rng, k)
            phi = rng.uniform(0, 2 * np.pi)
            dist = (pc["radius"] + cell["radius"]) * rng.uniform(0.8, 0.95)
            center = (pc["center"][0] + dist * math.sin(phi),
                      pc["center"][1] + dist * math.cos(phi))
            origin, mask, rho = _raster_cell(rng, k, center, cell)
            if not fits(origin, mask):
                continue
            near = neighbours(origin, mask)
            if not near or not near <= set(members):
                continue
            cell["center"] = center
            if commit(origin, mask, rho, cell, sorted(near)):
                return len(cells)
        return None

    leftover = 0
    for size in clusters:
        seed = place_isolated()
        if seed is None:
            leftover += size
            continue
        members = [seed]
        for _ in range(size - 1):
            new = attach(members)
            if new is None:
                leftover += 1
            else:
                members.append(new)
        if len(members) == 1:  # could not attach anything: seed counts as isolated
            leftover -= 1
    for _ in range(n_isolated + leftover):
        if place_isolated() is None:
            raise ConfigError(
                f"n_cells = {n}: could only place {len(cells)} cells of diameter "
                f"{k['diameter_min_px']:g}-{k['diameter_max_px']:g} px with min_gap_px = {gap} "
                f"in shape = {k['shape']}; expected fewer or smaller cells or a larger shape")
    return labels, rho_img, cells


def _cell_profile(labels, rho_img, cells, k, rng):
    """Static per-pixel fluorescence weights, mean 1 over every mask."""
    ny, nx = labels.shape
    n = len(cells)
    prof = np.zeros((ny, nx))
    inside = labels > 0
    rho = np.where(inside, np.clip(rho_img, 0, 1), 0.0)
    prof[inside] = 1.0 - k["cell_dome"] * rho[inside] ** 2
    has_nucleus = rng.random(n) < k["nucleus_fraction"]
    for i, cell in enumerate(cells):
        if not has_nucleus[i]:
            continue
        a, b, ang = cell["a"] * 0.45, cell["b"] * 0.45, cell["angle"]
        off = rng.uniform(-0.15, 0.15, size=2) * cell["radius"]
        cy, cx = cell["center"][0] + off[0], cell["center"][1] + off[1]
        r0, c0 = cell["origin"]
        h, w = cell["bbox_shape"]
        rr, cc = np.mgrid[r0:r0 + h, c0:c0 + w]
        dy, dx = rr - cy, cc - cx
        u = dx * math.cos(ang) + dy * math.sin(ang)
        v = -dx * math.sin(ang) + dy * math.cos(ang)
        rn = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        # soft-edged nucleus, only inside this cell
        w_nuc = 1.0 / (1.0 + np.exp((rn - 1.0) * 6.0))
        sl = (slice(r0, r0 + h), slice(c0, c0 + w))
        own = labels[sl] == i + 1
        prof[sl][own] *= 1.0 - k["nucleus_contrast"] * w_nuc[own]
    if k["texture"] > 0:
        tex = ndi.gaussian_filter(rng.normal(size=(ny, nx)), 1.0)
        tex /= tex.std() or 1.0
        prof[inside] *= np.clip(1.0 + k["texture"] * tex[inside], 0.2, None)
    if n:
        means = np.bincount(labels.ravel(), weights=prof.ravel(), minlength=n + 1)
        counts = np.bincount(labels.ravel(), minlength=n + 1)
        norm = np.ones(n + 1)
        norm[1:] = means[1:] / np.maximum(counts[1:], 1)
        prof = prof / norm[labels]
        prof[~inside] = 0.0
        if k["edge_blur_px"] > 0:
            # make up for the light the edge blur carries out of each mask, so the mean
            # over a true mask of the blurred cell is its fluorescence F (isolated cells)
            kept = np.bincount(labels.ravel(),
                               weights=ndi.gaussian_filter(prof, k["edge_blur_px"],
                                                           mode="constant").ravel(),
                               minlength=n + 1)[1:] / np.maximum(counts[1:], 1)
            scale = np.ones(n + 1)
            scale[1:] = 1.0 / np.clip(kept, 0.3, None)
            prof = prof * scale[labels]
    return prof, has_nucleus


# --------------------------------------------------------------------------- responses


def _responses(k, rng, n, time_s, stim, indicator):
    """Per-cell response parameters and the signal (T, N)."""
    dt = k["frame_interval_s"]
    n_frames = len(time_s)
    n_resp = int(round(k["responder_fraction"] * n))
    responder = np.zeros(n, dtype=bool)
    if n_resp:
        responder[rng.choice(n, size=n_resp, replace=False)] = True
    ca_rest = rng.uniform(k["ca_rest_min_nM"], k["ca_rest_max_nM"], size=n)
    latency = rng.uniform(k["latency_min_s"], k["latency_max_s"], size=n)
    rise = rng.uniform(k["rise_min_s"], k["rise_max_s"], size=n)
    tau = rng.uniform(k["tau_min_s"], k["tau_max_s"], size=n)
    amp = rng.uniform(k["amplitude_min"], k["amplitude_max"], size=n)
    if indicator == "fura2":
        s0 = fura2_calcium_to_ratio(ca_rest, kd_nM=k["kd_nM"], rmin=k["rmin"], rmax=k["rmax"],
                                    beta=k["beta"])
        headroom = k["rmax"] - s0
    else:
        s0 = np.zeros(n)
        fb0 = ca_rest / (ca_rest + k["kd_nM"])
        headroom = k["fmax_fmin"] / (1 + (k["fmax_fmin"] - 1) * fb0) - 1
    amp = np.minimum(amp, 0.8 * headroom)
    # peak on a frame time so the sampled maximum is the true peak
    t_peak = stim + latency + rise
    t_peak = np.clip(np.round(t_peak / dt) * dt, time_s[0], time_s[-1])
    onset = t_peak - rise
    amp = np.where(responder, amp, 0.0)
    signal = response_curve(time_s, baseline=s0, amplitude=amp, onset_s=onset,
                            rise_duration_s=rise, decay_tau_s=tau, rise_shape=k["rise_shape"])
    signal = np.broadcast_to(signal, (n_frames, n)).astype(float)
    if indicator == "fura2":
        ca = fura2_ratio_to_calcium(signal, kd_nM=k["kd_nM"], rmin=k["rmin"],
                                    rmax=k["rmax"], beta=k["beta"])
    else:
        ca = fluo4_calcium(signal, ca_rest, kd_nM=k["kd_nM"], fmax_fmin=k["fmax_fmin"])
    nan = np.full(n, np.nan)
    f_rise = rise_time_factor(k["rise_shape"])
    kin = pd.DataFrame({
        "roi": np.arange(1, n + 1, dtype=np.int64),
        "responder": responder,
        "onset_s": np.where(responder, onset, nan),
        "baseline": s0,
        "peak": s0 + amp,
        "amplitude": amp,
        "time_to_peak_s": np.where(responder, t_peak - stim, nan),
        "rise_time_s": np.where(responder, f_rise * rise, nan),
        "decay_tau_s": np.where(responder, tau, nan),
        "half_decay_s": np.where(responder, tau * math.log(2), nan),
        "peak_time_s": np.where(responder, t_peak, nan),
        "rise_duration_s": np.where(responder, rise, nan),
        "fwhm_s": np.where(responder, rise / 2 + tau * math.log(2), nan),
        "ca_rest_nM": ca_rest,
    })
    return signal, ca, kin


# --------------------------------------------------------------------------- image


def _drift(k, rng, n_frames):
    d = np.zeros((n_frames, 2))
    if k["drift_px"] <= 0:
        return d
    walk = np.cumsum(rng.normal(size=(n_frames, 2)), axis=0)
    walk = ndi.gaussian_filter1d(walk, sigma=max(1.0, n_frames / 40), axis=0, mode="nearest")
    t = np.arange(n_frames)[:, None]
    period = rng.uniform(0.5, 1.5, size=2) * n_frames
    walk = walk / (np.abs(walk).max() or 1.0) + rng.uniform(0.3, 1.0, size=2) * np.sin(
        2 * np.pi * t / period + rng.uniform(0, 2 * np.pi, size=2))
    d = walk - walk[0]
    peak = np.sqrt((d ** 2).sum(axis=1)).max()
    if peak > 0:
        d = d * (k["drift_px"] / peak)
    return d


def _background(k, rng, shape):
    ny, nx = shape
    rr, cc = np.mgrid[0:ny, 0:nx].astype(float)
    rr = rr / max(ny - 1, 1) - 0.5
    cc = cc / max(nx - 1, 1) - 0.5
    ang = rng.uniform(0, 2 * np.pi)
    proj = rr * math.sin(ang) + cc * math.cos(ang)
    proj = proj / (np.abs(proj).max() or 1.0) / 2  # -0.5 .. 0.5
    r2 = (rr ** 2 + cc ** 2) / 0.5
    return k["background"] * (1 + k["background_gradient"] * proj) * (1 - k["vignetting"] * r2)


def _render_channels(cell_fs, bgs, labels, prof, drift, k, rng, chunk=32):
    """Render channels: each cell_f (T, N) photoelectrons at mask mean -> uint16 (T, Y, X).

    All channels share the cells, the blur, the halo and the drift; they are rendered
    together frame chunk by frame chunk so the Fourier shift is computed once.
    """
    n_frames = cell_fs[0].shape[0]
    ny, nx = labels.shape
    reach = max(k["edge_blur_px"], k["halo_sigma_px"] if k["halo_strength"] else 0.0)
    pad = int(math.ceil(k["drift_px"] + 3 * reach + 3))
    py = sfft.next_fast_len(ny + 2 * pad, real=True)
    px = sfft.next_fast_len(nx + 2 * pad, real=True)
    fy = sfft.fftfreq(py)[:, None]
    fx = sfft.rfftfreq(px)[None, :]
    f2 = fy ** 2 + fx ** 2
    transfer = np.exp(-2 * np.pi ** 2 * k["edge_blur_px"] ** 2 * f2)
    if k["halo_strength"] > 0:
        transfer = transfer + k["halo_strength"] * np.exp(-2 * np.pi ** 2
                                                          * k["halo_sigma_px"] ** 2 * f2)
    transfer = transfer.astype(np.complex64)
    bleach = np.exp(-k["bleach_per_frame"] * np.arange(n_frames))
    f_pads = [np.concatenate([np.zeros((n_frames, 1)), cf * bleach[:, None]], axis=1)
              for cf in cell_fs]
    outs = [np.empty((n_frames, ny, nx), dtype=np.uint16) for _ in cell_fs]
    need_fft = k["edge_blur_px"] > 0 or k["halo_strength"] > 0 or bool(np.any(drift))
    top = np.iinfo(np.uint16).max
    for t0 in range(0, n_frames, chunk):
        t1 = min(t0 + chunk, n_frames)
        if need_fft:
            # shift theorem, separable in rows and columns: content moves by +drift
            ph_r = np.exp(-2j * np.pi * fy[None] * drift[t0:t1, 0, None, None])
            ph_c = np.exp(-2j * np.pi * fx[None] * drift[t0:t1, 1, None, None])
            kernel = (ph_r * ph_c).astype(np.complex64) * transfer[None]
        for f_pad, bg, out in zip(f_pads, bgs, outs):
            img = f_pad[t0:t1][:, labels] * prof  # (t, Y, X)
            if need_fft:
                buf = np.zeros((t1 - t0, py, px), dtype=np.float32)
                buf[:, pad:pad + ny, pad:pad + nx] = img
                spec = sfft.rfft2(buf, workers=1)
                spec *= kernel
                img = sfft.irfft2(spec, s=(py, px), workers=1)[:, pad:pad + ny, pad:pad + nx]
                img = img.astype(float)
            clean = np.clip(img + bg, 0.0, None)
            electrons = rng.poisson(clean).astype(float) if k["shot_noise"] else clean
            adu = k["offset"] + k["gain"] * electrons
            if k["read_noise"] > 0:
                adu += rng.normal(0.0, k["read_noise"], size=adu.shape)
            out[t0:t1] = np.clip(np.rint(adu), 0, top).astype(np.uint16)
    return outs


# --------------------------------------------------------------------------- main


def make_recording(indicator="fluo4", *, preset="moderate", shape=None, n_frames=None,
                   n_cells=None, frame_interval_s=None, stimulus_time_s=None, rng=None,
                   **overrides) -> SyntheticRecording:
    """Render a synthetic calcium-imaging recording with its exact ground truth.

    Parameters
    ----------
    indicator : {"fluo4", "fura2"}
        Fluo-4 (one channel ``"f"``, signal dF/F0) or Fura-2 (channels ``"f340"``,
        ``"f380"``, signal F340/F380).
    preset : {"easy", "moderate", "hard"}
        ``"easy"``: 16 well-separated, bright cells, little noise, no halo, no drift, no
        bleaching. ``"moderate"`` (default): 25 cells in 128 x 128, 20 % touching, 3x
        brightness range, dimmest per-pixel SNR 8, mild gradient and halo, 1 px drift.
        ``"hard"``: 90 cells in 256 x 256, ~50 % touching, 5x brightness range, dimmest
        per-pixel SNR 3, strong gradient, vignetting, scattered-light halos, 3 px drift.
        See :data:`PRESETS` / :func:`preset_knobs` for every value.
    shape : (int, int), optional
        (rows, columns); default from the preset (128 x 128, hard 256 x 256).
    n_frames : int, optional
        Frames per channel (default 160).
    n_cells : int, optional
        Number of cells N.
    frame_interval_s : float, optional
        Time between frames (Fura-2: between pairs), s (default 0.5).
    stimulus_time_s : float, optional
        Stimulus time from the first frame, s; default the frame nearest 1/4 of the
        recording.
    rng : None, int or numpy.random.Generator
        Randomness. An int is a seed (recorded in ``params["seed"]`` and the name); None
        draws a fresh seed and records it, so every result can be reproduced.
    **overrides
        Any knob of the preset (``drift_px``, ``bleach_per_frame``, ``read_noise``,
        ``gain``, ``offset``, ``responder_fraction``, ``touching_fraction``,
        ``brightness_range``, ``dimmest_snr``, ``halo_strength``, ``background_gradient``,
        ``shot_noise``, ``kd_nM``, ``rmin``, ``rmax``, ``beta``, ...).

    Returns
    -------
    SyntheticRecording
        The recording (uint16 channels, frame interval source ``"synthetic"``) and the
        truth: labels (Y, X), signal and calcium_nM (T, N), kinetics (one row per cell),
        shifts (T, 2), stimulus_time_s and params.

    Raises
    ------
    ConfigError
        Unknown indicator, preset or knob (the message lists the valid knobs), or a value
        out of range, or cells that do not fit.

    Notes
    -----
    The model (cell shapes, photophysics, response curve, image formation, camera) is
    described in the module docstring.

    Examples
    --------
    >>> syn = make_recording("fura2", preset="easy", rng=0, n_frames=40)
    >>> syn.recording.channel_names
    ('f340', 'f380')
    >>> syn.signal.shape == (40, int(syn.labels.max()))
    True
    """
    if isinstance(rng, np.random.Generator):
        gen, seed = rng, None
    elif rng is None:
        seed = int(np.random.SeedSequence().entropy % (2 ** 32))
        gen = np.random.default_rng(seed)
    elif isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        seed = int(rng)
        gen = np.random.default_rng(seed)
    else:
        raise ConfigError(f"rng = {rng!r}: expected None, an int seed >= 0 or a "
                          f"numpy.random.Generator")
    k = _resolve(indicator, preset, shape, n_frames, n_cells, frame_interval_s, overrides)
    n_frames = k["n_frames"]
    dt = k["frame_interval_s"]
    time_s = np.arange(n_frames) * dt
    if stimulus_time_s is None:
        stim = float(round(n_frames / 4) * dt)
    else:
        stim = float(stimulus_time_s)
        if not (np.isfinite(stim) and 0 <= stim < time_s[-1]):
            raise ConfigError(f"stimulus_time_s = {stimulus_time_s!r}: expected a time within "
                              f"the recording, 0 <= t < {time_s[-1]:g} s")

    labels, rho_img, cells = _place_cells(k, gen)
    n = len(cells)
    prof, has_nucleus = _cell_profile(labels, rho_img, cells, k, gen)
    signal, ca, kin = _responses(k, gen, n, time_s, stim, indicator)
    drift = _drift(k, gen, n_frames)
    bg380 = _background(k, gen, labels.shape)

    # resting fluorescence of the segmentation channel, photoelectrons per pixel
    b_e = k["background"]
    r_e2 = (k["read_noise"] / k["gain"]) ** 2
    snr2 = k["dimmest_snr"] ** 2
    f_dim = (snr2 + math.sqrt(snr2 ** 2 + 4 * snr2 * (b_e + r_e2))) / 2
    u = gen.random(n)
    if n >= 2:
        u[np.argmin(u)] = 0.0
        u[np.argmax(u)] = 1.0
    elif n == 1:
        u[:] = 0.0
    f_rest = f_dim * k["brightness_range"] ** u

    channels = {}
    if indicator == "fura2":
        ca0 = kin["ca_rest_nM"].to_numpy()
        _, f380_unit = fura2_fluorescence(ca0, 1.0, kd_nM=k["kd_nM"], rmin=k["rmin"],
                                          rmax=k["rmax"], beta=k["beta"])
        loading = f_rest / f380_unit
        f340, f380 = fura2_fluorescence(ca, loading[None, :], kd_nM=k["kd_nM"], rmin=k["rmin"],
                                        rmax=k["rmax"], beta=k["beta"])
        channels["f340"], channels["f380"] = _render_channels(
            [f340, f380], [bg380 * k["background_340_factor"], bg380], labels, prof, drift,
            k, gen)
        layout = "hyperstack"
    else:
        loading = f_rest
        channels["f"], = _render_channels([f_rest[None, :] * (1 + signal)], [bg380], labels,
                                          prof, drift, k, gen)
        layout = "single"

    touch = touching_cells(labels)
    kin["touching"] = touch
    kin["area_px"] = np.bincount(labels.ravel(), minlength=n + 1)[1:].astype(np.int64)
    kin["brightness"] = f_rest
    kin["loading"] = loading
    kin["nucleus"] = has_nucleus

    params: dict[str, Any] = {"indicator": indicator, "preset": preset, "seed": seed,
                              "stimulus_time_s": stim, **k}
    params["shape"] = list(k["shape"])
    params["margin_used"] = int(k["margin"]) or int(math.ceil(k["drift_px"])) + 2
    params["dimmest_rest_e"] = float(f_dim)
    params["n_touching"] = int(touch.sum())
    params["touching_fraction_actual"] = float(touch.mean()) if n else 0.0
    params["n_responders"] = int(kin["responder"].sum())
    name = f"synthetic_{indicator}" + (f"_seed{seed}" if seed is not None else "")
    rec = Recording(channels=channels, frame_interval_s=dt, frame_interval_source="synthetic",
                    pixel_size_um=float(k["pixel_size_um"]), source=(), layout=layout,
                    name=name, metadata={"synthetic": True, "indicator": indicator,
                                         "preset": preset, "seed": seed,
                                         "stimulus_time_s": stim})
    return SyntheticRecording(recording=rec, labels=labels, signal=np.ascontiguousarray(signal),
                              calcium_nM=np.ascontiguousarray(ca), kinetics=kin,
                              shifts=-drift, stimulus_time_s=stim, params=params)

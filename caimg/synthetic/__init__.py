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
an isolated cell the mask mean of the background-free image is the cell's F): a dome
``1 - cell_dome * rho**2`` (thicker centre), a dimmer nucleus in a fraction
``nucleus_fraction`` of cells (``nucleus_contrast``) and a fine multiplicative texture
(``texture``). Dye loading per cell is log-uniform over ``brightness_range`` (the dimmest
cell exactly 1x, the brightest exactly ``brightness_range`` x, in resting fluorescence of
the segmentation channel, f380 or f). The dimmest cell's resting per-pixel, per-frame
signal-to-noise ratio ``F / sqrt(F + B + (read_noise / gain)**2)`` (photoelectrons, B =
background at the field centre) equals ``dimmest_snr``.

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

Layout: this module holds :func:`make_recording` and its result; the knobs and presets
live in ``_knobs``, the indicator equations and the response model in ``_physics``, cell
shapes and placement in ``_cells``, and image formation in ``_render``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..recording import Recording
from ._cells import add_neurites, cell_profile, place_cells, touching_cells
from ._families import wave_bands, wave_columns, wave_truth
from ._knobs import FAMILIES, PRESETS, preset_knobs, resolve_knobs
from ._physics import (
    draw_responses,
    fluo4_calcium,
    fura2_calcium_to_ratio,
    fura2_fluorescence,
    fura2_ratio_to_calcium,
    response_curve,
    rise_time_factor,
)
from ._render import background_image, draw_drift, render_channels

__all__ = [
    "SyntheticRecording",
    "make_recording",
    "preset_knobs",
    "PRESETS",
    "FAMILIES",
    "response_curve",
    "rise_time_factor",
    "fura2_ratio_to_calcium",
    "fura2_calcium_to_ratio",
    "fura2_fluorescence",
    "fluo4_calcium",
    "touching_cells",
    "TRUTH_COLUMNS",
]

#: The leading columns of :attr:`SyntheticRecording.kinetics` (one row per cell, no event
#: column): not the result schema's ``caimg.result.KINETICS_COLUMNS``.
TRUTH_COLUMNS = ("roi", "responder", "onset_s", "baseline", "peak", "amplitude",
                 "time_to_peak_s", "rise_time_s", "decay_tau_s", "half_decay_s")


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
        One row per cell (:data:`TRUTH_COLUMNS` plus ``peak_time_s``,
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


def make_recording(indicator="fluo4", *, preset="moderate", shape=None, n_frames=None,
                   n_cells=None, frame_interval_s=None, stimulus_time_s=None, rng=None,
                   family=None, **overrides) -> SyntheticRecording:
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
    family : str, optional
        A family of cell appearance or behaviour from :data:`FAMILIES` (``"plain"``,
        ``"dark_nucleus"``, ``"bright_nucleus"``, ``"granular"``, ``"flat_perinuclear"``,
        ``"saturated"``, ``"spindle_neurites"``, ``"wave"``, ``"silent"``,
        ``"vignetting"``, ``"haze"``, ``"sizes"``): its knobs are applied on top of the
        preset (explicit ``overrides`` win), and some scale the cell count.
    **overrides
        Any knob of the preset (``drift_px``, ``bleach_per_frame``, ``read_noise``,
        ``gain``, ``offset``, ``responder_fraction``, ``touching_fraction``,
        ``brightness_range``, ``dimmest_snr``, ``halo_strength``, ``background_gradient``,
        ``shot_noise``, ``kd_nM``, ``rmin``, ``rmax``, ``beta``, ...). No stimulus:
        ``spontaneous=True`` puts each responder's single response at a random time
        (onset from ``latency_min_s`` to 70 % of the recording; truth ``time_to_peak_s``
        NaN, ``peak_time_s`` its time) and ``loading_drift=0.5`` lets every cell's dye
        loading rise linearly by 50 % over the recording (not in ``signal``, like
        bleaching): run the pipeline without a stimulus time on such a recording.

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
    gen, seed = _generator(rng)
    if family is not None:
        if family not in FAMILIES:
            raise ConfigError(f"family = {family!r}: expected one of {sorted(FAMILIES)}")
        fam = dict(FAMILIES[family])
        factor = fam.pop("n_cells_factor", 1.0)
        if n_cells is None and factor != 1.0:
            base = preset_knobs(preset=preset, indicator=indicator)["n_cells"]
            n_cells = max(1, int(round(base * factor)))
        overrides = {**fam, **overrides}
    k = resolve_knobs(indicator, preset, shape, n_frames, n_cells, frame_interval_s, overrides)
    n_frames = k["n_frames"]
    dt = k["frame_interval_s"]
    time_s = np.arange(n_frames) * dt
    stim = _stimulus_time(stimulus_time_s, n_frames, time_s, dt)

    # the order of the draws from gen is part of the contract: a seed gives the same output
    labels, rho_img, cells = place_cells(k, gen)
    n = len(cells)
    prof, has_nucleus = cell_profile(labels, rho_img, cells, k, gen)
    signal, ca, kin = draw_responses(k, gen, n, time_s, stim, indicator)
    drift = draw_drift(k, gen, n_frames)
    bg380 = background_image(k, gen, labels.shape)
    f_dim, f_rest = _resting_fluorescence(k, gen, n)
    # families (issue 13): each draws from gen only when its knob is on, so the presets
    # render exactly as before
    silent = np.zeros(n, dtype=bool)
    if k["silent_fraction"] > 0 and n:
        resp_ids = np.flatnonzero(kin["responder"].to_numpy())
        n_sil = min(int(round(k["silent_fraction"] * n)), resp_ids.size)
        silent[gen.choice(resp_ids, size=n_sil, replace=False)] = True
        f_rest = np.where(silent, f_dim * k["silent_brightness"], f_rest)
    bright = np.zeros(n, dtype=bool)
    if k["bright_fraction"] > 0 and n:
        cand = np.flatnonzero(~silent)
        n_br = min(max(1, int(round(k["bright_fraction"] * n))), cand.size)
        bright[gen.choice(cand, size=n_br, replace=False)] = True
        f_rest = np.where(bright, f_rest * k["bright_factor"], f_rest)
    if k["haze_cells"] > 0:
        bg380 = bg380 + _haze(k, gen, labels.shape, f_dim)
    owner = labels
    if k["neurites_per_cell"] > 0 and n:
        owner, prof = add_neurites(labels, prof, cells, k, gen)
    wave = None
    if k["wave_delay_s"] > 0 and n:
        band_owner, delay, weight = wave_bands(owner, labels, prof, n,
                                               kin["responder"].to_numpy(), k, gen)
        # the bands are rendered from the model kinetics; the truth is what a mask measures
        wave = (band_owner, delay, weight, kin)
        signal, ca, kin = wave_truth(time_s, kin, delay, weight, indicator, k)
    channels, loading, layout = _render(indicator, k, gen, signal, ca, kin, f_rest, owner,
                                        prof, drift, bg380, wave=wave, time_s=time_s)

    touch = touching_cells(labels)
    kin["touching"] = touch
    kin["area_px"] = np.bincount(labels.ravel(), minlength=n + 1)[1:].astype(np.int64)
    kin["brightness"] = f_rest
    kin["loading"] = loading
    kin["nucleus"] = has_nucleus
    kin["bright"] = bright
    kin["silent"] = silent
    kin["saturated"] = _saturated_cells(channels, labels, n, k)

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


def _generator(rng):
    """Return (Generator, seed or None) for ``make_recording``'s ``rng`` argument."""
    if isinstance(rng, np.random.Generator):
        return rng, None
    if rng is None:
        seed = int(np.random.SeedSequence().entropy % (2 ** 32))
        return np.random.default_rng(seed), seed
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        seed = int(rng)
        return np.random.default_rng(seed), seed
    raise ConfigError(f"rng = {rng!r}: expected None, an int seed >= 0 or a "
                      f"numpy.random.Generator")


def _stimulus_time(stimulus_time_s, n_frames, time_s, dt):
    """Return the stimulus time in s: the given one, checked, or the frame nearest 1/4."""
    if stimulus_time_s is None:
        return float(round(n_frames / 4) * dt)
    stim = float(stimulus_time_s)
    if not (np.isfinite(stim) and 0 <= stim < time_s[-1]):
        raise ConfigError(f"stimulus_time_s = {stimulus_time_s!r}: expected a time within "
                          f"the recording, 0 <= t < {time_s[-1]:g} s")
    return stim


def _resting_fluorescence(k, gen, n):
    """Resting fluorescence of the segmentation channel, photoelectrons per pixel.

    Returns the dimmest cell's (set by ``dimmest_snr``) and every cell's (N,), log-uniform
    over ``brightness_range`` with the dimmest exactly 1x and the brightest exactly the
    range.
    """
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
    return f_dim, f_dim * k["brightness_range"] ** u


def _render(indicator, k, gen, signal, ca, kin, f_rest, labels, prof, drift, bg380,
            wave=None, time_s=None):
    """Render the indicator's channels; return them, the dye loading (N,) and the layout.

    ``labels`` is the owner image (the masks, plus neurites when there are any); with
    ``wave`` = (band_owner, delay, weight, model kinetics) every cell is rendered as
    delayed bands.
    """
    channels = {}
    if indicator == "fura2":
        ca0 = kin["ca_rest_nM"].to_numpy()
        _, f380_unit = fura2_fluorescence(ca0, 1.0, kd_nM=k["kd_nM"], rmin=k["rmin"],
                                          rmax=k["rmax"], beta=k["beta"])
        loading = f_rest / f380_unit
        if wave is not None:
            fs = wave_columns(time_s, wave[3], wave[1], loading, indicator, k)
            labels = wave[0]
        else:
            fs = fura2_fluorescence(ca, loading[None, :], kd_nM=k["kd_nM"], rmin=k["rmin"],
                                    rmax=k["rmax"], beta=k["beta"])
        fs = _with_loading_drift(fs, k, time_s)
        channels["f340"], channels["f380"] = render_channels(
            list(fs), [bg380 * k["background_340_factor"], bg380], labels, prof, drift,
            k, gen)
        return channels, loading, "hyperstack"
    if wave is not None:
        fs = wave_columns(time_s, wave[3], wave[1], f_rest, indicator, k)
        labels = wave[0]
    else:
        fs = [f_rest[None, :] * (1 + signal)]
    fs = _with_loading_drift(fs, k, time_s)
    channels["f"], = render_channels(fs, [bg380], labels, prof, drift, k, gen)
    return channels, f_rest, "single"


def _with_loading_drift(fs, k, time_s):
    """Cell fluorescence times ``1 + loading_drift * t / t_end`` (dye still loading: the
    same factor at every wavelength, so a Fura-2 ratio is unaffected); unchanged at 0.
    """
    if not k["loading_drift"] or time_s is None or len(time_s) < 2:
        return list(fs)
    factor = 1.0 + k["loading_drift"] * (time_s - time_s[0]) / (time_s[-1] - time_s[0])
    return [np.asarray(f) * factor[:, None] for f in fs]


def _haze(k, gen, shape, f_dim):
    """Out-of-focus cells: static Gaussian blobs (not in the truth), photoelectrons."""
    from scipy import ndimage as ndi

    img = np.zeros(shape)
    n = int(k["haze_cells"])
    rows = gen.integers(0, shape[0], size=n)
    cols = gen.integers(0, shape[1], size=n)
    amp = gen.uniform(0.5, 1.5, size=n)
    np.add.at(img, (rows, cols), amp)
    sigma = float(k["haze_sigma_px"])
    blob = ndi.gaussian_filter(img, sigma, mode="constant")
    return blob * (2 * math.pi * sigma * sigma) * k["haze_brightness"] * f_dim


def _saturated_cells(channels, labels, n, k):
    """Which cells reach the camera ceiling in some pixel of some frame (any channel)."""
    out = np.zeros(n, dtype=bool)
    top = min(np.iinfo(np.uint16).max, int(k["saturation_adu"]))
    if not n:
        return out
    for arr in channels.values():
        hit = (arr >= top).any(axis=0)
        if hit.any():
            out |= np.bincount(labels[hit], minlength=n + 1)[1:] > 0
    return out

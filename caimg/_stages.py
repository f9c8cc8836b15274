"""The stages of the pipeline, each a function testable alone.

:func:`caimg.pipeline.process_recording` calls them in order::

    check_inputs -> register_motion -> find_rois -> background -> extract -> signal
      -> score_rois -> measure -> tidy_traces -> provenance

Every stage takes the recording, the resolved config and what earlier stages made, and
writes what ``run.json`` reports about it into the one :class:`RunLog` of the run
(warnings with their classes, per-stage timings, per-stage info).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from ._plausibility import recording_where, warn_inverted, warn_no_rois
from ._provenance import fingerprint_in_background, versions
from ._segment_stage import saturated_fraction, segment_summary
from ._version import __version__
from .config import PipelineConfig, config_to_dict, kinetics_options
from .errors import ConfigError, RoiError, StackReadError
from .indicators import SignalOutput, get_indicator
from .recording import Recording
from .result import KINETICS_COLUMNS
from .signal_quality import background_noise, flag_low_signal

__all__ = ["RunLog", "versions", "check_inputs", "motion_channel", "register_motion",
           "find_rois", "background", "local_background", "extract", "signal", "score_rois",
           "measure", "tidy_traces", "fingerprint_in_background", "provenance"]


@dataclass
class RunLog:
    """What a run reports besides its tables: one object for every stage.

    Attributes
    ----------
    warnings : list of warnings.WarningMessage
        Every warning of the run, with its class (``message``, ``category``, ...).
    timings_s : dict of str to float
        Wall-clock seconds per stage.
    info : dict
        Per-stage provenance (``motion``, ``rois``, ``background``, ``signal``).
    """

    warnings: list[warnings.WarningMessage] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str):
        """Time the block as stage ``name`` (times of a repeated name add up)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings_s[name] = round(self.timings_s.get(name, 0.0)
                                         + time.perf_counter() - t0, 4)

    def warning_lines(self) -> list[str]:
        """``"Category: message"`` per distinct warning, in order (``run.json``).

        Returns
        -------
        list of str
        """
        out: list[str] = []
        for w in self.warnings:
            msg = f"{w.category.__name__}: {w.message}"
            if msg not in out:
                out.append(msg)
        return out


def _check_timing(rec: Recording, cfg: PipelineConfig, time_s: np.ndarray) -> None:
    stim = cfg.kinetics.stimulus_time_s
    where = recording_where(rec)
    if rec.n_frames < 3:
        raise StackReadError(f"{where}: {rec.n_frames} frame(s); expected a time series of at "
                             "least 3 frames")
    from ._plausibility import check_frame_interval, interval_origin

    check_frame_interval(rec.frame_interval_s, rec.n_frames, where=where,
                         source=rec.frame_interval_source)
    if stim is None:
        return
    if stim > time_s[-1]:
        raise ConfigError(f"{where}: stimulus_time_s = {stim} s is after the last frame "
                          f"({time_s[-1]:.3g} s); expected a time within the recording")
    n_before = int(np.count_nonzero(time_s < stim))
    if n_before < 2:
        raise ConfigError(f"{where}: only {n_before} frame(s) before the stimulus at {stim} s; "
                          "the baseline needs at least 2 (give a later stimulus time or a longer "
                          "recording)")
    window = cfg.kinetics.baseline_window_s
    if (cfg.signal.f0_mode in ("auto", "prestim")
            and not np.any((time_s >= stim - window) & (time_s < stim))):
        raise ConfigError(f"{where}: no frame lies in the kinetics.baseline_window_s = "
                          f"{window:g} s before the stimulus at {stim:g} s (--stimulus-time): "
                          f"{interval_origin(rec.frame_interval_source)} is "
                          f"{rec.frame_interval_s:g} s; expected a frame interval shorter "
                          "than the baseline window (check both are in seconds) or a longer "
                          "--set kinetics.baseline_window_s")
    if time_s[0] + cfg.kinetics.baseline_window_s > stim:
        warnings.warn(f"{rec.name}: only {stim - time_s[0]:.3g} s before the stimulus, shorter "
                      f"than baseline_window_s = {cfg.kinetics.baseline_window_s} s; the baseline "
                      "uses what there is", UserWarning, stacklevel=4)


def check_inputs(rec: Recording, cfg: PipelineConfig, log: RunLog) -> np.ndarray:
    """Check that the recording fits the recipe.

    Parameters
    ----------
    rec : Recording
    cfg : PipelineConfig
        The resolved recipe.
    log : RunLog
        The run's log; this stage adds its timing and info.

    Returns
    -------
    time_s : ndarray, (T,)
        Frame times in seconds.

    Raises
    ------
    StackReadError, ConfigError
        Missing channels or frame interval, too few frames, a stimulus outside the
        recording; :func:`caimg.validate.check_recording` for unusable data.
    """
    from .validate import check_recording

    need = set(get_indicator(cfg.indicator).channels)
    if not need <= set(rec.channels):
        raise StackReadError(
            f"{recording_where(rec)}: the '{cfg.name}' recipe ({cfg.indicator}) needs "
            f"channels {sorted(need)}, the recording has {sorted(rec.channels)}; choose the "
            f"pipeline that fits (--pipeline fura2|fluo4) or set the layout (--layout)")
    if rec.frame_interval_s is None:
        raise StackReadError(f"{rec.name}: no frame interval; pass --frame-interval SECONDS "
                             "or set input.frame_interval_s in the recipe")
    time_s = rec.time_s()
    _check_timing(rec, cfg, time_s)
    with log.stage("check"):
        dropped = check_recording(rec, indicator=cfg.indicator)
    log.info["dropped_frames"] = [int(i) for i in np.flatnonzero(dropped)]
    return time_s


def motion_channel(rec: Recording, cfg: PipelineConfig) -> str:
    """The channel motion is estimated on (``motion.channel``, or the indicator's).

    Parameters
    ----------
    rec : Recording
    cfg : PipelineConfig
        The resolved recipe.

    Returns
    -------
    str
    """
    mc = cfg.motion
    channel = mc.channel if mc.channel != "auto" else get_indicator(cfg.indicator).motion_channel
    if channel not in rec.channels:
        raise ConfigError(f"motion.channel = '{channel}' is not a channel of "
                          f"{rec.name} (channels: {sorted(rec.channels)})")
    return channel


def register_motion(rec: Recording, cfg: PipelineConfig, log: RunLog):
    """Rigid motion correction (:func:`caimg.motion.register`) of the motion channel.

    Parameters
    ----------
    rec : Recording
    cfg : PipelineConfig
        The resolved recipe.
    log : RunLog
        The run's log; this stage adds its timing and info.

    Returns
    -------
    caimg.motion.Registration
        Shifts (T, 2) and the summary images of the registered channel.
    """
    from .motion import register

    mc = cfg.motion
    channel = motion_channel(rec, cfg)
    with log.stage("register"):
        reg = register(rec.channels[channel], enabled=mc.enabled,
                       upsample_factor=mc.upsample_factor, max_shift_px=mc.max_shift_px,
                       reference_frames=mc.reference_frames,
                       reference_iterations=mc.reference_iterations, crop_px=mc.crop_px)
    shifts = reg.shifts
    log.info["motion"] = {
        "enabled": mc.enabled, "channel": channel,
        "max_abs_shift_px": float(np.abs(shifts).max(initial=0.0)),
        "median_abs_shift_px": float(np.median(np.abs(shifts))) if len(shifts) else 0.0}
    return reg


def find_rois(rec: Recording, cfg: PipelineConfig, summary, labels=None,
              roi_source: str | None = None, *, log: RunLog | None = None
              ) -> tuple[np.ndarray, str]:
    """ROIs: given labels, a ROI file from the recipe, or segmentation of ``summary``.

    Parameters
    ----------
    rec : Recording
    cfg : PipelineConfig
        The resolved recipe.
    summary : caimg.motion.SummaryImages
        Summary images of the registered motion channel (what segmentation sees).
    labels : ndarray, (Y, X) int, optional
        ROIs to use as given.
    roi_source : str, optional
        ``source`` value to report instead of the automatic one.
    log : RunLog, optional
        The run's log; this stage adds ``info["segment"]``: how the ROIs were made (the
        method and the cell diameter used, with where it came from; or the ROI file with
        its SHA-256).

    Returns
    -------
    labels : ndarray, (Y, X) int
    source : str
        ``"imported"``, ``"auto"`` or ``roi_source`` when given.
    """
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != rec.shape[1:]:
            raise RoiError(f"{rec.name}: ROI label image has shape {labels.shape}, the recording "
                           f"frames are {rec.shape[1:]}; expected the same (rows, columns)")
        lab, source = labels.astype(np.int32, copy=False), "imported"
        info = {"rois_from": "given labels"}
    elif cfg.segment.rois_file:
        from .io.result import file_fingerprint
        from .io.rois import read_rois

        lab, source = read_rois(cfg.segment.rois_file, rec.shape[1:]), "imported"
        fp = file_fingerprint(cfg.segment.rois_file)
        info = {"rois_from": "file", "rois_file": fp["path"], "rois_file_sha256": fp["sha256"]}
    else:
        lab, info = segment_summary(rec, cfg, summary)
        source = "auto"
        warn_inverted(rec, summary)
    if log is not None:
        log.info["segment"] = info
    if not lab.any():
        warn_no_rois(rec, cfg, source)
    return lab, roi_source or source


def background(rec: Recording, cfg: PipelineConfig, labels, log: RunLog):
    """The background mask; how background is taken goes to ``log.info["background"]``.

    Parameters
    ----------
    rec : Recording
    cfg : PipelineConfig
        The resolved recipe.
    labels : ndarray, (Y, X) int
    log : RunLog
        The run's log; this stage adds its timing and info.

    Returns
    -------
    ndarray, (Y, X) bool, or None
        None for the ``constant`` and ``none`` methods.
    """
    from .traces import background_mask

    bc = cfg.background
    mask = None
    if bc.method in ("auto", "annulus"):  # annulus: the fallback (docs/background.md)
        mask = background_mask(labels, dilation_px=bc.dilation_px)
        info = {"method": bc.method, "dilation_px": bc.dilation_px,
                "percentile": bc.percentile, "n_pixels": int(mask.sum())}
    elif bc.method == "roi":
        from .io.rois import read_rois

        mask = read_rois(bc.roi_file, rec.shape[1:]) > 0
        info = {"method": "roi", "roi_file": bc.roi_file, "n_pixels": int(mask.sum())}
    elif bc.method == "constant":
        missing = set(rec.channels) - set(bc.constant)
        if missing:
            raise ConfigError(f"background.method = 'constant' needs background.constant for "
                              f"channels {sorted(missing)}, e.g. {{ {sorted(missing)[0]} = 100 }}")
        info = {"method": "constant", "values": dict(bc.constant)}
    else:
        info = {"method": "none"}
    if bc.method != "annulus":  # the ring stage measures its own (local_background)
        info["noise_sd"] = background_noise(rec, labels, mask,
                                            dropped_frames=log.info.get("dropped_frames"))
    log.info["background"] = info
    return mask


def local_background(rec: Recording, cfg: PipelineConfig, labels, max_image, log: RunLog,
                     bg_mask=None):
    """The rings of ``background.method = "annulus"`` (:func:`caimg.annulus.recipe_annuli`);
    ``bg_mask``: the global background's pixels (their noise decides the ring's fallback).
    """
    from .annulus import recipe_annuli

    rings, info = recipe_annuli(rec, labels, cfg.background, max_image=max_image,
                                dropped_frames=log.info.get("dropped_frames"),
                                global_mask=bg_mask)
    log.info["background"].update(info)
    return rings


def extract(rec: Recording, cfg: PipelineConfig, labels, shifts, bg_mask, *, annuli=None,
            log: RunLog | None = None) -> dict:
    """Per-channel ROI means (of each ROI's :func:`caimg.traces.neighbour_core`) and
    background (:func:`caimg.traces.extract_traces`).

    Parameters
    ----------
    rec : Recording
    cfg : PipelineConfig
        The resolved recipe.
    labels : ndarray, (Y, X) int
    shifts : ndarray, (T, 2) or None
        Motion-correction shifts applied to each frame.
    bg_mask : ndarray, (Y, X) bool, or None
    annuli : caimg.annulus.Annuli, optional
        From :func:`local_background`: a ring background per ROI, frame and channel.
    log : RunLog, optional
        Gets the neighbour-core figures under ``background`` (docs/background.md).

    Returns
    -------
    dict of str to caimg.traces.Traces
    """
    from .traces import extract_traces, neighbour_core

    gap = cfg.background.neighbour_gap_px
    core, whole = neighbour_core(labels, gap_px=gap)
    if log is not None:
        n_trim = np.unique(labels[(core == 0) & (labels != 0)]).size
        log.info.setdefault("background", {}).update(
            neighbour_gap_px=gap, n_rois_trimmed=n_trim, kept_whole_rois=whole.tolist())
    return {ch: extract_traces(rec.channels[ch], core, shifts=shifts, background=bg_mask,
                               background_percentile=cfg.background.percentile, annuli=annuli)
            for ch in rec.channels}


def signal(cfg: PipelineConfig, raw: Mapping, time_s, roi_ids, log: RunLog) -> SignalOutput:
    """Background-subtract the channel means, then the indicator's registered signal step,
    then flag the ROIs with no baseline above the background noise.

    Parameters
    ----------
    cfg : PipelineConfig
    raw : mapping of str to caimg.traces.Traces
        From :func:`extract`.
    time_s : ndarray, (T,)
    roi_ids : ndarray, (R,)
    log : RunLog
        The run's log; this stage adds its timing and info.

    Returns
    -------
    caimg.indicators.SignalOutput
        With ``low_signal`` (R,): a ROI whose background-subtracted baseline (F0 of each
        of the indicator's channels, as :func:`caimg.signals.compute_f0` gives it) is below
        ``signal.low_signal_k`` x that channel's background noise SD
        (``log.info["background"]["noise_sd"]``, from
        :func:`caimg.signal_quality.background_noise`; without
        it only a baseline at or below zero counts). Such ROIs keep their channel columns
        and ``f0``; every derived column (dF/F0, ratio, R/R0, [Ca2+]) is NaN.
    """
    from .signal_quality import background_subtracted

    ind = get_indicator(cfg.indicator)
    if ind.check is not None:  # strictly now that the recording's indicator is known
        ind.check(cfg)
    bg_info = log.info.setdefault("background", {})
    noise = bg_info.get("noise_sd", {})
    means, ring_not_below = background_subtracted(
        raw, time_s, config=cfg, dropped_frames=log.info.get("dropped_frames"), noise=noise,
        global_noise=bg_info.get("global_noise_sd", {}))
    if ring_not_below is not None:
        bg_info["ring_not_below_cell_rois"] = [
            int(r) for r in np.asarray(roi_ids)[ring_not_below]]
    out = ind.signal(means, time_s, roi_ids, cfg)
    out = flag_low_signal(out, means, time_s, roi_ids=roi_ids, config=cfg, noise=noise)
    stim = cfg.kinetics.stimulus_time_s
    f0_mode = cfg.signal.f0_mode
    log.info["signal"] = {"f0_mode": f0_mode if f0_mode != "auto" else
                          ("prestim" if stim is not None else "percentile"), **out.info}
    return out


def score_rois(rec: Recording, cfg: PipelineConfig, summary, labels, roi_ids, source,
               trace, bg_mask, roi_overrides=None, *, low_signal=None) -> pd.DataFrame:
    """The ROI table: measure every ROI, accept by the recipe's ``[rois]`` rules, then
    apply per-ROI overrides (``accepted``, ``source``) from a review.

    Parameters
    ----------
    rec : Recording
    cfg : PipelineConfig
        The resolved recipe.
    summary : caimg.motion.SummaryImages
        Mean (intensities) and max (saturation) projections.
    labels : ndarray, (Y, X) int
    roi_ids : ndarray, (R,)
    source : str
    trace : ndarray, (T, R)
        The signal kinetics are measured on (gives ``snr``).
    bg_mask : ndarray, (Y, X) bool, or None
    roi_overrides : mapping of int to mapping, optional
    low_signal : ndarray, (R,) bool, optional
        From the signal stage (:attr:`caimg.indicators.SignalOutput.low_signal`). A
        flagged ROI gets ``low_signal = True``, ``accepted = False`` and ``reject_reason``
        "low signal": its dF/F0 or ratio is not a measurement, and leaving it in the
        kinetics would count it as a non-responder. A reviewer's override may accept it
        again (its kinetics row is then NaN).

    Returns
    -------
    DataFrame
        ``rois.csv``.
    """
    from .rois import roi_table

    rc = cfg.rois
    sat = saturated_fraction(summary.max, labels, roi_ids, rec.dtype)
    rois = roi_table(labels, summary.mean, source=source, pixel_size_um=rec.pixel_size_um,
                     signal=trace, saturated_fraction=sat, background=bg_mask,
                     accept_min_area_px=rc.accept_min_area_px,
                     max_aspect_ratio=rc.max_aspect_ratio, min_contrast=rc.min_contrast,
                     min_snr_no_contrast=rc.min_snr_no_contrast)
    if low_signal is not None and len(rois):
        flag = rois["roi"].map(pd.Series(np.asarray(low_signal, dtype=bool),
                                         index=np.asarray(roi_ids))).fillna(False).astype(bool)
        rois["low_signal"] = flag
        rois.loc[flag, "accepted"] = False
        reason = rois.loc[flag, "reject_reason"].astype(str)
        rois.loc[flag, "reject_reason"] = reason.where(reason == "", reason + ";") + "low signal"
    for roi, changes in (roi_overrides or {}).items():
        unknown = set(changes) - {"accepted", "source"}
        if unknown:
            raise ConfigError(f"roi_overrides for ROI {roi}: unknown column(s) "
                              f"{sorted(unknown)}; expected 'accepted' and/or 'source'")
        hit = rois["roi"] == roi
        for col, value in changes.items():
            rois.loc[hit, col] = value
    return rois


def measure(rec: Recording, cfg: PipelineConfig, trace, time_s, roi_ids, rois: pd.DataFrame,
            *, dropped_frames=None):
    """Kinetics of the accepted ROIs, event counts (``events = "all"``) and treatments.

    Parameters
    ----------
    rec : Recording
    cfg : PipelineConfig
        The resolved recipe.
    trace : ndarray, (T, R)
        The signal kinetics are measured on.
    time_s : ndarray, (T,)
    roi_ids : ndarray, (R,)
    rois : DataFrame
        The ROI table; its ``accepted`` column selects the ROIs.
    dropped_frames : sequence of int, optional
        Frames left out of kinetics and treatments, with their times (so times stay true).

    Returns
    -------
    kinetics : DataFrame
    rois : DataFrame
        ``rois`` with ``n_events`` and ``event_frequency_hz`` when events are counted.
    treatments : DataFrame or None
    """
    from .batch import event_summary
    from .kinetics import measure_kinetics, measure_treatments

    kc = cfg.kinetics
    accepted = rois.loc[rois["accepted"].astype(bool), "roi"].to_numpy()
    keep = np.isin(roi_ids, accepted)
    duration_s = float(time_s[-1] - time_s[0] + rec.frame_interval_s)
    if dropped_frames:
        good = np.ones(len(time_s), dtype=bool)
        good[list(dropped_frames)] = False
        trace, time_s = trace[good], time_s[good]
    kin = measure_kinetics(trace[:, keep], time_s, roi_ids=roi_ids[keep],
                           **kinetics_options(kc))
    kin = kin.loc[:, list(KINETICS_COLUMNS)]
    if kc.events == "all":
        freq = event_summary(kin, duration_s)
        rois = rois.merge(freq, on="roi", how="left")
    treatments = None
    if kc.treatments:
        from ._plausibility import treatment_problem

        for name, tk in kc.treatments.items():
            msg = treatment_problem(name, tk, float(time_s[0]), float(time_s[-1]),
                                    kc.baseline_window_s, where=recording_where(rec))
            if msg:
                warnings.warn(msg, UserWarning, stacklevel=2)
        treatments = measure_treatments(trace[:, keep], time_s, dict(kc.treatments),
                                        roi_ids=roi_ids[keep],
                                        baseline_window_s=kc.baseline_window_s,
                                        window_s=kc.treatment_window_s,
                                        responder_k=kc.responder_k)
    return kin, rois, treatments


def tidy_traces(roi_ids, time_s, columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The tidy traces table: :data:`caimg.result.TRACE_COLUMNS`, then ``columns`` in order.

    Built directly in (roi, frame) order: each column is written once into its final
    array (no sort, no transposed or float64 temporaries of the (T, R) signals).

    Parameters
    ----------
    roi_ids : array_like of int, (R,)
    time_s : array_like, (T,)
    columns : mapping of str to ndarray, each (T, R)

    Returns
    -------
    DataFrame
    """
    T, R = len(time_s), len(roi_ids)
    ids = np.asarray(roi_ids, dtype=np.int64)
    order = np.argsort(ids, kind="stable")  # roi_ids come sorted; keep the contract anyway
    sorted_ids = bool(np.all(order == np.arange(R)))
    data = {"roi": np.repeat(ids[order], T),
            "frame": np.tile(np.arange(T, dtype=np.int64), R),
            "time_s": np.tile(np.asarray(time_s, dtype=float), R)}
    for name, values in columns.items():
        wide = np.asarray(values).reshape(T, R)
        out = np.empty(T * R)
        out.reshape(R, T)[...] = wide.T if sorted_ids else wide.T[order]
        data[name] = out
    return pd.DataFrame(data, copy=False)


def provenance(rec: Recording, cfg: PipelineConfig, log: RunLog, *, inputs,
               n_responders: int) -> dict:
    """The ``run.json`` content (without the config, which the writer adds).

    Parameters
    ----------
    rec : Recording
    cfg : PipelineConfig
    log : RunLog
        With ``info`` of the stages ``motion``, ``rois``, ``background`` and ``signal``.
    inputs : list of dict
        Input file fingerprints.
    n_responders : int

    Returns
    -------
    dict
    """
    return {
        "caimg_version": __version__,
        "versions": versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "recording": rec.name,
        "inputs": inputs,
        "layout": rec.layout,
        "channels": list(rec.channels),
        "shape": list(rec.shape),
        "dtype": str(rec.dtype),
        "frame_interval_s": rec.frame_interval_s,
        "frame_interval_source": rec.frame_interval_source,
        "time_source": rec.time_source,
        "pixel_size_um": rec.pixel_size_um,
        "stimulus_time_s": cfg.kinetics.stimulus_time_s,
        "dropped_frames": log.info.get("dropped_frames", []),
        "motion": log.info["motion"],
        "segment": log.info.get("segment"),
        "rois": {**log.info["rois"], "accept_rules": config_to_dict(cfg.rois)},
        "background": log.info["background"],
        "signal": log.info["signal"],
        "n_responders": n_responders,
        "warnings": log.warning_lines(),
        "timings_s": log.timings_s,
    }

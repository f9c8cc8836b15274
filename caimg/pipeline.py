"""The pipeline: an ordered, visible list of steps from a :class:`Recording` to a :class:`Result`.

::

    read -> register -> segment (or import ROIs) -> background -> extract -> signal -> kinetics

Each step is a public function of the core on arrays; this module only wires them together
in the order above, times them and records provenance. It holds no science of its own.
"""

from __future__ import annotations

import logging
import platform
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ._version import __version__
from .config import PipelineConfig, config_to_dict, load_pipeline
from .errors import ConfigError, StackReadError
from .recording import Recording
from .result import KINETICS_COLUMNS, Result, trace_columns

__all__ = ["run", "process_recording", "resolve_pipeline", "read_for_pipeline", "versions"]

log = logging.getLogger("caimg")


def versions() -> dict[str, str]:
    """Versions of caimg and the libraries that decide its numbers."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"caimg": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "scipy", "scikit-image", "tifffile", "pandas", "roifile", "numba"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


@dataclass
class _Stages:
    """Per-stage wall-clock timings."""

    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, name):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - t0, 4)


def resolve_pipeline(pipeline: str | Path | PipelineConfig, recording: Recording | None = None,
                     overrides: Mapping[str, Any] | None = None) -> PipelineConfig:
    """The recipe for a recording. ``"auto"`` picks ``fura2`` for recordings with
    ``f340``/``f380`` channels and ``fluo4`` for a single channel."""
    if isinstance(pipeline, str) and pipeline == "auto":
        if recording is None:
            raise ConfigError("pipeline 'auto' needs a recording to choose fura2 or fluo4")
        pipeline = "fura2" if {"f340", "f380"} <= set(recording.channels) else "fluo4"
    return load_pipeline(pipeline, overrides)


def read_for_pipeline(paths, pipeline: str | Path | PipelineConfig = "auto",
                      overrides: Mapping[str, Any] | None = None) -> tuple[Recording, PipelineConfig]:
    """Read a recording with the recipe's input settings and resolve the recipe for it."""
    from .io.read import read_options, read_recording

    base = "fura2" if pipeline == "auto" else pipeline
    inp = load_pipeline(base, overrides).input
    rec = read_recording(paths, **read_options(inp))
    cfg = resolve_pipeline(pipeline, rec, overrides)
    return rec, cfg


def run(path, pipeline: str | Path | PipelineConfig = "auto", *, out: str | Path | None = None,
        **overrides) -> Result:
    """Run the whole pipeline on one recording.

    Parameters
    ----------
    path : str, Path, tuple of two paths, or Recording
        A stack file, a ``(*_340.tif, *_380.tif)`` pair, or an already read :class:`Recording`.
    pipeline : str, Path or PipelineConfig
        ``"fura2"``, ``"fluo4"``, a recipe file, a config, or ``"auto"`` (by channel count).
    out : path, optional
        When given, the result folder is written to ``out/<recording name>/``.
    **overrides
        Recipe overrides: shortcuts (``frame_interval_s``, ``stimulus_time_s``, ``layout``,
        ``pixel_size_um``, ``rois_file``, ``segment_method``), sections as dicts
        (``kinetics={"responder_k": 3}``) or dotted keys via ``**{"kinetics.responder_k": 3}``.

    Returns
    -------
    Result

    Examples
    --------
    >>> import caimg  # doctest: +SKIP
    >>> res = caimg.run("example_stacks/fluo4_cells.tif", pipeline="fluo4")  # doctest: +SKIP
    >>> res.kinetics[["roi", "amplitude", "decay_tau_s"]].head()  # doctest: +SKIP
    """
    if isinstance(path, Recording):
        rec = path
        cfg = resolve_pipeline(pipeline, rec, overrides)
    else:
        if isinstance(path, (str, Path)) and Path(path).is_dir():
            raise StackReadError(f"{path} is a folder; caimg.run takes one recording. Use "
                                 "caimg.run_batch(folder, out=...) or `caimg run FOLDER --out DIR`")
        rec, cfg = read_for_pipeline(path, pipeline, overrides)
    result = process_recording(rec, cfg)
    if out is not None:
        from .io.result import save_result

        result = result.replace(folder=save_result(result, out))
    return result


def _check_channels(rec: Recording, cfg: PipelineConfig) -> None:
    need = {"fura2": {"f340", "f380"}, "fluo4": {"f"}}[cfg.indicator]
    if not need <= set(rec.channels):
        where = ", ".join(str(p) for p in rec.source) or rec.name
        raise StackReadError(
            f"{where}: the '{cfg.name}' recipe ({cfg.indicator}) needs channels {sorted(need)}, "
            f"the recording has {sorted(rec.channels)}; choose the pipeline that fits "
            f"(--pipeline fura2|fluo4) or set the layout (--layout)")


def _check_timing(rec: Recording, cfg: PipelineConfig, time_s: np.ndarray) -> None:
    stim = cfg.kinetics.stimulus_time_s
    where = ", ".join(str(p) for p in rec.source) or rec.name
    if rec.n_frames < 3:
        raise StackReadError(f"{where}: {rec.n_frames} frame(s); expected a time series of at "
                             "least 3 frames")
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
    if time_s[0] + cfg.kinetics.baseline_window_s > stim:
        warnings.warn(f"{rec.name}: only {stim - time_s[0]:.3g} s before the stimulus, shorter "
                      f"than baseline_window_s = {cfg.kinetics.baseline_window_s} s; the baseline "
                      "uses what there is", UserWarning, stacklevel=3)


def _labels_for(rec, cfg, summary, labels):
    """ROIs: given labels, a ROI file from the recipe, or segmentation."""
    from .segmentation import segment

    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != rec.shape[1:]:
            from .errors import RoiError

            raise RoiError(f"{rec.name}: ROI label image has shape {labels.shape}, the recording "
                           f"frames are {rec.shape[1:]}; expected the same (rows, columns)")
        return labels.astype(np.int32, copy=False), "imported"
    sc = cfg.segment
    if sc.rois_file:
        from .rois import read_rois

        return read_rois(sc.rois_file, rec.shape[1:]), "imported"
    lab = segment(summary, method=sc.method, cell_diameter_px=sc.cell_diameter_px,
                  cell_diameter_um=sc.cell_diameter_um, pixel_size_um=rec.pixel_size_um,
                  min_area_px=sc.min_area_px, max_area_px=sc.max_area_px, **dict(sc.params))
    return lab, "auto"


def _background(rec, cfg, labels):
    """The background mask (or None) and a provenance record of how background is taken."""
    from .traces import background_mask

    bc = cfg.background
    if bc.method == "auto":
        mask = background_mask(labels, bc.dilation_px)
        return mask, {"method": "auto", "dilation_px": bc.dilation_px,
                      "percentile": bc.percentile, "n_pixels": int(mask.sum())}
    if bc.method == "roi":
        if not bc.roi_file:
            raise ConfigError("background.method = 'roi' needs background.roi_file (an ImageJ "
                              "ROI or mask TIFF marking background)")
        from .rois import read_rois

        mask = read_rois(bc.roi_file, rec.shape[1:]) > 0
        return mask, {"method": "roi", "roi_file": bc.roi_file, "n_pixels": int(mask.sum())}
    if bc.method == "constant":
        missing = set(rec.channels) - set(bc.constant)
        if missing:
            raise ConfigError(f"background.method = 'constant' needs background.constant for "
                              f"channels {sorted(missing)}, e.g. {{ {sorted(missing)[0]} = 100 }}")
        return None, {"method": "constant", "values": dict(bc.constant)}
    return None, {"method": "none"}


def _saturated_fraction(max_image, labels, roi_ids, dtype):
    if not np.issubdtype(dtype, np.integer) or len(roi_ids) == 0:
        return np.zeros(len(roi_ids))
    sat = max_image >= np.iinfo(dtype).max
    counts = np.bincount(labels.ravel(), weights=sat.ravel(), minlength=int(roi_ids.max()) + 1)
    areas = np.bincount(labels.ravel(), minlength=int(roi_ids.max()) + 1)
    return counts[roi_ids] / np.maximum(areas[roi_ids], 1)


def _fingerprints(paths) -> list[dict]:
    from .io.result import file_fingerprint

    inputs = []
    for p in paths:
        try:
            inputs.append(file_fingerprint(p))
        except OSError:
            inputs.append({"path": str(p)})
    return inputs


def _fingerprint_in_background(paths, preload_plotting=False):
    """A future of the input fingerprints (size, mtime, SHA-256), computed in its own thread.

    With ``preload_plotting`` the thread first imports what ``overview.png`` needs
    (matplotlib, about 1 s), so that import also overlaps the single-threaded steps.
    """
    from concurrent.futures import Future
    import threading

    fut: Future = Future()

    def work():
        if preload_plotting:
            try:
                import matplotlib.backends.backend_agg  # noqa: F401
                import matplotlib.figure  # noqa: F401
                import skimage.segmentation  # noqa: F401
            except Exception:  # noqa: BLE001 - only a head start; save_result imports again
                pass
        try:
            fut.set_result(_fingerprints(paths))
        except BaseException as exc:  # noqa: BLE001 - re-raised by fut.result()
            fut.set_exception(exc)

    threading.Thread(target=work, name="caimg-fingerprint", daemon=True).start()
    return fut


def _tidy_traces(roi_ids, time_s, columns: dict[str, np.ndarray],
                 names: Sequence[str]) -> pd.DataFrame:
    """The tidy traces table with columns ``names`` (in that order), built directly in
    (roi, frame) order: each column is written once into its final array (no sort, no
    transposed or float64 temporaries of the (T, R) signals)."""
    T, R = len(time_s), len(roi_ids)
    ids = np.asarray(roi_ids, dtype=np.int64)
    order = np.argsort(ids, kind="stable")  # roi_ids come sorted; keep the contract anyway
    sorted_ids = bool(np.all(order == np.arange(R)))
    data = {}
    for name in names:
        if name == "roi":
            data[name] = np.repeat(ids[order], T)
        elif name == "frame":
            data[name] = np.tile(np.arange(T, dtype=np.int64), R)
        elif name == "time_s":
            data[name] = np.tile(np.asarray(time_s, dtype=float), R)
        else:
            wide = np.asarray(columns[name]).reshape(T, R)
            out = np.empty(T * R)
            out.reshape(R, T)[...] = wide.T if sorted_ids else wide.T[order]
            data[name] = out
    return pd.DataFrame(data, copy=False)


def process_recording(recording: Recording, config: PipelineConfig | str = "auto", *,
                      labels: np.ndarray | None = None, roi_source: str | None = None,
                      roi_overrides: Mapping[int, Mapping[str, Any]] | None = None) -> Result:
    """Run every step on an already read recording.

    Parameters
    ----------
    recording : Recording
    config : PipelineConfig or str
        A resolved config, or a recipe name / ``"auto"``.
    labels : ndarray, (Y, X) int, optional
        ROIs to use instead of segmentation (e.g. edited in napari); ids are kept.
    roi_source : str, optional
        Value of the ``source`` column for given labels (default ``"imported"``).
    roi_overrides : mapping of int to mapping, optional
        Per-ROI decisions that win over the automatic ones, e.g.
        ``{7: {"accepted": False}, 12: {"source": "edited"}}`` (columns ``accepted``,
        ``source``). This is how reviewed ROIs are re-measured.

    Returns
    -------
    Result
    """
    from .kinetics import event_summary, kinetics_options, measure_kinetics, measure_treatments
    from .motion import register
    from .rois import roi_table
    from .signals import (calibration_flags, compute_f0, dff, fluo_calcium, fura2_ratio,
                          fura2_ratio_flags, grynkiewicz, ratio_over_r0, subtract_background)
    from .traces import extract_traces
    from .validate import check_recording

    cfg = config if isinstance(config, PipelineConfig) else resolve_pipeline(config, recording)
    rec = recording
    stage = _Stages()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        _check_channels(rec, cfg)
        if rec.frame_interval_s is None:
            raise StackReadError(f"{rec.name}: no frame interval; pass --frame-interval SECONDS "
                                 "or set input.frame_interval_s in the recipe")
        time_s = rec.time_s()
        _check_timing(rec, cfg, time_s)
        with stage("check"):
            check_recording(rec, indicator=cfg.indicator)

        mc = cfg.motion
        motion_channel = mc.channel if mc.channel != "auto" else (
            "f380" if cfg.indicator == "fura2" else "f")
        if motion_channel not in rec.channels:
            raise ConfigError(f"motion.channel = '{motion_channel}' is not a channel of "
                              f"{rec.name} (channels: {sorted(rec.channels)})")
        with stage("register"):
            reg = register(rec.channels[motion_channel], enabled=mc.enabled,
                           upsample_factor=mc.upsample_factor, max_shift_px=mc.max_shift_px,
                           reference_frames=mc.reference_frames,
                           reference_iterations=mc.reference_iterations, crop_px=mc.crop_px)
        # the SHA-256 of the input (1 GiB: ~0.6 s) runs beside the single-threaded steps
        # that follow; hashlib releases the GIL
        fingerprints = _fingerprint_in_background(rec.source, cfg.output.overview_png)
        with stage("segment"):
            labels, source = _labels_for(rec, cfg, reg.summary, labels)
            if roi_source:
                source = roi_source
            bg_mask, bg_info = _background(rec, cfg, labels)

        with stage("extract"):
            raw = {}
            for ch in rec.channels:
                tr = extract_traces(rec.channels[ch], labels, shifts=reg.shifts,
                                    background=bg_mask,
                                    background_percentile=cfg.background.percentile)
                raw[ch] = tr
            roi_ids = next(iter(raw.values())).roi_ids

        def _bg(ch):
            if cfg.background.method == "constant":
                return float(cfg.background.constant[ch])
            if cfg.background.method == "none":
                return 0.0
            return raw[ch].background

        with stage("signal"):
            sc = cfg.signal
            cal = sc.calibration
            stim = cfg.kinetics.stimulus_time_s
            f0_kw = dict(mode=sc.f0_mode, stimulus_time_s=stim,
                         baseline_window_s=cfg.kinetics.baseline_window_s,
                         percentile=sc.f0_percentile, window_s=sc.f0_window_s)
            signal_info = {"f0_mode": sc.f0_mode if sc.f0_mode != "auto" else
                           ("prestim" if stim is not None else "percentile")}
            if cfg.indicator == "fura2":
                f340 = subtract_background(raw["f340"].means, _bg("f340"))
                f380 = subtract_background(raw["f380"].means, _bg("f380"))
                ratio = fura2_ratio(f340, f380, min_denominator=sc.min_denominator)
                bad = fura2_ratio_flags(f340, f380, min_denominator=sc.min_denominator)
                r_r0, dr_r0 = ratio_over_r0(ratio, compute_f0(ratio, time_s, **f0_kw))
                columns = {"f340": f340, "f380": f380, "ratio": ratio, "r_r0": r_r0,
                           "dr_r0": dr_r0}
                signal_info["nan_ratio_samples"] = int(bad.sum())
                signal_info["rois_with_nan_ratio"] = [int(r) for r in roi_ids[bad.any(axis=0)]]
                if cal.enabled:
                    _need(cal, ("rmin", "rmax"), "Fura-2")
                    if cal.keff_nM is None and cal.beta is None:
                        raise ConfigError("signal.calibration needs beta (with kd_nM) or keff_nM "
                                          "for Fura-2 calibration")
                    columns["ca_nM"] = grynkiewicz(ratio, rmin=cal.rmin, rmax=cal.rmax,
                                                   kd_nM=cal.kd_nM, beta=cal.beta,
                                                   keff_nM=cal.keff_nM)
                    out = calibration_flags(ratio, lo=cal.rmin, hi=cal.rmax)
                signal = ratio
            else:
                f = subtract_background(raw["f"].means, _bg("f"))
                f0 = compute_f0(f, time_s, **f0_kw)
                d = dff(f, f0)
                columns = {"f": f, "f0": f0, "dff": d}
                if cal.enabled:
                    _need(cal, ("fmin", "fmax"), "single-wavelength")
                    columns["ca_nM"] = fluo_calcium(f, kd_nM=cal.kd_nM, fmin=cal.fmin,
                                                    fmax=cal.fmax)
                    out = calibration_flags(f, lo=cal.fmin, hi=cal.fmax)
                signal = d
            if cal.enabled:
                signal_info["calibration"] = {k: getattr(cal, k) for k in
                                              ("kd_nM", "rmin", "rmax", "beta", "keff_nM",
                                               "fmin", "fmax")}
                signal_info["calibration_out_of_range_samples"] = int(out.sum())

        with stage("rois"):
            mean_img = reg.summary.mean
            sat = _saturated_fraction(reg.summary.max, labels, roi_ids, rec.dtype)
            rois = roi_table(labels, mean_img, source=source, pixel_size_um=rec.pixel_size_um,
                             signal=signal, saturated_fraction=sat,
                             background=bg_mask)
            for roi, changes in (roi_overrides or {}).items():
                unknown = set(changes) - {"accepted", "source"}
                if unknown:
                    raise ConfigError(f"roi_overrides for ROI {roi}: unknown column(s) "
                                      f"{sorted(unknown)}; expected 'accepted' and/or 'source'")
                hit = rois["roi"] == roi
                for col, value in changes.items():
                    rois.loc[hit, col] = value
            accepted = rois.loc[rois["accepted"].astype(bool), "roi"].to_numpy()

        with stage("kinetics"):
            kc = cfg.kinetics
            keep = np.isin(roi_ids, accepted)
            kin = measure_kinetics(signal[:, keep], time_s, roi_ids=roi_ids[keep],
                                   **kinetics_options(cfg))
            kin = kin.loc[:, list(KINETICS_COLUMNS)]
            if kc.events == "all":
                freq = event_summary(kin, float(time_s[-1] - time_s[0] + rec.frame_interval_s))
                rois = rois.merge(freq, on="roi", how="left")
            treatments = None
            if kc.treatments:
                treatments = measure_treatments(signal[:, keep], time_s, dict(kc.treatments),
                                                roi_ids=roi_ids[keep],
                                                baseline_window_s=kc.baseline_window_s,
                                                window_s=kc.treatment_window_s,
                                                responder_k=kc.responder_k)

        with stage("tables"):
            traces = _tidy_traces(roi_ids, time_s, columns,
                                  list(trace_columns(cfg.indicator, "ca_nM" in columns)))
            del raw, columns

    warn_msgs = []
    for w in caught:
        msg = f"{w.category.__name__}: {w.message}"
        if msg not in warn_msgs:
            warn_msgs.append(msg)
    inputs = fingerprints.result()
    shifts = reg.shifts
    prov = {
        "caimg_version": __version__,
        "versions": versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
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
        "motion": {"enabled": cfg.motion.enabled, "channel": motion_channel,
                   "max_abs_shift_px": float(np.abs(shifts).max(initial=0.0)),
                   "median_abs_shift_px": float(np.median(np.abs(shifts))) if len(shifts) else 0.0},
        "rois": {"source": source, "n_rois": int(len(roi_ids)),
                 "n_accepted": int(len(accepted)),
                 "method": cfg.segment.method if source == "auto" else None},
        "background": bg_info,
        "signal": signal_info,
        "n_responders": int(kin["responder"].astype(bool).sum()) if len(kin) else 0,
        "warnings": warn_msgs,
        "timings_s": stage.timings,
    }
    for w in caught:  # data-quality warnings reach the caller too (and run.json above)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return Result(name=rec.name, labels=labels, rois=rois, traces=traces, kinetics=kin,
                  config=cfg, provenance=prov, shifts=shifts, projection=reg.summary.mean,
                  background_mask=bg_mask, treatments=treatments)


def _need(cal, keys, what):
    missing = [k for k in keys if getattr(cal, k) is None]
    if missing:
        raise ConfigError(f"signal.calibration is enabled but {', '.join(missing)} "
                          f"{'is' if len(missing) == 1 else 'are'} not set; {what} calibration "
                          f"needs {', '.join(keys)} (and kd_nM)")

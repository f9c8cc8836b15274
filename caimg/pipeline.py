"""The pipeline: an ordered, visible list of stages from a :class:`Recording` to a :class:`Result`.

::

    check -> register -> segment (or import ROIs) -> background -> extract -> signal
      -> rois (measure, accept) -> kinetics -> tables -> provenance

Each stage is a function of :mod:`caimg._stages`, testable alone; the signal stage is the
indicator's registered function (:mod:`caimg.indicators`). This module only calls them in
the order above. It holds no science of its own.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import _stages as st
from .config import PipelineConfig, load_pipeline
from .errors import ConfigError, StackReadError
from .recording import Recording
from .result import Result

__all__ = ["run", "process_recording", "resolve_pipeline", "read_for_pipeline", "versions"]

log = logging.getLogger("caimg")

versions = st.versions


def resolve_pipeline(pipeline: str | Path | PipelineConfig, recording: Recording | None = None,
                     *, overrides: Mapping[str, Any] | None = None) -> PipelineConfig:
    """The recipe for a recording. ``"auto"`` picks ``fura2`` for recordings with
    ``f340``/``f380`` channels and ``fluo4`` for a single channel.

    Parameters
    ----------
    pipeline : str, Path or PipelineConfig
        ``"fura2"``, ``"fluo4"``, a recipe file, a config, or ``"auto"``.
    recording : Recording, optional
        The recording; needed for ``"auto"``.
    overrides : mapping, optional
        Recipe overrides, as in :func:`caimg.config.load_pipeline`.

    Returns
    -------
    PipelineConfig
    """
    if isinstance(pipeline, str) and pipeline == "auto":
        if recording is None:
            raise ConfigError("pipeline 'auto' needs a recording to choose fura2 or fluo4")
        pipeline = "fura2" if {"f340", "f380"} <= set(recording.channels) else "fluo4"
    return load_pipeline(pipeline, overrides=overrides)


def read_for_pipeline(paths, pipeline: str | Path | PipelineConfig = "auto", *,
                      overrides: Mapping[str, Any] | None = None
                      ) -> tuple[Recording, PipelineConfig]:
    """Read a recording with the recipe's input settings and resolve the recipe for it.

    Parameters
    ----------
    paths : str, Path or tuple of two paths
        A stack file or a ``(*_340.tif, *_380.tif)`` pair.
    pipeline : str, Path or PipelineConfig
        ``"fura2"``, ``"fluo4"``, a recipe file, a config, or ``"auto"`` (by channel count;
        read with the ``fura2`` input settings).
    overrides : mapping, optional
        Recipe overrides, as in :func:`caimg.config.load_pipeline`.

    Returns
    -------
    recording : Recording
        The recording read.
    config : PipelineConfig
        The recipe resolved for it.
    """
    from .io.read import read_options, read_recording

    base = "fura2" if pipeline == "auto" else pipeline
    inp = load_pipeline(base, overrides=overrides).input
    rec = read_recording(paths, **read_options(inp))
    cfg = resolve_pipeline(pipeline, rec, overrides=overrides)
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
        cfg = resolve_pipeline(pipeline, rec, overrides=overrides)
    else:
        if isinstance(path, (str, Path)) and Path(path).is_dir():
            raise StackReadError(f"{path} is a folder; caimg.run takes one recording. Use "
                                 "caimg.run_batch(folder, out=...) or "
                                 "`caimg run FOLDER --out DIR`")
        rec, cfg = read_for_pipeline(path, pipeline, overrides=overrides)
    result = process_recording(rec, cfg)
    if out is not None:
        from .io.result import save_result

        result = result.replace(folder=save_result(result, out))
    return result


def process_recording(recording: Recording, config: PipelineConfig | str = "auto", *,
                      labels: np.ndarray | None = None, roi_source: str | None = None,
                      roi_overrides: Mapping[int, Mapping[str, Any]] | None = None) -> Result:
    """Run every stage on an already read recording.

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
    cfg = config if isinstance(config, PipelineConfig) else resolve_pipeline(config, recording)
    rec = recording
    runlog = st.RunLog()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        time_s = st.check_inputs(rec, cfg, runlog)
        reg = st.register_motion(rec, cfg, runlog)
        # the SHA-256 of the input (1 GiB: ~0.6 s) runs beside the single-threaded stages
        # that follow; hashlib releases the GIL
        fingerprints = st.fingerprint_in_background(rec.source, cfg.output.overview_png)
        with runlog.stage("segment"):
            labels, source = st.find_rois(rec, cfg, reg.summary, labels, roi_source,
                                          log=runlog)
            bg_mask = st.background(rec, cfg, labels, runlog)
            rings = st.local_background(rec, cfg, labels, reg.summary.max, runlog, bg_mask)
        with runlog.stage("extract"):
            raw = st.extract(rec, cfg, labels, reg.shifts, bg_mask, annuli=rings,
                             log=runlog)
            roi_ids = next(iter(raw.values())).roi_ids
        with runlog.stage("signal"):
            sig = st.signal(cfg, raw, time_s, roi_ids, runlog)
        with runlog.stage("rois"):
            rois = st.score_rois(rec, cfg, reg.summary, labels, roi_ids, source, sig.signal,
                                 bg_mask, roi_overrides, low_signal=sig.low_signal)
        with runlog.stage("kinetics"):
            kin, rois, treatments = st.measure(rec, cfg, sig.signal, time_s, roi_ids, rois,
                                               dropped_frames=runlog.info["dropped_frames"])
        with runlog.stage("tables"):
            traces = st.tidy_traces(roi_ids, time_s, sig.columns)
            del raw, sig
    runlog.warnings.extend(caught)
    runlog.info["rois"] = {"source": source, "n_rois": int(len(roi_ids)),
                           "n_accepted": int(rois["accepted"].astype(bool).sum()),
                           "method": cfg.segment.method if source == "auto" else None}
    prov = st.provenance(rec, cfg, runlog, inputs=fingerprints.result(),
                         n_responders=int(kin["responder"].astype(bool).sum()) if len(kin)
                         else 0)
    for w in runlog.warnings:  # data-quality warnings reach the caller too (and run.json)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return Result(name=rec.name, labels=labels, rois=rois, traces=traces, kinetics=kin,
                  config=cfg, provenance=prov, shifts=reg.shifts, projection=reg.summary.mean,
                  background_mask=bg_mask, treatments=treatments)

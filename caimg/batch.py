"""Batch runs over folders of recordings: one result folder per recording, combined tables,
``failures.csv`` and ``warnings.csv``. A bad recording never stops the batch.

Threads: a batch gives each recording a thread budget (``threads``, by default the cores
this process may use divided by ``jobs``); :func:`set_thread_budget` is the one place that
applies it to caimg's worker pool, numba and the BLAS/OpenMP libraries of a process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ._batch_out import (
    ON_CONFLICT,
    check_not_reviewed,
    is_up_to_date,
    prepare_out,
    result_name,
)
from ._batch_tables import WARNING_COLUMNS, rebuild_tables, write_failures_only
from ._stream import worker_count
from ._threads import available_cores, current_budget, set_thread_budget, threads_per_job
from ._workers import run_in_pool, stop_on_sigterm
from .config import PipelineConfig, config_to_dict
from .errors import CaimgError, ConfigError, ResultError, RoiError, StackReadError

__all__ = ["run_batch", "BatchSummary", "RecordingOutcome", "set_thread_budget",
           "available_cores", "WARNING_COLUMNS"]


log = logging.getLogger("caimg")


@dataclass(frozen=True)
class RecordingOutcome:
    """What became of one recording of a batch: its result folder name (``name``, the
    recording's unless another input's result or a batch table took it), its inputs,
    ``status`` and, when it failed, the error type and one-line message.
    """

    name: str
    paths: tuple[str, ...]
    status: str                    # "ok", "skipped" (complete and unchanged) or "failed"
    folder: str | None = None
    error_type: str | None = None
    message: str | None = None
    n_rois: int = 0
    n_accepted: int = 0
    n_responders: int = 0
    seconds: float = 0.0
    # "Category: message", as in the result's run.json (recorded in the worker, so they
    # cross process and dask boundaries with the outcome)
    warnings: tuple[str, ...] = ()
    # threads the recording was processed with (the worker's budget); 0 when not run
    threads: int = 0


@dataclass(frozen=True)
class BatchSummary:
    """The outcome of :func:`run_batch`: this run's outcomes (in the order found) and the
    batch tables of ``out`` as written (the union of every result folder there).
    """

    out: Path
    outcomes: tuple[RecordingOutcome, ...]
    kinetics: pd.DataFrame = field(repr=False)
    rois: pd.DataFrame = field(repr=False)
    failures: pd.DataFrame = field(repr=False)
    recordings: pd.DataFrame = field(repr=False, default=None)
    warnings: pd.DataFrame = field(repr=False, default=None)

    @property
    def n_failed(self) -> int:
        """Recordings of this run that failed."""
        return sum(o.status == "failed" for o in self.outcomes)

    @property
    def ok(self) -> bool:
        """True when no recording of this run failed."""
        return self.n_failed == 0


def _sha256(path: Path) -> str:
    from .io.result import file_fingerprint

    return file_fingerprint(path)["sha256"]


def _request_key(pipeline, overrides: Mapping[str, Any]) -> str:
    """SHA-256 of everything besides the input that decides a recording's result: the
    fully resolved recipe(s) with this recording's overrides, the content of ROI files the
    recipe names, the result format version and the caimg version.
    """
    from ._version import __version__
    from .io.result import FORMAT_VERSION
    from .pipeline import resolve_pipeline

    names = ("fura2", "fluo4") if isinstance(pipeline, str) and pipeline == "auto" else (pipeline,)
    configs = [config_to_dict(resolve_pipeline(n, overrides=overrides)) for n in names]
    files = {}
    for cfg in configs:
        for f in (cfg["segment"].get("rois_file"), cfg["background"].get("roi_file")):
            if f and Path(f).is_file():
                files[str(Path(f).resolve())] = _sha256(Path(f))
    blob = json.dumps({"configs": configs, "files": files, "format_version": FORMAT_VERSION,
                       "caimg": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


TREATMENTS_FILE = "treatments.csv"


def _treatments_near(source, roots: Sequence[Path]) -> dict[str, float]:
    """Treatment times for a recording from a ``treatments.csv`` (recording, treatment,
    time_s) in its folder or a parent folder up to the batch input folder.
    """
    from .errors import ConfigError
    from .kinetics import treatments_from_table

    folder = Path(source.paths[0]).resolve().parent
    stop = {Path(r).resolve() if Path(r).is_dir() else Path(r).resolve().parent for r in roots}
    while True:
        cand = folder / TREATMENTS_FILE
        if cand.is_file():
            try:
                table = pd.read_csv(cand)
            except (OSError, ValueError, pd.errors.EmptyDataError) as exc:
                raise ConfigError(f"{cand}: cannot read treatments table ({exc}); expected CSV "
                                  "columns recording, treatment, time_s") from exc
            missing = {"recording", "treatment", "time_s"} - set(table.columns)
            if missing:
                raise ConfigError(f"{cand}: missing column(s) {sorted(missing)}; expected "
                                  "recording, treatment, time_s")
            return dict(treatments_from_table(table, source.name))
        if folder in stop or folder.parent == folder:
            return {}
        folder = folder.parent


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


_ONE_AT_A_TIME = threading.Lock()


def _process_on_dask(threads, *args) -> RecordingOutcome:
    """:func:`_process_one` on a dask worker: the budget is ``threads`` when given, else
    the threads the worker was started with.

    A worker process runs one recording at a time, on that many threads: Python's warning
    capture is process-wide, so two recordings processed at once in one process would
    swap their warnings (and each would start its own threads).
    """
    if threads is None:
        from distributed import get_worker

        worker = get_worker()
        threads = getattr(getattr(worker, "state", worker), "nthreads", None) or 1
    with _ONE_AT_A_TIME:
        if current_budget() != threads:
            set_thread_budget(threads)
        return _process_one(*args)


def _recorded_warnings(folder: Path) -> tuple[str, ...]:
    try:
        prov = json.loads((Path(folder) / "run.json").read_text())
        return tuple(str(w) for w in prov.get("warnings", []))
    except (OSError, ValueError, AttributeError):
        return ()


def _process_one(source, out: str, pipeline, overrides: Mapping[str, Any] | None,
                 force: bool, roots: Sequence[Path] = (),
                 on_conflict: str = "stop") -> RecordingOutcome:
    """Read, process and save one recording; every failure becomes an outcome, and its
    warnings travel with it (never as Python warnings: a batch never stops for one, and
    they would be lost in worker processes).
    """
    from dataclasses import replace

    with warnings.catch_warnings(record=True) as caught:
        # caimg's warnings (UserWarning and its subclasses) are recorded whatever the
        # caller's filters say; others (a ResourceWarning of an unrelated object collected
        # meanwhile, library deprecations) are not the recording's and stay out of run.json
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", UserWarning)
        outcome = _process_one_quietly(source, out, pipeline, overrides, force, roots,
                                       on_conflict)
    if outcome.status == "failed":
        seen = []
        for w in caught:
            if issubclass(w.category, UserWarning):
                msg = _one_line(f"{w.category.__name__}: {w.message}")
                if msg not in seen:
                    seen.append(msg)
        outcome = replace(outcome, warnings=tuple(seen))
    return replace(outcome, threads=worker_count())


def _failed(name, paths, exc, t0) -> RecordingOutcome:
    if isinstance(exc, CaimgError):
        message = _one_line(exc)
    elif isinstance(exc, OSError):  # e.g. a full disk while the result was written
        where = f": {exc.filename}" if exc.filename else ""
        message = _one_line(f"{', '.join(paths)}: the result could not be written "
                            f"({exc.strerror or exc}{where}); expected a writable output "
                            "folder with free space: free some space and run again (finished "
                            "recordings are skipped)")
    else:
        log.debug("unexpected error on %s:\n%s", name, traceback.format_exc())
        message = _one_line(f"{', '.join(paths)}: unexpected {type(exc).__name__}: {exc}")
    return RecordingOutcome(name, paths, "failed", error_type=type(exc).__name__,
                            message=message, seconds=time.perf_counter() - t0)


def _process_one_quietly(source, out: str, pipeline, overrides: Mapping[str, Any] | None,
                         force: bool, roots: Sequence[Path] = (),
                         on_conflict: str = "stop") -> RecordingOutcome:
    from .io.result import check_replaceable, save_result
    from .pipeline import process_recording, read_for_pipeline

    t0 = time.perf_counter()
    paths = tuple(str(p) for p in source.paths)
    name = source.name
    try:
        if getattr(source, "error", None):
            raise StackReadError(source.error)
        # refuse early (before the work) to replace what is not a result of ours, or the
        # result of another input of the same name
        name, note = result_name(source, Path(out), on_conflict)
        folder = Path(out) / name
        check_replaceable(folder)
        ov = dict(overrides or {})
        if source.layout == "pair":
            ov.setdefault("layout", "pair")
        near = _treatments_near(source, roots)
        if near:
            ov["treatments"] = {**near, **dict(ov.get("treatments") or {})}
        mask = _mask_beside(source, pipeline, ov)
        if mask is not None:  # as if the recipe named it: the request key holds its SHA-256
            ov["segment.rois_file"] = str(mask)
        key = _request_key(pipeline, ov)
        if not force and is_up_to_date(folder, source.paths, key):
            return RecordingOutcome(name, paths, "skipped", folder=str(folder),
                                    seconds=time.perf_counter() - t0,
                                    warnings=_recorded_warnings(folder))
        if not force:
            check_not_reviewed(folder)
        t_read = time.perf_counter()
        rec, cfg = read_for_pipeline(source, pipeline, overrides=ov)
        t_read = round(time.perf_counter() - t_read, 4)
        try:
            result = process_recording(_renamed(rec, name), cfg)
        except RoiError as exc:
            if mask is None:
                raise
            raise RoiError(f"{exc} (the mask file {mask.name} lies beside the recording; "
                           "fix or remove it, or set segment.masks_beside = false to segment "
                           "this recording instead)") from exc
        prov = dict(result.provenance)
        prov["request_key"] = key
        if mask is not None:
            prov["segment"] = {**(prov.get("segment") or {}),
                               "rois_from": "mask file beside the recording"}
        # opening the file(s): metadata and layout only, the pixels are read by the stages
        prov["timings_s"] = {"open": t_read, **prov.get("timings_s", {})}
        if note:
            prov["warnings"] = [*prov.get("warnings", ()), f"UserWarning: {note}"]
        # the work took a while: another run may have written this name meanwhile
        if name != result_name(source, Path(out), on_conflict)[0]:
            raise ResultError(f"{folder}: written by another run meanwhile; run again")
        if not force:
            check_not_reviewed(folder)
        saved = save_result(result.replace(provenance=prov), out)
        return RecordingOutcome(name, paths, "ok", folder=str(saved),
                                n_rois=result.n_rois,
                                n_accepted=(int(result.rois["accepted"].sum())
                                            if len(result.rois) else 0),
                                n_responders=prov.get("n_responders", 0),
                                seconds=time.perf_counter() - t0,
                                warnings=tuple(prov.get("warnings", ())))
    except Exception as exc:  # noqa: BLE001 - a batch never stops for one recording
        return _failed(name, paths, exc, t0)


def _mask_beside(source, pipeline, overrides: Mapping[str, Any]):
    """The mask file beside the recording (:func:`caimg.io.find.mask_for`) when the recipe
    uses one: ``segment.masks_beside`` is on and no ``segment.rois_file`` is named (the
    recipe's file wins); else None.
    """
    from .io.find import mask_for
    from .pipeline import resolve_pipeline

    names = ("fura2", "fluo4") if isinstance(pipeline, str) and pipeline == "auto" else (pipeline,)
    for n in names:
        sc = resolve_pipeline(n, overrides=overrides).segment
        if sc.rois_file or not sc.masks_beside:
            return None
    return mask_for(source)


def _renamed(rec, name):
    from dataclasses import replace

    return rec if rec.name == name else replace(rec, name=name)


def run_batch(paths, out: str | Path, pipeline: str | Path | PipelineConfig = "auto", *,
              overrides: Mapping[str, Any] | None = None, jobs: int = 1, force: bool = False,
              scheduler: str | None = None, threads: int | None = None,
              on_conflict: str = "stop",
              progress: Callable[[RecordingOutcome, int, int], None] | None = None,
              ) -> BatchSummary:
    """Process every recording found under ``paths`` into ``out``.

    Parameters
    ----------
    paths : path or list of paths
        Files or folders (walked recursively; ``*_340``/``*_380`` pairs grouped).
    out : path
        Output folder: one subfolder per recording plus ``kinetics.csv``, ``rois.csv`` (with a
        ``recording`` column), ``recordings.csv``, ``failures.csv`` and ``warnings.csv``
        (recording, category, message: the warnings of each result's ``run.json``, and those
        of failed ones). The tables are the union of what is in ``out``: rebuilt from every
        result folder there (also those of earlier runs, ``status`` ``"earlier"`` in
        ``recordings.csv``) under a lock on ``out/.caimg.lock``; an earlier run's failure row
        stays until that recording is processed again or has a result.
    pipeline : str, Path or PipelineConfig
        Recipe (``"auto"`` chooses per recording by channel count).
    overrides : mapping, optional
        Recipe overrides (see :func:`caimg.config.load_pipeline`).
    jobs : int
        Recordings processed in parallel on local processes.
    force : bool
        Redo recordings whose result is complete and unchanged, and replace results that
        hold review edits (never replaced otherwise).
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler: one task per recording.
    threads : int, optional
        Threads per recording (caimg's pool, numba, BLAS/OpenMP). Default: the cores this
        process may use divided by ``jobs``, and on dask the threads each worker was
        started with. With ``jobs=1`` the calling process is limited only when given.
    on_conflict : {"stop", "rename", "replace"}
        When ``out/<name>`` holds the result of another input of the same name (e.g.
        ``day1/cell.tif``, now ``day2/cell.tif``): that recording fails naming both
        (``"stop"``), is written as ``<parent>__<name>`` (else ``<name>~2``, ...)
        (``"rename"``), or replaces it (``"replace"``).
    progress : callable, optional
        Called as ``progress(outcome, n_done, n_total)`` after each recording.

    Returns
    -------
    BatchSummary
        A recording that cannot be read or processed (including a path that does not
        exist and a folder that cannot be listed) is a ``"failed"`` outcome and a row of
        ``failures.csv``; the others are processed. A recording whose result is complete
        and whose inputs (size + mtime, else SHA-256) and request (resolved recipe, ROI
        files, caimg version) are unchanged is ``"skipped"`` unless ``force``.

    Raises
    ------
    ConfigError
        A bad recipe or override (every recording is listed in ``failures.csv`` first),
        or ``out`` inside an input folder (nothing is written), or ``out`` is a file or
        cannot be created or written.
    ResultError
        The batch tables could not be written (e.g. a full disk); the previous ones stay.
    KeyboardInterrupt
        Ctrl-C, or SIGTERM (as :class:`caimg._workers.BatchTerminated`): queued recordings
        are cancelled and worker processes stopped first.
    StackReadError
        None of ``paths`` exists (listed in ``failures.csv`` too).

    Notes
    -----
    Each result folder is written under a hidden temporary name and renamed when
    complete. Temporary folders left by interrupted runs (of processes no longer
    running) are removed at the start; a previous result moved aside by a run killed
    while replacing it is restored. A folder in ``out`` that is not a caimg result of
    this format version is never overwritten (that recording fails with a
    :class:`~caimg.errors.ResultError`).
    """
    from .io.result import clean_stale_temporaries
    from .io.stack import find_recordings

    if threads is not None and (isinstance(threads, bool) or int(threads) != threads
                                or threads < 1):
        raise ConfigError(f"threads = {threads!r}: expected a whole number >= 1 (threads per "
                          "recording), or None for the cores shared out between the jobs")
    if on_conflict not in ON_CONFLICT:
        raise ConfigError(f"on_conflict = {on_conflict!r}: expected one of {list(ON_CONFLICT)}")
    out = Path(out)
    path_list = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    out_problem = _out_inside_inputs(out, path_list)
    inp = _batch_input(pipeline, overrides, path_list, out, out_problem)
    if out_problem is not None:
        raise ConfigError(out_problem)
    sources = find_recordings(path_list, layout=inp.layout, pair_suffixes=inp.pair_suffixes,
                              on_error="report", sequence_pattern=inp.sequence_pattern)
    if sources and all(s.error for s in sources) and not any(Path(p).exists() for p in path_list):
        # nothing at all to work on: a usage error, reported in failures.csv as well
        write_failures_only(out, [{"recording": s.name, "path": ";".join(map(str, s.paths)),
                                   "error_type": "StackReadError", "message": s.error}
                                  for s in sources])
        raise StackReadError("; ".join(s.error for s in sources))
    prepare_out(out)
    for what in clean_stale_temporaries(out):
        log.info("%s: %s (left by an interrupted run)", out, what)
    results: list[RecordingOutcome | None] = [None] * len(sources)
    n_done = 0

    def _done(i_outcome):
        nonlocal n_done
        i, o = i_outcome
        results[i] = o
        n_done += 1
        if progress:
            progress(o, n_done, len(sources))

    tasks = [(i, s, str(out), pipeline, overrides, force, path_list, on_conflict)
             for i, s in enumerate(sources)]
    with stop_on_sigterm():  # SIGTERM unwinds as Ctrl-C does: no temporaries left
        try:
            _run_tasks(tasks, jobs=jobs, threads=threads, scheduler=scheduler, done=_done)
        except BaseException:
            # a worker stopped where its own cleanup could not run (a stop that landed in a
            # callback ends it after a grace period) leaves its .partial folder: the worker
            # is gone now, so the folder is removed here (not on dask: a worker there may be
            # on another machine, and is still writing its folder)
            if not scheduler:
                clean_stale_temporaries(out)
            raise
        outcomes = [o for o in results if o is not None]
        tables = rebuild_tables(out, outcomes)
    from .export import write_outputs
    write_outputs(out, outcomes)  # recipe [output] nwb/xlsx; refreshes existing exports
    return BatchSummary(out=out, outcomes=tuple(outcomes), kinetics=tables.kinetics,
                        rois=tables.rois, failures=tables.failures,
                        recordings=tables.recordings, warnings=tables.warnings)


def _indexed(i, *args) -> tuple[int, RecordingOutcome]:
    return i, _process_one(*args)


def _indexed_on_dask(threads, i, *args) -> tuple[int, RecordingOutcome]:
    return i, _process_on_dask(threads, *args)


def _run_tasks(tasks, *, jobs: int, threads: int | None, scheduler: str | None,
               done: Callable) -> None:
    """Process each task (index, source, ...): on dask, on local worker processes, or here."""
    if scheduler:
        from distributed import Client, as_completed as das_completed

        with Client(scheduler) as client:
            futs = [client.submit(_indexed_on_dask, threads, *t, pure=False) for t in tasks]
            try:
                for fut in das_completed(futs):
                    done(fut.result())
            except BaseException:
                # Ctrl-C / SIGTERM (or an error here): the queued recordings are taken off
                # the cluster, not left to run for nobody; one that is running finishes
                # (dask cannot stop a running task) and writes a complete result folder
                client.cancel(futs)
                raise
    elif jobs > 1 and len(tasks) > 1:
        # each worker gets its share of the cores before its first recording, so that
        # jobs x threads never exceeds the budget (a pool of 8 threads per worker did)
        # the default budget: the last recordings take the cores others left; largest first
        run_in_pool(_indexed, tasks, workers=min(jobs, len(tasks)),
                    threads=threads_per_job(jobs, threads), done=done,
                    cores=None if threads else available_cores(), costs=[sum(
                        p.stat().st_size for p in map(Path, t[1].paths) if p.is_file())
                        for t in tasks])
    else:
        if threads:
            set_thread_budget(threads)
        for t in tasks:
            done(_indexed(*t))


def _batch_input(pipeline, overrides, path_list, out: Path, out_problem):
    """The input settings of the recipe; validates the recipe and overrides once, before
    touching any recording. A bad recipe fails every recording alike: each is listed in
    failures.csv and the batch stops.
    """
    from .io.stack import find_recordings
    from .pipeline import resolve_pipeline

    try:
        if pipeline != "auto":
            resolve_pipeline(pipeline, overrides=overrides)
        else:
            resolve_pipeline("fluo4", overrides=overrides)
        return (pipeline.input if isinstance(pipeline, PipelineConfig) else
                resolve_pipeline("fura2" if pipeline == "auto" else pipeline,
                                 overrides=overrides).input)
    except CaimgError as exc:
        try:
            found = find_recordings(path_list, on_error="report")
        except CaimgError:
            found = []
        rows = [{"recording": s.name, "path": ";".join(str(p) for p in s.paths),
                 "error_type": type(exc).__name__, "message": _one_line(exc)} for s in found]
        if not rows:
            rows = [{"recording": "", "path": ";".join(str(p) for p in path_list),
                     "error_type": type(exc).__name__, "message": _one_line(exc)}]
        if out_problem is None:
            write_failures_only(out, rows)
        raise


def _out_inside_inputs(out: Path, paths) -> str | None:
    """Why ``out`` must not be used, or None. Writing results inside an input folder would
    mix results and recordings (and a result folder could shadow an input folder).
    """
    o = out.resolve()
    for p in paths:
        p = Path(p)
        if p.is_dir():
            pr = p.resolve()
            if o == pr or pr in o.parents:
                return (f"--out {out} is inside the input folder {p}; expected an output "
                        "folder outside the inputs, so results and recordings do not mix "
                        f"(e.g. --out {p.parent / (p.name + '_caimg')})")
        elif p.exists() and p.resolve() == o:
            return f"--out {out} is the input file {p}; expected a folder that is not an input"
    return None


# --------------------------------------------------------------------------------------
# Summaries over a kinetics table (per ROI, per recording)
# --------------------------------------------------------------------------------------

def event_summary(kinetics: pd.DataFrame, duration_s: float) -> pd.DataFrame:
    """Per ROI: number of events and event frequency from an ``events="all"`` table.

    Parameters
    ----------
    kinetics : pandas.DataFrame
        Output of :func:`caimg.kinetics.measure_kinetics` (rows with ``event == 0`` count
        as no event; only responder events are counted).
    duration_s : float
        Recording duration in seconds.

    Returns
    -------
    pandas.DataFrame
        Columns ``roi``, ``n_events`` (int64), ``event_frequency_hz`` (= n_events /
        duration_s).
    """
    import math

    import numpy as np

    if not (math.isfinite(duration_s) and duration_s > 0):
        raise CaimgError(f"'duration_s' = {duration_s!r}: expected a duration > 0 s")
    rois = pd.unique(kinetics["roi"])
    counted = kinetics[(kinetics["event"] > 0) & kinetics["responder"]]
    n = counted.groupby("roi").size().reindex(rois, fill_value=0).to_numpy(dtype=np.int64)
    return pd.DataFrame({"roi": pd.Series(rois, dtype="int64"),
                         "n_events": pd.Series(n, dtype="int64"),
                         "event_frequency_hz": pd.Series(n / float(duration_s),
                                                         dtype="float64")})


def responder_fraction(kinetics: pd.DataFrame) -> float:
    """Fraction of ROIs with at least one responder row.

    Parameters
    ----------
    kinetics : pandas.DataFrame
        A kinetics table (columns ``roi`` and ``responder``).

    Returns
    -------
    float
        NaN when there are no ROIs.
    """
    if len(kinetics) == 0:
        return float("nan")
    per_roi = kinetics.groupby("roi")["responder"].any()
    return float(per_roi.mean())

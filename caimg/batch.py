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
import sys
import threading
import time
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from ._stream import set_worker_count, worker_count
from .config import PipelineConfig, config_to_dict
from .errors import CaimgError, ConfigError, StackReadError
from .result import BATCH_FAILURE_COLUMNS

__all__ = ["run_batch", "BatchSummary", "RecordingOutcome", "set_thread_budget",
           "available_cores", "WARNING_COLUMNS"]

#: Columns of the batch-level ``warnings.csv``: one row per warning of a recording.
WARNING_COLUMNS = ("recording", "category", "message")

log = logging.getLogger("caimg")


@dataclass(frozen=True)
class RecordingOutcome:
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
    out: Path
    outcomes: tuple[RecordingOutcome, ...]
    kinetics: pd.DataFrame = field(repr=False)
    rois: pd.DataFrame = field(repr=False)
    failures: pd.DataFrame = field(repr=False)
    recordings: pd.DataFrame = field(repr=False, default=None)
    warnings: pd.DataFrame = field(repr=False, default=None)

    @property
    def n_failed(self) -> int:
        return sum(o.status == "failed" for o in self.outcomes)

    @property
    def ok(self) -> bool:
        return self.n_failed == 0


def _sha256(path: Path) -> str:
    from .io.result import file_fingerprint

    return file_fingerprint(path)["sha256"]


def _request_key(pipeline, overrides: Mapping[str, Any]) -> str:
    """SHA-256 of everything besides the input that decides a recording's result: the
    fully resolved recipe(s) with this recording's overrides, the content of ROI files the
    recipe names, the result format version and the caimg version."""
    from ._version import __version__
    from .io.result import FORMAT_VERSION
    from .pipeline import resolve_pipeline

    names = ("fura2", "fluo4") if isinstance(pipeline, str) and pipeline == "auto" else (pipeline,)
    configs = [config_to_dict(resolve_pipeline(n, None, overrides)) for n in names]
    files = {}
    for cfg in configs:
        for f in (cfg["segment"].get("rois_file"), cfg["background"].get("roi_file")):
            if f and Path(f).is_file():
                files[str(Path(f).resolve())] = _sha256(Path(f))
    blob = json.dumps({"configs": configs, "files": files, "format_version": FORMAT_VERSION,
                       "caimg": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _is_up_to_date(folder: Path, paths: Sequence[Path], key: str) -> bool:
    """A complete result of this format version, made with the same request (recipe, ROI
    files, caimg version), whose inputs are unchanged.

    An input is unchanged when its size and modification time are those recorded in
    ``run.json``; when only the time differs (the file was touched or copied), its SHA-256
    is compared with the recorded one, so hashing happens only then.
    """
    from .io.result import FORMAT_VERSION, RESULT_FILES, is_result_folder

    if not is_result_folder(folder):
        return False
    try:
        prov = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(prov, dict) or prov.get("format_version") != FORMAT_VERSION:
        return False
    if prov.get("request_key") != key:
        return False
    if any(not (folder / f).is_file() for f in RESULT_FILES
           if f not in ("overview.png", "rois.zip")):
        return False
    recorded = {i.get("path"): i for i in prov.get("inputs", []) if isinstance(i, dict)}
    if len(recorded) != len(paths):
        return False
    for p in paths:
        try:
            st = Path(p).stat()
        except OSError:
            return False
        rec = recorded.get(str(Path(p).resolve()))
        if rec is None or rec.get("size") != st.st_size:
            return False
        if rec.get("mtime") != st.st_mtime:
            if not rec.get("sha256") or _sha256(Path(p)) != rec["sha256"]:
                return False
    return True


TREATMENTS_FILE = "treatments.csv"


def _treatments_near(source, roots: Sequence[Path]) -> dict[str, float]:
    """Treatment times for a recording from a ``treatments.csv`` (recording, treatment,
    time_s) in its folder or a parent folder up to the batch input folder."""
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


#: Environment variables that size the thread pools of caimg and the libraries below it.
#: Set before those libraries start their pools (spawned workers) they are enough; in a
#: process that has loaded them already (forked workers), threadpoolctl limits them too.
THREAD_ENV = ("CAIMG_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
              "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

_BUDGET: int | None = None  # the budget applied in this process, if any


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def threads_per_job(jobs: int, threads: int | None = None) -> int:
    """The thread budget of one recording: ``threads`` when given, else the available
    cores shared out between ``jobs`` parallel recordings (at least 1)."""
    if threads:
        return int(threads)
    return max(1, available_cores() // max(1, int(jobs)))


def set_thread_budget(n: int) -> None:
    """Let this process use at most ``n`` threads per recording: caimg's worker pool,
    numba, and the BLAS/OpenMP libraries (through threadpoolctl when they are loaded).

    This is the one place a batch sizes threads; it runs in each worker process before
    its first recording (and in the calling process for ``jobs=1`` with ``threads``).
    """
    global _BUDGET
    n = max(1, int(n))
    for key in THREAD_ENV:
        os.environ[key] = str(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency; without it the variables act
        pass
    else:
        with warnings.catch_warnings():  # e.g. two OpenMP runtimes loaded: not the user's
            warnings.simplefilter("ignore")
            threadpool_limits(limits=n)
    numba = sys.modules.get("numba")
    if numba is not None:  # loaded already (a forked worker): its variable was read
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    set_worker_count(n)  # caimg's own pool is remade at this size at its next use
    _BUDGET = n


_ONE_AT_A_TIME = threading.Lock()


def _process_on_dask(threads, *args) -> RecordingOutcome:
    """:func:`_process_one` on a dask worker: the budget is ``threads`` when given, else
    the threads the worker was started with.

    A worker process runs one recording at a time, on that many threads: Python's warning
    capture is process-wide, so two recordings processed at once in one process would
    swap their warnings (and each would start its own threads)."""
    if threads is None:
        from distributed import get_worker

        worker = get_worker()
        threads = getattr(getattr(worker, "state", worker), "nthreads", None) or 1
    with _ONE_AT_A_TIME:
        if _BUDGET != threads:
            set_thread_budget(threads)
        return _process_one(*args)


def _recorded_warnings(folder: Path) -> tuple[str, ...]:
    try:
        prov = json.loads((Path(folder) / "run.json").read_text())
        return tuple(str(w) for w in prov.get("warnings", []))
    except (OSError, ValueError, AttributeError):
        return ()


def _process_one(source, out: str, pipeline, overrides: Mapping[str, Any] | None,
                 force: bool, roots: Sequence[Path] = ()) -> RecordingOutcome:
    """Read, process and save one recording; every failure becomes an outcome, and its
    warnings travel with it (never as Python warnings: a batch never stops for one, and
    they would be lost in worker processes)."""
    from dataclasses import replace

    with warnings.catch_warnings(record=True) as caught:
        # caimg's warnings (UserWarning and its subclasses) are recorded whatever the
        # caller's filters say; others (a ResourceWarning of an unrelated object collected
        # meanwhile, library deprecations) are not the recording's and stay out of run.json
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", UserWarning)
        outcome = _process_one_quietly(source, out, pipeline, overrides, force, roots)
    if outcome.status == "failed":
        seen = []
        for w in caught:
            if issubclass(w.category, UserWarning):
                msg = _one_line(f"{w.category.__name__}: {w.message}")
                if msg not in seen:
                    seen.append(msg)
        outcome = replace(outcome, warnings=tuple(seen))
    return replace(outcome, threads=worker_count())


def _process_one_quietly(source, out: str, pipeline, overrides: Mapping[str, Any] | None,
                         force: bool, roots: Sequence[Path] = ()) -> RecordingOutcome:
    from .errors import StackReadError
    from .io.result import _check_replaceable, save_result
    from .pipeline import process_recording, read_for_pipeline

    t0 = time.perf_counter()
    paths = tuple(str(p) for p in source.paths)
    folder = Path(out) / source.name
    try:
        if getattr(source, "error", None):
            raise StackReadError(source.error)
        # refuse early (before the work) to replace what is not a result of ours
        _check_replaceable(folder)
        ov = dict(overrides or {})
        if source.layout == "pair":
            ov.setdefault("layout", "pair")
        near = _treatments_near(source, roots)
        if near:
            ov["treatments"] = {**near, **dict(ov.get("treatments") or {})}
        key = _request_key(pipeline, ov)
        if not force and _is_up_to_date(folder, source.paths, key):
            return RecordingOutcome(source.name, paths, "skipped", folder=str(folder),
                                    seconds=time.perf_counter() - t0,
                                    warnings=_recorded_warnings(folder))
        t_read = time.perf_counter()
        rec, cfg = read_for_pipeline(source.paths if len(source.paths) > 1 else source.paths[0],
                                     pipeline, ov)
        t_read = round(time.perf_counter() - t_read, 4)
        rec = _renamed(rec, source.name)
        result = process_recording(rec, cfg)
        prov = dict(result.provenance)
        prov["request_key"] = key
        # opening the file(s): metadata and layout only, the pixels are read by the stages
        prov["timings_s"] = {"open": t_read, **prov.get("timings_s", {})}
        result = result.replace(provenance=prov)
        saved = save_result(result, out)
        return RecordingOutcome(source.name, paths, "ok", folder=str(saved),
                                n_rois=result.n_rois,
                                n_accepted=(int(result.rois["accepted"].sum())
                                            if len(result.rois) else 0),
                                n_responders=prov.get("n_responders", 0),
                                seconds=time.perf_counter() - t0,
                                warnings=tuple(prov.get("warnings", ())))
    except CaimgError as exc:
        return RecordingOutcome(source.name, paths, "failed", error_type=type(exc).__name__,
                                message=_one_line(exc), seconds=time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - a batch never stops for one recording
        log.debug("unexpected error on %s:\n%s", source.name, traceback.format_exc())
        where = ", ".join(paths)
        return RecordingOutcome(source.name, paths, "failed", error_type=type(exc).__name__,
                                message=_one_line(f"{where}: unexpected {type(exc).__name__}: "
                                                  f"{exc}"),
                                seconds=time.perf_counter() - t0)


def _renamed(rec, name):
    from dataclasses import replace

    return rec if rec.name == name else replace(rec, name=name)


def _combine(out: Path, outcomes) -> tuple[pd.DataFrame, pd.DataFrame]:
    from .result import KINETICS_COLUMNS

    kin, rois, treat = [], [], []
    for o in outcomes:
        if o.status == "failed" or not o.folder:
            continue
        folder = Path(o.folder)
        for name, acc in (("kinetics.csv", kin), ("rois.csv", rois), ("treatments.csv", treat)):
            try:
                df = pd.read_csv(folder / name)
            except (OSError, pd.errors.EmptyDataError):
                continue
            df.insert(0, "recording", o.name)
            acc.append(df)
    kin_df = (pd.concat(kin, ignore_index=True) if kin
              else pd.DataFrame(columns=["recording", *KINETICS_COLUMNS]))
    rois_df = (pd.concat(rois, ignore_index=True) if rois
               else pd.DataFrame(columns=["recording", "roi"]))
    treat_df = pd.concat(treat, ignore_index=True) if treat else None
    return kin_df, rois_df, treat_df


def _recordings_table(outcomes, kin: pd.DataFrame) -> pd.DataFrame:
    """One row per recording: status, ROI counts and the fraction of accepted ROIs that
    responded."""
    rows = []
    for o in outcomes:
        k = kin[kin["recording"] == o.name] if len(kin) else kin
        rows.append({"recording": o.name, "status": o.status,
                     "n_accepted": int(k["roi"].nunique()) if len(k) else 0,
                     "n_responders": int(k.loc[k["responder"].astype(bool), "roi"].nunique())
                     if len(k) else 0,
                     "responder_fraction": responder_fraction(k) if len(k) else float("nan"),
                     "path": ";".join(o.paths)})
    return pd.DataFrame(rows, columns=["recording", "status", "n_accepted", "n_responders",
                                       "responder_fraction", "path"])


def run_batch(paths, out: str | Path, pipeline: str | Path | PipelineConfig = "auto", *,
              overrides: Mapping[str, Any] | None = None, jobs: int = 1, force: bool = False,
              scheduler: str | None = None, threads: int | None = None,
              progress: Callable[[RecordingOutcome, int, int], None] | None = None,
              ) -> BatchSummary:
    """Process every recording found under ``paths`` into ``out``.

    Parameters
    ----------
    paths : path or list of paths
        Files or folders (walked recursively; ``*_340``/``*_380`` pairs grouped).
    out : path
        Output folder: one subfolder per recording plus ``kinetics.csv``, ``rois.csv`` (with a
        ``recording`` column), ``failures.csv`` and ``warnings.csv`` (recording, category,
        message: the warnings of each result's ``run.json``, and those of failed ones).
    pipeline : str, Path or PipelineConfig
        Recipe (``"auto"`` chooses per recording by channel count).
    overrides : mapping, optional
        Recipe overrides (see :func:`caimg.config.load_pipeline`).
    jobs : int
        Recordings processed in parallel on local processes.
    force : bool
        Redo recordings whose result is complete and unchanged.
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler: one task per recording.
    threads : int, optional
        Threads per recording (caimg's pool, numba, BLAS/OpenMP). Default: the cores this
        process may use divided by ``jobs``, and on dask the threads each worker was
        started with. With ``jobs=1`` the calling process is limited only when given.
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
        or ``out`` inside an input folder (nothing is written).
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
    from .pipeline import resolve_pipeline

    if threads is not None and (isinstance(threads, bool) or int(threads) != threads
                                or threads < 1):
        raise ConfigError(f"threads = {threads!r}: expected a whole number >= 1 (threads per "
                          "recording), or None for the cores shared out between the jobs")
    out = Path(out)
    path_list = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    out_problem = _out_inside_inputs(out, path_list)
    # validate the recipe and overrides once, before touching any recording; a bad recipe
    # fails every recording alike: each is listed in failures.csv and the batch stops
    try:
        if pipeline != "auto":
            resolve_pipeline(pipeline, None, overrides)
        else:
            resolve_pipeline("fluo4", None, overrides)
        inp = (pipeline.input if isinstance(pipeline, PipelineConfig) else
               resolve_pipeline("fura2" if pipeline == "auto" else pipeline, None,
                                overrides).input)
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
            _write_failures_only(out, rows)
        raise
    if out_problem is not None:
        raise ConfigError(out_problem)
    sources = find_recordings(path_list, layout=inp.layout, pair_suffixes=inp.pair_suffixes,
                              on_error="report")
    if sources and all(s.error for s in sources) and not any(Path(p).exists() for p in path_list):
        # nothing at all to work on: a usage error, reported in failures.csv as well
        _write_failures_only(out, [{"recording": s.name, "path": ";".join(map(str, s.paths)),
                                    "error_type": "StackReadError", "message": s.error}
                                   for s in sources])
        raise StackReadError("; ".join(s.error for s in sources))
    out.mkdir(parents=True, exist_ok=True)
    for what in clean_stale_temporaries(out):
        log.info("%s: %s (left by an interrupted run)", out, what)
    outcomes: list[RecordingOutcome] = []
    total = len(sources)

    def _done(o):
        outcomes.append(o)
        if progress:
            progress(o, len(outcomes), total)

    if scheduler:
        from distributed import Client

        with Client(scheduler) as client:
            futs = [client.submit(_process_on_dask, threads, s, str(out), pipeline, overrides,
                                  force, path_list, pure=False) for s in sources]
            from distributed import as_completed as das_completed

            for fut in das_completed(futs):
                _done(fut.result())
    elif jobs > 1 and total > 1:
        # each worker gets its share of the cores before its first recording, so that
        # jobs x threads never exceeds the budget (a pool of 8 threads per worker did)
        with ProcessPoolExecutor(max_workers=min(jobs, total), initializer=set_thread_budget,
                                 initargs=(threads_per_job(jobs, threads),)) as pool:
            futs = [pool.submit(_process_one, s, str(out), pipeline, overrides, force,
                                path_list) for s in sources]
            for fut in as_completed(futs):
                _done(fut.result())
    else:
        if threads:
            set_thread_budget(threads)
        for s in sources:
            _done(_process_one(s, str(out), pipeline, overrides, force, path_list))

    order = {s.name: i for i, s in enumerate(sources)}
    outcomes.sort(key=lambda o: order[o.name])
    kin, rois, treat = _combine(out, outcomes)
    recordings = _recordings_table(outcomes, kin)
    failures = pd.DataFrame([{"recording": o.name, "path": ";".join(o.paths),
                              "error_type": o.error_type, "message": o.message}
                             for o in outcomes if o.status == "failed"],
                            columns=list(BATCH_FAILURE_COLUMNS))
    warns = _warnings_table(outcomes)
    tables = [(kin, "kinetics.csv"), (rois, "rois.csv"), (failures, "failures.csv"),
              (warns, "warnings.csv"), (recordings, "recordings.csv")]
    if treat is not None:
        tables.append((treat, "treatments.csv"))
    for df, name in tables:
        _replace_table(df, out / name)
    from .export import write_outputs
    write_outputs(out, outcomes)  # recipe [output] nwb/xlsx; refreshes existing exports
    return BatchSummary(out=out, outcomes=tuple(outcomes), kinetics=kin, rois=rois,
                        failures=failures, recordings=recordings, warnings=warns)


def _warnings_table(outcomes) -> pd.DataFrame:
    """``warnings.csv``: one row per warning of each recording (category split off the
    ``"Category: message"`` text of run.json)."""
    rows = []
    for o in outcomes:
        for text in o.warnings:
            category, sep, message = str(text).partition(": ")
            if not sep or not category.isidentifier():
                category, message = "", str(text)
            rows.append({"recording": o.name, "category": category, "message": message})
    return pd.DataFrame(rows, columns=list(WARNING_COLUMNS))


def _replace_table(df: pd.DataFrame, path: Path) -> None:
    """Write a batch table under a temporary name and rename it into place."""
    from .io.result import write_table

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write_table(df, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_failures_only(out: Path, rows) -> None:
    """failures.csv for a batch that could not start (bad recipe, no input at all)."""
    from .result import BATCH_FAILURE_COLUMNS

    try:
        out.mkdir(parents=True, exist_ok=True)
        _replace_table(pd.DataFrame(rows, columns=list(BATCH_FAILURE_COLUMNS)),
                       out / "failures.csv")
    except OSError as exc:  # the error being reported matters more
        log.warning("could not write %s: %s", out / "failures.csv", exc)


def _out_inside_inputs(out: Path, paths) -> str | None:
    """Why ``out`` must not be used, or None. Writing results inside an input folder would
    mix results and recordings (and a result folder could shadow an input folder)."""
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

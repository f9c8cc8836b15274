"""Batch runs over folders of recordings: one result folder per recording, combined tables,
``failures.csv``. A bad recording never stops the batch."""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from .config import PipelineConfig, config_to_dict
from .errors import CaimgError, ConfigError

__all__ = ["run_batch", "BatchSummary", "RecordingOutcome"]

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


@dataclass(frozen=True)
class BatchSummary:
    out: Path
    outcomes: tuple[RecordingOutcome, ...]
    kinetics: pd.DataFrame = field(repr=False)
    rois: pd.DataFrame = field(repr=False)
    failures: pd.DataFrame = field(repr=False)
    recordings: pd.DataFrame = field(repr=False, default=None)

    @property
    def n_failed(self) -> int:
        return sum(o.status == "failed" for o in self.outcomes)

    @property
    def ok(self) -> bool:
        return self.n_failed == 0


def _overrides_key(pipeline, overrides) -> str:
    return json.dumps({"pipeline": str(pipeline) if not isinstance(pipeline, PipelineConfig)
                       else config_to_dict(pipeline), "overrides": overrides or {}},
                      sort_keys=True, default=str)


def _is_up_to_date(folder: Path, paths: Sequence[Path], key: str) -> bool:
    """A complete result whose inputs (size, mtime) and request are unchanged."""
    run_json = folder / "run.json"
    if not run_json.is_file():
        return False
    try:
        prov = json.loads(run_json.read_text())
    except (OSError, ValueError):
        return False
    if prov.get("request_key") != key:
        return False
    recorded = {i.get("path"): i for i in prov.get("inputs", [])}
    for p in paths:
        st = Path(p).stat()
        rec = recorded.get(str(Path(p).resolve()))
        if rec is None or rec.get("size") != st.st_size or rec.get("mtime") != st.st_mtime:
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


def _process_one(source, out: str, pipeline, overrides: Mapping[str, Any] | None,
                 key: str, force: bool, roots: Sequence[Path] = ()) -> RecordingOutcome:
    """Read, process and save one recording; every failure becomes an outcome."""
    from .io.result import save_result
    from .pipeline import process_recording, read_for_pipeline

    t0 = time.perf_counter()
    paths = tuple(str(p) for p in source.paths)
    folder = Path(out) / source.name
    try:
        if not force and _is_up_to_date(folder, source.paths, key):
            return RecordingOutcome(source.name, paths, "skipped", folder=str(folder))
        ov = dict(overrides or {})
        if source.layout == "pair":
            ov.setdefault("layout", "pair")
        near = _treatments_near(source, roots)
        if near:
            ov["treatments"] = {**near, **dict(ov.get("treatments") or {})}
        rec, cfg = read_for_pipeline(source.paths if len(source.paths) > 1 else source.paths[0],
                                     pipeline, ov)
        rec = _renamed(rec, source.name)
        result = process_recording(rec, cfg)
        prov = dict(result.provenance)
        prov["request_key"] = key
        result = result.replace(provenance=prov)
        saved = save_result(result, out)
        return RecordingOutcome(source.name, paths, "ok", folder=str(saved),
                                n_rois=result.n_rois,
                                n_accepted=int(result.rois["accepted"].sum()) if len(result.rois) else 0,
                                n_responders=prov.get("n_responders", 0),
                                seconds=time.perf_counter() - t0)
    except CaimgError as exc:
        return RecordingOutcome(source.name, paths, "failed", error_type=type(exc).__name__,
                                message=str(exc), seconds=time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - a batch never stops for one recording
        log.debug("unexpected error on %s:\n%s", source.name, traceback.format_exc())
        where = ", ".join(paths)
        return RecordingOutcome(source.name, paths, "failed", error_type=type(exc).__name__,
                                message=f"{where}: unexpected {type(exc).__name__}: {exc}",
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
    rois_df = pd.concat(rois, ignore_index=True) if rois else pd.DataFrame(columns=["recording", "roi"])
    treat_df = pd.concat(treat, ignore_index=True) if treat else None
    return kin_df, rois_df, treat_df


def _recordings_table(outcomes, kin: pd.DataFrame) -> pd.DataFrame:
    """One row per recording: status, ROI counts and the fraction of accepted ROIs that
    responded."""
    from .kinetics import responder_fraction

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
              scheduler: str | None = None,
              progress: Callable[[RecordingOutcome, int, int], None] | None = None) -> BatchSummary:
    """Process every recording found under ``paths`` into ``out``.

    Parameters
    ----------
    paths : path or list of paths
        Files or folders (walked recursively; ``*_340``/``*_380`` pairs grouped).
    out : path
        Output folder: one subfolder per recording plus ``kinetics.csv``, ``rois.csv`` (with a
        ``recording`` column) and ``failures.csv``.
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
    progress : callable, optional
        Called as ``progress(outcome, n_done, n_total)`` after each recording.

    Returns
    -------
    BatchSummary
    """
    from .io.result import write_table
    from .io.stack import find_recordings
    from .pipeline import resolve_pipeline

    out = Path(out)
    # validate the recipe and overrides once, before touching any recording
    if pipeline != "auto":
        resolve_pipeline(pipeline, None, overrides)
    else:
        resolve_pipeline("fluo4", None, overrides)
    inp = (pipeline.input if isinstance(pipeline, PipelineConfig) else
           resolve_pipeline("fura2" if pipeline == "auto" else pipeline, None, overrides).input)
    path_list = [paths] if isinstance(paths, (str, Path)) else list(paths)
    _refuse_out_inside_inputs(out, path_list)
    sources = find_recordings(path_list, layout=inp.layout, pair_suffixes=inp.pair_suffixes)
    out.mkdir(parents=True, exist_ok=True)
    key = _overrides_key(pipeline, overrides)
    outcomes: list[RecordingOutcome] = []
    total = len(sources)

    def _done(o):
        outcomes.append(o)
        if progress:
            progress(o, len(outcomes), total)

    if scheduler:
        from distributed import Client

        with Client(scheduler) as client:
            futs = [client.submit(_process_one, s, str(out), pipeline, overrides, key, force,
                                  path_list, pure=False) for s in sources]
            from distributed import as_completed as das_completed

            for fut in das_completed(futs):
                _done(fut.result())
    elif jobs > 1 and total > 1:
        with ProcessPoolExecutor(max_workers=min(jobs, total)) as pool:
            futs = [pool.submit(_process_one, s, str(out), pipeline, overrides, key, force,
                                path_list) for s in sources]
            for fut in as_completed(futs):
                _done(fut.result())
    else:
        for s in sources:
            _done(_process_one(s, str(out), pipeline, overrides, key, force, path_list))

    order = {s.name: i for i, s in enumerate(sources)}
    outcomes.sort(key=lambda o: order[o.name])
    kin, rois, treat = _combine(out, outcomes)
    recordings = _recordings_table(outcomes, kin)
    failures = pd.DataFrame([{"recording": o.name, "path": ";".join(o.paths),
                              "error_type": o.error_type, "message": o.message}
                             for o in outcomes if o.status == "failed"],
                            columns=["recording", "path", "error_type", "message"])
    tables = [(kin, "kinetics.csv"), (rois, "rois.csv"), (failures, "failures.csv"),
              (recordings, "recordings.csv")]
    if treat is not None:
        tables.append((treat, "treatments.csv"))
    for df, name in tables:
        tmp = out / f".{name}.tmp"
        write_table(df, tmp)
        os.replace(tmp, out / name)
    return BatchSummary(out=out, outcomes=tuple(outcomes), kinetics=kin, rois=rois,
                        failures=failures, recordings=recordings)


def _refuse_out_inside_inputs(out: Path, paths) -> None:
    """Writing results inside an input folder would make them inputs of the next run."""
    o = out.resolve()
    for p in paths:
        p = Path(p)
        if p.is_dir():
            pr = p.resolve()
            if o == pr:
                raise ConfigError(f"--out {out} is the input folder {p}; choose an output folder "
                                  "outside the inputs so results and recordings do not mix")

"""Reading a batch of result folders for the experiment summary: the cells of every
recording (one row per accepted ROI and window) and its mean trace.

Only the public reader :func:`caimg.load_result` and the result-folder contract of
DESIGN.md are used.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import CaimgError, ResultError

#: Measures of the main response (``kinetics.csv``) summarised per condition.
KINETIC_MEASURES = ("amplitude", "time_to_peak_s", "rise_time_s", "decay_tau_s", "auc")
#: Measures of a treatment window (``treatments.csv``).
TREATMENT_MEASURES = ("amplitude", "auc", "max_slope", "latency_s")
#: Name of the window of the main response in every table (``kinetics.csv``); treatment
#: windows are named after the treatment.
MAIN_WINDOW = "response"

__all__ = ["KINETIC_MEASURES", "TREATMENT_MEASURES", "MAIN_WINDOW", "result_folders",
           "failed_recordings", "read_results", "condition_traces"]


def result_folders(results_dir: Path) -> dict[str, Path]:
    if not results_dir.is_dir():
        raise ResultError(f"{results_dir}: not a folder; expected the --out folder of "
                          "`caimg run` (one result folder per recording)")
    found = {p.name: p for p in sorted(results_dir.iterdir())
             if p.is_dir() and not p.name.startswith(".") and (p / "run.json").is_file()}
    if not found:
        raise ResultError(f"{results_dir}: no result folder (a folder with run.json) inside; "
                          "expected the --out folder of `caimg run`")
    return found


def failed_recordings(results_dir: Path) -> list[str]:
    f = results_dir / "failures.csv"
    try:
        return [str(n) for n in pd.read_csv(f)["recording"].dropna()] if f.is_file() else []
    except (pd.errors.EmptyDataError, KeyError):
        return []


def _first_rows(kin: pd.DataFrame) -> pd.DataFrame:
    """One row per ROI: its first responding event, else its first row (events="all")."""
    if kin.empty:
        return kin
    k = kin.assign(_nr=~kin["responder"].astype(bool))
    k = k.sort_values(["roi", "_nr", "event"], kind="stable").drop_duplicates("roi")
    return k.drop(columns="_nr")


def _cells_of(res) -> pd.DataFrame:
    """Long cell table of one result: one row per accepted ROI and window."""
    accepted = (res.rois.loc[res.rois["accepted"].astype(bool), "roi"]
                if "accepted" in res.rois else res.rois["roi"])
    parts = []
    kin = _first_rows(res.kinetics)
    kin = kin[kin["roi"].isin(accepted)]
    parts.append(kin.assign(window=MAIN_WINDOW)[["window", "roi", "responder",
                                                  *KINETIC_MEASURES]])
    tr = res.treatments
    if tr is not None and len(tr):
        tr = tr[tr["roi"].isin(accepted)]
        parts.append(tr.rename(columns={"treatment": "window"})[
            ["window", "roi", "responder", *TREATMENT_MEASURES]])
    cells = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    cells["responder"] = cells["responder"].astype(bool)
    return cells


def _mean_trace(res) -> tuple[np.ndarray, np.ndarray]:
    """Time from the stimulus (s) and the mean signal over accepted ROIs."""
    time_s, roi_ids, values = res.trace_matrix(res.signal_column)
    if "accepted" in res.rois:
        keep = np.isin(roi_ids, res.rois.loc[res.rois["accepted"].astype(bool), "roi"])
        values = values[:, keep]
    stim = res.provenance.get("stimulus_time_s")
    offset = float(stim) if isinstance(stim, (int, float)) else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a frame with no ROI value
        mean = np.nanmean(values, axis=1) if values.size else np.full(time_s.shape, np.nan)
    return time_s - offset, mean


def read_results(folders: dict[str, Path], names) -> tuple[pd.DataFrame, pd.DataFrame,
                                                            dict, str, bool]:
    """Cells (long), ROI counts, mean traces, the signal column, whether a stimulus was
    set everywhere.
    """
    from .. import load_result  # the public reader (caimg.load_result)

    cells, counts, traces, signals, stim = [], [], {}, {}, True
    for name in names:
        res = load_result(folders[name])
        c = _cells_of(res)
        cells.append(c.assign(recording=name))
        n_acc = (int(res.rois["accepted"].astype(bool).sum()) if "accepted" in res.rois
                 else len(res.rois))
        counts.append({"recording": name, "n_cells": len(res.rois), "n_accepted": n_acc})
        traces[name] = _mean_trace(res)
        signals.setdefault(res.signal_column, []).append(name)
        stim &= isinstance(res.provenance.get("stimulus_time_s"), (int, float))
    if len(signals) > 1:
        raise CaimgError("the recordings mix indicators: " + "; ".join(
            f"{s}: {', '.join(v[:5])}" for s, v in signals.items()) +
            "; expected one signal (dff or ratio) per experiment; summarise them separately")
    return (pd.concat(cells, ignore_index=True), pd.DataFrame(counts), traces,
            next(iter(signals)), stim)


def condition_traces(traces, design, order):
    """Mean +/- SEM over recordings of the per-recording mean trace, per condition, on a
    common time grid (from the stimulus; linear interpolation).
    """
    rows = []
    for cond in order:
        names = design.loc[design["condition"] == cond, "recording"]
        tr = [traces[n] for n in names if n in traces and traces[n][0].size > 1]
        if not tr:
            continue
        dt = float(np.median([np.median(np.diff(t)) for t, _ in tr]))
        start, stop = max(t[0] for t, _ in tr), min(t[-1] for t, _ in tr)
        grid = np.arange(start, stop + dt / 2, dt)
        ys = np.array([np.interp(grid, t, y) for t, y in tr])
        n = np.isfinite(ys).sum(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(ys, axis=0)
            sem = np.nanstd(ys, axis=0, ddof=1) / np.sqrt(n)
        rows.append(pd.DataFrame({"condition": cond, "time_s": grid, "mean": mean,
                                  "sem": sem, "n_recordings": n}))
    return (pd.concat(rows, ignore_index=True) if rows else
            pd.DataFrame(columns=["condition", "time_s", "mean", "sem", "n_recordings"]))

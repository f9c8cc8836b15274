"""A batch of result folders + a design -> per-recording and per-condition tables,
comparisons with the control and concentration-response fits.

Reads result folders only through :func:`caimg.load_result` (the result-folder contract
of DESIGN.md); never re-analyses images.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import CaimgError
from ._results import (
    KINETIC_MEASURES,
    MAIN_WINDOW,
    TREATMENT_MEASURES,
    condition_traces,
    failed_recordings,
    read_results,
    result_folders,
)
from .design import DESIGN_COLUMNS, DesignError, design_from_names, read_design
from .doseresponse import fit_dose_response
from .stats import compare_to_control, methods_text

__all__ = ["summarize", "ExperimentSummary", "KINETIC_MEASURES", "TREATMENT_MEASURES",
           "MAIN_WINDOW"]

_DESIGN_KEEP = ("condition", "compound", "concentration_M", "replicate")


@dataclass(frozen=True)
class ExperimentSummary:
    """Every table of an experiment summary (see :func:`summarize` for the columns).

    Attributes
    ----------
    design, cells, recordings, conditions, comparisons, dose_response, curves, traces :
        pandas.DataFrame
    measure : str
        The primary measure (tests first, concentration-response).
    control : str or None
    signal : str
        Trace column averaged in ``traces`` (``dff`` or ``ratio``).
    methods : str
        What was computed and why, for the report.
    """

    design: pd.DataFrame = field(repr=False)
    cells: pd.DataFrame = field(repr=False)
    recordings: pd.DataFrame = field(repr=False)
    conditions: pd.DataFrame = field(repr=False)
    comparisons: pd.DataFrame = field(repr=False)
    dose_response: pd.DataFrame = field(repr=False)
    curves: pd.DataFrame = field(repr=False)
    traces: pd.DataFrame = field(repr=False)
    measure: str = "amplitude"
    control: str | None = None
    signal: str = ""
    methods: str = ""

    def tables(self) -> dict[str, pd.DataFrame]:
        """Table name -> DataFrame, in the order the report writes them as CSV."""
        return {k: getattr(self, k) for k in ("design", "recordings", "conditions",
                                               "comparisons", "dose_response", "curves",
                                               "traces", "cells")}


def _aggregate(values: pd.Series, how: str) -> float:
    v = values.to_numpy(float)
    v = v[np.isfinite(v)]
    if not v.size:
        return math.nan
    return float(np.median(v) if how == "median" else np.mean(v))


def _recording_table(cells, counts, design, measures, per_recording, which_cells):
    """One row per recording and window; a recording with no cell rows in a window (no
    accepted ROI, or not given that treatment) gets NaN values.
    """
    groups = dict(list(cells.groupby(["recording", "window"], sort=False)))
    rows = []
    for name in counts["recording"]:
        for window, ms in measures.items():
            c = groups.get((name, window))
            if c is None:
                rows.append({"recording": name, "window": window, "n_measured": 0,
                             "n_responders": math.nan, **{m: math.nan for m in ms}})
                continue
            use = c[c["responder"]] if which_cells == "responders" else c
            row = {"recording": name, "window": window, "n_measured": int(len(c)),
                   "n_responders": int(c["responder"].sum())}
            for m in ms:
                row[m] = _aggregate(use[m], per_recording)
            rows.append(row)
    rec = pd.DataFrame(rows)
    rec = rec.merge(counts, on="recording", how="left")
    rec["responder_fraction"] = rec["n_responders"] / rec["n_accepted"].where(
        rec["n_accepted"] > 0)
    rec = design[["recording", *_DESIGN_KEEP]].merge(rec, on="recording", how="inner")
    lead = ["recording", *_DESIGN_KEEP, "window", "n_cells", "n_accepted", "n_measured",
            "n_responders", "responder_fraction"]
    return rec[lead + [c for c in rec.columns if c not in lead]]


def _mean_sem(v: pd.Series) -> tuple[float, float, int]:
    x = v.to_numpy(float)
    x = x[np.isfinite(x)]
    if not x.size:
        return math.nan, math.nan, 0
    sem = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
    return float(x.mean()), sem, int(x.size)


def _condition_table(rec, cells, design, measures, order):
    """Per condition and window: recording-level mean, SEM, n; pooled cell figures."""
    cells = cells.merge(design[["recording", "condition"]], on="recording")
    rows = []
    for (cond, window), r in rec.groupby(["condition", "window"], sort=False):
        c = cells[(cells["condition"] == cond) & (cells["window"] == window)]
        first = r.iloc[0]
        row = {"condition": cond, "compound": first["compound"],
               "concentration_M": first["concentration_M"], "window": window,
               "n_recordings": int(len(r)), "n_cells": int(r["n_cells"].sum()),
               "n_accepted": int(r["n_accepted"].sum()),
               "n_responders": int(r["n_responders"].sum())}
        for m in ("responder_fraction", *measures[window]):
            row[f"{m}_mean"], row[f"{m}_sem"], row[f"{m}_n"] = _mean_sem(r[m])
        row["pooled_cells_n"] = int(len(c))
        row["pooled_cells_responder_fraction"] = (row["n_responders"] / row["n_accepted"]
                                                  if row["n_accepted"] else math.nan)
        for m in measures[window]:
            v = c[m].to_numpy(float)
            v = v[np.isfinite(v)]
            row[f"pooled_cells_{m}_median"] = float(np.median(v)) if v.size else math.nan
            row[f"pooled_cells_{m}_mean"] = float(np.mean(v)) if v.size else math.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    out["_o"] = out["condition"].map({c: i for i, c in enumerate(order)})
    windows = [MAIN_WINDOW, *[w for w in measures if w != MAIN_WINDOW]]
    out["_w"] = out["window"].map({w: i for i, w in enumerate(windows)})
    return out.sort_values(["_w", "_o"], kind="stable").drop(columns=["_o", "_w"]).reset_index(
        drop=True)


def _comparisons(rec, control, measures, primary, test):
    parts = []
    for window, r in rec.groupby("window", sort=False):
        ms = ["responder_fraction", *measures[window]]
        ms.sort(key=lambda m: m != primary)
        for m in ms:
            if np.isfinite(r.loc[r["condition"] == control, m].to_numpy(float)).sum() < 2:
                continue
            t = compare_to_control(r, control, value=m, method=test)
            parts.append(t.assign(window=window, measure=m))
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    return out[["window", "measure", *[c for c in out.columns if c not in ("window",
                                                                         "measure")]]]


def _dose_response(rec, measure, control, direction, alpha):
    """Fits and curves per compound and window, on recording-level values."""
    fits, curves = [], []
    ctrl = rec[rec["condition"] == control] if control else rec.iloc[:0]
    for (compound, window), r in rec.groupby(["compound", "window"], sort=False):
        pos = r.loc[r["concentration_M"] > 0, "concentration_M"]
        if (compound == "" or pos.nunique() < 2 or measure not in r
                or not r[measure].notna().any()):
            continue
        c = ctrl[(ctrl["window"] == window) & (ctrl["compound"] != compound)]
        pts = pd.concat([r[np.isfinite(r["concentration_M"])],
                         c.assign(concentration_M=0.0)], ignore_index=True)
        fit = fit_dose_response(pts["concentration_M"], pts[measure], direction=direction,
                                alpha=alpha)
        fits.append({"compound": compound, "window": window, "measure": measure,
                     "n_recordings": int(len(pts)), **fit.as_dict()})
        if fit.determined:
            x = np.geomspace(pos.min() / 3, pos.max() * 3, 200)
            curves.append(pd.DataFrame({"compound": compound, "window": window,
                                        "concentration_M": x, measure: fit.predict(x)}))
    fit_table = pd.DataFrame(fits)
    curve_table = (pd.concat(curves, ignore_index=True) if curves else
                   pd.DataFrame(columns=["compound", "window", "concentration_M", measure]))
    return fit_table, curve_table


def _variance_note(rec, measure, test, label) -> str:
    """Warn in the methods text when Dunnett's equal-variance assumption is doubtful.

    That is when the SDs of the primary measure differ more than 3-fold between conditions.
    """
    if not label.startswith("Dunnett") or measure not in rec:
        return ""
    main = rec[rec["window"] == MAIN_WINDOW]
    sd = main.groupby("condition")[measure].std(ddof=1).dropna()
    sd = sd[sd > 0]
    if len(sd) < 2 or sd.max() <= 3 * sd.min():
        return ""
    return (f" Note: the SD of {measure} differs {sd.max() / sd.min():.0f}-fold between "
            f"conditions ({sd.idxmin()} to {sd.idxmax()}); Dunnett's test assumes equal "
            "variances, so small effects next to a variable condition can be missed. "
            "Consider --test welch-holm (test='welch-holm').")


def _recipe_name_pattern(folders) -> str | None:
    """The ``[experiment] name_pattern`` the results were made with (one for all)."""
    found = {}
    for n, f in folders.items():
        cfg = json.loads((f / "run.json").read_text()).get("config") or {}
        pattern = (cfg.get("experiment") or {}).get("name_pattern")
        if pattern:
            found.setdefault(pattern, []).append(n)
    if len(found) > 1:
        raise DesignError("the results were made with different [experiment] name_pattern "
                          f"settings ({ {p: v[:3] for p, v in found.items()} }); expected one "
                          "pattern for the batch: give --name-pattern or --design")
    return next(iter(found), None)


def _design_from_paths(folders, name_pattern):
    if not name_pattern:
        raise DesignError("no design: expected a design.csv (--design), a name pattern "
                          "(--name-pattern) or one in the recipe ([experiment] name_pattern)")
    texts = {}
    for n, f in folders.items():  # match on the input path: folder names count too
        inputs = json.loads((f / "run.json").read_text()).get("inputs") or [{}]
        texts[n] = str(inputs[0].get("path") or n)
    return design_from_names(texts, name_pattern)


def _resolve_design(design, name_pattern, folders, results_dir):
    names = list(folders)
    failed = [n for n in failed_recordings(results_dir) if n not in folders]
    if isinstance(design, pd.DataFrame):
        missing = set(DESIGN_COLUMNS[:4]) - set(design.columns)
        if missing:
            raise DesignError(f"design table lacks {sorted(missing)}; expected the table of "
                              "read_design or design_from_names")
        table = design.copy()
    elif design is not None:
        table = read_design(design, names + failed)
    else:
        table = _design_from_paths(folders, name_pattern or _recipe_name_pattern(folders))
    unknown = sorted(set(table["recording"]) - set(names) - set(failed))
    if unknown:
        raise DesignError(f"design names recordings without a result folder in "
                          f"{results_dir}: {unknown[:10]}; expected result folder names")
    return table[table["recording"].isin(names)].reset_index(drop=True), \
        [n for n in failed if n in set(table["recording"])]


def _pick_control(design, control):
    conditions = list(pd.unique(design["condition"]))
    if control is not None:
        if control not in conditions:
            raise DesignError(f"control {control!r} is not a condition of the design; "
                              f"expected one of {conditions}")
        return control, ""
    zero = [c for c in conditions
            if (design.loc[design["condition"] == c, "concentration_M"] == 0).all()]
    if len(zero) == 1:
        return zero[0], " (chosen as the only condition at concentration 0)"
    return None, ""


def _order(design, control):
    d = design.drop_duplicates("condition")
    d = d.assign(_c=d["condition"] != control, _x=d["concentration_M"].fillna(-1.0))
    return list(d.sort_values(["_c", "compound", "_x"], kind="stable")["condition"])


def summarize(results_dir, design, *, measure: str = "amplitude",
              control: str | None = None, name_pattern: str | None = None,
              per_recording: str = "median", cells: str = "accepted",
              direction: str = "auto", test: str = "auto",
              alpha: float = 0.05) -> ExperimentSummary:
    """Summarise a batch of result folders by the experiment design.

    Parameters
    ----------
    results_dir : str or Path
        The ``--out`` folder of ``caimg run``: one result folder per recording.
    design : str, Path, pandas.DataFrame or None
        ``design.csv`` (:func:`~caimg.experiment.design.read_design`) or a table from
        :func:`~caimg.experiment.design.design_from_names`; None with ``name_pattern``.
    measure : str
        Primary measure: tested first and fitted against concentration (one of
        :data:`KINETIC_MEASURES`, or ``"responder_fraction"``).
    control : str, optional
        Control condition. Default: the only condition whose recordings are all at
        concentration 0, if there is exactly one; else no comparisons.
    name_pattern : str, optional
        Regular expression with named groups, matched on each recording's input path,
        when no ``design`` is given; default the recipe's ``[experiment] name_pattern``
        that the results were made with.
    per_recording : {"median", "mean"}
        How the cells of one recording become its value.
    cells : {"accepted", "responders"}
        Which cells enter that value: every accepted ROI, or only responders (timings
        such as ``rise_time_s`` exist only for responders either way).
    direction : {"auto", "stimulation", "inhibition"}
        Passed to :func:`~caimg.experiment.doseresponse.fit_dose_response`.
    test : {"auto", "dunnett", "welch-holm"}
        Comparison with the control (:func:`~caimg.experiment.stats.compare_to_control`):
        Dunnett's test (equal variances) or Welch t-tests with Holm's correction (unequal
        variances, e.g. a response whose spread grows with its size).
    alpha : float
        1 - confidence level of the EC50 interval.

    Returns
    -------
    ExperimentSummary
        ``recordings``: one row per recording and window with ``n_cells`` (ROIs),
        ``n_accepted``, ``n_responders``, ``responder_fraction = n_responders /
        n_accepted`` and each measure aggregated over the recording's cells.
        ``conditions``: per condition and window, ``{m}_mean``, ``{m}_sem``, ``{m}_n``
        over recordings and ``pooled_cells_*`` figures over all cells.
        ``comparisons``: every condition vs the control per window and measure.
        ``dose_response`` / ``curves``: 4PL fits per compound and window. ``traces``:
        mean +/- SEM trace per condition, time from the stimulus. ``cells``: the cell
        rows used.

    Raises
    ------
    DesignError
        A bad design (see :func:`~caimg.experiment.design.read_design`) or control.
    ResultError
        No result folder, or an unreadable one.
    """
    if per_recording not in ("median", "mean"):
        raise CaimgError(f"per_recording = {per_recording!r}: expected 'median' or 'mean'")
    if test not in ("auto", "dunnett", "welch-holm"):
        raise CaimgError(f"test = {test!r}: expected 'auto', 'dunnett' or 'welch-holm'")
    if cells not in ("accepted", "responders"):
        raise CaimgError(f"cells = {cells!r}: expected 'accepted' or 'responders'")
    results_dir = Path(results_dir)
    folders = result_folders(results_dir)
    table, failed = _resolve_design(design, name_pattern, folders, results_dir)
    if measure not in (*KINETIC_MEASURES, *TREATMENT_MEASURES, "responder_fraction"):
        raise CaimgError(f"measure = {measure!r}: expected one of "
                         f"{sorted({*KINETIC_MEASURES, *TREATMENT_MEASURES})} or "
                         "'responder_fraction'")
    control, why = _pick_control(table, control)
    cell_rows, counts, traces, signal, stim = read_results(folders, table["recording"])
    measures = {MAIN_WINDOW: KINETIC_MEASURES}
    measures.update({w: TREATMENT_MEASURES for w in pd.unique(cell_rows["window"])
                     if w != MAIN_WINDOW})
    if measure not in {"responder_fraction", *[m for ms in measures.values() for m in ms]}:
        raise CaimgError(f"measure = {measure!r} is measured only in treatment windows "
                         f"(treatments.csv), and {results_dir} has none; expected one of "
                         f"{list(KINETIC_MEASURES)} or 'responder_fraction'")
    rec = _recording_table(cell_rows, counts, table, measures, per_recording, cells)
    order = _order(table, control)
    conds = _condition_table(rec, cell_rows, table, measures, order)
    comps = (_comparisons(rec, control, measures, measure, test) if control
             else pd.DataFrame())
    fits, curves = _dose_response(rec, measure, control, direction, alpha)
    done = comps.loc[comps["test"] != "", "test"] if len(comps) else pd.Series([], dtype=object)
    label = done.iloc[0] if len(done) else ("Welch" if test == "welch-holm" else "Dunnett")
    methods = methods_text(test=label, control=f"{control}{why}" if control else None,
                           measure=measure, per_recording=per_recording, cells=cells)
    methods += _variance_note(rec, measure, test, label) if control else ""
    if failed:
        methods += f" Recordings that failed in the batch and are left out: {failed}."
    if not stim:
        methods += (" Some recordings had no stimulus time; their traces are aligned to "
                    "their first frame.")
    return ExperimentSummary(design=table, cells=cell_rows, recordings=rec, conditions=conds,
                             comparisons=comps, dose_response=fits, curves=curves,
                             traces=condition_traces(traces, table, order), measure=measure,
                             control=control, signal=signal, methods=methods)

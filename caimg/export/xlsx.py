"""Excel workbook of a batch: summary, kinetics, ROIs, and wide traces per recording.

The wide traces sheets (``time_s`` in the first column, one column per ROI) are what
Excel and GraphPad Prism users paste; the long tables are the result-folder CSVs with a
``recording`` column, as in the batch tables of ``caimg run``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from ._common import ExportError, atomic_target, require, result_folders_in

__all__ = ["export_xlsx", "safe_sheet_names", "EXCEL_MAX_ROWS", "EXCEL_MAX_COLUMNS"]

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
_SHEET_MAX = 31
_BAD_CHARS = re.compile(r"[\[\]:*?/\\]")
#: the fixed sheets, in workbook order after ``index``
TABLE_SHEETS = ("recordings", "kinetics", "rois", "treatments", "failures")


def safe_sheet_names(names: Sequence[str], *, taken: Iterable[str] = ()) -> list[str]:
    r"""Excel-safe, unique sheet names for ``names``, in order.

    Excel limits a sheet name to 31 characters, forbids ``[ ] : * ? / \\``, a leading or
    trailing apostrophe, an empty name and the name ``History``, and compares names
    case-insensitively. Forbidden characters become ``_``; a name that is too long or
    already taken is cut and given a ``~2``, ``~3``, ... suffix.

    Parameters
    ----------
    names : sequence of str
        Wanted names.
    taken : iterable of str
        Names already used in the workbook.

    Returns
    -------
    list of str
        One safe name per input name.
    """
    used = {t.casefold() for t in taken}
    out = []
    for name in names:
        base = _BAD_CHARS.sub("_", str(name)).strip("'") or "sheet"
        if base.casefold() == "history":
            base = "History_"
        cand = base[:_SHEET_MAX]
        k = 1
        while cand.casefold() in used:
            k += 1
            tail = f"~{k}"
            cand = base[:_SHEET_MAX - len(tail)] + tail
        used.add(cand.casefold())
        out.append(cand)
    return out


def _combined(results, name: str) -> pd.DataFrame | None:
    """The per-recording table ``name`` (``kinetics``, ``rois``, ``treatments``) of every
    result, with a leading ``recording`` column, as ``caimg run`` writes its batch tables:
    the folder's CSV as it is, or the in-memory table of a result without a folder. None
    when no result has the table.
    """
    parts = []
    for res in results:
        path = Path(res.folder) / f"{name}.csv" if res.folder is not None else None
        if path is not None:
            if not path.is_file():
                continue
            try:
                df = pd.read_csv(path)
            except pd.errors.EmptyDataError:
                continue
        else:
            df = getattr(res, name)
            if df is None:
                continue
            df = df.copy()
        df.insert(0, "recording", res.name)
        parts.append(df)
    if not parts:
        return None
    parts = [p for p in parts if len(p)] or parts[:1]
    return pd.concat(parts, ignore_index=True)


def _summary(results) -> pd.DataFrame:
    """One row per result, for workbooks made without a batch ``recordings.csv``."""
    rows = []
    for res in results:
        rois, kin = res.rois, res.kinetics
        n_acc = int(rois["accepted"].astype(bool).sum()) if len(rois) else 0
        n_resp = (int(kin.loc[kin["responder"].astype(bool), "roi"].nunique())
                  if len(kin) and "responder" in kin else 0)
        time_s, _, _ = res.trace_matrix()
        paths = [str(i.get("path")) for i in res.provenance.get("inputs", [])
                 if isinstance(i, dict)]
        rows.append({"recording": res.name, "indicator": res.indicator,
                     "signal": res.signal_column, "n_frames": len(time_s),
                     "frame_interval_s": res.provenance.get("frame_interval_s"),
                     "n_rois": res.n_rois, "n_accepted": n_acc, "n_responders": n_resp,
                     "responder_fraction": n_resp / n_acc if n_acc else float("nan"),
                     "stimulus_time_s": res.config.kinetics.stimulus_time_s,
                     "path": ";".join(paths)})
    return pd.DataFrame(rows, columns=["recording", "indicator", "signal", "n_frames",
                                       "frame_interval_s", "n_rois", "n_accepted",
                                       "n_responders", "responder_fraction",
                                       "stimulus_time_s", "path"])


def wide_traces(result, column: str | None = None) -> pd.DataFrame:
    """``time_s`` then one column ``roi_<id>`` per ROI: :meth:`Result.trace_matrix` as a
    table (rows are frames).
    """
    column = column or result.signal_column
    time_s, roi_ids, values = result.trace_matrix(column)
    df = pd.DataFrame(values, columns=[f"roi_{int(r)}" for r in roi_ids])
    df.insert(0, "time_s", time_s)
    return df


def _check_fits(df: pd.DataFrame, what: str) -> None:
    if len(df) + 1 > EXCEL_MAX_ROWS or len(df.columns) > EXCEL_MAX_COLUMNS:
        raise ExportError(f"{what}: {len(df)} rows x {len(df.columns)} columns do not fit an "
                          f"Excel sheet ({EXCEL_MAX_ROWS - 1} rows x {EXCEL_MAX_COLUMNS} "
                          "columns); export fewer recordings or use the CSV files of the "
                          "result folders")


def export_xlsx(results, path: str | Path, *, signals: Sequence[str] | None = None) -> Path:
    r"""Write one Excel workbook for a batch of results.

    Parameters
    ----------
    results : path, Result, or sequence of them
        A batch output folder of ``caimg run`` (all result folders inside), result
        folders, or :class:`~caimg.result.Result` objects with a ``folder``.
    path : path
        The ``.xlsx`` file to write (replaced atomically when it exists).
    signals : sequence of str, optional
        Trace columns to write as wide sheets, e.g. ``("ratio", "f340", "f380")``. Default:
        each result's main signal (``ratio`` for Fura-2, ``dff`` for Fluo-4). A column a
        result does not have is skipped for that result.

    Returns
    -------
    Path
        The workbook written. Sheets, in order:

        - ``index``: every sheet, what it holds, its recording and source file;
        - ``recordings``: the batch ``recordings.csv`` when a single batch folder is given,
          else one row per result (ROI, accepted and responder counts, frame interval);
        - ``kinetics``, ``rois`` (and ``treatments``): the result folders' CSVs with a
          leading ``recording`` column, as the batch tables of ``caimg run``;
        - ``failures``: the batch ``failures.csv``, when it lists any recording;
        - one wide traces sheet per recording (and signal): ``time_s`` in seconds, then
          one column ``roi_<id>`` per ROI, one row per frame. Sheet names are the recording
          names made Excel-safe (31 characters, no ``[]:*?/\\``, unique); the index sheet
          maps them back.

    Raises
    ------
    ExportError
        openpyxl is missing (``pip install 'caimg[export]'``), no results, or a table
        larger than an Excel sheet.
    """
    require("openpyxl", what="the Excel export")
    from ..io.result import load_result
    from ..result import Result

    items = list(results) if isinstance(results, (list, tuple)) else [results]
    batch_dirs = [Path(p) for p in items if not isinstance(p, Result)
                  and Path(p).is_dir() and not (Path(p) / "run.json").is_file()]
    loaded = [r for r in items if isinstance(r, Result)]
    folders = result_folders_in([p for p in items if not isinstance(p, Result)])
    loaded += [load_result(f) for f in folders]
    if not loaded:
        raise ExportError(f"{path}: no results to export; pass a batch output folder or "
                          "result folders")
    names = [r.name for r in loaded]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ExportError(f"{path}: several results are named {', '.join(dup)}; one workbook "
                          "needs unique recording names (export them into separate workbooks)")
    batch = batch_dirs[0] if len(batch_dirs) == 1 and len(items) == 1 else None

    sheets: list[tuple[str, pd.DataFrame, str, str, str]] = []  # (want, df, what, rec, src)
    recs_csv = batch / "recordings.csv" if batch is not None else None
    if recs_csv is not None and recs_csv.is_file():
        sheets.append(("recordings", pd.read_csv(recs_csv), "batch summary, one row per "
                       "recording", "", str(recs_csv)))
    else:
        sheets.append(("recordings", _summary(loaded), "summary, one row per recording",
                       "", "result folders"))
    for name, what in (("kinetics", "kinetics, one row per ROI and response"),
                       ("rois", "ROI table, one row per ROI"),
                       ("treatments", "responses per ROI and treatment")):
        df = _combined(loaded, name)
        if df is None and name != "treatments":
            df = pd.DataFrame(columns=["recording"])
        if df is not None:
            sheets.append((name, df, what + " (recording column added)", "",
                           f"<recording>/{name}.csv"))
    if batch is not None and (batch / "failures.csv").is_file():
        try:
            fail = pd.read_csv(batch / "failures.csv")
        except pd.errors.EmptyDataError:
            fail = pd.DataFrame()
        if len(fail):
            sheets.append(("failures", fail, "recordings that failed", "",
                           str(batch / "failures.csv")))
    fixed = [s[0] for s in sheets]
    trace_items = []
    for res in loaded:
        cols = signals or [res.signal_column]
        for col in cols:
            if col not in res.traces.columns and not res.traces.empty:
                continue
            want = res.name if len(cols) == 1 else f"{res.name} {col}"
            trace_items.append((want, res, col))
    safe = safe_sheet_names([t[0] for t in trace_items], taken=["index", *fixed])
    for sheet, (_, res, col) in zip(safe, trace_items, strict=True):
        unit = "" if col != "ca_nM" else " (nM)"
        sheets.append((sheet, wide_traces(res, col), f"traces: {col}{unit} per ROI (columns) "
                       "and frame (rows), time_s in seconds", res.name,
                       str(Path(res.folder) / "traces.csv") if res.folder else ""))
    index = pd.DataFrame([{"sheet": s, "contents": what, "recording": rec, "source": src}
                          for s, _, what, rec, src in sheets],
                         columns=["sheet", "contents", "recording", "source"])
    for s, df, *_ in sheets:
        _check_fits(df, f"{path} sheet {s!r}")
    path = Path(path)
    with atomic_target(path) as tmp:
        with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
            index.to_excel(writer, sheet_name="index", index=False)
            for s, df, *_ in sheets:
                df.to_excel(writer, sheet_name=s, index=False)
            for ws in writer.book.worksheets:
                ws.freeze_panes = "A2"
    return path

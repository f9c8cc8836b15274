"""The review's file work: the recording behind a result, a batch's result folders, and
the batch tables a reviewed recording's rows are rewritten in.

:class:`caimg.review.ReviewSession` and the napari reader use these; they are re-exported by
:mod:`caimg.review`. Reading goes through :func:`caimg.io.stack.read_recording`, writing
through :func:`caimg.io.result.write_table` into a temporary file renamed over the table.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ._batch_tables import out_lock, recording_counts
from .errors import ResultError
from .recording import Recording
from .result import Result

__all__ = ["find_recording", "result_folders", "update_batch_tables"]


def result_folders(parent: str | Path) -> list[Path]:
    """List the result folders directly inside ``parent`` (a batch output), by name.

    Parameters
    ----------
    parent : str or Path
        A folder, usually the output folder of :func:`caimg.run_batch`.

    Returns
    -------
    list of Path
        Sub-folders holding a ``run.json``, hidden ones (interrupted runs) left out; empty
        when ``parent`` is not a folder.

    Raises
    ------
    OSError
        When ``parent`` cannot be listed (for example ``PermissionError``).
    """
    parent = Path(parent)
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / "run.json").is_file())


def find_recording(result: Result) -> Recording:
    """Read the recording a result was made from, as recorded in its ``run.json``.

    The input paths, layout, frame interval and pixel size are those of the run. When a
    file is no longer at its recorded path, a file of the same name and size next to the
    result folder (or its parent) is used instead.

    Parameters
    ----------
    result : Result
        A result with its provenance (``run.json``), usually from :func:`caimg.load_result`.

    Returns
    -------
    Recording
        Read lazily, as :func:`caimg.io.stack.read_recording` does.

    Raises
    ------
    ResultError
        When the input cannot be found or no longer matches the recorded shape.
    """
    from .io.stack import read_recording

    prov = result.provenance
    inputs = prov.get("inputs") or []
    where = result.folder or result.name
    if not inputs:
        raise ResultError(f"{where}: run.json lists no input files, so the recording cannot be "
                          "re-read; open the stack in the viewer or pass recording=")
    paths = []
    for inp in inputs:
        p = Path(inp.get("path", ""))
        cands = [p]
        if result.folder is not None:
            parent = Path(result.folder).parent
            cands += [parent / p.name, parent.parent / p.name]
        found = next((c for c in cands if c.is_file() and ("size" not in inp
                                                          or c.stat().st_size == inp["size"])),
                     None)
        if found is None:
            raise ResultError(f"{where}: input {p} recorded in run.json is missing (also looked "
                              f"next to the result folder); expected the original stack there, "
                              "or pass recording= to ReviewSession")
        paths.append(found)
    cfg = result.config
    layout = prov.get("layout") or cfg.input.layout
    rec = read_recording(paths[0] if len(paths) == 1 else tuple(paths), layout=layout,
                         channel_order=cfg.input.channel_order,
                         pair_suffixes=cfg.input.pair_suffixes,
                         frame_interval_s=prov.get("frame_interval_s"),
                         pixel_size_um=prov.get("pixel_size_um"), name=result.name)
    shape = prov.get("shape")
    if shape is not None and list(rec.shape) != list(shape):
        raise ResultError(f"{where}: the input {paths[0]} now has shape {rec.shape}, the result "
                          f"was made from shape {tuple(shape)}; expected the same recording")
    return rec


def _replace_rows(table: pd.DataFrame, recording: str, rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.copy()
    rows.insert(0, "recording", recording)
    if "recording" not in table or len(table) == 0:
        return pd.concat([table, rows], ignore_index=True) if len(table) else rows
    hit = (table["recording"].astype(str) == recording).to_numpy()
    if not hit.any():
        return pd.concat([table, rows], ignore_index=True)
    first = int(np.flatnonzero(hit)[0])
    before, after = table.iloc[:first], table.iloc[first:]
    after = after[~(after["recording"].astype(str) == recording).to_numpy()]
    parts = [p for p in (before, rows, after) if len(p)]
    return pd.concat(parts, ignore_index=True)


def update_batch_tables(folder: str | Path) -> list[Path]:
    """Refresh this recording's rows in the batch tables of the folder's parent.

    ``<parent>/rois.csv`` and ``<parent>/kinetics.csv`` (written by :func:`caimg.run_batch`,
    with a ``recording`` column) get this recording's rows replaced by the folder's current
    ``rois.csv`` / ``kinetics.csv``, and its ``recordings.csv`` row gets the new counts, in
    place, under the batch folder's lock (a batch may be rebuilding the tables meanwhile).
    Tables that do not exist are not created.

    Parameters
    ----------
    folder : str or Path
        A result folder inside a batch output folder.

    Returns
    -------
    list of Path
        The tables that were rewritten.
    """
    folder = Path(folder)
    names = ("rois.csv", "kinetics.csv", "recordings.csv")
    if not any((folder.parent / name).is_file() for name in names):
        return []
    with out_lock(folder.parent):
        return [folder.parent / name for name in names if _update_one(folder, name)]


def _update_one(folder: Path, name: str) -> bool:
    from .io.result import write_table

    batch = folder.parent / name
    if not batch.is_file():
        return False
    try:
        table = pd.read_csv(batch)
    except pd.errors.EmptyDataError:
        table = pd.DataFrame()
    if len(table.columns) and "recording" not in table.columns:
        return False  # not a batch table
    if name == "recordings.csv":
        at = table["recording"].astype(str) == folder.name if len(table.columns) else []
        if not np.any(at):
            return False
        try:
            kin = pd.read_csv(folder / "kinetics.csv")
        except pd.errors.EmptyDataError:
            kin = pd.DataFrame(columns=["roi", "responder"])
        for column, value in recording_counts(kin).items():
            table.loc[at, column] = value
        new = table
    else:
        try:
            rows = pd.read_csv(folder / name)
        except pd.errors.EmptyDataError:
            rows = pd.DataFrame()
        new = _replace_rows(table, folder.name, rows)
    tmp = batch.with_name(f".{name}.review.tmp")
    write_table(new, tmp)
    os.replace(tmp, batch)
    return True

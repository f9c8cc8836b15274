"""The batch tables of an output folder (``kinetics.csv``, ``rois.csv``, ``recordings.csv``,
``failures.csv``, ``warnings.csv``, ``treatments.csv``): the union of what is in ``--out``.

They are rebuilt from the result folders on disk, not from one run's outcomes, under an
exclusive lock on ``<out>/.caimg.lock``, so runs into one folder (one after the other, or at
the same time) never lose each other's rows. Failure rows of earlier runs are kept for
recordings this run did not process, until that recording has a result. Every table is
first written under a temporary name; only when all are written are they renamed into
place, so a full disk or any write error leaves the previous tables as they were.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import ResultError
from .result import BATCH_FAILURE_COLUMNS

__all__ = [
    "BATCH_TABLES",
    "LOCK_NAME",
    "RECORDING_COLUMNS",
    "WARNING_COLUMNS",
    "BatchTables",
    "out_lock",
    "rebuild_tables",
    "recording_counts",
    "replace_table",
    "write_failures_only",
]

log = logging.getLogger("caimg")

#: Columns of the batch-level ``warnings.csv``: one row per warning of a recording.
WARNING_COLUMNS = ("recording", "category", "message")
RECORDING_COLUMNS = ("recording", "status", "n_accepted", "n_responders", "responder_fraction",
                     "path")
#: Files of ``--out`` that are not result folders (a recording may not take these names).
BATCH_TABLES = ("kinetics.csv", "rois.csv", "failures.csv", "warnings.csv", "recordings.csv",
                "treatments.csv")
LOCK_NAME = ".caimg.lock"


@dataclass(frozen=True)
class BatchTables:
    kinetics: pd.DataFrame
    rois: pd.DataFrame
    failures: pd.DataFrame
    warnings: pd.DataFrame
    recordings: pd.DataFrame
    treatments: pd.DataFrame | None


@contextlib.contextmanager
def out_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<out>/.caimg.lock`` (blocks while another run holds it)."""
    import fcntl

    with open(Path(out) / LOCK_NAME, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _result_folders(out: Path) -> list[str]:
    """Names of the complete results of this format version in ``out``, sorted."""
    from .io.result import FORMAT_VERSION, is_result_folder, result_format_version

    names = []
    for entry in sorted(out.iterdir()):
        if (entry.is_dir() and not entry.name.startswith(".") and is_result_folder(entry)
                and result_format_version(entry) == FORMAT_VERSION):
            names.append(entry.name)
    return names


def _read_earlier(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """An earlier batch table (failures.csv, warnings.csv); empty when missing or unreadable
    (e.g. re-saved as UTF-16 by a spreadsheet), with a log line saying so.
    """
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        return pd.DataFrame(columns=list(columns))
    except (OSError, ValueError, pd.errors.EmptyDataError) as exc:
        log.warning("%s: cannot be read (%s); its earlier rows are not kept", path,
                    " ".join(str(exc).split()))
        return pd.DataFrame(columns=list(columns))
    if not set(columns) <= set(df.columns):
        log.warning("%s: not a caimg batch table (columns %s); its earlier rows are not kept",
                    path, list(df.columns))
        return pd.DataFrame(columns=list(columns))
    return df[list(columns)]


def _split_warning(text: str) -> tuple[str, str]:
    category, sep, message = str(text).partition(": ")
    if not sep or not category.isidentifier():
        return "", str(text)
    return category, message


def _responder_fraction(k: pd.DataFrame) -> float:
    from .batch import responder_fraction

    return responder_fraction(k) if len(k) else float("nan")


def recording_counts(kinetics: pd.DataFrame) -> dict:
    """``n_accepted``, ``n_responders`` and ``responder_fraction`` of one recording's
    ``kinetics.csv`` (its ``recordings.csv`` row).
    """
    k = kinetics
    if not len(k):
        return {"n_accepted": 0, "n_responders": 0, "responder_fraction": float("nan")}
    return {"n_accepted": int(k["roi"].nunique()),
            "n_responders": int(k.loc[k["responder"].astype(bool), "roi"].nunique()),
            "responder_fraction": _responder_fraction(k)}


def _folder_part(folder: Path, name: str, problems: list) -> pd.DataFrame | None:
    try:
        return pd.read_csv(folder / name)
    except FileNotFoundError:
        return None
    except pd.errors.EmptyDataError:
        return None
    except (OSError, ValueError) as exc:  # e.g. re-saved as UTF-16
        message = (f"{folder / name}: cannot be read as a caimg table "
                   f"({' '.join(str(exc).split())}); expected the UTF-8 CSV caimg writes. "
                   "Rerun with --force to redo this result")
        problems.append((folder.name, message))
        return None


def _run_json(folder: Path) -> dict:
    try:
        prov = json.loads((folder / "run.json").read_text())
        return prov if isinstance(prov, dict) else {}
    except (OSError, ValueError):
        return {}


def _gather(out: Path, outcomes) -> BatchTables:
    """The tables from the result folders in ``out``, this run's outcomes and the earlier
    failure/warning rows of recordings neither processed now nor with a result.
    """
    from .result import KINETICS_COLUMNS

    this = {o.name: o for o in outcomes}
    folders = set(_result_folders(out))
    names = [o.name for o in outcomes] + sorted(folders - set(this))
    kin, rois, treat, warn_rows, rec_rows, fail_rows, problems = [], [], [], [], [], [], []
    for name in names:
        o = this.get(name)
        prov = _run_json(out / name) if name in folders else {}
        k = pd.DataFrame(columns=["roi", "responder"])
        if name in folders:
            for part, acc in (("kinetics.csv", kin), ("rois.csv", rois),
                              ("treatments.csv", treat)):
                df = _folder_part(out / name, part, problems)
                if df is None:
                    continue
                df.insert(0, "recording", name)
                acc.append(df)
                if part == "kinetics.csv" and {"roi", "responder"} <= set(df.columns):
                    k = df
        texts = o.warnings if o is not None else tuple(str(w) for w in prov.get("warnings", ()))
        for text in texts:
            category, message = _split_warning(text)
            warn_rows.append({"recording": name, "category": category, "message": message})
        if o is not None:
            path = ";".join(o.paths)
        else:
            path = ";".join(str(i.get("path")) for i in prov.get("inputs", ())
                            if isinstance(i, dict))
        rec_rows.append({"recording": name, "status": o.status if o is not None else "earlier",
                         **recording_counts(k), "path": path})
        if o is not None and o.status == "failed":
            fail_rows.append({"recording": name, "path": path, "error_type": o.error_type,
                              "message": o.message})
    for name, message in problems:
        fail_rows.append({"recording": name, "path": str(out / name),
                          "error_type": "ResultError", "message": message})
    # earlier runs' failures of recordings that are neither in this run nor a result now
    earlier = _read_earlier(out / "failures.csv", BATCH_FAILURE_COLUMNS)
    keep = earlier[~earlier["recording"].isin(set(names)) & (earlier["recording"] != "")]
    kept = set(keep["recording"])
    old_warn = _read_earlier(out / "warnings.csv", WARNING_COLUMNS)
    for row in keep.to_dict("records"):
        fail_rows.append(row)
        rec_rows.append({"recording": row["recording"], "status": "failed", "n_accepted": 0,
                         "n_responders": 0, "responder_fraction": float("nan"),
                         "path": row["path"]})
    warn_rows.extend(old_warn[old_warn["recording"].isin(kept)].to_dict("records"))
    return BatchTables(
        kinetics=(pd.concat(kin, ignore_index=True) if kin
                  else pd.DataFrame(columns=["recording", *KINETICS_COLUMNS])),
        rois=(pd.concat(rois, ignore_index=True) if rois
              else pd.DataFrame(columns=["recording", "roi"])),
        failures=pd.DataFrame(fail_rows, columns=list(BATCH_FAILURE_COLUMNS)),
        warnings=pd.DataFrame(warn_rows, columns=list(WARNING_COLUMNS)),
        recordings=pd.DataFrame(rec_rows, columns=list(RECORDING_COLUMNS)),
        treatments=pd.concat(treat, ignore_index=True) if treat else None)


def rebuild_tables(out: Path, outcomes) -> BatchTables:
    """Rebuild and write every batch table of ``out`` under its lock; returns them.

    Parameters
    ----------
    out : Path
        The output folder of the batch.
    outcomes : sequence of RecordingOutcome
        This run's outcomes, in the order their rows come first (then the results of
        earlier runs, by name).

    Returns
    -------
    BatchTables
        The tables as written.

    Raises
    ------
    ResultError
        A table could not be written (e.g. the disk is full); the previous tables are left
        as they were.
    """
    out = Path(out)
    with out_lock(out):
        clean_stale_table_temporaries(out)
        tables = _gather(out, outcomes)
        files = [(tables.kinetics, "kinetics.csv"), (tables.rois, "rois.csv"),
                 (tables.failures, "failures.csv"), (tables.warnings, "warnings.csv"),
                 (tables.recordings, "recordings.csv")]
        if tables.treatments is not None:
            files.append((tables.treatments, "treatments.csv"))
        replace_tables(out, files)
    return tables


_TABLE_TMP = re.compile(r"^\.(?P<name>[^/]+)\.(?P<pid>\d+)\.tmp$")


def clean_stale_table_temporaries(out: Path) -> list[str]:
    """Remove the hidden ``.<table>.<pid>.tmp`` files of processes that no longer run (a
    batch killed while writing its tables); returns their names.
    """
    from .io.result import pid_alive

    removed = []
    for entry in Path(out).iterdir():
        m = _TABLE_TMP.match(entry.name)
        if m and entry.is_file() and not pid_alive(int(m["pid"])):
            entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return removed


def replace_tables(out: Path, files) -> None:
    """Write ``[(df, name), ...]`` into ``out`` all or nothing: every table under a temporary
    name first, then each renamed into place; on an error the temporaries are removed and
    the previous tables stay.
    """
    from .io.result import write_table

    tmps = []
    try:
        for df, name in files:
            tmp = out / f".{name}.{os.getpid()}.tmp"
            tmps.append((tmp, out / name))
            write_table(df, tmp)
        for tmp, final in tmps:
            os.replace(tmp, final)
    except OSError as exc:
        raise ResultError(
            f"{out}: the batch tables could not be written ({exc.strerror or exc}); the "
            "previous tables are left as they were and every result folder written is "
            "complete. Free some space (or fix the folder's permissions) and run again: "
            "finished recordings are skipped") from exc
    finally:
        for tmp, _ in tmps:
            tmp.unlink(missing_ok=True)


def replace_table(df: pd.DataFrame, path: Path) -> None:
    """Write one batch table under a temporary name and rename it into place."""
    replace_tables(Path(path).parent, [(df, Path(path).name)])


def write_failures_only(out: Path, rows) -> None:
    """failures.csv for a batch that could not start (bad recipe, no input at all): these
    rows, after the earlier runs' rows of other recordings (kept, as a finished batch keeps
    them: a rerun with a bad recipe must not lose what an earlier run recorded).
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        new = pd.DataFrame(rows, columns=list(BATCH_FAILURE_COLUMNS))
        with out_lock(out):  # another run may be rebuilding the tables
            earlier = _read_earlier(out / "failures.csv", BATCH_FAILURE_COLUMNS)
            earlier = earlier[~earlier["recording"].isin(set(new["recording"]))
                              & (earlier["recording"] != "")]
            replace_table(pd.concat([earlier, new], ignore_index=True) if len(earlier)
                          else new, out / "failures.csv")
    except (OSError, ResultError) as exc:  # the error being reported matters more
        log.warning("could not write %s: %s", out / "failures.csv", exc)

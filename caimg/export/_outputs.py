"""Exports as outputs of ``caimg run`` (recipe ``[output] nwb/xlsx``) and kept consistent
when a result changes (the napari review's Save).
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._common import BATCH_XLSX, EXTRA_HINT, ExportError, ExportWarning, default_nwb_path, require

__all__ = ["write_outputs", "refresh_exports", "load_nwb_metadata", "merge_metadata",
           "existing_nwb_metadata", "STALE_SUFFIX"]

log = logging.getLogger("caimg")

#: what an export that could not be refreshed is renamed to (``x.nwb`` -> ``x.nwb.stale``)
STALE_SUFFIX = ".stale"


def load_nwb_metadata(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read NWB metadata from a TOML file with ``[nwbfile]`` and ``[subject]`` tables.

    Example::

        [nwbfile]
        experimenter = ["Doe, Jane"]
        institution = "Example University"
        experiment_description = "igmesine concentration series on HEK293 cells"

        [subject]
        species = "Homo sapiens"
        description = "HEK293 cells, passage 12"

    Raises
    ------
    ExportError
        The file cannot be read or is not TOML.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ExportError(f"{path}: cannot read NWB metadata ({exc}); expected a TOML file "
                          "with [nwbfile] and [subject] tables") from exc
    from .nwb import check_nwb_metadata

    try:
        return check_nwb_metadata(data)
    except ExportError as exc:
        raise ExportError(f"{path}: {exc}") from None


def _output_options(folder: Path) -> dict[str, Any]:
    """The ``[output]`` table of the recipe a result was made with (from its run.json)."""
    try:
        prov = json.loads((folder / "run.json").read_text())
        out = prov["config"]["output"]
        return out if isinstance(out, dict) else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def merge_metadata(*mds) -> dict[str, dict[str, Any]]:
    """Merge NWB metadata mappings, later ones winning key by key.

    Parameters
    ----------
    *mds : mapping or None
        ``{"nwbfile": {...}, "subject": {...}}`` each; None or a missing table adds nothing.

    Returns
    -------
    dict
        ``{"nwbfile": {...}, "subject": {...}}``.
    """
    out: dict[str, dict[str, Any]] = {"nwbfile": {}, "subject": {}}
    for md in mds:
        for k in out:
            out[k].update((md or {}).get(k, {}))
    return out


def existing_nwb_metadata(path: Path) -> dict[str, dict[str, Any]]:
    """Metadata of an NWB file about to be replaced (so a user's subject survives).

    Parameters
    ----------
    path : Path
        The existing NWB file.

    Returns
    -------
    dict
        ``{"nwbfile": {...}, "subject": {...}}`` as :func:`~caimg.export.nwb.read_nwb_metadata`
        reads it, or ``{}`` (with a logged warning) when the file cannot be read.

    Raises
    ------
    ExportError
        pynwb is missing, or the recorded metadata is invalid.
    """
    from .nwb import read_nwb_metadata

    try:
        md = read_nwb_metadata(path)
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001 - an unreadable old file is simply replaced
        log.warning("%s: could not read its metadata (%s); it is replaced", path, exc)
        return {}
    return md


def _mark_stale(path: Path, reason: str, how: str) -> Path:
    stale = path.with_name(path.name + STALE_SUFFIX)
    os.replace(path, stale)
    warnings.warn(f"{path}: not updated after its result changed ({reason}); renamed to "
                  f"{stale.name} so it is not mistaken for a current export. To rewrite it: "
                  f"{how}", ExportWarning, stacklevel=3)
    return stale


def _refresh_nwb(folder: Path, path: Path, extra_md=None) -> Path:
    """Rewrite ``path`` (or its ``.stale`` copy) from ``folder``, keeping its metadata."""
    from .nwb import export_nwb

    old = path if path.is_file() else path.with_name(path.name + STALE_SUFFIX)
    md = merge_metadata(existing_nwb_metadata(old) if old.is_file() else {}, extra_md)
    written = export_nwb(folder, path, metadata=md)
    stale = path.with_name(path.name + STALE_SUFFIX)
    stale.unlink(missing_ok=True)
    return written


def refresh_exports(result_folder: str | Path) -> list[Path]:
    """Rewrite the exports of a result folder after it changed, or mark them stale.

    Looked for (the places ``caimg run`` and ``caimg export`` write by default):
    ``<parent>/<recording>.nwb``, ``<parent>/caimg_batch.xlsx`` (the whole batch is
    rewritten) and ``<parent>/<recording>.xlsx``; also their ``.stale`` copies left by an
    earlier refresh that could not run. An NWB file keeps its user metadata (subject,
    experimenter, ...).

    When an export cannot be rewritten (the ``export`` extra is missing, or the writer
    fails), the file is renamed to ``<file>.stale`` and an :class:`ExportWarning` says why
    and how to rewrite it; the result folder itself is never touched.

    Parameters
    ----------
    result_folder : path
        The result folder that changed.

    Returns
    -------
    list of Path
        The files written or renamed to ``.stale``.
    """
    folder = Path(result_folder)
    done: list[Path] = []
    targets = [(default_nwb_path(folder), "nwb", folder),
               (folder.parent / BATCH_XLSX, "xlsx", folder.parent),
               (folder.parent / f"{folder.name}.xlsx", "xlsx", folder)]
    for path, kind, source in targets:
        stale = path.with_name(path.name + STALE_SUFFIX)
        if not path.is_file() and not stale.is_file():
            continue
        how = f"{EXTRA_HINT}, then run: caimg export {kind} {source}" + (
            f" --out {path}" if kind == "xlsx" else "")
        try:
            if kind == "nwb":
                done.append(_refresh_nwb(folder, path))
            else:
                from .xlsx import export_xlsx

                done.append(export_xlsx(source, path))
                stale.unlink(missing_ok=True)
        except Exception as exc:  # noqa: BLE001 - the saved result matters more
            if path.is_file():
                done.append(_mark_stale(path, f"{type(exc).__name__}: {exc}", how))
            else:
                log.warning("%s: still stale (%s)", stale, exc)
    return done


def write_outputs(out_dir: str | Path, outcomes: Iterable) -> list[Path]:
    """The exports ``caimg run`` writes after its batch tables.

    For each recording processed now or skipped as unchanged: ``<out>/<recording>.nwb``
    when its recipe says ``[output] nwb = true`` (rewritten when the result is new, or the
    NWB file is missing or older than the result), or when such a file already exists
    and the result was just remade (so an old export is never left behind silently).
    ``<out>/caimg_batch.xlsx`` when any recipe says ``[output] xlsx = true``, or when it
    exists and any result was remade.

    Parameters
    ----------
    out_dir : path
        The batch output folder.
    outcomes : iterable of RecordingOutcome
        From :func:`caimg.batch.run_batch` (``status``, ``folder``).

    Returns
    -------
    list of Path
        The files written (or marked stale).

    Raises
    ------
    ExportError
        A recipe asks for an export and its library is missing (``pip install
        'caimg[export]'``), or an NWB file could not be written (every other export is
        written first); the result folders and batch tables are already written.
    """
    out_dir = Path(out_dir)
    done: list[Path] = []
    want_xlsx = False
    changed = False
    jobs = []
    for o in outcomes:
        if o.status == "failed" or not o.folder:
            continue
        folder = Path(o.folder)
        opts = _output_options(folder)
        want_xlsx |= bool(opts.get("xlsx"))
        changed |= o.status == "ok"
        nwb = default_nwb_path(folder)
        if opts.get("nwb"):
            new = (o.status == "ok" or not nwb.is_file()
                   or nwb.stat().st_mtime < (folder / "run.json").stat().st_mtime)
            if new:
                jobs.append((folder, nwb, opts.get("nwb_metadata"), True))
        elif o.status == "ok" and (nwb.is_file()
                                   or nwb.with_name(nwb.name + STALE_SUFFIX).is_file()):
            jobs.append((folder, nwb, None, False))
    if any(wanted for *_, wanted in jobs):
        require("pynwb", what="the recipe output [output] nwb = true")
    if want_xlsx:
        require("openpyxl", what="the recipe output [output] xlsx = true")
    failed = []
    for folder, nwb, md_file, wanted in jobs:
        if not wanted:
            done.extend(refresh_exports_nwb_only(folder))
            continue
        try:
            md = load_nwb_metadata(md_file) if md_file else None
            done.append(_refresh_nwb(folder, nwb, md))
            log.info("%s: written", nwb)
        except Exception as exc:  # noqa: BLE001 - the other recordings still get theirs
            failed.append(f"{nwb}: {type(exc).__name__}: {exc}")
    book = out_dir / BATCH_XLSX
    if want_xlsx or (changed and (book.is_file()
                                  or book.with_name(book.name + STALE_SUFFIX).is_file())):
        try:
            from .xlsx import export_xlsx

            done.append(export_xlsx(out_dir, book))
            book.with_name(book.name + STALE_SUFFIX).unlink(missing_ok=True)
            log.info("%s: written", book)
        except ExportError:
            if want_xlsx or not book.is_file():
                raise
            done.append(_mark_stale(book, "openpyxl is missing", f"{EXTRA_HINT}, then run: "
                                    f"caimg export xlsx {out_dir}"))
    if failed:
        raise ExportError(f"{len(failed)} NWB export(s) failed (the results and batch tables "
                          "are written; rerun with caimg export nwb): " + "; ".join(failed))
    return done


def refresh_exports_nwb_only(folder: Path) -> list[Path]:
    """The NWB part of :func:`refresh_exports` (the batch workbook is written once, after
    every recording).
    """
    path = default_nwb_path(folder)
    try:
        return [_refresh_nwb(folder, path)]
    except Exception as exc:  # noqa: BLE001 - the batch result matters more
        if path.is_file():
            return [_mark_stale(path, f"{type(exc).__name__}: {exc}",
                                f"{EXTRA_HINT}, then run: caimg export nwb {folder}")]
        log.warning("%s: still stale (%s)", path.with_name(path.name + STALE_SUFFIX), exc)
        return []

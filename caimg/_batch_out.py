"""What a batch may write where in ``--out``: the output folder itself, and which result
folder a recording goes to.

A result folder records the input(s) it was made from (``run.json`` ``inputs``: path, size,
SHA-256). A recording whose name is taken by the result of *another* input is never
written over it: it fails with a message naming both (``on_conflict="stop"``, the default),
or goes to a distinct folder (``"rename"``: ``<parent>__<name>``, else ``<name>~2``, ...).
A result holding review edits is never replaced without ``force``. A recording named like a
batch table (``kinetics.csv.tif``) gets such a distinct folder too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ._batch_tables import BATCH_TABLES, LOCK_NAME
from .errors import ConfigError, ResultError

__all__ = ["is_up_to_date", "ON_CONFLICT", "check_not_reviewed", "prepare_out", "result_name"]

#: Choices for a name taken by the result of another input.
ON_CONFLICT = ("stop", "rename", "replace")
_RESERVED = {n.casefold() for n in (*BATCH_TABLES, LOCK_NAME, "caimg_batch.xlsx")}


def prepare_out(out: Path) -> None:
    """Create ``out`` and check that caimg can write there.

    Raises
    ------
    ConfigError
        ``out`` is an existing file, lies under a file, or cannot be created or written.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is an existing file, not a folder; expected a folder "
                          "for the result folders and batch tables (a new one is created): "
                          "choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with open(out / LOCK_NAME, "a+b"):
            pass
    except OSError as exc:
        raise ConfigError(f"--out {out} cannot be written ({exc.strerror or exc}"
                          f"{': ' + str(exc.filename) if exc.filename else ''}); expected a "
                          "folder caimg may create and write in: choose another --out or fix "
                          "its permissions") from None


def _provenance(folder: Path) -> dict | None:
    """run.json of a result of this format version in ``folder``, else None."""
    from .io.result import FORMAT_VERSION

    try:
        prov = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(prov, dict) or prov.get("format_version") != FORMAT_VERSION:
        return None
    return prov


def _recorded_inputs(prov: dict) -> list[dict]:
    return [i for i in prov.get("inputs", ()) if isinstance(i, dict)]


def _same_input(prov: dict, paths: Sequence[Path]) -> bool:
    """The result was made from ``paths``: the same files, or files of the same bytes
    (moved or copied: sizes and SHA-256 match).
    """
    from .io.result import file_fingerprint

    recorded = _recorded_inputs(prov)
    if len(recorded) != len(paths):
        return False
    resolved = [str(Path(p).resolve()) for p in paths]
    if [r.get("path") for r in recorded] == resolved:
        return True
    for rec, p in zip(sorted(recorded, key=lambda r: Path(str(r.get("path"))).name),
                      sorted(paths, key=lambda p: Path(p).name), strict=True):
        try:
            if rec.get("size") != Path(p).stat().st_size or not rec.get("sha256"):
                return False
            if file_fingerprint(p)["sha256"] != rec["sha256"]:
                return False
        except OSError:
            return False
    return True


def _free_for(folder: Path, paths) -> bool:
    """``folder`` may take this recording: absent, or not a result of this format version
    (whose refusal is save_result's), or a result of the same input.
    """
    if not folder.exists():
        return True
    prov = _provenance(folder)
    return prov is None or _same_input(prov, paths)


def result_name(source, out: Path, on_conflict: str = "stop") -> tuple[str, str | None]:
    """The result folder name for ``source`` in ``out`` and, when it is not the recording's
    name, a note saying why.

    Raises
    ------
    ResultError
        ``on_conflict="stop"`` and ``out/<name>`` holds the result of another input.
    """
    name = source.name
    paths = list(source.paths)
    reserved = name.casefold() in _RESERVED
    if not reserved and (on_conflict == "replace" or _free_for(out / name, paths)):
        return name, None
    prov = None if reserved else _provenance(out / name)
    theirs = ", ".join(str(i.get("path")) for i in _recorded_inputs(prov or {})) or "unknown"
    ours = ", ".join(str(p) for p in paths)
    parent = Path(paths[0]).resolve().parent.name
    candidates = [f"{parent}__{name}"] if parent else []
    candidates += [f"{name}~{k}" for k in range(2, 1000)]
    for cand in candidates:
        if cand.casefold() not in _RESERVED and _free_for(out / cand, paths):
            break
    if reserved:
        return cand, (f"{name}: the name of a batch table in {out}; the result folder is "
                      f"{cand}")
    if on_conflict != "rename":
        raise ResultError(f"{out / name}: holds the result of another input ({theirs}), not of "
                          f"{ours}; it is not replaced. Give --on-conflict rename to write "
                          f"this one as {cand}, --on-conflict replace to replace it, or use "
                          "another --out")
    return cand, (f"{name}: {out / name} holds the result of another input ({theirs}); "
                  f"this one is written as {cand}")


def check_not_reviewed(folder: Path) -> None:
    """Refuse to replace a result that holds review edits (``run.json`` ``edits``).

    Raises
    ------
    ResultError
        ``folder`` holds a result with review edits.
    """
    prov = _provenance(folder) if folder.is_dir() else None
    edits = (prov or {}).get("edits")
    if edits:
        raise ResultError(f"{folder}: holds a reviewed result ({len(edits)} review edit(s) in "
                          "run.json); it is not replaced, so the edits are kept. Rerun with "
                          "--force to redo it from the input (the edits are lost), or use "
                          "another --out")


def is_up_to_date(folder: Path, paths: Sequence[Path], key: str) -> bool:
    """Tell whether ``folder`` holds a complete result of this format version, made with the
    same request (recipe, ROI files, caimg version), whose inputs are unchanged.

    An input is unchanged when its size and modification time are those recorded in
    ``run.json``; when only the time differs (the file was touched or copied), its SHA-256
    is compared with the recorded one, so hashing happens only then. A result whose tables
    are not caimg's UTF-8 CSV any more (re-saved as UTF-16) is not up to date.

    Parameters
    ----------
    folder : Path
        The result folder.
    paths : sequence of Path
        The recording's input file(s).
    key : str
        The request key of this run for the recording.

    Returns
    -------
    bool
        True when the result can be kept (the recording is skipped).
    """
    from .io.result import FORMAT_VERSION, RESULT_FILES, file_fingerprint, is_result_folder

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
    if not all(_plain_csv(folder / f) for f in ("rois.csv", "traces.csv", "kinetics.csv")):
        return False  # e.g. re-saved as UTF-16 by a spreadsheet: redone, not read
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
            if not rec.get("sha256") or file_fingerprint(p)["sha256"] != rec["sha256"]:
                return False
    return True


def _plain_csv(path: Path) -> bool:
    """The header line of ``path`` is the UTF-8 text caimg writes (no byte-order mark, no
    NUL bytes as in UTF-16).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.readline(1 << 16)
        text = head.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return bool(text) and not text.startswith("\ufeff") and "\x00" not in text

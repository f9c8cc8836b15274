"""What the exporters share: the optional-import gate, errors, where exports go, and how
RESULT arguments (batch folders or result folders) become result folders.
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from ..errors import CaimgError

__all__ = ["ExportError", "ExportWarning", "require", "result_folders_in", "default_nwb_path",
           "BATCH_XLSX", "atomic_target", "EXTRA_HINT"]

#: The batch workbook ``caimg run`` writes (``[output] xlsx = true``) into its ``--out``.
BATCH_XLSX = "caimg_batch.xlsx"

EXTRA_HINT = "pip install 'caimg[export]'"


class ExportError(CaimgError):
    """An export cannot be written: a missing optional library, a bad target, a limit."""


class ExportWarning(UserWarning):
    """An export could not be refreshed and was marked stale."""


def require(module: str, *, what: str):
    """Import an optional library of the ``export`` extra, or raise a clear ExportError."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        raise ExportError(f"{what} needs the Python package {package!r}, which is not "
                          f"installed ({exc}); install the export extra: {EXTRA_HINT}") from exc


def default_nwb_path(result_folder: str | Path) -> Path:
    """``<parent>/<name>.nwb``: beside the result folder, never inside it, because
    re-saving a result (``caimg run``, the review's Save) replaces the whole folder.

    Parameters
    ----------
    result_folder : str or Path
        A result folder.

    Returns
    -------
    Path
        Where its NWB file goes.
    """
    folder = Path(result_folder)
    return folder.parent / f"{folder.name}.nwb"


def result_folders_in(paths: Iterable[str | Path]) -> list[Path]:
    """Result folders named by RESULT arguments, in order and without duplicates.

    A result folder (one holding ``run.json``) is taken as it is; any other folder is a
    batch output folder whose result folders (direct subfolders with ``run.json``) are
    taken in name order.

    Raises
    ------
    ExportError
        A path that does not exist, or a folder that holds no result at all.
    """
    from ..io.result import is_result_folder

    out: list[Path] = []
    for p in paths:
        p = Path(p).resolve()  # "." or "out/.." get their real names
        if not p.is_dir():
            raise ExportError(f"{p}: no such folder; expected a caimg result folder (holding "
                              "run.json) or a batch output folder of `caimg run`")
        if is_result_folder(p):
            found = [p]
        else:
            found = sorted(c for c in p.iterdir() if c.is_dir() and is_result_folder(c))
            if not found:
                raise ExportError(f"{p}: neither a caimg result folder (no run.json) nor a "
                                  "batch output folder (no subfolder with run.json); pass the "
                                  "--out folder of `caimg run` or one of its result folders")
        out.extend(f for f in found if f not in out)
    return out


class atomic_target:
    """Context manager giving a temporary path beside ``path``; renamed onto ``path`` when
    the block ends without an error, removed otherwise. An interrupted export never
    leaves a half-written file under the final name.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}-"
                                       f"{uuid.uuid4().hex[:8]}.tmp{self.path.suffix}")

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return False

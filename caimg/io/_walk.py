"""Walking input folders so that nothing in them can stop a batch.

Every path the walk cannot take (a folder that cannot be listed, a symlink loop or a
dangling symlink, a FIFO, socket or device named like a TIFF, a name with bytes that are
not UTF-8 or with control characters such as a newline) becomes one ``(path, message)``
entry; :func:`~caimg.io.find.find_recordings` turns each into a source whose reading fails
with that message, so a batch lists it in ``failures.csv`` and goes on with the rest.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

from ..errors import StackReadError

__all__ = ["file_problem", "name_problem", "printable_path", "walk_files"]


def printable_path(path) -> str:
    r"""``path`` as text any table can hold: bytes that are not UTF-8 as ``\\xNN``, control
    characters (newline, tab, ...) as their escapes.
    """
    text = os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def name_problem(path) -> str | None:
    """Why ``path``'s text cannot name a recording (a result folder, a table row), or None."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "its name holds bytes that are not UTF-8"
    bad = sorted({repr(c)[1:-1] for c in text if not c.isprintable()})
    if bad:
        return f"its name holds control characters ({', '.join(bad)})"
    return None


def _message(path, what: str, fix: str) -> tuple[Path, str]:
    shown = printable_path(path)
    return Path(shown), f"{shown}: {what}; {fix}"


def file_problem(path: Path) -> tuple[Path, str] | None:
    """``(printable path, message)`` when ``path`` cannot be read as a recording file: an
    odd name, a symlink loop, a dangling symlink, or not a regular file (a FIFO would
    block a read forever). None for a regular file (or a path that does not exist).
    """
    odd = name_problem(path)
    if odd:
        return _message(path, odd, "expected a plain file name: rename the file (result "
                        "folders and tables are named after it)")
    try:
        st = os.stat(path)
    except OSError as exc:
        if os.path.islink(path):
            what = ("a symlink loop" if exc.errno == errno.ELOOP else
                    f"a symlink to {os.readlink(path)!r}, which cannot be reached "
                    f"({exc.strerror or exc})")
            return _message(path, what, "expected a TIFF file (fix or remove the link)")
        if not os.path.lexists(path):
            return None
        return _message(path, f"cannot be read ({exc.strerror or exc})",
                        "expected a readable TIFF file (check its permissions)")
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "a device or special file")
        return _message(path, f"is {kind}, not a regular file",
                        "expected a TIFF file (it is not opened: reading it could block)")
    return None


def walk_files(root: Path, errors: list[tuple[Path, str]] | None, *,
               accept: Callable[[str], bool], skip_dir: Callable[[Path], bool]) -> list[Path]:
    """Files under ``root`` whose name ``accept`` takes, in sorted order (a folder's files,
    then its sub-folders'), following symlinked folders once.

    Parameters
    ----------
    root : Path
        The folder to search.
    errors : list or None
        Receives ``(printable path, message)`` for each folder that cannot be listed,
        symlink loop, dangling symlink, FIFO/socket/device and odd name; None: raise
        :class:`StackReadError` at the first one instead.
    accept : callable(str) -> bool
        Whether a file name is a candidate (e.g. a visible ``*.tif``).
    skip_dir : callable(Path) -> bool
        Whether a folder is left out (hidden, ``.partial``, a result folder).

    Returns
    -------
    list of Path
        Regular files only.
    """
    found: list[Path] = []

    def problem(entry: tuple[Path, str]):
        if errors is None:
            raise StackReadError(entry[1])
        errors.append(entry)

    def folder_error(where, exc: OSError):
        problem(_message(where, f"folder cannot be read ({exc.strerror or exc})",
                         "expected a readable folder of TIFF files (check its permissions)"))

    odd = name_problem(root)
    if odd:
        problem(_message(root, odd, "expected a plain folder name: rename the folder (result "
                         "tables list the paths)"))
        return found
    try:
        st = os.stat(root)
    except OSError as exc:
        folder_error(root, exc)
        return found

    key = (st.st_dev, st.st_ino)
    visited = {key}
    # depth first without recursion (no depth limit): (folder, its (dev, inode) chain)
    stack: list[tuple[Path, frozenset]] = [(root, frozenset({key}))]
    while stack:
        folder, ancestors = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            folder_error(folder, exc)
            continue
        subdirs = []
        for e in entries:
            path = folder / e.name
            try:
                is_dir = e.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if is_dir:
                subdirs.append(path)
            elif accept(e.name):
                bad = file_problem(path)
                if bad:
                    problem(bad)
                else:
                    found.append(path)
        todo = []
        for path in subdirs:
            try:
                skip = skip_dir(path)
            except OSError:  # e.g. run.json cannot be looked for: listing it will say why
                skip = False
            if skip:
                continue
            odd = name_problem(path.name)
            if odd:
                problem(_message(path, odd, "expected a plain folder name: rename the folder "
                                 "(result tables list the paths)"))
                continue
            try:
                s = os.stat(path)
            except OSError as exc:
                folder_error(path, exc)
                continue
            key = (s.st_dev, s.st_ino)
            if key in ancestors:
                problem(_message(path, f"a symlink loop (it leads back to "
                                 f"{printable_path(os.path.realpath(path))})",
                                 "expected a folder of TIFF files (the loop is not followed)"))
                continue
            if key in visited:  # a second link to a folder already searched
                continue
            visited.add(key)
            todo.append((path, ancestors | {key}))
        stack.extend(reversed(todo))
    return found

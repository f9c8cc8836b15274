"""Names, paths and option checks shared by the stack readers and writers of ``caimg.io``."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import CaimgError, ConfigError

__all__ = ["LAYOUT_NAMES", "TIFF_SUFFIXES", "STACK_SUFFIXES", "is_tiff_name", "is_stack_name",
           "tiff_stem", "split_pair",
           "check_pair_suffixes", "check_positive", "as_path_list"]

TIFF_SUFFIXES = (".tif", ".tiff")
#: every file suffix folder discovery takes: TIFF, MetaMorph STK (read as TIFF) and the
#: vendor formats of ``caimg[formats]``
STACK_SUFFIXES = (*TIFF_SUFFIXES, ".stk", ".nd2", ".czi", ".lif")
#: every ``layout`` a recording can be read with (``read.LAYOUTS`` holds one reader for each
#: but ``"auto"``, which picks one of them)
LAYOUT_NAMES = ("auto", "hyperstack", "alternating", "pair", "single")


def is_tiff_name(path: Path) -> bool:
    """Whether ``path`` ends in ``.tif`` or ``.tiff`` (any case)."""
    return path.suffix.lower() in TIFF_SUFFIXES


def is_stack_name(path: Path) -> bool:
    """Whether ``path`` ends in one of :data:`STACK_SUFFIXES` (any case)."""
    return path.suffix.lower() in STACK_SUFFIXES


def tiff_stem(path: Path) -> str:
    """File name without ``.tif``/``.tiff`` (or another of :data:`STACK_SUFFIXES`) and
    without a trailing ``.ome``.

    Examples
    --------
    >>> tiff_stem(Path("run/cell_340.ome.TIF"))
    'cell_340'
    """
    stem = path.name
    if is_stack_name(path):
        stem = stem[: -len(path.suffix)]
    if stem.lower().endswith(".ome"):
        stem = stem[:-4]
    return stem


def split_pair(path: Path, pair_suffixes: Sequence[str]) -> tuple[str, int] | None:
    """``(common stem, 0 or 1)`` when the file stem ends with one of the pair suffixes.

    Examples
    --------
    >>> split_pair(Path("cell_380.tif"), ("_340", "_380"))
    ('cell', 1)
    >>> split_pair(Path("cell.tif"), ("_340", "_380")) is None
    True
    """
    stem = tiff_stem(path)
    for i, suffix in enumerate(pair_suffixes):
        if suffix and stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)], i
    return None


def check_pair_suffixes(pair_suffixes) -> tuple[str, str]:
    """``pair_suffixes`` as a tuple; :class:`ConfigError` unless two different non-empty
    strings.
    """
    if (not isinstance(pair_suffixes, (tuple, list)) or len(pair_suffixes) != 2
            or not all(isinstance(s, str) and s for s in pair_suffixes)
            or pair_suffixes[0] == pair_suffixes[1]):
        raise ConfigError(f"pair_suffixes = {pair_suffixes!r}: expected two different "
                          "non-empty strings, e.g. ('_340', '_380')")
    return tuple(pair_suffixes)


def check_positive(value, name: str) -> float | None:
    """``value`` as a float (None stays None); :class:`ConfigError` unless positive and finite."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} = {value!r}: expected a positive number") from None
    if not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{name} = {value!r}: expected a positive, finite number")
    return v


def as_path_list(paths) -> list[Path]:
    """One path or an iterable of paths as a list of :class:`Path`."""
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    try:
        return [Path(p) for p in paths]
    except TypeError:
        raise CaimgError(f"paths = {paths!r}: expected a path or a list of paths") from None

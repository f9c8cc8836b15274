"""Finding recordings on disk: TIFF files and 340/380 pairs under files and folders."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, StackReadError
from ._paths import (
    LAYOUT_NAMES,
    as_path_list,
    check_pair_suffixes,
    is_stack_name,
    is_tiff_name,
    split_pair,
    tiff_stem,
)
from ._walk import file_problem, walk_files
from .rois import find_mask_beside, mask_stem
from .sequence import compile_sequence_pattern, group_sequences
from .vendor import expand_positions

__all__ = ["RecordingSource", "find_recordings", "mask_for"]


@dataclass(frozen=True)
class RecordingSource:
    """One recording found on disk by :func:`find_recordings`.

    Parameters
    ----------
    name : str
        Unique within one search; used as the result-folder name.
    paths : tuple of Path
        One file, or two for a pair (340 first, 380 second). A pair with a missing
        partner has one path and ``layout="pair"``; reading it raises a clear error.
    layout : str
        ``"auto"`` (decided when reading), ``"pair"`` or ``"sequence"`` (one file per
        frame, in frame order).
    error : str, optional
        Why this source cannot be read (a path that does not exist, a folder that cannot
        be listed), when :func:`find_recordings` was asked to report rather than raise;
        :func:`~caimg.io.read.read_recording` raises :class:`StackReadError` with this
        message.
    position : int, optional
        For a vendor file with several positions or images (ND2 ``P``, CZI scenes, LIF
        images, Micro-Manager positions): which one, as an index into
        :func:`caimg.io.vendor.describe_file`.
    stem : str, optional
        The recording's stem, which mask files beside it are named after
        (:func:`mask_for`): a file's name without its extension, a pair's common stem
        (``cell`` for ``cell_340.tif`` + ``cell_380.tif``), an image sequence's name
        (``cell`` for ``cell_0001.tif`` ...), ``<file stem>_<position>`` for a position of
        a vendor file. It is ``name`` before two recordings of one name were told apart.
        Not compared.
    """

    name: str
    paths: tuple[Path, ...]
    layout: str = "auto"
    error: str | None = None
    position: int | None = None
    stem: str | None = field(default=None, compare=False)


def _skip_dir(path: Path) -> bool:
    name = path.name
    return (name.startswith(".") or name.endswith(".partial")
            or (path / "run.json").exists())


def _walk_tiffs(root: Path, errors: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Stack files (TIFF, STK, ND2, CZI, LIF) under ``root``, without the mask files of
    recordings (:func:`_without_masks`); what cannot be taken (unreadable folders, symlink
    loops, FIFOs, odd names) goes to ``errors`` (or raises), see :mod:`caimg.io._walk`.
    """
    return _without_masks(walk_files(
        root, errors, skip_dir=_skip_dir,
        accept=lambda f: not f.startswith(".") and is_stack_name(Path(f))))


def _stem_of(other: str, stem: str) -> bool:
    """Whether a file stem ``other`` belongs to the recording ``stem``: the same, or it
    followed by a separator or a digit (a pair file, a frame of an image sequence).
    """
    return other == stem or (other.startswith(stem) and other[len(stem)] in "_-. 0123456789")


def _without_masks(files: list[Path]) -> list[Path]:
    """``files`` without the mask files of recordings (caimg.io.rois names): a Cellpose
    ``*_cp_masks.tif`` always, a ``<stem>_masks.tif`` / ``<stem>_labels.tif`` when a file
    of the recording ``<stem>`` lies in the same folder. A mask is a label image, never a
    recording: taken as one it would fail as "too few frames" or, worse, be analysed.
    """
    stems: dict[Path, list[str]] = {}
    for f in files:
        stems.setdefault(f.parent, []).append(tiff_stem(f))
    for v in stems.values():
        v.sort()
    out = []
    for f in files:
        m = mask_stem(f.name)
        if m is not None and (m[1] == "cellpose" or _has_recording(stems[f.parent], m[0],
                                                                   tiff_stem(f))):
            continue
        out.append(f)
    return out


def _has_recording(sorted_stems: list[str], stem: str, own: str) -> bool:
    """Whether a stem of ``sorted_stems`` other than ``own`` belongs to the recording
    ``stem`` (a bisection: folders of thousands of recordings stay fast).
    """
    i = bisect.bisect_left(sorted_stems, stem)
    while i < len(sorted_stems) and sorted_stems[i].startswith(stem):
        if sorted_stems[i] != own and _stem_of(sorted_stems[i], stem):
            return True
        i += 1
    return False


def mask_for(source: RecordingSource) -> Path | None:
    """The mask file beside a recording (:func:`caimg.io.rois.find_mask_beside`).

    Parameters
    ----------
    source : RecordingSource
        From :func:`find_recordings`.

    Returns
    -------
    Path or None
        The mask file in the folder of the recording's (first) file named after its
        :attr:`~RecordingSource.stem` (a pair's mask may also be named after either file,
        e.g. ``cell_380_cp_masks.png``), or None.

    Raises
    ------
    RoiError
        Two or more mask files for the recording.
    """
    if source.error or not source.paths:
        return None
    first = Path(source.paths[0])
    stems = [source.stem or tiff_stem(first)]
    if source.layout == "pair":
        stems += [tiff_stem(Path(p)) for p in source.paths]
    return find_mask_beside(first.parent, stems)


def _collect_files(paths, pair_suffixes, pairing: bool,
                   problems: list[tuple[Path, str]] | None) -> list[tuple[Path, Path]]:
    """``(root the file was found under, file)`` for every given file and every TIFF under
    the given folders; paths that cannot be searched go to ``problems`` (or raise).
    """
    files: list[tuple[Path, Path]] = []
    for p in as_path_list(paths):
        if not p.exists() and not p.is_symlink():
            msg = (f"{p}: no such file or folder; expected a TIFF file or a folder of TIFF "
                   "files")
            if problems is None:
                raise StackReadError(msg)
            problems.append((p, msg))
            continue
        if p.is_dir():
            files.extend((p, f) for f in _walk_tiffs(p, problems))
        else:
            bad = file_problem(p)  # a FIFO, a symlink loop, an odd name: a row, not a read
            if bad is not None:
                if problems is None:
                    raise StackReadError(bad[1])
                problems.append(bad)
                continue
            files.append((p.parent, p))
            split = split_pair(p, pair_suffixes) if pairing else None
            if split is not None:  # a pair file given alone: take its partner when present
                ext = p.name[len(tiff_stem(p)):]  # ".tif", ".ome.tif", ...
                partner = p.with_name(split[0] + pair_suffixes[1 - split[1]] + ext)
                if partner.is_file():
                    files.append((p.parent, partner))
    return files


def _group_pairs(files, pair_suffixes, layout: str, pairing: bool) -> list[tuple]:
    """``(root, first path, stem, paths, layout)`` per recording, in sorted path order:
    pair files of one folder and stem become one recording, the same file found twice
    counts once.
    """
    seen: set[Path] = set()
    groups: dict[tuple[Path, str], list[Path | None]] = {}
    # (root, stem, explicit paths or None, group key or None, layout) in sorted path order
    items: list[tuple[Path, str, tuple[Path, ...] | None, tuple | None, str]] = []
    for root, f in files:
        key = f.resolve()
        if key in seen:
            continue
        seen.add(key)
        split = split_pair(f, pair_suffixes) if pairing and is_tiff_name(f) else None
        if split is None:
            items.append((root, tiff_stem(f), (f,), None,
                          "pair" if layout == "pair" else "auto"))
            continue
        base, idx = split
        gkey = (f.parent.resolve(), base)
        if gkey not in groups:
            groups[gkey] = [None, None]
            items.append((root, base, None, gkey, "pair"))
        slot = groups[gkey]
        if slot[idx] is None:
            slot[idx] = f
        else:  # e.g. cell_340.tif next to cell_340.tiff: keep the second one visible too
            items.append((root, tiff_stem(f), (f,), None, "pair"))

    resolved = []
    for root, stem, explicit, gkey, lay in items:
        rec_paths = explicit if explicit is not None else \
            tuple(x for x in groups[gkey] if x is not None)
        resolved.append((root, rec_paths[0], stem, rec_paths, lay))
    return resolved


def _next_free(name: str, used: set[str]) -> str:
    base, k = name, 2
    while name in used:
        name = f"{base}_{k}"
        k += 1
    used.add(name)
    return name


def _named_sources(resolved, problems) -> list[RecordingSource]:
    """Sources with unique names: the stem, else the path relative to the searched folder;
    then one source per path that could not be searched.
    """
    counts: dict[str, int] = {}
    for r in resolved:
        counts[r[2]] = counts.get(r[2], 0) + 1
    out: list[RecordingSource] = []
    used: set[str] = set()
    for root, first, stem, rec_paths, lay, *position in resolved:
        name = stem
        if counts[stem] > 1:
            try:
                rel = first.parent.resolve().relative_to(root.resolve())
                parts = [*rel.parts, stem]
            except ValueError:
                parts = [first.parent.name, stem]
            name = "__".join(p for p in parts if p not in ("", "."))
        out.append(RecordingSource(name=_next_free(name, used), paths=tuple(rec_paths),
                                   layout=lay, position=position[0] if position else None,
                                   stem=stem))
    for p, msg in problems or ():
        name = (tiff_stem(p) if is_tiff_name(p) else p.name) or "input"
        out.append(RecordingSource(name=_next_free(name, used), paths=(p,), layout="auto",
                                   error=msg))
    return out


def find_recordings(paths, *, layout: str = "auto",
                    pair_suffixes: tuple[str, str] = ("_340", "_380"),
                    on_error: str = "raise",
                    sequence_pattern: str | None = None) -> list[RecordingSource]:
    """Find the recordings under files and folders.

    Parameters
    ----------
    paths : str, Path or list of them
        Files (taken as given, whatever their extension; a pair file given alone brings
        its partner from the same folder) or folders. Folders are walked
        recursively in sorted order; ``.tif``/``.tiff``/``.stk`` files and the vendor
        formats ``.nd2``/``.czi``/``.lif`` of any case are taken. A vendor file with several
        positions (or a LIF with several images) gives one recording per position, named
        ``<file stem>_<position>``; the files of one Micro-Manager dataset give one
        recording per position, named ``<dataset prefix>_<position label>``.
        Hidden files and folders, folders ending in ``.partial`` and caimg result folders
        (any folder holding a ``run.json``) are skipped, and so are mask files found in
        folders: a Cellpose ``*_cp_masks.tif``, and a ``<stem>_masks.tif`` or
        ``<stem>_labels.tif`` beside a file of the recording ``<stem>`` (see
        :mod:`caimg.io.rois`; they are used as that recording's ROIs, :func:`mask_for`).
    layout : str
        ``"auto"`` or ``"pair"``: files named ``<stem><suffix340>.tif`` and
        ``<stem><suffix380>.tif`` in the same folder become one pair recording named
        ``<stem>``. Any other layout (``"single"``, ``"hyperstack"``, ``"alternating"``)
        makes every file its own recording, whatever its name.
    pair_suffixes : (str, str)
        Suffixes of the 340 nm and 380 nm file stems.
    on_error : {"raise", "report"}
        What to do with a path that does not exist, a folder that cannot be listed, a
        symlink loop, a FIFO or an odd name (see :mod:`caimg.io._walk`): raise
        :class:`StackReadError`, or return it as a source whose ``error`` says why (so a
        batch lists it in ``failures.csv`` and goes on). Nothing is skipped silently.
    sequence_pattern : str, optional
        Regular expression on file stems with a group ``frame`` (and optionally ``name``);
        default :data:`~caimg.io.sequence.DEFAULT_SEQUENCE_PATTERN`. With layout
        ``"auto"``, two or more single-frame TIFFs of one folder that match with the
        same name are one recording of layout ``"sequence"`` (an image sequence), named
        after that name.

    Returns
    -------
    list of RecordingSource
        In sorted path order. Names are file stems (pairs: the common stem); when two
        recordings share a stem, their paths relative to the searched folder, with
        ``/`` replaced by ``__``, are used instead. A ``_340`` file without its ``_380``
        partner (or the reverse) is kept as a one-path ``"pair"`` source so that reading
        it fails with a clear error instead of being dropped silently.

    Raises
    ------
    StackReadError
        When a path does not exist or a folder cannot be listed (``on_error="raise"``).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from caimg.io import write_recording
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = write_recording({"f340": np.zeros((2, 4, 4), np.uint16),
    ...                      "f380": np.zeros((2, 4, 4), np.uint16)}, d / "cell", layout="pair")
    >>> [(s.name, s.layout, len(s.paths)) for s in find_recordings(d)]
    [('cell', 'pair', 2)]
    """
    if layout not in LAYOUT_NAMES:
        raise ConfigError(f"layout = {layout!r}: expected one of {list(LAYOUT_NAMES)}")
    pair_suffixes = check_pair_suffixes(pair_suffixes)
    if on_error not in ("raise", "report"):
        raise ConfigError(f"on_error = {on_error!r}: expected 'raise' or 'report'")
    pairing = layout in ("auto", "pair")
    # (path, message) of paths that could not be searched
    problems: list[tuple[Path, str]] | None = [] if on_error == "report" else None
    files = _collect_files(paths, pair_suffixes, pairing, problems)
    rx = compile_sequence_pattern(sequence_pattern)
    resolved = _group_pairs(files, pair_suffixes, layout, pairing)
    if layout == "auto":
        resolved = group_sequences(resolved, rx)
    resolved = expand_positions(resolved)
    return _named_sources(resolved, problems)

"""Image sequences: a folder of numbered single-frame TIFFs read as one recording.

Acquisition software often writes one file per frame (``cell_0001.tif``,
``cell_0002.tif``, ...). :func:`group_sequences` (used by
:func:`~caimg.io.find.find_recordings`) groups such files into one source, in frame-number
order; :func:`read_sequence` reads them lazily, one file per frame.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import tifffile

from ..errors import ConfigError, StackReadError
from ._frames import PlaneFrames
from ._paths import tiff_stem

__all__ = ["DEFAULT_SEQUENCE_PATTERN", "compile_sequence_pattern", "sequence_key",
           "is_single_image", "group_sequences", "read_sequence_frames", "sequence_channels"]

#: a file stem ending in a number: ``cell_0001`` -> name ``cell_``, frame 1
DEFAULT_SEQUENCE_PATTERN = r"^(?P<name>.*?)(?P<frame>\d+)$"


def compile_sequence_pattern(pattern: str | None) -> re.Pattern:
    """Compile the sequence pattern; :class:`ConfigError` unless it is a regular expression
    with a group named ``frame``.

    Parameters
    ----------
    pattern : str or None
        Matched against file stems (the name without ``.tif``/``.ome.tif``); its group
        ``frame`` is the frame number, an optional group ``name`` names the recording
        (default: the stem without the frame number). None: the default pattern.

    Returns
    -------
    re.Pattern
    """
    pattern = DEFAULT_SEQUENCE_PATTERN if pattern is None else pattern
    try:
        rx = re.compile(pattern)
    except (re.error, TypeError) as exc:
        raise ConfigError(f"input.sequence_pattern = {pattern!r} is not a regular expression "
                          f"({exc}); expected e.g. {DEFAULT_SEQUENCE_PATTERN!r}") from None
    if "frame" not in rx.groupindex:
        raise ConfigError(f"input.sequence_pattern = {pattern!r} has no group named 'frame'; "
                          f"expected one that captures the frame number, e.g. "
                          f"{DEFAULT_SEQUENCE_PATTERN!r}")
    return rx


def sequence_key(path: Path, rx: re.Pattern) -> tuple[str, int] | None:
    """Return ``(recording name, frame number)`` of a file whose stem matches, else None.

    Parameters
    ----------
    path : Path
        A file.
    rx : re.Pattern
        From :func:`compile_sequence_pattern`.

    Returns
    -------
    (str, int) or None
    """
    stem = tiff_stem(path)
    m = rx.search(stem)
    if m is None:
        return None
    try:
        frame = int(m.group("frame"))
    except (TypeError, ValueError):
        return None
    if "name" in rx.groupindex and m.group("name") is not None:
        name = m.group("name")
    else:
        name = stem[:m.start("frame")] + stem[m.end("frame"):]
    return name.strip("_-. ") or path.parent.name or "sequence", frame


def is_single_image(path: Path) -> bool:
    """Tell whether a TIFF holds one 2-D image (a frame of an image sequence).

    Parameters
    ----------
    path : Path
        A TIFF file.

    Returns
    -------
    bool
        False for stacks and for files that cannot be read (those are left to the
        reader's errors).
    """
    try:
        with tifffile.TiffFile(path, mode="rb") as tif:
            if len(tif.pages) != 1 or not tif.series:
                return False
            shape = tif.series[0].shape
            axes = tif.series[0].axes
            lead = [n for a, n in zip(axes, shape, strict=True) if a not in "YXS"]
            return all(n == 1 for n in lead)
    except Exception:  # noqa: BLE001 - any unreadable file is simply not a sequence frame
        return False


def group_sequences(items: list[tuple], rx: re.Pattern) -> list[tuple]:
    """Replace numbered single-frame files of one folder by one sequence entry.

    Parameters
    ----------
    items : list of (root, first path, stem, paths, layout)
        One entry per recording found so far, in sorted path order; only one-file entries
        of layout ``"auto"`` can join a sequence.
    rx : re.Pattern
        From :func:`compile_sequence_pattern`.

    Returns
    -------
    list of (root, first path, name, paths, layout)
        Two or more files of one folder whose stems match ``rx`` with the same name and
        whose first file is a single 2-D image become one entry of layout ``"sequence"``
        (paths in frame-number order) at the place of the first; all else is unchanged.
    """
    groups: dict[tuple[Path, str], list[tuple[int, int, Path]]] = {}
    for k, (_root, first, _stem, paths, lay) in enumerate(items):
        if lay != "auto" or len(paths) != 1:
            continue
        key = sequence_key(first, rx)
        if key is not None:
            groups.setdefault((first.parent.resolve(), key[0]), []).append((key[1], k, first))
    member: dict[int, tuple[Path, str]] = {}
    for gkey, files in groups.items():
        frames = [f for f, _, _ in files]
        if len(files) < 2 or len(set(frames)) != len(frames):
            continue
        if not is_single_image(min(files)[2]):
            continue
        for _, k, _ in files:
            member[k] = gkey
    out, done = [], set()
    for k, item in enumerate(items):
        gkey = member.get(k)
        if gkey is None:
            out.append(item)
        elif gkey not in done:
            done.add(gkey)
            paths = tuple(p for _, _, p in sorted(groups[gkey]))
            out.append((item[0], paths[0], gkey[1], paths, "sequence"))
    return out


def read_sequence_frames(paths, first_shape, dtype) -> PlaneFrames:
    """Return a lazy ``(T, Y, X)`` array over single-frame TIFFs, one file per frame.

    Parameters
    ----------
    paths : sequence of Path
        The frames' files, in time order.
    first_shape : (int, int)
        Rows and columns of the first frame; every file must match.
    dtype : numpy dtype
        Pixel type of the first frame; every file must match.

    Returns
    -------
    PlaneFrames
        Reads a file when its frame is indexed; a file of another shape or type raises
        :class:`StackReadError` naming it.
    """
    paths = [Path(p) for p in paths]
    dtype = np.dtype(dtype)

    def read(i: int) -> np.ndarray:
        try:
            frame = tifffile.imread(paths[i])
        except Exception as exc:  # noqa: BLE001 - tifffile raises many kinds
            raise StackReadError(f"{paths[i]}: frame {i} of the image sequence cannot be read "
                                 f"({type(exc).__name__}: {exc}); expected a single-frame "
                                 "TIFF like the first one") from None
        frame = np.squeeze(frame)
        if frame.shape != tuple(first_shape) or frame.dtype.newbyteorder("=") != \
                dtype.newbyteorder("="):
            raise StackReadError(f"{paths[i]}: frame {i} of the image sequence is "
                                 f"{frame.shape} {frame.dtype}; expected {tuple(first_shape)} "
                                 f"{dtype.name} like the first file, {paths[0].name}")
        return frame

    label = f"image sequence {paths[0]} (+{len(paths) - 1})"
    return PlaneFrames(read, len(paths), first_shape, dtype, label=label)


def sequence_channels(first, file_paths) -> tuple[dict, str, dict]:
    """Return the channel, default name and metadata of an image sequence.

    Parameters
    ----------
    first : caimg.io._tiff.FileInfo
        What the first file holds (it must be one 2-D frame).
    file_paths : sequence of Path
        Every frame's file, in time order.

    Returns
    -------
    channels : dict
        ``{"f": PlaneFrames}`` reading one file per frame.
    name : str
        The first file's stem without its frame number.
    extra : dict
        ``axes`` (``"TYX"``) and ``sequence_files`` for the recording's metadata.
    """
    if len(first.axes) != 2:
        raise StackReadError(f"{first.path}: the first file of an image sequence of "
                             f"{len(file_paths)} files holds axes {first.axes} with shape "
                             f"{first.shape}; expected one 2-D frame (Y, X) per file")
    frames = read_sequence_frames(file_paths, first.shape, first.dtype)
    stem = tiff_stem(first.path).rstrip("0123456789").strip("_-. ") or first.path.parent.name
    return {"f": frames}, stem, {"axes": "TYX", "sequence_files": len(file_paths)}

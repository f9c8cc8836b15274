"""Reading and writing calcium-imaging stacks (TIFF: ImageJ, OME, BigTIFF, plain multi-page).

Layouts
-------
``hyperstack``
    One file whose first series has a channel axis of length 2, e.g. ImageJ ``TCYX``.
    Channels are named by ``channel_order`` (default ``("f340", "f380")``).
``alternating``
    One plain multi-page file whose pages alternate 340, 380, 340, 380, ...
    Never guessed: only used when asked for. An odd page count is an error.
``pair``
    Two files ``<stem>_340.tif`` and ``<stem>_380.tif`` (suffixes configurable), one
    ``(T, Y, X)`` stack each.
``single``
    One single-channel ``(T, Y, X)`` file (Fluo-4, GCaMP, ...): channel ``"f"``.

Channel arrays are never copied into memory: uncompressed contiguous files are
memory-mapped read-only (:class:`numpy.memmap`, views per channel); anything else
(compressed pages, one IFD per frame, non-native byte order) is served by
:class:`TiffFrames`, a small lazy array that reads only the frames asked for.
Files with one IFD per frame (what most acquisition software writes) are opened without
a tifffile object per page: the IFD chain is walked with one positioned read per IFD and
the pages are checked against the first one in bulk (``_walk_pages``); anything unusual
is left to tifffile as it is.
Input files are opened read-only and never written to.
"""

from __future__ import annotations

import logging
import math
import os
import struct
import tempfile
import threading
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import tifffile

from ..errors import CaimgError, ConfigError, MetadataWarning, StackReadError
from ..recording import Recording

__all__ = [
    "RecordingSource",
    "MetadataWarning",
    "TiffFrames",
    "FilledFrames",
    "find_recordings",
    "read_recording",
    "write_recording",
    "open_stack",
]

_TIFF_SUFFIXES = (".tif", ".tiff")
_LAYOUTS = ("auto", "hyperstack", "alternating", "pair", "single")
# axes tifffile uses for a stack of planes; all of them are read as time
_TIME_AXES = ("T", "I", "Q", "Z")
# one frame larger than this is taken for a damaged header, not an image
_MAX_FRAME_BYTES = 1 << 31
# compressed stacks that would decode to more than this many times their file size (and
# more than _MAX_DECODED_BYTES) are taken for damaged headers: zlib/LZW stay below ~1000x
_MAX_COMPRESSION_RATIO = 4096
_MAX_DECODED_BYTES = 1 << 26
# relative tolerance above which a metadata and an explicit frame interval "differ"
_INTERVAL_RTOL = 1e-3

_TIME_UNITS_S = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3,
                 "us": 1e-6, "µs": 1e-6, "\u03bcs": 1e-6, "ns": 1e-9, "min": 60.0,
                 "h": 3600.0}
_LENGTH_UNITS_UM = {"micron": 1.0, "microns": 1.0, "um": 1.0, "µm": 1.0, "\u03bcm": 1.0,
                    "\\u00b5m": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6,
                    "å": 1e-4, "angstrom": 1e-4, "pm": 1e-6}


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
        ``"auto"`` (decided when reading) or ``"pair"``.
    error : str, optional
        Why this source cannot be read (a path that does not exist, a folder that cannot
        be listed), when :func:`find_recordings` was asked to report rather than raise;
        :func:`read_recording` raises :class:`StackReadError` with this message.
    """

    name: str
    paths: tuple[Path, ...]
    layout: str = "auto"
    error: str | None = None


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------

def _is_tiff_name(path: Path) -> bool:
    return path.suffix.lower() in _TIFF_SUFFIXES


def _stem(path: Path) -> str:
    """File name without ``.tif``/``.tiff`` and without a trailing ``.ome``."""
    stem = path.name
    if _is_tiff_name(path):
        stem = stem[: -len(path.suffix)]
    if stem.lower().endswith(".ome"):
        stem = stem[:-4]
    return stem


def _split_pair(path: Path, pair_suffixes: Sequence[str]) -> tuple[str, int] | None:
    """``(common stem, 0 or 1)`` when the file stem ends with one of the pair suffixes."""
    stem = _stem(path)
    for i, suffix in enumerate(pair_suffixes):
        if suffix and stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)], i
    return None


def _check_pair_suffixes(pair_suffixes) -> tuple[str, str]:
    if (not isinstance(pair_suffixes, (tuple, list)) or len(pair_suffixes) != 2
            or not all(isinstance(s, str) and s for s in pair_suffixes)
            or pair_suffixes[0] == pair_suffixes[1]):
        raise ConfigError(f"pair_suffixes = {pair_suffixes!r}: expected two different "
                          "non-empty strings, e.g. ('_340', '_380')")
    return tuple(pair_suffixes)


def _check_positive(value, name: str) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} = {value!r}: expected a positive number") from None
    if not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{name} = {value!r}: expected a positive, finite number")
    return v


def _as_path_list(paths) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    try:
        return [Path(p) for p in paths]
    except TypeError:
        raise CaimgError(f"paths = {paths!r}: expected a path or a list of paths") from None


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise StackReadError(f"{path}: cannot be opened ({exc.strerror or exc}); "
                             "expected a readable TIFF file") from None


# --------------------------------------------------------------------------------------
# find_recordings
# --------------------------------------------------------------------------------------

def _skip_dir(path: Path) -> bool:
    name = path.name
    return (name.startswith(".") or name.endswith(".partial")
            or (path / "run.json").exists())


def _walk_tiffs(root: Path, errors: list[tuple[Path, str]] | None = None) -> list[Path]:
    """TIFF files under ``root``; folders that cannot be listed go to ``errors`` (or raise)."""
    found = []

    def onerror(exc: OSError):
        where = Path(exc.filename) if exc.filename else root
        msg = (f"{where}: folder cannot be read ({exc.strerror or exc}); expected a readable "
               "folder of TIFF files (check its permissions)")
        if errors is None:
            raise StackReadError(msg) from None
        errors.append((where, msg))

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        here = Path(dirpath)
        # prune in place so os.walk does not descend into skipped folders
        dirnames[:] = sorted(d for d in dirnames if not _skip_dir(here / d))
        for f in sorted(filenames):
            if not f.startswith(".") and _is_tiff_name(Path(f)):
                found.append(here / f)
    return found


def find_recordings(paths, *, layout: str = "auto",
                    pair_suffixes: tuple[str, str] = ("_340", "_380"),
                    on_error: str = "raise") -> list[RecordingSource]:
    """Find the recordings under files and folders.

    Parameters
    ----------
    paths : str, Path or list of them
        Files (taken as given, whatever their extension; a pair file given alone brings
        its partner from the same folder) or folders. Folders are walked
        recursively in sorted order; ``*.tif``/``*.tiff`` files of any case are taken.
        Hidden files and folders, folders ending in ``.partial`` and caimg result folders
        (any folder holding a ``run.json``) are skipped.
    layout : str
        ``"auto"`` or ``"pair"``: files named ``<stem><suffix340>.tif`` and
        ``<stem><suffix380>.tif`` in the same folder become one pair recording named
        ``<stem>``. Any other layout (``"single"``, ``"hyperstack"``, ``"alternating"``)
        makes every file its own recording, whatever its name.
    pair_suffixes : (str, str)
        Suffixes of the 340 nm and 380 nm file stems.
    on_error : {"raise", "report"}
        What to do with a path that does not exist or a folder that cannot be listed:
        raise :class:`StackReadError`, or return it as a source whose ``error`` says why
        (so a batch lists it in ``failures.csv`` and goes on). Nothing is skipped silently.

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
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = write_recording({"f340": np.zeros((2, 4, 4), np.uint16),
    ...                      "f380": np.zeros((2, 4, 4), np.uint16)}, d / "cell", layout="pair")
    >>> [(s.name, s.layout, len(s.paths)) for s in find_recordings(d)]
    [('cell', 'pair', 2)]
    """
    if layout not in _LAYOUTS:
        raise ConfigError(f"layout = {layout!r}: expected one of {list(_LAYOUTS)}")
    pair_suffixes = _check_pair_suffixes(pair_suffixes)
    if on_error not in ("raise", "report"):
        raise ConfigError(f"on_error = {on_error!r}: expected 'raise' or 'report'")
    pairing = layout in ("auto", "pair")

    # (root the file was found under, file)
    files: list[tuple[Path, Path]] = []
    # (path, message) of paths that could not be searched
    problems: list[tuple[Path, str]] = [] if on_error == "report" else None
    for p in _as_path_list(paths):
        if not p.exists():
            msg = (f"{p}: no such file or folder; expected a TIFF file or a folder of TIFF "
                   "files")
            if problems is None:
                raise StackReadError(msg)
            problems.append((p, msg))
            continue
        if p.is_dir():
            files.extend((p, f) for f in _walk_tiffs(p, problems))
        else:
            files.append((p.parent, p))
            split = _split_pair(p, pair_suffixes) if pairing else None
            if split is not None:  # a pair file given alone: take its partner when present
                ext = p.name[len(_stem(p)):]  # ".tif", ".ome.tif", ...
                partner = p.with_name(split[0] + pair_suffixes[1 - split[1]] + ext)
                if partner.is_file():
                    files.append((p.parent, partner))

    seen: set[Path] = set()
    groups: dict[tuple[Path, str], list[Path | None]] = {}
    # (root, stem, explicit paths or None, group key or None, layout) in sorted path order
    items: list[tuple[Path, str, tuple[Path, ...] | None, tuple | None, str]] = []
    for root, f in files:
        key = f.resolve()
        if key in seen:
            continue
        seen.add(key)
        split = _split_pair(f, pair_suffixes) if pairing else None
        if split is None:
            items.append((root, _stem(f), (f,), None, "pair" if layout == "pair" else "auto"))
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
            items.append((root, _stem(f), (f,), None, "pair"))

    resolved = []
    for root, stem, explicit, gkey, lay in items:
        rec_paths = explicit if explicit is not None else \
            tuple(x for x in groups[gkey] if x is not None)
        resolved.append((root, rec_paths[0], stem, rec_paths, lay))

    # unique names: the stem, else the path relative to the searched folder
    counts: dict[str, int] = {}
    for r in resolved:
        counts[r[2]] = counts.get(r[2], 0) + 1
    out: list[RecordingSource] = []
    used: set[str] = set()
    for root, first, stem, rec_paths, lay in resolved:
        name = stem
        if counts[stem] > 1:
            try:
                rel = first.parent.resolve().relative_to(root.resolve())
                parts = [*rel.parts, stem]
            except ValueError:
                parts = [first.parent.name, stem]
            name = "__".join(p for p in parts if p not in ("", "."))
        base, k = name, 2
        while name in used:
            name = f"{base}_{k}"
            k += 1
        used.add(name)
        out.append(RecordingSource(name=name, paths=tuple(rec_paths), layout=lay))
    for p, msg in problems or ():
        name = base = (_stem(p) if _is_tiff_name(p) else p.name) or "input"
        k = 2
        while name in used:
            name = f"{base}_{k}"
            k += 1
        used.add(name)
        out.append(RecordingSource(name=name, paths=(p,), layout="auto", error=msg))
    return out


# --------------------------------------------------------------------------------------
# lazy frames
# --------------------------------------------------------------------------------------

class TiffFrames:
    """Lazy ``(T, Y, X)`` view of selected TIFF pages that reads only what is indexed.

    Used for files that cannot be memory-mapped (compressed pages, one IFD per frame,
    non-native byte order). Indexing along the first axis with an int, a slice (any
    step) or an integer array returns a numpy array in native byte order; further
    indices apply to the result. ``np.asarray(frames)`` reads everything.

    Parameters
    ----------
    path : Path
        The TIFF file (opened read-only, lazily, once per process).
    page_indices : array of int, shape (T,)
        Index of each frame's page in the file.
    frame_shape : (int, int)
        Rows and columns of one frame.
    dtype : numpy dtype
        Data type of the pixels in the file (with the file's byte order).
    offsets, bytecounts : arrays of int, shape (T, n_segments)
        File offsets and sizes of each frame's strips or tiles, parsed once when the
        file is opened.
    compressed : bool
        ``False``: uncompressed strips, read with positioned (vectored) reads straight
        into the output buffer. ``True``: segments are read the same way and decoded by
        tifffile's decoder of the first page (compression, predictor, tiles).
    """

    def __init__(self, path, page_indices, frame_shape, dtype, *, offsets, bytecounts,
                 compressed=False):
        self.path = Path(path)
        self._pages = np.asarray(page_indices, dtype=np.int64)
        self._frame_shape = tuple(int(s) for s in frame_shape)
        self._file_dtype = np.dtype(dtype)
        self._offsets = np.asarray(offsets, dtype=np.int64)
        self._bytecounts = np.asarray(bytecounts, dtype=np.int64)
        self._compressed = bool(compressed)
        self._starts = None  # see _frame_starts
        self._keyframe = None
        self._lock = threading.Lock()
        self._fh = None
        self._tif = None

    # -- array protocol ---------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        return self._file_dtype.newbyteorder("=")

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self._pages), *self._frame_shape)

    @property
    def ndim(self) -> int:
        return 3

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return len(self._pages)

    def __repr__(self) -> str:
        return (f"TiffFrames({str(self.path)!r}, shape={self.shape}, dtype={self.dtype}, "
                f"{'compressed' if self._compressed else 'raw strips'})")

    def __array__(self, dtype=None, copy=None):
        out = self._read(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            if not key:
                return np.asarray(self)
            key, rest = key[0], key[1:]
        if key is Ellipsis:
            out = np.asarray(self)
            return out[(Ellipsis, *rest)] if rest else out
        n = len(self)
        if isinstance(key, (int, np.integer)):
            i = int(key)
            if i < -n or i >= n:
                raise IndexError(f"frame {i} out of range for {n} frames in {self.path}")
            out = self._read(np.array([i % n]))[0]
            return out[rest] if rest else out
        elif isinstance(key, slice):
            out = self._read(np.arange(n)[key])
        else:
            idx = np.asarray(key)
            if idx.dtype == bool:
                idx = np.flatnonzero(idx)
            idx = idx.astype(np.int64)
            if idx.size and (idx.min() < -n or idx.max() >= n):
                raise IndexError(f"frame index out of range for {n} frames in {self.path}")
            out = self._read(idx % n if idx.size else idx)
        return out[(slice(None), *rest)] if rest else out

    # -- pickling: file handles do not travel to other processes ------------------------
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_fh"] = None
        state["_tif"] = None
        state["_keyframe"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the file handle (it reopens on the next read)."""
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
            if self._tif is not None:
                self._tif.close()
                self._tif = None
                self._keyframe = None

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    # -- reading ----------------------------------------------------------------------
    def read_into(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        """Read frames ``start:stop`` into ``out`` and return it.

        Reusing one buffer across chunks avoids a fresh allocation per read (on VMs whose
        first touch of new memory is slow, that allocation costs more than the read).

        Parameters
        ----------
        start, stop : int
            Frame range, ``0 <= start <= stop <= T``.
        out : ndarray, (stop - start, Y, X)
            C-contiguous, of :attr:`dtype` (native byte order); overwritten.

        Returns
        -------
        ndarray
            ``out``.
        """
        n = len(self)
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= n:
            raise IndexError(f"frames {start}:{stop} out of range for {n} frames in {self.path}")
        want = (stop - start, *self._frame_shape)
        if (not isinstance(out, np.ndarray) or out.shape != want or out.dtype != self.dtype
                or not out.flags.c_contiguous or not out.flags.writeable):
            raise StackReadError(
                f"{self.path}: read_into needs a writeable C-contiguous {self.dtype} buffer of "
                f"shape {want}, got {getattr(out, 'dtype', type(out))} "
                f"{getattr(out, 'shape', '')}")
        return self._read(np.arange(start, stop), out)

    def _read(self, frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if out is None:
            out = np.empty((len(frames), *self._frame_shape), dtype=self._file_dtype)
        else:
            out = out.view(self._file_dtype)  # same bytes, the file's byte order
        if len(frames):
            if self._compressed:
                self._read_decoded(frames, out)
            else:
                self._read_raw(frames, out)
        if not out.dtype.isnative:
            out = out.byteswap(inplace=True).view(out.dtype.newbyteorder("="))
        return out

    def _fd(self) -> int:
        with self._lock:
            if self._fh is None:
                self._fh = open(self.path, "rb", buffering=0)
            return self._fh.fileno()

    def _short(self, t, got, want, off):
        return StackReadError(
            f"{self.path}: frame {int(t)} is cut short ({got} of {want} bytes at offset "
            f"{int(off)}); the file looks truncated, expected a complete TIFF")

    def _read_raw(self, frames, out):
        """Positioned reads of uncompressed strips straight into ``out``.

        Strips of consecutive requested frames that lie close together in the file are
        fetched with one vectored read (``os.preadv``): the bytes in between (the next
        page's IFD) land in a scratch buffer. This keeps the per-frame cost of files with
        one IFD per frame close to that of a contiguous file.
        """
        fd = self._fd()
        flat = out.reshape(len(frames), -1).view(np.uint8)
        frame_nbytes = flat.shape[1]
        starts = self._frame_starts(frame_nbytes)
        if starts is not None:
            return self._read_runs(fd, frames, flat, starts)
        # (file offset, byte count, frame, destination view) in request order
        segs = []
        for k, t in enumerate(frames):
            buf = memoryview(flat[k])
            pos = 0
            for off, cnt in zip(self._offsets[t], self._bytecounts[t]):
                cnt = min(int(cnt), frame_nbytes - pos)
                if cnt <= 0:
                    break
                segs.append((int(off), cnt, t, buf[pos:pos + cnt]))
                pos += cnt
            if pos != frame_nbytes:
                raise StackReadError(f"{self.path}: frame {int(t)} holds {pos} bytes, expected "
                                     f"{frame_nbytes}")
        i = 0
        while i < len(segs):
            off0, cnt0, t0, view0 = segs[i]
            bufs, end, j = [view0], off0 + cnt0, i + 1
            while (j < len(segs) and len(bufs) < _IOV_MAX - 1
                   and 0 <= segs[j][0] - end <= _MAX_GAP):
                gap = segs[j][0] - end
                if gap:
                    bufs.append(memoryview(_scratch(gap)))
                bufs.append(segs[j][3])
                end = segs[j][0] + segs[j][1]
                j += 1
            want = end - off0
            got = _preadv(fd, bufs, off0, want)
            if got != want:
                raise self._short(t0, got, want, off0)
            i = j

    def _frame_starts(self, frame_nbytes: int) -> np.ndarray | None:
        """File offset of each frame's bytes when every frame is one run in the file (its
        strips non-empty and back to back, together at least a frame), else None.
        Computed once per object, vectorised over all frames."""
        starts = self._starts
        if starts is None:
            off, cnt = self._offsets, self._bytecounts
            ok = (off.ndim == 2 and off.shape[1] >= 1 and off.shape == cnt.shape
                  and bool((cnt > 0).all())
                  and bool((cnt.sum(axis=1) >= frame_nbytes).all())
                  and bool((off[:, :-1] + cnt[:, :-1] == off[:, 1:]).all()))
            starts = self._starts = off[:, 0].copy() if ok else False
        return None if starts is False else starts

    def _read_runs(self, fd, frames, flat, starts):
        """:meth:`_read_raw` for frames that are one run of bytes each: the same vectored
        reads (same grouping, same errors), without a Python loop over strips."""
        fb = flat.shape[1]
        mv = memoryview(flat.reshape(-1))
        scratch = memoryview(_scratch(_MAX_GAP))
        s = starts[frames].tolist()
        n, i, last = len(s), 0, _IOV_MAX - 1
        while i < n:
            off0 = s[i]
            bufs, end, j = [mv[i * fb:(i + 1) * fb]], off0 + fb, i + 1
            while j < n and len(bufs) < last:
                gap = s[j] - end
                if not 0 <= gap <= _MAX_GAP:
                    break
                if gap:
                    bufs.append(scratch[:gap])
                bufs.append(mv[j * fb:(j + 1) * fb])
                end = s[j] + fb
                j += 1
            want = end - off0
            got = _preadv(fd, bufs, off0, want)
            if got != want:
                raise self._short(frames[i], got, want, off0)
            i = j

    def _read_decoded(self, frames, out):
        """Read each page's compressed segments with positioned reads and decode them
        with tifffile's decoder for the series' first page (all pages share it)."""
        fd = self._fd()
        with self._lock:
            if self._tif is None:
                self._tif = tifffile.TiffFile(self.path, mode="rb")
                self._keyframe = self._tif.pages[int(self._pages[0])]
        key = self._keyframe
        decode = key.decode
        jpegtables = getattr(key, "jpegtables", None)
        rows, cols = self._frame_shape
        t = frames[0] if len(frames) else 0
        try:
            for k, t in enumerate(frames):
                frame = out[k]
                for i, (off, cnt) in enumerate(zip(self._offsets[t], self._bytecounts[t])):
                    off, cnt = int(off), int(cnt)
                    if cnt == 0:
                        data = None
                    else:
                        data = os.pread(fd, cnt, off) if hasattr(os, "pread") else None
                        if data is None:  # pragma: no cover - Windows
                            data = bytearray(cnt)
                            _preadv(fd, [memoryview(data)], off, cnt)
                        if len(data) != cnt:
                            raise self._short(t, len(data), cnt, off)
                    seg, idx, shape = decode(data, i, jpegtables=jpegtables)
                    r0, c0 = idx[2], idx[3]
                    h, w = min(shape[1], rows - r0), min(shape[2], cols - c0)
                    if seg is None:
                        frame[r0:r0 + h, c0:c0 + w] = 0
                    else:
                        seg = np.asarray(seg).reshape(shape)
                        frame[r0:r0 + h, c0:c0 + w] = seg[0, :h, :w, 0]
        except StackReadError:
            raise
        except Exception as exc:
            raise StackReadError(f"{self.path}: frame {int(t)} could not be decoded "
                                 f"({type(exc).__name__}: {exc}); the file may be damaged "
                                 "or truncated") from exc


# largest gap between two strips still fetched in one vectored read, in bytes
_MAX_GAP = 1 << 16
try:
    _IOV_MAX = max(16, min(int(os.sysconf("SC_IOV_MAX")), 1024))
except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
    _IOV_MAX = 16
_SCRATCH = threading.local()


def _scratch(n: int) -> np.ndarray:
    """A per-thread throw-away buffer of at least ``n`` bytes (IFDs between strips)."""
    buf = getattr(_SCRATCH, "buf", None)
    if buf is None or buf.size < n:
        buf = _SCRATCH.buf = np.empty(max(n, 1 << 12), np.uint8)
    return buf[:n]


def _preadv(fd: int, bufs: list, offset: int, want: int) -> int:
    """Fill ``bufs`` from ``want`` contiguous bytes at ``offset``; returns bytes read."""
    if not hasattr(os, "preadv"):  # pragma: no cover - Windows
        total = 0
        for b in bufs:
            got = _pread_into(fd, b, offset + total)
            total += got
            if got < len(b):
                break
        return total
    total = 0
    while total < want:
        got = os.preadv(fd, bufs, offset + total)
        if got <= 0:
            break
        total += got
        if total < want:  # partial read: drop the filled buffers and retry the rest
            skip, rest = got, []
            for b in bufs:
                if skip >= len(b):
                    skip -= len(b)
                    continue
                rest.append(b[skip:])
                skip = 0
            bufs = rest
    return total


def _pread_into(fd: int, buf: memoryview, offset: int) -> int:
    """Read ``len(buf)`` bytes at ``offset`` into ``buf``; returns the count read."""
    total = 0
    n = len(buf)
    while total < n:
        if hasattr(os, "preadv"):
            got = os.preadv(fd, [buf[total:]], offset + total)
        else:  # pragma: no cover - Windows
            data = os.pread(fd, n - total, offset + total)  # type: ignore[attr-defined]
            got = len(data)
            buf[total:total + got] = data
        if got <= 0:
            break
        total += got
    return total


# --------------------------------------------------------------------------------------
# reading one file
# --------------------------------------------------------------------------------------

@dataclass
class _FileInfo:
    path: Path
    axes: str                       # squeezed axes of series 0
    shape: tuple[int, ...]          # squeezed shape of series 0
    dtype: np.dtype                 # with the file's byte order
    frame_interval_s: float | None  # per page-plane along the time axis, from metadata
    interval_source: str
    pixel_size_um: float | None
    file_size: int
    kind: str                       # imagej / ome / generic / ...
    data: Any                       # (P, Y, X) array-like over all planes in file order
    memmapped: bool


def _tiff_error(path: Path, exc: Exception, size: int) -> StackReadError:
    return StackReadError(
        f"{path}: not a readable TIFF, or a damaged/truncated one ({type(exc).__name__}: {exc}; "
        f"file size {size} bytes); expected a TIFF stack (ImageJ, OME-TIFF, BigTIFF or plain "
        "multi-page)")


class _TifffileErrors(logging.Handler):
    """Collect ERROR records tifffile logs (it logs, rather than raises, on a broken IFD chain)."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.errors: list[str] = []
        self._thread = threading.get_ident()

    def emit(self, record):
        if record.thread == self._thread:  # ignore files other threads are reading
            self.errors.append(record.getMessage())

    def __enter__(self):
        logging.getLogger("tifffile").addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("tifffile").removeHandler(self)
        return False


def _ome_pixels(tif: tifffile.TiffFile) -> dict[str, str]:
    xml = tif.ome_metadata
    if not xml:
        return {}
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return {}
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == "Pixels":
            return dict(el.attrib)
    return {}


def _metadata_interval_and_size(tif: tifffile.TiffFile, path: Path):
    """``(frame interval s, source, pixel size um)`` from OME or ImageJ metadata."""
    interval, source, px = None, "none", None
    if tif.is_ome:
        pix = _ome_pixels(tif)
        if "TimeIncrement" in pix:
            unit = pix.get("TimeIncrementUnit", "s")
            try:
                v = float(pix["TimeIncrement"]) * _TIME_UNITS_S[unit]
            except (KeyError, ValueError):
                warnings.warn(f"{path}: OME TimeIncrement {pix['TimeIncrement']!r} "
                              f"{unit!r} not understood; ignored", MetadataWarning, stacklevel=4)
            else:
                if math.isfinite(v) and v > 0:
                    interval, source = v, "ome TimeIncrement"
        if "PhysicalSizeX" in pix:
            unit = pix.get("PhysicalSizeXUnit", "µm")
            try:
                v = float(pix["PhysicalSizeX"]) * _LENGTH_UNITS_UM[unit.lower()]
            except (KeyError, ValueError):
                v = None
            if v is not None and math.isfinite(v) and v > 0:
                px = v
    ij = tif.imagej_metadata if tif.is_imagej else None
    if ij:
        if interval is None and ij.get("finterval") is not None:
            try:
                v = float(ij["finterval"])
            except (TypeError, ValueError):
                v = float("nan")
            if math.isfinite(v) and v > 0:
                interval, source = v, "imagej finterval"
        if px is None and ij.get("unit"):
            unit = str(ij["unit"]).strip().lower()
            factor = _LENGTH_UNITS_UM.get(unit)
            tag = tif.pages.first.tags.get("XResolution")
            if factor is not None and tag is not None:
                num, den = tag.value
                if num > 0 and den > 0:
                    px = den / num * factor
    return interval, source, px


def _planes_in_metadata(tif: tifffile.TiffFile) -> int | None:
    """Number of planes the ImageJ or OME metadata announces, when it says."""
    try:
        if tif.is_imagej and tif.imagej_metadata:
            n = int(tif.imagej_metadata.get("images", 0) or 0)
            return n if n > 0 else None
        if tif.is_ome:
            pix = _ome_pixels(tif)
            n = 1
            for k in ("SizeT", "SizeC", "SizeZ"):
                n *= int(pix.get(k, 1))
            return n if n > 0 else None
    except (TypeError, ValueError, AttributeError):
        return None
    return None


# --------------------------------------------------------------------------------------
# fast IFD-chain walk for one-page-per-frame files
# --------------------------------------------------------------------------------------

# Tags whose values define a page's image (what tifffile's ``TiffPage.hash`` is built
# from): every page must carry the first page's entries for these, byte for byte.
_DEFINING_TAGS = frozenset({
    256, 257, 258, 259, 262,  # ImageWidth, ImageLength, BitsPerSample, Compression, Photometric
    266, 277, 278, 284, 317,  # FillOrder, SamplesPerPixel, RowsPerStrip, PlanarConfig, Predictor
    322, 323, 338, 339, 530,  # TileWidth, TileLength, ExtraSamples, SampleFormat, YCbCrSubsampling
    32997, 32998,             # ImageDepth, TileDepth
})
# tags after which the walk leaves the file to tifffile: SubIFDs, JPEGTables (per page),
# MD Gel and Micro-Manager metadata (their own series logic)
_UNUSUAL_TAGS = frozenset({330, 347, 33445, 51123})
# tifffile series kinds (TiffFile.series order) that take other paths than ImageJ/uniform;
# checked on the first page only (cheap flags)
_OTHER_KINDS = ("shaped", "lsm", "micromanager", "ome", "fluoview", "stk", "sis", "svs", "scn",
                "qpi", "ndpi", "bif", "avs", "eer", "philips", "scanimage", "nih", "mdgel")
# TIFF field types allowed for strip/tile offsets and byte counts: SHORT, LONG, LONG8
_SEG_TYPES = {3: "u2", 4: "u4", 16: "u8"}
# below this many pages tifffile itself is fast enough (and takes its "generic" path)
_WALK_MIN_PAGES = 8


@dataclass
class _PageWalk:
    """Pages of a file found by :func:`_walk_pages`, in IFD-chain order."""

    ifd_offsets: np.ndarray  # (N,) int64, file offset of each IFD
    offsets: np.ndarray      # (N, n_segments) int64, strip/tile offsets
    bytecounts: np.ndarray   # (N, n_segments) int64, strip/tile byte counts


def _gather(fd: int, starts: np.ndarray, length: int) -> np.ndarray | None:
    """``(len(starts), length)`` uint8: ``length`` bytes of the file at each start, or
    None when the file ends early."""
    pread = os.pread
    data = b"".join([pread(fd, length, s) for s in starts.tolist()])
    if len(data) != len(starts) * length:
        return None
    return np.frombuffer(data, np.uint8).reshape(len(starts), length)


def _seg_values(fd: int, entries: np.ndarray, tiff, size: int) -> np.ndarray | None:
    """Values of one strip/tile offsets or byte-counts tag on every page.

    ``entries`` is ``(M, tagsize)`` uint8: that tag's IFD entry on each of ``M`` pages.
    Returns ``(M, count)`` int64, or None when the entries differ in type or count, or
    point outside the file.
    """
    bo = tiff.byteorder
    csize = tiff.offsetsize  # count field: 4 bytes classic, 8 BigTIFF
    types = np.ascontiguousarray(entries[:, 2:4]).view(bo + "u2")[:, 0]
    counts = np.ascontiguousarray(entries[:, 4:4 + csize]).view(f"{bo}u{csize}")[:, 0]
    t, k = int(types[0]), int(counts[0])
    if t not in _SEG_TYPES or k < 1 or (types != t).any() or (counts != k).any():
        return None
    vt = np.dtype(bo + _SEG_TYPES[t])
    nbytes = k * vt.itemsize
    field = entries[:, 4 + csize:]  # the value itself, or the offset to it
    if nbytes <= csize:
        raw = np.ascontiguousarray(field[:, :nbytes])
    else:
        ptr = np.ascontiguousarray(field).view(f"{bo}u{csize}")[:, 0].astype(np.int64)
        if ptr.min() < 0 or int(ptr.max()) + nbytes > size:
            return None
        raw = _gather(fd, ptr, nbytes)
        if raw is None:
            return None
    return raw.view(vt).reshape(len(entries), k).astype(np.int64)


def _walk_chain(fd: int, tiff, first: int, size: int):
    """``(IFD offsets, IFD bytes)`` along the IFD chain: one positioned read per IFD (tag
    count, entries, next offset). None when the chain is unusual: an offset outside the
    file, a backward pointer (so no loops), more than 4096 tags."""
    unpack_n = struct.Struct(tiff.tagnoformat).unpack_from
    unpack_o = struct.Struct(tiff.offsetformat).unpack_from
    nsize, tagsize, osize = tiff.tagnosize, tiff.tagsize, tiff.offsetsize
    pread = os.pread
    offs, blocks = [], []
    o, want = first, nsize + osize
    while True:
        if o + nsize > size:
            return None
        data = pread(fd, want, o)
        if len(data) < nsize:
            return None
        n = unpack_n(data, 0)[0]
        need = nsize + n * tagsize + osize
        if n > 4096 or o + need > size:
            return None
        if need != want:  # tag count differs from the previous IFD's: read it again
            want = need
            data = pread(fd, want, o)
            if len(data) != need:
                return None
        offs.append(o)
        blocks.append(data)
        nxt = unpack_o(data, need - osize)[0]
        if nxt == 0:
            return offs, blocks
        if nxt <= o or nxt >= size:
            return None
        o = nxt


def _walk_pages(tif: tifffile.TiffFile, path: Path, size: int) -> _PageWalk | None:
    """Walk the IFD chain of a one-page-per-frame file without a tifffile object per page.

    For a plain or ImageJ multi-page file whose pages all share the first page's image
    definition (:data:`_DEFINING_TAGS`, byte for byte), reads each page's strip/tile
    offsets and byte counts straight from the file bytes (``struct`` along the chain,
    numpy over all IFDs at once) and hands tifffile's page list lightweight
    ``TiffFrame`` objects built from them, so that ``tif.series`` (ImageJ or uniform
    series logic, axes, shape) runs unchanged without parsing every IFD again.

    Returns None, leaving ``tif`` untouched, for anything else: fewer than
    :data:`_WALK_MIN_PAGES` pages, SubIFDs, per-page JPEG tables, OME/LSM/STK/... first
    pages, pages that differ from the first, an IFD or strip table outside the file, a
    chain that does not run forward. tifffile then reads the file as before (and reports
    what is wrong with it the way it always did).
    """
    pages = tif.pages
    tiff = tif.tiff
    try:
        first = pages.first
    except IndexError:
        return None
    if (tiff.is_ndpi or len(pages._offsets) != 1 or pages._indexed
            or set(pages._loaded) != {0} or any(c in first.tags for c in _UNUSUAL_TAGS)
            or any(getattr(first, "is_" + k, False) for k in _OTHER_KINDS)):
        return None
    if not hasattr(os, "pread"):  # pragma: no cover - Windows
        return None
    with open(path, "rb", buffering=0) as fh:
        fd = fh.fileno()
        chain = _walk_chain(fd, tiff, int(first.offset), size)
        if chain is None or len(chain[0]) < _WALK_MIN_PAGES:
            return None
        ifd = np.array(chain[0], dtype=np.int64)
        n_pages = len(ifd)
        bo, nsize, tagsize = tiff.byteorder, tiff.tagnosize, tiff.tagsize
        b0, rest = chain[1][0], chain[1][1:]
        del chain
        n0 = (len(b0) - nsize - tiff.offsetsize) // tagsize
        n1 = (len(rest[0]) - nsize - tiff.offsetsize) // tagsize
        if any(len(b) != len(rest[0]) for b in rest):
            return None
        # tag entries of page 0 (M = 1) and of pages 1.. (M = N - 1): (M, n, tagsize)
        e0 = np.frombuffer(b0, np.uint8)[nsize:nsize + n0 * tagsize].reshape(1, n0, tagsize)
        e1 = np.frombuffer(b"".join(rest), np.uint8).reshape(n_pages - 1, -1)
        del rest
        e1 = e1[:, nsize:nsize + n1 * tagsize].reshape(n_pages - 1, n1, tagsize)
        codes0 = np.ascontiguousarray(e0[0, :, :2]).view(bo + "u2")[:, 0].tolist()
        codes1 = np.ascontiguousarray(e1[:, :, :2]).view(bo + "u2")[..., 0]
        if (codes1 != codes1[0]).any():
            return None
        codes1 = codes1[0].tolist()
        if (any(c in _UNUSUAL_TAGS for c in codes1) or len(set(codes0)) != len(codes0)
                or len(set(codes1)) != len(codes1)
                or {c for c in codes0 if c in _DEFINING_TAGS}
                != {c for c in codes1 if c in _DEFINING_TAGS}):
            return None
        for j, c in enumerate(codes1):
            if c in _DEFINING_TAGS and (e1[:, j, 2:] != e0[0, codes0.index(c), 2:]).any():
                return None
        tiled = 324 in codes0
        off_code, cnt_code = (324, 325) if tiled else (273, 279)
        if off_code not in codes0 or off_code not in codes1 or (273 if tiled else 324) in codes0:
            return None
        key_off = np.asarray(first.dataoffsets, dtype=np.int64)
        key_cnt = np.asarray(first.databytecounts, dtype=np.int64)

        def values(code):
            v0 = _seg_values(fd, e0[:, codes0.index(code)], tiff, size)
            v1 = _seg_values(fd, e1[:, codes1.index(code)], tiff, size)
            if v0 is None or v1 is None or v0.shape[1] != v1.shape[1]:
                return None
            return np.concatenate([v0, v1])

        offsets = values(off_code)
        # tifffile's TiffFrame rejects pages whose segment count differs from the first's
        if offsets is None or offsets.shape[1] != len(key_off) \
                or not np.array_equal(offsets[0], key_off):
            return None
        if first.is_contiguous:  # tifffile takes the first page's byte counts for all
            counts = np.broadcast_to(key_cnt, offsets.shape).copy()
        else:
            if cnt_code not in codes0 or cnt_code not in codes1:
                return None
            counts = values(cnt_code)
            if counts is None or counts.shape != offsets.shape \
                    or not np.array_equal(counts[0], key_cnt):
                return None
        if int((offsets + counts).max()) > size or int(offsets.min()) < 0:
            return None
        n_last = n1

    # hand tifffile the chain: lightweight frames (as its own "virtual frame" constructor
    # builds them) in place of parsing each IFD again
    frame = tifffile.TiffFrame
    off_rows = offsets.tolist()
    key_cnt_t = tuple(first.databytecounts)
    cnt_rows = None if first.is_contiguous else counts.tolist()
    ifd_list = ifd.tolist()
    loaded = {0: first}
    for i in range(1, n_pages):
        loaded[i] = frame(tif, i, offset=ifd_list[i], keyframe=first,
                          dataoffsets=tuple(off_rows[i]),
                          databytecounts=key_cnt_t if cnt_rows is None else tuple(cnt_rows[i]))
    pages._offsets = ifd_list
    pages._loaded = loaded
    pages._nextpageoffset = ifd_list[-1] + tiff.tagnosize + n_last * tiff.tagsize
    pages._indexed = True
    return _PageWalk(ifd_offsets=ifd, offsets=offsets, bytecounts=counts)


def _inspect(path: Path) -> _FileInfo:
    """Open one TIFF read-only and describe its first series; never reads pixel data."""
    size = _file_size(path)
    if path.is_dir():
        raise StackReadError(f"{path}: is a folder; expected a TIFF file")
    if size == 0:
        raise StackReadError(f"{path}: empty file (0 bytes); expected a TIFF stack")
    try:
        with _TifffileErrors() as log, tifffile.TiffFile(path, mode="rb") as tif:
            tif.pages.useframes = True
            # one-page-per-frame files: the IFD chain walked without a tifffile object per
            # page (None, and tif untouched, for anything unusual)
            try:
                walk = _walk_pages(tif, path, size)
            except Exception:  # e.g. another tifffile version: its own reading stays
                walk = None
            if not tif.series:
                raise StackReadError(f"{path}: TIFF without images; expected a stack")
            series = tif.series[0]
            axes, shape = series.axes, tuple(series.shape)
            if "S" in axes:
                raise StackReadError(f"{path}: found axes {axes} with shape {shape}: colour "
                                     "(RGB) samples; expected grayscale frames (T, Y, X) or "
                                     "(T, C, Y, X)")
            if not axes.endswith("YX"):
                raise StackReadError(f"{path}: found axes {axes} with shape {shape}; expected "
                                     "the last two axes to be image rows and columns (Y, X)")
            byteorder = tif.byteorder
            dtype = np.dtype(series.dtype).newbyteorder(byteorder)
            if dtype.kind not in "uifc":
                raise StackReadError(f"{path}: pixels of type {dtype} (axes {axes}, shape "
                                     f"{shape}); expected integer or float intensities")
            if any(int(x) == 0 for x in shape):
                raise StackReadError(f"{path}: found axes {axes} with an empty shape {shape}; "
                                     "expected frames with at least one row and column")
            if int(np.prod(shape[-2:], dtype=np.int64)) * dtype.itemsize > _MAX_FRAME_BYTES:
                raise StackReadError(f"{path}: implausible frame size {shape[-2:]} {dtype} "
                                     f"(more than {_MAX_FRAME_BYTES >> 30} GiB per frame); the "
                                     "header looks damaged, expected a TIFF stack")
            interval, source, px = _metadata_interval_and_size(tif, path)
            frame_shape = shape[-2:]
            n_planes = int(np.prod(shape[:-2], dtype=np.int64))
            nbytes = n_planes * int(np.prod(frame_shape)) * dtype.itemsize
            kind = series.kind
            # A cut file can keep all pixel data but lose later IFDs (tifffile then logs
            # and stops); ImageJ files > 4 GB legitimately have a single IFD.
            n_ifds = len(tif.pages)
            tif.pages[n_ifds - 1]  # the last IFD must parse too (raises when cut short)
            if log.errors:
                raise StackReadError(f"{path}: truncated or damaged TIFF structure (tifffile: "
                                     f"{log.errors[0]}); expected a complete TIFF")
            # the same without relying on tifffile's log (logging may be disabled): the
            # ImageJ / OME metadata says how many planes the file should hold
            expected = _planes_in_metadata(tif)
            if expected is not None and expected > n_planes:
                raise StackReadError(
                    f"{path}: truncated or damaged: the {'ImageJ' if tif.is_imagej else 'OME'} "
                    f"metadata describes "
                    f"{expected} planes but only {n_planes} could be read (axes {axes}, shape "
                    f"{shape}); expected a complete TIFF")
            if 1 < n_ifds < n_planes:
                raise StackReadError(
                    f"{path}: truncated or damaged: {n_ifds} pages could be read but the "
                    f"{axes} stack {shape} has {n_planes} planes; expected a complete TIFF")
            data, memmapped = None, False
            offset = series.dataoffset
            if offset is not None:  # uncompressed and contiguous
                if offset + nbytes > size:
                    raise StackReadError(
                        f"{path}: truncated: the {axes} stack {shape} {dtype.name} needs "
                        f"{offset + nbytes} bytes but the file has {size}; expected a "
                        "complete TIFF")
                if dtype.isnative:
                    data = np.memmap(path, dtype=dtype, mode="r", offset=offset,
                                     shape=(n_planes, *frame_shape))
                    memmapped = True
                else:  # e.g. big-endian files saved by ImageJ: swapped on read
                    frame_nbytes = nbytes // max(n_planes, 1)
                    offs = offset + frame_nbytes * np.arange(n_planes, dtype=np.int64)[:, None]
                    data = TiffFrames(path, np.arange(n_planes), frame_shape, dtype,
                                      offsets=offs, bytecounts=np.full_like(offs, frame_nbytes))
            else:
                data = _frames_from_series(tif, series, path, size, n_planes, frame_shape, dtype,
                                           walk)
    except StackReadError:
        raise
    except Exception as exc:  # tifffile raises many kinds on damaged files
        raise _tiff_error(path, exc, size) from exc
    return _FileInfo(path=path, axes=axes, shape=shape, dtype=dtype,
                     frame_interval_s=interval, interval_source=source, pixel_size_um=px,
                     file_size=size, kind=kind, data=data, memmapped=memmapped)


def _frames_from_series(tif, series, path, size, n_planes, frame_shape, dtype,
                        walk: _PageWalk | None = None) -> TiffFrames:
    pages = list(series.pages)
    if len(pages) != n_planes or any(p is None for p in pages):
        raise StackReadError(f"{path}: the series {series.axes} {tuple(series.shape)} needs "
                             f"{n_planes} pages but {len([p for p in pages if p is not None])} "
                             "could be read; the file looks truncated or damaged")
    if (walk is not None and len(walk.ifd_offsets) == n_planes
            and np.array_equal(np.fromiter((p.offset for p in pages), np.int64, n_planes),
                               walk.ifd_offsets)):
        # the series is every page of the walked chain, in order: its tables are ready
        index = np.arange(n_planes, dtype=np.int64)
        offsets, counts = walk.offsets, walk.bytecounts
    else:
        index = np.array([p.index for p in pages], dtype=np.int64)
        nseg = max(len(p.dataoffsets) for p in pages)
        # pages of one series share their segment layout; pad defensively (a zero count
        # is an empty segment: an error for raw reads, zeros for decoded ones)
        offsets = np.zeros((n_planes, nseg), dtype=np.int64)
        counts = np.zeros((n_planes, nseg), dtype=np.int64)
        for k, p in enumerate(pages):
            offsets[k, :len(p.dataoffsets)] = p.dataoffsets
            counts[k, :len(p.databytecounts)] = p.databytecounts
    end = int((offsets + counts).max(initial=0))
    if end > size:
        raise StackReadError(f"{path}: truncated: image data reaches byte {end} but the file has "
                             f"{size} bytes; expected a complete TIFF")
    key = pages[0].keyframe  # TiffFrame -> its TiffPage; TiffPage -> itself
    raw = (key.compression == 1 and not key.is_tiled and key.fillorder == 1
           and key.samplesperpixel == 1 and key.bitspersample == dtype.itemsize * 8)
    claimed = n_planes * int(np.prod(frame_shape, dtype=np.int64)) * dtype.itemsize
    if not raw and claimed > max(_MAX_DECODED_BYTES, _MAX_COMPRESSION_RATIO * size):
        raise StackReadError(f"{path}: the header claims {claimed} bytes of pixels ({n_planes} "
                             f"frames of {frame_shape} {dtype.name}) in a file of {size} bytes; "
                             "the file looks damaged, expected a TIFF stack")
    return TiffFrames(path, index, frame_shape, dtype, offsets=offsets, bytecounts=counts,
                      compressed=not raw)


def _time_axis_info(info: _FileInfo) -> tuple[str, int]:
    """Validate a single-channel stack; returns (time axis letter, n frames)."""
    lead = info.axes[:-2]
    found = f"axes {info.axes} with shape {info.shape}"
    if len(lead) == 0:
        raise StackReadError(f"{info.path}: found a single 2-D image ({found}); expected a "
                             "time series of frames (T, Y, X)")
    if len(lead) > 1 or lead not in _TIME_AXES:
        raise StackReadError(f"{info.path}: found {found}; expected one channel (T, Y, X)")
    return lead, info.shape[0]


def _warn_z(info: _FileInfo, axis: str):
    if axis == "Z":
        warnings.warn(f"{info.path}: the stack's planes are labelled as Z slices "
                      f"({info.shape[0]}); they are read as time frames", MetadataWarning,
                      stacklevel=3)


def _read_hyperstack(info: _FileInfo, channel_order):
    lead = info.axes[:-2]
    found = f"axes {info.axes} with shape {info.shape}"
    if "C" not in lead:
        raise StackReadError(f"{info.path}: layout 'hyperstack' needs a channel axis (C = 2) "
                             f"but found {found}; use layout 'single' or 'alternating'")
    n_c = info.shape[lead.index("C")]
    others = lead.replace("C", "")
    if n_c != 2:
        raise StackReadError(f"{info.path}: found {found} ({n_c} channels); expected 2 channels "
                             "(340 and 380 nm) in a (T, C, Y, X) hyperstack")
    if len(others) == 0:
        raise StackReadError(f"{info.path}: found {found}: one frame per channel; expected a "
                             "time series (T, C, Y, X)")
    if len(others) > 1 or others not in _TIME_AXES:
        raise StackReadError(f"{info.path}: found {found}; expected (T, C, Y, X) with C = 2 "
                             "and no other axes (Z stacks are not supported)")
    lead_shape = info.shape[:-2]
    planes = info.data
    chans = {}
    if isinstance(planes, np.ndarray):
        full = planes.reshape(*lead_shape, *info.shape[-2:])
        for c, name in enumerate(channel_order):
            sel = [slice(None)] * len(lead_shape)
            sel[lead.index("C")] = c
            chans[name] = full[tuple(sel)]
    else:
        idx = np.arange(len(planes)).reshape(lead_shape)
        for c, name in enumerate(channel_order):
            take = np.take(idx, c, axis=lead.index("C"))
            chans[name] = _subframes(planes, take)
    return chans, others


def _subframes(frames: TiffFrames, take: np.ndarray) -> TiffFrames:
    return TiffFrames(frames.path, frames._pages[take], frames._frame_shape, frames._file_dtype,
                      offsets=frames._offsets[take], bytecounts=frames._bytecounts[take],
                      compressed=frames._compressed)


def _all_planes(info: _FileInfo, what: str):
    lead = info.axes[:-2]
    if len(lead) == 0:
        raise StackReadError(f"{info.path}: found a single 2-D image (axes {info.axes}, shape "
                             f"{info.shape}); expected {what}")
    return info.data


# --------------------------------------------------------------------------------------
# read_recording
# --------------------------------------------------------------------------------------

def _resolve_interval(infos: list[_FileInfo], per_page_factor: float, frame_interval_s,
                      stacklevel: int = 3):
    meta = [(i, i.frame_interval_s * per_page_factor) for i in infos
            if i.frame_interval_s is not None]
    meta_val = meta[0][1] if meta else None
    meta_src = meta[0][0].interval_source if meta else "none"
    if len(meta) == 2 and not math.isclose(meta[0][1], meta[1][1], rel_tol=_INTERVAL_RTOL):
        warnings.warn(f"{meta[0][0].path.name} says frame interval {meta[0][1]:g} s but "
                      f"{meta[1][0].path.name} says {meta[1][1]:g} s; using {meta[0][1]:g} s",
                      MetadataWarning, stacklevel=stacklevel)
    if frame_interval_s is not None:
        if meta_val is not None and not math.isclose(meta_val, frame_interval_s,
                                                     rel_tol=_INTERVAL_RTOL):
            warnings.warn(f"{infos[0].path}: the file metadata ({meta_src}) says frame interval "
                          f"{meta_val:g} s but {frame_interval_s:g} s was given; using "
                          f"{frame_interval_s:g} s (the given value wins)", MetadataWarning,
                          stacklevel=stacklevel)
        return frame_interval_s, "override", meta_val
    if meta_val is None:
        raise StackReadError(f"{infos[0].path}: no frame interval in the file metadata (no ImageJ "
                             "finterval or OME TimeIncrement); expected one: pass "
                             "--frame-interval SECONDS or set input.frame_interval_s in the recipe")
    return meta_val, meta_src, meta_val


# Non-finite pixels in float stacks: up to this fraction of a channel's pixels, and of any
# one frame, they are filled (with a warning); more is an error.
MAX_NONFINITE_FRACTION = 1e-3
MAX_NONFINITE_FRAME_FRACTION = 1e-2


class FilledFrames:
    """Lazy ``(T, Y, X)`` view of a float stack in which NaN/inf pixels read as the median
    of the finite pixels of their frame. The underlying array is never modified.

    Parameters
    ----------
    base : array-like, (T, Y, X) float
        Memory map, :class:`TiffFrames` or array.
    """

    def __init__(self, base):
        self.base = base

    dtype = property(lambda self: np.dtype(self.base.dtype).newbyteorder("="))
    shape = property(lambda self: tuple(self.base.shape))
    ndim = property(lambda self: 3)
    size = property(lambda self: int(np.prod(self.shape)))
    nbytes = property(lambda self: self.size * self.dtype.itemsize)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"FilledFrames({self.base!r})"

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = (key[0], key[1:]) if key else (slice(None), ())
        if key is Ellipsis:
            out = self[:]
            return out[(Ellipsis, *rest)] if rest else out
        out = np.array(self.base[key], copy=True)
        frames = out[None] if out.ndim == 2 else out
        for frame in frames:  # one frame at a time: medians are per frame
            bad = ~np.isfinite(frame)
            if bad.any():
                good = frame[~bad]
                frame[bad] = np.median(good) if good.size else 0.0
        if not rest:
            return out
        return out[rest] if out.ndim == 2 else out[(slice(None), *rest)]


def _check_finite(name: str, arr, path: Path, chunk_frames: int = 256):
    """``(array, number of non-finite pixels)``: the array itself when every pixel is
    finite, a :class:`FilledFrames` view (with a warning) when a few are not."""
    if arr.dtype.kind not in "fc":
        return arr, 0
    if arr.dtype.kind == "c":
        raise StackReadError(f"{path}: channel {name!r} has complex pixels ({arr.dtype}); "
                             "expected real intensities (integer or float)")
    n, rows, cols = (int(s) for s in arr.shape)
    frame_px = max(rows * cols, 1)
    total, first, worst, worst_t = 0, None, 0, 0
    for t0 in range(0, n, chunk_frames):
        block = np.asarray(arr[t0:t0 + chunk_frames])
        bad = ~np.isfinite(block)
        if not bad.any():
            continue
        per_frame = bad.reshape(bad.shape[0], -1).sum(axis=1)
        total += int(per_frame.sum())
        if first is None:
            first = t0 + int(np.flatnonzero(per_frame)[0])
        k = int(per_frame.argmax())
        if per_frame[k] > worst:
            worst, worst_t = int(per_frame[k]), t0 + k
    if not total:
        return arr, 0
    frac = total / max(n * frame_px, 1)
    if frac > MAX_NONFINITE_FRACTION or worst / frame_px > MAX_NONFINITE_FRAME_FRACTION:
        raise StackReadError(
            f"{path}: channel {name!r} holds {total} NaN or infinite values ({100 * frac:.2g} % "
            f"of its pixels; first in frame {first}, up to {100 * worst / frame_px:.2g} % of "
            f"frame {worst_t}); expected finite intensities (at most "
            f"{100 * MAX_NONFINITE_FRACTION:g} % of the pixels and "
            f"{100 * MAX_NONFINITE_FRAME_FRACTION:g} % of any frame are tolerated and filled)")
    warnings.warn(f"{path}: channel {name!r} holds {total} NaN or infinite pixel(s) (first in "
                  f"frame {first}); they are read as the median of their frame's finite pixels",
                  MetadataWarning, stacklevel=3)
    return FilledFrames(arr), total


def read_recording(paths, *, layout: str = "auto",
                   channel_order: tuple[str, str] = ("f340", "f380"),
                   pair_suffixes: tuple[str, str] = ("_340", "_380"),
                   frame_interval_s: float | None = None, pixel_size_um: float | None = None,
                   name: str | None = None) -> Recording:
    """Read one recording (one TIFF, or a 340/380 pair of TIFFs) without loading its pixels.

    Parameters
    ----------
    paths : str, Path, (Path, Path) or RecordingSource
        One file, two files (340 first, 380 second) or a source from
        :func:`find_recordings`.
    layout : {"auto", "hyperstack", "alternating", "pair", "single"}
        ``"auto"``: a series with a channel axis of 2 is a hyperstack, a single-channel
        ``(T, Y, X)`` series is ``single``, two paths are a pair. ``"alternating"`` is
        never guessed.
    channel_order : (str, str)
        Channel names for C = 0, 1 of a hyperstack, for even/odd pages of an alternating
        file and for the two files of a pair.
    pair_suffixes : (str, str)
        Suffixes of the two stems of a pair (used for the name and error messages).
    frame_interval_s : float, optional
        Time between two frames of one channel, in s. Wins over the file metadata; a
        :class:`MetadataWarning` says both values when they differ by more than 0.1 %.
    pixel_size_um : float, optional
        Pixel edge length in µm; wins over the file metadata.
    name : str, optional
        Recording name; default the file stem (pair: the common stem).

    Returns
    -------
    Recording
        ``channels`` are ``(T, Y, X)`` arrays in the file's dtype: read-only
        :class:`numpy.memmap` views for uncompressed contiguous files, else
        :class:`TiffFrames`. ``frame_interval_source`` is ``"imagej finterval"``,
        ``"ome TimeIncrement"`` or ``"override"``.

    Raises
    ------
    StackReadError
        For files that are missing, empty, not TIFF, truncated, of the wrong shape for
        the layout, hold NaN/inf, or carry no frame interval when none was given. The
        message names the file, what was found and what was expected.

    Notes
    -----
    The metadata interval of an alternating file is per page (340 and 380 pages each
    count), so the interval between two frames of one channel is twice that:
    ``frame_interval_s = 2 * finterval``.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> p = Path(tempfile.mkdtemp()) / "cells.tif"
    >>> _ = write_recording({"f": np.ones((5, 8, 8), np.uint16)}, p, layout="single",
    ...                     frame_interval_s=0.5)
    >>> rec = read_recording(p)
    >>> rec.channel_names, rec.shape, rec.frame_interval_s, rec.frame_interval_source
    (('f',), (5, 8, 8), 0.5, 'imagej finterval')
    """
    if layout not in _LAYOUTS:
        raise ConfigError(f"layout = {layout!r}: expected one of {list(_LAYOUTS)}")
    pair_suffixes = _check_pair_suffixes(pair_suffixes)
    if (not isinstance(channel_order, (tuple, list)) or len(channel_order) != 2
            or len(set(channel_order)) != 2):
        raise ConfigError(f"channel_order = {channel_order!r}: expected two different names, "
                          "e.g. ('f340', 'f380')")
    channel_order = tuple(str(c) for c in channel_order)
    frame_interval_s = _check_positive(frame_interval_s, "frame_interval_s")
    pixel_size_um = _check_positive(pixel_size_um, "pixel_size_um")

    if isinstance(paths, RecordingSource):
        src = paths
        if src.error:
            raise StackReadError(src.error)
        file_paths = tuple(Path(p) for p in src.paths)
        if name is None:
            name = src.name
        if src.layout == "pair":
            if layout not in ("auto", "pair"):
                raise StackReadError(f"{file_paths[0]}: found as a {pair_suffixes} pair file but "
                                     f"layout {layout!r} was asked for; expected layout 'pair' "
                                     "or 'auto'")
            layout = "pair"
    else:
        file_paths = tuple(_as_path_list(paths))
    if not file_paths:
        raise StackReadError("no file given; expected a TIFF path or a pair of paths")
    if len(file_paths) > 2:
        raise StackReadError(f"{[str(p) for p in file_paths]}: {len(file_paths)} files given; "
                             "expected one file or a 340/380 pair")
    if layout == "auto" and len(file_paths) == 2:
        layout = "pair"
    if layout == "pair" and len(file_paths) != 2:
        p = file_paths[0]
        split = _split_pair(p, pair_suffixes)
        if split is not None:
            base, i = split
            partner = p.with_name(base + pair_suffixes[1 - i] + p.name[len(_stem(p)):])
            raise StackReadError(f"{p}: the {pair_suffixes[i]} file has no {pair_suffixes[1 - i]} "
                                 f"partner (expected {partner.name} in the same folder)")
        raise StackReadError(f"{p}: layout 'pair' needs two files (<stem>{pair_suffixes[0]}.tif "
                             f"and <stem>{pair_suffixes[1]}.tif); got one")
    if layout != "pair" and len(file_paths) != 1:
        raise StackReadError(f"{file_paths[0]}: layout {layout!r} reads one file but "
                             f"{len(file_paths)} were given; expected layout 'pair'")

    # Warnings raised while reading are passed on to the caller unchanged and also kept
    # in metadata["warnings"]: the pipeline runs later and records them in run.json.
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            # only caimg's kind of warnings are recorded whatever the filters say; others
            # (e.g. ResourceWarning from unrelated garbage collection) follow the filters
            warnings.simplefilter("always", UserWarning)
            infos = []
            for p in file_paths:  # a loop, not a comprehension, so warning stacklevels stay right
                infos.append(_inspect(p))
            per_page = 1.0
            extra: dict[str, Any] = {}
            if layout == "pair":
                chans = {}
                for info, ch in zip(infos, channel_order):
                    axis, _ = _time_axis_info(info)
                    _warn_z(info, axis)
                    chans[ch] = info.data
                s0, s1 = (tuple(chans[c].shape) for c in channel_order)
                if s0 != s1:
                    raise StackReadError(f"{file_paths[0]} and {file_paths[1]}: the pair differs in shape "
                                         f"({s0} vs {s1} as (T, Y, X)); expected the same frame count "
                                         "and frame size in both files")
                default_name = None
                splits = [_split_pair(p, pair_suffixes) for p in file_paths]
                if splits[0] and splits[1] and splits[0][0] == splits[1][0]:
                    default_name = splits[0][0]
                default_name = default_name or os.path.commonprefix([_stem(p) for p in file_paths]) \
                    .rstrip("_-. ") or _stem(file_paths[0])
            else:
                info = infos[0]
                default_name = _stem(info.path)
                lead = info.axes[:-2]
                # any channel axis goes the hyperstack way, whose errors explain what is wrong
                has_c = "C" in lead and info.shape[lead.index("C")] > 1
                if layout == "auto":
                    layout = "hyperstack" if has_c else "single"
                if layout == "hyperstack":
                    chans, _ = _read_hyperstack(info, channel_order)
                elif layout == "single":
                    if "C" in lead and info.shape[lead.index("C")] > 1:
                        raise StackReadError(f"{info.path}: layout 'single' but found axes {info.axes} "
                                             f"with shape {info.shape} ({info.shape[lead.index('C')]} "
                                             "channels); expected one channel (T, Y, X); use layout "
                                             "'hyperstack' for two channels")
                    axis, _ = _time_axis_info(info)
                    _warn_z(info, axis)
                    chans = {"f": info.data}
                else:  # alternating
                    planes = _all_planes(info, "alternating 340/380 pages")
                    n = len(planes)
                    if n % 2:
                        raise StackReadError(f"{info.path}: alternating layout needs an even number of "
                                             f"pages (340, 380, 340, ...), found {n} pages (axes "
                                             f"{info.axes}, shape {info.shape})")
                    if isinstance(planes, np.ndarray):
                        chans = {channel_order[0]: planes[0::2], channel_order[1]: planes[1::2]}
                    else:
                        chans = {channel_order[0]: _subframes(planes, np.arange(0, n, 2)),
                                 channel_order[1]: _subframes(planes, np.arange(1, n, 2))}
                    per_page = 2.0
                    extra["n_pages"] = n

            interval, source, meta_interval = _resolve_interval(infos, per_page, frame_interval_s)
            meta_px = next((i.pixel_size_um for i in infos if i.pixel_size_um is not None), None)
            px = pixel_size_um if pixel_size_um is not None else meta_px
            nonfinite = {}
            for ch in list(chans):
                chans[ch], n_bad = _check_finite(ch, chans[ch], infos[0].path if layout != "pair"
                                                 else infos[channel_order.index(ch)].path)
                if n_bad:
                    nonfinite[ch] = n_bad
            if nonfinite:
                extra["nonfinite_pixels_filled"] = nonfinite

            metadata = {
                "axes": infos[0].axes,
                "shape_in_file": [list(i.shape) for i in infos] if len(infos) > 1 else list(infos[0].shape),
                "dtype": infos[0].dtype.name,
                "byteorder": "little" if infos[0].dtype.newbyteorder("<") == infos[0].dtype else "big",
                "file_size_bytes": {i.path.name: i.file_size for i in infos},
                "tiff_kind": infos[0].kind,
                "memmap": all(i.memmapped for i in infos),
                "frame_interval_metadata_s": meta_interval,
                "pixel_size_metadata_um": meta_px,
                "pixel_size_source": "override" if pixel_size_um is not None else
                                     ("metadata" if meta_px is not None else "none"),
                **extra,
                # every warning raised while reading, so the pipeline can put them in run.json
                "warnings": [f"{w.category.__name__}: {w.message}" for w in caught
                             if issubclass(w.category, UserWarning)],
            }
            rec = Recording(channels=chans, frame_interval_s=float(interval),
                            frame_interval_source=source, pixel_size_um=px, source=file_paths,
                            layout=layout, name=name or default_name, metadata=metadata)
    finally:
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    return rec


# --------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------

def _frames(arr, chunk: int = 64) -> Iterator[np.ndarray]:
    for t0 in range(0, arr.shape[0], chunk):
        yield from np.asarray(arr[t0:t0 + chunk])


def _interleave(a, b, chunk: int = 64) -> Iterator[np.ndarray]:
    for t0 in range(0, a.shape[0], chunk):
        for fa, fb in zip(np.asarray(a[t0:t0 + chunk]), np.asarray(b[t0:t0 + chunk])):
            yield fa
            yield fb


def _write_one(path: Path, pages: Iterable[np.ndarray], shape: tuple[int, ...], dtype,
               axes: str, *, frame_interval_s, pixel_size_um, ome: bool, bigtiff: bool,
               separate: bool, imagej: bool) -> Path:
    """Write pages to ``path`` via a hidden temporary file that is renamed when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(fd)
    tmp = Path(tmp)
    res = None if pixel_size_um is None else (1.0 / pixel_size_um, 1.0 / pixel_size_um)
    try:
        if separate:
            desc = None
            if imagej and not ome:
                kw = {}
                if frame_interval_s is not None:
                    kw["finterval"] = frame_interval_s
                if pixel_size_um is not None:
                    kw["unit"] = "micron"
                desc = tifffile.imagej_description(shape, axes=axes, **kw)
            with tifffile.TiffWriter(tmp, bigtiff=bigtiff, imagej=False) as tw:
                for i, page in enumerate(pages):
                    tw.write(page, contiguous=False, metadata=None, photometric="minisblack",
                             description=desc if i == 0 else None, resolution=res)
        elif ome:
            md: dict[str, Any] = {"axes": axes}
            if frame_interval_s is not None:
                md.update(TimeIncrement=frame_interval_s, TimeIncrementUnit="s")
            if pixel_size_um is not None:
                md.update(PhysicalSizeX=pixel_size_um, PhysicalSizeXUnit="µm",
                          PhysicalSizeY=pixel_size_um, PhysicalSizeYUnit="µm")
            tifffile.imwrite(tmp, pages, shape=shape, dtype=dtype, ome=True, bigtiff=bigtiff,
                             metadata=md, photometric="minisblack")
        elif imagej:
            md = {"axes": axes}
            if frame_interval_s is not None:
                md["finterval"] = frame_interval_s
            if pixel_size_um is not None:
                md["unit"] = "micron"
            tifffile.imwrite(tmp, pages, shape=shape, dtype=dtype, imagej=True, metadata=md,
                             resolution=res, photometric="minisblack")
        else:
            tifffile.imwrite(tmp, pages, shape=shape, dtype=dtype, metadata=None,
                             bigtiff=bigtiff, photometric="minisblack")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_recording(channels, path, *, layout: str = "hyperstack",
                    frame_interval_s: float | None = None, pixel_size_um: float | None = None,
                    ome: bool = False, bigtiff: bool = False, pages: str = "contiguous",
                    pair_suffixes: tuple[str, str] = ("_340", "_380"),
                    channel_order: tuple[str, str] = ("f340", "f380")) -> list[Path]:
    """Write channels as a TIFF layout that :func:`read_recording` reads back.

    Parameters
    ----------
    channels : Recording or mapping of str to array-like (T, Y, X)
        Two channels named by ``channel_order`` for ``hyperstack``, ``alternating`` and
        ``pair``; one channel (any name) for ``single``. The dtype is kept. A Recording's
        frame interval and pixel size are used unless given here.
    path : str or Path
        Output file; for ``pair`` a stem (``dir/cell`` writes ``dir/cell_340.tif`` and
        ``dir/cell_380.tif``; a ``.tif`` suffix is dropped).
    layout : {"hyperstack", "alternating", "pair", "single"}
        ``hyperstack``: ImageJ ``TCYX`` (C = 2). ``alternating``: pages 340, 380, 340, ...;
        ImageJ ``TYX`` with 2T frames and ``finterval = frame_interval_s / 2`` per page
        when an interval or pixel size is given, else a plain TIFF without metadata.
        ``pair``: two ImageJ ``TYX`` files. ``single``: ImageJ ``TYX``.
    frame_interval_s : float, optional
        Time between frames of one channel, in s (ImageJ ``finterval`` / OME
        ``TimeIncrement``).
    pixel_size_um : float, optional
        Pixel size in µm (ImageJ resolution + unit ``micron`` / OME ``PhysicalSizeX``).
    ome : bool
        Write OME-TIFF metadata instead of ImageJ (not for ``alternating``).
    bigtiff : bool
        Write BigTIFF. ImageJ cannot read BigTIFF metadata, so BigTIFF files get OME
        metadata.
    pages : {"contiguous", "separate"}
        ``separate`` writes each frame as its own page (IFD followed by its data) with
        no tifffile shape metadata, as acquisition software does: such files cannot be
        memory-mapped and are read lazily. The ImageJ description (frame interval,
        channels) is kept on the first page; without interval or pixel size,
        ``single``/``pair``/``alternating`` files get no description at all.
    pair_suffixes, channel_order : (str, str)
        File suffixes of a pair; channel names in file order.

    Returns
    -------
    list of Path
        The file(s) written (a pair: 340 first).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> d = Path(tempfile.mkdtemp())
    >>> ch = {"f340": np.zeros((3, 4, 4), np.uint16), "f380": np.ones((3, 4, 4), np.uint16)}
    >>> [p.name for p in write_recording(ch, d / "cell", layout="pair", frame_interval_s=1)]
    ['cell_340.tif', 'cell_380.tif']
    """
    if layout not in ("hyperstack", "alternating", "pair", "single"):
        raise ConfigError(f"layout = {layout!r}: expected 'hyperstack', 'alternating', 'pair' "
                          "or 'single'")
    if pages not in ("contiguous", "separate"):
        raise ConfigError(f"pages = {pages!r}: expected 'contiguous' or 'separate'")
    pair_suffixes = _check_pair_suffixes(pair_suffixes)
    if isinstance(channels, Recording):
        rec = channels
        chans = dict(rec.channels)
        if frame_interval_s is None:
            frame_interval_s = rec.frame_interval_s
        if pixel_size_um is None:
            pixel_size_um = rec.pixel_size_um
    elif isinstance(channels, Mapping):
        chans = dict(channels)
    else:
        raise CaimgError(f"channels = {type(channels).__name__}: expected a Recording or a dict "
                         "{name: (T, Y, X) array}")
    frame_interval_s = _check_positive(frame_interval_s, "frame_interval_s")
    pixel_size_um = _check_positive(pixel_size_um, "pixel_size_um")
    for k, v in chans.items():
        if not hasattr(v, "shape") or not hasattr(v, "dtype"):
            chans[k] = np.asarray(v)
        if len(chans[k].shape) != 3 or chans[k].shape[0] < 1:
            raise CaimgError(f"channel {k!r} has shape {tuple(chans[k].shape)}; expected "
                             "(T, Y, X) with T >= 1")
    if layout == "single":
        if len(chans) != 1:
            raise CaimgError(f"layout 'single' writes one channel, got {list(chans)}")
        arrs = list(chans.values())
    else:
        missing = [c for c in channel_order if c not in chans]
        if missing or len(chans) != 2:
            raise CaimgError(f"layout {layout!r} writes the two channels {list(channel_order)}, "
                             f"got {list(chans)}")
        arrs = [chans[c] for c in channel_order]
        if tuple(arrs[0].shape) != tuple(arrs[1].shape) or arrs[0].dtype != arrs[1].dtype:
            raise CaimgError(f"channels {list(channel_order)} differ: shapes "
                             f"{[tuple(a.shape) for a in arrs]}, dtypes "
                             f"{[str(a.dtype) for a in arrs]}; expected the same")
    if ome and layout == "alternating":
        raise CaimgError("ome=True is not supported for layout 'alternating' (plain or ImageJ "
                         "TIFF only)")
    separate = pages == "separate"
    if separate and (ome or bigtiff):
        raise CaimgError("pages='separate' writes plain/ImageJ TIFF; ome and bigtiff are not "
                         "supported with it")
    use_ome = ome or bigtiff
    dtype = np.dtype(arrs[0].dtype).newbyteorder("=")
    t, rows, cols = (int(s) for s in arrs[0].shape)
    common = dict(pixel_size_um=pixel_size_um, bigtiff=bigtiff, separate=separate)
    path = Path(path)
    has_meta = frame_interval_s is not None or pixel_size_um is not None

    if layout == "hyperstack":
        return [_write_one(path, _interleave(*arrs), (t, 2, rows, cols), dtype, "TCYX",
                           frame_interval_s=frame_interval_s, ome=use_ome, imagej=True,
                           **common)]
    if layout == "alternating":
        fi = None if frame_interval_s is None else frame_interval_s / 2.0
        return [_write_one(path, _interleave(*arrs), (2 * t, rows, cols), dtype, "TYX",
                           frame_interval_s=fi, ome=False, imagej=has_meta and not bigtiff,
                           **common)]
    if layout == "single":
        return [_write_one(path, _frames(arrs[0]), (t, rows, cols), dtype, "TYX",
                           frame_interval_s=frame_interval_s, ome=use_ome,
                           imagej=not separate or has_meta, **common)]
    # pair
    stem = path.name[: -len(path.suffix)] if _is_tiff_name(path) else path.name
    out = []
    for arr, suffix in zip(arrs, pair_suffixes):
        p = path.with_name(f"{stem}{suffix}{'.ome' if use_ome else ''}.tif")
        out.append(_write_one(p, _frames(arr), (t, rows, cols), dtype, "TYX",
                              frame_interval_s=frame_interval_s, ome=use_ome,
                              imagej=not separate or has_meta, **common))
    return out


# --------------------------------------------------------------------------------------
# dask
# --------------------------------------------------------------------------------------

def open_stack(path, *, channel: int | str | None = None):
    """Open one TIFF as a lazy dask array ``(T, Y, X)`` without reading pixel data.

    Parameters
    ----------
    path : str or Path
        A TIFF file.
    channel : int or str, optional
        For files with a channel axis: its index, or ``"f340"``/``"f380"`` (index 0/1).
        Required when the file has more than one channel.

    Returns
    -------
    dask.array.Array, shape (T, Y, X)
        Backed by tifffile's zarr store; chunks are frames.

    Raises
    ------
    StackReadError
        For a missing or unreadable file, or a shape that is not (T[, C], Y, X).
    """
    import dask.array as da  # optional dependency: imported only here
    try:
        import zarr
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CaimgError("open_stack needs zarr: pip install 'caimg[dask]'") from exc

    path = Path(path)
    size = _file_size(path)
    if size == 0:
        raise StackReadError(f"{path}: empty file (0 bytes); expected a TIFF stack")
    try:
        with tifffile.TiffFile(path, mode="rb") as tif:
            axes, shape = tif.series[0].axes, tuple(tif.series[0].shape)
        store = tifffile.imread(path, aszarr=True, series=0)
        arr = da.from_zarr(zarr.open(store, mode="r"))
    except Exception as exc:
        raise _tiff_error(path, exc, size) from exc
    if arr.shape != shape:  # pragma: no cover - tifffile keeps the squeezed shape
        raise StackReadError(f"{path}: zarr shape {arr.shape} differs from series {shape}")
    lead = axes[:-2]
    if "C" in lead:
        n_c = shape[lead.index("C")]
        if channel is None:
            raise StackReadError(f"{path}: found axes {axes} with {n_c} channels; expected a "
                                 "channel index: pass channel=0 or channel=1")
        if isinstance(channel, str):
            names = ("f340", "f380")
            if channel not in names:
                raise StackReadError(f"{path}: channel {channel!r}: expected one of {names} or "
                                     "an index")
            channel = names.index(channel)
        if not 0 <= int(channel) < n_c:
            raise StackReadError(f"{path}: channel {channel} out of range for {n_c} channels")
        arr = da.take(arr, int(channel), axis=lead.index("C"))
        lead = lead.replace("C", "")
    if len(lead) != 1:
        raise StackReadError(f"{path}: found axes {axes} with shape {shape}; expected "
                             "(T, Y, X) or (T, C, Y, X)")
    return arr

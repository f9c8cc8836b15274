"""Lazy frame arrays: :class:`TiffFrames` (positioned and vectored reads of TIFF pages)
and :class:`FilledFrames` (NaN/inf pixels of a float stack read as their frame's median).

Both index like a ``(T, Y, X)`` numpy array along the first axis and read only the frames
asked for; input files are opened read-only and never written to.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import tifffile

from ..errors import StackReadError

__all__ = ["TiffFrames", "FilledFrames", "PlaneFrames"]


def _index_frames(frames, key, where) -> np.ndarray:
    """``frames[key]`` for a lazy (T, Y, X) array whose ``_read(indices)`` reads whole frames:
    the first index picks frames (int, slice, list, bool mask, ``...``), the rest applies to
    what was read. Shared by :class:`TiffFrames` and :class:`PlaneFrames`.
    """
    rest = ()
    if isinstance(key, tuple):
        key, rest = (key[0], key[1:]) if key else (slice(None), ())
    n = len(frames)
    if key is Ellipsis:
        out = frames._read(np.arange(n))
        return out[(Ellipsis, *rest)] if rest else out
    if isinstance(key, (int, np.integer)):
        i = int(key)
        if i < -n or i >= n:
            raise IndexError(f"frame {i} out of range for {n} frames in {where}")
        out = frames._read(np.array([i % n]))[0]
        return out[rest] if rest else out
    if isinstance(key, slice):
        idx = np.arange(n)[key]
    else:
        idx = np.asarray(key)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"frame index out of range for {n} frames in {where}")
        idx = idx % n if idx.size else idx
    out = frames._read(idx)
    return out[(slice(None), *rest)] if rest else out


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
        return _index_frames(self, key, self.path)

    def take(self, indices) -> TiffFrames:
        """A lazy view of some of the frames (e.g. one channel of an interleaved file).

        Parameters
        ----------
        indices : array of int
            Frame indices into this object, in the order wanted.

        Returns
        -------
        TiffFrames
            Over the same file, reading nothing until indexed.
        """
        take = np.asarray(indices, dtype=np.int64)
        return TiffFrames(self.path, self._pages[take], self._frame_shape, self._file_dtype,
                          offsets=self._offsets[take], bytecounts=self._bytecounts[take],
                          compressed=self._compressed)

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
            for off, cnt in zip(self._offsets[t], self._bytecounts[t], strict=False):
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
        Computed once per object, vectorised over all frames.
        """
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
        reads (same grouping, same errors), without a Python loop over strips.
        """
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
        with tifffile's decoder for the series' first page (all pages share it).
        """
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
                segs = zip(self._offsets[t], self._bytecounts[t], strict=False)
                for i, (off, cnt) in enumerate(segs):
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



class PlaneFrames:
    """Lazy ``(T, Y, X)`` array whose frames are read one at a time by a function.

    For inputs whose frames are not TIFF pages of one file: one file per frame (image
    sequences), or planes of a vendor file (ND2, CZI, LIF, Micro-Manager) read by its
    library. Indexes like :class:`TiffFrames` along the first axis.

    Parameters
    ----------
    read_frame : callable
        ``read_frame(i) -> (Y, X) array`` for ``0 <= i < n_frames``.
    n_frames : int
        Number of frames.
    frame_shape : (int, int)
        Rows and columns of one frame.
    dtype : numpy dtype
        Data type of the frames.
    label : str
        What the frames are read from, for ``repr`` and error messages.
    """

    def __init__(self, read_frame, n_frames: int, frame_shape, dtype, *, label: str = ""):
        self._read_frame = read_frame
        self._index = np.arange(int(n_frames), dtype=np.int64)
        self._frame_shape = tuple(int(s) for s in frame_shape)
        self._dtype = np.dtype(dtype).newbyteorder("=")
        self.label = label

    dtype = property(lambda self: self._dtype)
    shape = property(lambda self: (len(self._index), *self._frame_shape))
    ndim = property(lambda self: 3)
    size = property(lambda self: int(np.prod(self.shape)))
    nbytes = property(lambda self: self.size * self.dtype.itemsize)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"PlaneFrames({self.label!r}, shape={self.shape}, dtype={self.dtype})"

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def _read(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx), *self._frame_shape), self._dtype)
        for k, i in enumerate(idx):
            frame = np.asarray(self._read_frame(int(self._index[i])))
            if frame.shape != self._frame_shape:
                raise StackReadError(f"{self.label}: frame {int(self._index[i])} has shape "
                                     f"{frame.shape}; expected {self._frame_shape} like the "
                                     "first frame")
            out[k] = frame
        return out

    def __getitem__(self, key):
        return _index_frames(self, key, self.label)

    def take(self, indices) -> PlaneFrames:
        """A lazy view of some of the frames, in the order given.

        Parameters
        ----------
        indices : array of int
            Frame indices into this object.

        Returns
        -------
        PlaneFrames
            Reading nothing until indexed.
        """
        view = PlaneFrames(self._read_frame, 0, self._frame_shape, self._dtype, label=self.label)
        view._index = self._index[np.asarray(indices, dtype=np.int64)]
        return view

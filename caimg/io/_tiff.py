"""Inspecting one TIFF file: its first series, its metadata and how to read its pixels.

Error tiers, as in tifffile: broken structure (not a TIFF, truncated, an implausible
header, pages missing that the metadata announces) raises :class:`StackReadError`;
metadata that cannot be understood is a :class:`MetadataWarning` and is ignored. tifffile
itself logs, rather than raises, on a broken IFD chain: :class:`_TifffileErrors` collects
those records so they become errors too.
"""

from __future__ import annotations

import logging
import math
import threading
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ..errors import MetadataWarning, StackReadError
from ._axes import check_pages_in_series
from ._frames import TiffFrames
from ._ifdwalk import PageWalk, walk_pages
from ._limits import check_decoded_size, check_ome_planes, check_raw_bytes
from ._tiffchannels import RGB_NAMES, ome_channels, rgb_frames
from ._times import ome_plane_times, stk_plane_times
from .channels import ChannelInfo

__all__ = ["FileInfo", "inspect", "file_size", "tiff_error"]

# one frame larger than this is taken for a damaged header, not an image
_MAX_FRAME_BYTES = 1 << 31
# limits on decoded size vs file size, OME plane counts, ...: see _limits

_TIME_UNITS_S = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3,
                 "us": 1e-6, "µs": 1e-6, "\u03bcs": 1e-6, "ns": 1e-9, "min": 60.0,
                 "h": 3600.0}
_LENGTH_UNITS_UM = {"micron": 1.0, "microns": 1.0, "um": 1.0, "µm": 1.0, "\u03bcm": 1.0,
                    "\\u00b5m": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6,
                    "å": 1e-4, "angstrom": 1e-4, "pm": 1e-6}


@dataclass
class FileInfo:
    """What :func:`inspect` found in one TIFF file (its first series)."""

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
    times_s: np.ndarray | None = None  # per time point, from OME Plane DeltaT or STK
    times_source: str = "none"
    channels: list | None = None    # ChannelInfo per C index, when the file names them


def file_size(path: Path) -> int:
    """Size of ``path`` in bytes; :class:`StackReadError` when it cannot be opened."""
    try:
        return path.stat().st_size
    except OSError as exc:
        raise StackReadError(f"{path}: cannot be opened ({exc.strerror or exc}); "
                             "expected a readable TIFF file") from None


def tiff_error(path: Path, exc: Exception, size: int) -> StackReadError:
    """The error for a file tifffile could not read, naming tifffile's complaint."""
    return StackReadError(
        f"{path}: not a readable TIFF, or a damaged/truncated one ({type(exc).__name__}: {exc}; "
        f"file size {size} bytes); expected a TIFF stack (ImageJ, OME-TIFF, BigTIFF or plain "
        "multi-page)")


class _TifffileErrors(logging.Handler):
    """Collect ERROR records tifffile logs (it logs, rather than raises, on a broken IFD
    chain), from this thread only, while used as a context manager.
    """

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
    """``(frame interval s, source, pixel size um)`` from OME or ImageJ metadata.

    Parameters
    ----------
    tif : tifffile.TiffFile
        The open file.
    path : Path
        Its path, for warnings.

    Returns
    -------
    frame_interval_s : float or None
        Per page-plane along the time axis.
    source : str
        ``"ome TimeIncrement"``, ``"imagej finterval"`` or ``"none"``.
    pixel_size_um : float or None
        Pixel edge length in µm.
    """
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




def _first_series(tif: tifffile.TiffFile, path: Path):
    """``(series, axes, shape, dtype)`` of the first series, checked to be grayscale frames
    of a plausible size; ``dtype`` has the file's byte order.
    """
    if not tif.series:
        raise StackReadError(f"{path}: TIFF without images; expected a stack")
    series = tif.series[0]
    axes, shape = series.axes, tuple(series.shape)
    rgb = axes.endswith("YXS") and "C" not in axes and shape[-1] in (3, 4)
    if "S" in axes and not rgb:
        raise StackReadError(f"{path}: found axes {axes} with shape {shape}: colour "
                             "(RGB) samples; expected grayscale frames (T, Y, X) or "
                             "(T, C, Y, X)")
    if not axes.endswith("YX") and not rgb:
        raise StackReadError(f"{path}: found axes {axes} with shape {shape}; expected "
                             "the last two axes to be image rows and columns (Y, X)")
    dtype = np.dtype(series.dtype).newbyteorder(tif.byteorder)
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
    return series, axes, shape, dtype


def _check_complete(tif: tifffile.TiffFile, log: _TifffileErrors, path: Path, axes: str,
                    shape: tuple[int, ...], n_planes: int) -> None:
    """Raise when the file holds fewer pages than its series or its metadata describe."""
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


def _pixel_data(tif, series, path: Path, size: int, n_planes: int, shape, dtype,
                walk: PageWalk | None):
    """``(data, memmapped)``: a read-only memory map of a contiguous native-order file,
    else :class:`TiffFrames` over its pages.
    """
    axes, frame_shape = series.axes, shape[-2:]
    offset = series.dataoffset
    if offset is None:  # compressed, or not contiguous
        return _frames_from_series(tif, series, path, size, n_planes, frame_shape, dtype,
                                   walk), False
    nbytes = n_planes * int(np.prod(frame_shape)) * dtype.itemsize
    if offset + nbytes > size:
        raise StackReadError(
            f"{path}: truncated: the {axes} stack {shape} {dtype.name} needs "
            f"{offset + nbytes} bytes but the file has {size}; expected a "
            "complete TIFF")
    if dtype.isnative:
        return np.memmap(path, dtype=dtype, mode="r", offset=offset,
                         shape=(n_planes, *frame_shape)), True
    # e.g. big-endian files saved by ImageJ: swapped on read
    frame_nbytes = nbytes // max(n_planes, 1)
    offs = offset + frame_nbytes * np.arange(n_planes, dtype=np.int64)[:, None]
    return TiffFrames(path, np.arange(n_planes), frame_shape, dtype,
                      offsets=offs, bytecounts=np.full_like(offs, frame_nbytes)), False


def inspect(path: Path) -> FileInfo:
    """Open one TIFF read-only and describe its first series; never reads pixel data.

    Parameters
    ----------
    path : Path
        A TIFF file (ImageJ, OME-TIFF, BigTIFF or plain multi-page).

    Returns
    -------
    FileInfo
        Axes, shape and dtype of the first series, the frame interval and pixel size
        its metadata gives, and ``data``: a ``(P, Y, X)`` array-like over all its planes
        in file order (a read-only memory map, or :class:`TiffFrames`).

    Raises
    ------
    StackReadError
        For a missing, empty, non-TIFF, truncated or damaged file, colour samples, a
        non-numeric dtype, or an implausible header. The message names the file, what
        was found and what was expected.

    Warns
    -----
    MetadataWarning
        An OME ``TimeIncrement`` that cannot be understood (it is ignored).
    """
    size = file_size(path)
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
                walk = walk_pages(tif, path, size)
            except Exception:  # e.g. another tifffile version: its own reading stays
                walk = None
            check_ome_planes(tif, path)  # before tifffile allocates the announced planes
            series, axes, shape, dtype = _first_series(tif, path)
            interval, source, px = _metadata_interval_and_size(tif, path)
            times, times_source = _own_times(tif, path, axes, shape)
            channels = ome_channels(tif.ome_metadata) if tif.is_ome else None
            kind = series.kind
            if axes.endswith("S"):  # RGB: the samples become a channel axis before Y, X
                n_s, n_pages = shape[-1], int(np.prod(shape[:-3], dtype=np.int64))
                _check_complete(tif, log, path, axes, shape, n_pages)
                check_pages_in_series(tif, path, series, n_pages)
                data = rgb_frames(path, n_pages, shape[-3:-1], n_s, dtype)
                axes, shape = axes[:-3] + "CYX", (*shape[:-3], n_s, *shape[-3:-1])
                channels, memmapped = [ChannelInfo(i, RGB_NAMES[i]) for i in range(n_s)], False
            else:
                n_planes = int(np.prod(shape[:-2], dtype=np.int64))
                _check_complete(tif, log, path, axes, shape, n_planes)
                check_pages_in_series(tif, path, series, n_planes)
                data, memmapped = _pixel_data(tif, series, path, size, n_planes, shape, dtype,
                                              walk)
    except StackReadError:
        raise
    except Exception as exc:  # tifffile raises many kinds on damaged files
        raise tiff_error(path, exc, size) from exc
    return FileInfo(path=path, axes=axes, shape=shape, dtype=dtype,
                    frame_interval_s=interval, interval_source=source, pixel_size_um=px,
                    file_size=size, kind=kind, data=data, memmapped=memmapped, times_s=times,
                    channels=channels, times_source=times_source)


def _own_times(tif, path: Path, axes: str, shape) -> tuple[np.ndarray | None, str]:
    """Per-time-point times the file records: OME ``DeltaT``, MetaMorph STK plane times."""
    if tif.is_ome and "T" in axes:
        t = ome_plane_times(tif.ome_metadata, path)
        return t, "ome DeltaT" if t is not None else "none"
    if tif.is_stk and axes[:1] in ("T", "I") and len(axes) == 3:
        t = stk_plane_times(tif.stk_metadata, int(shape[0]))
        return t, "stk creation times" if t is not None else "none"
    return None, "none"


def _frames_from_series(tif, series, path, size, n_planes, frame_shape, dtype,
                        walk: PageWalk | None = None) -> TiffFrames:
    """:class:`TiffFrames` over the pages of ``series``, with their strip/tile tables
    (from the walk when it covered exactly these pages, else from tifffile's pages).
    """
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
    if raw:
        check_raw_bytes(path, counts, frame_shape, dtype)
    else:
        check_decoded_size(path, claimed, size, n_planes, frame_shape, dtype)
    return TiffFrames(path, index, frame_shape, dtype, offsets=offsets, bytecounts=counts,
                      compressed=not raw)


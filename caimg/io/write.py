"""Writing recordings as TIFF files in every layout :func:`~caimg.io.read.read_recording` reads."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ..errors import CaimgError, ConfigError
from ..recording import Recording
from ._paths import check_pair_suffixes, check_positive, is_tiff_name

__all__ = ["write_recording"]


def _frames(arr, chunk: int = 64) -> Iterator[np.ndarray]:
    for t0 in range(0, arr.shape[0], chunk):
        yield from np.asarray(arr[t0:t0 + chunk])


def _interleave(a, b, chunk: int = 64) -> Iterator[np.ndarray]:
    for t0 in range(0, a.shape[0], chunk):
        for fa, fb in zip(np.asarray(a[t0:t0 + chunk]), np.asarray(b[t0:t0 + chunk]),
                          strict=True):
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
    pair_suffixes = check_pair_suffixes(pair_suffixes)
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
    frame_interval_s = check_positive(frame_interval_s, "frame_interval_s")
    pixel_size_um = check_positive(pixel_size_um, "pixel_size_um")
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
    stem = path.name[: -len(path.suffix)] if is_tiff_name(path) else path.name
    out = []
    for arr, suffix in zip(arrs, pair_suffixes, strict=True):
        p = path.with_name(f"{stem}{suffix}{'.ome' if use_ome else ''}.tif")
        out.append(_write_one(p, _frames(arr), (t, rows, cols), dtype, "TYX",
                              frame_interval_s=frame_interval_s, ome=use_ome,
                              imagej=not separate or has_meta, **common))
    return out


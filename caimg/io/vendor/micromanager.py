"""Micro-Manager MMStack OME-TIFF datasets (one or several files), read with tifffile.

tifffile assembles the files of one dataset into one series ``R T Z C Y X`` (R: stage
positions); each position is one recording.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import tifffile

from ...errors import StackReadError
from ..channels import ChannelInfo
from .base import ImageInfo, cached_handle

__all__ = ["describe", "is_micromanager", "MMSTACK_MARK"]

_LOCK = threading.Lock()
#: what every MMStack file name holds
MMSTACK_MARK = "_MMStack"


def is_micromanager(path: Path) -> bool:
    """Tell whether a TIFF is part of a Micro-Manager MMStack dataset (name, then header).

    Parameters
    ----------
    path : Path
        A TIFF file.

    Returns
    -------
    bool
    """
    if MMSTACK_MARK not in Path(path).name:
        return False
    try:
        with tifffile.TiffFile(path, mode="rb") as tif:
            return bool(tif.is_micromanager)
    except Exception:  # noqa: BLE001 - unreadable files are left to the TIFF reader's errors
        return False


def _open(path: Path):
    return tifffile.TiffFile(path, mode="rb")


_PAGE_AT: dict[Path, dict[int, int]] = {}


def _page(file: Path, offset: int):
    """Return the page of ``file`` whose IFD is at ``offset`` (tifffile's series of a multi-file
    dataset knows the pages of the other files by offset only).
    """
    tif = cached_handle("tifffile", file, _open)
    at = _PAGE_AT.get(file)
    if at is None:
        at = _PAGE_AT[file] = {p.offset: i for i, p in enumerate(tif.pages)}
    return tif.pages[at[offset]]


def _elapsed_s(loc) -> float | None:
    try:
        with _LOCK:
            page = _page(*loc)
            return float(page.tags["MicroManagerMetadata"].value["ElapsedTime-ms"]) / 1e3
    except Exception:  # noqa: BLE001 - a page without MM metadata: no per-frame time
        return None


def describe(path: Path) -> list[ImageInfo]:
    """One :class:`ImageInfo` per stage position of the dataset ``path`` belongs to.

    Channel names come from the summary ``ChNames``, the nominal interval from
    ``Interval_ms``, per-frame times from each plane's ``ElapsedTime-ms``, the pixel size
    from ``PixelSize_um``. Positions are named by the summary's position list.

    Parameters
    ----------
    path : Path
        The file.

    Returns
    -------
    list of ImageInfo
    """
    with tifffile.TiffFile(path, mode="rb") as tif:
        if not tif.is_micromanager or not tif.series:
            raise StackReadError(f"{path}: not a Micro-Manager dataset; expected an MMStack "
                                 "OME-TIFF")
        series = tif.series[0]
        summary = (tif.micromanager_metadata or {}).get("Summary", {})
        axes_all, shape_all = series.axes, tuple(int(n) for n in series.shape)
        # (file, page index) of each plane, in series order
        where = [(Path(p.parent.filehandle.path), p.offset) if p is not None else None
                 for p in series.pages]
    sizes = dict(zip(axes_all, shape_all, strict=True))
    n_r, n_t, n_z, n_c = (sizes.get(a, 1) for a in "RTZC")
    axes = "".join(a for a in axes_all if a != "R")
    shape = tuple(sizes[a] for a in axes)
    names = list(summary.get("ChNames") or [])
    channels = [ChannelInfo(i, str(names[i]) if i < len(names) else None) for i in range(n_c)]
    labels = [p.get("Label") for p in summary.get("InitialPositionList") or []
              if isinstance(p, dict)]
    interval = summary.get("Interval_ms")
    interval = float(interval) / 1e3 if isinstance(interval, (int, float)) and interval > 0 \
        else None
    px = summary.get("PixelSize_um")
    px = float(px) if isinstance(px, (int, float)) and px > 0 else None
    other = [a for a in axes if a not in "TZCYX"]
    refusal = f"axis {other[0]} ({sizes[other[0]]}) that is neither time, Z nor channel" \
        if other else None
    lead = [a for a in axes_all if a not in "YX"]
    strides = {a: int(np.prod([sizes[b] for b in lead[k + 1:]], dtype=np.int64))
               for k, a in enumerate(lead)}

    def index(r, t, c, z):
        return sum(strides[a] * i for a, i in (("R", r), ("T", t), ("C", c), ("Z", z))
                   if a in strides)

    infos = []
    for r in range(n_r):
        times = None
        if n_t > 1:
            t = [_elapsed_s(where[index(r, k, 0, 0)]) if where[index(r, k, 0, 0)] else None
                 for k in range(n_t)]
            times = np.array(t, dtype=float) if all(v is not None for v in t) else None

        def read_plane(t, c, z, _r=r):
            loc = where[index(_r, t, c, z)]
            if loc is None:
                raise StackReadError(f"{path}: plane (position {_r}, t {t}, c {c}, z {z}) is "
                                     "missing from the dataset; expected every plane")
            with _LOCK:
                return _page(*loc).asarray()
        label = labels[r] if r < len(labels) and labels[r] else f"Pos{r}"
        infos.append(ImageInfo(
            path=Path(path), format="micromanager", axes=axes, shape=shape,
            dtype=np.dtype(series.dtype), channels=channels,
            position=label if n_r > 1 else None, n_times=n_t, n_z=n_z,
            times_s=times, time_source="micromanager ElapsedTime-ms" if times is not None
            else "none", frame_interval_s=interval,
            interval_source="micromanager Interval_ms" if interval else "none",
            pixel_size_um=px, refusal=refusal, read_plane=read_plane,
            frame_shape=(sizes["Y"], sizes["X"]),
            metadata={"z_step_um": summary.get("z-step_um") if n_z > 1 else None,
                      "files": sorted({str(w[0].name) for w in where if w is not None}),
                      "micromanager_version": summary.get("MicroManagerVersion")}))
    return infos

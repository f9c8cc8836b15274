"""Nikon NIS-Elements ``.nd2`` files, read with the ``nd2`` package."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..channels import ChannelInfo
from .base import ImageInfo, cached_handle, require

__all__ = ["describe"]

_LOCK = threading.Lock()


def _open(path: Path):
    nd2 = require("nd2", "nd2", path=path, what="Nikon ND2")
    return nd2.ND2File(path)


def _channels(f) -> list[ChannelInfo]:
    out = []
    for i, ch in enumerate(f.metadata.channels or []):
        c = ch.channel
        out.append(ChannelInfo(i, c.name or None, _nm(c.excitationLambdaNm),
                               _nm(c.emissionLambdaNm)))
    n_c = f.sizes.get("C", 1)
    return out if len(out) == n_c else [ChannelInfo(i) for i in range(n_c)]


def _nm(v) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if v > 0 else None


def _times(f, n_p: int, n_t: int) -> list[np.ndarray | None]:
    """Per position, the time (s) of the first plane of each time point, from events()."""
    try:
        ev = f.events(orient="list")
        t = np.asarray(ev["Time [s]"], dtype=float)
    except Exception:  # noqa: BLE001 - older files without events: no per-frame times
        return [None] * n_p
    ti = np.asarray(ev.get("T Index", np.zeros(len(t))), dtype=int)
    pi = np.asarray(ev.get("P Index", np.zeros(len(t))), dtype=int)
    out = []
    for p in range(n_p):
        times = np.full(n_t, np.nan)
        for k in range(n_t):
            sel = (ti == k) & (pi == p)
            if sel.any():
                times[k] = t[sel].min()
        out.append(times if np.isfinite(times).all() and n_t > 1 else None)
    return out


def describe(path: Path) -> list[ImageInfo]:
    """One :class:`ImageInfo` per position (``P``) of an ND2 file.

    Channels come with names and excitation/emission wavelengths, times from the
    per-frame event table (the first plane of each time point), the pixel size from the
    voxel size. Reading a plane reads one frame of the file.

    Parameters
    ----------
    path : Path
        The file.

    Returns
    -------
    list of ImageInfo
    """
    f = cached_handle("nd2", path, _open)
    sizes = dict(f.sizes)
    axes = "".join(k for k in sizes if k != "P")
    shape = tuple(int(sizes[k]) for k in axes)
    n_p, n_t, n_z = sizes.get("P", 1), sizes.get("T", 1), sizes.get("Z", 1)
    loops = [k for k in sizes if k not in ("C", "Y", "X", "S")]
    seq = {tuple(int(d.get(k, 0)) for k in ("P", "T", "Z")): i
           for i, d in enumerate(f.loop_indices)}
    channels = _channels(f)
    times = _times(f, n_p, n_t)
    vs = f.voxel_size()
    refusal = None
    if "S" in sizes and sizes["S"] > 1:
        refusal = f"RGB samples (S = {sizes['S']}); expected grayscale channels"
    extra = [k for k in loops if k not in ("P", "T", "Z")]
    if extra:
        refusal = f"axis {extra[0]} ({sizes[extra[0]]}) that is neither time, Z nor position"
    infos = []
    for p in range(n_p):
        def read_plane(t, c, z, _p=p):
            with _LOCK:
                frame = np.asarray(f.read_frame(seq[(_p, t, z)]))
            return frame[c] if frame.ndim == 3 else frame
        infos.append(ImageInfo(
            path=Path(path), format="nd2", axes=axes, shape=shape, dtype=np.dtype(f.dtype),
            channels=channels, position=f"P{p}" if n_p > 1 else None, n_times=n_t, n_z=n_z,
            times_s=times[p], time_source="nd2 events" if times[p] is not None else "none",
            pixel_size_um=float(vs.x) if vs and vs.x else None, refusal=refusal,
            read_plane=read_plane, frame_shape=(sizes["Y"], sizes["X"]),
            metadata={"z_step_um": float(vs.z) if vs and vs.z and n_z > 1 else None,
                      "experiment": [f"{e.type} {e.count}" for e in f.experiment]}))
    return infos

"""Leica ``.lif`` containers, read with ``liffile``: one description per image."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..channels import ChannelInfo
from .base import ImageInfo, cached_handle, require

__all__ = ["describe"]

_LOCK = threading.Lock()
# axes a calcium recording cannot be read along, in words for the refusal
_REFUSED_AXES = {"λ": "lambda (emission wavelength sweep)",
                 "Λ": "Lambda (excitation wavelength sweep)",
                 "M": "mosaic tiles", "S": "RGB samples"}


def _open(path: Path):
    liffile = require("liffile", "liffile", path=path, what="Leica LIF")
    return liffile.LifFile(path)


def _refusal(dims: tuple[str, ...], sizes: dict) -> str | None:
    for d in dims:
        if d in _REFUSED_AXES and sizes[d] > 1:
            return f"a {_REFUSED_AXES[d]} axis {d} ({sizes[d]}); it is not time, expected T"
    if tuple(dims[-2:]) != ("Y", "X"):
        slow = dims[-2] if len(dims) > 1 else "?"
        return (f"an X{slow} scan (axes {''.join(dims)}: frames are {slow} x X, not Y x X); "
                f"{slow} is not an image row axis, expected frames (T, Y, X)")
    other = [d for d in dims if d not in "TCZYX"]
    if other:
        return f"axis {other[0]} ({sizes[other[0]]}) that is neither time, Z nor channel"
    return None


def _channels(image, n_c: int) -> list[ChannelInfo]:
    """Channel names/wavelengths are not in liffile's parsed attributes: index only, and
    the excitation wavelength of an active laser line when there is exactly one per
    channel (not attempted here).
    """
    return [ChannelInfo(i) for i in range(n_c)]


def describe(path: Path) -> list[ImageInfo]:
    """One :class:`ImageInfo` per image of a LIF container, named by the image.

    Images with a wavelength-sweep axis (λ, Λ) or without a Y axis (XZ / XT line scans)
    are described with a refusal that names the axis. Times come from the T coordinates
    (s), the pixel size from the X coordinates.

    Parameters
    ----------
    path : Path
        The file.

    Returns
    -------
    list of ImageInfo
    """
    lif = cached_handle("liffile", path, _open)
    infos = []
    for image in lif.images:
        dims, sizes = tuple(image.dims), dict(image.sizes)
        coords = image.coords
        n_t, n_z, n_c = (int(sizes.get(a, 1)) for a in "TZC")
        times = None
        if n_t > 1 and "T" in coords:
            t = np.asarray(coords["T"], dtype=float)
            times = t if len(t) == n_t else None
        px = None
        if "X" in coords and len(coords["X"]) > 1:
            px = float(np.asarray(coords["X"])[1] - np.asarray(coords["X"])[0]) * 1e6
        refusal = _refusal(dims, sizes)
        read_plane = None
        if refusal is None:
            def read_plane(t, c, z, _im=image, _dims=dims):
                key = {d: i for d, i in (("T", t), ("C", c), ("Z", z)) if d in _dims}
                with _LOCK:
                    return np.asarray(_im.frame(**key))
        coords_info = {d: [float(np.min(coords[d])), float(np.max(coords[d]))]
                       for d in dims if d in coords and np.asarray(coords[d]).dtype.kind == "f"}
        infos.append(ImageInfo(
            path=Path(path), format="lif", axes="".join(dims),
            shape=tuple(int(sizes[d]) for d in dims), dtype=np.dtype(image.dtype),
            channels=_channels(image, n_c),
            position=image.name if len(lif.images) > 1 else None, n_times=n_t, n_z=n_z,
            times_s=times, time_source="lif T coordinates" if times is not None else "none",
            pixel_size_um=px, refusal=refusal, read_plane=read_plane,
            frame_shape=(int(sizes.get("Y", 1)), int(sizes.get("X", 1))),
            metadata={"coordinate_ranges": coords_info}))
    return infos

"""Zeiss ``.czi`` files, read with ``czifile``."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..channels import ChannelInfo
from .base import ImageInfo, cached_handle, require

__all__ = ["describe"]

_LOCK = threading.Lock()
# axes czifile reports that hold one value per plane and are not read as such
_IGNORED = "B0"


def _open(path: Path):
    czifile = require("czifile", "czifile", path=path, what="Zeiss CZI")
    return czifile.CziFile(str(path))


def _float(el, default=None):
    try:
        return float(el.text) if el is not None and el.text else default
    except ValueError:
        return default


def _channels(root, n_c: int) -> list[ChannelInfo]:
    found = root.findall(".//Information/Image/Dimensions/Channels/Channel")
    out = [ChannelInfo(i, ch.get("Name") or None, _float(ch.find("ExcitationWavelength")),
                       _float(ch.find("EmissionWavelength"))) for i, ch in enumerate(found)]
    return out if len(out) == n_c else [ChannelInfo(i) for i in range(n_c)]


def _t_offsets(root, n_t: int) -> np.ndarray | None:
    el = root.find(".//Information/Image/Dimensions/T/Positions/List/Offsets")
    if el is None or not el.text:
        return None
    try:
        t = np.array([float(v) for v in el.text.split()])
    except ValueError:
        return None
    return t if len(t) == n_t and n_t > 1 else None


def describe(path: Path) -> list[ImageInfo]:
    """One :class:`ImageInfo` per scene (``S``) of a CZI file.

    Channels come from ``Information/Image/Dimensions/Channels`` (names, excitation and
    emission wavelengths), times from the T ``Offsets`` list, the pixel size from
    ``Scaling/Items/Distance[@Id='X']``. A plane is read from its subblock; mosaics
    (several tiles per plane) are refused.

    Parameters
    ----------
    path : Path
        The file.

    Returns
    -------
    list of ImageInfo
    """
    czi = cached_handle("czifile", path, _open)
    axes_all, shape_all = czi.axes, tuple(int(n) for n in czi.shape)
    sizes = {a: n for a, n in zip(axes_all, shape_all, strict=True) if a not in _IGNORED}
    root = ET.fromstring(czi.metadata())
    n_t, n_z, n_c, n_s = (sizes.get(a, 1) for a in "TZCS")
    axes = "".join(a for a in sizes if a != "S")
    shape = tuple(sizes[a] for a in axes)
    refusal = None
    other = [a for a in axes if a not in "TZCYX"]
    if other:
        refusal = f"axis {other[0]} ({sizes[other[0]]}) that is neither time, Z, channel nor scene"
    # (scene, t, c, z) -> directory entry; the plane's index along each axis
    start = {a: axes_all.index(a) for a in "STCZ" if a in axes_all}
    planes: dict[tuple[int, int, int, int], object] = {}
    for entry in czi.filtered_subblock_directory:
        key = tuple(int(entry.start[start[a]] - czi.start[start[a]]) if a in start else 0
                    for a in "STCZ")
        if key in planes and refusal is None:
            refusal = "a mosaic (several tiles per plane); expected one tile per plane"
        planes[key] = entry
    px = next((_float(d.find("Value")) for d in root.findall(".//Scaling/Items/Distance")
               if d.get("Id") == "X"), None)
    times = _t_offsets(root, n_t)
    channels = _channels(root, n_c)
    z_step = next((_float(d.find("Value")) for d in root.findall(".//Scaling/Items/Distance")
                   if d.get("Id") == "Z"), None)
    infos = []
    for s in range(n_s):
        def read_plane(t, c, z, _s=s):
            with _LOCK:
                data = planes[(_s, t, c, z)].data_segment().data()
            return np.asarray(data).reshape(sizes["Y"], sizes["X"])
        infos.append(ImageInfo(
            path=Path(path), format="czi", axes=axes, shape=shape, dtype=np.dtype(czi.dtype),
            channels=channels, position=f"S{s}" if n_s > 1 else None, n_times=n_t, n_z=n_z,
            times_s=times, time_source="czi T offsets" if times is not None else "none",
            pixel_size_um=px * 1e6 if px else None, refusal=refusal, read_plane=read_plane,
            frame_shape=(sizes["Y"], sizes["X"]),
            metadata={"z_step_um": z_step * 1e6 if z_step and n_z > 1 else None}))
    return infos

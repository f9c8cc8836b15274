"""Channels of a TIFF as the file names them: OME ``Channel`` elements and RGB samples."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import tifffile

from ._frames import PlaneFrames
from .channels import ChannelInfo
from .vendor.base import cached_handle

__all__ = ["ome_channels", "rgb_frames", "RGB_NAMES"]

RGB_NAMES = ("red", "green", "blue", "alpha")
_LOCK = threading.Lock()
_NM = {"nm": 1.0, "µm": 1e3, "um": 1e3, "\u03bcm": 1e3, "pm": 1e-3}


def _nm(value, unit) -> float | None:
    try:
        v = float(value) * _NM[unit or "nm"]
    except (TypeError, ValueError, KeyError):
        return None
    return v if v > 0 else None


def ome_channels(xml: str | None) -> list[ChannelInfo] | None:
    """Names and wavelengths of the first OME image's channels, when any is given.

    Parameters
    ----------
    xml : str or None
        The file's OME-XML.

    Returns
    -------
    list of ChannelInfo or None
        One per ``Channel`` of the first ``Pixels``; None when the file names none of
        them (tifffile writes unnamed ``Channel:0:0`` elements) or has no OME-XML.
    """
    if not xml:
        return None
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    pixels = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None:
        return None
    out = []
    for el in pixels:
        if el.tag.rsplit("}", 1)[-1] != "Channel":
            continue
        out.append(ChannelInfo(len(out), el.get("Name") or None,
                               _nm(el.get("ExcitationWavelength"),
                                   el.get("ExcitationWavelengthUnit")),
                               _nm(el.get("EmissionWavelength"),
                                   el.get("EmissionWavelengthUnit"))))
    if not any(c.name or c.excitation_nm for c in out):
        return None
    return out


def rgb_frames(path: Path, n_pages: int, frame_shape, n_samples: int, dtype) -> PlaneFrames:
    """Return a lazy ``(n_pages * n_samples, Y, X)`` array over the colour samples of an RGB
    series: plane ``p * n_samples + s`` is sample ``s`` of page ``p`` (so that the samples
    read as a channel axis after the page axes).

    Parameters
    ----------
    path : Path
        The TIFF file.
    n_pages : int
        Pages of the first series.
    frame_shape : (int, int)
        Rows and columns.
    n_samples : int
        Samples per pixel (3 for RGB).
    dtype : numpy dtype
        Sample type.

    Returns
    -------
    PlaneFrames
    """
    def read(i: int) -> np.ndarray:
        page, sample = divmod(i, n_samples)
        tif = cached_handle("tifffile", path, lambda p: tifffile.TiffFile(p, mode="rb"))
        with _LOCK:
            data = tif.series[0].pages[page].asarray()
        return np.asarray(data)[..., sample]

    return PlaneFrames(read, n_pages * n_samples, frame_shape, dtype, label=f"{path} (RGB)")

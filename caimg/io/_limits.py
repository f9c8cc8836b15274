"""Limits on what an input file may make caimg allocate, checked from headers before decoding.

A TIFF header is a promise about the pixels: so many planes of so many rows and columns.
A damaged or hostile header can promise far more than the file holds (an OME header
announcing 10^9 planes, pages claiming 40000 x 20000 pixels in a few kilobytes, a small
zlib file that inflates to gigabytes). Every check here compares what the header claims
with what the file can hold and raises :class:`~caimg.errors.StackReadError` (or
:class:`~caimg.errors.RoiError` for ROI images) before anything of that size is allocated.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..errors import RoiError, StackReadError

__all__ = ["MAX_COMPRESSION_RATIO", "MAX_DECODED_BYTES", "MAX_PLANES", "check_decoded_size",
           "check_label_tiff", "check_ome_planes", "check_raw_bytes"]

#: Compressed stacks may decode to at most this many times their file size once they are
#: larger than :data:`MAX_DECODED_BYTES`. Camera noise keeps real recordings within ~2-8x
#: (zlib, LZW, zstd); zlib itself tops out near 1030x, so a limit above that (the former
#: 4096) could never catch a zlib bomb.
MAX_COMPRESSION_RATIO = 64
#: below this many decoded bytes the compression ratio is not checked (small test stacks of
#: zeros compress a lot and are harmless)
MAX_DECODED_BYTES = 1 << 26
#: an OME header describing more planes than this is taken for damaged, even when the
#: planes are said to lie in other files
MAX_PLANES = 10_000_000


def ome_plane_claims(xml: str, path: Path) -> tuple[int, list[str], bool] | None:
    """``(planes over all images, one 'SizeT x SizeC x SizeZ' text per image, whether other
    files are named)`` from OME-XML; None when it cannot be parsed (tifffile decides).
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    total, texts, other_files = 0, [], False
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "Pixels":
            sizes = {}
            for k in ("SizeT", "SizeC", "SizeZ"):
                try:
                    sizes[k] = int(el.attrib.get(k, 1))
                except ValueError:
                    return None
            n = sizes["SizeT"] * sizes["SizeC"] * sizes["SizeZ"]
            total += max(n, 0)
            texts.append(" x ".join(f"{k}={v}" for k, v in sizes.items()))
        elif tag == "UUID" and el.attrib.get("FileName") not in (None, path.name):
            other_files = True
    return total, texts, other_files


def check_ome_planes(tif, path: Path) -> None:
    """Refuse an OME header that announces more planes than the file (or any file) can hold.

    Called before tifffile builds its series: tifffile allocates one entry per announced
    plane, so a header claiming 10^9 planes costs gigabytes before any other check runs.

    Parameters
    ----------
    tif : tifffile.TiffFile
        The open file (only its first page's description and its page count are read).
    path : Path
        The file, for the message.

    Raises
    ------
    StackReadError
        When the planes of all OME images together exceed the pages in this file (for a
        single-file OME-TIFF) or :data:`MAX_PLANES`.
    """
    if not tif.is_ome:
        return
    claims = ome_plane_claims(tif.ome_metadata or "", path)
    if claims is None:
        return
    planes, texts, other_files = claims
    if planes > MAX_PLANES:
        raise StackReadError(
            f"{path}: the OME metadata describes {planes} planes ({'; '.join(texts)}); more "
            f"than {MAX_PLANES} planes is taken for a damaged header; expected an OME-TIFF "
            "whose SizeT/SizeC/SizeZ match its pages (re-save it, e.g. with Fiji/Bio-Formats)")
    if other_files:
        return
    n_pages = len(tif.pages)
    if planes > n_pages:
        raise StackReadError(
            f"{path}: truncated or damaged: the OME metadata describes {planes} planes "
            f"({'; '.join(texts)}) but the file holds {n_pages} pages; expected a complete "
            "OME-TIFF whose SizeT/SizeC/SizeZ match its pages")


def check_raw_bytes(path: Path, counts: np.ndarray, frame_shape, dtype) -> None:
    """Refuse uncompressed pages whose strips hold fewer bytes than their header's frame size.

    Parameters
    ----------
    path : Path
        The file, for the message.
    counts : (T, n_segments) int array
        Byte counts of each frame's strips.
    frame_shape : (int, int)
        Rows and columns the header claims.
    dtype : numpy dtype
        Pixel type.

    Raises
    ------
    StackReadError
        Naming the claimed frame size and the bytes actually stored, before a frame
        buffer of the claimed size is allocated.
    """
    frame_nbytes = int(np.prod(frame_shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    per_frame = counts.sum(axis=1) if counts.ndim == 2 else counts
    if per_frame.size and int(per_frame.min()) < frame_nbytes:
        t = int(np.argmin(per_frame))
        raise StackReadError(
            f"{path}: page {t} claims a frame of {tuple(int(s) for s in frame_shape)} "
            f"{np.dtype(dtype).name} ({frame_nbytes} bytes) but its strips hold "
            f"{int(per_frame[t])} bytes; the header looks damaged, expected a TIFF whose pages "
            "hold the pixels they describe")


def check_decoded_size(path: Path, claimed: int, size: int, n_planes: int, frame_shape,
                       dtype) -> None:
    """Refuse compressed data that would decode to far more than its file size.

    Parameters
    ----------
    path : Path
        The file, for the message.
    claimed : int
        Bytes the header says the pixels decode to.
    size : int
        File size in bytes.
    n_planes, frame_shape, dtype
        What the header claims, for the message.

    Raises
    ------
    StackReadError
        When ``claimed`` exceeds both :data:`MAX_DECODED_BYTES` and
        :data:`MAX_COMPRESSION_RATIO` times ``size``.
    """
    if claimed > max(MAX_DECODED_BYTES, MAX_COMPRESSION_RATIO * size):
        raise StackReadError(
            f"{path}: the header claims {claimed} bytes of pixels ({n_planes} frames of "
            f"{tuple(int(s) for s in frame_shape)} {np.dtype(dtype).name}) in a file of {size} "
            f"bytes, {claimed / max(size, 1):.0f} times its size (at most "
            f"{MAX_COMPRESSION_RATIO} is accepted for compressed stacks over "
            f"{MAX_DECODED_BYTES >> 20} MiB); the file looks damaged or is a decompression "
            "bomb; expected a TIFF stack (if it is genuine, save it uncompressed)")


def check_label_tiff(path: Path, shape: tuple[int, int]) -> None:
    """Refuse a label TIFF whose image is not ``shape``, from its header, before decoding.

    Parameters
    ----------
    path : Path
        The label TIFF.
    shape : (int, int)
        (Y, X) of the recording the labels are for.

    Raises
    ------
    RoiError
        When the first series (squeezed) is not ``shape``, or the file cannot be opened.
    """
    import tifffile

    try:
        with tifffile.TiffFile(path, mode="rb") as tif:
            found = tuple(int(s) for s in tif.series[0].shape) if tif.series else ()
    except Exception as exc:  # tifffile raises many kinds on damaged files
        raise RoiError(f"label TIFF {path} could not be read: {exc}") from exc
    squeezed = tuple(s for s in found if s != 1)
    if squeezed != tuple(s for s in shape if s != 1):
        raise RoiError(f"label TIFF {path} has shape {found}; expected a (Y, X) label image "
                       f"of the recording's shape {tuple(shape)}")

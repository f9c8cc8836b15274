"""Axes and page sizes are never guessed: checks on what a file's series covers.

tifffile reads the first series of a file; pages it leaves out (pages of another size, or
pages the OME/ImageJ metadata does not count) would be dropped silently, and a Z axis
would be read as time. The checks here turn both into a
:class:`~caimg.errors.StackReadError` that names what disagrees and what to do.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import StackReadError

__all__ = ["check_no_z", "check_pages_in_series"]


def _describe(series) -> str:
    shape = tuple(int(s) for s in series.shape)
    n = len(series.pages)
    return f"{n} page{'s' if n != 1 else ''} of {shape[-2]}x{shape[-1]} (axes {series.axes})"


def check_pages_in_series(tif, path: Path, series, n_planes: int) -> None:
    """Refuse a file with pages the first series leaves out.

    Parameters
    ----------
    tif : tifffile.TiffFile
        The open file.
    path : Path
        The file, for the message.
    series : tifffile.TiffPageSeries
        The first series (the one caimg reads).
    n_planes : int
        Planes in that series.

    Raises
    ------
    StackReadError
        When the file holds more pages than the series (pages that change size half-way
        start a new series in tifffile; an OME or ImageJ header may count fewer planes
        than there are pages). A multi-image OME-TIFF whose images together account for
        every page, e.g. several stage positions, is left to the reader of those files.
    """
    n_pages = len(tif.pages)
    if n_pages <= n_planes:
        return
    all_series = tif.series  # parsed already, for the first series
    n_series = sum(len(s.pages) for s in all_series)
    if tif.is_ome and len(all_series) > 1 and n_series >= n_pages:
        return  # several OME images (positions): every page belongs to one of them
    first = _describe(series)
    if len(all_series) > 1:
        rest = "; then " + "; ".join(_describe(s) for s in all_series[1:])
        if not tif.is_ome and not tif.is_imagej:
            raise StackReadError(
                f"{path}: the pages change size or type half-way: {first}{rest}; expected every "
                "page of a stack to have one size (split the file, or crop or pad the frames "
                "to one size, e.g. in Fiji, and save again)")
    else:
        rest = ""
    kind = "OME" if tif.is_ome else ("ImageJ" if tif.is_imagej else "TIFF")
    if tif.is_ome:
        from ._limits import ome_plane_claims
        claims = ome_plane_claims(tif.ome_metadata or "", path)
        if claims is not None:
            rest += f"; {'; '.join(claims[1])}"
    raise StackReadError(
        f"{path}: the {kind} metadata describes {n_planes} planes ({first}{rest}) but the file "
        f"holds {n_pages} pages; expected metadata that counts every page (re-save the file, "
        "e.g. with Fiji, so that its header describes all pages)")


def check_no_z(info) -> None:
    """Refuse a Z-stack without a time axis: Z planes are never read as time or channels.

    A stack whose only plane axis (besides channels) is Z, e.g. ``ZYX`` or ``ZCYX``, is a
    Z-stack, not a time series. Stacks with a time axis and a Z axis (``TZYX``) are left
    to the layout readers (which refuse them, or pick a plane with ``input.z_plane``).

    Parameters
    ----------
    info : FileInfo
        What :func:`~caimg.io._tiff.inspect` found.

    Raises
    ------
    StackReadError
        Naming the axes and saying how to save the time axis as T.
    """
    lead = info.axes[:-2]
    if lead.replace("C", "") != "Z":
        return
    n_z = info.shape[lead.index("Z")]
    raise StackReadError(
        f"{info.path}: found axes {info.axes} with shape {tuple(info.shape)}: a Z axis of "
        f"{n_z} planes and no time axis; Z planes are never read as time frames or as "
        "channels. Expected a time series (T, Y, X) or (T, C, Y, X): when the planes are in "
        "fact time points, save the axis as T (Fiji: Image > Properties, swap Slices and "
        "Frames; or Image > Hyperstacks > Re-order Hyperstack); a Z-stack time series needs "
        "a T axis too, and input.z_plane then picks its plane")

"""Opening one TIFF as a lazy dask array (optional: needs ``caimg[dask]``)."""

from __future__ import annotations

from pathlib import Path

import tifffile

from ..errors import CaimgError, StackReadError
from ._tiff import file_size, tiff_error

__all__ = ["open_stack"]


def open_stack(path, *, channel: int | str | None = None):
    """Open one TIFF as a lazy dask array ``(T, Y, X)`` without reading pixel data.

    Parameters
    ----------
    path : str or Path
        A TIFF file.
    channel : int or str, optional
        For files with a channel axis: its index, or ``"f340"``/``"f380"`` (index 0/1).
        Required when the file has more than one channel.

    Returns
    -------
    dask.array.Array, shape (T, Y, X)
        Backed by tifffile's zarr store; chunks are frames.

    Raises
    ------
    StackReadError
        For a missing or unreadable file, or a shape that is not (T[, C], Y, X).
    """
    import dask.array as da  # optional dependency: imported only here
    try:
        import zarr
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CaimgError("open_stack needs zarr: pip install 'caimg[dask]'") from exc

    path = Path(path)
    size = file_size(path)
    if size == 0:
        raise StackReadError(f"{path}: empty file (0 bytes); expected a TIFF stack")
    try:
        with tifffile.TiffFile(path, mode="rb") as tif:
            axes, shape = tif.series[0].axes, tuple(tif.series[0].shape)
        store = tifffile.imread(path, aszarr=True, series=0)
        arr = da.from_zarr(zarr.open(store, mode="r"))
    except Exception as exc:
        raise tiff_error(path, exc, size) from exc
    if arr.shape != shape:  # pragma: no cover - tifffile keeps the squeezed shape
        raise StackReadError(f"{path}: zarr shape {arr.shape} differs from series {shape}")
    lead = axes[:-2]
    if "C" in lead:
        n_c = shape[lead.index("C")]
        if channel is None:
            raise StackReadError(f"{path}: found axes {axes} with {n_c} channels; expected a "
                                 "channel index: pass channel=0 or channel=1")
        if isinstance(channel, str):
            names = ("f340", "f380")
            if channel not in names:
                raise StackReadError(f"{path}: channel {channel!r}: expected one of {names} or "
                                     "an index")
            channel = names.index(channel)
        if not 0 <= int(channel) < n_c:
            raise StackReadError(f"{path}: channel {channel} out of range for {n_c} channels")
        arr = da.take(arr, int(channel), axis=lead.index("C"))
        lead = lead.replace("C", "")
    if len(lead) != 1:
        raise StackReadError(f"{path}: found axes {axes} with shape {shape}; expected "
                             "(T, Y, X) or (T, C, Y, X)")
    return arr

"""Choosing channels and a Z plane in one TIFF: by name, wavelength or index.

Used by :func:`~caimg.io.read.read_recording` for files the fixed layouts do not cover:
named (OME) or RGB channels, more than two channels, channels asked for in
``input.channels``, and Z-stack time series (``input.z_plane``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import ConfigError, MetadataWarning, StackReadError
from ._frames import PlaneFrames
from ._tiff import FileInfo
from .channels import ChannelInfo, choose_channels

__all__ = ["needs_choice", "select_planes", "TIME_AXES"]

#: axes tifffile uses for a stack of planes that can be read as time
TIME_AXES = ("T", "I", "Q", "Z")


def _n_channels(info: FileInfo) -> int:
    lead = info.axes[:-2]
    return info.shape[lead.index("C")] if "C" in lead else 1


def needs_choice(info: FileInfo, channels, z_plane) -> bool:
    """Tell whether a one-file TIFF needs channels or a Z plane chosen.

    Rather than the layout readers' fixed rules: for channels asked for by name, named
    (OME) or RGB channels, a channel count other than two, or a Z-stack time series.

    Parameters
    ----------
    info : FileInfo
        The file.
    channels : mapping or None
        ``input.channels``.
    z_plane : int, str or None
        ``input.z_plane``.

    Returns
    -------
    bool
    """
    lead = info.axes[:-2]
    others = lead.replace("C", "")
    return (bool(channels) or info.channels is not None or _n_channels(info) > 2
            or ("Z" in others and len(others) > 1) or (z_plane is not None and "Z" in lead))


def _z_index(info: FileInfo, z_plane, others: str):
    """Return the Z plane (index, "max" or "mean") of a TIFF Z-stack time series."""
    n_z = info.shape[info.axes.index("Z")]
    found = f"axes {info.axes} with shape {info.shape}"
    if z_plane is None:
        raise StackReadError(
            f"{info.path}: a Z-stack time series ({found}: {n_z} Z planes per time point); "
            f"Z is never read as time. Choose the plane with input.z_plane = INDEX (0 to "
            f"{n_z - 1}) or a projection 'max' / 'mean', e.g. --set input.z_plane=0")
    if isinstance(z_plane, str):
        if z_plane not in ("max", "mean"):
            raise ConfigError(f"input.z_plane = {z_plane!r}: expected a plane index, 'max' or "
                              "'mean'")
        return z_plane
    if isinstance(z_plane, bool) or not isinstance(z_plane, int) or not 0 <= z_plane < n_z:
        raise StackReadError(f"{info.path}: input.z_plane = {z_plane!r} but the file has {n_z} "
                             f"Z planes ({found}); expected 0 to {n_z - 1}, 'max' or 'mean'")
    return z_plane


def select_planes(info: FileInfo, *, channels=None, z_plane=None,
                  channel_order=("f340", "f380")) -> tuple[dict[str, Any], dict[str, Any]]:
    """One TIFF whose channels (by name, wavelength or index) and Z plane are chosen.

    Parameters
    ----------
    info : FileInfo
        The file, from :func:`~caimg.io._tiff.inspect`.
    channels : mapping, optional
        ``input.channels`` (see :func:`caimg.io.channels.choose_channels`).
    z_plane : int, "max" or "mean", optional
        The plane of a Z-stack time series (required for one).
    channel_order : (str, str)
        Names of the two channels of an unnamed two-channel file.

    Returns
    -------
    channels : dict
        ``{"f": ...}`` or ``{"f340": ..., "f380": ...}``, each ``(T, Y, X)`` array-like.
    extra : dict
        ``channels_used`` (caimg channel -> file channel index) and ``z_plane``, for the
        recording's metadata.
    """
    lead, lead_shape = info.axes[:-2], info.shape[:-2]
    others = lead.replace("C", "")
    found = f"axes {info.axes} with shape {info.shape}"
    z = _z_index(info, z_plane, others) if "Z" in others and len(others) > 1 else None
    time_axes = others.replace("Z", "") if z is not None else others
    if len(time_axes) != 1 or time_axes not in TIME_AXES:
        raise StackReadError(f"{info.path}: found {found}; expected one time axis with "
                             "channels (T, C, Y, X) and at most a Z axis (input.z_plane)")
    if time_axes == "Z":  # stacklevel: here, the reader, read_recording, its caller
        warnings.warn(f"{info.path}: the stack's planes are labelled as Z slices "
                      f"({info.shape[info.axes.index('Z')]}); they are read as time frames",
                      MetadataWarning, stacklevel=4)
    n_c = _n_channels(info)
    where = f"{info.path}" + (" (RGB colour samples)" if info.channels and
                              info.channels[0].name == "red" else "")
    chosen = choose_channels(info.channels or [ChannelInfo(i) for i in range(n_c)], channels,
                             where=where, channel_order=channel_order,
                             unnamed_pair_is_fura2=True)
    index = np.arange(int(np.prod(lead_shape))).reshape(lead_shape)
    chans = {}
    for name, c in chosen.items():
        sel = tuple(c if a == "C" else (z if a == "Z" and isinstance(z, int) else slice(None))
                    for a in lead)
        planes = index[sel]
        kept = [a for a, x in zip(lead, sel, strict=True) if isinstance(x, slice)]
        if kept[0] != time_axes:  # e.g. Z before T: time first
            planes = planes.T
        chans[name] = _planes(info, planes, z)
    return chans, {"channels_used": chosen, "z_plane": z}


def _planes(info: FileInfo, planes: np.ndarray, z):
    """Return a ``(T, Y, X)`` array over the given planes: ``planes`` is (T,) or, for a
    projection, (T, Z).
    """
    data = info.data
    if planes.ndim == 1:
        if isinstance(data, np.ndarray):
            step = np.diff(planes)
            if len(planes) > 1 and (step == step[0]).all() and step[0] > 0:
                return data[planes[0]:planes[-1] + 1:int(step[0])]  # a view, not a copy
            return data[planes] if len(planes) == 1 else np.asarray(data)[planes]
        return data.take(planes)
    reduce = np.max if z == "max" else np.mean
    dtype = info.dtype.newbyteorder("=") if z == "max" else np.float32
    return PlaneFrames(lambda t: reduce(np.asarray(data[planes[t]]), axis=0).astype(dtype),
                       planes.shape[0], info.shape[-2:], dtype,
                       label=f"{info.path} ({z} over Z)")

"""Vendor formats (``caimg[formats]``): one reader per format, one common description.

Each reader (:mod:`.nd2`, :mod:`.czi`, :mod:`.lif`, :mod:`.micromanager`) returns one
:class:`~caimg.io.vendor.base.ImageInfo` per position or image: axes, shape, channels with
names and wavelengths, per-frame times and their source, pixel size, a refusal reason for
images caimg must not read (wavelength sweeps, XZ scans) and lazy plane access.
:func:`recording_from_image` turns one into a :class:`~caimg.recording.Recording`: it
chooses the channels (:func:`~caimg.io.channels.choose_channels`), the Z plane, and the
times, and refuses what it cannot take for time.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ...errors import CaimgError, ConfigError, StackReadError
from ...recording import Recording
from .._frames import PlaneFrames
from .._times import check_times, median_interval, read_timestamps_file
from ..channels import choose_channels, describe_channels
from . import czi, lif, micromanager, nd2
from .base import EXTRA, ImageInfo, close_handles

__all__ = ["READERS", "VENDOR_SUFFIXES", "ImageInfo", "describe_file", "is_vendor_file",
           "expand_positions",
           "recording_from_image", "viewable_recordings", "z_plane_check", "close_handles",
           "EXTRA"]

#: one reader per file suffix: ``describe(path) -> list[ImageInfo]``
READERS: dict[str, Callable[[Path], list[ImageInfo]]] = {
    ".nd2": nd2.describe,
    ".czi": czi.describe,
    ".lif": lif.describe,
}
VENDOR_SUFFIXES = tuple(READERS)
_FORMAT_NAMES = {".nd2": "Nikon ND2", ".czi": "Zeiss CZI", ".lif": "Leica LIF"}
Z_PROJECTIONS = ("max", "mean")


def is_vendor_file(path) -> bool:
    """Tell whether ``path`` is read by a vendor reader (ND2, CZI, LIF, Micro-Manager).

    Parameters
    ----------
    path : str or Path
        A file.

    Returns
    -------
    bool
    """
    path = Path(path)
    return path.suffix.lower() in READERS or micromanager.is_micromanager(path)


def describe_file(path) -> list[ImageInfo]:
    """Every position or image of a vendor file, described without reading pixels.

    Parameters
    ----------
    path : str or Path
        An ``.nd2``, ``.czi`` or ``.lif`` file, or a file of a Micro-Manager dataset.

    Returns
    -------
    list of ImageInfo
        One per position (ND2 ``P``, CZI scene, Micro-Manager position) or LIF image.

    Raises
    ------
    StackReadError
        A missing or damaged file, or the reader package not installed (the message
        names the package and ``pip install 'caimg[formats]'``).
    """
    path = Path(path)
    if not path.is_file():
        raise StackReadError(f"{path}: no such file; expected an ND2, CZI, LIF or "
                             "Micro-Manager file")
    suffix = path.suffix.lower()
    try:
        if suffix in READERS:
            return READERS[suffix](path)
        return micromanager.describe(path)
    except (StackReadError, ConfigError):
        raise
    except Exception as exc:  # noqa: BLE001 - the libraries raise many kinds
        what = _FORMAT_NAMES.get(suffix, "Micro-Manager")
        raise StackReadError(f"{path}: cannot be read as a {what} file ({type(exc).__name__}: "
                             f"{exc}); the file may be damaged or truncated") from None


def expand_positions(items: list[tuple]) -> list[tuple]:
    """One entry per position of every vendor file found (used by ``find_recordings``).

    Parameters
    ----------
    items : list of (root, first path, stem, paths, layout)
        One entry per recording found so far, in sorted path order.

    Returns
    -------
    list of (root, first path, name, paths, layout[, position])
        A vendor file with several positions (or LIF images) becomes one entry per
        position, named ``<stem>_<position>`` with the position's index appended; the
        files of one Micro-Manager dataset become one set of entries (named after the
        dataset prefix, the part before ``_MMStack``); everything else is unchanged. A file
        that cannot be described stays one entry, so reading it reports why.
    """
    out: list[tuple] = []
    datasets: set[tuple[Path, str]] = set()
    for item in items:
        root, first, stem, paths, lay = item[:5]
        path = Path(paths[0]) if len(paths) == 1 else None
        if lay != "auto" or path is None:
            out.append(item)
            continue
        mm = path.suffix.lower() not in READERS and micromanager.is_micromanager(path)
        if path.suffix.lower() not in READERS and not mm:
            out.append(item)
            continue
        if mm:
            prefix = path.name.split(micromanager.MMSTACK_MARK)[0] or stem
            if (path.parent.resolve(), prefix) in datasets:
                continue  # another file of a dataset already listed
            datasets.add((path.parent.resolve(), prefix))
            stem = prefix
        try:
            infos = describe_file(path)
        except CaimgError:
            out.append(item)
            continue
        if len(infos) <= 1:
            out.append((root, first, stem, paths, lay))
            continue
        out.extend((root, first, f"{stem}_{info.position}", paths, lay, k)
                   for k, info in enumerate(infos))
    return out


def z_plane_check(info: ImageInfo, z_plane) -> int | str | None:
    """Return the Z plane to read: None without a Z axis, else ``z_plane`` checked.

    Parameters
    ----------
    info : ImageInfo
        The image.
    z_plane : int, "max", "mean" or None
        ``input.z_plane``.

    Returns
    -------
    int, str or None

    Raises
    ------
    StackReadError
        A Z-stack time series without ``z_plane``, or an index out of range.
    ConfigError
        A ``z_plane`` that is neither an index nor ``"max"``/``"mean"``.
    """
    if isinstance(z_plane, str) and z_plane not in Z_PROJECTIONS:
        raise ConfigError(f"input.z_plane = {z_plane!r}: expected a plane index or one of "
                          f"{list(Z_PROJECTIONS)}")
    if info.n_z <= 1:
        return None
    found = f"axes {info.axes} with shape {info.shape}"
    if z_plane is None:
        raise StackReadError(
            f"{info.where}: a Z-stack time series ({found}: {info.n_times} time points x "
            f"{info.n_z} Z planes); Z is never read as time. Choose the plane with "
            f"input.z_plane = INDEX (0 to {info.n_z - 1}) or a projection 'max' / 'mean', "
            "e.g. --set input.z_plane=0")
    if isinstance(z_plane, str):
        return z_plane
    if isinstance(z_plane, bool) or not isinstance(z_plane, int) \
            or not 0 <= z_plane < info.n_z:
        raise StackReadError(f"{info.where}: input.z_plane = {z_plane!r} but the file has "
                             f"{info.n_z} Z planes ({found}); expected 0 to {info.n_z - 1}, "
                             "'max' or 'mean'")
    return z_plane


def _frames(info: ImageInfo, c: int, z) -> PlaneFrames:
    read = info.read_plane
    if z is None or isinstance(z, int):
        zz = 0 if z is None else z
        return PlaneFrames(lambda t: read(t, c, zz), info.n_times, info.frame_shape,
                           info.dtype, label=info.where)
    reduce = np.max if z == "max" else np.mean
    dtype = info.dtype if z == "max" else np.float32
    return PlaneFrames(lambda t: reduce([read(t, c, k) for k in range(info.n_z)], axis=0)
                       .astype(dtype), info.n_times, info.frame_shape, dtype,
                       label=f"{info.where} ({z} over Z)")


def _times(info: ImageInfo, timestamps, frame_interval_s):
    """``(per-frame times or None, interval, source)``; the priority: a given table, a given
    interval, the file's per-frame times, the file's nominal interval.
    """
    if timestamps is not None:
        if isinstance(timestamps, (str, os.PathLike)):
            t = read_timestamps_file(timestamps, info.n_times)
            return t, median_interval(t), f"timestamps file {Path(timestamps).name}"
        t = check_times(timestamps, "timestamps", n_frames=info.n_times)
        return t, median_interval(t), "timestamps"
    if frame_interval_s is not None:
        return None, frame_interval_s, "override"
    if info.times_s is not None:
        try:
            t = check_times(info.times_s, f"{info.where}: {info.time_source}")
        except StackReadError:
            t = None  # odd per-frame times: the nominal interval, when there is one
        if t is not None:
            interval = info.frame_interval_s or median_interval(t)
            return t, interval, info.time_source
    if info.frame_interval_s is not None:
        return None, info.frame_interval_s, info.interval_source
    raise StackReadError(f"{info.where}: no frame interval or per-frame times in the file "
                         "metadata; expected one: pass --frame-interval SECONDS or "
                         "--timestamps FILE.csv, or set input.frame_interval_s")


def recording_from_image(info: ImageInfo, *, channels: Mapping | None = None, z_plane=None,
                         channel_order=("f340", "f380"), frame_interval_s=None,
                         pixel_size_um=None, timestamps_file=None, time_s=None,
                         name: str | None = None
                         ) -> Recording:
    """Return a :class:`Recording` of one described image, its planes read lazily.

    Parameters
    ----------
    info : ImageInfo
        From :func:`describe_file`.
    channels : mapping, optional
        ``input.channels``: which file channel is ``f`` (or ``f340``/``f380``).
    z_plane : int, "max" or "mean", optional
        The Z plane (or projection) of a Z-stack time series; required when there is Z.
    channel_order : (str, str)
        Names for an unnamed two-channel file (not used for vendor files, which name
        their channels).
    frame_interval_s, pixel_size_um : float, optional
        Override the file's values.
    timestamps_file : str or Path, optional
        Per-frame times: a CSV with a ``time_s`` column; wins over the file's times.
    time_s : array of float, optional
        Per-frame times in seconds (when no ``timestamps_file`` is given).
    name : str, optional
        Recording name; default the file stem, plus the position when there are several.

    Returns
    -------
    Recording
        Channels are :class:`~caimg.io.PlaneFrames` reading one plane per frame.

    Raises
    ------
    StackReadError
        An image the reader refused (the axis is named), no time axis, a Z-stack without
        ``z_plane``, channels that cannot be chosen, no timing. Messages name the file,
        what was found and what to set.
    """
    found = f"axes {info.axes} with shape {info.shape}"
    if info.refusal:
        raise StackReadError(f"{info.where}: found {found}: {info.refusal}; caimg cannot read "
                             "it as a calcium recording")
    if info.n_times < 2:
        what = (f"a Z stack of {info.n_z} planes without a time axis; Z is never read as time"
                if info.n_z > 1 else "a single time point")
        raise StackReadError(f"{info.where}: found {found}: {what}; expected a time series "
                             "(T, Y, X)")
    z = z_plane_check(info, z_plane)
    chosen = choose_channels(info.channels, channels, where=info.where,
                             channel_order=channel_order)
    chans = {k: _frames(info, c, z) for k, c in chosen.items()}
    given = timestamps_file if timestamps_file is not None else time_s
    times, interval, source = _times(info, given, frame_interval_s)
    stem = info.path.name[: -len(info.path.suffix)] if info.path.suffix else info.path.name
    if info.format == "micromanager":
        stem = stem.split(micromanager.MMSTACK_MARK)[0] or stem
    default = f"{stem}_{info.position}" if info.position else stem
    metadata = {
        "format": info.format, "axes": info.axes, "shape_in_file": list(info.shape),
        "dtype": np.dtype(info.dtype).name, "position": info.position,
        "file_channels": [c.as_dict() for c in info.channels],
        "channels_used": {k: describe_channels([info.channels[c]]) for k, c in chosen.items()},
        "z_plane": z, "frame_interval_metadata_s": info.frame_interval_s,
        "pixel_size_metadata_um": info.pixel_size_um,
        "pixel_size_source": "override" if pixel_size_um is not None else
                             ("metadata" if info.pixel_size_um is not None else "none"),
        **info.metadata, "warnings": [],
    }
    return Recording(channels=chans, frame_interval_s=interval,
                     frame_interval_source=source,
                     pixel_size_um=pixel_size_um if pixel_size_um is not None
                     else info.pixel_size_um,
                     source=(info.path,), layout=info.format, name=name or default,
                     metadata=metadata, timestamps_s=times)


def viewable_recordings(path) -> list[Recording]:
    """Every channel of every position of a vendor file as a one-channel Recording, for
    viewing (the napari reader): nothing is chosen or refused beyond what cannot be shown.

    Parameters
    ----------
    path : str or Path
        A vendor file (:func:`is_vendor_file`).

    Returns
    -------
    list of Recording
        Named ``<file stem>[_<position>] <channel name>``; a Z-stack shows plane 0; images
        without a time axis or refused by the reader (wavelength sweeps, XZ scans) are
        left out. Frames are read lazily; without timing the interval is 1 s.
    """
    out = []
    for info in describe_file(path):
        if info.refusal or info.n_times < 2:
            continue
        for ch in info.channels:
            opts = dict(channels={"f": ch.index}, z_plane=0 if info.n_z > 1 else None)
            try:
                rec = recording_from_image(info, **opts)
            except StackReadError:  # no timing: viewing needs none
                rec = recording_from_image(info, frame_interval_s=1.0, **opts)
            out.append(dataclasses.replace(rec, name=f"{rec.name} {ch.name or ch.index}"))
    return out

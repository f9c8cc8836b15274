"""Frame times as files record them: OME per-plane ``DeltaT``, timestamp tables, checks.

A recording's frames are uniform (``frame * interval``) unless the file, or a table the
user gives (``--timestamps FILE.csv``), records a time per frame; then those times are
used unchanged, and the frame interval reported is their median step.
"""

from __future__ import annotations

import math
import os
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..errors import MetadataWarning, StackReadError

__all__ = ["ome_plane_times", "stk_plane_times", "read_timestamps_file", "check_times",
           "median_interval", "frame_times", "TIME_UNITS_S"]

TIME_UNITS_S = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3,
                "us": 1e-6, "µs": 1e-6, "\u03bcs": 1e-6, "ns": 1e-9, "min": 60.0,
                "h": 3600.0}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def ome_plane_times(xml: str | None, path: Path) -> np.ndarray | None:
    """Time of each time point of the first OME image from its ``Plane`` ``DeltaT``.

    Parameters
    ----------
    xml : str or None
        The OME-XML of the file.
    path : Path
        The file, for warnings.

    Returns
    -------
    array of float, shape (SizeT,), or None
        Seconds, the ``DeltaT`` of the first plane (lowest ``TheC``, ``TheZ``) of each
        ``TheT``; None when the planes do not give a ``DeltaT`` for every time point.
    """
    if not xml:
        return None
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    pixels = next((el for el in root.iter() if _local(el.tag) == "Pixels"), None)
    if pixels is None:
        return None
    try:
        size_t = int(pixels.get("SizeT", "1"))
    except ValueError:
        return None
    best: dict[int, tuple[tuple[int, int], float]] = {}
    for plane in pixels:
        if _local(plane.tag) != "Plane" or plane.get("DeltaT") is None:
            continue
        unit = plane.get("DeltaTUnit", "s")
        try:
            t = int(plane.get("TheT", "0"))
            key = (int(plane.get("TheC", "0")), int(plane.get("TheZ", "0")))
            value = float(plane.get("DeltaT")) * TIME_UNITS_S[unit]
        except (KeyError, ValueError):
            warnings.warn(f"{path}: OME Plane DeltaT {plane.get('DeltaT')!r} {unit!r} not "
                          "understood; per-plane times ignored", MetadataWarning, stacklevel=4)
            return None
        if t not in best or key < best[t][0]:
            best[t] = (key, value)
    if size_t < 2 or sorted(best) != list(range(size_t)):
        return None
    return np.array([best[t][1] for t in range(size_t)], dtype=float)


def stk_plane_times(meta: dict | None, n_planes: int) -> np.ndarray | None:
    """Return each plane's time (s from the first) from MetaMorph STK metadata.

    Parameters
    ----------
    meta : dict or None
        tifffile's ``TiffFile.stk_metadata``; its ``DatetimeCreated`` holds one
        ``datetime64`` per plane (the UIC2 creation date and time).
    n_planes : int
        Planes of the series.

    Returns
    -------
    array of float, shape (n_planes,), or None
        None when the metadata has no creation time per plane, or the times do not
        increase (MetaMorph then wrote no time stamps).
    """
    created = (meta or {}).get("DatetimeCreated")
    if created is None or len(created) != n_planes or n_planes < 2:
        return None
    ns = np.asarray(created, dtype="datetime64[ns]")
    t = (ns - ns[0]).astype("timedelta64[ns]").astype(np.int64) / 1e9
    return t if (np.diff(t) > 0).all() else None


def check_times(times, where: str, *, n_frames: int | None = None) -> np.ndarray:
    """Return ``times`` as a float array, checked: finite, increasing, one per frame.

    Parameters
    ----------
    times : array-like of float
        Seconds.
    where : str
        What the times came from, for the message (a file name, "OME DeltaT", ...).
    n_frames : int, optional
        The number of frames they must match.

    Returns
    -------
    array of float, shape (T,)

    Raises
    ------
    StackReadError
        For a wrong count, non-finite or not strictly increasing times.
    """
    t = np.asarray(times, dtype=float).reshape(-1)
    if n_frames is not None and t.size != n_frames:
        raise StackReadError(f"{where}: {t.size} times found but the recording has {n_frames} "
                             f"frames; expected one time per frame ({n_frames} rows)")
    if not np.isfinite(t).all():
        bad = int(np.flatnonzero(~np.isfinite(t))[0])
        raise StackReadError(f"{where}: time of frame {bad} is {t[bad]}; expected finite "
                             "times in seconds")
    steps = np.diff(t)
    if (steps <= 0).any():
        k = int(np.flatnonzero(steps <= 0)[0])
        raise StackReadError(f"{where}: times are not strictly increasing (frame {k} at "
                             f"{t[k]:g} s, frame {k + 1} at {t[k + 1]:g} s); expected one "
                             "increasing time per frame")
    return t


def median_interval(times: np.ndarray) -> float | None:
    """Median step of per-frame times in seconds (None for fewer than two frames)."""
    if len(times) < 2:
        return None
    v = float(np.median(np.diff(times)))
    return v if math.isfinite(v) and v > 0 else None


def read_timestamps_file(path, n_frames: int) -> np.ndarray:
    """Per-frame times from a CSV table with a ``time_s`` column (one row per frame).

    Parameters
    ----------
    path : str or Path
        The CSV file.
    n_frames : int
        Frames of the recording; the table must have exactly that many rows.

    Returns
    -------
    array of float, shape (n_frames,)
        Seconds, unchanged.

    Raises
    ------
    StackReadError
        When the file cannot be read, has no ``time_s`` column, has the wrong number of
        rows, or times that are not finite and strictly increasing. The message names the
        file, what was found and what was expected.
    """
    import pandas as pd

    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise StackReadError(f"{path}: timestamps file cannot be read ({exc}); expected a CSV "
                             "table with a time_s column, one row per frame") from None
    if "time_s" not in table.columns:
        raise StackReadError(f"{path}: timestamps file has columns {list(table.columns)}; "
                             "expected a time_s column (seconds, one row per frame)")
    try:
        values = pd.to_numeric(table["time_s"], errors="raise").to_numpy(float)
    except (ValueError, TypeError):
        raise StackReadError(f"{path}: column time_s holds non-numeric values; expected "
                             "seconds, one row per frame") from None
    return check_times(values, f"{path} (timestamps file)", n_frames=n_frames)


def frame_times(path: Path, own, *, layout: str, n_frames: int, timestamps,
                frame_interval_s, own_source: str = "ome DeltaT", stacklevel: int = 4):
    """Per-frame times of a TIFF recording: ``(times s, source)``, or ``(None, None)`` for
    uniform frames.

    Parameters
    ----------
    path : Path
        The (first) file, for messages.
    own : array of float or None
        The file's own per-time-point times (OME ``DeltaT``, STK creation times).
    layout : str
        The layout read; the file's times are used for ``single``, ``hyperstack`` and
        ``pair`` (in ``alternating`` files they are per page).
    n_frames : int
        Frames of one channel.
    timestamps : str, Path, array or None
        A given table (CSV with ``time_s``) or array; wins over everything.
    frame_interval_s : float or None
        A given interval: the file's per-frame times are then not used.
    own_source : str
        Where ``own`` comes from, for messages and the recording's time source.
    stacklevel : int
        For the warnings.

    Returns
    -------
    (array or None, str or None)
    """
    if timestamps is not None:
        if isinstance(timestamps, (str, os.PathLike)):
            times = read_timestamps_file(timestamps, n_frames)
            source = f"timestamps file {Path(timestamps).name}"
        else:
            times = check_times(timestamps, "timestamps", n_frames=n_frames)
            source = "timestamps"
        if frame_interval_s is not None:
            warnings.warn(f"{path}: both per-frame timestamps ({source}) and a frame "
                          f"interval ({frame_interval_s:g} s) were given; the timestamps are "
                          "used", MetadataWarning, stacklevel=stacklevel)
        return times, source
    if (frame_interval_s is None and own is not None and len(own) == n_frames
            and layout in ("single", "hyperstack", "pair")):
        try:
            return check_times(own, f"{path}: {own_source}"), own_source
        except StackReadError as exc:  # odd metadata is ignored, as elsewhere
            warnings.warn(f"{exc}; the per-plane times are ignored", MetadataWarning,
                          stacklevel=stacklevel)
    return None, None

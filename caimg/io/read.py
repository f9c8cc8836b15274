"""Reading one recording: :func:`read_recording` and its layout readers.

Each layout has one reader in :data:`LAYOUTS` (the way tifffile has one ``series_*``
parser per format): it takes what :func:`~caimg.io._tiff.inspect` found in the file(s) and
returns the channels. :func:`read_recording` checks its options, resolves ``"auto"``,
dispatches to the reader and applies what every layout shares: the frame interval, the
pixel size, the NaN/inf check and the warnings raised while reading.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, MetadataWarning, StackReadError
from ..recording import Recording
from ._axes import check_no_z
from ._frames import FilledFrames
from ._paths import (
    LAYOUT_NAMES,
    as_path_list,
    check_pair_suffixes,
    check_positive,
    split_pair,
    tiff_stem,
)
from ._tiff import FileInfo, inspect
from ._times import frame_times, median_interval
from .find import RecordingSource
from .select import needs_choice, select_planes
from .sequence import sequence_channels
from .vendor import describe_file, is_vendor_file, recording_from_image

__all__ = ["read_recording", "read_options", "LAYOUTS", "LayoutRead", "ReadWarning",
           "MAX_NONFINITE_FRACTION", "MAX_NONFINITE_FRAME_FRACTION"]

# axes tifffile uses for a stack of planes; all of them are read as time
_TIME_AXES = ("T", "I", "Q", "Z")
# relative tolerance above which a metadata and an explicit frame interval "differ"
_INTERVAL_RTOL = 1e-3
# Non-finite pixels in float stacks: up to this fraction of a channel's pixels, and of any
# one frame, they are filled (with a warning); more is an error.
MAX_NONFINITE_FRACTION = 1e-3
MAX_NONFINITE_FRAME_FRACTION = 1e-2


@dataclass(frozen=True)
class ReadWarning:
    """A warning raised while a recording was read, kept with its class.

    :func:`read_recording` stores these in ``Recording.metadata["warnings"]`` so that the
    pipeline, which starts recording warnings later, can raise them again
    (:func:`caimg.validate.check_recording`) and list them in ``run.json``.

    Parameters
    ----------
    category : type of Warning
        E.g. :class:`~caimg.errors.MetadataWarning`.
    message : str
        The warning's text.

    Examples
    --------
    >>> str(ReadWarning(MetadataWarning, "Z planes read as time"))
    'MetadataWarning: Z planes read as time'
    """

    category: type[Warning]
    message: str

    def __str__(self) -> str:
        return f"{self.category.__name__}: {self.message}"


@dataclass
class LayoutRead:
    """What a layout reader found: the channels and how to scale the metadata interval."""

    channels: dict[str, Any]   # name -> (T, Y, X) array-like
    default_name: str          # recording name when none is given
    per_page: float = 1.0      # metadata interval is per page: x this = per frame of a channel
    extra: dict[str, Any] = field(default_factory=dict)  # more entries for metadata


# --------------------------------------------------------------------------------------
# layout readers
# --------------------------------------------------------------------------------------

def _time_axis(info: FileInfo) -> str:
    """Validate a single-channel stack; returns its time axis letter."""
    lead = info.axes[:-2]
    found = f"axes {info.axes} with shape {info.shape}"
    if len(lead) == 0:
        raise StackReadError(f"{info.path}: found a single 2-D image ({found}); expected a "
                             "time series of frames (T, Y, X)")
    if len(lead) > 1 or lead not in _TIME_AXES:
        raise StackReadError(f"{info.path}: found {found}; expected one channel (T, Y, X)")
    return lead


def _warn_z(info: FileInfo, axis: str):
    if axis == "Z":  # stacklevel: _warn_z, the layout reader, read_recording, its caller
        warnings.warn(f"{info.path}: the stack's planes are labelled as Z slices "
                      f"({info.shape[0]}); they are read as time frames", MetadataWarning,
                      stacklevel=4)


def _channels(info: FileInfo) -> int:
    """Length of the channel axis (1 when there is none)."""
    lead = info.axes[:-2]
    return info.shape[lead.index("C")] if "C" in lead else 1


def read_hyperstack(infos: list[FileInfo], *, channel_order, pair_suffixes) -> LayoutRead:
    """One file whose series has a channel axis of 2, e.g. ImageJ ``TCYX``."""
    info = infos[0]
    lead = info.axes[:-2]
    found = f"axes {info.axes} with shape {info.shape}"
    if "C" not in lead:
        raise StackReadError(f"{info.path}: layout 'hyperstack' needs a channel axis (C = 2) "
                             f"but found {found}; use layout 'single' or 'alternating'")
    n_c = info.shape[lead.index("C")]
    others = lead.replace("C", "")
    if n_c != 2:
        raise StackReadError(f"{info.path}: found {found} ({n_c} channels); expected 2 channels "
                             "(340 and 380 nm) in a (T, C, Y, X) hyperstack")
    if len(others) == 0:
        raise StackReadError(f"{info.path}: found {found}: one frame per channel; expected a "
                             "time series (T, C, Y, X)")
    if len(others) > 1 or others not in _TIME_AXES:
        raise StackReadError(f"{info.path}: found {found}; expected (T, C, Y, X) with C = 2 "
                             "and no other axes (Z stacks are not supported)")
    lead_shape = info.shape[:-2]
    planes = info.data
    chans = {}
    if isinstance(planes, np.ndarray):
        full = planes.reshape(*lead_shape, *info.shape[-2:])
        for c, name in enumerate(channel_order):
            sel = [slice(None)] * len(lead_shape)
            sel[lead.index("C")] = c
            chans[name] = full[tuple(sel)]
    else:
        idx = np.arange(len(planes)).reshape(lead_shape)
        for c, name in enumerate(channel_order):
            chans[name] = planes.take(np.take(idx, c, axis=lead.index("C")))
    return LayoutRead(chans, tiff_stem(info.path))


def read_alternating(infos: list[FileInfo], *, channel_order, pair_suffixes) -> LayoutRead:
    """One plain multi-page file whose pages alternate 340, 380, 340, 380, ..."""
    info = infos[0]
    if len(info.axes[:-2]) == 0:
        raise StackReadError(f"{info.path}: found a single 2-D image (axes {info.axes}, shape "
                             f"{info.shape}); expected alternating 340/380 pages")
    planes = info.data
    n = len(planes)
    if n % 2:
        raise StackReadError(f"{info.path}: alternating layout needs an even number of "
                             f"pages (340, 380, 340, ...), found {n} pages (axes "
                             f"{info.axes}, shape {info.shape})")
    if isinstance(planes, np.ndarray):
        chans = {channel_order[0]: planes[0::2], channel_order[1]: planes[1::2]}
    else:
        chans = {channel_order[0]: planes.take(np.arange(0, n, 2)),
                 channel_order[1]: planes.take(np.arange(1, n, 2))}
    # the metadata interval is per page: one channel's frames are two pages apart
    return LayoutRead(chans, tiff_stem(info.path), per_page=2.0, extra={"n_pages": n})


def read_pair(infos: list[FileInfo], *, channel_order, pair_suffixes) -> LayoutRead:
    """Two ``(T, Y, X)`` files ``<stem>_340.tif`` and ``<stem>_380.tif``."""
    chans = {}
    for info, ch in zip(infos, channel_order, strict=True):
        _warn_z(info, _time_axis(info))
        chans[ch] = info.data
    file_paths = [info.path for info in infos]
    s0, s1 = (tuple(chans[c].shape) for c in channel_order)
    if s0 != s1:
        raise StackReadError(f"{file_paths[0]} and {file_paths[1]}: the pair differs in shape "
                             f"({s0} vs {s1} as (T, Y, X)); expected the same frame count "
                             "and frame size in both files")
    default_name = None
    splits = [split_pair(p, pair_suffixes) for p in file_paths]
    if splits[0] and splits[1] and splits[0][0] == splits[1][0]:
        default_name = splits[0][0]
    default_name = default_name or os.path.commonprefix([tiff_stem(p) for p in file_paths]) \
        .rstrip("_-. ") or tiff_stem(file_paths[0])
    return LayoutRead(chans, default_name)


def read_single(infos: list[FileInfo], *, channel_order, pair_suffixes) -> LayoutRead:
    """One single-channel ``(T, Y, X)`` file (Fluo-4, GCaMP, ...): channel ``"f"``."""
    info = infos[0]
    n_c = _channels(info)
    if n_c > 1:
        raise StackReadError(f"{info.path}: layout 'single' but found axes {info.axes} "
                             f"with shape {info.shape} ({n_c} "
                             "channels); expected one channel (T, Y, X); use layout "
                             "'hyperstack' for two channels")
    _warn_z(info, _time_axis(info))
    return LayoutRead({"f": info.data}, tiff_stem(info.path))


#: one reader per layout: ``reader(infos, *, channel_order, pair_suffixes) -> LayoutRead``
LAYOUTS: dict[str, Callable[..., LayoutRead]] = {
    "hyperstack": read_hyperstack,
    "alternating": read_alternating,
    "pair": read_pair,
    "single": read_single,
}


# --------------------------------------------------------------------------------------
# what every layout shares
# --------------------------------------------------------------------------------------

def _resolve_interval(infos: list[FileInfo], per_page_factor: float, frame_interval_s,
                      stacklevel: int = 3):
    """``(frame interval s, source, metadata interval s or None)``."""
    meta = [(i, i.frame_interval_s * per_page_factor) for i in infos
            if i.frame_interval_s is not None]
    meta_val = meta[0][1] if meta else None
    meta_src = meta[0][0].interval_source if meta else "none"
    if len(meta) == 2 and not math.isclose(meta[0][1], meta[1][1], rel_tol=_INTERVAL_RTOL):
        warnings.warn(f"{meta[0][0].path.name} says frame interval {meta[0][1]:g} s but "
                      f"{meta[1][0].path.name} says {meta[1][1]:g} s; using {meta[0][1]:g} s",
                      MetadataWarning, stacklevel=stacklevel)
    if frame_interval_s is not None:
        if meta_val is not None and not math.isclose(meta_val, frame_interval_s,
                                                     rel_tol=_INTERVAL_RTOL):
            warnings.warn(f"{infos[0].path}: the file metadata ({meta_src}) says frame interval "
                          f"{meta_val:g} s but {frame_interval_s:g} s was given; using "
                          f"{frame_interval_s:g} s (the given value wins)", MetadataWarning,
                          stacklevel=stacklevel)
        return frame_interval_s, "override", meta_val
    if meta_val is None:
        raise StackReadError(f"{infos[0].path}: no frame interval in the file metadata (no "
                             "ImageJ finterval, OME TimeIncrement or DeltaT); expected one: pass "
                             "--frame-interval SECONDS or set input.frame_interval_s in the "
                             "recipe (or --timestamps FILE.csv for per-frame times)")
    return meta_val, meta_src, meta_val



def _check_finite(name: str, arr, path: Path, chunk_frames: int = 256, stacklevel: int = 3):
    """``(array, number of non-finite pixels)``: the array itself when every pixel is
    finite, a :class:`FilledFrames` view (with a warning) when a few are not.
    """
    if arr.dtype.kind not in "fc":
        return arr, 0
    if arr.dtype.kind == "c":
        raise StackReadError(f"{path}: channel {name!r} has complex pixels ({arr.dtype}); "
                             "expected real intensities (integer or float)")
    n, rows, cols = (int(s) for s in arr.shape)
    frame_px = max(rows * cols, 1)
    total, first, worst, worst_t = 0, None, 0, 0
    for t0 in range(0, n, chunk_frames):
        block = np.asarray(arr[t0:t0 + chunk_frames])
        bad = ~np.isfinite(block)
        if not bad.any():
            continue
        per_frame = bad.reshape(bad.shape[0], -1).sum(axis=1)
        total += int(per_frame.sum())
        if first is None:
            first = t0 + int(np.flatnonzero(per_frame)[0])
        k = int(per_frame.argmax())
        if per_frame[k] > worst:
            worst, worst_t = int(per_frame[k]), t0 + k
    if not total:
        return arr, 0
    frac = total / max(n * frame_px, 1)
    if frac > MAX_NONFINITE_FRACTION or worst / frame_px > MAX_NONFINITE_FRAME_FRACTION:
        raise StackReadError(
            f"{path}: channel {name!r} holds {total} NaN or infinite values ({100 * frac:.2g} % "
            f"of its pixels; first in frame {first}, up to {100 * worst / frame_px:.2g} % of "
            f"frame {worst_t}); expected finite intensities (at most "
            f"{100 * MAX_NONFINITE_FRACTION:g} % of the pixels and "
            f"{100 * MAX_NONFINITE_FRAME_FRACTION:g} % of any frame are tolerated and filled)")
    warnings.warn(f"{path}: channel {name!r} holds {total} NaN or infinite pixel(s) (first in "
                  f"frame {first}); they are read as the median of their frame's finite pixels",
                  MetadataWarning, stacklevel=stacklevel)
    return FilledFrames(arr), total


def _check_options(layout, channel_order, pair_suffixes, frame_interval_s, pixel_size_um):
    """The options of :func:`read_recording`, checked and normalised."""
    if layout not in LAYOUT_NAMES:
        raise ConfigError(f"layout = {layout!r}: expected one of {list(LAYOUT_NAMES)}")
    pair_suffixes = check_pair_suffixes(pair_suffixes)
    if (not isinstance(channel_order, (tuple, list)) or len(channel_order) != 2
            or len(set(channel_order)) != 2):
        raise ConfigError(f"channel_order = {channel_order!r}: expected two different names, "
                          "e.g. ('f340', 'f380')")
    channel_order = tuple(str(c) for c in channel_order)
    return (channel_order, pair_suffixes, check_positive(frame_interval_s, "frame_interval_s"),
            check_positive(pixel_size_um, "pixel_size_um"))


def _file_paths(paths, layout: str, pair_suffixes, name):
    """``(file paths, layout, name)``: a source's or the given paths, the layout ``"pair"``
    for two files, and an error when the number of files does not fit the layout.
    """
    if isinstance(paths, RecordingSource):
        src = paths
        if src.error:
            raise StackReadError(src.error)
        file_paths = tuple(Path(p) for p in src.paths)
        if name is None:
            name = src.name
        if src.layout == "pair":
            if layout not in ("auto", "pair"):
                raise StackReadError(f"{file_paths[0]}: found as a {pair_suffixes} pair file but "
                                     f"layout {layout!r} was asked for; expected layout 'pair' "
                                     "or 'auto'")
            layout = "pair"
    else:
        file_paths = tuple(as_path_list(paths))
    if not file_paths:
        raise StackReadError("no file given; expected a TIFF path or a pair of paths")
    if len(file_paths) > 2:
        raise StackReadError(f"{[str(p) for p in file_paths]}: {len(file_paths)} files given; "
                             "expected one file or a 340/380 pair")
    if layout == "auto" and len(file_paths) == 2:
        layout = "pair"
    if layout == "pair" and len(file_paths) != 2:
        p = file_paths[0]
        split = split_pair(p, pair_suffixes)
        if split is not None:
            base, i = split
            partner = p.with_name(base + pair_suffixes[1 - i] + p.name[len(tiff_stem(p)):])
            raise StackReadError(f"{p}: the {pair_suffixes[i]} file has no {pair_suffixes[1 - i]} "
                                 f"partner (expected {partner.name} in the same folder)")
        raise StackReadError(f"{p}: layout 'pair' needs two files (<stem>{pair_suffixes[0]}.tif "
                             f"and <stem>{pair_suffixes[1]}.tif); got one")
    if layout != "pair" and len(file_paths) != 1:
        raise StackReadError(f"{file_paths[0]}: layout {layout!r} reads one file but "
                             f"{len(file_paths)} were given; expected layout 'pair'")
    return file_paths, layout, name


def _vendor_target(paths) -> tuple[Path, int | None, str | None] | None:
    """``(file, position, source name)`` when ``paths`` is one vendor file (or a source of
    one), else None.
    """
    if isinstance(paths, RecordingSource):
        if paths.error or len(paths.paths) != 1 or paths.layout != "auto":
            return None
        path, position, name = Path(paths.paths[0]), paths.position, paths.name
    elif isinstance(paths, (str, os.PathLike)):
        path, position, name = Path(paths), None, None
    else:
        return None
    return (path, position, name) if path.is_file() and is_vendor_file(path) else None


def _read_vendor(path: Path, position: int | None, source_name: str | None, *, name,
                 **options) -> Recording:
    """One position of a vendor file (:mod:`caimg.io.vendor`) as a Recording."""
    infos = describe_file(path)
    if position is None and len(infos) > 1:
        names = ", ".join(str(i.position) for i in infos)
        raise StackReadError(f"{path}: holds {len(infos)} positions or images ({names}); "
                             "expected one: caimg run PATH and find_recordings give one "
                             "recording per position")
    info = infos[position or 0]
    return recording_from_image(info, name=name or source_name, **options)


def _sequence_paths(paths) -> tuple[Path, ...] | None:
    """The files of an image sequence: a source of layout ``"sequence"``, or more than two
    paths given; None for anything else.
    """
    if isinstance(paths, RecordingSource):
        if paths.layout == "sequence" and not paths.error:
            return tuple(Path(p) for p in paths.paths)
        return None
    if isinstance(paths, (str, os.PathLike)):
        return None
    listed = as_path_list(paths)
    return tuple(listed) if len(listed) > 2 else None


def _auto_layout(info: FileInfo) -> str:
    # any channel axis goes the hyperstack way, whose errors explain what is wrong
    return "hyperstack" if _channels(info) > 1 else "single"


def _recording(infos: list[FileInfo], found: LayoutRead, layout: str, channel_order,
               frame_interval_s, pixel_size_um, name, caught: list,
               timestamps=None) -> Recording:
    """The Recording of what a layout reader found, with what every layout shares: the
    frame interval (or per-frame times), the pixel size, the NaN/inf check and the file
    metadata, with the warnings ``caught`` so far.
    """
    n_frames = int(next(iter(found.channels.values())).shape[0])
    times, times_source = frame_times(infos[0].path, infos[0].times_s, layout=layout,
                                      n_frames=n_frames, timestamps=timestamps,
                                      frame_interval_s=frame_interval_s,
                                      own_source=infos[0].times_source)
    if times is not None:
        interval, source = median_interval(times), times_source
        meta_interval = next((i.frame_interval_s * found.per_page for i in infos
                              if i.frame_interval_s is not None), None)
    else:
        # stacklevel 4: the warning, this function, read_recording, its caller
        interval, source, meta_interval = _resolve_interval(infos, found.per_page,
                                                            frame_interval_s, stacklevel=4)
    meta_px = next((i.pixel_size_um for i in infos if i.pixel_size_um is not None), None)
    px = pixel_size_um if pixel_size_um is not None else meta_px
    chans, extra = found.channels, dict(found.extra)
    nonfinite = {}
    for ch in list(chans):
        path = infos[channel_order.index(ch)].path if layout == "pair" else infos[0].path
        chans[ch], n_bad = _check_finite(ch, chans[ch], path, stacklevel=4)
        if n_bad:
            nonfinite[ch] = n_bad
    if nonfinite:
        extra["nonfinite_pixels_filled"] = nonfinite
    first = infos[0]
    metadata = {
        "axes": first.axes,
        "shape_in_file": [list(i.shape) for i in infos] if len(infos) > 1 else list(first.shape),
        "dtype": first.dtype.name,
        "byteorder": "little" if first.dtype.newbyteorder("<") == first.dtype else "big",
        "file_size_bytes": {i.path.name: i.file_size for i in infos},
        "tiff_kind": first.kind,
        "memmap": all(i.memmapped for i in infos),
        "frame_interval_metadata_s": meta_interval,
        "pixel_size_metadata_um": meta_px,
        "pixel_size_source": "override" if pixel_size_um is not None else
                             ("metadata" if meta_px is not None else "none"),
        **extra,
        # every warning raised while reading, so the pipeline can put them in run.json
        "warnings": [ReadWarning(w.category, str(w.message)) for w in caught
                     if issubclass(w.category, UserWarning)],
    }
    return Recording(channels=chans,
                     frame_interval_s=None if interval is None else float(interval),
                     frame_interval_source=source, pixel_size_um=px,
                     source=tuple(i.path for i in infos), layout=layout,
                     name=name or found.default_name, metadata=metadata, timestamps_s=times)


def read_recording(paths, *, layout: str = "auto",
                   channel_order: tuple[str, str] = ("f340", "f380"),
                   pair_suffixes: tuple[str, str] = ("_340", "_380"),
                   frame_interval_s: float | None = None, pixel_size_um: float | None = None,
                   name: str | None = None, timestamps_file=None, time_s=None,
                   channels=None, z_plane=None) -> Recording:
    """Read one recording (one TIFF, or a 340/380 pair of TIFFs) without loading its pixels.

    Parameters
    ----------
    paths : str, Path, (Path, Path) or RecordingSource
        One file, two files (340 first, 380 second) or a source from
        :func:`find_recordings`.
    layout : {"auto", "hyperstack", "alternating", "pair", "single"}
        ``"auto"``: a series with a channel axis of 2 is a hyperstack, a single-channel
        ``(T, Y, X)`` series is ``single``, two paths are a pair. ``"alternating"`` is
        never guessed.
    channel_order : (str, str)
        Channel names for C = 0, 1 of a hyperstack, for even/odd pages of an alternating
        file and for the two files of a pair.
    pair_suffixes : (str, str)
        Suffixes of the two stems of a pair (used for the name and error messages).
    frame_interval_s : float, optional
        Time between two frames of one channel, in s. Wins over the file metadata; a
        :class:`MetadataWarning` says both values when they differ by more than 0.1 %.
    pixel_size_um : float, optional
        Pixel edge length in µm; wins over the file metadata.
    name : str, optional
        Recording name; default the file stem (pair: the common stem).
    timestamps_file : str or Path, optional
        Per-frame times for what no file says: a CSV file with a ``time_s`` column (one
        row per frame, seconds). They win over the file metadata and are kept unchanged
        in ``Recording.timestamps_s``.
    time_s : array of float, shape (T,), optional
        The same as an array (used when no ``timestamps_file`` is given). Without them,
        per-frame OME ``DeltaT`` times are used (unless ``frame_interval_s`` is given), else the
        uniform interval.
    channels : mapping of str to int or str, optional
        ``input.channels``: which file channel is ``f`` (or ``f340``/``f380``), by name,
        index or excitation wavelength (``"340nm"``); see
        :func:`caimg.io.channels.choose_channels`. Vendor files only.
    z_plane : int, "max" or "mean", optional
        The Z plane (or projection) of a Z-stack time series in a vendor file; such a
        file is refused without it (Z is never read as time).

    Returns
    -------
    Recording
        ``channels`` are ``(T, Y, X)`` arrays in the file's dtype: read-only
        :class:`numpy.memmap` views for uncompressed contiguous files, else
        :class:`TiffFrames`. ``frame_interval_source`` is ``"imagej finterval"``,
        ``"ome TimeIncrement"``, ``"ome DeltaT"``, ``"stk creation times"``, ``"timestamps
        file NAME"`` or ``"override"``. ``metadata["warnings"]`` lists each warning
        raised while reading as a :class:`ReadWarning`.

    Raises
    ------
    StackReadError
        For files that are missing, empty, not TIFF, truncated, of the wrong shape for
        the layout, hold NaN/inf, or carry no frame interval when none was given. The
        message names the file, what was found and what was expected.

    Notes
    -----
    The metadata interval of an alternating file is per page (340 and 380 pages each
    count), so the interval between two frames of one channel is twice that:
    ``frame_interval_s = 2 * finterval``.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from caimg.io import write_recording
    >>> p = Path(tempfile.mkdtemp()) / "cells.tif"
    >>> _ = write_recording({"f": np.ones((5, 8, 8), np.uint16)}, p, layout="single",
    ...                     frame_interval_s=0.5)
    >>> rec = read_recording(p)
    >>> rec.channel_names, rec.shape, rec.frame_interval_s, rec.frame_interval_source
    (('f',), (5, 8, 8), 0.5, 'imagej finterval')
    """
    channel_order, pair_suffixes, frame_interval_s, pixel_size_um = _check_options(
        layout, channel_order, pair_suffixes, frame_interval_s, pixel_size_um)
    vendor = _vendor_target(paths)
    if vendor is not None:
        return _read_vendor(*vendor, channels=channels, z_plane=z_plane,
                            channel_order=channel_order, frame_interval_s=frame_interval_s,
                            pixel_size_um=pixel_size_um, timestamps_file=timestamps_file,
                            time_s=time_s, name=name)
    sequence = _sequence_paths(paths)
    if sequence is not None:
        file_paths, layout = sequence, "sequence"
        name = name or getattr(paths, "name", None)
    else:
        file_paths, layout, name = _file_paths(paths, layout, pair_suffixes, name)
    # Warnings raised while reading are passed on to the caller unchanged and also kept
    # in metadata["warnings"]: the pipeline runs later and records them in run.json.
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            # only caimg's kind of warnings are recorded whatever the filters say; others
            # (e.g. ResourceWarning from unrelated garbage collection) follow the filters
            warnings.simplefilter("always", UserWarning)
            infos = []
            for p in file_paths[:1] if layout == "sequence" else file_paths:
                # a loop, not a comprehension, so warning stacklevels stay right
                infos.append(inspect(p))
                check_no_z(infos[-1])  # a Z axis is never time nor channels
            found = None
            if layout in ("auto", "hyperstack", "single") and len(infos) == 1 \
                    and needs_choice(infos[0], channels, z_plane):
                chans, extra = select_planes(infos[0], channels=channels, z_plane=z_plane,
                                             channel_order=channel_order)
                found = LayoutRead(chans, tiff_stem(infos[0].path), extra=extra)
                layout = "single" if len(chans) == 1 else "hyperstack"
            elif layout == "auto":
                layout = _auto_layout(infos[0])
            if found is None and layout == "sequence":
                chans, stem, extra = sequence_channels(infos[0], file_paths)
                found = LayoutRead(chans, stem, extra=extra)
            elif found is None:
                found = LAYOUTS[layout](infos, channel_order=channel_order,
                                        pair_suffixes=pair_suffixes)
            rec = _recording(infos, found, layout, channel_order, frame_interval_s,
                             pixel_size_um, name, caught,
                             timestamps_file if timestamps_file is not None else time_s)
            if layout == "sequence":
                rec = dataclasses.replace(rec, source=tuple(file_paths))
    finally:
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    return rec


def read_options(inp) -> dict[str, Any]:
    """The keyword options of :func:`read_recording` from a recipe's ``[input]`` section.

    Parameters
    ----------
    inp : caimg.config.InputConfig
        The recipe's input settings.

    Returns
    -------
    dict
        ``layout``, ``channel_order``, ``pair_suffixes``, ``frame_interval_s``,
        ``pixel_size_um``, ``timestamps_file``, ``channels`` and ``z_plane``.
    """
    return dict(layout=inp.layout, channel_order=inp.channel_order,
                pair_suffixes=inp.pair_suffixes, frame_interval_s=inp.frame_interval_s,
                pixel_size_um=inp.pixel_size_um, timestamps_file=inp.timestamps_file,
                channels=inp.channels, z_plane=inp.z_plane)

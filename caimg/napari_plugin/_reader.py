"""napari reader: calcium-imaging stacks and caimg result folders.

``napari_get_reader(path)`` returns a reader function for

- a TIFF stack in any layout caimg reads (ImageJ hyperstack with 340/380 channels, single
  channel, OME-TIFF, BigTIFF) or two files ``*_340.tif`` + ``*_380.tif`` dropped together:
  one image layer per channel, lazily (memory-mapped or read frame by frame);
- a result folder (or its ``run.json``, or a file inside it such as ``rois.tif``): the
  recording's channels when the stack is still where ``run.json`` says, the projection
  image and the ROIs as a Labels layer whose ``features`` hold the per-ROI figures;
- a batch output folder (holding result folders): its first recording (the review widget
  steps to the others);

and None for anything else. Layers carry ``metadata["caimg"]`` so the run and review
widgets know where they came from.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import ResultError, StackReadError

__all__ = ["napari_get_reader", "read_stack_layers", "read_result_layers", "recording_layers",
           "projection_layer", "roi_layer_kwargs", "roi_colormap", "ROI_LAYER_NAME",
           "PROJECTION_LAYER_NAME"]

ROI_LAYER_NAME = "ROIs"
PROJECTION_LAYER_NAME = "projection"
_TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".ome.tif", ".ome.tiff", ".stk")
_RESULT_FILES = ("rois.tif", "projection.tif", "background.tif", "run.json")

#: Display only: how each channel is shown (Fura-2 340 magenta + 380 green, additive).
CHANNEL_DISPLAY = {
    "f340": {"colormap": "magenta", "blending": "additive"},
    "f380": {"colormap": "green", "blending": "additive"},
    "f": {"colormap": "gray", "blending": "translucent"},
}
#: Display only: colours of accepted ROIs (cycled by id) and of rejected ones.
_ACCEPTED_COLORS = np.array([
    (0.12, 0.47, 0.71), (1.0, 0.50, 0.05), (0.17, 0.63, 0.17), (0.58, 0.40, 0.74),
    (0.09, 0.75, 0.81), (0.74, 0.74, 0.13), (0.89, 0.47, 0.76), (0.55, 0.34, 0.29),
    (0.20, 0.80, 0.60), (0.99, 0.75, 0.44)])
REJECTED_COLOR = (0.3, 0.0, 0.0, 0.9)  # dark: clearly "not a cell" over bright cells


def _is_tiff(path: Path) -> bool:
    return path.name.lower().endswith(_TIFF_SUFFIXES)


def _result_folder_of(path: Path) -> Path | None:
    from ..io.result import is_result_folder

    if path.is_dir():
        return path if is_result_folder(path) else None
    if path.name in _RESULT_FILES and is_result_folder(path.parent):
        return path.parent
    return None


def napari_get_reader(path):
    """Return a reader for ``path`` when caimg handles it, else None.

    Looks at the path cheaply (no file is read) and never raises: a path that cannot be
    looked at (no permission, name too long...) is not caimg's, as the napari plugin
    contract asks.

    Parameters
    ----------
    path : str, Path or list of them
        What napari was asked to open.

    Returns
    -------
    callable or None
    """
    try:
        return _reader_for(path)
    except OSError:
        return None


def _reader_for(path):
    from ..io.vendor import is_vendor_file, viewable_recordings
    from ..review import result_folders

    paths = [Path(p) for p in path] if isinstance(path, (list, tuple)) else [Path(path)]
    if len(paths) == 2 and all(p.is_file() and _is_tiff(p) for p in paths):
        return lambda _p: read_stack_layers(tuple(paths))
    if len(paths) != 1:
        return None
    p = paths[0]
    folder = _result_folder_of(p)
    if folder is not None:
        return lambda _p: read_result_layers(folder)
    if p.is_dir():
        found = result_folders(p)
        if found:
            return lambda _p: read_result_layers(found[0])
        return None
    if p.is_file() and is_vendor_file(p):  # ND2, CZI, LIF, Micro-Manager: every channel
        return lambda _p: [lay for r in viewable_recordings(p) for lay in recording_layers(r)]
    if p.is_file() and _is_tiff(p):
        return lambda _p: read_stack_layers(p)
    return None


def _contrast(arr) -> tuple[float, float]:
    """Contrast limits from three frames (never the whole, possibly huge, stack)."""
    n = arr.shape[0]
    frames = np.stack([np.asarray(arr[i], dtype=np.float64) for i in sorted({0, n // 2, n - 1})])
    finite = frames[np.isfinite(frames)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [0.5, 99.8])
    return float(lo), float(hi if hi > lo else lo + 1)


def _lazy(arr):
    """Wrap frames for napari: numpy / memmap as they are (napari slices them lazily); others
    through dask, one chunk per frame.
    """
    if isinstance(arr, np.ndarray):
        return arr
    import dask.array as da

    return da.from_array(arr, chunks=(1, *arr.shape[1:]), asarray=True, lock=False,
                         fancy=False)


def recording_layers(rec, *, stimulus_time_s: float | None = None,
                     frame_interval_known: bool = True) -> list[tuple]:
    """Image layer-data tuples for every channel of a :class:`~caimg.recording.Recording`."""
    layers = []
    for ch, arr in rec.channels.items():
        disp = CHANNEL_DISPLAY.get(ch, CHANNEL_DISPLAY["f"])
        meta = {"caimg": {"kind": "channel", "recording": rec.name, "channel": ch,
                          "paths": [str(p) for p in rec.source], "layout": rec.layout,
                          "frame_interval_s": rec.frame_interval_s if frame_interval_known
                          else None,
                          "pixel_size_um": rec.pixel_size_um,
                          "stimulus_time_s": stimulus_time_s,
                          # in-memory recordings (samples) have no file to re-read
                          "recording_object": None if rec.source else rec}}
        layers.append((_lazy(arr), {"name": f"{rec.name} {ch.upper() if ch != 'f' else 'F'}",
                                    "colormap": disp["colormap"], "blending": disp["blending"],
                                    "contrast_limits": _contrast(arr), "metadata": meta},
                       "image"))
    return layers


def read_stack_layers(paths) -> list[tuple]:
    """Layer-data tuples for a stack (or a 340/380 pair) in any layout caimg reads."""
    from ..io.stack import read_recording

    arg = paths if isinstance(paths, tuple) else Path(paths)
    known = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # metadata warnings matter for runs, not viewing
            rec = read_recording(arg)
    except StackReadError as exc:
        if "frame interval" not in str(exc):
            raise
        # viewing needs no timing; the run widget asks for the interval
        rec = read_recording(arg, frame_interval_s=1.0)
        known = False
    return recording_layers(rec, frame_interval_known=known)


def roi_colormap(result) -> dict:
    """Display colours per ROI id: accepted ROIs coloured, rejected ones faint red."""
    colors = {None: (1.0, 1.0, 0.0, 1.0), 0: (0.0, 0.0, 0.0, 0.0)}
    rois = result.rois
    if len(rois):
        for roi, acc in zip(rois["roi"].astype(int), rois["accepted"].astype(bool), strict=True):
            colors[int(roi)] = ((*_ACCEPTED_COLORS[int(roi) % len(_ACCEPTED_COLORS)], 0.6)
                                if acc else REJECTED_COLOR)
    return colors


def projection_layer(result) -> tuple:
    """Image layer-data tuple of a result's projection (``result.projection`` not None)."""
    lo, hi = np.nanpercentile(result.projection, [0.5, 99.8])
    return (result.projection, {
        "name": PROJECTION_LAYER_NAME, "colormap": "gray",
        "contrast_limits": (float(lo), float(hi if hi > lo else lo + 1)),
        "metadata": {"caimg": {"kind": "projection", "recording": result.name}}}, "image")


def roi_layer_kwargs(result) -> dict:
    """Return the keyword arguments of a result's ROI Labels layer (features, colours, ...)."""
    from ..review import labels_features

    folder = None if result.folder is None else str(result.folder)
    return {"name": ROI_LAYER_NAME, "features": labels_features(result),
            "colormap": roi_colormap(result), "opacity": 0.8,
            "metadata": {"caimg": {"kind": "rois", "recording": result.name,
                                   "result_folder": folder, "result": result}}}


def read_result_layers(folder) -> list[tuple]:
    """Layer-data tuples for a result folder: channels (if found), projection, ROIs."""
    from ..io.result import load_result
    from ..review import find_recording

    result = load_result(folder)
    layers = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = find_recording(result)
    except (ResultError, ValueError, OSError):
        rec = None  # the numbers are in the folder; the stack is only for looking
    if rec is not None:
        layers += recording_layers(rec, stimulus_time_s=result.config.kinetics.stimulus_time_s)
    if result.projection is not None:
        layers.append(projection_layer(result))
    layers.append((np.array(result.labels, dtype=np.int32), roi_layer_kwargs(result), "labels"))
    return layers

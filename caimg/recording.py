"""The :class:`Recording` container: channels of one recording plus its timing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CaimgError

__all__ = ["Recording"]


@dataclass(frozen=True)
class Recording:
    """One recording: named channels of shape (T, Y, X) and their timing.

    Parameters
    ----------
    channels : mapping of str to array-like, each (T, Y, X)
        ``{"f340": ..., "f380": ...}`` for Fura-2, ``{"f": ...}`` for single-wavelength
        indicators. Arrays may be numpy arrays, memory maps or any object with
        ``shape``, ``dtype`` and ``__getitem__`` along the first axis returning numpy
        (large stacks are read in frame chunks). All channels share one shape.
        Intensities are the camera's, never rescaled.
    frame_interval_s : float or None
        Time between two frames of one channel, in seconds (for Fura-2: between two
        340/380 pairs).
    frame_interval_source : str
        Where the frame interval came from: ``"imagej finterval"``, ``"ome TimeIncrement"``,
        ``"recipe"``, ``"override"`` or ``"none"``.
    pixel_size_um : float or None
        Pixel edge length in micrometres, when the file says.
    source : tuple of Path
        The file(s) the recording was read from.
    layout : str
        ``"hyperstack"``, ``"alternating"``, ``"pair"`` or ``"single"``.
    name : str
        Short name, used for the result folder.
    metadata : dict
        Anything else worth keeping (axes string, ImageJ/OME fields, warnings).
    timestamps_s : array of float, shape (T,), optional
        Per-frame times in seconds as the file (or a timestamps table) records them, for
        irregular sampling (dropped frames); :meth:`time_s` returns them unchanged and
        ``frame_interval_s`` is then their median step. ``None``: uniform frames.
    """

    channels: Mapping[str, Any]
    frame_interval_s: float | None = None
    frame_interval_source: str = "none"
    pixel_size_um: float | None = None
    source: tuple[Path, ...] = ()
    layout: str = "single"
    name: str = "recording"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    timestamps_s: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self):
        shapes = {k: tuple(v.shape) for k, v in self.channels.items()}
        if not shapes:
            raise CaimgError(f"Recording '{self.name}' has no channel; expected at least one "
                             "(T, Y, X) array, e.g. channels={'f': stack}")
        if len(set(shapes.values())) != 1:
            raise CaimgError(f"Recording '{self.name}': channel shapes differ ({shapes}); "
                             "expected all channels to share one (T, Y, X) shape (crop or "
                             "re-read them to the same size)")
        if any(len(s) != 3 for s in shapes.values()):
            raise CaimgError(f"Recording '{self.name}': channel shapes {shapes}; expected "
                             "(T, Y, X) arrays (add a time axis to a single image)")
        if self.timestamps_s is not None and np.shape(self.timestamps_s) != (self.n_frames,):
            raise CaimgError(f"Recording '{self.name}': timestamps_s has shape "
                             f"{np.shape(self.timestamps_s)}; expected one time per frame "
                             f"({self.n_frames},)")

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Names of the channels, in order (e.g. ``("f340", "f380")``)."""
        return tuple(self.channels)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(T, Y, X) of every channel."""
        return tuple(next(iter(self.channels.values())).shape)

    @property
    def n_frames(self) -> int:
        """Frames per channel (T)."""
        return self.shape[0]

    @property
    def dtype(self) -> np.dtype:
        """Pixel type of the channels (of the first; all channels share it)."""
        return np.dtype(next(iter(self.channels.values())).dtype)

    @property
    def time_source(self) -> str:
        """Where :meth:`time_s` comes from, e.g. ``"per-frame (ome DeltaT)"`` or
        ``"uniform (imagej finterval)"``.
        """
        kind = "uniform" if self.timestamps_s is None else "per-frame"
        return f"{kind} ({self.frame_interval_source})"

    def time_s(self) -> np.ndarray:
        """Time of each frame in seconds, shape (T,): the per-frame times when the recording
        has them, else ``frame * frame_interval_s`` from 0.
        """
        if self.timestamps_s is not None:
            return np.array(self.timestamps_s, dtype=float)
        if self.frame_interval_s is None:
            raise CaimgError(f"{self.name}: the frame interval is unknown; expected "
                             "frame_interval_s in seconds (pass --frame-interval SECONDS or "
                             "set input.frame_interval_s in the recipe)")
        return np.arange(self.n_frames, dtype=float) * float(self.frame_interval_s)

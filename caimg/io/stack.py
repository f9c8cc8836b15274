"""Reading and writing calcium-imaging stacks (TIFF: ImageJ, OME, BigTIFF, plain multi-page).

Layouts
-------
``hyperstack``
    One file whose first series has a channel axis of length 2, e.g. ImageJ ``TCYX``.
    Channels are named by ``channel_order`` (default ``("f340", "f380")``).
``alternating``
    One plain multi-page file whose pages alternate 340, 380, 340, 380, ...
    Never guessed: only used when asked for. An odd page count is an error.
``pair``
    Two files ``<stem>_340.tif`` and ``<stem>_380.tif`` (suffixes configurable), one
    ``(T, Y, X)`` stack each.
``single``
    One single-channel ``(T, Y, X)`` file (Fluo-4, GCaMP, ...): channel ``"f"``.

Channel arrays are never copied into memory: uncompressed contiguous files are
memory-mapped read-only (:class:`numpy.memmap`, views per channel); anything else
(compressed pages, one IFD per frame, non-native byte order) is served by
:class:`TiffFrames`, a small lazy array that reads only the frames asked for.
Files with one IFD per frame (what most acquisition software writes) are opened without
a tifffile object per page: the IFD chain is walked with one positioned read per IFD and
the pages are checked against the first one in bulk (:mod:`caimg.io._ifdwalk`); anything
unusual is left to tifffile as it is.
Input files are opened read-only and never written to.

This module gathers the stack API in its historical place; the code lives in
:mod:`caimg.io.find` (discovery), :mod:`caimg.io.read` (the layout readers),
:mod:`caimg.io.write`, :mod:`caimg.io._tiff` (one file's structure and metadata),
:mod:`caimg.io._frames` (lazy frame arrays) and :mod:`caimg.io._dask`.
"""

from __future__ import annotations

from ..errors import MetadataWarning
from ._dask import open_stack
from ._frames import FilledFrames, TiffFrames
from .find import RecordingSource, find_recordings
from .read import (
                   LAYOUTS,
                   MAX_NONFINITE_FRACTION,
                   MAX_NONFINITE_FRAME_FRACTION,
                   ReadWarning,
                   read_recording,
)
from .write import write_recording

__all__ = [
    "RecordingSource",
    "MetadataWarning",
    "TiffFrames",
    "FilledFrames",
    "find_recordings",
    "read_recording",
    "write_recording",
    "open_stack",
    "ReadWarning",
    "LAYOUTS",
    "MAX_NONFINITE_FRACTION",
    "MAX_NONFINITE_FRAME_FRACTION",
]

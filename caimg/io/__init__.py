"""File input and output: stacks and result folders (``caimg.io.result``).

This is the only part of caimg that knows about tifffile, roifile and file layouts.
Stacks, by concern: :mod:`caimg.io.find` finds recordings on disk, :mod:`caimg.io.read`
reads one (one reader per layout), :mod:`caimg.io.write` writes one; ``caimg.io.stack``
gathers them under their historical name.
"""

from ._dask import open_stack
from ._frames import FilledFrames, TiffFrames
from .find import RecordingSource, find_recordings
from .read import ReadWarning, read_recording
from .write import write_recording

__all__ = ["read_recording", "find_recordings", "write_recording", "open_stack",
           "RecordingSource", "TiffFrames", "FilledFrames", "ReadWarning"]

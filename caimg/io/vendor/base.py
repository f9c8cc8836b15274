"""The description every vendor reader returns, and what the readers share."""

from __future__ import annotations

import atexit
import importlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import StackReadError
from ..channels import ChannelInfo

__all__ = ["ImageInfo", "require", "cached_handle", "close_handles", "EXTRA"]

#: the pip extra that installs every vendor reader
EXTRA = "caimg[formats]"


@dataclass
class ImageInfo:
    """One image (one position) of a file, as its reader describes it.

    Parameters
    ----------
    path : Path
        The file.
    format : str
        ``"nd2"``, ``"czi"``, ``"lif"`` or ``"micromanager"``.
    axes : str
        The image's axes as the file stores them (``"TZCYX"``, ``"λYX"``, ``"TCZX"``);
        ``P``/``R`` (positions) excluded.
    shape : tuple of int
        Length of each of ``axes``.
    dtype : numpy dtype
        Pixel type.
    channels : list of ChannelInfo
        Names and wavelengths, in channel-index order (one entry when there is no C axis).
    position : str, optional
        Name of the position or image when the file holds several, else None.
    n_times, n_z : int
        Lengths of the T and Z axes (1 when absent).
    times_s : array of float, shape (n_times,), optional
        Time of each time point, s, as the file records it.
    time_source : str
        Where ``times_s`` comes from (``"nd2 events"``, ``"czi T offsets"``, ...).
    frame_interval_s : float, optional
        The nominal interval when the file gives one (Micro-Manager ``Interval_ms``).
    interval_source : str
        Where ``frame_interval_s`` comes from.
    pixel_size_um : float, optional
        Pixel edge length in µm.
    refusal : str, optional
        Why caimg does not read this image (the axis it cannot take for time), else None.
    read_plane : callable, optional
        ``read_plane(t, c, z) -> (Y, X)`` array; None for refused images.
    frame_shape : (int, int)
        Rows and columns of one plane.
    metadata : dict
        Anything else worth keeping (z step, acquisition date, objective, ...).
    """

    path: Path
    format: str
    axes: str
    shape: tuple[int, ...]
    dtype: np.dtype
    channels: list[ChannelInfo]
    position: str | None = None
    n_times: int = 1
    n_z: int = 1
    times_s: np.ndarray | None = None
    time_source: str = "none"
    frame_interval_s: float | None = None
    interval_source: str = "none"
    pixel_size_um: float | None = None
    refusal: str | None = None
    read_plane: Callable[[int, int, int], np.ndarray] | None = None
    frame_shape: tuple[int, int] = (0, 0)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """The file and, for several, the position: for messages."""
        return f"{self.path}" + (f" [{self.position}]" if self.position else "")


def require(module: str, package: str, *, path: Path, what: str):
    """Import the reader library ``module`` or raise an error naming what to install.

    Parameters
    ----------
    module : str
        Import name (``"nd2"``).
    package : str
        Its pip name (``"nd2"``, ``"czifile"``, ``"liffile"``).
    path : Path
        The file that needs it.
    what : str
        The format, in words (``"Nikon ND2"``).

    Returns
    -------
    module
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise StackReadError(f"{path}: reading {what} files needs the package {package!r}, "
                             f"which is not installed; install it with pip install "
                             f"'{EXTRA}' (or pip install {package})") from None


_HANDLES: OrderedDict[tuple[str, str], Any] = OrderedDict()
_HANDLES_LOCK = threading.Lock()
_MAX_HANDLES = 16


def cached_handle(kind: str, path: Path, opener: Callable[[Path], Any]):
    """Return an open reader object for ``path``, opened once per process and kept (up to
    16 files) so that lazy plane reads do not parse the file's header each time.

    Parameters
    ----------
    kind : str
        The library (a file may be open in two).
    path : Path
        The file.
    opener : callable
        ``opener(path)`` opens it read-only.

    Returns
    -------
    object
        What ``opener`` returned.
    """
    key = (kind, str(Path(path).resolve()))
    with _HANDLES_LOCK:
        handle = _HANDLES.get(key)
        if handle is not None:
            _HANDLES.move_to_end(key)
            return handle
        handle = opener(Path(path))
        _HANDLES[key] = handle
        while len(_HANDLES) > _MAX_HANDLES:
            _, old = _HANDLES.popitem(last=False)
            try:
                old.close()
            except Exception:  # noqa: BLE001 - closing an evicted handle is best effort
                pass
        return handle


@atexit.register
def close_handles() -> None:
    """Close every file :func:`cached_handle` keeps open."""
    with _HANDLES_LOCK:
        while _HANDLES:
            _, handle = _HANDLES.popitem()
            try:
                handle.close()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass

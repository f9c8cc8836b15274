"""Provenance of a run: library versions and input fingerprints (size, mtime, SHA-256)."""

from __future__ import annotations

import platform
import threading
from concurrent.futures import Future

from ._stream import worker_count
from ._version import __version__

__all__ = ["versions", "fingerprint_in_background"]


def versions() -> dict[str, str]:
    """Versions of caimg and the libraries that decide its numbers.

    Returns
    -------
    dict of str to str or None
        None for a library that is not installed.
    """
    from importlib.metadata import PackageNotFoundError, version

    out = {"caimg": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "scipy", "scikit-image", "tifffile", "pandas", "roifile", "numba"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _fingerprints(paths) -> list[dict]:
    from .io.result import file_fingerprint

    inputs = []
    for p in paths:
        try:
            inputs.append(file_fingerprint(p))
        except OSError:
            inputs.append({"path": str(p)})
    return inputs


def fingerprint_in_background(paths, preload_plotting=False) -> Future:
    """A future of the input fingerprints (size, mtime, SHA-256), computed in its own thread
    (or here and now when the thread budget is one thread: :func:`caimg._stream.worker_count`).

    Parameters
    ----------
    paths : sequence of Path
    preload_plotting : bool
        With it, the thread first imports what ``overview.png`` needs (matplotlib, about
        1 s), so that import also overlaps the single-threaded steps.

    Returns
    -------
    concurrent.futures.Future
        Of a list of dicts, one per path.

    Notes
    -----
    With ``preload_plotting`` the thread first imports what ``overview.png`` needs
    (matplotlib, about 1 s), so that import also overlaps the single-threaded steps.
    """
    fut: Future = Future()

    def work():
        if preload_plotting:
            try:
                import matplotlib.backends.backend_agg  # noqa: F401
                import matplotlib.figure  # noqa: F401
                import skimage.segmentation  # noqa: F401
            except Exception:  # noqa: BLE001 - only a head start; save_result imports again
                pass
        try:
            fut.set_result(_fingerprints(paths))
        except BaseException as exc:  # noqa: BLE001 - re-raised by fut.result()
            fut.set_exception(exc)

    if worker_count() < 2:
        # one thread per recording (e.g. --jobs equal to the cores): a second thread would
        # only take a core from another worker's recording
        work()
    else:
        threading.Thread(target=work, name="caimg-fingerprint", daemon=True).start()
    return fut

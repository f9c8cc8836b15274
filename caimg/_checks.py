"""Argument checks shared by the pure core modules (kinetics, rois, io.rois).

# moves to caimg._validation after merge
"""

from __future__ import annotations

import numpy as np

from .errors import CaimgError, RoiError

__all__ = ["check_time_s", "check_labels"]


def check_time_s(time_s, n: int) -> np.ndarray:
    """Frame times as a float64 array after checking them.

    Parameters
    ----------
    time_s : array_like, shape (n,)
        Frame times in seconds.
    n : int
        Number of frames the times must match.

    Returns
    -------
    ndarray, shape (n,), float64

    Raises
    ------
    CaimgError
        When the shape is not ``(n,)`` or the times are not finite and strictly increasing.
    """
    t = np.asarray(time_s, dtype=np.float64)
    if t.ndim != 1 or t.shape[0] != n:
        raise CaimgError(f"'time_s' has shape {t.shape}: expected ({n},), one time per frame")
    if not np.all(np.isfinite(t)) or (n > 1 and not np.all(np.diff(t) > 0)):
        raise CaimgError("'time_s' must be finite and strictly increasing (seconds)")
    return t


def check_labels(labels, name: str = "labels") -> np.ndarray:
    """A (Y, X) integer label image (0 = background) after checking it.

    Parameters
    ----------
    labels : array_like, (Y, X)
        Integer labels; a boolean mask becomes label 1, whole-valued floats are accepted.
    name : str
        Name of the argument or file, for messages.

    Returns
    -------
    ndarray, (Y, X), integer

    Raises
    ------
    RoiError
        Not 2-D, not integer-valued, or negative values.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise RoiError(f"'{name}' must be a (Y, X) label image, got shape {labels.shape}")
    if labels.dtype.kind == "b":
        labels = labels.astype(np.int32)
    if labels.dtype.kind not in "iu":
        if (labels.dtype.kind == "f" and np.all(np.isfinite(labels))
                and np.all(labels == np.round(labels))):
            labels = labels.astype(np.int64)
        else:
            raise RoiError(f"'{name}' must be an integer label image (0 = background), "
                           f"got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise RoiError(f"'{name}' has negative values (min {labels.min()}); expected labels >= 0")
    return labels

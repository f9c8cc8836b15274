"""Input checks shared by the core modules: one rule per kind of argument.

Each check returns the value in the form the caller computes with (an int, a float, a
float64 array, ...) and raises a :class:`~caimg.errors.CaimgError` (a ``ValueError``) whose
message names the parameter, what was found and what was expected.
"""

from __future__ import annotations

import numpy as np

from .errors import CaimgError, RoiError

__all__ = ["check_labels", "check_time_s", "check_shifts", "check_whole", "check_positive"]


def check_whole(value, name: str, *, minimum: int) -> int:
    """Check that ``value`` is a whole number ``>= minimum`` (bool is not a number here).

    Parameters
    ----------
    value : int or numpy integer
        The value to check.
    name : str
        Parameter name, for the message.
    minimum : int
        Smallest value allowed.

    Returns
    -------
    int

    Raises
    ------
    CaimgError
        Not an integer (floats such as ``2.0`` included), a bool, or below ``minimum``.

    Examples
    --------
    >>> check_whole(np.int64(3), "chunk_frames", minimum=1)
    3
    >>> check_whole(0, "chunk_frames", minimum=1)
    Traceback (most recent call last):
    ...
    caimg.errors.CaimgError: 'chunk_frames' = 0: expected a whole number >= 1
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise CaimgError(f"'{name}' = {value!r}: expected a whole number >= {minimum}")
    return int(value)


def check_positive(value, name: str) -> float:
    """Check that ``value`` is a finite real number ``> 0`` (bool is not a number here).

    Parameters
    ----------
    value : int, float or numpy number
        The value to check.
    name : str
        Parameter name, for the message.

    Returns
    -------
    float

    Raises
    ------
    CaimgError
        Not a real number, a bool, NaN, infinite, zero or negative.

    Examples
    --------
    >>> check_positive(2, "max_shift_px")
    2.0
    >>> check_positive(float("inf"), "max_shift_px")
    Traceback (most recent call last):
    ...
    caimg.errors.CaimgError: 'max_shift_px' = inf: expected a finite number > 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not (np.isfinite(value) and value > 0):
        raise CaimgError(f"'{name}' = {value!r}: expected a finite number > 0")
    return float(value)


def check_shifts(shifts, n: int, *, name: str = "shifts") -> np.ndarray:
    """Per-frame shifts as returned by :func:`caimg.register`.

    Parameters
    ----------
    shifts : array-like, (n, 2)
        ``(d_row, d_col)`` per frame, in pixels.
    n : int
        Number of frames they must cover.
    name : str
        Parameter name, for the message.

    Returns
    -------
    ndarray, (n, 2) float64
        C-contiguous (no copy when ``shifts`` already is one).

    Raises
    ------
    CaimgError
        Wrong shape, or NaN / infinite values.

    Examples
    --------
    >>> check_shifts([[0, 1.5]], 1).tolist()
    [[0.0, 1.5]]
    """
    s = np.asarray(shifts, dtype=np.float64)
    if s.shape != (n, 2):
        raise CaimgError(f"'{name}' has shape {s.shape}; expected ({n}, 2) = (frames, "
                         f"(d_row, d_col)) as returned by caimg.register")
    if not np.all(np.isfinite(s)):
        raise CaimgError(f"'{name}' contains NaN or inf; expected finite shifts in pixels")
    return np.ascontiguousarray(s)


def check_time_s(time_s, n: int, *, name: str = "time_s") -> np.ndarray:
    """Frame times: 1-D, one per frame, finite and strictly increasing.

    Parameters
    ----------
    time_s : array-like, (n,)
        Times in seconds.
    n : int
        Number of frames.
    name : str
        Parameter name, for the message.

    Returns
    -------
    ndarray, (n,) float64

    Raises
    ------
    CaimgError
        Wrong shape, a NaN or infinite time, or two times not strictly increasing.

    Examples
    --------
    >>> check_time_s([0, 0.5, 1.0], 3).tolist()
    [0.0, 0.5, 1.0]
    >>> check_time_s([0, float("nan")], 2)
    Traceback (most recent call last):
    ...
    caimg.errors.CaimgError: 'time_s' must be finite and strictly increasing (seconds)
    """
    t = np.asarray(time_s, dtype=np.float64)
    if t.ndim != 1 or t.shape[0] != n:
        raise CaimgError(f"'{name}' has shape {t.shape}: expected ({n},), one time per frame")
    if not np.all(np.isfinite(t)) or (n > 1 and not np.all(np.diff(t) > 0)):
        raise CaimgError(f"'{name}' must be finite and strictly increasing (seconds)")
    return t


def check_labels(labels, shape=None, *, name: str = "labels") -> np.ndarray:
    """Check a (Y, X) label image: 0 = background, 1..N = ROIs.

    The rule for dtypes: integer labels are returned as they are; bool and float labels
    whose values are all finite whole numbers (e.g. a label image saved as float32 by
    ImageJ) are converted to int64; any other float, and every other dtype, is refused.

    Parameters
    ----------
    labels : array-like, (Y, X)
        Integer labels, or bool / whole-valued float labels (converted).
    shape : tuple of int, optional
        Required (Y, X) shape, e.g. the frame shape of the recording.
    name : str
        Parameter (or file) name, for the message.

    Returns
    -------
    ndarray, (Y, X) integer
        ``labels`` itself when it already is an integer array, else an int64 copy.

    Raises
    ------
    RoiError
        Not 2-D, not of ``shape``, not whole numbers, or negative values.

    Examples
    --------
    >>> check_labels(np.array([[0.0, 2.0]])).tolist()
    [[0, 2]]
    >>> check_labels(np.array([[0.5, 2.0]]))
    Traceback (most recent call last):
    ...
    caimg.errors.RoiError: 'labels' has dtype float64 with values that are not whole \
numbers; expected integer labels (0 = background, 1..N = ROIs)
    """
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise RoiError(f"'{name}' has shape {lab.shape}; expected a (Y, X) label image")
    if shape is not None and lab.shape != tuple(shape):
        raise RoiError(f"'{name}' has shape {lab.shape} but the frames are {tuple(shape)}; "
                       f"expected a label image of the frame shape (reference geometry)")
    if lab.dtype == bool:
        lab = lab.astype(np.int64)
    elif lab.dtype.kind == "f":
        if not (np.all(np.isfinite(lab)) and np.all(lab == np.round(lab))):
            raise RoiError(f"'{name}' has dtype {lab.dtype} with values that are not whole "
                           f"numbers; expected integer labels (0 = background, 1..N = ROIs)")
        lab = lab.astype(np.int64)
    elif not np.issubdtype(lab.dtype, np.integer):
        raise RoiError(f"'{name}' has dtype {lab.dtype}; expected integer labels "
                       f"(0 = background, 1..N = ROIs)")
    if lab.size and lab.min() < 0:
        raise RoiError(f"'{name}' contains negative values (min {lab.min()}); expected "
                       f"0 = background and positive ROI ids")
    return lab

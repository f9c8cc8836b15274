"""The numba-or-numpy switch for the compiled hot loops.

The numba kernels (:mod:`caimg._kernels`) import numba at their top, so they are imported
here lazily, on first use: ``import caimg.motion`` / ``caimg.traces`` never import numba.
Every kernel has a pure-numpy twin in its calling module that gives the same numbers to
float32 precision. The twins are used when numba cannot be imported, or when the
environment variable ``CAIMG_NO_NUMBA`` is set to anything but ``""``, ``0``, ``false`` or
``no`` (read at every call, so a test or a user can switch backends at run time).
"""

from __future__ import annotations

import functools
import importlib
import os

__all__ = ["NO_NUMBA_ENV", "kernels_or_none", "numba_disabled"]

#: Environment variable that selects the numpy twins of the compiled kernels.
NO_NUMBA_ENV = "CAIMG_NO_NUMBA"


@functools.cache
def _load_kernels():
    try:
        return importlib.import_module("._kernels", __package__)
    except ImportError:  # numba missing or broken: the numpy twins take over
        return None


def numba_disabled() -> bool:
    """Whether ``CAIMG_NO_NUMBA`` asks for the numpy twins.

    Returns
    -------
    bool
        True when the variable is set to anything but ``""``, ``0``, ``false`` or ``no``
        (case and surrounding spaces ignored).

    Examples
    --------
    >>> isinstance(numba_disabled(), bool)
    True
    """
    return os.environ.get(NO_NUMBA_ENV, "").strip().lower() not in ("", "0", "false", "no")


def kernels_or_none():
    """Return the compiled kernel module, or None for the numpy path.

    Returns
    -------
    module or None
        :mod:`caimg._kernels` (imported, and numba with it, on the first call); None when
        :func:`numba_disabled` or when numba cannot be imported.

    Examples
    --------
    >>> k = kernels_or_none()
    >>> k is None or callable(k.roi_sums)
    True
    """
    if numba_disabled():
        return None
    return _load_kernels()

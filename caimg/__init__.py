"""caimg: calcium-imaging stacks to per-cell traces and response kinetics.

The whole pipeline is ``caimg.run(path, pipeline="fura2")``; every step is also a plain
function on numpy arrays (``caimg.read_recording``, ``caimg.register``, ``caimg.segment``,
``caimg.extract_traces``, ``caimg.fura2_ratio``, ``caimg.dff``, ``caimg.measure_kinetics``).
Submodules are imported lazily, so ``import caimg`` stays fast and never imports napari/Qt.
"""

from __future__ import annotations

import importlib

from ._version import __version__
from .errors import CaimgError, ConfigError, ResultError, RoiError, StackReadError
from .recording import Recording

_LAZY = {
    "run": "caimg.pipeline",
    "process_recording": "caimg.pipeline",
    "run_batch": "caimg.batch",
    "Result": "caimg.result",
    "load_result": "caimg.io.result",
    "save_result": "caimg.io.result",
    "read_recording": "caimg.io.stack",
    "find_recordings": "caimg.io.stack",
    "write_recording": "caimg.io.stack",
    "open_stack": "caimg.io.stack",
    "load_pipeline": "caimg.config",
    "PipelineConfig": "caimg.config",
    "register": "caimg.motion",
    "estimate_shifts": "caimg.motion",
    "apply_shifts": "caimg.motion",
    "summary_images": "caimg.motion",
    "segment": "caimg.segmentation",
    "extract_traces": "caimg.traces",
    "background_mask": "caimg.traces",
    "roi_table": "caimg.rois",
    "read_rois": "caimg.io.rois",
    "write_roiset": "caimg.io.rois",
    "subtract_background": "caimg.signals",
    "fura2_ratio": "caimg.signals",
    "grynkiewicz": "caimg.signals",
    "compute_f0": "caimg.signals",
    "dff": "caimg.signals",
    "measure_kinetics": "caimg.kinetics",
    "summarize": "caimg.experiment.summary",
}

__all__ = ["__version__", "CaimgError", "ConfigError", "ResultError", "RoiError",
           "StackReadError", "Recording", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in {"synthetic", "io", "config", "motion", "segmentation", "traces", "signals",
                "kinetics", "rois", "pipeline", "batch", "cli", "result", "plotting"}:
        return importlib.import_module(f"caimg.{name}")
    raise AttributeError(f"module 'caimg' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)

"""Exports of result folders for the next tool: an Excel workbook per batch, NWB per recording.

- :func:`export_xlsx` -- one workbook: the batch summary, kinetics and ROI tables, and one
  wide traces sheet per recording (``time_s`` then one column per ROI), what Excel and
  GraphPad Prism users paste.
- :func:`export_nwb` -- one NWB file per result folder (pynwb): imaging plane(s), a link to
  the raw file(s), the ROIs as a PlaneSegmentation, the traces as Fluorescence / DfOverF,
  kinetics and treatments as tables, stimulus and treatment times as intervals.
- :func:`write_outputs` -- what ``caimg run`` writes when a recipe asks
  (``[output] nwb = true`` / ``xlsx = true``).
- :func:`refresh_exports` -- rewrite the exports of a result folder after it changed (the
  napari review's Save), or mark them stale when that is not possible.

The libraries are an optional extra: ``pip install 'caimg[export]'`` (openpyxl, pynwb,
nwbinspector). They are imported only when an export is written. See docs/export.md.
"""

from __future__ import annotations

import importlib

__all__ = ["export_xlsx", "export_nwb", "write_outputs", "refresh_exports", "ExportError",
           "ExportWarning", "default_nwb_path", "BATCH_XLSX"]

_LAZY = {
    "export_xlsx": "caimg.export.xlsx",
    "export_nwb": "caimg.export.nwb",
    "write_outputs": "caimg.export._outputs",
    "refresh_exports": "caimg.export._outputs",
    "ExportError": "caimg.export._common",
    "ExportWarning": "caimg.export._common",
    "default_nwb_path": "caimg.export._common",
    "BATCH_XLSX": "caimg.export._common",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'caimg.export' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)

"""From result folders to the experiment: design, per-condition summaries, statistics with
the recording (coverslip) as the unit, concentration-response fits and a report.

``caimg.experiment.summarize(results_dir, design)`` returns the tables;
``caimg summarize RESULTS --design design.csv --out REPORT`` also writes the figures and a
PDF. Submodules are imported on first use (matplotlib only for the report).
"""

from __future__ import annotations

import importlib

_LAZY = {
    "read_design": "caimg.experiment.design",
    "design_from_names": "caimg.experiment.design",
    "parse_concentration": "caimg.experiment.design",
    "DesignError": "caimg.experiment.design",
    "fit_dose_response": "caimg.experiment.doseresponse",
    "DoseResponseFit": "caimg.experiment.doseresponse",
    "logistic4": "caimg.experiment.doseresponse",
    "cheng_prusoff": "caimg.experiment.doseresponse",
    "compare_to_control": "caimg.experiment.stats",
    "hedges_g": "caimg.experiment.stats",
    "summarize": "caimg.experiment.summary",
    "ExperimentSummary": "caimg.experiment.summary",
    "write_report": "caimg.experiment.report",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'caimg.experiment' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)

"""Response kinetics of calcium traces: one row per ROI and response.

Split by concern: noise and event detection (``_events``), the exponential decay fit
(``_fit``), per-trace and per-ROI measurement (``_measure``) and named treatments
(``_treatments``). Import the public names from here: ``from caimg.kinetics import
measure_kinetics``.
"""

from ..result import KINETICS_COLUMNS, TREATMENT_COLUMNS
from ._events import detect_events, difference_mad, noise_sd
from ._fit import ExpFit, fit_exponential
from ._measure import measure_kinetics, measure_trace
from ._response import Response
from ._treatments import measure_treatments, treatments_from_table

__all__ = [
    "KINETICS_COLUMNS",
    "Response",
    "ExpFit",
    "measure_kinetics",
    "measure_trace",
    "detect_events",
    "noise_sd",
    "difference_mad",
    "fit_exponential",
    "TREATMENT_COLUMNS",
    "measure_treatments",
    "treatments_from_table",
]

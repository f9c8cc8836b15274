"""The :class:`Result` container and the column contract of the result folder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import PipelineConfig
from .indicators import get_indicator

__all__ = ["Result", "TRACE_COLUMNS", "ROI_COLUMNS", "ROI_DTYPES", "KINETICS_COLUMNS",
           "KINETICS_DTYPES", "TREATMENT_COLUMNS", "TREATMENT_DTYPES", "trace_columns",
           "BATCH_FAILURE_COLUMNS"]

# Every table schema of the result folder lives here (one home per contract): the core
# modules (rois, kinetics), the batch tables, the review model and the writers import them.

#: The first columns of ``traces.csv``; the signal columns follow (see :func:`trace_columns`).
TRACE_COLUMNS = ("roi", "frame", "time_s")

#: Signal columns per indicator, in file order; ``ca_nM`` is appended when calibrated.
_SIGNAL_COLUMNS = {"fura2": ("f340", "f380", "ratio", "r_r0", "dr_r0"),
                   "fluo4": ("f", "f0", "dff")}

#: Column -> dtype of the ROI table (``rois.csv``; also the dtypes of an empty table).
ROI_DTYPES = {
    "roi": "int64",
    "centroid_row": "float64",
    "centroid_col": "float64",
    "area_px": "int64",
    "area_um2": "float64",
    "mean_intensity": "float64",
    "background_intensity": "float64",
    "contrast": "float64",
    "snr": "float64",
    "saturated_fraction": "float64",
    "saturated": "bool",
    "touches_border": "bool",
    "aspect_ratio": "float64",
    "solidity": "float64",
    "low_signal": "bool",
    "accepted": "bool",
    "reject_reason": "str",
    "source": "str",
}

#: The columns ``rois.csv`` always starts with, in order (event counts may follow).
ROI_COLUMNS = tuple(ROI_DTYPES)

#: ``kinetics.csv``, exactly (DESIGN.md).
KINETICS_COLUMNS = ("roi", "event", "responder", "onset_s", "baseline", "peak", "amplitude",
                    "time_to_peak_s", "rise_time_s", "decay_tau_s", "decay_r2", "half_decay_s",
                    "fwhm_s", "auc", "snr")

#: Column -> dtype of ``kinetics.csv``.
KINETICS_DTYPES = {c: "int64" if c in ("roi", "event") else "bool" if c == "responder"
                   else "float64" for c in KINETICS_COLUMNS}

#: ``treatments.csv``, exactly: one row per accepted ROI and named treatment.
TREATMENT_COLUMNS = ("roi", "treatment", "treatment_time_s", "baseline", "baseline_sd",
                     "peak", "amplitude", "auc", "max_slope", "latency_s", "responder")

#: Column -> dtype of ``treatments.csv``.
TREATMENT_DTYPES = {c: {"roi": "int64", "treatment": "object", "responder": "bool"}.get(
    c, "float64") for c in TREATMENT_COLUMNS}

#: ``failures.csv`` of a batch: one row per recording that failed.
BATCH_FAILURE_COLUMNS = ("recording", "path", "error_type", "message")


def trace_columns(indicator: str, *, calibrated: bool = False) -> tuple[str, ...]:
    """Columns of ``traces.csv`` for an indicator, in order.

    Parameters
    ----------
    indicator : str
        ``"fura2"`` or ``"fluo4"`` (the signal path of the recipe).
    calibrated : bool
        With the ``ca_nM`` column of a calibrated recipe.

    Returns
    -------
    tuple of str
        ``roi, frame, time_s`` and the indicator's signal columns.
    """
    cols = TRACE_COLUMNS + _SIGNAL_COLUMNS[indicator]
    return cols + ("ca_nM",) if calibrated else cols


@dataclass(frozen=True)
class Result:
    """Everything one recording produced; what the result folder holds.

    Attributes
    ----------
    name : str
        Recording name (the result folder's name).
    labels : ndarray, (Y, X) int
        ROI label image in the reference geometry, 0 = background.
    rois : DataFrame
        One row per ROI (``rois.csv``).
    traces : DataFrame
        Tidy traces, one row per ROI and frame (``traces.csv``).
    kinetics : DataFrame
        One row per accepted ROI and response (``kinetics.csv``).
    config : PipelineConfig
        The fully resolved recipe used.
    provenance : dict
        ``run.json`` content: versions, input, frame interval source, warnings, timings.
    shifts : ndarray, (T, 2) float, optional
        Motion-correction shifts (rows, columns) applied to each frame.
    projection : ndarray, (Y, X) float32, optional
        Mean projection of the registered motion channel (what segmentation saw).
    background_mask : ndarray, (Y, X) bool, optional
        Pixels used for background subtraction.
    folder : Path, optional
        Where the result was saved or loaded from.
    treatments : DataFrame, optional
        One row per accepted ROI and named treatment (``treatments.csv``), when treatment
        times were given.
    """

    name: str
    labels: np.ndarray
    rois: pd.DataFrame
    traces: pd.DataFrame
    kinetics: pd.DataFrame
    config: PipelineConfig
    provenance: Mapping[str, Any] = field(default_factory=dict)
    shifts: np.ndarray | None = None
    projection: np.ndarray | None = None
    background_mask: np.ndarray | None = None
    folder: Path | None = None
    treatments: pd.DataFrame | None = None

    @property
    def indicator(self) -> str:
        """Name of the indicator (signal path) of the recipe, e.g. ``"fura2"``."""
        return self.config.indicator

    @property
    def signal_column(self) -> str:
        """The column kinetics are measured on: ``ratio`` (Fura-2), ``dff`` (Fluo-4), or
        what the indicator's registration says (:mod:`caimg.indicators`).
        """
        return get_indicator(self.indicator).signal_column

    @property
    def n_rois(self) -> int:
        """Number of ROIs (rows of ``rois``, accepted or not)."""
        return int(len(self.rois))

    def trace_matrix(self, column: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Wide view of one trace column.

        Returns
        -------
        time_s : ndarray, (T,)
        roi_ids : ndarray, (R,)
        values : ndarray, (T, R)

        Notes
        -----
        Tables in the pipeline's (roi, frame) order -- every ROI with frames 0..T-1, ROIs
        ascending -- are reshaped without a copy of the table; others (e.g. edited or
        filtered tables) go through a pandas pivot, which needs several times the table's
        memory at large T.
        """
        column = column or self.signal_column
        tr = self.traces
        if tr.empty:
            return np.zeros(0), np.zeros(0, int), np.zeros((0, 0))
        roi = tr["roi"].to_numpy()
        frame = tr["frame"].to_numpy()
        n_t = int(np.count_nonzero(roi == roi[0]))
        if len(roi) % n_t == 0:
            n_r = len(roi) // n_t
            r2, f2 = roi.reshape(n_r, n_t), frame.reshape(n_r, n_t)
            if ((r2 == r2[:, :1]).all() and (f2 == np.arange(n_t)).all()
                    and (n_r == 1 or (np.diff(r2[:, 0]) > 0).all())):
                values = tr[column].to_numpy(float).reshape(n_r, n_t).T
                return tr["time_s"].to_numpy(float)[:n_t], r2[:, 0], values
        wide = tr.pivot(index="frame", columns="roi", values=column).sort_index()
        times = tr.drop_duplicates("frame").set_index("frame")["time_s"].sort_index()
        return times.to_numpy(float), wide.columns.to_numpy(), wide.to_numpy(float)

    def replace(self, **changes) -> Result:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)

"""Reviewing a result: accept / reject ROIs, redraw them, re-measure and save back.

This is the Qt-free model behind the napari review widget (the widget only shows it and
forwards clicks and keys). It holds one :class:`~caimg.result.Result` and the decisions
made on it, and it never does science itself: edited ROIs are re-measured by
:func:`caimg.process_recording` (no segmentation), kinetics of a re-accepted ROI by
:func:`caimg.kinetics.measure_kinetics`, kinetics marks for the plot by
:func:`caimg.kinetics.measure_trace`, with the recipe stored in the result (drawn by
:func:`caimg.plotting.plot_trace`).

Saving writes the same result-folder contract (``source = "edited"`` for ROIs whose
pixels changed, rejected ROIs kept in ``rois.csv`` with ``accepted = False`` and dropped
from ``kinetics.csv``), appends what changed and when to ``run.json["edits"]``, and updates
the batch tables (``<out>/rois.csv``, ``<out>/kinetics.csv``) when the folder is part of a
batch, so :func:`caimg.load_result` and the batch tables see the correction.

Examples
--------
>>> from caimg.review import ReviewSession          # doctest: +SKIP
>>> s = ReviewSession.open("results/cell01")         # doctest: +SKIP
>>> s.reject(7)                                      # doctest: +SKIP
>>> s.save()                                         # doctest: +SKIP
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._review_io import find_recording, result_folders, update_batch_tables
from ._version import __version__
from .config import kinetics_options
from .errors import ResultError, RoiError
from .recording import Recording
from .result import KINETICS_COLUMNS, TRACE_COLUMNS, Result

# find_recording, result_folders and update_batch_tables live in caimg._review_io (the
# review's file work) and are part of this module's API
__all__ = ["ReviewSession", "LabelChanges", "label_changes", "review_table", "labels_features",
           "find_recording", "result_folders", "update_batch_tables", "REVIEW_TABLE_COLUMNS"]

def _column(table: pd.DataFrame, name: str, missing) -> np.ndarray:
    """``table[name]`` as an array; all ``missing`` when the column is absent."""
    if name not in table:
        return np.full(len(table), missing)
    return table[name].to_numpy()


#: Columns of :func:`review_table` (one row per ROI).
REVIEW_TABLE_COLUMNS = ("roi", "accepted", "reject_reason", "source", "area_px", "saturated",
                        "low_signal", "responder", "amplitude", "snr", "time_to_peak_s",
                        "decay_tau_s", "n_events")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LabelChanges:
    """Which ROI ids an edit of the label image added, removed or changed.

    Attributes
    ----------
    added, removed, changed : tuple of int
        Ids present only in the new image, only in the old one, and in both with a
        different set of pixels.
    """

    def __init__(self, added=(), removed=(), changed=()):
        self.added = tuple(int(i) for i in added)
        self.removed = tuple(int(i) for i in removed)
        self.changed = tuple(int(i) for i in changed)

    @property
    def edited(self) -> tuple[int, ...]:
        """Ids whose pixels are new or different (they get ``source = "edited"``)."""
        return tuple(sorted(self.added + self.changed))

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def as_dict(self) -> dict[str, list[int]]:
        """Return the changes as a JSON-ready dict of id lists (added, removed, changed)."""
        return {"added": list(self.added), "removed": list(self.removed),
                "changed": list(self.changed)}

    def __repr__(self) -> str:
        return (f"LabelChanges(added={list(self.added)}, removed={list(self.removed)}, "
                f"changed={list(self.changed)})")


def label_changes(old: np.ndarray, new: np.ndarray) -> LabelChanges:
    """Compare two label images ROI by ROI.

    Parameters
    ----------
    old, new : ndarray, (Y, X) int
        Label images of the same shape, 0 = background.

    Returns
    -------
    LabelChanges

    Examples
    --------
    >>> a = np.zeros((4, 4), int); a[0, 0] = 1; a[3, 3] = 2
    >>> b = a.copy(); b[0, 1] = 1; b[3, 3] = 0; b[2, 2] = 5
    >>> label_changes(a, b)
    LabelChanges(added=[5], removed=[2], changed=[1])
    """
    old = np.asarray(old)
    new = np.asarray(new)
    if old.shape != new.shape:
        raise RoiError(f"edited labels have shape {new.shape}, the result's labels "
                       f"{old.shape}; expected the same (rows, columns)")
    old_ids = set(np.unique(old[old > 0]).tolist())
    new_ids = set(np.unique(new[new > 0]).tolist())
    diff = old != new
    touched = set(np.unique(old[diff]).tolist()) | set(np.unique(new[diff]).tolist())
    touched.discard(0)
    return LabelChanges(added=sorted(new_ids - old_ids), removed=sorted(old_ids - new_ids),
                        changed=sorted(touched & old_ids & new_ids))


def review_table(result: Result) -> pd.DataFrame:
    """One row per ROI for sorting and browsing: decision, area and main response.

    Parameters
    ----------
    result : Result

    Returns
    -------
    DataFrame
        Columns :data:`REVIEW_TABLE_COLUMNS`, sorted by ``roi``. The response figures come
        from the ROI's largest-amplitude row of ``kinetics`` (NaN, ``responder = False``
        and ``n_events = 0`` for rejected ROIs, which have no kinetics).
    """
    rois = result.rois
    if len(rois) == 0:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in REVIEW_TABLE_COLUMNS})
    out = pd.DataFrame({"roi": rois["roi"].astype(np.int64).to_numpy(),
                        "accepted": rois["accepted"].astype(bool).to_numpy(),
                        "reject_reason": _column(rois, "reject_reason", "").astype(str),
                        "source": rois["source"].astype(str).to_numpy(),
                        "area_px": rois["area_px"].to_numpy(),
                        # flags; a result folder written before they existed has neither
                        "saturated": _column(rois, "saturated", False).astype(bool),
                        "low_signal": _column(rois, "low_signal", False).astype(bool)})
    kin = result.kinetics
    if len(kin):
        kin = kin.assign(_amp=kin["amplitude"].fillna(-np.inf))
        best = (kin.sort_values(["roi", "_amp"], ascending=[True, False], kind="stable")
                .drop_duplicates("roi").set_index("roi"))
        n_events = kin[np.isfinite(kin["amplitude"])].groupby("roi").size()
    else:
        best = pd.DataFrame(columns=list(KINETICS_COLUMNS)).set_index("roi")
        n_events = pd.Series(dtype=np.int64)
    r = out["roi"]
    out["responder"] = r.map(best["responder"]).fillna(False).astype(bool).to_numpy()
    for col in ("amplitude", "snr", "time_to_peak_s", "decay_tau_s"):
        out[col] = r.map(best[col]).astype(float).to_numpy()
    out["n_events"] = r.map(n_events).fillna(0).astype(np.int64).to_numpy()
    return out.loc[:, list(REVIEW_TABLE_COLUMNS)].sort_values("roi").reset_index(drop=True)


def labels_features(result: Result) -> pd.DataFrame:
    """:func:`review_table` shaped as a napari Labels ``features`` table.

    napari looks a label value up through an ``index`` column; ecosystem plugins key on
    ``label``. Both equal the ROI id.

    Parameters
    ----------
    result : Result
        A result (its ``rois`` and ``kinetics`` tables).

    Returns
    -------
    pandas.DataFrame
        One row per ROI: ``index`` and ``label`` (the ROI id), then the
        :func:`review_table` columns.
    """
    t = review_table(result)
    t.insert(0, "label", t["roi"].to_numpy())
    t.insert(0, "index", t["roi"].to_numpy())
    return t


class ReviewSession:
    """One result under review: decisions, edited ROIs, re-measurement, saving.

    Parameters
    ----------
    result : Result
        The result to review (usually from :meth:`open`). Never modified.
    recording : Recording, optional
        The recording it was made from; needed only to re-measure edited ROIs. Found from
        ``run.json`` on first use when not given (:func:`find_recording`).

    Notes
    -----
    Decisions (``accept`` / ``reject``) are cheap: ``rois.accepted`` changes, a rejected
    ROI's kinetics rows are dropped and a re-accepted ROI's kinetics are measured on its
    stored trace with the result's recipe. Label edits (:meth:`set_labels`) re-extract
    every trace with :func:`caimg.process_recording` on the given labels, keeping each
    unchanged ROI's source and decision and marking new or redrawn ROIs ``"edited"``
    (accepted unless the user rejected them).
    """

    def __init__(self, result: Result, recording: Recording | None = None):
        self._result = result
        self._recording = recording
        self._decisions: dict[int, bool] = {}
        self._pending: list[dict[str, Any]] = []

    # --- opening -------------------------------------------------------------------
    @classmethod
    def open(cls, folder: str | Path, *, recording: Recording | None = None) -> ReviewSession:
        """Load a result folder (:func:`caimg.load_result`) for review."""
        from .io.result import load_result

        return cls(load_result(folder), recording=recording)

    @property
    def result(self) -> Result:
        """The current result, decisions and edits applied."""
        return self._result

    @property
    def folder(self) -> Path | None:
        """The result folder (None for a result that was never saved)."""
        return None if self._result.folder is None else Path(self._result.folder)

    @property
    def recording(self) -> Recording:
        """The recording behind the result (read from ``run.json`` on first use)."""
        if self._recording is None:
            self._recording = find_recording(self._result)
        return self._recording

    @property
    def has_recording(self) -> bool:
        """True when the recording is loaded or can be found from ``run.json``."""
        if self._recording is not None:
            return True
        try:
            self._recording = find_recording(self._result)
        except (ResultError, ValueError, OSError):
            return False
        return True

    @property
    def labels(self) -> np.ndarray:
        """The current (Y, X) label image, edits applied."""
        return self._result.labels

    @property
    def roi_ids(self) -> np.ndarray:
        """ROI ids in ``rois.csv`` order (increasing)."""
        if len(self._result.rois) == 0:
            return np.zeros(0, np.int64)
        return self._result.rois["roi"].to_numpy(np.int64)

    @property
    def dirty(self) -> bool:
        """True when there are decisions or edits not yet saved."""
        return bool(self._pending)

    @property
    def pending_edits(self) -> list[dict[str, Any]]:
        """The actions since the last save (what :meth:`save` records in ``run.json``)."""
        return [dict(e) for e in self._pending]

    @property
    def trace_columns(self) -> list[str]:
        """Signal columns available for plotting (e.g. ``ratio``, ``f340``, ``f380``)."""
        return [c for c in self._result.traces.columns if c not in TRACE_COLUMNS]

    # --- looking -------------------------------------------------------------------
    def _check_roi(self, roi) -> int:
        roi = int(roi)
        if roi not in set(self.roi_ids.tolist()):
            raise RoiError(f"ROI {roi} is not in {self._result.name} (ROIs: "
                           f"{self.roi_ids.min() if len(self.roi_ids) else '-'}.."
                           f"{self.roi_ids.max() if len(self.roi_ids) else '-'}, "
                           f"{len(self.roi_ids)} in all); expected one of its ROI ids")
        return roi

    def is_accepted(self, roi: int) -> bool:
        """Tell whether ROI ``roi`` is accepted (the ``accepted`` column of ``rois.csv``)."""
        roi = self._check_roi(roi)
        rois = self._result.rois
        return bool(rois.loc[rois["roi"] == roi, "accepted"].iloc[0])

    def trace(self, roi: int, column: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Time (s) and values of one ROI's trace column (default: the signal column).

        Returns
        -------
        time_s, values : ndarray, (T,)
        """
        roi = self._check_roi(roi)
        column = column or self._result.signal_column
        tr = self._result.traces
        if column not in tr.columns:
            raise RoiError(f"trace column {column!r} is not in {self._result.name}; expected "
                           f"one of {self.trace_columns}")
        rows = tr[tr["roi"] == roi].sort_values("frame")
        return rows["time_s"].to_numpy(float), rows[column].to_numpy(float)

    def responses(self, roi: int, column: str | None = None) -> list:
        """Kinetics of one ROI's trace with everything needed to draw them.

        Calls :func:`caimg.kinetics.measure_trace` with the result's recipe on the signal
        column (or ``column``, for example ``ca_nM``). The returned responses carry the
        table values plus ``peak_time_s``, ``t10_s``, ``t90_s``, the baseline window and the
        decay fit ``(c, a, t0, tau)``.
        """
        from .kinetics import measure_trace

        time_s, values = self.trace(roi, column)
        return measure_trace(values, time_s, roi=int(roi),
                             **kinetics_options(self._result.config.kinetics))

    def table(self) -> pd.DataFrame:
        """:func:`review_table` of the current result."""
        return review_table(self._result)

    def roi_at(self, row: float, col: float) -> int:
        """ROI id at a (row, column) position in pixels, 0 for background or outside."""
        r, c = int(round(row)), int(round(col))
        lab = self._result.labels
        if not (0 <= r < lab.shape[0] and 0 <= c < lab.shape[1]):
            return 0
        return int(lab[r, c])

    def step(self, roi: int | None, delta: int = 1) -> int | None:
        """Return the ROI ``delta`` places after ``roi`` in id order (wrapping); the first when
        ``roi`` is None or gone; None when there are no ROIs.
        """
        ids = self.roi_ids
        if len(ids) == 0:
            return None
        if roi is None or int(roi) not in set(ids.tolist()):
            return int(ids[0] if delta >= 0 else ids[-1])
        i = int(np.flatnonzero(ids == int(roi))[0])
        return int(ids[(i + delta) % len(ids)])

    # --- decisions -----------------------------------------------------------------
    def set_accepted(self, roi: int, accepted: bool) -> None:
        """Accept or reject one ROI (kinetics dropped, or measured on its stored trace)."""
        roi = self._check_roi(roi)
        accepted = bool(accepted)
        res = self._result
        if self.is_accepted(roi) == accepted:
            self._decisions[roi] = accepted
            return
        rois = res.rois.copy()
        rois.loc[rois["roi"] == roi, "accepted"] = accepted
        if "reject_reason" in rois:
            # an all-empty column is read back from CSV as float NaN
            rois["reject_reason"] = rois["reject_reason"].astype(object).where(
                rois["reject_reason"].notna(), "")
            rois.loc[rois["roi"] == roi, "reject_reason"] = "" if accepted else "reviewer"
        kin = res.kinetics[res.kinetics["roi"] != roi]
        if accepted:
            parts = [k for k in (kin, self._measure_kinetics([roi])) if len(k)]
            if parts:
                kin = pd.concat(parts, ignore_index=True).sort_values(["roi", "event"],
                                                                       kind="stable")
        kin = kin.loc[:, list(KINETICS_COLUMNS)].reset_index(drop=True)
        if len(kin):
            kin["responder"] = kin["responder"].astype(bool)
        self._result = res.replace(rois=rois, kinetics=kin,
                                   provenance=self._counted(res.provenance, rois, kin))
        self._decisions[roi] = accepted
        self._pending.append({"time": _now(), "action": "accept" if accepted else "reject",
                              "roi": roi})

    def accept(self, roi: int) -> None:
        """Accept ROI ``roi``."""
        self.set_accepted(roi, True)

    def reject(self, roi: int) -> None:
        """Reject ROI ``roi``: it stays in ``rois.csv`` (``accepted = False``), its
        kinetics rows go.
        """
        self.set_accepted(roi, False)

    def toggle(self, roi: int) -> bool:
        """Flip the decision on ``roi``; returns the new ``accepted``."""
        new = not self.is_accepted(roi)
        self.set_accepted(roi, new)
        return new

    def _measure_kinetics(self, roi_ids) -> pd.DataFrame:
        from .kinetics import measure_kinetics

        res = self._result
        time_s, ids, values = res.trace_matrix()
        keep = np.isin(ids, roi_ids)
        kin = measure_kinetics(values[:, keep], time_s, roi_ids=ids[keep],
                               **kinetics_options(res.config.kinetics))
        return kin.loc[:, list(KINETICS_COLUMNS)]

    @staticmethod
    def _counted(prov, rois, kin) -> dict:
        prov = dict(prov)
        r = dict(prov.get("rois") or {})
        r["n_rois"] = int(len(rois))
        r["n_accepted"] = int(rois["accepted"].astype(bool).sum()) if len(rois) else 0
        prov["rois"] = r
        prov["n_responders"] = (int(kin.loc[kin["responder"].astype(bool), "roi"].nunique())
                                if len(kin) else 0)
        return prov

    # --- label edits -----------------------------------------------------------------
    def measure_labels(self, labels: np.ndarray) -> tuple[Result, LabelChanges]:
        """Re-measure the recording on edited labels without changing the session.

        Safe to call from a worker thread; pass the outcome to :meth:`apply_measured`.

        Parameters
        ----------
        labels : ndarray, (Y, X) int
            The edited label image (not modified).

        Returns
        -------
        result : Result
            Traces and kinetics of every ROI of ``labels``; unchanged ROIs keep their
            source and decision, new or redrawn ROIs are ``source = "edited"``.
        changes : LabelChanges
        """
        from .pipeline import process_recording

        labels = np.array(labels, dtype=np.int32, copy=True)
        if labels.ndim != 2 or labels.shape != self._result.labels.shape:
            raise RoiError(f"edited labels have shape {labels.shape}; expected the result's "
                           f"(rows, columns) {self._result.labels.shape}")
        if (labels < 0).any():
            raise RoiError("edited labels hold negative values; expected 0 (background) or "
                           "positive ROI ids")
        changes = label_changes(self._result.labels, labels)
        rois = self._result.rois
        old_source = dict(zip(rois["roi"].astype(int), rois["source"].astype(str), strict=True))
        old_acc = dict(zip(rois["roi"].astype(int), rois["accepted"].astype(bool),
                           strict=True))
        edited = set(changes.edited)
        overrides = {}
        for roi in np.unique(labels[labels > 0]).tolist():
            if roi in edited:
                overrides[roi] = {"source": "edited",
                                  "accepted": self._decisions.get(roi, True)}
            else:
                overrides[roi] = {"source": old_source.get(roi, "edited"),
                                  "accepted": old_acc.get(roi, True)}
        new = process_recording(self.recording, self._result.config, labels=labels,
                                roi_source="edited", roi_overrides=overrides)
        return new, changes

    def apply_measured(self, measured: Result, changes: LabelChanges) -> None:
        """Take over a result from :meth:`measure_labels` (keeps name, folder, provenance)."""
        if not changes:
            return
        prov = dict(self._result.provenance)
        prov["background"] = measured.provenance.get("background", prov.get("background"))
        new = self._result.replace(labels=measured.labels, rois=measured.rois,
                                   traces=measured.traces, kinetics=measured.kinetics,
                                   background_mask=measured.background_mask,
                                   projection=(self._result.projection
                                               if self._result.projection is not None
                                               else measured.projection))
        self._result = new.replace(provenance=self._counted(prov, new.rois, new.kinetics))
        for roi in changes.removed:
            self._decisions.pop(roi, None)
        self._pending.append({"time": _now(), "action": "labels", **changes.as_dict()})

    def set_labels(self, labels: np.ndarray) -> LabelChanges:
        """Apply an edited label image and re-measure traces and kinetics at once.

        Returns
        -------
        LabelChanges
            What changed (nothing is re-measured when nothing did).
        """
        changes = label_changes(self._result.labels, labels)
        if not changes:
            return changes
        measured, changes = self.measure_labels(labels)
        self.apply_measured(measured, changes)
        return changes

    # --- saving ----------------------------------------------------------------------
    def save(self, folder: str | Path | None = None) -> Path:
        """Write the reviewed result back (same contract) and refresh the batch tables.

        Parameters
        ----------
        folder : path, optional
            Result folder to write; default the folder the result came from.

        Returns
        -------
        Path
            The result folder written.
        """
        from .io.result import save_result

        target = Path(folder) if folder is not None else self.folder
        if target is None:
            raise ResultError(f"{self._result.name}: this result has no folder yet; pass "
                              "folder= to save it")
        res = self._result
        if res.name != target.name:
            res = res.replace(name=target.name)
        prov = dict(res.provenance)
        edits = list(prov.get("edits") or [])
        if self._pending:
            rois = res.rois
            edited = (rois.loc[rois["source"].astype(str) == "edited", "roi"].astype(int).tolist()
                      if len(rois) else [])
            rejected = (rois.loc[~rois["accepted"].astype(bool), "roi"].astype(int).tolist()
                        if len(rois) else [])
            edits.append({"time": _now(), "caimg_version": __version__, "tool": "caimg.review",
                          "actions": self._pending, "n_rois": int(len(rois)),
                          "rejected": rejected, "edited": edited})
        prov["edits"] = edits
        res = res.replace(provenance=prov)
        out = save_result(res, target.parent)
        update_batch_tables(out)
        from .export import refresh_exports
        refresh_exports(out)  # rewrite (or mark .stale) this result's NWB / batch workbook
        self._result = res.replace(folder=out)
        self._pending = []
        return out

    def __repr__(self) -> str:
        return (f"ReviewSession({self._result.name!r}, {len(self.roi_ids)} ROIs, "
                f"{len(self._pending)} unsaved action(s))")


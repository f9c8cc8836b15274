"""The "Review ROIs" dock widget: trace plot with kinetics marks, accept / reject, ROI
editing with re-measurement, a sortable ROI table, batch navigation and saving.

The widget shows a :class:`caimg.review.ReviewSession` and forwards clicks, keys and label
edits to it; every number comes from the session (and through it from the core).

Keys (with the ROI layer selected): ``a`` accept, ``r`` reject, ``.`` / ``,`` next /
previous ROI. Clicking a cell (pan/zoom mode) or a table row selects it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel,
                            QPushButton, QSizePolicy, QTableWidget, QTableWidgetItem,
                            QVBoxLayout, QWidget)

from ..review import ReviewSession, response_marks, result_folders
from ._reader import roi_colormap, roi_layer_kwargs

__all__ = ["ReviewWidget"]

_TABLE_COLUMNS = (("roi", "ROI"), ("accepted", "accepted"), ("responder", "responder"),
                  ("amplitude", "amplitude"), ("snr", "SNR"), ("decay_tau_s", "tau (s)"),
                  ("time_to_peak_s", "t peak (s)"), ("area_px", "area"), ("source", "source"))


class _Item(QTableWidgetItem):
    """A table cell that sorts numerically (NaN last)."""

    def __init__(self, text: str, key):
        super().__init__(text)
        self._key = key
        self.setFlags(self.flags() & ~Qt.ItemFlag.ItemIsEditable)

    def __lt__(self, other):
        a, b = self._key, getattr(other, "_key", None)
        try:
            a_nan = isinstance(a, float) and math.isnan(a)
            b_nan = isinstance(b, float) and math.isnan(b)
            if a_nan or b_nan:
                return b_nan and not a_nan
            return a < b
        except TypeError:
            return str(a) < str(b)


def _fmt(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else f"{v:.3g}"
    return str(v)


class ReviewWidget(QWidget):
    """Dock widget reviewing the caimg ROIs layer of the viewer.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    """

    def __init__(self, napari_viewer):
        super().__init__()
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.viewer = napari_viewer
        self.session: ReviewSession | None = None
        self.layer = None
        self.current_roi: int | None = None
        self._worker = None
        self._remeasure_timer = QTimer(self)
        self._remeasure_timer.setSingleShot(True)
        self._remeasure_timer.setInterval(300)
        self._remeasure_timer.timeout.connect(self.remeasure)
        self._discard_armed = False

        self.title = QLabel("open a caimg result folder (File > Open Folder)")
        self.title.setWordWrap(True)
        self.prev_rec = QPushButton("< recording")
        self.next_rec = QPushButton("recording >")
        self.prev_rec.clicked.connect(lambda: self.step_recording(-1))
        self.next_rec.clicked.connect(lambda: self.step_recording(1))
        nav = QHBoxLayout()
        nav.addWidget(self.prev_rec)
        nav.addWidget(self.next_rec)

        self.roi_label = QLabel("ROI -")
        self.column = QComboBox()
        self.column.setToolTip("trace shown: the signal (ratio / dF/F0) or a raw channel")
        self.column.currentTextChanged.connect(lambda _t: self.plot())
        row1 = QHBoxLayout()
        row1.addWidget(self.roi_label, 1)
        row1.addWidget(self.column)

        self.accept_btn = QPushButton("Accept [a]")
        self.reject_btn = QPushButton("Reject [r]")
        self.new_btn = QPushButton("New ROI")
        self.new_btn.setToolTip("paint a new ROI with the next free id (then draw with the "
                                "brush, fill or polygon tools)")
        self.save_btn = QPushButton("Save")
        self.accept_btn.clicked.connect(lambda: self.set_accepted(True))
        self.reject_btn.clicked.connect(lambda: self.set_accepted(False))
        self.new_btn.clicked.connect(self.new_roi)
        self.save_btn.clicked.connect(self.save)
        row2 = QHBoxLayout()
        for b in (self.accept_btn, self.reject_btn, self.new_btn, self.save_btn):
            row2.addWidget(b)

        self.figure = Figure(figsize=(5, 3), dpi=100, layout="constrained")
        self.ax = self.figure.add_subplot(111)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(260)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

        self.table = QTableWidget(0, len(_TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels([h for _, h in _TABLE_COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSortingEnabled(True)
        self.table.sortItems(0, Qt.SortOrder.AscendingOrder)
        self.table.cellClicked.connect(self._on_table_click)
        self.table.setMinimumHeight(180)

        self.status = QLabel("")
        self.status.setWordWrap(True)

        self.setMinimumWidth(480)
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addLayout(nav)
        lay.addLayout(row1)
        lay.addLayout(row2)
        lay.addWidget(self.canvas, 3)
        lay.addWidget(self.table, 2)
        lay.addWidget(self.status)

        self.viewer.layers.events.inserted.connect(self._on_layer_inserted)
        self.viewer.layers.events.removed.connect(self._on_layer_removed)
        for layer in list(self.viewer.layers):
            self._maybe_attach(layer)
        self._update_buttons()

    # --- attaching to the ROI layer ---------------------------------------------------
    @staticmethod
    def _is_roi_layer(layer) -> bool:
        meta = getattr(layer, "metadata", {}).get("caimg", {})
        return meta.get("kind") == "rois" and meta.get("result") is not None

    def _on_layer_inserted(self, event):
        self._maybe_attach(event.value)

    def _on_layer_removed(self, event):
        if event.value is self.layer:
            self._detach()
            self.session = None
            self.current_roi = None
            self.refresh()

    def _maybe_attach(self, layer):
        if self._is_roi_layer(layer):
            self.attach(layer)

    def attach(self, layer, session: ReviewSession | None = None):
        """Review the result behind ``layer`` (a caimg ROI Labels layer)."""
        self._detach()
        meta = layer.metadata["caimg"]
        self.layer = layer
        # outlines keep the cells of the projection visible under the ROIs
        layer.contour = 2
        self.session = session or ReviewSession(meta["result"],
                                                recording=meta.get("recording_object"))
        layer.mouse_drag_callbacks.append(self._on_click)
        layer.events.paint.connect(self._on_paint)
        layer.events.selected_label.connect(self._on_selected_label)
        layer.bind_key("a", self._key_accept, overwrite=True)
        layer.bind_key("r", self._key_reject, overwrite=True)
        layer.bind_key(".", self._key_next, overwrite=True)
        layer.bind_key(",", self._key_prev, overwrite=True)
        self.current_roi = self.session.step(None)
        self.refresh()

    def _detach(self):
        layer = self.layer
        if layer is None:
            return
        if self._on_click in layer.mouse_drag_callbacks:
            layer.mouse_drag_callbacks.remove(self._on_click)
        layer.events.paint.disconnect(self._on_paint)
        layer.events.selected_label.disconnect(self._on_selected_label)
        self.layer = None

    # --- selection -----------------------------------------------------------------
    def _on_click(self, layer, event):
        if layer.mode not in ("pan_zoom", "pick"):
            return
        value = layer.get_value(event.position, view_direction=event.view_direction,
                                dims_displayed=event.dims_displayed, world=True)
        if value:
            self.select_roi(int(value))

    def _on_selected_label(self, event=None):
        if self.session is None or self.layer is None:
            return
        value = int(self.layer.selected_label)
        if value != self.current_roi and value in set(self.session.roi_ids.tolist()):
            self.select_roi(value)

    def select_roi(self, roi: int, *, center: bool = False):
        """Show ROI ``roi``: its trace and kinetics, selected in the table and the layer."""
        if self.session is None:
            return
        self.current_roi = int(roi)
        if self.layer is not None and int(self.layer.selected_label) != self.current_roi:
            self.layer.selected_label = self.current_roi
        if center:
            rois = self.session.result.rois
            hit = rois[rois["roi"] == self.current_roi]
            if len(hit):
                scene = getattr(self.viewer, "scene", None)  # napari >= 0.9
                camera = scene.camera if scene is not None else self.viewer.camera
                camera.center = (float(hit["centroid_row"].iloc[0]),
                                 float(hit["centroid_col"].iloc[0]))
        self._select_table_row()
        self._update_roi_label()
        self.plot()

    def step_roi(self, delta: int = 1):
        if self.session is not None:
            nxt = self.session.step(self.current_roi, delta)
            if nxt is not None:
                self.select_roi(nxt, center=True)

    def _on_table_click(self, row, _col):
        item = self.table.item(row, 0)
        if item is not None:
            self.select_roi(int(item._key), center=True)

    def _key_accept(self, _layer=None):
        self.set_accepted(True)

    def _key_reject(self, _layer=None):
        self.set_accepted(False)

    def _key_next(self, _layer=None):
        self.step_roi(1)

    def _key_prev(self, _layer=None):
        self.step_roi(-1)

    # --- decisions and edits ---------------------------------------------------------
    def set_accepted(self, accepted: bool, roi: int | None = None):
        """Accept or reject ``roi`` (default the current ROI)."""
        roi = self.current_roi if roi is None else int(roi)
        if self.session is None or roi is None:
            return
        self.session.set_accepted(roi, accepted)
        self._sync_layer()
        self.status.setText(f"ROI {roi} {'accepted' if accepted else 'rejected'} (not saved)")
        self.refresh(keep_roi=True)

    def new_roi(self):
        """Select the next free id and switch to paint mode to draw a new ROI."""
        if self.layer is None:
            return
        self.layer.selected_label = int(max(self.layer.data.max(), 0)) + 1
        self.layer.mode = "paint"
        self.status.setText(f"paint ROI {self.layer.selected_label}; it is measured when the "
                            "stroke ends")

    def _on_paint(self, event=None):
        self._remeasure_timer.start()

    def remeasure(self, *, wait: bool = False):
        """Re-measure the edited ROIs in a worker thread (no segmentation)."""
        if self.session is None or self.layer is None:
            return
        from napari.qt.threading import create_worker

        labels = np.array(self.layer.data, dtype=np.int32, copy=True)
        if not self.session.has_recording:
            self.status.setText("cannot re-measure: the recording of this result was not found "
                                "(see run.json inputs); decisions still work")
            return
        self.status.setText("re-measuring edited ROIs ...")
        session = self.session
        worker = create_worker(session.measure_labels, labels)
        worker.returned.connect(lambda out: self._on_measured(session, out))
        worker.errored.connect(lambda exc: self.status.setText(f"re-measuring failed: {exc}"))
        worker.finished.connect(self._on_worker_done)
        self._worker = worker
        worker.start()

    def _on_worker_done(self):
        self._worker = None

    def _on_measured(self, session, out):
        if session is not self.session:
            return  # moved to another recording meanwhile
        measured, changes = out
        session.apply_measured(measured, changes)
        self._sync_layer()
        txt = ", ".join(f"{k} {v}" for k, v in changes.as_dict().items() if v)
        self.status.setText(f"re-measured ({txt or 'no change'}); not saved")
        roi = self.current_roi
        if changes.added:
            roi = changes.added[-1]
        elif roi not in set(session.roi_ids.tolist()):
            roi = session.step(None)
        self.current_roi = roi
        self.refresh(keep_roi=True)

    @property
    def busy(self) -> bool:
        """True while a re-measurement is pending or running."""
        return self._worker is not None or self._remeasure_timer.isActive()

    def save(self):
        """Write the reviewed result back into its folder (and the batch tables)."""
        if self.session is None:
            return None
        folder = self.session.save()
        self._sync_layer()
        self.status.setText(f"saved to {folder}")
        self._update_title()
        return folder

    # --- batch navigation ------------------------------------------------------------
    def _siblings(self) -> list[Path]:
        if self.session is None or self.session.folder is None:
            return []
        return result_folders(self.session.folder.parent)

    def step_recording(self, delta: int):
        """Open the next / previous result folder of the batch in the same layers."""
        sib = self._siblings()
        if not sib or self.session is None:
            return
        if self.session.dirty and not self._discard_armed:
            self._discard_armed = True
            self.status.setText("unsaved decisions: press Save, or press again to discard them")
            return
        self._discard_armed = False
        cur = self.session.folder
        i = sib.index(cur) if cur in sib else -1
        self.open_folder(sib[(i + delta) % len(sib)])

    def open_folder(self, folder):
        """Replace the shown result (layers keep their place, dock and plot stay)."""
        from ._reader import read_result_layers

        layers = read_result_layers(folder)
        old_name = self.layer.metadata["caimg"].get("recording") if self.layer else None
        images = [(d, k) for d, k, t in layers if t == "image"]
        rois = next((d, k) for d, k, t in layers if t == "labels")
        # channel and projection layers: update in place when one of the same role exists
        for data, kw in images:
            meta = kw["metadata"]["caimg"]
            target = None
            for lyr in self.viewer.layers:
                m = getattr(lyr, "metadata", {}).get("caimg", {})
                if m.get("kind") == meta["kind"] and m.get("channel") == meta.get("channel") \
                        and m.get("recording") in (old_name, meta.get("recording")):
                    target = lyr
                    break
            if target is None:
                self.viewer.add_image(data, **kw)
            else:
                target.data = data
                target.contrast_limits = kw["contrast_limits"]
                target.metadata = kw["metadata"]
                target.name = kw["name"]
        data, kw = rois
        session = ReviewSession(kw["metadata"]["caimg"]["result"])
        if self.layer is None:
            self.viewer.add_labels(data, **kw)  # attaches through the inserted event
        else:
            layer = self.layer
            self._detach()
            layer.data = data
            layer.features = kw["features"]
            layer.colormap = kw["colormap"]
            layer.metadata = kw["metadata"]
            self.attach(layer, session)
        self.status.setText(f"opened {folder}")

    # --- display -------------------------------------------------------------------
    def _sync_layer(self):
        """ROI layer colours, features and metadata follow the session."""
        if self.layer is None or self.session is None:
            return
        res = self.session.result
        kw = roi_layer_kwargs(res)
        if not np.array_equal(self.layer.data, res.labels):
            self.layer.data = np.array(res.labels, dtype=np.int32)
        self.layer.features = kw["features"]
        self.layer.colormap = roi_colormap(res)
        self.layer.metadata = {**self.layer.metadata, "caimg": kw["metadata"]["caimg"]}

    def _update_title(self):
        s = self.session
        if s is None:
            self.title.setText("open a caimg result folder (File > Open Folder)")
            return
        res = s.result
        sib = self._siblings()
        pos = f"  [{sib.index(s.folder) + 1}/{len(sib)}]" if s.folder in sib else ""
        n_acc = int(res.rois["accepted"].astype(bool).sum()) if len(res.rois) else 0
        n_resp = int(res.provenance.get("n_responders", 0))
        self.title.setText(f"<b>{res.name}</b>{pos} &nbsp; {res.config.name} "
                           f"({res.indicator}) &nbsp; {n_acc}/{len(res.rois)} accepted, "
                           f"{n_resp} responders" + (" &nbsp; <i>unsaved</i>" if s.dirty else ""))

    def _update_roi_label(self):
        s, roi = self.session, self.current_roi
        if s is None or roi is None or roi not in set(s.roi_ids.tolist()):
            self.roi_label.setText("ROI -")
            return
        row = s.result.rois.set_index("roi").loc[roi]
        state = "accepted" if bool(row["accepted"]) else "REJECTED"
        self.roi_label.setText(f"<b>ROI {roi}</b> &nbsp; {state}, {row['source']}, "
                               f"{int(row['area_px'])} px")

    def _update_buttons(self):
        has = self.session is not None
        for b in (self.accept_btn, self.reject_btn, self.new_btn, self.save_btn, self.column):
            b.setEnabled(has)
        sib = self._siblings()
        self.prev_rec.setEnabled(len(sib) > 1)
        self.next_rec.setEnabled(len(sib) > 1)

    def refresh(self, *, keep_roi: bool = False):
        """Redraw everything from the session."""
        s = self.session
        self._update_buttons()
        self._update_title()
        if s is None:
            self.table.setRowCount(0)
            self.ax.clear()
            self.canvas.draw_idle()
            return
        cols = s.trace_columns
        self.column.blockSignals(True)
        current = self.column.currentText()
        self.column.clear()
        self.column.addItems(cols)
        want = current if keep_roi and current in cols else s.result.signal_column
        self.column.setCurrentText(want)
        self.column.blockSignals(False)
        self._fill_table()
        if self.current_roi is not None:
            self.select_roi(self.current_roi)
        else:
            self._update_roi_label()
            self.plot()

    def _fill_table(self):
        t = self.session.table()
        sorting = self.table.isSortingEnabled()
        header = self.table.horizontalHeader()
        sort_col, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(t))
        for i, rec in enumerate(t.to_dict("records")):
            for j, (col, _h) in enumerate(_TABLE_COLUMNS):
                v = rec[col]
                key = float(v) if isinstance(v, (float, np.floating)) else (
                    int(v) if isinstance(v, (int, np.integer, bool, np.bool_)) else str(v))
                item = _Item(_fmt(v), key)
                if not rec["accepted"]:
                    item.setForeground(Qt.GlobalColor.red)
                self.table.setItem(i, j, item)
        self.table.setSortingEnabled(sorting)
        if sorting and 0 <= sort_col < len(_TABLE_COLUMNS):
            self.table.sortItems(sort_col, order)

    def _select_table_row(self):
        for i in range(self.table.rowCount()):
            item = self.table.item(i, 0)
            if item is not None and int(item._key) == self.current_roi:
                self.table.blockSignals(True)
                self.table.selectRow(i)
                self.table.blockSignals(False)
                self.table.scrollToItem(item)
                return

    def plot(self):
        """Trace of the current ROI with baseline, peak, 10 % / 90 % marks, the decay fit
        and the stimulus time."""
        ax = self.ax
        ax.clear()
        s, roi = self.session, self.current_roi
        if s is None or roi is None or roi not in set(s.roi_ids.tolist()):
            ax.text(0.5, 0.5, "no ROI selected", ha="center", va="center",
                    transform=ax.transAxes)
            self.canvas.draw_idle()
            return
        column = self.column.currentText() or s.result.signal_column
        time_s, y = s.trace(roi, column)
        accepted = s.is_accepted(roi)
        ax.plot(time_s, y, color="k" if accepted else "0.6", lw=1.0, label=column)
        stim = s.result.config.kinetics.stimulus_time_s
        if stim is not None:
            ax.axvline(stim, color="tab:purple", ls="--", lw=1, label="stimulus")
        title = f"ROI {roi}" + ("" if accepted else "  (rejected)")
        if column in (s.result.signal_column, "ca_nM"):
            for k, resp in enumerate(s.responses(roi, column)):
                m = response_marks(resp, time_s)
                first = k == 0
                (b0, b1), base = m["baseline"]
                if np.isfinite(base):
                    ax.hlines(base, b0 if np.isfinite(b0) else time_s[0],
                              b1 if np.isfinite(b1) else time_s[-1], color="tab:blue", lw=2,
                              label="baseline" if first else None)
                pt, pv = m["peak"]
                if np.isfinite(pt):
                    ax.plot([pt], [pv], "v", color="tab:red", ms=8,
                            label="peak" if first else None)
                for key, lab in (("rise10", "10 %"), ("rise90", "90 %")):
                    tt, lv = m[key]
                    if np.isfinite(tt):
                        ax.plot([tt], [lv], "o", mfc="none", mec="tab:orange", ms=8, mew=1.5,
                                label=("10 % / 90 %" if key == "rise10" and first else None))
                dt, dy = m["decay"]
                if dt.size:
                    ax.plot(dt, dy, color="tab:green", lw=2, alpha=0.8,
                            label="decay fit" if first else None)
                if first:
                    title += (f"   amp {resp.amplitude:.3g}   tau {resp.decay_tau_s:.3g} s"
                              f"   {'responder' if resp.responder else 'non-responder'}")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel({"ratio": "F340/F380", "dff": "dF/F0"}.get(column, column))
        ax.legend(fontsize=7, loc="upper right", frameon=False)
        self.canvas.draw_idle()

    def closeEvent(self, event):  # noqa: N802 - Qt name
        self._detach()
        super().closeEvent(event)

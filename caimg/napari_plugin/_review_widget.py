"""The "Review ROIs" dock widget: trace plot with kinetics marks, accept / reject, ROI
editing with re-measurement, a sortable ROI table, batch navigation and saving.

The widget is composed of the sub-widgets in :mod:`._qt` (recording navigation, ROI
controls, trace plot, ROI table) and wires them to a :class:`caimg.review.ReviewSession`:
it forwards clicks, keys and label edits to the session and shows what the session holds;
every number comes from the session (and through it from the core).

Keys (with the ROI layer selected): ``a`` accept, ``r`` reject, ``.`` / ``,`` next /
previous ROI. Clicking a cell (pan/zoom mode) or a table row selects it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from ..review import ReviewSession, result_folders
from ._qt import RecordingNav, RoiControls, RoiTable, TracePlot
from ._reader import read_result_layers, roi_colormap, roi_layer_kwargs

__all__ = ["ReviewWidget"]


def _is_roi_layer(layer) -> bool:
    meta = getattr(layer, "metadata", {}).get("caimg", {})
    return meta.get("kind") == "rois" and meta.get("result") is not None


class ReviewWidget(QWidget):
    """Dock widget reviewing the caimg ROIs layer of the viewer.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    """

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.session: ReviewSession | None = None
        self.layer = None
        self.current_roi: int | None = None
        self._worker = None
        self._discard_armed = False
        self._remeasure_timer = QTimer(self)
        self._remeasure_timer.setSingleShot(True)
        self._remeasure_timer.setInterval(300)  # one re-measurement per paint stroke burst
        self._remeasure_timer.timeout.connect(self.remeasure)

        self.nav = RecordingNav()
        self.controls = RoiControls()
        self.trace_plot = TracePlot()
        self.table = RoiTable()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.nav.stepped.connect(self.step_recording)
        self.controls.accept_btn.clicked.connect(lambda: self.set_accepted(True))
        self.controls.reject_btn.clicked.connect(lambda: self.set_accepted(False))
        self.controls.new_btn.clicked.connect(self.new_roi)
        self.controls.save_btn.clicked.connect(self.save)
        self.controls.column.currentTextChanged.connect(lambda _t: self.plot())
        self.table.roi_clicked.connect(lambda roi: self.select_roi(roi, center=True))

        self.setMinimumWidth(480)
        lay = QVBoxLayout(self)
        lay.addWidget(self.nav)
        lay.addWidget(self.controls)
        lay.addWidget(self.trace_plot, 3)
        lay.addWidget(self.table, 2)
        lay.addWidget(self.status)

        self.viewer.layers.events.inserted.connect(self._on_layer_inserted)
        self.viewer.layers.events.removed.connect(self._on_layer_removed)
        for layer in list(self.viewer.layers):
            if _is_roi_layer(layer):
                self.attach(layer)
        self._update_buttons()

    # --- attaching to the ROI layer ---------------------------------------------------
    def _on_layer_inserted(self, event):
        if _is_roi_layer(event.value):
            self.attach(event.value)

    def _on_layer_removed(self, event):
        if event.value is self.layer:
            self._detach()
            self.session = None
            self.current_roi = None
            self.refresh()

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
            self._center_on(self.current_roi)
        self.table.select_roi(self.current_roi)
        self._update_roi_label()
        self.plot()

    def _center_on(self, roi: int):
        rois = self.session.result.rois
        hit = rois[rois["roi"] == roi]
        if len(hit):
            scene = getattr(self.viewer, "scene", None)  # napari >= 0.9
            camera = scene.camera if scene is not None else self.viewer.camera
            camera.center = (float(hit["centroid_row"].iloc[0]),
                             float(hit["centroid_col"].iloc[0]))

    def step_roi(self, delta: int = 1):
        """Select the ROI ``delta`` places on in id order (wrapping) and centre on it."""
        if self.session is not None:
            nxt = self.session.step(self.current_roi, delta)
            if nxt is not None:
                self.select_roi(nxt, center=True)

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

    def remeasure(self):
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
        try:
            return result_folders(self.session.folder.parent)
        except OSError:
            return []  # the batch folder cannot be listed: no stepping

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
        layers = read_result_layers(folder)
        old_name = self.layer.metadata["caimg"].get("recording") if self.layer else None
        for data, kw, kind in layers:
            if kind == "image":
                self._show_image(data, kw, old_name)
        data, kw = next((d, k) for d, k, t in layers if t == "labels")
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

    def _show_image(self, data, kw, old_name):
        """Update the channel or projection layer of the same role in place, or add one."""
        meta = kw["metadata"]["caimg"]
        for lyr in self.viewer.layers:
            m = getattr(lyr, "metadata", {}).get("caimg", {})
            if m.get("kind") == meta["kind"] and m.get("channel") == meta.get("channel") \
                    and m.get("recording") in (old_name, meta.get("recording")):
                lyr.data = data
                lyr.contrast_limits = kw["contrast_limits"]
                lyr.metadata = kw["metadata"]
                lyr.name = kw["name"]
                return
        self.viewer.add_image(data, **kw)

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
            self.nav.set_title(None)
            return
        res = s.result
        sib = self._siblings()
        pos = f"  [{sib.index(s.folder) + 1}/{len(sib)}]" if s.folder in sib else ""
        n_acc = int(res.rois["accepted"].astype(bool).sum()) if len(res.rois) else 0
        n_resp = int(res.provenance.get("n_responders", 0))
        self.nav.set_title(f"<b>{res.name}</b>{pos} &nbsp; {res.config.name} "
                           f"({res.indicator}) &nbsp; {n_acc}/{len(res.rois)} accepted, "
                           f"{n_resp} responders" + (" &nbsp; <i>unsaved</i>" if s.dirty else ""))

    def _has_roi(self) -> bool:
        s, roi = self.session, self.current_roi
        return s is not None and roi is not None and roi in set(s.roi_ids.tolist())

    def _update_roi_label(self):
        if not self._has_roi():
            self.controls.set_roi_text(None)
            return
        roi = self.current_roi
        row = self.session.result.rois.set_index("roi").loc[roi]
        state = "accepted" if bool(row["accepted"]) else "REJECTED"
        self.controls.set_roi_text(f"<b>ROI {roi}</b> &nbsp; {state}, {row['source']}, "
                                   f"{int(row['area_px'])} px")

    def _update_buttons(self):
        self.controls.set_active(self.session is not None)
        self.nav.set_can_step(len(self._siblings()) > 1)

    def refresh(self, *, keep_roi: bool = False):
        """Redraw everything from the session."""
        s = self.session
        self._update_buttons()
        self._update_title()
        if s is None:
            self.table.setRowCount(0)
            self.trace_plot.clear()
            return
        cols = s.trace_columns
        current = self.controls.column.currentText()
        self.controls.set_columns(cols, current if keep_roi and current in cols
                                  else s.result.signal_column)
        self.table.fill(s.table())
        if self.current_roi is not None:
            self.select_roi(self.current_roi)
        else:
            self._update_roi_label()
            self.plot()

    def plot(self):
        """Trace of the current ROI with baseline, peak, 10 % / 90 % marks, the decay fit
        and the stimulus time (kinetics marks on the signal and ``ca_nM`` columns only).
        """
        if not self._has_roi():
            self.trace_plot.show_message("no ROI selected")
            return
        s, roi = self.session, self.current_roi
        column = self.controls.column.currentText() or s.result.signal_column
        time_s, y = s.trace(roi, column)
        accepted = s.is_accepted(roi)
        measured = column in (s.result.signal_column, "ca_nM")
        self.trace_plot.show_trace(
            time_s, y, s.responses(roi, column) if measured else None, label=column,
            stimulus_time_s=s.result.config.kinetics.stimulus_time_s, accepted=accepted,
            title=f"ROI {roi}" + ("" if accepted else "  (rejected)"))

    def closeEvent(self, event):  # noqa: N802 - Qt name
        self._detach()
        super().closeEvent(event)

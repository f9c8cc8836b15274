"""The review dock, driven for real in a viewer made by napari's ``make_napari_viewer``
fixture (headless under Xvfb: ``pytest -p xvfb``), opened through the plugin manifest, with
``qtbot`` waiting for worker threads.
"""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")

import caimg  # noqa: E402
from caimg.napari_plugin._qt import TABLE_COLUMNS  # noqa: E402

pytestmark = pytest.mark.napari


def _open_review(viewer, folder):
    viewer.open(str(folder), plugin="caimg")
    _dock, widget = viewer.window.add_plugin_dock_widget("caimg", "Review ROIs")
    return widget


def _click(widget, row, col):
    ev = SimpleNamespace(position=(float(row), float(col)), view_direction=None,
                         dims_displayed=[0, 1], type="mouse_press")
    widget._on_click(widget.layer, ev)


def test_review_click_shows_trace_with_kinetics(make_napari_viewer, out):
    viewer = make_napari_viewer()
    w = _open_review(viewer, out / "cellA")
    s = w.session
    roi = int(s.table().sort_values("amplitude").iloc[-1]["roi"])
    r = s.result.rois.set_index("roi").loc[roi]
    _click(w, r["centroid_row"], r["centroid_col"])
    assert w.current_roi == roi and w.layer.selected_label == roi
    ax = w.trace_plot.ax
    line = ax.get_lines()[0]
    t, y = s.trace(roi)
    np.testing.assert_allclose(line.get_ydata(), y)
    np.testing.assert_allclose(line.get_xdata(), t)
    legend = {txt.get_text() for txt in ax.get_legend().get_texts()}
    assert {"stimulus", "baseline", "peak", "10 % / 90 %", "decay fit"} <= legend
    peak = next(ln for ln in ax.get_lines() if ln.get_label() == "peak")
    k = s.result.kinetics.set_index("roi").loc[roi]
    assert peak.get_ydata()[0] == pytest.approx(k["peak"], rel=1e-9)
    # a raw channel on request
    w.controls.column.setCurrentText("f380")
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), s.trace(roi, "f380")[1])
    assert ax.get_legend() is not None and "peak" not in {
        txt.get_text() for txt in ax.get_legend().get_texts()}  # no kinetics on raw channels
    # keys step through ROIs; the table selects in the viewer
    w._key_next(w.layer)
    assert w.current_roi == s.step(roi, 1)
    from qtpy.QtCore import Qt

    amp_col = [c for c, _ in TABLE_COLUMNS].index("amplitude")
    w.table.sortItems(amp_col, Qt.SortOrder.DescendingOrder)
    assert w.table.roi_at_row(0) == roi
    w.table.cellClicked.emit(0, 0)
    assert w.current_roi == roi and w.layer.selected_label == roi


def test_reject_save_load_result(make_napari_viewer, out):
    viewer = make_napari_viewer()
    w = _open_review(viewer, out / "cellA")
    roi = int(w.session.roi_ids[2])
    w.select_roi(roi)
    bound = {str(k): f for k, f in w.layer.keymap.items()}
    assert bound["R"] == w._key_reject and bound["A"] == w._key_accept
    w._key_reject(w.layer)
    assert tuple(w.layer.colormap.color_dict[roi]) != tuple(w.layer.colormap.color_dict[
        int(w.session.roi_ids[0])])
    assert not bool(w.layer.features.set_index("index").loc[roi, "accepted"])
    folder = w.save()
    back = caimg.load_result(folder)
    assert not bool(back.rois.set_index("roi").loc[roi, "accepted"])
    assert roi not in set(back.kinetics["roi"]) and roi in set(back.traces["roi"])
    assert json.loads((folder / "run.json").read_text())["edits"][-1]["rejected"] == [roi]
    b = pd.read_csv(out / "rois.csv")
    assert not bool(b[(b["recording"] == "cellA") & (b["roi"] == roi)]["accepted"].iloc[0])


def test_real_key_presses_reach_the_review(make_napari_viewer, qtbot, out):
    viewer = make_napari_viewer(show=True)
    w = _open_review(viewer, out / "cellB")
    roi = w.current_roi
    viewer.layers.selection.active = w.layer
    canvas = viewer.window._qt_viewer.canvas._scene_canvas.native
    canvas.setFocus()
    qtbot.keyClick(canvas, "r")
    assert not w.session.is_accepted(roi)
    qtbot.keyClick(canvas, "a")
    assert w.session.is_accepted(roi)
    qtbot.keyClick(canvas, ".")
    assert w.current_roi == w.session.step(roi, 1)


def test_painted_roi_is_measured_and_saved(make_napari_viewer, qtbot, out, data):
    viewer = make_napari_viewer()
    w = _open_review(viewer, out / "cellA")
    layer = w.layer
    syn = data.fura["cellA"]
    truth = syn.kinetics.set_index("roi")
    cell = int(truth.index[truth["responder"].astype(bool)][-1])
    mask = syn.labels == cell
    old_id = int(np.bincount(layer.data[mask]).argmax())
    # erase the found ROI and paint the true cell back under a new id, with the layer's tools
    w.new_roi()
    new_id = int(layer.selected_label)
    assert layer.mode == "paint" and new_id == int(layer.data.max()) + 1
    layer.fill(tuple(np.argwhere(layer.data == old_id)[0]), 0)
    layer.data_setitem(np.nonzero(mask), new_id)
    qtbot.waitUntil(lambda: w.busy, timeout=5000)
    qtbot.waitUntil(lambda: not w.busy, timeout=60000)
    s = w.session
    assert new_id in set(s.roi_ids) and old_id not in set(s.roi_ids), w.status.text()
    assert w.current_roi == new_id
    assert new_id in set(s.result.kinetics["roi"])
    folder = w.save()
    back = caimg.load_result(folder)
    r = back.rois.set_index("roi")
    assert r.loc[new_id, "source"] == "edited"
    k = back.kinetics.set_index("roi")
    assert bool(k.loc[new_id, "responder"])
    true_amp = truth.loc[cell, "amplitude"]
    assert abs(k.loc[new_id, "amplitude"] - true_amp) / true_amp < 0.15


def test_next_recording_keeps_layout(make_napari_viewer, out):
    viewer = make_napari_viewer()
    w = _open_review(viewer, out / "cellA")
    n_layers, layer = len(viewer.layers), w.layer
    w.nav.next_rec.click()  # the button, wired to step_recording(1)
    assert w.session.result.name == "cellB"
    assert len(viewer.layers) == n_layers and w.layer is layer
    np.testing.assert_array_equal(layer.data, caimg.load_result(out / "cellB").labels)
    assert "cellB" in viewer.layers[0].name
    w.step_recording(1)
    assert w.session.result.name == "cellA"

"""The Run widget and the sample data, in a viewer (headless under Xvfb)."""

import pytest

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from caimg.config import SegmentConfig  # noqa: E402
from caimg.napari_plugin._widgets import RunWidget  # noqa: E402

pytestmark = pytest.mark.napari


def test_sample_data_menu(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("caimg", "fluo4")
    assert len(viewer.layers) == 1
    assert viewer.layers[0].metadata["caimg"]["channel"] == "f"


def test_run_widget_produces_layers(make_napari_viewer, qtbot, data, tmp_path):
    viewer = make_napari_viewer()
    viewer.open(str(data.other / "fluo.tif"), plugin="caimg")
    w = RunWidget(viewer)
    viewer.window.add_dock_widget(w)
    assert w.stack.value == "fluo"
    w.recipe.value = "fluo4"
    w.stimulus.value = "12"
    w.out.value = str(tmp_path / "res")
    w.run()
    assert w.busy
    qtbot.waitUntil(lambda: not w.busy, timeout=60000)
    assert "failed" not in w.status.value, w.status.value
    kinds = [lyr.metadata.get("caimg", {}).get("kind") for lyr in viewer.layers]
    assert kinds == ["channel", "projection", "rois"]
    roi_layer = viewer.layers[-1]
    from caimg.metrics import match_labels

    assert match_labels(data.fluo.labels, roi_layer.data, iou_threshold=0.5).f1 >= 0.9
    assert (tmp_path / "res" / "fluo" / "run.json").is_file()
    # the review widget picks up the fresh result and measures alternating files too
    _dock, review = viewer.window.add_plugin_dock_widget("caimg", "Review ROIs")
    assert review.layer is roi_layer and review.session.result.name == "fluo"


def test_run_widget_alternating_layout(make_napari_viewer, qtbot, data):
    viewer = make_napari_viewer()
    viewer.open(str(data.other / "alt.tif"), plugin="caimg")
    w = RunWidget(viewer)
    w.recipe.value = "fura2"
    w.layout_.value = "alternating"
    w.stimulus.value = "12"
    w.run()
    qtbot.waitUntil(lambda: not w.busy, timeout=60000)
    assert w.last_result is not None, w.status.value
    assert "ratio" in w.last_result.traces.columns
    assert w.last_result.provenance["layout"] == "alternating"


def test_run_widget_starts_at_the_recipe_defaults(make_napari_viewer, monkeypatch):
    from caimg.napari_plugin import _widgets

    viewer = make_napari_viewer()
    seg = SegmentConfig()
    w = RunWidget(viewer)
    assert (w.method.value, w.diameter.value, w.min_area.value) == (
        seg.method, seg.cell_diameter_px, seg.min_area_px)
    # the form follows the config's defaults, not a copy of them
    monkeypatch.setattr(_widgets, "SegmentConfig",
                        lambda: SegmentConfig(cell_diameter_px=17.5, min_area_px=33))
    w = RunWidget(viewer)
    assert w.overrides()["segment"] == {"method": seg.method, "cell_diameter_px": 17.5,
                                        "min_area_px": 33}

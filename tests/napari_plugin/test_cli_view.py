"""`caimg view PATH` opens napari with the review dock and the result's layers."""

import pytest

pytest.importorskip("napari")

import caimg  # noqa: E402
from caimg.cli import main  # noqa: E402
from caimg.synthetic import make_recording  # noqa: E402


def test_view_opens_result_with_review_dock(make_napari_viewer, monkeypatch, tmp_path):
    import napari

    syn = make_recording("fluo4", preset="easy", rng=21)
    caimg.run(syn.recording, pipeline="fluo4", stimulus_time_s=syn.stimulus_time_s, out=tmp_path)
    viewer = make_napari_viewer()
    monkeypatch.setattr(napari, "Viewer", lambda *a, **k: viewer)
    monkeypatch.setattr(napari, "run", lambda *a, **k: None)
    assert main(["view", str(tmp_path / syn.recording.name)]) == 0
    names = [layer.name for layer in viewer.layers]
    assert "ROIs" in names and "projection" in names
    docks = list(viewer.window.dock_widgets)
    assert any("Review ROIs" in d for d in docks), docks
    rois = viewer.layers["ROIs"]
    assert set(rois.features["label"]) == set(caimg.load_result(
        tmp_path / syn.recording.name).rois["roi"])

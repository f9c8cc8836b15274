"""A segmentation method from another package (``caimg.segmenters`` entry point) is used by
name from a recipe in a batch, beside a recording that brings its own mask (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from caimg.batch import run_batch
from caimg.io.result import load_result
from caimg.io.stack import write_recording
from caimg.synthetic import make_recording


@pytest.fixture
def plugin(tmp_path, install_segmenter_plugin):
    """An installed distribution (a dist-info on sys.path) adding the method 'squares'."""
    install_segmenter_plugin(tmp_path / "site", module="caimg_squares",
                             method="squares", function="squares", source='''
        import numpy as np

        def squares(structural, activity, *, cell_diameter_px, min_area_px, max_area_px,
                    size=10):
            out = np.zeros(structural.shape, dtype=np.int32)
            out[5:5 + size, 5:5 + size] = 1
            out[30:30 + size, 30:30 + size] = 2
            return out
    ''')


def test_plugin_method_by_name_in_a_batch_and_a_mask_beside_wins(plugin, tmp_path):
    d = tmp_path / "in"
    for name, seed in (("a", 1), ("b", 2)):
        syn = make_recording("fluo4", preset="easy", shape=(64, 64), n_frames=30, n_cells=6,
                             stimulus_time_s=5.0, rng=seed)
        write_recording(syn.recording.channels, d / f"{name}.tif", layout="single",
                        frame_interval_s=0.5)
    Image.fromarray(syn.labels.astype(np.uint16)).save(d / "b_cp_masks.png")
    s = run_batch(d, tmp_path / "out", "fluo4",
                  overrides={"stimulus_time_s": 5.0, "segment.method": "squares",
                             "segment.params": {"size": 12}})
    assert s.ok, s.failures
    by = {o.name: load_result(o.folder) for o in s.outcomes}
    expected = np.zeros((64, 64), np.int32)
    expected[5:17, 5:17] = 1
    expected[30:42, 30:42] = 2
    np.testing.assert_array_equal(by["a"].labels, expected)
    seg_a = by["a"].provenance["segment"]
    assert seg_a["method"] == "squares" and seg_a["params"] == {"size": 12}
    assert set(by["a"].rois["source"]) == {"auto"}
    np.testing.assert_array_equal(by["b"].labels, syn.labels)  # its own mask, not squares
    assert by["b"].provenance["segment"]["rois_from"] == "mask file beside the recording"

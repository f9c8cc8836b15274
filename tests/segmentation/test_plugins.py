"""Segmentation methods from other packages (entry points) and the optional Cellpose method."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from caimg.errors import ConfigError
from caimg.segmentation import available_methods, segment


@pytest.fixture
def plugin_dist(tmp_path, install_segmenter_plugin):
    """A fake installed distribution whose entry point adds the method 'myplugin'."""
    install_segmenter_plugin(tmp_path, module="my_caimg_plugin",
                             method="myplugin", function="one_square", source='''
        import numpy as np
        CALLS = []

        def one_square(structural, activity, *, cell_diameter_px, min_area_px, max_area_px,
                       size=10):
            CALLS.append({"shape": structural.shape, "size": size,
                          "diameter": cell_diameter_px})
            out = np.zeros(structural.shape, dtype=np.int32)
            out[5:5 + size, 5:5 + size] = 1
            return out
    ''')


def test_entry_point_plugin_is_listed_loaded_lazily_and_called(plugin_dist):
    assert "myplugin" in available_methods()
    assert "my_caimg_plugin" not in sys.modules  # listed without importing it
    img = np.random.default_rng(0).normal(100, 5, (40, 40))
    lab = segment(img, method="myplugin", cell_diameter_px=9.0, size=12,
                  estimate_diameter="never")
    mod = sys.modules["my_caimg_plugin"]
    assert mod.CALLS == [{"shape": (40, 40), "size": 12, "diameter": 9.0}]
    assert lab.max() == 1 and np.count_nonzero(lab) == 144
    with pytest.raises(ConfigError, match="unknown parameter 'sise'.*did you mean 'size'"):
        segment(img, method="myplugin", sise=3)


def test_without_the_plugin_the_name_is_unknown():
    with pytest.raises(ConfigError, match="unknown segmentation method 'myplugin'.*"
                                          "caimg.segmenters"):
        segment(np.zeros((16, 16)), method="myplugin")


def test_cellpose_without_model_path_refuses_and_never_downloads():
    img = np.random.default_rng(1).normal(100, 5, (32, 32))
    with pytest.raises(ConfigError) as e:
        segment(img, method="cellpose")
    msg = str(e.value)
    assert "segment.params.model" in msg and "never downloads" in msg


def test_cellpose_with_missing_model_file_refuses(tmp_path):
    img = np.zeros((32, 32))  # refused before any look at the image
    missing = tmp_path / "no_such_model"
    with pytest.raises(ConfigError, match="no_such_model.*found nothing there"):
        segment(img, method="cellpose", model=str(missing))
    with pytest.raises(ConfigError, match="found a folder there"):
        segment(img, method="cellpose", model=str(tmp_path))

from pathlib import Path

import numpy as np
import pytest
from skimage.draw import ellipse, polygon

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data():
    """../shared/data (real recordings from other groups), or skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root():
    return REPO


def _blob_labels(shape=(80, 100), n=25, seed=0):
    """Random ellipses and concave polygons, touching allowed, one id each (not consecutive)."""
    rng = np.random.default_rng(seed)
    lab = np.zeros(shape, np.int32)
    for i in range(n):
        r, c = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        if i % 3 == 0:  # an L-shaped / concave polygon
            pr = r + np.array([0, 0, 4, 4, 10, 10])
            pc = c + np.array([0, 9, 9, 3, 3, 0])
            rr, cc = polygon(pr, pc, shape)
        else:
            rr, cc = ellipse(r, c, rng.uniform(1.5, 7), rng.uniform(1.5, 7), shape=shape,
                             rotation=rng.uniform(0, np.pi))
        lab[rr, cc] = 3 * i + 2
    # make every label one 4-connected hole-free region (what segment() returns)
    from scipy import ndimage as ndi

    out = np.zeros_like(lab)
    for v in np.unique(lab)[1:]:
        cc, k = ndi.label(lab == v)
        if k == 0:
            continue
        m = cc == (np.argmax(np.bincount(cc.ravel())[1:]) + 1)
        out[ndi.binary_fill_holes(m) & (out == 0)] = v
    return out


@pytest.fixture
def make_blobs():
    """``make_blobs(shape=(80, 100), n=25, seed=0)``: a label image of random touching
    ellipses and concave polygons (ids not consecutive), each one 4-connected hole-free
    region as segment() returns; shared by the ROI measuring and ROI file tests."""
    return _blob_labels



@pytest.fixture
def install_segmenter_plugin(monkeypatch):
    """A function that fakes an installed distribution in a folder whose
    ``caimg.segmenters`` entry point adds ``method`` (``module:function``, ``module``
    written from ``source``); the method and the module are forgotten after the test.
    """
    import sys
    import textwrap

    import caimg.segmentation as seg

    added = []

    def install(folder, *, module, method, function, source):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{module}.py").write_text(textwrap.dedent(source))
        dist = folder / f"{module}-0.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: "
                                       f"{module.replace('_', '-')}\nVersion: 0.0\n")
        (dist / "entry_points.txt").write_text(f"[caimg.segmenters]\n"
                                               f"{method} = {module}:{function}\n")
        monkeypatch.syspath_prepend(str(folder))
        added.append((method, module))

    yield install
    for method, module in added:
        seg._METHODS.pop(method, None)
        seg._PLUGINS.pop(method, None)
        sys.modules.pop(module, None)

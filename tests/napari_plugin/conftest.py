"""Fixtures of the napari plugin tests, chained: ``data`` (stacks in every layout and a
two-recording batch, made once) -> ``out`` (a private copy of the batch output per test).

The tests run headless under Xvfb (``pytest -p xvfb``) with napari's ``make_napari_viewer``
fixture and pytest-qt's ``qtbot``.
"""

import shutil
from types import SimpleNamespace

import pytest

import caimg
from caimg.io.stack import write_recording
from caimg.synthetic import make_recording


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    """Small synthetic Fura-2 / Fluo-4 stacks in every layout, and a two-recording batch."""
    root = tmp_path_factory.mktemp("napari")
    stacks = root / "stacks"
    stacks.mkdir()
    kw = dict(preset="easy", shape=(80, 80), n_frames=80, n_cells=6, stimulus_time_s=12.0)
    fura = {n: make_recording("fura2", rng=20 + i, **kw) for i, n in enumerate(["cellA", "cellB"])}
    fluo = make_recording("fluo4", rng=30, **kw)
    write_recording(fura["cellA"].recording, stacks / "cellA.tif", layout="hyperstack")
    write_recording(fura["cellB"].recording, stacks / "cellB.tif", layout="hyperstack")
    other = root / "other"
    other.mkdir()
    write_recording(fura["cellA"].recording, other / "pairA", layout="pair")
    write_recording(fura["cellA"].recording, other / "alt.tif", layout="alternating")
    write_recording(fluo.recording, other / "fluo.tif", layout="single")
    out = root / "out"
    summary = caimg.run_batch(stacks, out, "fura2", overrides={"stimulus_time_s": 12.0})
    assert summary.ok, summary.failures
    return SimpleNamespace(root=root, stacks=stacks, other=other, out=out, fura=fura, fluo=fluo)


@pytest.fixture
def out(data, tmp_path):
    """A copy of the batch output that a test may change (decisions, saves)."""
    dst = tmp_path / "out"
    shutil.copytree(data.out, dst)
    return dst

"""The manifest and the reader, as plain functions (no viewer)."""

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")

import caimg  # noqa: E402
from caimg.napari_plugin._reader import napari_get_reader  # noqa: E402

pytestmark = pytest.mark.napari


def test_manifest_loads_and_validates():
    from npe2 import PluginManager, PluginManifest
    from npe2.manifest.utils import import_python_name

    mf = PluginManifest.from_distribution("caimg")
    assert mf.name == "caimg"
    widgets = {w.display_name for w in mf.contributions.widgets}
    assert widgets == {"Review ROIs", "Run pipeline"}
    assert {s.key for s in mf.contributions.sample_data} == {"fura2", "fluo4"}
    assert mf.contributions.readers[0].accepts_directories
    pm = PluginManager.instance()
    pm.discover()
    assert pm.get_manifest("caimg").name == "caimg"
    for cmd in mf.contributions.commands:  # every python_name resolves
        assert callable(import_python_name(cmd.python_name)), cmd.python_name


def test_reader_declines_what_it_does_not_handle(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    assert napari_get_reader(str(tmp_path / "notes.txt")) is None
    assert napari_get_reader(str(tmp_path / "empty")) is None
    assert napari_get_reader(str(tmp_path / "missing.tif")) is None
    assert napari_get_reader([str(tmp_path / "notes.txt")] * 3) is None


def test_reader_never_raises_on_paths_it_cannot_look_at(tmp_path):
    # real cases: a name longer than the file system allows (stat raises ENAMETOOLONG), a
    # file named like a result folder, a broken symlink named like a stack, a symlink loop
    long_name = str(tmp_path / ("a" * 300))
    with pytest.raises(OSError):
        Path(long_name).is_dir()  # what the reader must absorb
    (tmp_path / "cell01").write_text("not a folder")
    os.symlink(tmp_path / "gone.tif", tmp_path / "dangling.tif")
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    for path in (long_name, long_name + ".tif", [long_name + ".tif"] * 2,
                 str(tmp_path / "cell01"), str(tmp_path / "cell01" / "run.json"),
                 str(tmp_path / "dangling.tif"), str(tmp_path / "loop")):
        assert napari_get_reader(path) is None, path


def test_reader_never_raises_on_a_folder_it_cannot_list(tmp_path, monkeypatch, data):
    # chmod 000 does not stop root, so listing is refused the way the OS would refuse it
    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    (tmp_path / "batch").mkdir()
    monkeypatch.setattr(Path, "iterdir", refuse)
    assert napari_get_reader(str(tmp_path / "batch")) is None
    # a result folder itself needs no listing and still opens
    assert napari_get_reader(str(data.out / "cellA")) is not None


def test_reader_opens_each_layout(data):
    def layers(path):
        reader = napari_get_reader(path)
        assert reader is not None, path
        return reader(path)

    hyper = layers(str(data.stacks / "cellA.tif"))
    assert [kw["metadata"]["caimg"]["channel"] for _, kw, _ in hyper] == ["f340", "f380"]
    assert [kw["colormap"] for _, kw, _ in hyper] == ["magenta", "green"]
    truth = np.asarray(data.fura["cellA"].recording.channels["f380"])
    np.testing.assert_array_equal(np.asarray(hyper[1][0][5]), truth[5])
    lo, hi = hyper[0][1]["contrast_limits"]
    assert lo < hi
    pair = layers([str(data.other / "pairA_340.tif"), str(data.other / "pairA_380.tif")])
    assert [kw["metadata"]["caimg"]["channel"] for _, kw, _ in pair] == ["f340", "f380"]
    np.testing.assert_array_equal(np.asarray(pair[1][0][5]), truth[5])
    single = layers(str(data.other / "fluo.tif"))
    assert len(single) == 1 and single[0][0].shape == (80, 80, 80)
    # alternating pages are not guessed (DESIGN: the user or recipe says so): one stack of
    # 2T pages, split by the run widget's layout = alternating
    alt = layers(str(data.other / "alt.tif"))
    assert alt[0][0].shape[0] == 160


def test_reader_opens_result_and_batch_folders(data):
    folder = data.out / "cellA"
    for path in (folder, folder / "run.json", folder / "rois.tif", data.out):
        got = napari_get_reader(str(path))(str(path))
        kinds = [kw["metadata"]["caimg"]["kind"] for _, kw, _ in got]
        assert kinds == ["channel", "channel", "projection", "rois"], path
    labels, kw, kind = got[-1]
    res = caimg.load_result(folder)
    assert kind == "labels"
    np.testing.assert_array_equal(labels, res.labels)
    feats = kw["features"]
    assert list(feats["index"]) == list(res.rois["roi"])
    k = res.kinetics.set_index("roi")
    np.testing.assert_allclose(feats.set_index("index")["amplitude"], k.loc[feats["index"],
                                                                             "amplitude"])

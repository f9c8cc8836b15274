"""Image sequences: numbered single-frame TIFFs of one folder are one recording."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from caimg.batch import run_batch
from caimg.errors import ConfigError, StackReadError
from caimg.io import find_recordings, read_recording, write_recording


def _write_sequence(folder, stem="cell_", n=12, shape=(16, 16), start=1, digits=4):
    folder.mkdir(parents=True, exist_ok=True)
    frames = np.random.default_rng(1).integers(100, 3000, (n, *shape)).astype(np.uint16)
    for i, frame in enumerate(frames):
        tifffile.imwrite(folder / f"{stem}{i + start:0{digits}d}.tif", frame)
    return frames


def test_folder_of_numbered_frames_is_one_recording(tmp_path):
    frames = _write_sequence(tmp_path / "seq")
    # a stack next to it stays its own recording
    write_recording({"f": frames[:3]}, tmp_path / "seq" / "other.tif", layout="single",
                    frame_interval_s=1.0)
    found = find_recordings(tmp_path)
    assert [(s.name, s.layout, len(s.paths)) for s in found] == \
        [("cell", "sequence", 12), ("other", "auto", 1)]
    rec = read_recording(found[0], frame_interval_s=0.5)
    assert rec.layout == "sequence" and rec.name == "cell" and rec.shape == (12, 16, 16)
    np.testing.assert_array_equal(np.asarray(rec.channels["f"]), frames)
    np.testing.assert_array_equal(rec.channels["f"][[3, 1]], frames[[3, 1]])
    assert len(rec.source) == 12
    assert rec.metadata["sequence_files"] == 12 and rec.metadata["axes"] == "TYX"


def test_frames_are_in_number_order_not_name_order(tmp_path):
    folder = tmp_path / "seq"
    folder.mkdir()
    frames = np.arange(11 * 4 * 4, dtype=np.uint16).reshape(11, 4, 4)
    for i, frame in enumerate(frames):  # img1 .. img11 without zero padding
        tifffile.imwrite(folder / f"img{i + 1}.tif", frame)
    src, = find_recordings(folder)
    rec = read_recording(src, frame_interval_s=1.0)
    np.testing.assert_array_equal(np.asarray(rec.channels["f"]), frames)


def test_numbered_stacks_are_not_a_sequence(tmp_path):
    for i in (1, 2, 3):
        write_recording({"f": np.ones((4, 5, 5), np.uint16)}, tmp_path / f"rec{i}.tif",
                        layout="single", frame_interval_s=1.0)
    assert [s.name for s in find_recordings(tmp_path)] == ["rec1", "rec2", "rec3"]


def test_sequence_pattern_is_configurable(tmp_path):
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(3):
        tifffile.imwrite(folder / f"t{i}_cam.tif", np.full((4, 4), i, np.uint16))
    # the default pattern needs the number at the end of the stem: three recordings
    assert len(find_recordings(folder)) == 3
    src, = find_recordings(folder, sequence_pattern=r"^t(?P<frame>\d+)_(?P<name>cam)$")
    assert (src.name, src.layout, len(src.paths)) == ("cam", "sequence", 3)
    with pytest.raises(ConfigError, match=r"sequence_pattern = 't.+' has no group named "
                                          r"'frame'; expected one that captures"):
        find_recordings(folder, sequence_pattern=r"t\d+")


def test_sequence_frame_of_another_shape_names_the_file(tmp_path):
    _write_sequence(tmp_path, n=4)
    tifffile.imwrite(tmp_path / "cell_0005.tif", np.zeros((8, 8), np.uint16))
    src, = find_recordings(tmp_path)
    rec = read_recording(src, frame_interval_s=1.0)
    with pytest.raises(StackReadError, match=r"cell_0005\.tif: frame 4 of the image sequence "
                                             r"is \(8, 8\) uint16; expected \(16, 16\) uint16"):
        np.asarray(rec.channels["f"])


def test_batch_runs_a_sequence_as_one_recording(tmp_path):
    from caimg.synthetic import make_recording

    syn = make_recording("fluo4", preset="easy", rng=0, n_frames=60, frame_interval_s=0.5,
                         stimulus_time_s=12.0)
    folder = tmp_path / "in" / "dish1"
    folder.mkdir(parents=True)
    for i, frame in enumerate(np.asarray(syn.recording.channels["f"])):
        tifffile.imwrite(folder / f"frame_{i:03d}.tif", frame)
    summary = run_batch(tmp_path / "in", tmp_path / "out", "fluo4",
                         overrides={"frame_interval_s": 0.5, "stimulus_time_s": 12.0})
    assert [(o.name, o.status, o.message) for o in summary.outcomes] == [("frame", "ok", None)]

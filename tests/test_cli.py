"""The CLI in-process through main(argv) and once as a subprocess."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from caimg.cli import main
from caimg.io.stack import write_recording
from caimg.result import KINETICS_COLUMNS, trace_columns
from caimg.synthetic import make_recording


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A folder with a Fura-2 hyperstack, a Fura-2 pair and a Fluo-4 stack."""
    d = tmp_path_factory.mktemp("data")
    fura = make_recording("fura2", preset="easy", rng=11)
    fluo = make_recording("fluo4", preset="easy", rng=12)
    dt, px = fura.recording.frame_interval_s, fura.recording.pixel_size_um
    write_recording(fura.recording.channels, d / "hyper.tif", layout="hyperstack",
                    frame_interval_s=dt, pixel_size_um=px)
    (d / "sub").mkdir()
    write_recording(fura.recording.channels, d / "sub" / "cellsA", layout="pair",
                    frame_interval_s=dt, pixel_size_um=px)
    write_recording(fluo.recording.channels, d / "fluo.tif", layout="single",
                    frame_interval_s=fluo.recording.frame_interval_s, pixel_size_um=px)
    return d, fura.stimulus_time_s


def test_run_folder_writes_contract(data_dir, tmp_path, capsys):
    d, stim = data_dir
    out = tmp_path / "out"
    code = main(["run", str(d), "--out", str(out), "--stimulus-time", str(stim)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "3 recording(s): 3 processed" in printed
    assert {p.name for p in out.iterdir() if p.is_dir()} == {"hyper", "cellsA", "fluo"}
    for name, indicator in (("hyper", "fura2"), ("cellsA", "fura2"), ("fluo", "fluo4")):
        folder = out / name
        assert list(pd.read_csv(folder / "kinetics.csv").columns) == list(KINETICS_COLUMNS)
        assert list(pd.read_csv(folder / "traces.csv").columns) == list(trace_columns(indicator))
        rois = pd.read_csv(folder / "rois.csv")
        for col in ("roi", "centroid_row", "centroid_col", "area_px", "mean_intensity",
                    "accepted", "source"):
            assert col in rois.columns
        prov = json.loads((folder / "run.json").read_text())
        assert prov["frame_interval_source"] == "imagej finterval"
        assert prov["config"]["kinetics"]["stimulus_time_s"] == stim
        assert (folder / "overview.png").stat().st_size > 1000
    batch = pd.read_csv(out / "kinetics.csv")
    assert batch.columns[0] == "recording"
    assert set(batch["recording"]) == {"hyper", "cellsA", "fluo"}
    assert len(pd.read_csv(out / "failures.csv")) == 0
    # a rerun skips the complete, unchanged results
    assert main(["run", str(d), "--out", str(out), "--stimulus-time", str(stim)]) == 0
    assert "3 unchanged (skipped)" in capsys.readouterr().out


def test_bad_recording_lands_in_failures(data_dir, tmp_path, capsys):
    d, stim = data_dir
    bad_dir = tmp_path / "in"
    bad_dir.mkdir()
    good = (d / "fluo.tif").read_bytes()
    (bad_dir / "good.tif").write_bytes(good)
    (bad_dir / "truncated.tif").write_bytes(good[: len(good) // 3])
    out = tmp_path / "out"
    code = main(["run", str(bad_dir), "--out", str(out), "--stimulus-time", str(stim)])
    assert code != 0
    failures = pd.read_csv(out / "failures.csv")
    assert list(failures["recording"]) == ["truncated"]
    assert "truncated.tif" in failures["message"][0]
    assert (out / "good" / "run.json").is_file()
    assert not (out / "truncated").exists()


def test_usage_errors_return_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["run", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--set", "kinetics.responder_kk=3"]) == 2
    assert "did you mean 'responder_k'" in capsys.readouterr().err


def test_help_explains_every_option(capsys):
    assert main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    for opt in ("--out", "--pipeline", "--frame-interval", "--stimulus-time", "--layout",
                "--rois", "--set", "--jobs", "--force"):
        assert opt in text


def test_info_prints_provenance(data_dir, tmp_path, capsys):
    d, stim = data_dir
    out = tmp_path / "out"
    assert main(["run", str(d / "fluo.tif"), "--out", str(out), "--stimulus-time", str(stim)]) == 0
    capsys.readouterr()
    assert main(["info", str(out / "fluo")]) == 0
    text = capsys.readouterr().out
    assert "imagej finterval" in text and "fluo4" in text


def test_subprocess_entry_point(data_dir, tmp_path):
    d, stim = data_dir
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "caimg.cli", "run", str(d / "fluo.tif"), "--out",
                           str(out), "--stimulus-time", str(stim)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (out / "fluo" / "run.json").is_file()
    help_proc = subprocess.run([sys.executable, "-m", "caimg.cli", "--help"], capture_output=True,
                               text=True, timeout=60)
    assert help_proc.returncode == 0 and "run" in help_proc.stdout


def test_background_roi_flag_uses_the_drawn_region(data_dir, tmp_path):
    import numpy as np
    import tifffile

    d, stim = data_dir
    shape = tifffile.imread(d / "fluo.tif", key=0).shape
    mask = np.zeros(shape, np.uint8)
    mask[:6, :6] = 1  # a corner with no cells
    tifffile.imwrite(tmp_path / "bg.tif", mask)
    out = tmp_path / "out"
    assert main(["run", str(d / "fluo.tif"), "--out", str(out), "--stimulus-time", str(stim),
                 "--background-roi", str(tmp_path / "bg.tif")]) == 0
    prov = json.loads((out / "fluo" / "run.json").read_text())
    assert prov["background"]["method"] == "roi" and prov["background"]["n_pixels"] == 36
    np.testing.assert_array_equal(tifffile.imread(out / "fluo" / "background.tif") > 0, mask > 0)


class _Stream:
    def __init__(self, tty):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_progress_is_a_live_bar_on_a_terminal_and_lines_otherwise():
    from caimg.batch import RecordingOutcome
    from caimg.cli import _progress_printer

    outcomes = [RecordingOutcome("a", ("a.tif",), "ok"),
                RecordingOutcome("b", ("b.tif",), "failed", error_type="StackReadError",
                                 message="b.tif: truncated"),
                RecordingOutcome("c", ("c.tif",), "skipped")]
    for tty in (True, False):
        stream = _Stream(tty)
        progress = _progress_printer(False, stream)
        for i, o in enumerate(outcomes, 1):
            progress(o, i, 3)
        assert "FAILED b" in stream.text or "failed  b" in stream.text
        assert "b.tif: truncated" in stream.text
        assert "remaining 0" in stream.text
        if tty:
            assert "\r" in stream.text and "[########################] 3/3" in stream.text
        else:
            assert "\r" not in stream.text and stream.text.count("\n") == 4

"""Issue 15: what a batch says on the terminal (warnings, -q/-v anywhere, python -m caimg),
TOML that loads back unchanged, and the thread budget of the workers."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from caimg.batch import WARNING_COLUMNS, run_batch, threads_per_job
from caimg.cli import main
from caimg.config import config_to_dict, load_pipeline
from caimg.io.stack import write_recording
from caimg.synthetic import make_recording

DT = 0.5
STIM = 12.0
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two small Fluo-4 recordings whose files say 0.5 s per frame; one has saturated
    pixels in a few frames."""
    d = tmp_path_factory.mktemp("warn_in")
    syn = make_recording("fluo4", preset="easy", shape=(64, 64), n_frames=60, n_cells=6,
                         stimulus_time_s=STIM, rng=5)
    fluo = syn.recording.channels["f"]
    write_recording({"f": fluo}, d / "plain.tif", layout="single", frame_interval_s=DT,
                    pixel_size_um=1.0)
    sat = fluo.copy()
    bright = sat[20:24] > np.percentile(sat[20:24], 97)
    sat[20:24][bright] = np.iinfo(np.uint16).max
    write_recording({"f": sat}, d / "saturated.tif", layout="single", frame_interval_s=DT,
                    pixel_size_um=1.0)
    return d


def _run(capsys, *args):
    code = main([*map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_override_warning_reaches_stderr_and_warnings_csv(folder, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "run", folder / "plain.tif", "--out", out,
                             "--frame-interval", 0.3, "--stimulus-time", STIM)
    assert code == 0, stdout + err
    # the progress line counts it, the summary names the recording and the file
    assert "plain [1 warning]" in err, err
    assert "1 warning in 1 recording(s)" in err and "warnings.csv" in err, err
    assert "MetadataWarning" in err and "-v prints them" in err
    table = pd.read_csv(out / "warnings.csv")
    assert tuple(table.columns) == WARNING_COLUMNS
    assert list(table["recording"]) == ["plain"]
    assert list(table["category"]) == ["MetadataWarning"]
    assert "0.5 s but 0.3 s was given" in table["message"][0]
    # the same warning as the result's run.json
    prov = json.loads((out / "plain" / "run.json").read_text())
    assert prov["warnings"] == [f"MetadataWarning: {table['message'][0]}"]
    # -v (after the subcommand) prints the message itself; a rerun that skips keeps it
    code, _, err = _run(capsys, "run", folder / "plain.tif", "--out", out, "--frame-interval",
                        0.3, "--stimulus-time", STIM, "-v")
    assert code == 0
    assert "skipped plain [1 warning]" in err and "0.5 s but 0.3 s was given" in err, err
    assert len(pd.read_csv(out / "warnings.csv")) == 1


def test_quiet_after_the_subcommand_keeps_only_errors(folder, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "run", folder / "plain.tif", "--out", out,
                             "--frame-interval", 0.3, "--stimulus-time", STIM, "-q")
    assert code == 0, stdout + err
    assert err == "" and stdout == "", stdout + err  # no progress, no table, no warnings
    assert len(pd.read_csv(out / "warnings.csv")) == 1  # still recorded
    # errors still reach the terminal under -q
    code, _, err = _run(capsys, "run", tmp_path / "missing.tif", "--out", tmp_path / "o2", "-q")
    assert code == 2 and "missing.tif" in err
    # and a recording that fails in a batch is named on stdout with its error
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.tif").write_bytes(b"II*\x00 not a tiff")
    code, stdout, err = _run(capsys, "run", bad, "--out", tmp_path / "o3", "-q")
    assert code == 1 and "FAILED broken" in stdout and "failures.csv" in stdout, stdout + err
    assert "processed" not in stdout


@pytest.mark.parametrize("argv", [["--version", "pipelines"], ["pipelines", "--version"],
                                  ["info", "x", "--version"]])
def test_version_before_or_after_the_subcommand(argv, capsys):
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("caimg ")


def test_verbose_before_and_after_combine_with_subcommand_options(capsys):
    from caimg.cli import build_parser

    args = build_parser().parse_args(["-q", "run", "x", "--out", "o", "-v", "--jobs", "2"])
    assert args.quiet and args.verbose == 1 and args.jobs == 2
    args = build_parser().parse_args(["run", "x", "--out", "o"])
    assert not args.quiet and args.verbose == 0 and not args.version


def test_saturation_warning_crosses_the_process_boundary(folder, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "run", folder, "--out", out, "--stimulus-time", STIM,
                             "--jobs", "2", "-v")
    assert code == 0, stdout + err
    assert "saturated [1 warning]" in err and "saturated in 4 of 60 frames" in err, err
    assert "plain [" not in err  # no warning there
    table = pd.read_csv(out / "warnings.csv")
    assert list(table["recording"]) == ["saturated"]
    assert list(table["category"]) == ["DataQualityWarning"]


def test_python_dash_m_caimg_help():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "caimg", "--help"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: caimg") and "run" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "caimg", "pipelines", "-q", "--version"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0 and proc.stdout.startswith("caimg "), proc.stderr


@pytest.mark.parametrize("name", ["fura2", "fluo4"])
def test_printed_recipe_is_toml_that_loads_back_unchanged(name, tmp_path, capsys):
    assert main(["pipelines", name]) == 0
    text = capsys.readouterr().out
    tomllib.loads(text)  # valid TOML
    mine = tmp_path / "my.toml"
    mine.write_text(text)
    assert load_pipeline(mine) == load_pipeline(name)
    assert config_to_dict(load_pipeline(mine)) == config_to_dict(load_pipeline(name))
    # --json keeps the old output
    assert main(["pipelines", name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == config_to_dict(load_pipeline(name))


def test_recipe_with_values_set_round_trips(tmp_path, capsys):
    """Values that are None by default, once set, and nested tables survive the trip."""
    from caimg.cli import _to_toml

    cfg = load_pipeline("fura2", overrides={"frame_interval_s": 0.25,
                                            "kinetics.treatments": {"ATP": 30.0},
                                            "segment.params": {"threshold_snr": 3.5},
                                            "signal.calibration.rmin": 0.3})
    path = tmp_path / "set.toml"
    path.write_text(_to_toml(config_to_dict(cfg)))
    assert load_pipeline(path) == cfg


def test_printed_recipe_runs(folder, tmp_path, capsys):
    mine = tmp_path / "my.toml"
    assert main(["pipelines", "fluo4"]) == 0
    mine.write_text(capsys.readouterr().out)
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "run", folder / "plain.tif", "--out", out, "--pipeline",
                             mine, "--stimulus-time", STIM)
    assert code == 0, stdout + err
    prov = json.loads((out / "plain" / "run.json").read_text())
    expected = config_to_dict(load_pipeline("fluo4", overrides={"stimulus_time_s": STIM}))
    assert prov["config"] == json.loads(json.dumps(expected))


def test_thread_budget_default_and_explicit(folder, tmp_path):
    from caimg.batch import available_cores

    assert threads_per_job(2, 3) == 3
    assert threads_per_job(2) == max(1, available_cores() // 2)
    assert threads_per_job(10 ** 6) == 1
    summary = run_batch(folder, tmp_path / "a", "fluo4", jobs=2, threads=1,
                        overrides={"stimulus_time_s": STIM})
    assert summary.ok and [o.threads for o in summary.outcomes] == [1, 1]
    summary = run_batch(folder, tmp_path / "b", "fluo4", jobs=2, threads=3, force=True,
                        overrides={"stimulus_time_s": STIM})
    assert summary.ok and [o.threads for o in summary.outcomes] == [3, 3]
    # the results do not depend on the threads (partial sums follow the machine)
    for name in ("plain", "saturated"):
        for f in ("traces.csv", "rois.csv", "projection.tif", "kinetics.csv", "rois.tif"):
            assert ((tmp_path / "a" / name / f).read_bytes()
                    == (tmp_path / "b" / name / f).read_bytes()), (name, f)


@pytest.mark.parametrize("budget", [1, 2])
def test_a_one_thread_budget_starts_no_helper_thread(folder, tmp_path, monkeypatch, budget):
    """The input's SHA-256 and overview.png run in threads of their own beside the
    pipeline, but only where the budget has a second thread: with one thread per recording
    (``--jobs`` equal to the cores) they would take a core from another worker."""
    import threading

    from caimg._stream import set_worker_count
    from caimg.pipeline import run

    started = []
    start = threading.Thread.start

    def spy(self):
        started.append(self.name)
        return start(self)

    monkeypatch.setattr(threading.Thread, "start", spy)
    set_worker_count(budget)
    try:
        res = run(folder / "plain.tif", "fluo4", out=tmp_path, stimulus_time_s=STIM)
    finally:
        set_worker_count(None)
    helpers = {n for n in started if n in ("caimg-fingerprint", "caimg-overview")}
    assert helpers == (set() if budget == 1 else {"caimg-fingerprint", "caimg-overview"})
    assert (res.folder / "overview.png").stat().st_size > 0
    assert json.loads((res.folder / "run.json").read_text())["inputs"][0]["sha256"]


def test_dask_worker_uses_the_threads_it_was_started_with(folder, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  dashboard_address=":0") as cluster:
        summary = run_batch(folder, tmp_path / "d", "fluo4", scheduler=cluster.scheduler_address,
                            overrides={"stimulus_time_s": STIM})
        assert summary.ok and [o.threads for o in summary.outcomes] == [2, 2]
        # the warnings come back from the worker process
        assert {o.name: len(o.warnings) for o in summary.outcomes} == {"plain": 0, "saturated": 1}
        summary = run_batch(folder, tmp_path / "e", "fluo4", scheduler=cluster.scheduler_address,
                            threads=1, overrides={"stimulus_time_s": STIM})
        assert summary.ok and [o.threads for o in summary.outcomes] == [1, 1]


def test_bad_threads_is_a_usage_error(folder, tmp_path, capsys):
    code, _, err = _run(capsys, "run", folder, "--out", tmp_path / "o", "--threads", 0)
    assert code == 2 and "--threads 0" in err


def test_calibration_profile_is_written_at_full_precision(tmp_path, monkeypatch, capsys):
    """The profile `caimg calibrate` writes loads back to exactly the numbers computed."""
    from test_calibrate import _calibration_stack

    import caimg.signals

    exact = {"rmin": 0.30000000000000004, "rmax": 6.123456789012345, "beta": 5.98765432101,
             "kd_nM": 224.0}

    def fake(*args, **kwargs):
        per = {k: np.array([exact[k]] * 3) for k in ("rmin", "rmax", "beta")}
        return {**exact, "keff_nM": exact["kd_nM"] * exact["beta"], "per_roi": per}

    monkeypatch.setattr(caimg.signals, "insitu_calibration", fake)
    stack = _calibration_stack(tmp_path / "calib.tif")
    prof = tmp_path / "profile.toml"
    assert main(["calibrate", str(stack), "--free", "2", "18", "--saturated", "42", "58",
                 "--out", str(prof)]) == 0
    capsys.readouterr()
    assert tomllib.loads(prof.read_text()) == {"enabled": True, **exact}
    cal = load_pipeline("fura2", overrides={"calibration_profile": str(prof)}).signal.calibration
    assert (cal.enabled, cal.rmin, cal.rmax, cal.beta) == (True, exact["rmin"], exact["rmax"],
                                                           exact["beta"])


def test_kernel_cache_cold_in_an_empty_cache_folder(tmp_path):
    code = "from caimg._warmup import kernel_cache_is_cold as c; print(c())"
    env = {**os.environ, "PYTHONPATH": str(REPO), "NUMBA_CACHE_DIR": str(tmp_path / "nc")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.stdout.strip() == "True", proc.stderr
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**env, "CAIMG_NO_NUMBA": "1"})
    assert proc.stdout.strip() == "False", proc.stderr


def test_run_says_when_it_compiles(folder, tmp_path, capsys, monkeypatch):
    import caimg._warmup

    monkeypatch.setattr(caimg._warmup, "kernel_cache_is_cold", lambda: True)
    code, _, err = _run(capsys, "run", folder / "plain.tif", "--out", tmp_path / "o",
                        "--stimulus-time", STIM)
    assert code == 0 and "compiling the numba kernels" in err and "once after install" in err
    monkeypatch.setattr(caimg._warmup, "kernel_cache_is_cold", lambda: False)
    code, _, err = _run(capsys, "run", folder / "plain.tif", "--out", tmp_path / "o2",
                        "--stimulus-time", STIM)
    assert code == 0 and "compiling" not in err


@pytest.mark.parametrize("tty", [True, False])
@pytest.mark.parametrize("verbose", [0, 1])
def test_progress_counts_warnings_and_verbose_prints_them(tty, verbose):
    from caimg.batch import RecordingOutcome
    from caimg.cli import _progress_printer

    class Stream:
        text = ""

        def isatty(self):
            return tty

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    stream = Stream()
    progress = _progress_printer(False, stream, verbose=verbose)
    progress(RecordingOutcome("a", ("a.tif",), "ok",
                              warnings=("MetadataWarning: a.tif: says 0.5 s",
                                        "DataQualityWarning: saturated")), 1, 2)
    progress(RecordingOutcome("b", ("b.tif",), "ok"), 2, 2)
    assert "a [2 warnings]" in stream.text and "b [" not in stream.text
    assert ("a.tif: says 0.5 s" in stream.text) == bool(verbose)
    assert ("DataQualityWarning: saturated" in stream.text) == bool(verbose)


def test_only_caimg_warnings_are_a_recordings(folder, tmp_path, monkeypatch):
    """A ResourceWarning of some unrelated object collected during the run, or a library's
    DeprecationWarning, is not the recording's: not in run.json or warnings.csv."""
    import warnings

    import caimg.pipeline

    real = caimg.pipeline.versions

    def noisy():
        warnings.warn("unclosed file <somebody else's>", ResourceWarning, stacklevel=2)
        warnings.warn("old API", DeprecationWarning, stacklevel=2)
        return real()

    monkeypatch.setattr(caimg.pipeline, "versions", noisy)
    summary = run_batch(folder / "plain.tif", tmp_path / "o", "fluo4",
                        overrides={"stimulus_time_s": STIM, "frame_interval_s": 0.3})
    assert summary.ok
    prov = json.loads((tmp_path / "o" / "plain" / "run.json").read_text())
    assert len(prov["warnings"]) == 1 and prov["warnings"][0].startswith("MetadataWarning")
    assert list(pd.read_csv(tmp_path / "o" / "warnings.csv")["category"]) == ["MetadataWarning"]

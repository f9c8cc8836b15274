"""SIGKILL `caimg run` at several points: every folder in --out is a complete result or absent
(hidden temporaries may remain and are never taken for results); a rerun finishes the job
and its results equal those of an uninterrupted run."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import caimg
from caimg.cli import main
from caimg.io.result import RESULT_FILES, is_temporary_name
from caimg.io.stack import find_recordings, write_recording
from caimg.synthetic import make_recording

STIM = 12.0
N_RECORDINGS = 4


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("kill_in")
    for i in range(N_RECORDINGS):
        rec = make_recording("fluo4", preset="easy", shape=(64, 64), n_frames=60, n_cells=4,
                             stimulus_time_s=STIM, rng=20 + i).recording
        write_recording(rec.channels, d / f"rec{i}.tif", layout="single", frame_interval_s=0.5)
    return d


def _cmd(inputs, out):
    return [sys.executable, "-m", "caimg.cli", "-q", "run", str(inputs), "--out", str(out),
            "--stimulus-time", str(STIM)]


def _check_all_or_nothing(out: Path) -> set[str]:
    """Every visible folder is a complete, loadable result; returns their names."""
    complete = set()
    if not out.exists():
        return complete
    for entry in out.iterdir():
        if entry.name.startswith("."):
            assert is_temporary_name(entry.name) or entry.name.endswith((".tmp", ".lock")), \
                entry.name
            if entry.is_dir():
                with pytest.raises(caimg.errors.ResultError):
                    caimg.load_result(entry)
            continue
        if entry.is_dir():
            for f in RESULT_FILES:
                assert (entry / f).is_file(), (entry, f)
            json.loads((entry / "run.json").read_text())
            res = caimg.load_result(entry)
            assert len(res.traces) == res.n_rois * 60
            complete.add(entry.name)
    assert not find_recordings(out, on_error="report")  # nothing in out looks like an input
    return complete


def _run_and_kill(cmd, when, timeout=120.0):
    """Start the CLI and SIGKILL it when ``when()`` first holds; returns the exit code."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    try:
        while proc.poll() is None and time.monotonic() - t0 < timeout:
            if when(time.monotonic() - t0):
                proc.kill()  # SIGKILL: no cleanup of any kind runs
                break
            time.sleep(0.003)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    return proc.returncode


def _snapshot(folder):
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        rel = p.relative_to(folder)
        # recordings.csv says "skipped" where the rerun skipped: the only expected difference
        if p.is_file() and not any(x.startswith(".") for x in rel.parts) \
                and str(rel) != "recordings.csv":
            data = p.read_bytes()
            if p.name == "run.json":
                prov = json.loads(data)
                prov.pop("created"), prov.pop("timings_s")
                data = json.dumps(prov, sort_keys=True).encode()
            out[str(p.relative_to(folder))] = data
    return out


def test_sigkill_at_several_points_then_rerun(inputs, tmp_path):
    out = tmp_path / "out"
    cmd = _cmd(inputs, out)

    def partial_exists(_):
        return out.exists() and any(p.name.endswith(".partial") for p in out.iterdir())

    def n_results(n):
        return lambda _: out.exists() and sum(
            1 for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")) >= n

    seen_after = []
    # 1: while the first result folder is being written; 2: as soon as it is complete;
    # 3: 0.8 s after the start (imports, finding files); 4: while a later one is written;
    # 5: as soon as the third is complete
    for when in (partial_exists, n_results(1), lambda t: t > 0.8, partial_exists,
                 n_results(3)):
        code = _run_and_kill(cmd, when)
        seen_after.append((code, sorted(_check_all_or_nothing(out))))
    assert sum(code == -9 for code, _ in seen_after) >= 3, seen_after  # kills hit live runs
    assert len(seen_after[-1][1]) < N_RECORDINGS or seen_after[-1][0] != -9
    # the rerun finishes, skipping what is complete, and cleans stale temporaries
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    done = _check_all_or_nothing(out)
    assert done == {f"rec{i}" for i in range(N_RECORDINGS)}
    assert not [p.name for p in out.iterdir() if p.name.endswith((".partial", ".old"))]

    reference = tmp_path / "reference"
    assert main(["-q", "run", str(inputs), "--out", str(reference), "--stimulus-time",
                 str(STIM)]) == 0
    assert _snapshot(out) == _snapshot(reference)

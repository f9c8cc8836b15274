"""Ctrl-C (SIGINT) and SIGTERM stop a `caimg run --jobs 2` promptly: what is queued is
cancelled, no worker keeps running (or writing) after the parent is gone, no hidden
temporary folder is left, and a rerun completes. A worker also dies with a parent killed
by SIGKILL. Linux only (the worker processes are found in /proc)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from caimg.io.stack import write_recording
from caimg.synthetic import make_recording

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

STIM = 8.0
N_RECORDINGS = 8


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("sig_in")
    for i in range(N_RECORDINGS):
        rec = make_recording("fluo4", preset="easy", shape=(64, 64), n_frames=40, n_cells=4,
                             stimulus_time_s=STIM, rng=40 + i).recording
        write_recording(rec.channels, d / f"rec{i}.tif", layout="single", frame_interval_s=0.5)
    return d


def _cmd(inputs, out, *extra):
    return [sys.executable, "-m", "caimg.cli", "-q", "run", str(inputs), "--out", str(out),
            "--stimulus-time", str(STIM), *extra]


def _env():
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    kids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                kids.add(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _results(out: Path) -> set[str]:
    if not out.exists():
        return set()
    return {p.name for p in out.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / "run.json").is_file()}


def _start_and_signal(inputs, out, sig, timeout=300.0):
    """Start `caimg run --jobs 2`, send ``sig`` to the parent once the first result is
    complete; returns (exit code, worker pids seen, results at the signal)."""
    # stderr to a file, not a pipe: a worker left running would hold a pipe open forever
    err_file = out.parent / f"stderr-{int(sig)}.txt"
    with open(err_file, "w") as err:
        proc = subprocess.Popen(_cmd(inputs, out, "--jobs", "2"), env=_env(),
                                stdout=subprocess.DEVNULL, stderr=err)
    workers: set[int] = set()
    t0 = time.monotonic()
    try:
        while proc.poll() is None and time.monotonic() - t0 < timeout:
            workers |= _children(proc.pid)
            if _results(out):
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the batch ended before the signal: make it longer"
        at_signal = _results(out)
        workers |= _children(proc.pid)
        proc.send_signal(sig)
        # prompt: the parent does not finish the queued recordings (each takes seconds)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, workers, at_signal, err_file.read_text()


def _wait_gone(pids, timeout=30.0) -> set[int]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        left = {p for p in pids if _alive(p)}
        if not left:
            return left
        time.sleep(0.05)
    return {p for p in pids if _alive(p)}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_a_parallel_batch_and_the_rerun_completes(inputs, tmp_path, sig):
    out = tmp_path / "out"
    code, workers, _, err = _start_and_signal(inputs, out, sig)
    assert code == 128 + sig, err
    assert "Traceback" not in err, err
    assert workers, "no worker processes were seen"
    left = _wait_gone(workers)
    assert not left, f"workers still running after the parent exited: {left}"
    done = _results(out)
    # queued recordings were cancelled: at most the ones in flight finished meanwhile
    assert len(done) < N_RECORDINGS, done
    snapshot = {n: (out / n / "run.json").read_bytes() for n in done}
    time.sleep(0.5)  # nothing writes after the parent is gone
    assert _results(out) == done
    assert {n: (out / n / "run.json").read_bytes() for n in done} == snapshot
    assert not [p.name for p in out.iterdir() if p.name.endswith((".partial", ".old", ".tmp"))]
    # the rerun completes everything, skipping what is done
    rerun = [a for a in _cmd(inputs, out, "--jobs", "2") if a != "-q"]  # -q hides the counts
    proc = subprocess.run(rerun, env=_env(), capture_output=True,
                          text=True, timeout=600, check=False)  # workers gone: pipes safe
    assert proc.returncode == 0, proc.stderr
    assert _results(out) == {f"rec{i}" for i in range(N_RECORDINGS)}
    assert f"{len(done)} unchanged" in proc.stdout, proc.stdout


def test_workers_die_with_a_killed_parent(inputs, tmp_path):
    out = tmp_path / "out"
    code, workers, _, _ = _start_and_signal(inputs, out, signal.SIGKILL)
    assert code == -signal.SIGKILL and workers
    left = _wait_gone(workers)
    assert not left, f"workers outlived their SIGKILLed parent: {left}"
    done = _results(out)
    time.sleep(0.5)
    assert _results(out) == done  # nobody writes anymore
    assert len(done) < N_RECORDINGS
    for name in done:
        json.loads((out / name / "run.json").read_text())

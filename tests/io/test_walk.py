"""Folder walking survives symlink loops, unreadable folders, FIFOs and odd names: each
becomes a failures.csv row and the rest of the batch completes (issue 16)."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import caimg
from caimg.cli import main
from caimg.errors import StackReadError
from caimg.io import find_recordings, write_recording

REPO = Path(__file__).resolve().parents[2]


def _good(path):
    rng = np.random.default_rng(0)
    v = rng.integers(100, 200, (12, 16, 16)).astype(np.uint16)
    return write_recording({"f": v}, path, layout="single", frame_interval_s=0.5,
                           pixel_size_um=1.0)[0]


def _odd_folder(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    data = _good(d / "good.tif").read_bytes()
    (d / "sub").mkdir()
    os.symlink(".", d / "sub" / "loop")           # a folder loop
    os.symlink("b.tif", d / "a.tif")              # a file loop: a -> b -> a
    os.symlink("a.tif", d / "b.tif")
    os.symlink("gone.tif", d / "dangling.tif")
    os.mkfifo(d / "pipe.tif")                     # opening it would block forever
    with open(os.fsencode(d) + b"/caf\xe9.tif", "wb") as f:  # a Latin-1 byte, not UTF-8
        f.write(data)
    (d / "two\nlines.tif").write_bytes(data)
    return d


def test_find_recordings_reports_each_odd_path(tmp_path):
    d = _odd_folder(tmp_path / "in")
    found = {s.name: s for s in find_recordings(d, on_error="report")}
    assert found["good"].error is None
    expect = {"a": "symlink loop", "b": "symlink loop", "loop": "symlink loop",
              "dangling": "cannot be reached", "pipe": "FIFO",
              "caf\\xe9": "not UTF-8", "two\\nlines": "control characters (\\n)"}
    for name, needle in expect.items():
        assert name in found, sorted(found)
        assert needle in found[name].error, found[name].error
    assert len(found) == len(expect) + 1
    for s in found.values():  # every name and path can be written to a UTF-8 table
        s.name.encode("utf-8")
        str(s.paths[0]).encode("utf-8")
        assert s.name.isprintable()
    with pytest.raises(StackReadError, match="symlink loop|FIFO|not UTF-8|control"):
        find_recordings(d)


def test_batch_completes_with_a_row_per_odd_path(tmp_path, capsys):
    d = _odd_folder(tmp_path / "in")
    out = tmp_path / "out"
    code = main(["run", str(d), "--out", str(out), "-p", "fluo4", "--stimulus-time", "2"])
    printed = capsys.readouterr()
    assert code == 1, printed.out + printed.err
    rows = pd.read_csv(out / "failures.csv")
    assert set(rows.recording) == {"a", "b", "loop", "dangling", "pipe", "caf\\xe9",
                                   "two\\nlines"}
    assert set(rows.error_type) == {"StackReadError"}
    caimg.load_result(out / "good")


def test_fifo_given_by_name_is_a_row_and_never_opened(tmp_path):
    fifo = tmp_path / "pipe.tif"
    os.mkfifo(fifo)
    (src,) = find_recordings(fifo, on_error="report")
    assert "FIFO" in src.error


_AS_USER = """
import json, os, sys
from caimg.io import find_recordings
if os.geteuid() == 0:  # root reads any folder: drop to an unprivileged user first
    os.setgid(65534)
    os.setuid(65534)
print(json.dumps([[s.name, s.error] for s in find_recordings(sys.argv[1], on_error="report")]))
"""


def test_really_unreadable_folder_is_a_row(tmp_path):
    # a real permission-denied folder (not a patched os.scandir): as root, chmod 000 does
    # not deny, so the walk runs as user nobody in a subprocess
    base = Path(tempfile.mkdtemp(prefix="caimg_walk_"))
    try:
        os.chmod(base, 0o755)
        d = base / "in"
        _good(d / "a.tif")
        _good(d / "locked" / "b.tif")
        os.chmod(d, 0o755)
        os.chmod(d / "a.tif", 0o644)
        os.chmod(d / "locked", 0)
        proc = subprocess.run([sys.executable, "-c", _AS_USER, str(d)], check=False,
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.returncode == 0, proc.stderr
        found = dict(json.loads(proc.stdout))
        assert found["a"] is None
        assert "locked: folder cannot be read (Permission denied)" in found["locked"]
        assert "b" not in found
    finally:
        os.chmod(base / "in" / "locked", 0o755)
        import shutil
        shutil.rmtree(base)


def test_very_deep_folder_is_walked():
    # os.walk recursed once per level: 1100 nested folders raised RecursionError. Not under
    # pytest's tmp_path: its recursive clean-up would hit the limit if the tree were left.
    tmp_path = Path(tempfile.mkdtemp(prefix="caimg_deep_"))
    here = tmp_path / "deep"
    here.mkdir()
    cwd = os.getcwd()
    try:
        os.chdir(here)
        for _ in range(1100):  # relative steps: the full path is ~2 200 characters
            os.mkdir("d")
            os.chdir("d")
        _good(Path(os.getcwd()) / "x.tif")
    finally:
        os.chdir(cwd)
    try:
        (src,) = find_recordings(tmp_path / "deep", on_error="report")
        assert src.name == "x" and src.error is None
        assert len(src.paths[0].relative_to(tmp_path / "deep").parts) == 1101
    finally:  # bottom-up, in relative steps (a recursive rmtree would hit the same limit)
        try:
            os.chdir(here)
            depth = 0
            while os.path.isdir("d"):
                os.chdir("d")
                depth += 1
            for name in os.listdir("."):
                os.remove(name)
            for _ in range(depth):
                os.chdir("..")
                os.rmdir("d")
        finally:
            os.chdir(cwd)
            os.rmdir(here)
            os.rmdir(tmp_path)

"""Issue 16, outputs and batches: a result is never replaced by another input of the same
name, reviewed results only with --force, batch tables are the union of --out (rebuilt
under a lock), a full disk leaves the previous tables, and odd --out folders, a recording
named like a batch table and tables re-saved as UTF-16 give messages, not tracebacks."""

import errno
import fcntl
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from caimg.batch import run_batch
from caimg.cli import main
from caimg.io.stack import write_recording
from caimg.synthetic import make_recording

STIM = 8.0
OV = {"stimulus_time_s": STIM}


def _write(path, seed):
    rec = make_recording("fluo4", preset="easy", shape=(64, 64), n_frames=40, n_cells=4,
                         stimulus_time_s=STIM, rng=seed).recording
    write_recording(rec.channels, path, layout="single", frame_interval_s=0.5)
    return path


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    """day1/cell.tif and day2/cell.tif: two different recordings of the same name, and
    other/x.tif, other/y.tif."""
    d = tmp_path_factory.mktemp("days")
    _write(d / "day1" / "cell.tif", 1)
    _write(d / "day2" / "cell.tif", 2)
    _write(d / "other" / "x.tif", 3)
    _write(d / "other" / "y.tif", 4)
    return d


def _run(capsys, *args):
    code = main([*map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _cli(capsys, inp, out, *extra):
    return _run(capsys, "run", inp, "--out", out, "--stimulus-time", STIM, *extra)


def _inputs_of(folder):
    return [i["path"] for i in json.loads((folder / "run.json").read_text())["inputs"]]


def _mark_reviewed(folder):
    prov = json.loads((folder / "run.json").read_text())
    prov["edits"] = [{"time": "2026-01-01T00:00:00", "tool": "caimg.review",
                      "actions": [{"action": "reject", "roi": 1}]}]
    (folder / "run.json").write_text(json.dumps(prov, indent=2) + "\n")


# --- 1: data lost -------------------------------------------------------------------------

def test_result_of_another_input_with_the_same_name_is_not_replaced(days, tmp_path, capsys):
    out = tmp_path / "out"
    assert _cli(capsys, days / "day1" / "cell.tif", out)[0] == 0
    _mark_reviewed(out / "cell")
    before = {p.name: p.read_bytes() for p in (out / "cell").iterdir()}

    code, stdout, err = _cli(capsys, days / "day2" / "cell.tif", out)
    assert code == 1, stdout + err
    assert "Traceback" not in err
    assert {p.name: p.read_bytes() for p in (out / "cell").iterdir()} == before  # untouched
    fail = pd.read_csv(out / "failures.csv")
    assert len(fail) == 1 and fail.loc[0, "error_type"] == "ResultError"
    msg = fail.loc[0, "message"]
    assert str(days / "day1" / "cell.tif") in msg and str(days / "day2" / "cell.tif") in msg
    assert "--on-conflict rename" in msg
    # the earlier result is still in the batch tables (the union of --out)
    assert set(pd.read_csv(out / "kinetics.csv")["recording"]) == {"cell"}

    # with the option, it goes to a distinct folder; the reviewed one stays
    code, stdout, err = _cli(capsys, days / "day2" / "cell.tif", out, "--on-conflict", "rename")
    assert code == 0, stdout + err
    assert _inputs_of(out / "day2__cell") == [str((days / "day2" / "cell.tif").resolve())]
    assert {p.name: p.read_bytes() for p in (out / "cell").iterdir()} == before
    assert set(pd.read_csv(out / "kinetics.csv")["recording"]) == {"cell", "day2__cell"}
    assert len(pd.read_csv(out / "failures.csv")) == 0  # day2's failure now has a result
    warn = pd.read_csv(out / "warnings.csv")
    assert any("written as day2__cell" in m for m in warn["message"])
    # a rerun finds it again (skipped), and the first input still maps to "cell"
    for day, name in (("day1", "cell"), ("day2", "day2__cell")):
        summary = run_batch(days / day / "cell.tif", out, overrides=OV, on_conflict="rename")
        assert [(o.name, o.status) for o in summary.outcomes] == [(name, "skipped")]


def test_a_moved_input_is_still_the_same_input(days, tmp_path):
    out = tmp_path / "out"
    run_batch(days / "day1" / "cell.tif", out, overrides=OV)
    moved = tmp_path / "moved" / "cell.tif"
    moved.parent.mkdir()
    moved.write_bytes((days / "day1" / "cell.tif").read_bytes())
    summary = run_batch(moved, out, overrides=OV)  # same bytes: replaced, no conflict
    assert summary.ok and summary.outcomes[0].name == "cell"


def test_reviewed_result_is_not_redone_without_force(days, tmp_path, capsys):
    out = tmp_path / "out"
    x = days / "other" / "x.tif"
    assert _cli(capsys, x, out)[0] == 0
    _mark_reviewed(out / "x")
    reviewed = (out / "x" / "run.json").read_bytes()
    # unchanged: still skipped
    code, stdout, err = _cli(capsys, x, out)
    assert code == 0 and "1 unchanged" in stdout
    # another recipe would redo it: refused, the edits kept
    code, stdout, err = _cli(capsys, x, out, "--set", "kinetics.responder_k=4")
    assert code == 1, stdout + err
    assert (out / "x" / "run.json").read_bytes() == reviewed
    msg = pd.read_csv(out / "failures.csv").loc[0, "message"]
    assert "review edit" in msg and "--force" in msg
    code, stdout, err = _cli(capsys, x, out, "--set", "kinetics.responder_k=4", "--force")
    assert code == 0, stdout + err
    assert "edits" not in json.loads((out / "x" / "run.json").read_text())


# --- 2: batch tables are the union of --out ----------------------------------------------

def test_successive_runs_keep_every_recordings_rows(days, tmp_path, capsys):
    out = tmp_path / "out"
    bad = tmp_path / "bad" / "broken.tif"
    bad.parent.mkdir()
    bad.write_bytes(b"this is not a tiff file at all")
    assert _cli(capsys, days / "other" / "x.tif", out)[0] == 0
    assert _cli(capsys, bad, out)[0] == 1
    assert _cli(capsys, days / "other" / "y.tif", out)[0] == 0
    kin = pd.read_csv(out / "kinetics.csv")
    assert set(kin["recording"]) == {"x", "y"}
    assert set(pd.read_csv(out / "rois.csv")["recording"]) == {"x", "y"}
    recs = pd.read_csv(out / "recordings.csv").set_index("recording")
    assert recs.loc["x", "status"] == "earlier" and recs.loc["y", "status"] == "ok"
    assert recs.loc["broken", "status"] == "failed"
    # the failure of an earlier run is kept until that recording has a result
    fail = pd.read_csv(out / "failures.csv")
    assert list(fail["recording"]) == ["broken"]
    _write(bad, 5)
    assert _cli(capsys, bad, out)[0] == 0
    assert len(pd.read_csv(out / "failures.csv")) == 0
    assert set(pd.read_csv(out / "kinetics.csv")["recording"]) == {"x", "y", "broken"}


def test_a_bad_recipe_keeps_the_earlier_failures_of_other_recordings(days, tmp_path, capsys):
    out = tmp_path / "out"
    bad = tmp_path / "bad" / "broken.tif"
    bad.parent.mkdir()
    bad.write_bytes(b"this is not a tiff file at all")
    assert _cli(capsys, bad, out)[0] == 1
    code, stdout, err = _cli(capsys, days / "other", out, "--set", "segment.method=nonsense")
    assert code == 2, stdout + err
    fail = pd.read_csv(out / "failures.csv").set_index("recording")
    assert sorted(fail.index) == ["broken", "x", "y"]  # broken's row from the first run kept
    assert fail.loc["broken", "error_type"] != "ConfigError"
    assert set(fail.loc[["x", "y"], "error_type"]) == {"ConfigError"}


def test_concurrent_runs_into_one_folder_lose_no_rows(days, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [subprocess.Popen([sys.executable, "-m", "caimg.cli", "-q", "run",
                               str(days / "other" / name), "--out", str(out),
                               "--stimulus-time", str(STIM)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("x.tif", "y.tif")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert set(pd.read_csv(out / "kinetics.csv")["recording"]) == {"x", "y"}
    assert set(pd.read_csv(out / "recordings.csv")["recording"]) == {"x", "y"}


def test_table_rebuild_waits_for_the_lock(days, tmp_path):
    from caimg._batch_tables import LOCK_NAME, rebuild_tables

    out = tmp_path / "out"
    run_batch(days / "other" / "x.tif", out, overrides=OV)
    (out / "kinetics.csv").unlink()
    done = threading.Event()
    with open(out / LOCK_NAME, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # another run is writing the tables
        t = threading.Thread(target=lambda: (rebuild_tables(out, []), done.set()))
        t.start()
        t.join(1.0)
        assert not done.is_set() and not (out / "kinetics.csv").exists()
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    t.join(60)
    assert done.is_set() and set(pd.read_csv(out / "kinetics.csv")["recording"]) == {"x"}


def test_full_disk_while_a_result_is_written(days, tmp_path, capsys, monkeypatch):
    import caimg.io.result as io_result

    real = io_result.save_result

    def save_result(result, out_dir, **kw):
        if result.name == "y":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(out_dir) / "y"))
        return real(result, out_dir, **kw)

    monkeypatch.setattr(io_result, "save_result", save_result)
    out = tmp_path / "out"
    code, _, err = _cli(capsys, days / "other", out)
    assert code == 1 and "Traceback" not in err
    fail = pd.read_csv(out / "failures.csv")
    assert list(fail["recording"]) == ["y"] and fail.loc[0, "error_type"] == "OSError"
    assert "No space left on device" in fail.loc[0, "message"]
    assert "free some space and run again" in fail.loc[0, "message"]  # not "unexpected"
    assert set(pd.read_csv(out / "kinetics.csv")["recording"]) == {"x"}
    assert not [p for p in out.iterdir() if p.name.endswith(".partial")]


def test_full_disk_while_the_tables_are_written(days, tmp_path, capsys, monkeypatch):
    import caimg._batch_tables as tables
    import caimg.io.result as io_result

    out = tmp_path / "out"
    assert _cli(capsys, days / "other" / "x.tif", out)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    real = io_result.write_table
    calls = []

    def write_table(df, path):
        if Path(path).parent == out:  # a batch table, not a result folder's
            calls.append(path)
        if len(calls) == 3:  # the third table of the batch: the disk is full now
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(df, path)

    monkeypatch.setattr(io_result, "write_table", write_table)
    code, _, err = _cli(capsys, days / "other" / "y.tif", out)
    assert code == 2 and "Traceback" not in err
    assert "batch tables could not be written" in err and "No space left" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert (out / "y" / "run.json").is_file()  # the result itself is complete
    # os.replace failing half-way (e.g. EIO) leaves no temporary behind either
    monkeypatch.setattr(io_result, "write_table", real)
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith("failures.csv"):
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(tables.os, "replace", replace)
    assert _cli(capsys, days / "other" / "y.tif", out)[0] == 2
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.setattr(tables.os, "replace", real_replace)
    # the rerun accounts for everything
    assert _cli(capsys, days / "other" / "y.tif", out)[0] == 0
    assert set(pd.read_csv(out / "kinetics.csv")["recording"]) == {"x", "y"}


# --- 3: crashes ---------------------------------------------------------------------------

def test_out_is_an_existing_file_or_under_one(days, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    for out, expect in ((afile, "is an existing file"), (afile / "sub", "cannot be written")):
        code, stdout, err = _cli(capsys, days / "other" / "x.tif", out)
        assert code == 2, (out, stdout, err)
        assert "Traceback" not in err and expect in err and str(out) in err, err
    assert afile.read_text() == "not a folder"


def test_out_not_writable(days, tmp_path, capsys, monkeypatch):
    real_open = open
    out = tmp_path / "locked"

    def deny(path, *a, **kw):  # root ignores chmod: the permission error is simulated
        if str(path).startswith(str(out)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, *a, **kw)

    monkeypatch.setattr("builtins.open", deny)
    code, _, err = _cli(capsys, days / "other" / "x.tif", out)
    assert code == 2 and "Permission denied" in err and "--out" in err, err


def test_recording_named_like_a_batch_table(tmp_path, capsys):
    inp = tmp_path / "in"
    _write(inp / "kinetics.csv.tif", 6)
    _write(inp / "plain.tif", 7)
    out = tmp_path / "out"
    code, stdout, err = _cli(capsys, inp, out)
    assert code == 0, stdout + err
    assert (out / "kinetics.csv").is_file() and (out / "in__kinetics.csv" / "run.json").is_file()
    assert set(pd.read_csv(out / "kinetics.csv")["recording"]) == {"in__kinetics.csv", "plain"}
    code, stdout, err = _cli(capsys, inp, out)  # the rerun finds it again
    assert code == 0 and "2 unchanged" in stdout, stdout + err


def test_tables_resaved_as_utf16_then_rerun(days, tmp_path, capsys):
    out = tmp_path / "out"
    assert _cli(capsys, days / "other", out)[0] == 0
    for path in (out / "x" / "kinetics.csv", out / "kinetics.csv", out / "failures.csv",
                 out / "warnings.csv"):
        text = path.read_text()
        path.write_text(text, encoding="utf-16")  # as a spreadsheet "Unicode text" export
    code, stdout, err = _cli(capsys, days / "other", out)
    assert code == 0 and "Traceback" not in err, stdout + err
    assert "1 processed, 1 unchanged" in stdout  # x redone (not up to date), y skipped
    assert (out / "x" / "kinetics.csv").read_bytes()[:4] == b"roi,"
    assert set(pd.read_csv(out / "kinetics.csv")["recording"]) == {"x", "y"}


def test_stale_table_temporaries_are_removed(days, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = out / f".kinetics.csv.{dead}.tmp"  # a batch killed while writing its tables
    stale.write_text("half a table")
    live = out / f".rois.csv.{os.getppid()}.tmp"  # a running process's: left alone
    live.write_text("being written")
    assert run_batch(days / "other" / "x.tif", out, overrides=OV).ok
    assert not stale.exists() and live.exists()

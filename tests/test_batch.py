"""run_batch: inputs never written, skip-if-unchanged by hash, --force, identical reruns,
result folders never overwrite what is not theirs, stale temporaries, provenance."""

import hashlib
import json
import os
from pathlib import Path

import pytest

import caimg
from caimg.batch import run_batch
from caimg.cli import main
from caimg.errors import ResultError
from caimg.io.result import FORMAT_VERSION, clean_stale_temporaries, is_result_folder
from caimg.io.stack import find_recordings, write_recording
from caimg.synthetic import make_recording

STIM = 12.0
OV = {"stimulus_time_s": STIM}
VOLATILE = ("created", "timings_s")  # the only run.json fields allowed to differ


def _sha(p):
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def _rec(indicator, seed):
    return make_recording(indicator, preset="easy", shape=(64, 64), n_frames=60, n_cells=6,
                          stimulus_time_s=STIM, rng=seed).recording


@pytest.fixture
def inputs(tmp_path):
    d = tmp_path / "in"
    a = _rec("fluo4", 1)
    write_recording(a.channels, d / "a.tif", layout="single", frame_interval_s=0.5)
    b = _rec("fura2", 2)
    write_recording(b.channels, d / "sub" / "b", layout="pair", frame_interval_s=0.5)
    return d


def _snapshot(folder):
    """{relative path: bytes} of every file, run.json without its volatile fields."""
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            if p.name == "run.json":
                prov = json.loads(data)
                for k in VOLATILE:
                    prov.pop(k)
                data = json.dumps(prov, sort_keys=True).encode()
            out[str(p.relative_to(folder))] = data
    return out


def test_inputs_unchanged_and_reruns_identical(inputs, tmp_path):
    before = {p: (_sha(p), p.stat().st_mtime_ns) for p in inputs.rglob("*.tif")}
    s1 = run_batch(inputs, tmp_path / "o1", overrides=OV)
    s2 = run_batch(inputs, tmp_path / "o2", overrides=OV)
    assert s1.ok and s2.ok and [o.status for o in s1.outcomes] == ["ok", "ok"]
    after = {p: (_sha(p), p.stat().st_mtime_ns) for p in inputs.rglob("*.tif")}
    assert before == after and len(before) == 3
    snap1, snap2 = _snapshot(tmp_path / "o1"), _snapshot(tmp_path / "o2")
    assert "a/overview.png" in snap1 and "b/rois.zip" in snap1 and "kinetics.csv" in snap1
    assert snap1.keys() == snap2.keys()
    differ = [k for k in snap1 if snap1[k] != snap2[k]]
    assert differ == []


def test_provenance_and_info(inputs, tmp_path, capsys):
    run_batch(inputs, tmp_path / "o", overrides=OV)
    prov = json.loads((tmp_path / "o" / "b" / "run.json").read_text())
    for pkg in ("caimg", "numpy", "scipy", "scikit-image", "tifffile"):
        assert prov["versions"][pkg]
    assert prov["format_version"] == FORMAT_VERSION
    assert prov["config"]["indicator"] == "fura2"
    assert prov["config"]["kinetics"]["stimulus_time_s"] == STIM
    assert [Path(i["path"]).name for i in prov["inputs"]] == ["b_340.tif", "b_380.tif"]
    for i in prov["inputs"]:
        assert i["sha256"] == _sha(i["path"]) and i["size"] == Path(i["path"]).stat().st_size
        assert i["mtime"] == Path(i["path"]).stat().st_mtime
    assert prov["frame_interval_s"] == 0.5 and prov["frame_interval_source"] == "imagej finterval"
    assert prov["layout"] == "pair" and prov["channels"] == ["f340", "f380"]
    assert {"max_abs_shift_px", "median_abs_shift_px"} <= set(prov["motion"])
    assert prov["warnings"] == [] and {"register", "segment", "extract"} <= set(prov["timings_s"])
    assert len(prov["request_key"]) == 64
    assert main(["info", str(tmp_path / "o" / "b")]) == 0
    text = capsys.readouterr().out
    assert "b_340.tif" in text and "imagej finterval" in text and "scikit-image" in text


def test_skip_if_unchanged_by_hash(inputs, tmp_path):
    out = tmp_path / "o"
    run_batch(inputs, out, overrides=OV)
    status = lambda s: {o.name: o.status for o in s.outcomes}  # noqa: E731
    assert status(run_batch(inputs, out, overrides=OV)) == {"a": "skipped", "b": "skipped"}
    # touched but identical: new mtime, same bytes -> still skipped (hash compared)
    a = inputs / "a.tif"
    st = a.stat()
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert status(run_batch(inputs, out, overrides=OV)) == {"a": "skipped", "b": "skipped"}
    # same size, one byte of pixel data changed -> redone
    b380 = inputs / "sub" / "b_380.tif"
    data = bytearray(b380.read_bytes())
    data[-10] ^= 0x01
    size = len(data)
    b380.write_bytes(bytes(data))
    assert b380.stat().st_size == size
    assert status(run_batch(inputs, out, overrides=OV)) == {"a": "skipped", "b": "ok"}
    # a different recipe value -> redone; --force -> everything redone
    assert status(run_batch(inputs, out, overrides={**OV, "kinetics.responder_k": 4})) == \
        {"a": "ok", "b": "ok"}
    assert status(run_batch(inputs, out, overrides={**OV, "kinetics.responder_k": 4},
                            force=True)) == {"a": "ok", "b": "ok"}


def test_edited_recipe_file_and_roi_file_are_noticed(inputs, tmp_path):
    recipe = tmp_path / "mine.toml"
    recipe.write_text('indicator = "fluo4"\n[kinetics]\nresponder_k = 5.0\n')
    out = tmp_path / "o"
    src = inputs / "a.tif"
    assert run_batch(src, out, recipe, overrides=OV).outcomes[0].status == "ok"
    assert run_batch(src, out, recipe, overrides=OV).outcomes[0].status == "skipped"
    recipe.write_text('indicator = "fluo4"\n[kinetics]\nresponder_k = 6.0\n')  # same path
    assert run_batch(src, out, recipe, overrides=OV).outcomes[0].status == "ok"


def test_other_format_version_and_foreign_folders_not_overwritten(inputs, tmp_path):
    out = tmp_path / "o"
    run_batch(inputs, out, overrides=OV)
    run_json = out / "a" / "run.json"
    prov = json.loads(run_json.read_text())
    prov["format_version"] = 0
    run_json.write_text(json.dumps(prov))
    (out / "b").rename(out / "b_moved")
    (out / "b").mkdir()
    (out / "b" / "notes.txt").write_text("my own notes")
    s = run_batch(inputs, out, overrides=OV, force=True)
    got = {o.name: o for o in s.outcomes}
    assert got["a"].status == "failed" and got["a"].error_type == "ResultError"
    assert "format version 0" in got["a"].message and "not overwritten" in got["a"].message
    assert got["b"].status == "failed" and "not a caimg result" in got["b"].message
    assert json.loads(run_json.read_text())["format_version"] == 0  # untouched
    assert (out / "b" / "notes.txt").read_text() == "my own notes"
    with pytest.raises(ResultError, match="format version 0"):
        caimg.load_result(out / "a")


def test_stale_temporaries_cleaned_and_moved_aside_result_restored(inputs, tmp_path):
    out = tmp_path / "o"
    run_batch(inputs, out, overrides=OV)
    dead_pid = 2 ** 22 + 12345  # above the default pid_max: no such process
    partial = out / f".a.{dead_pid}-0123abcd.partial"
    (out / "a").rename(partial)  # complete files, run.json and all, but a temporary name
    assert not is_result_folder(partial)
    with pytest.raises(ResultError, match="temporary folder"):
        caimg.load_result(partial)
    assert [s.name for s in find_recordings(out)] == []  # results and temporaries skipped
    old = out / f".b.{dead_pid}-89abcdef.old"
    (out / "b").rename(old)  # killed between moving the old result aside and renaming the new
    live = out / f".c.{os.getpid()}-00000000.partial"
    live.mkdir()  # a temporary of a running process is left alone
    done = clean_stale_temporaries(out)
    assert sorted(done) == [f"removed {partial.name}", f"restored b from {old.name}"]
    assert not partial.exists() and live.exists() and is_result_folder(out / "b")
    s = run_batch(inputs, out, overrides=OV)
    assert {o.name: o.status for o in s.outcomes} == {"a": "ok", "b": "skipped"}


def test_interrupted_batch_removes_the_partial_folder_a_dead_worker_left(inputs, tmp_path,
                                                                        monkeypatch):
    """A worker stopped where its own cleanup could not run leaves its .partial folder;
    the parent removes it when the batch is interrupted (the CI once found one left)."""
    import caimg.batch as batch

    out = tmp_path / "o"
    dead_pid = 2 ** 22 + 12345  # above the default pid_max: no such process
    left = out / f".a.{dead_pid}-0123abcd.partial"

    def interrupted(tasks, **kw):
        left.mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "_run_tasks", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_batch(inputs, out, overrides=OV)
    assert out.is_dir() and not left.exists()


@pytest.mark.parametrize("overrides", [
    {"signal.calibration.enabled": True},             # no constants for any indicator
    {"background.method": "roi"},                      # no background.roi_file
    {"motion.channel": "green"},                       # a channel no indicator has
])
def test_bad_recipe_fails_once_for_the_batch(inputs, tmp_path, monkeypatch, overrides):
    """Cross-field rules are checked when the config is built: the batch raises before
    any recording is read or processed."""
    import caimg.pipeline

    def never(*args, **kwargs):
        raise AssertionError("a recording was processed")

    monkeypatch.setattr(caimg.pipeline, "process_recording", never)
    monkeypatch.setattr(caimg.pipeline, "read_for_pipeline", never)
    out = tmp_path / "o"
    with pytest.raises(caimg.ConfigError):
        run_batch(inputs, out, "auto", overrides={**OV, **overrides})
    assert not [p for p in out.iterdir() if p.is_dir()]   # no result folder
    failures = (out / "failures.csv").read_text()
    assert failures.count("ConfigError") == 2              # both recordings, one reason


def test_summaries_over_a_kinetics_table():
    import pandas as pd

    from caimg.batch import event_summary, responder_fraction

    kin = pd.DataFrame({"roi": [1, 1, 2, 3], "event": [1, 2, 0, 1],
                        "responder": [True, True, False, False]})
    s = event_summary(kin, 10.0)
    assert s["n_events"].tolist() == [2, 0, 0]
    assert s["event_frequency_hz"].tolist() == [0.2, 0.0, 0.0]
    assert responder_fraction(kin) == pytest.approx(1 / 3)
    with pytest.raises(caimg.CaimgError, match="duration_s"):
        event_summary(kin, 0.0)

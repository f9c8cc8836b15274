"""The Qt-free review model: decisions, label edits re-measured, save back, batch tables."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import caimg
from caimg.errors import ResultError, RoiError
from caimg.io.stack import write_recording
from caimg.metrics import match_labels
from caimg.review import (
    REVIEW_TABLE_COLUMNS,
    ReviewSession,
    find_recording,
    label_changes,
    labels_features,
    result_folders,
    review_table,
    update_batch_tables,
)
from caimg.synthetic import make_recording


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A batch of two small Fura-2 recordings on disk, run through caimg.run_batch."""
    root = tmp_path_factory.mktemp("review")
    data = root / "data"
    data.mkdir()
    syns = {}
    for i, name in enumerate(["cellA", "cellB"]):
        syn = make_recording("fura2", preset="easy", shape=(64, 64), n_frames=80, n_cells=6,
                             stimulus_time_s=12.0,
                             rng=10 + i)
        write_recording(syn.recording, data / f"{name}.tif", layout="hyperstack")
        syns[name] = syn
    out = root / "out"
    summary = caimg.run_batch(data, out, "fura2",
                              overrides={"stimulus_time_s": syns["cellA"].stimulus_time_s})
    assert summary.ok, summary.failures
    return root, syns


@pytest.fixture
def out(batch, tmp_path):
    root, _ = batch
    dst = tmp_path / "out"
    shutil.copytree(root / "out", dst)
    return dst


def test_label_changes_rules():
    a = np.zeros((6, 6), int)
    a[0:2, 0:2] = 1
    a[4:6, 4:6] = 2
    a[0:2, 4:6] = 3
    b = a.copy()
    b[2, 0] = 1          # grown
    b[4:6, 4:6] = 0      # erased
    b[3:5, 0:2] = 9      # new
    ch = label_changes(a, b)
    assert (ch.added, ch.removed, ch.changed) == ((9,), (2,), (1,))
    assert ch.edited == (1, 9)
    assert not label_changes(a, a.copy())
    with pytest.raises(RoiError, match="shape"):
        label_changes(a, b[:5])


def test_open_finds_recording_and_table(out, batch):
    _, syns = batch
    s = ReviewSession.open(out / "cellA")
    assert s.has_recording
    rec = s.recording
    np.testing.assert_array_equal(np.asarray(rec.channels["f340"]),
                                  np.asarray(syns["cellA"].recording.channels["f340"]))
    t = s.table()
    assert list(t.columns) == list(REVIEW_TABLE_COLUMNS)
    assert list(t["roi"]) == sorted(s.roi_ids)
    # the synthetic easy cells are all found and respond as simulated
    m = match_labels(syns["cellA"].labels, s.labels, iou_threshold=0.5)
    assert m.f1 >= 0.9
    feats = labels_features(s.result)
    assert (feats["index"] == feats["roi"]).all() and (feats["label"] == feats["roi"]).all()
    assert result_folders(out) == [out / "cellA", out / "cellB"]


def test_review_table_shows_the_flags_of_rois_csv(out):
    from caimg.review import review_table

    s = ReviewSession.open(out / "cellA")
    res = s.result
    rois = res.rois.copy()
    first, second = rois["roi"].iloc[0], rois["roi"].iloc[1]
    rois.loc[rois["roi"] == first, "saturated"] = True
    rois.loc[rois["roi"] == second, ["low_signal", "accepted", "reject_reason"]] = (
        True, False, "low signal")
    t = review_table(replace(res, rois=rois)).set_index("roi")
    assert t.loc[first, "saturated"] and not t.loc[first, "low_signal"]
    assert t.loc[second, "low_signal"] and t.loc[second, "reject_reason"] == "low signal"
    assert not t.loc[second, "accepted"]
    # a result folder written before the flags existed shows them as False
    old = review_table(replace(res, rois=rois.drop(columns=["saturated", "low_signal"])))
    assert not old["saturated"].any() and not old["low_signal"].any()


def test_trace_and_responses_match_tables(out):
    s = ReviewSession.open(out / "cellA")
    roi = int(s.table().sort_values("amplitude").iloc[-1]["roi"])
    time_s, ratio = s.trace(roi)
    time2, ids, values = s.result.trace_matrix("ratio")
    np.testing.assert_allclose(ratio, values[:, list(ids).index(roi)])
    np.testing.assert_allclose(time_s, time2)
    _, f380 = s.trace(roi, "f380")
    assert not np.allclose(f380, ratio)
    resp = s.responses(roi)
    row = s.result.kinetics.set_index("roi").loc[roi]
    assert resp[0].amplitude == pytest.approx(row["amplitude"], rel=1e-6)
    assert resp[0].t10_s < resp[0].t90_s <= resp[0].peak_time_s + 1e-9
    with pytest.raises(RoiError, match="trace column"):
        s.trace(roi, "nope")
    with pytest.raises(RoiError, match="not in"):
        s.trace(9999)


def test_reject_save_load_and_batch_tables(out):
    s = ReviewSession.open(out / "cellA")
    roi = int(s.roi_ids[1])
    n_kin_rows = len(s.result.kinetics)
    n_before = pd.read_csv(out / "recordings.csv").set_index("recording").loc["cellA",
                                                                              "n_accepted"]
    s.reject(roi)
    assert s.dirty and not s.is_accepted(roi)
    assert roi not in set(s.result.kinetics["roi"])
    assert len(s.result.kinetics) == n_kin_rows - 1
    assert [(e["action"], e["roi"]) for e in s.pending_edits] == [("reject", roi)]
    s.pending_edits.clear()  # a copy: the session's own record is untouched
    assert len(s.pending_edits) == 1
    folder = s.save()
    assert folder == out / "cellA" and not s.dirty and s.pending_edits == []
    back = caimg.load_result(folder)
    row = back.rois.set_index("roi").loc[roi]
    assert not bool(row["accepted"])
    assert roi not in set(back.kinetics["roi"])
    assert roi in set(back.traces["roi"])          # the trace stays
    prov = json.loads((folder / "run.json").read_text())
    assert prov["edits"][-1]["actions"][0]["action"] == "reject"
    assert prov["edits"][-1]["actions"][0]["roi"] == roi
    assert prov["edits"][-1]["rejected"] == [roi]
    assert prov["rois"]["n_accepted"] == len(back.rois) - 1
    # the batch tables of the parent see it, other recordings untouched
    brois = pd.read_csv(out / "rois.csv")
    bkin = pd.read_csv(out / "kinetics.csv")
    a = brois[brois["recording"] == "cellA"].set_index("roi")
    assert not bool(a.loc[roi, "accepted"])
    assert not ((bkin["recording"] == "cellA") & (bkin["roi"] == roi)).any()
    assert (bkin["recording"] == "cellB").sum() == len(caimg.load_result(out / "cellB").kinetics)
    assert list(brois["recording"].drop_duplicates()) == ["cellA", "cellB"]
    recs = pd.read_csv(out / "recordings.csv").set_index("recording")
    assert recs.loc["cellA", "n_accepted"] == n_before - 1 == back.kinetics["roi"].nunique()

    # accept again: kinetics measured again from the stored trace, identical to the run
    s2 = ReviewSession.open(folder)
    s2.accept(roi)
    ref = ReviewSession.open(out / "cellA").result  # still rejected on disk
    assert roi not in set(ref.kinetics["roi"])
    again = s2.result.kinetics.set_index("roi").loc[roi]
    s3 = ReviewSession.open(folder)
    resp = s3.responses(roi)[0]
    assert again["amplitude"] == pytest.approx(resp.amplitude, rel=1e-9)


def test_painted_roi_gets_trace_and_kinetics_after_save(out, batch):
    _, syns = batch
    syn = syns["cellA"]
    s = ReviewSession.open(out / "cellA")
    labels = s.labels.copy()
    # pick a true responding cell, erase the found ROI there and paint the true mask back
    # under a new id: the new ROI must measure what the simulation put there
    truth = syn.kinetics.set_index("roi")
    cell = int(truth.index[truth["responder"].astype(bool)][0])
    mask = syn.labels == cell
    old_id = int(np.bincount(labels[mask]).argmax())
    labels[labels == old_id] = 0
    new_id = int(labels.max()) + 1
    labels[mask] = new_id
    changes = s.set_labels(labels)
    assert new_id in changes.added and old_id in changes.removed
    folder = s.save()
    back = caimg.load_result(folder)
    r = back.rois.set_index("roi")
    assert r.loc[new_id, "source"] == "edited" and bool(r.loc[new_id, "accepted"])
    assert old_id not in r.index
    assert set(r.drop(new_id)["source"]) == {"auto"}
    k = back.kinetics.set_index("roi")
    assert new_id in k.index
    assert bool(k.loc[new_id, "responder"])
    true_amp = truth.loc[cell, "amplitude"]
    assert abs(k.loc[new_id, "amplitude"] - true_amp) / true_amp < 0.15
    time_s, ids, values = back.trace_matrix("ratio")
    np.testing.assert_allclose(values[:, list(ids).index(new_id)],
                               syn.signal[:, cell - 1], rtol=0.1)
    prov = json.loads((folder / "run.json").read_text())
    act = prov["edits"][-1]["actions"][0]
    assert act["action"] == "labels" and act["added"] == [new_id] and act["removed"] == [old_id]
    np.testing.assert_array_equal(back.labels, labels)
    bk = pd.read_csv(out / "kinetics.csv")
    assert ((bk["recording"] == "cellA") & (bk["roi"] == new_id)).any()


def test_decisions_survive_label_edit(out):
    s = ReviewSession.open(out / "cellB")
    ids = s.roi_ids
    s.reject(int(ids[0]))
    labels = s.labels.copy()
    rows, cols = np.nonzero(labels == ids[-1])
    labels[rows, np.clip(cols + 1, 0, labels.shape[1] - 1)] = ids[-1]  # grow the last ROI
    ch = s.set_labels(labels)
    assert ch.changed == (int(ids[-1]),)
    r = s.result.rois.set_index("roi")
    assert not bool(r.loc[int(ids[0]), "accepted"])
    assert r.loc[int(ids[-1]), "source"] == "edited"
    assert int(ids[0]) not in set(s.result.kinetics["roi"])


def test_missing_recording_is_a_clear_error(out, batch):
    root, _ = batch
    res = caimg.load_result(out / "cellA")
    prov = dict(res.provenance)
    prov["inputs"] = [{"path": str(root / "gone" / "nothere.tif")}]
    s = ReviewSession(res.replace(provenance=prov))
    assert not s.has_recording
    with pytest.raises(ResultError, match="nothere.tif"):
        find_recording(s.result)
    # decisions still work without the recording
    s.reject(int(s.roi_ids[0]))


def test_review_table_empty_and_steps():
    empty = review_table(caimg.Result(
        name="x", labels=np.zeros((4, 4), np.int32),
        rois=pd.DataFrame(columns=["roi", "accepted", "source", "area_px"]),
        traces=pd.DataFrame(), kinetics=pd.DataFrame(), config=caimg.load_pipeline("fluo4")))
    assert list(empty.columns) == list(REVIEW_TABLE_COLUMNS) and len(empty) == 0


def test_step_and_roi_at(out):
    s = ReviewSession.open(out / "cellA")
    ids = list(s.roi_ids)
    assert s.step(None) == ids[0]
    assert s.step(ids[0]) == ids[1]
    assert s.step(ids[0], -1) == ids[-1]
    r = s.result.rois.iloc[0]
    assert s.roi_at(r["centroid_row"], r["centroid_col"]) == int(r["roi"])
    assert s.roi_at(-5, 3) == 0


def test_update_batch_tables_without_batch(out, tmp_path):
    single = tmp_path / "single"
    shutil.copytree(out / "cellA", single / "cellA")
    assert update_batch_tables(single / "cellA") == []


def test_toggle_flips_the_decision(out):
    s = ReviewSession.open(out / "cellA")
    roi = int(s.roi_ids[0])
    assert s.is_accepted(roi)
    assert s.toggle(roi) is False and not s.is_accepted(roi)
    assert roi not in set(s.result.kinetics["roi"])
    assert s.toggle(roi) is True and s.is_accepted(roi)
    assert [e["action"] for e in s.pending_edits] == ["reject", "accept"]


def test_review_module_api():
    import caimg.review

    assert "kinetics_options" not in caimg.review.__all__  # used here, not its API
    for name in caimg.review.__all__:
        assert hasattr(caimg.review, name), name


def test_result_folders_skips_files_hidden_and_incomplete(tmp_path):
    for name in ("b", "a", ".tmp", "incomplete"):
        (tmp_path / name).mkdir()
    for name in ("a", "b", ".tmp"):
        (tmp_path / name / "run.json").write_text("{}")
    (tmp_path / "run.json").write_text("{}")
    assert result_folders(tmp_path) == [tmp_path / "a", tmp_path / "b"]
    assert result_folders(tmp_path / "run.json") == []
    assert result_folders(tmp_path / "missing") == []


def test_import_caimg_never_imports_napari_or_qt():
    import subprocess
    import sys

    code = ("import sys, caimg, caimg.review, caimg.pipeline, caimg.io.result; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'magicgui', 'vispy')); "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""

"""End to end on synthetic recordings with known masks, signals and kinetics."""

import numpy as np
import pandas as pd
import pytest

import caimg
from caimg.metrics import score_against_truth
from caimg.result import KINETICS_COLUMNS, trace_columns
from caimg.synthetic import make_recording

SEEDS = [0, 1, 2]


@pytest.mark.parametrize("indicator", ["fura2", "fluo4"])
def test_end_to_end_recovers_truth(indicator):
    f1s, rs, amps, taus, resp = [], [], [], [], []
    for seed in SEEDS:
        syn = make_recording(indicator, preset="moderate", rng=seed)
        res = caimg.run(syn.recording, pipeline=indicator, stimulus_time_s=syn.stimulus_time_s)
        s = score_against_truth(syn, res)
        f1s.append(s.match.f1)
        rs.extend(s.pearson_r), amps.extend(s.amplitude_error)
        taus.extend(s.decay_tau_error), resp.extend(s.responder_correct)
        assert list(res.kinetics.columns) == list(KINETICS_COLUMNS)
        assert list(res.traces.columns) == list(trace_columns(indicator))
    assert min(f1s) >= 0.9, f1s
    assert np.median(rs) >= 0.99, np.median(rs)
    assert np.mean(resp) >= 0.95, np.mean(resp)
    assert np.median(amps) <= 0.10, np.median(amps)
    assert np.median(taus) <= 0.10, np.median(taus)


def test_save_and_load_round_trip(tmp_path):
    syn = make_recording("fura2", preset="easy", rng=3)
    res = caimg.run(syn.recording, pipeline="fura2", stimulus_time_s=syn.stimulus_time_s,
                    out=tmp_path)
    folder = tmp_path / syn.recording.name
    assert res.folder == folder
    for name in ("rois.tif", "rois.zip", "rois.csv", "traces.csv", "kinetics.csv", "run.json",
                 "overview.png"):
        assert (folder / name).is_file(), name
    back = caimg.load_result(folder)
    np.testing.assert_array_equal(back.labels, res.labels)
    assert list(back.kinetics.columns) == list(KINETICS_COLUMNS)
    np.testing.assert_allclose(back.traces["ratio"], res.traces["ratio"], rtol=1e-8)
    assert back.config == res.config
    assert back.provenance["frame_interval_source"] == "synthetic"
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("fails", ["overview", "table"])
def test_failed_save_leaves_nothing(tmp_path, monkeypatch, fails):
    # overview.png renders in a thread beside the table writes: an error on either side
    # reaches the caller and no folder (complete or partial) is left behind
    import caimg.io.result as result_io
    import caimg.plotting

    syn = make_recording("fluo4", preset="easy", rng=6)
    res = caimg.run(syn.recording, pipeline="fluo4", stimulus_time_s=syn.stimulus_time_s)

    def boom(*args, **kwargs):
        raise OSError(f"disk full while writing the {fails}")

    if fails == "overview":
        monkeypatch.setattr(caimg.plotting, "save_overview", boom)
    else:
        monkeypatch.setattr(result_io, "write_table", boom)
    with pytest.raises(OSError, match=f"the {fails}"):
        result_io.save_result(res, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_given_labels_are_kept():
    syn = make_recording("fluo4", preset="easy", rng=4)
    labels = syn.labels * 10  # ids 10, 20, ...
    res = caimg.process_recording(syn.recording, caimg.load_pipeline("fluo4"), labels=labels)
    assert set(res.rois["roi"]) == set(np.unique(labels[labels > 0]))
    assert set(res.rois["source"]) == {"imported"}


def test_no_rois_gives_empty_tables_with_columns():
    syn = make_recording("fluo4", preset="easy", rng=5)
    with pytest.warns(caimg.errors.DataQualityWarning, match="0 ROIs"):  # issue 16
        res = caimg.process_recording(syn.recording, "fluo4",
                                      labels=np.zeros(syn.labels.shape, np.int32))
    assert res.n_rois == 0 and len(res.kinetics) == 0 and len(res.traces) == 0
    assert list(res.kinetics.columns) == list(KINETICS_COLUMNS)
    assert list(res.traces.columns) == list(trace_columns("fluo4"))


def test_wrong_pipeline_for_channels_is_a_clear_error():
    syn = make_recording("fluo4", preset="easy", rng=6)
    with pytest.raises(caimg.StackReadError, match="needs channels .*f340"):
        caimg.run(syn.recording, pipeline="fura2")


def test_stimulus_after_the_end_is_an_error():
    syn = make_recording("fluo4", preset="easy", rng=7)
    with pytest.raises(caimg.ConfigError, match="after the last frame"):
        caimg.run(syn.recording, pipeline="fluo4", stimulus_time_s=1e6)


def test_trace_matrix_reshape_equals_pivot():
    syn = make_recording("fluo4", preset="easy", rng=8)
    res = caimg.run(syn.recording, pipeline="fluo4", stimulus_time_s=syn.stimulus_time_s)
    fast = res.trace_matrix("dff")
    shuffled = res.replace(traces=res.traces.sample(frac=1.0, random_state=0))
    slow = shuffled.trace_matrix("dff")  # not in (roi, frame) order: the pivot path
    for a, b in zip(fast, slow, strict=False):
        np.testing.assert_array_equal(a, b)
    assert fast[2].shape == (syn.recording.n_frames, res.n_rois)


def test_saving_leaves_the_users_matplotlib_alone(tmp_path):
    # overview.png is drawn on a bare Figure: a notebook's pyplot backend and its open
    # figures are untouched by caimg.run(..., out=...)
    plt = pytest.importorskip("matplotlib.pyplot")
    old = plt.get_backend()
    plt.switch_backend("svg")
    try:
        fig = plt.figure()
        syn = make_recording("fluo4", preset="easy", rng=7)
        caimg.run(syn.recording, pipeline="fluo4", stimulus_time_s=syn.stimulus_time_s,
                  out=tmp_path)
        assert (tmp_path / syn.recording.name / "overview.png").is_file()
        assert plt.get_backend() == "svg"
        assert plt.fignum_exists(fig.number)
    finally:
        plt.close("all")
        plt.switch_backend(old)


def test_rois_section_changes_acceptance_and_lands_in_run_json(tmp_path):
    import json

    syn = make_recording("fluo4", preset="easy", rng=6, n_frames=40, n_cells=6)
    default = caimg.run(syn.recording, pipeline="fluo4")
    assert default.rois["accepted"].all()
    strict = caimg.run(syn.recording, pipeline="fluo4", out=tmp_path,
                       rois={"accept_min_area_px": 10_000})
    assert not strict.rois["accepted"].any()
    assert set(strict.rois["reject_reason"]) == {"small"}
    assert len(strict.kinetics) == 0 and strict.provenance["rois"]["n_accepted"] == 0
    # measurement is unchanged: only the accept call differs
    cols = ["roi", "area_px", "contrast", "snr"]
    pd.testing.assert_frame_equal(strict.rois[cols], default.rois[cols])
    run_json = json.loads((tmp_path / syn.recording.name / "run.json").read_text())
    assert run_json["config"]["rois"] == {"accept_min_area_px": 10_000,
                                          "max_aspect_ratio": 4.0, "min_contrast": 0.0,
                                          "min_snr_no_contrast": 5.0}

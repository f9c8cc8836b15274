"""Each pipeline stage alone (caimg._stages), the signal registry (caimg.indicators) with a
third indicator, and the run log."""

import warnings

import numpy as np
import pandas as pd
import pytest

import caimg
from caimg import _stages as st, indicators
from caimg.config import PipelineConfig, load_pipeline
from caimg.errors import ConfigError, StackReadError
from caimg.indicators import SignalOutput, get_indicator, register_indicator
from caimg.result import TRACE_COLUMNS, trace_columns
from caimg.synthetic import make_recording


@pytest.fixture(scope="module")
def fluo():
    syn = make_recording("fluo4", preset="easy", rng=4, n_frames=40, n_cells=6,
                         stimulus_time_s=12.0)
    return syn, load_pipeline("fluo4", overrides={"stimulus_time_s": 12.0})


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the indicator registry, so a test indicator does not leak."""
    monkeypatch.setattr(indicators, "_REGISTRY", dict(indicators._REGISTRY))


def test_run_log_keeps_classes_and_gives_the_old_strings():
    log = st.RunLog()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("a", UserWarning, stacklevel=2)
        warnings.warn("b", caimg.errors.DataQualityWarning, stacklevel=2)
        warnings.warn("a", UserWarning, stacklevel=2)
    log.warnings.extend(caught)
    assert [w.category for w in log.warnings] == [UserWarning, caimg.errors.DataQualityWarning,
                                                  UserWarning]
    assert log.warning_lines() == ["UserWarning: a", "DataQualityWarning: b"]
    with log.stage("x"):
        pass
    with log.stage("x"):
        pass
    assert set(log.timings_s) == {"x"} and log.timings_s["x"] >= 0


def test_check_inputs_alone(fluo):
    syn, cfg = fluo
    log = st.RunLog()
    t = st.check_inputs(syn.recording, cfg, log)
    assert t.shape == (syn.recording.n_frames,) and "check" in log.timings_s
    with pytest.raises(StackReadError, match=r"needs channels \['f340', 'f380'\]"):
        st.check_inputs(syn.recording, load_pipeline("fura2"), log)


def test_find_rois_background_extract_alone(fluo):
    syn, cfg = fluo
    rec, log = syn.recording, st.RunLog()
    labels, source = st.find_rois(rec, cfg, None, syn.labels * 3)
    assert source == "imported" and set(np.unique(labels)) == set(np.unique(syn.labels * 3))
    assert st.find_rois(rec, cfg, None, syn.labels, roi_source="edited")[1] == "edited"
    mask = st.background(rec, cfg, labels, log)
    assert log.info["background"]["method"] == cfg.background.method == "annulus"  # recipe
    assert log.info["background"]["n_pixels"] == int(mask.sum()) > 0
    raw = st.extract(rec, cfg, labels, np.zeros((rec.n_frames, 2)), mask)
    assert set(raw) == {"f"} and raw["f"].means.shape == (rec.n_frames, 6)


def test_signal_stage_uses_the_registry(fluo):
    syn, cfg = fluo
    rec, log = syn.recording, st.RunLog()
    raw = st.extract(rec, cfg, syn.labels, None, st.background(rec, cfg, syn.labels, log))
    t = rec.time_s()
    out = st.signal(cfg, raw, t, raw["f"].roi_ids, log)
    assert tuple(out.columns) == trace_columns("fluo4")[len(TRACE_COLUMNS):]
    assert out.signal is out.columns["dff"]
    assert log.info["signal"]["f0_mode"] == "prestim"
    assert log.info["signal"]["low_signal_rois"] == []  # bright synthetic cells
    assert get_indicator("fura2").signal_column == "ratio"
    with pytest.raises(ConfigError, match="did you mean 'fluo4'"):
        get_indicator("fluo5")


def test_score_and_measure_stages_alone(fluo):
    syn, cfg = fluo
    rec = syn.recording
    log = st.RunLog()
    reg = st.register_motion(rec, cfg, log)
    assert log.info["motion"]["channel"] == "f"
    raw = st.extract(rec, cfg, syn.labels, reg.shifts, None)
    ids = raw["f"].roi_ids
    sig = st.signal(cfg, raw, rec.time_s(), ids, log).signal
    rois = st.score_rois(rec, cfg, reg.summary, syn.labels, ids, "auto", sig, None,
                         roi_overrides={int(ids[0]): {"accepted": False}})
    assert not rois.loc[rois["roi"] == ids[0], "accepted"].item()
    kin, rois2, treat = st.measure(rec, cfg, sig, rec.time_s(), ids, rois)
    assert int(ids[0]) not in set(kin["roi"]) and treat is None
    assert len(kin) == int(rois["accepted"].astype(bool).sum())
    with pytest.raises(ConfigError, match="unknown column"):
        st.score_rois(rec, cfg, reg.summary, syn.labels, ids, "auto", sig, None,
                      roi_overrides={1: {"colour": "red"}})


def test_tidy_traces_alone():
    t = np.array([0.0, 0.5, 1.0])
    cols = {"a": np.arange(6.0).reshape(3, 2), "b": -np.arange(6.0).reshape(3, 2)}
    df = st.tidy_traces(np.array([7, 9]), t, cols)
    assert list(df.columns) == ["roi", "frame", "time_s", "a", "b"]
    assert df["roi"].tolist() == [7, 7, 7, 9, 9, 9]
    assert df["a"].tolist() == [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]


def test_a_third_indicator_is_one_function(registry, fluo):
    syn, _ = fluo

    @register_indicator("plain", channels=("f",), motion_channel="f", signal_column="df")
    def plain_signal(channels, time_s, roi_ids, config):
        f = channels["f"]
        df = f - f[:5].mean(axis=0)
        return SignalOutput(columns={"f": f, "df": df}, signal=df,
                            info={"baseline_frames": 5})

    cfg = PipelineConfig(indicator="plain")
    assert load_pipeline(cfg).indicator == "plain"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = caimg.process_recording(syn.recording, cfg)
    assert list(res.traces.columns) == ["roi", "frame", "time_s", "f", "df"]
    assert res.signal_column == "df"
    assert res.provenance["signal"]["baseline_frames"] == 5
    t, ids, df = res.trace_matrix()
    f = res.trace_matrix("f")[2]
    np.testing.assert_allclose(df, f - f[:5].mean(axis=0))
    assert len(res.kinetics) == int(res.rois["accepted"].sum())


def test_calibration_checked_strictly_per_recording(fluo):
    """Fura-2 constants pass for the Fluo-4 sibling of an "auto" recipe, but a Fluo-4
    recording cannot be calibrated with them."""
    syn, _ = fluo
    cfg = load_pipeline("fluo4", overrides={"signal.calibration": {"enabled": True, "rmin": 0.2,
                                                                   "rmax": 5.0, "beta": 8.0}})
    with pytest.raises(ConfigError, match="fmin, fmax"):
        caimg.process_recording(syn.recording, cfg)


def test_run_log_strings_in_run_json(fluo):
    syn, _ = fluo
    cfg = load_pipeline("fluo4", overrides={"stimulus_time_s": 2.0,
                                            "kinetics.baseline_window_s": 5.0})
    with pytest.warns(UserWarning, match="before the stimulus"):
        res = caimg.process_recording(syn.recording, cfg)
    assert any(w.startswith("UserWarning: ") and "before the stimulus" in w
               for w in res.provenance["warnings"])
    assert set(res.provenance["timings_s"]) >= {"check", "register", "segment", "extract",
                                                "signal", "rois", "kinetics", "tables"}
    assert isinstance(res.rois, pd.DataFrame)


def test_recording_errors_are_caimg_errors():
    from caimg.errors import CaimgError
    from caimg.recording import Recording

    with pytest.raises(CaimgError, match="no channel"):
        Recording({})
    with pytest.raises(CaimgError, match="shapes differ"):
        Recording({"f340": np.zeros((3, 4, 4)), "f380": np.zeros((3, 4, 5))})
    with pytest.raises(CaimgError, match=r"\(T, Y, X\)"):
        Recording({"f": np.zeros((4, 4))})
    with pytest.raises(CaimgError, match="frame interval is unknown"):
        Recording({"f": np.zeros((3, 4, 4))}).time_s()

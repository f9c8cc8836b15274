"""caimg.signal_quality and honest signals (issue 13): low-signal ROIs are flagged and not
reported as numbers; with no stimulus time, loading drift is not a response."""

import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi

from caimg.config import PipelineConfig, SignalConfig
from caimg.kinetics import measure_kinetics
from caimg.pipeline import process_recording, resolve_pipeline
from caimg.signal_quality import background_noise_sd, low_signal_flags
from caimg.synthetic import make_recording


def _run(syn, indicator, labels, **overrides):
    cfg = resolve_pipeline(indicator, syn.recording, overrides=overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return process_recording(syn.recording, cfg, labels=labels)


def test_low_signal_flags_and_background_noise():
    rng = np.random.default_rng(0)
    img = rng.normal(100.0, 4.0, (60, 60))
    assert background_noise_sd(img, np.ones_like(img, bool)) == pytest.approx(4.0, rel=0.1)
    f0 = np.array([[1.0, 7.0, 20.0, -3.0, np.nan]])
    assert low_signal_flags(f0, 4.0, k=1.5).tolist() == [True, False, False, True, True]
    assert low_signal_flags(f0, 4.0, k=0.0).tolist() == [False, False, False, True, True]
    assert low_signal_flags(f0, np.nan, k=1.5).tolist() == [False, False, False, True, True]


@pytest.mark.parametrize("indicator", ["fluo4", "fura2"])
def test_a_roi_on_background_is_flagged_rejected_and_nan(indicator):
    syn = make_recording(indicator, preset="moderate", rng=1, n_frames=40)
    labels = syn.labels.copy()
    # a ROI drawn on empty background far from every cell: F0 is about zero
    far = np.argwhere(ndi.distance_transform_edt(labels == 0) > 8)
    r, c = far[len(far) // 2]
    new_id = int(labels.max()) + 1
    labels[r - 2:r + 3, c - 2:c + 3] = new_id
    res = _run(syn, indicator, labels, stimulus_time_s=syn.stimulus_time_s)
    rois = res.rois.set_index("roi")
    assert bool(rois.loc[new_id, "low_signal"])
    assert not bool(rois.loc[new_id, "accepted"])
    assert "low signal" in rois.loc[new_id, "reject_reason"]
    assert rois["low_signal"].sum() == 1  # the real cells are not flagged
    sig_col = "dff" if indicator == "fluo4" else "ratio"
    tr = res.traces[res.traces["roi"] == new_id]
    assert tr[sig_col].isna().all()
    raw_col = "f" if indicator == "fluo4" else "f380"
    assert tr[raw_col].notna().all()  # the measured channel stays
    assert new_id not in set(res.kinetics["roi"])
    assert res.provenance["signal"]["low_signal_rois"] == [new_id]
    assert set(res.provenance["background"]["noise_sd"]) == set(syn.recording.channels)


def test_reviewer_may_accept_a_low_signal_roi_but_gets_no_numbers():
    syn = make_recording("fluo4", preset="moderate", rng=2, n_frames=40)
    labels = syn.labels.copy()
    labels[labels == 1] = 0  # the cell is gone: its ROI lies on background
    labels[syn.labels == 1] = 1
    cfg = resolve_pipeline("fluo4", syn.recording,
                           overrides={"stimulus_time_s": syn.stimulus_time_s,
                                      "signal.low_signal_k": 1e6})  # flag every ROI
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = process_recording(syn.recording, cfg, labels=labels,
                                roi_overrides={1: {"accepted": True}})
    assert res.rois["low_signal"].all()
    assert res.kinetics["roi"].tolist() == [1]
    assert not res.kinetics["responder"].any() and res.kinetics["amplitude"].isna().all()


def test_low_signal_k_is_a_recipe_setting():
    assert PipelineConfig().signal.low_signal_k == SignalConfig().low_signal_k == 1.5
    rec = make_recording("fluo4", preset="easy", rng=0, n_frames=8).recording
    assert resolve_pipeline("fluo4", rec, overrides={"signal.low_signal_k": 3.0}
                            ).signal.low_signal_k == 3.0
    with pytest.raises(ValueError, match="low_signal_k"):
        resolve_pipeline("fluo4", rec, overrides={"signal.low_signal_k": -1.0})
    with pytest.raises(ValueError, match="drift_window_s"):
        resolve_pipeline("fluo4", rec, overrides={"kinetics.drift_window_s": 0.0})


def _no_stimulus(indicator, seed, **knobs):
    knobs = {"spontaneous": True, "loading_drift": 0.5, "responder_fraction": 0.3, **knobs}
    return make_recording(indicator, preset="moderate", rng=seed, **knobs)


def test_generator_shows_loading_drift_and_spontaneous_events():
    syn = _no_stimulus("fluo4", 0)
    truth = syn.kinetics
    assert truth["responder"].sum() == round(0.3 * len(truth))
    peaks = truth.loc[truth["responder"], "peak_time_s"]
    assert peaks.max() - peaks.min() > 20.0  # spread over the recording, not after a stimulus
    assert truth["time_to_peak_s"].isna().all()
    # the non-responders' fluorescence rises by about 50 % (the loading drift)
    quiet = int(truth.loc[~truth["responder"], "roi"].iloc[0])

    def rise(s):
        f = s.recording.channels["f"].astype(float)
        trace = f[:, s.labels == quiet].mean(axis=1) - np.median(f[:, s.labels == 0], axis=1)
        return trace[-10:].mean() / trace[:10].mean()

    flat = _no_stimulus("fluo4", 0, loading_drift=0.0, bleach_per_frame=0.0)
    assert rise(flat) == pytest.approx(1.0, abs=0.05)
    assert rise(_no_stimulus("fluo4", 0, bleach_per_frame=0.0)) == pytest.approx(1.45, abs=0.08)
    # off by default: the presets render as before
    a = make_recording("fluo4", preset="easy", rng=3, n_frames=20)
    b = make_recording("fluo4", preset="easy", rng=3, n_frames=20, spontaneous=False,
                       loading_drift=0.0)
    assert np.array_equal(a.recording.channels["f"], b.recording.channels["f"])


@pytest.mark.parametrize("indicator,seed", [("fluo4", 0), ("fluo4", 1), ("fura2", 0)])
def test_no_stimulus_responders_and_event_times(indicator, seed):
    syn = _no_stimulus(indicator, seed)
    res = _run(syn, indicator, syn.labels)  # no stimulus time
    truth = syn.kinetics.set_index("roi")
    kin = res.kinetics.set_index("roi")
    call = kin["responder"].reindex(truth.index).fillna(False).astype(bool)
    assert (call == truth["responder"]).mean() >= 0.95
    both = truth["responder"] & call
    err = (kin.loc[both[both].index, "onset_s"] - truth.loc[both, "onset_s"]).abs()
    assert err.max() < 1.0  # events at the right times (frames every 0.5 s)
    if indicator == "fluo4":
        # the constant baseline of before calls the loading drift a response
        _, ids, d = res.trace_matrix("dff")
        old = measure_kinetics(d, res.trace_matrix("dff")[0], roi_ids=ids, drift_window_s=None)
        old_call = old.set_index("roi")["responder"].reindex(truth.index)
        assert (old_call == truth["responder"]).mean() < 0.8


def test_real_movies_report_no_impossible_dff(shared_data):
    """On the OptiNiSt 2P GCaMP movie (no stimulus) ROIs near the background gave dF/F0
    below -1 (a negative fluorescence) before; they are flagged now. The DynClust Fura-2
    glomerulus (F0 about 2 background SDs) keeps its numbers."""
    import tifffile

    import caimg
    from caimg.recording import Recording

    def run(path, n, dt, **kw):
        stack = np.ascontiguousarray(tifffile.imread(path)[:n])
        rec = Recording(channels={"f": stack}, frame_interval_s=dt, frame_interval_source="given",
                        pixel_size_um=None, source=(), layout="single", name=path.stem,
                        metadata={})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return caimg.run(rec, pipeline="fluo4", **kw)

    res = run(shared_data / "gcamp-optinist-mouse2p" / "sample_mouse2p_image.tiff", 600, 1 / 30)
    assert res.rois["low_signal"].any()
    accepted = res.rois.loc[res.rois["accepted"], "roi"]
    d = res.traces.loc[res.traces["roi"].isin(accepted), "dff"]
    assert d.notna().all() and d.min() > -1.0
    every = run(shared_data / "gcamp-optinist-mouse2p" / "sample_mouse2p_image.tiff", 600,
                1 / 30, **{"kinetics.events": "all"})
    assert (set(every.kinetics.loc[every.kinetics["responder"], "roi"])
            == set(res.kinetics.loc[res.kinetics["responder"], "roi"]))  # had an event
    fura = run(shared_data / "fura2-dynclust-340nm-stack" / "adu340_4small_TYX.tif", 128, 1.0)
    assert not fura.rois["low_signal"].any() and fura.traces["dff"].notna().all()

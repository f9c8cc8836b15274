"""Tests for caimg.traces: background_mask, extract_traces and neighbour_core."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import ndimage

from caimg import traces as traces_mod
from caimg._backend import kernels_or_none
from caimg.errors import CaimgError, RoiError
from caimg.motion import apply_shifts
from caimg.pipeline import process_recording, resolve_pipeline
from caimg.synthetic import make_recording
from caimg.traces import Traces, background_mask, extract_traces, neighbour_core


@pytest.fixture(params=["numba", "numpy"])
def backend(request, monkeypatch):
    if request.param == "numpy":
        monkeypatch.setenv("CAIMG_NO_NUMBA", "1")
    else:
        monkeypatch.delenv("CAIMG_NO_NUMBA", raising=False)
    return request.param


def _hand_made():
    labels = np.zeros((6, 7), np.int32)
    labels[0:2, 0:2] = 3          # 4 px
    labels[4, 2:6] = 7            # 4 px
    labels[2, 6] = 5              # 1 px
    rng = np.random.default_rng(0)
    stack = rng.integers(0, 5000, (11, 6, 7)).astype(np.uint16)
    return stack, labels


def _cells_recording(rng, n_frames=40, size=96, n_cells=12):
    """Smooth cell-like image whose cells carry independent traces (float64 truth)."""
    labels = np.zeros((size, size), np.int32)
    centres = []
    k = 0
    while k < n_cells:
        c = rng.integers(10, size - 10, 2)
        if all(np.hypot(*(c - d)) > 14 for d in centres):
            centres.append(c)
            k += 1
            rr, cc = np.ogrid[:size, :size]
            labels[(rr - c[0]) ** 2 + (cc - c[1]) ** 2 <= 16] = k
    sig = 1.0 + np.abs(rng.normal(0, 0.5, (n_frames, n_cells))).cumsum(axis=0) % 1.5
    profile = ndimage.gaussian_filter((labels > 0).astype(float), 1.5)
    lab_blur = ndimage.grey_dilation(labels, size=5)
    stack = np.empty((n_frames, size, size))
    for t in range(n_frames):
        gain = np.concatenate([[0.0], sig[t]])[lab_blur]
        stack[t] = 100 + 1000 * profile * gain
    return stack, labels


# --------------------------------------------------------------------------- exact means

@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.int32, np.float64])
def test_exact_means_hand_made(backend, dtype):
    stack, labels = _hand_made()
    stack = stack.astype(dtype)
    tr = extract_traces(stack, labels, chunk_frames=4)
    assert isinstance(tr, Traces)
    np.testing.assert_array_equal(tr.roi_ids, [3, 5, 7])
    np.testing.assert_array_equal(tr.n_pixels, [4, 1, 4])
    assert tr.means.shape == (11, 3) and tr.means.dtype == np.float64
    s64 = stack.astype(np.float64)
    np.testing.assert_allclose(tr.means[:, 0], s64[:, 0:2, 0:2].mean(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(tr.means[:, 1], s64[:, 2, 6], rtol=1e-12)
    np.testing.assert_allclose(tr.means[:, 2], s64[:, 4, 2:6].mean(axis=1), rtol=1e-12)
    assert tr.background is None


@pytest.mark.parametrize("dtype", [">u2", np.float16, np.uint8, np.int16])
def test_unusual_dtypes_give_the_same_means(dtype):
    stack, labels = _hand_made()
    stack = (stack // 20).astype(np.uint16)  # fits every dtype exactly
    ref = extract_traces(stack, labels, shifts=np.full((11, 2), 0.5)).means
    got = extract_traces(stack.astype(dtype), labels, shifts=np.full((11, 2), 0.5)).means
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_chunk_boundaries_do_not_matter(backend):
    stack, labels = _hand_made()
    a = extract_traces(stack, labels, chunk_frames=64, background=labels == 0)
    for chunk in (1, 3, 10):
        b = extract_traces(stack, labels, chunk_frames=chunk, background=labels == 0)
        np.testing.assert_array_equal(a.means, b.means)
        np.testing.assert_array_equal(a.background, b.background)


def test_input_not_modified_and_lazy_stack():
    stack, labels = _hand_made()
    before, lab_before = stack.copy(), labels.copy()

    class Lazy:
        shape = stack.shape
        dtype = stack.dtype

        def __getitem__(self, key):
            assert isinstance(key, slice) and key.stop - key.start <= 4
            return stack[key]

    tr = extract_traces(Lazy(), labels, chunk_frames=4, shifts=np.full((11, 2), 0.5))
    np.testing.assert_array_equal(stack, before)
    np.testing.assert_array_equal(labels, lab_before)
    assert np.isfinite(tr.means).all()


# --------------------------------------------------------------------------- background

def test_background_mask_geometry():
    labels = np.zeros((40, 40), int)
    labels[18:22, 18:22] = 1
    mask = background_mask(labels, dilation_px=3)
    dist = ndimage.distance_transform_edt(labels == 0)
    np.testing.assert_array_equal(mask, dist > 3)
    assert not mask[18:22, 18:22].any()
    assert not mask[20, 23] and not mask[20, 24] and mask[20, 25]  # 3 px away: out; 4 px: in
    assert mask[0, 0] and mask.dtype == bool
    np.testing.assert_array_equal(background_mask(labels, dilation_px=0), labels == 0)


def test_background_mask_no_rois_is_everything():
    assert background_mask(np.zeros((5, 6), int)).all()


def test_background_mask_crowded_falls_back_and_warns():
    labels = np.zeros((20, 20), int)
    labels[2:18, 2:18] = 1  # only a 2 px frame left around the ROI (144 px at dilation 0)
    with pytest.warns(UserWarning, match="dilation_px=4"):
        mask = background_mask(labels, dilation_px=4)
    assert mask.sum() >= traces_mod.MIN_BACKGROUND_PIXELS
    assert not (mask & (labels > 0)).any()


def test_background_mask_everything_covered_warns():
    with pytest.warns(UserWarning, match="only 0 pixels"):
        mask = background_mask(np.ones((6, 6), int), dilation_px=2)
    assert not mask.any()


def test_background_is_percentile_of_mask_pixels(backend):
    rng = np.random.default_rng(1)
    stack = rng.normal(200, 20, (9, 30, 30)).astype(np.float32)
    labels = np.zeros((30, 30), int)
    labels[10:15, 10:15] = 1
    mask = background_mask(labels, dilation_px=2)
    for q in (50.0, 10.0):
        tr = extract_traces(stack, labels, background=mask, background_percentile=q)
        expected = np.percentile(stack[:, mask], q, axis=1)
        np.testing.assert_allclose(tr.background, expected, rtol=1e-6)
        assert tr.background.dtype == np.float64


def test_large_background_mask_is_subsampled_evenly():
    rng = np.random.default_rng(2)
    stack = rng.normal(500, 30, (3, 300, 300)).astype(np.float32)
    labels = np.zeros((300, 300), int)
    labels[:5, :5] = 1
    mask = labels == 0
    tr = extract_traces(stack, labels, background=mask)
    exact = np.median(stack[:, mask], axis=1)
    # ~10 000 of 89 975 pixels: the median moves by far less than the 30 noise SD
    np.testing.assert_allclose(tr.background, exact, atol=1.0)


def test_empty_background_mask_gives_nan():
    stack, labels = _hand_made()
    tr = extract_traces(stack, labels, background=np.zeros(labels.shape, bool))
    assert tr.background.shape == (11,) and np.isnan(tr.background).all()


# --------------------------------------------------------------------------- shifts

def test_integer_shifts_give_exactly_the_unshifted_traces(backend):
    rng = np.random.default_rng(3)
    stack, labels = _cells_recording(rng, n_frames=12)
    moves = rng.integers(-3, 4, (12, 2))
    moved = np.stack([np.roll(f, m, axis=(0, 1)) for f, m in zip(stack, moves, strict=True)])
    ref = extract_traces(stack, labels)
    got = extract_traces(moved, labels, shifts=-moves.astype(float))
    np.testing.assert_allclose(got.means, ref.means, rtol=1e-12)


def test_subpixel_shifts_recover_traces(backend):
    rng = np.random.default_rng(4)
    stack, labels = _cells_recording(rng, n_frames=30)
    moves = rng.uniform(-3, 3, (30, 2))
    moved = np.stack([ndimage.shift(f, m, order=3, mode="nearest")
                      for f, m in zip(stack, moves, strict=True)])
    ref = extract_traces(stack, labels).means
    got = extract_traces(moved, labels, shifts=-moves).means
    nocorr = extract_traces(moved, labels).means
    # interpolation error only: bilinear sampling smooths the steep blurred cell edge the
    # ROI border sits on, a near-constant bias of ~1-2 % here (measured max 2.1 %)
    rel = np.abs(got - ref) / ref
    assert rel.max() < 0.03, rel.max()
    for j in range(ref.shape[1]):
        assert np.corrcoef(got[:, j], ref[:, j])[0, 1] >= 0.99
    # and the correction matters: uncorrected reads are much worse
    assert np.abs(nocorr - ref).max() > 5 * np.abs(got - ref).max()


def test_traces_equal_roi_means_of_registered_movie():
    rng = np.random.default_rng(5)
    stack, labels = _cells_recording(rng, n_frames=8)
    shifts = rng.uniform(-2, 2, (8, 2))
    movie = apply_shifts(stack, shifts).astype(np.float64)
    tr = extract_traces(stack, labels, shifts=shifts)
    for j, rid in enumerate(tr.roi_ids):
        np.testing.assert_allclose(tr.means[:, j], movie[:, labels == rid].mean(axis=1),
                                   rtol=1e-6)


def test_numba_equals_numpy_fallback(monkeypatch):
    rng = np.random.default_rng(6)
    stack, labels = _cells_recording(rng, n_frames=20)
    stack = (stack + rng.normal(0, 20, stack.shape)).clip(0).astype(np.uint16)
    shifts = rng.uniform(-4, 4, (20, 2))
    shifts[::3] = np.round(shifts[::3])
    mask = background_mask(labels)
    monkeypatch.delenv("CAIMG_NO_NUMBA", raising=False)
    assert kernels_or_none() is not None
    a = extract_traces(stack, labels, shifts=shifts, background=mask, chunk_frames=7)
    monkeypatch.setenv("CAIMG_NO_NUMBA", "1")
    assert kernels_or_none() is None
    b = extract_traces(stack, labels, shifts=shifts, background=mask, chunk_frames=7)
    np.testing.assert_allclose(a.means, b.means, rtol=1e-7)
    np.testing.assert_array_equal(a.background, b.background)


def test_concurrent_calls_from_threads_agree():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(7)
    stack, labels = _cells_recording(rng, n_frames=16)
    shifts = rng.uniform(-2, 2, (16, 2))
    ref = extract_traces(stack, labels, shifts=shifts).means
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: extract_traces(stack, labels, shifts=shifts,
                                                      chunk_frames=5).means, range(4)))
    for out in outs:
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("near_edge", [False, True])
def test_large_rois_run_path_equals_fallback_and_movie(monkeypatch, near_edge):
    # wide ROIs -> the kernel sums runs of pixels; near the edge it must clip instead
    rng = np.random.default_rng(8)
    stack = rng.integers(0, 4000, (12, 60, 70)).astype(np.uint16)
    labels = np.zeros((60, 70), np.int32)
    labels[20:30, 15:45] = 1
    labels[35:40, 10:60] = 2
    labels[22:26, 47:53] = 3
    if near_edge:
        labels[0:3, 0:30] = 4
    shifts = rng.uniform(-2.5, 2.5, (12, 2))
    shifts[:4] = np.round(shifts[:4])
    monkeypatch.delenv("CAIMG_NO_NUMBA", raising=False)
    a = extract_traces(stack, labels, shifts=shifts, chunk_frames=5).means
    monkeypatch.setenv("CAIMG_NO_NUMBA", "1")
    b = extract_traces(stack, labels, shifts=shifts, chunk_frames=5).means
    np.testing.assert_allclose(a, b, rtol=1e-9)
    movie = apply_shifts(stack, shifts).astype(np.float64)
    for j, rid in enumerate(np.unique(labels)[1:]):
        np.testing.assert_allclose(a[:, j], movie[:, labels == rid].mean(axis=1), rtol=1e-6)


def test_border_rois_with_one_whole_pixel_shift_component(monkeypatch):
    # ROIs on all four borders; shifts with one whole-pixel component: the zero-weight
    # neighbour row/column must not decide whether a run is read with or without clipping
    rng = np.random.default_rng(9)
    stack = rng.integers(0, 4000, (16, 40, 50)).astype(np.uint16)
    labels = np.zeros((40, 50), np.int32)
    labels[0:4, 5:45] = 1
    labels[36:40, 5:45] = 2
    labels[8:32, 0:6] = 3
    labels[8:32, 44:50] = 4
    labels[15:25, 15:35] = 5
    shifts = np.zeros((16, 2))
    shifts[:4, 0] = rng.uniform(-1.5, 1.5, 4)          # fractional rows, no column shift
    shifts[4:8, 1] = rng.uniform(-1.5, 1.5, 4)         # fractional columns only
    shifts[8:12] = rng.integers(-2, 3, (4, 2))         # whole pixels, both
    shifts[12:, 0] = rng.integers(-2, 3, 4)
    shifts[12:, 1] = rng.uniform(-1.5, 1.5, 4)         # whole rows, fractional columns
    monkeypatch.delenv("CAIMG_NO_NUMBA", raising=False)
    a = extract_traces(stack, labels, shifts=shifts, chunk_frames=5).means
    monkeypatch.setenv("CAIMG_NO_NUMBA", "1")
    b = extract_traces(stack, labels, shifts=shifts, chunk_frames=5).means
    np.testing.assert_allclose(a, b, rtol=1e-9)
    movie = apply_shifts(stack, shifts).astype(np.float64)
    for j, rid in enumerate(np.unique(labels)[1:]):
        np.testing.assert_allclose(a[:, j], movie[:, labels == rid].mean(axis=1), rtol=1e-6)


# --------------------------------------------------------------------------- degenerate

def test_no_rois_gives_empty_columns(backend):
    stack = np.ones((5, 8, 8), np.uint16)
    tr = extract_traces(stack, np.zeros((8, 8), int), background=np.ones((8, 8), bool))
    assert tr.means.shape == (5, 0) and tr.roi_ids.shape == (0,) and tr.n_pixels.shape == (0,)
    np.testing.assert_array_equal(tr.background, np.ones(5))
    tr = extract_traces(stack, np.zeros((8, 8), int))
    assert tr.means.shape == (5, 0) and tr.background is None


def test_zero_frames():
    tr = extract_traces(np.zeros((0, 4, 4)), np.ones((4, 4), int))
    assert tr.means.shape == (0, 1)


def test_bad_inputs_name_the_parameter():
    stack, labels = _hand_made()
    with pytest.raises(RoiError, match="labels"):
        extract_traces(stack, labels[:-1])
    with pytest.raises(RoiError, match="integer"):
        extract_traces(stack, labels.astype(float) + 0.5)
    with pytest.raises(RoiError, match="negative"):
        extract_traces(stack, -labels)
    with pytest.raises(CaimgError, match="shifts"):
        extract_traces(stack, labels, shifts=np.zeros((3, 2)))
    with pytest.raises(RoiError, match="background"):
        extract_traces(stack, labels, background=np.ones((2, 2), bool))
    with pytest.raises(CaimgError, match="background_percentile"):
        extract_traces(stack, labels, background_percentile=120)
    with pytest.raises(ValueError, match="dilation_px"):
        background_mask(labels, dilation_px=-1)


# --------------------------------------------------------------------------- properties


@settings(max_examples=40, deadline=None)
@given(ny=st.integers(1, 12), nx=st.integers(1, 12), n=st.integers(1, 5),
       n_labels=st.integers(0, 4), seed=st.integers(0, 2 ** 16),
       shift_scale=st.sampled_from([0.0, 1.0, 4.0, 30.0]))
def test_property_numba_equals_numpy_and_movie(ny, nx, n, n_labels, seed, shift_scale):
    rng = np.random.default_rng(seed)
    stack = rng.integers(0, 1000, (n, ny, nx)).astype(np.uint16)
    labels = rng.integers(0, n_labels + 1, (ny, nx))
    shifts = rng.uniform(-1, 1, (n, 2)) * shift_scale
    shifts[::2] = np.round(shifts[::2])
    mask = labels == 0
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CAIMG_NO_NUMBA", raising=False)
        a = extract_traces(stack, labels, shifts=shifts, background=mask, chunk_frames=2)
        mp.setenv("CAIMG_NO_NUMBA", "1")
        b = extract_traces(stack, labels, shifts=shifts, background=mask, chunk_frames=3)
    np.testing.assert_allclose(a.means, b.means, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(a.background, b.background)
    movie = apply_shifts(stack, shifts).astype(np.float64)
    for j, rid in enumerate(a.roi_ids):
        np.testing.assert_allclose(a.means[:, j], movie[:, labels == rid].mean(axis=1),
                                   rtol=1e-5, atol=1e-3)


# --------------------------------------------------------------------------- synthetic truth

def _pearson_per_cell(traces, truth):
    f = traces.means - traces.background[:, None]
    return np.array([np.corrcoef(f[:, j], truth[:, j])[0, 1]
                     for j in range(f.shape[1]) if truth[:, j].std() > 0])


def test_synthetic_register_and_extract_recover_truth_traces():
    synthetic = pytest.importorskip("caimg.synthetic")
    if not hasattr(synthetic, "make_recording"):
        pytest.skip("caimg.synthetic.make_recording not available yet")
    from caimg.motion import register

    # noise-free camera and no bleaching, so what is left is registration + extraction
    syn = synthetic.make_recording("fluo4", preset="moderate", rng=2, drift_px=3.0,
                                   shot_noise=False, read_noise=0.0, bleach_per_frame=0.0,
                                   halo_strength=0.0)
    stack = syn.recording.channels["f"]
    mask = background_mask(syn.labels)
    reg = register(stack)
    r = _pearson_per_cell(extract_traces(stack, syn.labels, shifts=reg.shifts,
                                         background=mask), syn.signal)
    r_raw = _pearson_per_cell(extract_traces(stack, syn.labels, background=mask), syn.signal)
    # measured: min r 0.998 registered, 0.58 without the shifts
    assert r.min() >= 0.99, r.min()
    assert r_raw.min() < r.min() - 0.02

# -- neighbour light (background.neighbour_gap_px, neighbour_core) -------------------------
# A non-responding cell touching a responding one must not be called a responder because
# its ROI's edge holds the neighbour's blurred light. Synthetic families with the true
# masks (segmentation plays no part), on tune seeds (never the benchmarks' report seeds).


def _wrong_calls(syn, indicator, **overrides):
    """ROIs (true labels) whose responder call differs from the truth."""
    cfg = resolve_pipeline(indicator, syn.recording,
                           overrides={"stimulus_time_s": syn.stimulus_time_s, **overrides})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = process_recording(syn.recording, cfg, labels=syn.labels)
    got = res.kinetics.set_index("roi")["responder"].astype(bool)
    truth = syn.kinetics.set_index("roi")["responder"].astype(bool)
    return sorted(int(r) for r in truth.index if got.loc[r] != truth.loc[r]), res


@pytest.mark.parametrize("seed", [101, 102])
def test_touching_non_responders_are_not_called(seed):
    syn = make_recording("fluo4", preset="moderate", family="plain", rng=seed, n_frames=60)
    wrong, res = _wrong_calls(syn, "fluo4")
    assert wrong == []
    info = res.provenance["background"]  # run.json's background block
    assert info["neighbour_gap_px"] == 2.0 and info["n_rois_trimmed"] > 0
    assert info["kept_whole_rois"] == []


def test_without_the_gap_the_neighbour_makes_a_false_responder():
    """The same recording with every ROI pixel averaged (the traces before the setting):
    a non-responder touching two responders is called a responder."""
    syn = make_recording("fluo4", preset="moderate", family="plain", rng=101, n_frames=60)
    wrong, _ = _wrong_calls(syn, "fluo4", **{"background.neighbour_gap_px": 0})
    assert wrong, "expected a false responder with neighbour_gap_px = 0"
    truth = syn.kinetics.set_index("roi")
    assert not truth.loc[wrong, "responder"].any() and truth.loc[wrong, "touching"].all()


def test_core_leaves_out_only_pixels_next_to_another_roi():
    lab = np.zeros((12, 24), np.int32)
    lab[2:10, 2:12] = 1   # touches 2 along column 12
    lab[2:10, 12:22] = 2
    lab[0, 0] = 3          # 2.8 px from ROI 1: keeps its pixel
    core, whole = neighbour_core(lab, gap_px=2)
    assert (core[2:10, 2:10] == 1).all() and (core[2:10, 10:12] == 0).all()
    assert (core[2:10, 14:22] == 2).all() and (core[2:10, 12:14] == 0).all()
    assert whole.tolist() == [] and set(np.unique(core)) == {0, 1, 2, 3}
    same, _ = neighbour_core(lab, gap_px=0)
    assert (same == lab).all()


def test_a_wedged_roi_keeps_all_its_pixels():
    lab = np.zeros((10, 20), np.int32)
    lab[2:8, 0:8] = 1
    lab[2:8, 8:11] = 2    # 3 px wide between 1 and 3: no core left
    lab[2:8, 11:19] = 3
    core, whole = neighbour_core(lab, gap_px=2)
    assert whole.tolist() == [2] and (core[lab == 2] == 2).all()
    tr = extract_traces(np.ones((2, 10, 20), np.uint16), core)
    assert tr.roi_ids.tolist() == [1, 2, 3]


def test_bad_gap_is_refused():
    with pytest.raises(CaimgError, match="neighbour_gap_px"):
        neighbour_core(np.ones((3, 3), int), gap_px=-1)


@pytest.mark.parametrize("q", [0.0, 10.0, 33.3, 50.0, 99.9, 100.0])
def test_compiled_background_percentile_is_np_percentile_to_the_bit(q):
    """The global background's compiled order statistics, interpolated as numpy does, give
    np.percentile's float32 numbers exactly: with drift, jumps, ties, NaN and inf rows."""
    if kernels_or_none() is None:
        pytest.skip("numba not available")
    rng = np.random.default_rng(4)
    n, p = 50, 2001
    level = 300 + np.cumsum(rng.normal(0, 0.5, n))
    level[25:] -= 80
    vals = (level[:, None] + rng.normal(0, 12, (n, p))).astype(np.float32)
    vals[::5] = np.round(vals[::5] / 4) * 4
    vals[3, 7] = np.nan
    vals[8, 100] = np.inf
    for cols in (p, p - 1, 1, 2):  # odd, even and the shortest rows
        sub = np.ascontiguousarray(vals[:, :cols])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # inf - inf, numpy's as well
            want = np.percentile(sub, q, axis=1)
            got = traces_mod._percentile_rows(sub, q, np.empty(n), True)
        np.testing.assert_array_equal(got, want.astype(np.float64))
        assert np.isnan(got[3]) == (cols > 7)

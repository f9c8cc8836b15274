"""Tests for caimg.motion: shift estimation, registration, apply_shifts, summary images."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import ndimage

from caimg import motion
from caimg.errors import CaimgError
from caimg.motion import apply_shifts, estimate_shifts, register, summary_images

PAD = 16


def _texture(rng, size, n_cells=None):
    """Cell-like blobs (sigma 3 px) on a smooth uneven background, (size+2*PAD)^2 float."""
    n = size + 2 * PAD
    n_cells = n_cells or max(8, n * n // 400)
    spikes = np.zeros((n, n))
    rr, cc = rng.integers(0, n, (2, n_cells))
    spikes[rr, cc] = rng.uniform(500, 1500, n_cells)
    background = ndimage.gaussian_filter(rng.random((n, n)), 20)
    return ndimage.gaussian_filter(spikes, 3) * 50 + 100 + 200 * background


def _fourier_shift(img, shift):
    """Exact (band-limited) subpixel shift, ndimage.shift convention: out(r) = img(r - s)."""
    spec = ndimage.fourier_shift(np.fft.fft2(img), shift)
    return np.fft.ifft2(spec).real


def _crop(img, size):
    return img[PAD:PAD + size, PAD:PAD + size]


def _drifting_stack(rng, size=128, n_frames=60, max_px=4.0, noise=10.0):
    """Stack whose frame t is the texture moved by +drift[t] (so the aligning shift is -drift)."""
    base = _texture(rng, size)
    steps = rng.normal(0, 0.4, (n_frames, 2))
    drift = np.clip(np.cumsum(steps, axis=0), -max_px, max_px)
    stack = np.empty((n_frames, size, size), np.float32)
    for t in range(n_frames):
        frame = _crop(_fourier_shift(base, drift[t]), size)
        stack[t] = frame + rng.normal(0, noise, frame.shape)
    return stack, -drift


@pytest.fixture(params=["numba", "numpy"])
def backend(request, monkeypatch):
    if request.param == "numpy":
        monkeypatch.setenv("CAIMG_NO_NUMBA", "1")
    else:
        monkeypatch.delenv("CAIMG_NO_NUMBA", raising=False)
    return request.param


# --------------------------------------------------------------------------- estimation

def test_known_subpixel_shifts_recovered_within_0p2_px():
    rng = np.random.default_rng(1)
    size = 128
    base = _texture(rng, size)
    ref = _crop(base, size) + rng.normal(0, 10, (size, size))
    true = rng.uniform(-4, 4, (12, 2))
    frames = np.stack([_crop(_fourier_shift(base, s), size) + rng.normal(0, 10, (size, size))
                       for s in true])
    est = estimate_shifts(frames, ref, upsample_factor=100)
    err = np.abs(est - (-true))
    # measured: max error 0.09 px on this image (128 x 128, noise SD 10)
    assert err.max() < 0.2, err.max()


def test_integer_shift_exact_and_sign_convention():
    rng = np.random.default_rng(2)
    base = _texture(rng, 96)
    ref = _crop(base, 96)
    moved = np.roll(base, (3, -2), axis=(0, 1))  # content moved by (+3, -2)
    est = estimate_shifts(_crop(moved, 96)[None], ref)
    np.testing.assert_allclose(est[0], [-3, 2], atol=0.15)
    # applying the estimated shift aligns the frame with the reference (interior)
    aligned = apply_shifts(_crop(moved, 96)[None], est)[0]
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(aligned[inner] - ref[inner]).max() < 0.05 * np.ptp(ref)


def test_estimate_numba_equals_numpy(monkeypatch):
    rng = np.random.default_rng(15)
    stack, _ = _drifting_stack(rng, size=64, n_frames=8)
    monkeypatch.delenv("CAIMG_NO_NUMBA", raising=False)
    a = estimate_shifts(stack, stack[0], upsample_factor=1000)
    monkeypatch.setenv("CAIMG_NO_NUMBA", "1")
    b = estimate_shifts(stack, stack[0], upsample_factor=1000)
    np.testing.assert_allclose(a, b, atol=2e-3)


def test_max_shift_limits_the_search():
    rng = np.random.default_rng(3)
    base = _texture(rng, 96)
    moved = _crop(np.roll(base, (6, 0), axis=(0, 1)), 96)[None]
    est = estimate_shifts(moved, _crop(base, 96), max_shift_px=2.0)
    assert np.all(np.abs(est) <= 2.0)


def test_crop_estimate_matches_full_frame():
    rng = np.random.default_rng(4)
    stack, true = _drifting_stack(rng, size=192, n_frames=12)
    ref = stack[0]
    full = estimate_shifts(stack, ref)
    crop = estimate_shifts(stack, ref, crop_px=96)
    assert np.abs(full - crop).max() < 0.25


# --------------------------------------------------------------------------- register

def test_register_drifting_stack_error_below_half_pixel(backend):
    rng = np.random.default_rng(5)
    stack, true = _drifting_stack(rng, size=128, n_frames=60)
    before = stack.copy()
    reg = register(stack, reference_frames=30, chunk_frames=16)
    np.testing.assert_array_equal(stack, before)  # input untouched
    assert reg.shifts.shape == (60, 2) and reg.shifts.dtype == np.float64
    assert reg.reference.shape == (128, 128) and reg.reference.dtype == np.float32
    np.testing.assert_array_equal(reg.shifts[0], [0, 0])  # anchored on frame 0
    err = reg.shifts - (true - true[0])
    # measured: max error 0.13 px
    assert np.abs(err).max() < 0.5, np.abs(err).max()
    assert reg.summary.n_frames == 60


def test_reference_is_in_frame0_geometry():
    rng = np.random.default_rng(16)
    stack, true = _drifting_stack(rng, size=96, n_frames=30, max_px=3.0, noise=2.0)
    reg = register(stack, reference_frames=30)
    # frame 0 needs no shift to match the reference, frame 10 needs its own shift
    inner = (slice(10, -10), slice(10, -10))
    d0 = np.abs(stack[0] - reg.reference)[inner].mean()
    moved = apply_shifts(stack[10:11], reg.shifts[10:11])[0]
    d10 = np.abs(moved - reg.reference)[inner].mean()
    raw10 = np.abs(stack[10] - reg.reference)[inner].mean()
    assert d0 < 0.2 * raw10 and d10 < 0.2 * raw10, (d0, d10, raw10)


def test_register_chunking_does_not_change_result():
    rng = np.random.default_rng(6)
    stack, _ = _drifting_stack(rng, size=64, n_frames=23)
    a = register(stack, reference_frames=10, chunk_frames=64)
    b = register(stack, reference_frames=10, chunk_frames=5)
    np.testing.assert_allclose(a.shifts, b.shifts, atol=1e-9)
    np.testing.assert_allclose(a.summary.mean, b.summary.mean, rtol=1e-5)


def test_register_disabled_gives_zero_shifts_and_raw_summary():
    rng = np.random.default_rng(7)
    stack = rng.integers(0, 4000, (9, 20, 24)).astype(np.uint16)
    reg = register(stack, enabled=False, chunk_frames=4)
    np.testing.assert_array_equal(reg.shifts, np.zeros((9, 2)))
    np.testing.assert_allclose(reg.summary.mean, stack.mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(reg.reference, reg.summary.mean)


def test_register_lazy_stack_object():
    rng = np.random.default_rng(8)
    stack, _ = _drifting_stack(rng, size=64, n_frames=10)

    class Lazy:
        shape = stack.shape
        dtype = stack.dtype

        def __init__(self):
            self.reads = []

        def __getitem__(self, key):
            self.reads.append((key.start, key.stop))
            return stack[key]

    lazy = Lazy()
    reg = register(lazy, reference_frames=5, chunk_frames=4)
    np.testing.assert_allclose(reg.shifts, register(stack, reference_frames=5).shifts,
                               atol=1e-9)
    assert max(b - a for a, b in lazy.reads) <= 4


def test_flat_frames_give_zero_shift():
    stack = np.zeros((4, 32, 32), np.uint16)
    stack[2] = 500
    reg = register(stack)
    np.testing.assert_array_equal(reg.shifts, 0)
    assert np.isfinite(reg.summary.corr).all()


def test_register_big_endian_stack_same_as_native():
    rng = np.random.default_rng(18)
    stack, _ = _drifting_stack(rng, size=48, n_frames=6)
    stack = stack.clip(0, 60000).astype(np.uint16)
    a = register(stack, reference_frames=6)
    b = register(stack.astype(">u2"), reference_frames=6)
    np.testing.assert_array_equal(a.shifts, b.shifts)
    np.testing.assert_array_equal(a.summary.mean, b.summary.mean)


def test_register_empty_and_bad_inputs():
    reg = register(np.zeros((0, 8, 8), np.uint16))
    assert reg.shifts.shape == (0, 2)
    assert np.isnan(reg.summary.mean).all() and reg.summary.n_frames == 0
    with pytest.raises(CaimgError, match="stack"):
        register(np.zeros((8, 8)))
    with pytest.raises(CaimgError, match="dtype"):
        register(np.zeros((2, 8, 8), complex))
    with pytest.raises(ValueError, match="chunk_frames"):
        register(np.zeros((2, 8, 8)), chunk_frames=0)
    with pytest.raises(CaimgError, match="max_shift_px"):
        register(np.zeros((2, 8, 8)), max_shift_px=-1)
    with pytest.raises(CaimgError, match="reference"):
        estimate_shifts(np.zeros((2, 8, 8)), np.zeros((4, 4)))


def test_register_synthetic_recording_matches_truth_shifts():
    synthetic = pytest.importorskip("caimg.synthetic")
    if not hasattr(synthetic, "make_recording"):
        pytest.skip("caimg.synthetic.make_recording not available yet")
    syn = synthetic.make_recording("fluo4", preset="hard", rng=3, n_frames=80,
                                   shape=(128, 128), n_cells=30)
    stack = syn.recording.channels["f"]
    reg = register(stack, reference_frames=40)
    err = reg.shifts - syn.shifts  # both relative to frame 0
    # measured: max 0.11 px, median 0.03 px (preset 'hard': 3 px drift, SNR 3)
    assert np.abs(err).max() < 0.5, np.abs(err).max()


# --------------------------------------------------------------------------- apply_shifts

def test_apply_shifts_integer_is_exact_with_edge_replication(backend):
    frames = np.arange(2 * 5 * 6, dtype=np.uint16).reshape(2, 5, 6)
    out = apply_shifts(frames, [[1, -2], [0, 0]])
    expected = frames[0][np.clip(np.arange(5) - 1, 0, 4)][:, np.clip(np.arange(6) + 2, 0, 5)]
    np.testing.assert_array_equal(out[0], expected)
    np.testing.assert_array_equal(out[1], frames[1])
    assert out.dtype == np.float32


def test_apply_shifts_bilinear_matches_scipy_order1(backend):
    rng = np.random.default_rng(9)
    frames = rng.random((3, 30, 40)).astype(np.float32)
    shifts = np.array([[0.3, -1.7], [-2.25, 0.5], [4.9, 3.1]])
    out = np.empty_like(frames)
    res = apply_shifts(frames, shifts, out=out)
    assert res is out
    for t in range(3):
        ref = ndimage.shift(frames[t].astype(np.float64), shifts[t], order=1, mode="nearest")
        np.testing.assert_allclose(out[t], ref, atol=1e-5)


def test_apply_shifts_numba_equals_numpy(monkeypatch):
    rng = np.random.default_rng(10)
    frames = rng.integers(0, 60000, (4, 33, 31)).astype(np.uint16)
    shifts = rng.uniform(-5, 5, (4, 2))
    monkeypatch.delenv("CAIMG_NO_NUMBA", raising=False)
    a = apply_shifts(frames, shifts)
    monkeypatch.setenv("CAIMG_NO_NUMBA", "1")
    b = apply_shifts(frames, shifts)
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_apply_shifts_rejects_bad_shapes():
    with pytest.raises(CaimgError, match="shifts"):
        apply_shifts(np.zeros((2, 4, 4)), np.zeros((3, 2)))
    with pytest.raises(CaimgError, match="out"):
        apply_shifts(np.zeros((2, 4, 4)), np.zeros((2, 2)), out=np.zeros((2, 4, 4)))


# --------------------------------------------------------------------------- summary images

@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_summary_images_equal_numpy_on_unshifted_stack(backend, dtype):
    rng = np.random.default_rng(11)
    stack = (rng.integers(1000, 3000, (37, 17, 19))).astype(dtype)
    s = summary_images(stack, chunk_frames=8)
    ref = stack.astype(np.float64)
    np.testing.assert_allclose(s.mean, ref.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(s.std, ref.std(axis=0), rtol=1e-5)
    np.testing.assert_array_equal(s.max, ref.max(axis=0))
    assert s.n_frames == 37
    for img in (s.mean, s.std, s.max, s.corr):
        assert img.dtype == np.float32 and img.shape == (17, 19)


def test_summary_with_zero_shifts_equals_without():
    rng = np.random.default_rng(12)
    stack = rng.random((10, 12, 14)).astype(np.float32)
    a = summary_images(stack)
    b = summary_images(stack, np.zeros((10, 2)), chunk_frames=3)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-6)
    np.testing.assert_allclose(a.corr, b.corr, atol=1e-6)


def test_corr_image_high_in_correlated_blob_low_in_noise(backend):
    rng = np.random.default_rng(13)
    n_frames, ny, nx = 200, 32, 32
    stack = rng.normal(100, 5, (n_frames, ny, nx))
    common = rng.normal(0, 20, n_frames)
    stack[:, 10:20, 10:20] += common[:, None, None]
    s = summary_images(stack.astype(np.float32))
    assert s.corr[12:18, 12:18].min() > 0.8
    noise = np.ones((ny, nx), bool)
    noise[8:22, 8:22] = False
    assert np.abs(s.corr[noise]).max() < 0.3
    assert abs(float(s.corr[noise].mean())) < 0.03


def test_corr_matches_direct_pearson():
    rng = np.random.default_rng(14)
    stack = rng.random((30, 5, 6))
    stack += ndimage.uniform_filter(stack, size=(1, 3, 3)) * 3
    s = summary_images(stack)
    ny, nx = 5, 6
    direct = np.zeros((ny, nx))
    for r in range(ny):
        for c in range(nx):
            vals = []
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    q = (r + dr, c + dc)
                    if (dr or dc) and 0 <= q[0] < ny and 0 <= q[1] < nx:
                        vals.append(np.corrcoef(stack[:, r, c], stack[:, q[0], q[1]])[0, 1])
            direct[r, c] = np.mean(vals)
    np.testing.assert_allclose(s.corr, direct, atol=1e-5)


def test_constant_pixels_give_zero_corr_not_nan():
    s = summary_images(np.full((5, 4, 4), 7, np.uint16))
    assert np.all(s.corr == 0) and np.all(s.std == 0) and np.all(s.mean == 7)


def test_register_does_not_import_numba_at_module_import():
    import subprocess
    import sys
    code = ("import sys, caimg.motion, caimg.traces; "
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_works_in_a_forked_child_after_use_in_parent():
    import multiprocessing as mp

    rng = np.random.default_rng(17)
    stack, _ = _drifting_stack(rng, size=48, n_frames=6)
    expected = register(stack, reference_frames=6).shifts  # starts the shared pool
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_register_shifts, (stack,)).get(timeout=60)
    np.testing.assert_allclose(got, expected)


def _register_shifts(stack):
    return register(stack, reference_frames=6).shifts


def test_subpixel_helper_exact_for_gaussian_peak():
    x = np.array([-1.0, 0.0, 1.0])
    for mu in (-0.4, -0.1, 0.0, 0.3):
        y = np.exp(-(x - mu) ** 2 / (2 * 1.5 ** 2))
        assert motion._subpixel(*y) == pytest.approx(mu, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(ny=st.integers(1, 10), nx=st.integers(1, 10), n=st.integers(1, 4),
       seed=st.integers(0, 2 ** 16), scale=st.sampled_from([0.0, 0.5, 3.0, 25.0]))
def test_property_apply_shifts_numba_equals_numpy_and_scipy(ny, nx, n, seed, scale):
    rng = np.random.default_rng(seed)
    frames = rng.random((n, ny, nx)).astype(np.float32)
    shifts = rng.uniform(-1, 1, (n, 2)) * scale
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CAIMG_NO_NUMBA", raising=False)
        a = apply_shifts(frames, shifts)
        mp.setenv("CAIMG_NO_NUMBA", "1")
        b = apply_shifts(frames, shifts)
    np.testing.assert_allclose(a, b, atol=1e-6)
    for t in range(n):
        ref = ndimage.shift(frames[t].astype(np.float64), shifts[t], order=1, mode="nearest")
        np.testing.assert_allclose(a[t], ref, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(ny=st.integers(1, 9), nx=st.integers(1, 9), n=st.integers(1, 6),
       seed=st.integers(0, 2 ** 16))
def test_property_summary_numba_equals_numpy(ny, nx, n, seed):
    rng = np.random.default_rng(seed)
    stack = rng.integers(0, 50, (n, ny, nx)).astype(np.int16)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CAIMG_NO_NUMBA", raising=False)
        a = summary_images(stack, chunk_frames=2)
        mp.setenv("CAIMG_NO_NUMBA", "1")
        b = summary_images(stack, chunk_frames=4)
    for x, y in zip((a.mean, a.std, a.max, a.corr), (b.mean, b.std, b.max, b.corr),
                    strict=True):
        np.testing.assert_allclose(x, y, atol=1e-5)
    np.testing.assert_allclose(a.std, stack.std(axis=0), atol=1e-4)


def test_whiten_kernel_matches_exact_formula():
    # the compiled whitening replaces 1 / sqrt(|z|) by a Newton-refined bit-level guess:
    # it must agree with the exact value to float32 precision over the whole float32 range,
    # and give 0 for zero and non-finite coefficients
    k = pytest.importorskip("caimg._kernels")
    rng = np.random.default_rng(5)
    mag = 10.0 ** rng.uniform(-12, 18, (3, 7, 9))
    spec = (mag * np.exp(1j * rng.uniform(0, 2 * np.pi, mag.shape))).astype(np.complex64)
    spec[0, 0, 0] = 0
    spec[1, 2, 3] = np.inf
    refk = (rng.normal(size=(7, 9)) + 1j * rng.normal(size=(7, 9))).astype(np.complex64)
    got = spec.copy()
    k.whiten_product(got.view(np.float32), refk.view(np.float32))
    z = spec.astype(np.complex128)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = z * refk / np.sqrt(np.abs(z))
    finite = np.isfinite(want)
    finite[0, 0, 0] = False
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-6)
    assert got[0, 0, 0] == 0
    assert not np.isfinite(got[1, 2, 3])  # inf * 0: no evidence, flagged as NaN


def test_batched_crop_estimate_equals_frame_by_frame():
    # with a crop, estimate_many transforms several frames per FFT call; the shifts must be
    # the same as estimating each frame on its own (and as the numpy twin)
    rng = np.random.default_rng(21)
    stack, _ = _drifting_stack(rng, size=96, n_frames=12)
    ref = stack[:4].mean(axis=0)
    est = motion._ShiftEstimator(ref, upsample_factor=100, max_shift_px=10.0, crop_px=48)
    assert est.kernels is None or est.batch > 1
    batched = est.estimate_many(stack, np.zeros((12, 2)))
    single = np.array([est.estimate(f) for f in stack])
    np.testing.assert_array_equal(batched, single)
    numpy_twin = np.array([est._estimate_numpy(f) for f in stack])
    np.testing.assert_allclose(batched, numpy_twin, atol=0.011)


@pytest.mark.parametrize("crop_px, iterations", [(0, 2), (48, 1), (0, 0)])
def test_kept_reference_spectra_change_no_number(monkeypatch, crop_px, iterations):
    """The spectra of the reference frames are transformed once and reused by the later
    rounds and the final pass; with all, some (a budget of 7 frames, chunks of 3) or none
    kept, the shifts, reference and summary images are the same to the bit."""
    from caimg._backend import kernels_or_none

    if kernels_or_none() is None:
        pytest.skip("spectra are kept on the compiled path only")
    rng = np.random.default_rng(23)
    stack, _ = _drifting_stack(rng, size=96, n_frames=30)
    got = {}
    for budget in (0, 7, 1000):
        size = crop_px or 96
        monkeypatch.setattr(motion, "_SPECTRA_CACHE_BYTES", budget * size * (size // 2 + 1) * 8)
        reg = register(stack, reference_frames=20, reference_iterations=iterations,
                       crop_px=crop_px, chunk_frames=3, max_shift_px=8.0)
        got[budget] = reg
    for budget in (7, 1000):
        np.testing.assert_array_equal(got[budget].shifts, got[0].shifts)
        np.testing.assert_array_equal(got[budget].reference, got[0].reference)
        np.testing.assert_array_equal(got[budget].summary.corr, got[0].summary.corr)
    assert np.abs(got[0].shifts).max() > 1  # the stack does move

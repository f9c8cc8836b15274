"""The local ring background (``[background] method = "annulus"``, caimg.annulus).

On a field with a strong background gradient and a broad haze the ring around each cell
recovers the cell's true fluorescence, where the one global value per frame does not; each
Fura-2 wavelength gets its own ring values; a ROI with no ring falls back to the global
background with a warning; run.json records the method and its settings.
"""

import warnings

import numpy as np
import pytest

from caimg.annulus import annuli
from caimg.errors import RoiError
from caimg.pipeline import process_recording, resolve_pipeline
from caimg.recording import Recording
from caimg.traces import background_mask, extract_traces

T, DT, ONSET = 40, 0.5, 10
SHAPE = (100, 170)
F0 = 100.0  # resting cell fluorescence per pixel, counts


def _discs(shape=SHAPE, radius=5, spacing=28, first=16):
    """Label image of separated discs on a grid (ids 1..N, raster order)."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    lab = np.zeros(shape, np.int32)
    k = 0
    for cy in range(first, shape[0] - 10, spacing):
        for cx in range(first, shape[1] - 10, spacing):
            k += 1
            lab[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2] = k
    return lab


def _uneven_background(shape=SHAPE, *, slope=(0.0, 1.5), haze=(100.0, 40.0, 50, 60)):
    """100 + a steep linear gradient + a broad Gaussian haze, counts."""
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(float)
    amp, sigma, cy, cx = haze
    return (100.0 + slope[0] * yy + slope[1] * xx
            + amp * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2)))


def _response(n_cells):
    """dF/F0 per frame and cell: every other cell responds with amplitude 1, tau 4 s."""
    t = np.arange(T) * DT
    s = np.where(t >= ONSET * DT, np.exp(-(t - ONSET * DT) / 4.0), 0.0)
    return s[:, None] * (np.arange(n_cells) % 2 == 0)[None, :]


def _field(lab, bg, signal, *, noise=1.0, seed=0):
    """uint16 stack: background + cells at F0 * (1 + signal), Gaussian noise."""
    rng = np.random.default_rng(seed)
    cells = np.zeros((T, *lab.shape))
    for j in range(signal.shape[1]):
        cells[:, lab == j + 1] = (F0 * (1.0 + signal[:, j]))[:, None]
    stack = bg[None] + cells + rng.normal(0, noise, cells.shape)
    return np.clip(np.rint(stack), 0, 65535).astype(np.uint16)


def _dff(f):
    base = f[:ONSET].mean(axis=0)
    return (f - base) / base


def test_ring_pixels_follow_the_settings():
    lab = np.zeros((60, 60), int)
    lab[20:30, 20:30] = 1  # 100 px: equivalent diameter 11.3 px -> width round(5.6) = 6
    lab[20:30, 33:43] = 2  # 3 px from ROI 1: the gap of 2 px leaves the pixels between them
    sat = np.zeros(lab.shape, bool)
    sat[10, 25] = True
    a = annuli(lab, gap_px=2, width_factor=0.5, exclude=sat)
    assert a.roi_ids.tolist() == [1, 2] and a.width_px.tolist() == [6, 6]
    m = a.mask(lab.shape)
    assert not (m & (lab > 0)).any()  # no ROI pixel in any ring
    assert not m[25, 31] and not m[25, 18]  # within the gap of some ROI
    assert m[25, 16] and m[25, 13] and not m[25, 11]  # 4 and 7 px out: in; 9 px: out
    assert not m[10, 25]  # saturated
    ring1 = set(a.members[a.offsets[0]:a.offsets[1]].tolist())
    ring2 = set(a.members[a.offsets[1]:a.offsets[2]].tolist())
    assert ring1 & ring2  # neighbours share ring pixels above and below the gap
    wider = annuli(lab, gap_px=2, width_factor=1.0)
    assert (wider.n_pixels > a.n_pixels).all() and wider.width_px.tolist() == [11, 11]
    assert annuli(lab, min_width_px=9, width_factor=0.1).width_px.tolist() == [9, 9]
    with pytest.raises(RoiError, match="exclude"):
        annuli(lab, exclude=np.zeros((3, 3), bool))


def test_annulus_recovers_true_traces_on_a_gradient_and_haze_where_global_fails():
    lab = _discs()
    n = int(lab.max())
    assert n >= 12
    truth = _response(n)
    stack = _field(lab, _uneven_background(), truth, noise=1.0, seed=1)
    tr = extract_traces(stack, lab, background=background_mask(lab),
                        annuli=annuli(lab), chunk_frames=7)
    assert tr.roi_background.shape == (T, n) and tr.background.shape == (T,)
    true_f = F0 * (1.0 + truth)
    f_local = tr.means - tr.roi_background
    f_global = tr.means - tr.background[:, None]
    # TOLERANCE: the ring's median sits within 5 % of F0 of the background under every
    # cell in every frame; the global median is off by up to ~2x F0 on this field
    assert np.abs(f_local - true_f).max() < 0.05 * F0
    assert np.abs(f_global - true_f).max() > 0.5 * F0
    # and the dF/F0 amplitude of the responders: within 5 % with the ring, not globally
    amp_true = truth.max(axis=0)[::2]
    err_local = np.abs(_dff(f_local).max(axis=0)[::2] - amp_true) / amp_true
    err_global = np.abs(_dff(f_global).max(axis=0)[::2] - amp_true) / amp_true
    assert err_local.max() < 0.05
    assert err_global.max() > 0.5 and np.mean(err_global > 0.1) > 0.5


def test_ring_background_streams_like_the_global_one():
    lab = _discs()
    stack = _field(lab, _uneven_background(), _response(int(lab.max())), noise=3.0, seed=2)
    rings = annuli(lab)
    shifts = np.column_stack([np.linspace(0, 2.4, T), np.linspace(0, -1.6, T)])
    a = extract_traces(stack, lab, shifts=shifts, annuli=rings, chunk_frames=64)
    b = extract_traces(stack, lab, shifts=shifts, annuli=rings, chunk_frames=3)
    np.testing.assert_array_equal(a.roi_background, b.roi_background)
    # the statistic is the percentile of each ring's (nearest-shifted) pixels
    j, t = 4, 17
    ring = rings.members[rings.offsets[j]:rings.offsets[j + 1]]
    ir, ic = int(np.rint(-shifts[t, 0])), int(np.rint(-shifts[t, 1]))
    vals = stack[t, rings.rows[ring] + ir, rings.cols[ring] + ic].astype(float)
    assert a.roi_background[t, j] == pytest.approx(np.percentile(vals, 50.0))
    q20 = extract_traces(stack, lab, annuli=rings, background_percentile=20.0)
    vals0 = stack[t, rings.rows[ring], rings.cols[ring]].astype(float)
    assert q20.roi_background[t, j] == pytest.approx(np.percentile(vals0, 20.0))


def test_annuli_must_match_the_labels():
    lab = _discs()
    other = lab.copy()
    other[other == 3] = 0
    stack = np.zeros((2, *SHAPE), np.uint16)
    with pytest.raises(RoiError, match="same labels"):
        extract_traces(stack, lab, annuli=annuli(other))
    with pytest.raises(RoiError, match="Annuli"):
        extract_traces(stack, lab, annuli=np.ones(SHAPE, bool))


def _recording(channels, name="field"):
    return Recording(channels=channels, frame_interval_s=DT, name=name)


def _run(rec, indicator, labels, method):
    cfg = resolve_pipeline(indicator, rec, overrides={"stimulus_time_s": ONSET * DT,
                                                      "background.method": method,
                                                      "motion.enabled": False})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = process_recording(rec, cfg, labels=labels)
    return res, [str(w.message) for w in caught]


def test_fluo4_pipeline_annulus_amplitudes_and_run_json():
    lab = _discs()
    truth = _response(int(lab.max()))
    rec = _recording({"f": _field(lab, _uneven_background(), truth, noise=1.0, seed=3)})
    amp_true = truth.max(axis=0)
    errs = {}
    for method in ("auto", "annulus"):
        res, _ = _run(rec, "fluo4", lab, method)
        kin = res.kinetics.set_index("roi")
        resp = [r for r in kin.index if amp_true[r - 1] > 0]
        errs[method] = np.array([abs(kin.loc[r, "amplitude"] - amp_true[r - 1])
                                 / amp_true[r - 1] for r in resp])
        info = res.provenance["background"]
        assert info["method"] == method
    # NaN: an amplitude not reported (F0 not clearly above the background) counts as wrong
    assert np.isfinite(errs["annulus"]).all() and errs["annulus"].max() < 0.05
    assert np.mean(~(errs["auto"] < 0.05)) > 0.5
    assert info["annulus_gap_px"] == 2 and info["annulus_width_factor"] == 0.5
    assert info["annulus_min_pixels"] == 20 and info["percentile"] == 50.0
    assert info["annulus_min_width_px"] == 3
    assert info["n_fallback"] == 0 and info["fallback_rois"] == []
    assert "percentile 50" in info["statistic"] and info["ring_pixels_median"] > 100


def test_fura2_gets_a_ring_per_wavelength():
    lab = _discs()
    n = int(lab.max())
    # each wavelength its own uneven background: gradient along x at 340, along y at 380
    bg340 = _uneven_background(slope=(0.0, 1.5), haze=(80.0, 40.0, 30, 120))
    bg380 = _uneven_background(slope=(2.5, 0.0), haze=(100.0, 40.0, 70, 40))
    ratio_rest, d_ratio = 0.8, _response(n)
    f380 = np.full((T, n), F0)
    f340 = f380 * (ratio_rest + d_ratio)
    rng = np.random.default_rng(4)
    chans = {}
    for name, bg, f in (("f340", bg340, f340), ("f380", bg380, f380)):
        cells = np.zeros((T, *SHAPE))
        for j in range(n):
            cells[:, lab == j + 1] = f[:, j][:, None]
        chans[name] = np.rint(bg[None] + cells + rng.normal(0, 1.0, cells.shape)
                              ).astype(np.uint16)
    rec = _recording(chans)
    rings = annuli(lab)
    per = {ch: extract_traces(chans[ch], lab, annuli=rings).roi_background for ch in chans}
    under = {ch: np.array([bg[lab == j + 1].mean() for j in range(n)])
             for ch, bg in (("f340", bg340), ("f380", bg380))}
    for ch in chans:  # each channel's ring follows its own background, not the other's
        assert np.abs(per[ch].mean(axis=0) - under[ch]).max() < 3.0
    assert np.abs(under["f340"] - under["f380"]).max() > 50
    res, _ = _run(rec, "fura2", lab, "annulus")
    tr = res.traces
    for ch, f in (("f340", f340), ("f380", f380)):
        got = tr.pivot(index="frame", columns="roi", values=ch).to_numpy()
        assert np.abs(got - f).max() < 0.05 * F0
    ratio = tr.pivot(index="frame", columns="roi", values="ratio").to_numpy()
    assert np.abs(ratio - f340 / f380).max() < 0.05
    # the low-signal test measures the background noise left after the ring's median:
    # the field's gradient does not count against these cells
    assert not res.rois["low_signal"].any()
    res_global, _ = _run(rec, "fura2", lab, "auto")
    ring_sd = res.provenance["background"]["noise_sd"]
    field_sd = res_global.provenance["background"]["noise_sd"]
    for ch in chans:
        assert ring_sd[ch] < F0 / 1.5 and ring_sd[ch] < 0.5 * field_sd[ch]
    ratio_g = res_global.traces.pivot(index="frame", columns="roi", values="ratio").to_numpy()
    wrong = ~(np.abs(ratio_g - f340 / f380) < 0.05)  # off, or not reported (low signal)
    assert wrong.mean() > 0.5


def test_a_roi_without_a_ring_falls_back_to_the_global_background():
    lab = _discs()
    n = int(lab.max())
    # ROI n + 1: a ring-shaped ROI right around ROI 1, so ROI 1 has no free pixel near it
    yy, xx = np.mgrid[:SHAPE[0], :SHAPE[1]]
    d2 = (yy - 16) ** 2 + (xx - 16) ** 2
    lab[(d2 > 25) & (d2 <= 16 ** 2) & (lab == 0)] = n + 1
    rings = annuli(lab)
    assert rings.n_pixels[0] == 0 and rings.fallback.tolist() == [True] + [False] * n
    stack = _field(lab, _uneven_background(), np.zeros((T, n + 1)), seed=5)
    tr = extract_traces(stack, lab, background=background_mask(lab), annuli=rings)
    np.testing.assert_array_equal(tr.roi_background[:, 0], tr.background)
    assert not np.allclose(tr.roi_background[:, 1], tr.background)
    no_global = extract_traces(stack, lab, annuli=rings)
    assert np.isnan(no_global.roi_background[:, 0]).all()
    assert np.isfinite(no_global.roi_background[:, 1:]).all()
    res, caught = _run(_recording({"f": stack}), "fluo4", lab, "annulus")
    info = res.provenance["background"]
    assert info["n_fallback"] == 1 and info["fallback_rois"] == [1]
    assert any("use the global background" in m and "ROIs 1" in m for m in caught)
    assert any(str(w).startswith("DataQualityWarning: background:") and "use the global background"
               in str(w) for w in res.provenance["warnings"])


@pytest.mark.parametrize("q", [0.0, 20.0, 50.0, 73.0, 100.0])
def test_compiled_and_numpy_ring_percentiles_equal_np_percentile(monkeypatch, q):
    lab = _discs()
    lab[lab == 5] = 0  # ROI ids need not be consecutive
    rings = annuli(lab, width_factor=0.3)
    stack = _field(_discs(), _uneven_background(), _response(int(_discs().max())),
                   noise=4.0, seed=6)
    shifts = np.column_stack([np.linspace(-1.2, 1.7, T), np.zeros(T)])
    got = {}
    for backend in ("numba", "numpy"):
        if backend == "numpy":
            monkeypatch.setenv("CAIMG_NO_NUMBA", "1")
        else:
            monkeypatch.delenv("CAIMG_NO_NUMBA", raising=False)
        got[backend] = extract_traces(stack, lab, shifts=shifts, annuli=rings,
                                      background_percentile=q, chunk_frames=9).roi_background
    np.testing.assert_array_equal(got["numba"], got["numpy"])
    for j in range(rings.roi_ids.size):
        ring = rings.members[rings.offsets[j]:rings.offsets[j + 1]]
        for t in (0, 21, T - 1):
            ir, ic = int(np.rint(-shifts[t, 0])), int(np.rint(-shifts[t, 1]))
            vals = stack[t, rings.rows[ring] + ir, rings.cols[ring] + ic].astype(float)
            assert got["numba"][t, j] == pytest.approx(np.percentile(vals, q), abs=1e-9)



def test_recipe_rings_leave_out_saturated_pixels_and_only_for_annulus():
    from caimg.annulus import recipe_annuli
    from caimg.config import load_pipeline

    lab = _discs()
    mx = np.full(SHAPE, 900, np.uint16)
    mx[16, 26] = 65535  # 10 px right of ROI 1's centre: in its ring
    bc = load_pipeline("fluo4", overrides={"background.method": "annulus"}).background
    rec = _recording({"f": np.zeros((3, *SHAPE), np.uint16)})
    rings, info = recipe_annuli(rec, lab, bc, max_image=mx)
    assert info["n_saturated_excluded"] == 1 and not rings.mask(SHAPE)[16, 26]
    assert annuli(lab).mask(SHAPE)[16, 26]
    assert info["noise_sd"] == {"f": 0.0}
    # float stacks have no full scale: nothing is left out
    frec = _recording({"f": np.zeros((3, *SHAPE), np.float32)})
    assert recipe_annuli(frec, lab, bc, max_image=mx)[1]["n_saturated_excluded"] == 0
    auto = load_pipeline("fluo4", overrides={"background.method": "auto"}).background
    assert recipe_annuli(rec, lab, auto, max_image=mx) == (None, {})


def _bracket_cases(rng, n=60, m=400):
    """Rows that drift slowly (the bracket holds), jump (it misses and is set again),
    carry ties (integer pixel values) and infinities. (With a NaN, the kernel runs the
    plain selection, as before the bracket; its numbers then are not numpy's.)"""
    level = 100 + np.cumsum(rng.normal(0, 0.3, n))
    level[n // 2:] += 40  # a jump: the answer leaves the bracket
    level[n // 2 + 5:n // 2 + 15] += 30 * (np.arange(10) % 2)  # flicker: it widens, narrows
    vals = (level[:, None] + rng.normal(0, 5, (n, m))).astype(np.float32)
    vals[::7] = np.round(vals[::7])  # many ties
    vals[9, 10] = np.inf
    vals[11, :] = -np.inf
    return vals


@pytest.mark.parametrize("q", [0.0, 10.0, 50.0, 73.0, 100.0])
def test_ring_kernel_bracket_gives_the_numpy_twins_numbers(q):
    """The compiled rings keep a bracket from frame to frame; whether it holds or misses,
    with ties and infinities, the numbers are those of the numpy twin (a full partition)."""
    pytest.importorskip("numba")
    from caimg._ring_kernels import ring_percentiles as compiled
    from caimg.annulus import _ring_percentiles_numpy

    rng = np.random.default_rng(3)
    vals = _bracket_cases(rng)
    p = vals.shape[1]
    # rings of 1, 2, 37 and 300 values, overlapping, plus an empty one and an unused one
    rings = [np.array([4]), np.array([0, 399]), rng.choice(p, 37, replace=False),
             rng.choice(p, 300, replace=False), np.array([], int), np.arange(50)]
    members = np.concatenate(rings).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum([r.size for r in rings])]).astype(np.int64)
    use = np.array([True, True, True, True, True, False])
    got = np.full((vals.shape[0], len(rings)), -7.0)
    want = got.copy()
    compiled(vals, members, offsets, use, q, got)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # inf - inf in the -inf row
        _ring_percentiles_numpy(vals, members, offsets, use, q, want)
    np.testing.assert_array_equal(got, want)
    assert (got[:, 5] == -7.0).all() and np.isnan(got[:, 4]).all()
    assert np.isfinite(got[30:40, 3]).all() and (got[40:, 3] > got[12:25, 3].max()).all()

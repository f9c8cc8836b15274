"""The generator's families of cell appearance and behaviour (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from caimg.errors import ConfigError
from caimg.synthetic import FAMILIES, make_recording


def _small(family, indicator="fluo4", seed=11, **kw):
    return make_recording(indicator, preset="moderate", family=family, rng=seed, n_frames=24,
                          **kw)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_renders_with_a_consistent_truth(family):
    s = _small(family)
    n = int(s.labels.max())
    assert n >= 5 and s.signal.shape == (24, n)
    assert np.isfinite(s.signal).all()
    assert len(s.kinetics) == n
    assert {"bright", "silent", "saturated"} <= set(s.kinetics.columns)


def test_unknown_family_is_a_config_error():
    with pytest.raises(ConfigError, match="family = 'granulr'.*granular"):
        make_recording("fluo4", family="granulr", n_frames=8, rng=0)


def test_plain_family_is_the_preset():
    a = make_recording("fluo4", preset="moderate", rng=3, n_frames=12)
    b = make_recording("fluo4", preset="moderate", family="plain", rng=3, n_frames=12)
    assert np.array_equal(a.recording.channels["f"], b.recording.channels["f"])


def _cell_profile_mean(s, inner):
    """Mean of the clean-ish mean image over the inner or outer half of every cell."""
    from scipy import ndimage as ndi

    img = s.recording.channels["f"].mean(axis=0)
    vals = []
    for i in range(1, int(s.labels.max()) + 1):
        m = s.labels == i
        dt = ndi.distance_transform_edt(m)
        core = m & (dt >= 0.5 * dt.max()) if inner else m & (dt < 0.5 * dt.max()) & (dt > 1)
        vals.append(img[core].mean())
    return np.array(vals)


@pytest.mark.parametrize("family,brighter_inside", [("dark_nucleus", False),
                                                    ("bright_nucleus", True)])
def test_nucleus_darker_or_brighter(family, brighter_inside):
    s = _small(family, drift_px=0.0)
    ratio = _cell_profile_mean(s, True) / _cell_profile_mean(s, False)
    assert (np.median(ratio) > 1.15) if brighter_inside else (np.median(ratio) < 0.9)


def test_saturated_cells_hit_the_ceiling_and_are_flagged():
    s = _small("saturated")
    img = s.recording.channels["f"]
    assert img.max() == 4095
    sat = s.kinetics["saturated"].to_numpy()
    # the bright cells saturate (a neighbour touching one may catch its light too)
    assert sat.any() and s.kinetics.loc[sat, "bright"].mean() >= 0.5
    top = img.max(axis=0) >= 4095
    assert set(np.unique(s.labels[top])) - {0} <= set(np.flatnonzero(sat) + 1)


def test_neurites_are_lit_but_not_in_the_masks():
    s = _small("spindle_neurites", drift_px=0.0, halo_strength=0.0)
    img = s.recording.channels["f"].mean(axis=0).astype(float)
    bg = np.median(img[s.labels == 0])
    from scipy import ndimage as ndi

    far = ~ndi.binary_dilation(s.labels > 0, iterations=3)
    # neurite pixels: well above the background, away from every mask
    lit = far & (img > bg + 0.3 * (np.median(img[s.labels > 0]) - bg))
    assert lit.sum() > 50
    aspect = []
    for i in range(1, int(s.labels.max()) + 1):
        rr, cc = np.nonzero(s.labels == i)
        ev = np.linalg.eigvalsh(np.cov(np.stack([rr, cc])))
        aspect.append(np.sqrt(ev[1] / ev[0]))
    assert np.median(aspect) > 1.7


def test_wave_truth_is_the_mask_signal():
    s = make_recording("fluo4", preset="easy", family="wave", rng=5, n_frames=60,
                       drift_px=0.0, shot_noise=False, read_noise=0.0)
    f = s.recording.channels["f"].astype(float) - 100.0 - 20.0  # offset, flat background
    resp = np.flatnonzero(s.kinetics["responder"].to_numpy())
    i = int(resp[0]) + 1
    m = s.labels == i
    trace = f[:, m].mean(axis=1)
    dff = trace / trace[:5].mean() - 1
    assert np.corrcoef(dff, s.signal[:, i - 1])[0, 1] > 0.999
    # the wave spreads the rise: the mask's rise is slower than the model's 10-90 %
    assert s.kinetics.loc[i - 1, "rise_time_s"] > 0


def test_silent_cells_are_dim_at_rest_and_respond():
    s = _small("silent")
    sil = s.kinetics["silent"].to_numpy()
    assert sil.any() and s.kinetics.loc[sil, "responder"].all()
    assert s.kinetics.loc[sil, "brightness"].max() < s.kinetics.loc[~sil, "brightness"].min()


def test_vignetting_family_is_three_to_one():
    s = make_recording("fluo4", preset="moderate", family="vignetting", rng=2, n_frames=8,
                       n_cells=0, shot_noise=False, read_noise=0.0, background_gradient=0.0)
    img = s.recording.channels["f"][0].astype(float) - 100.0
    centre = img[63:65, 63:65].mean()
    corner = img[0, 0]
    assert 2.7 < centre / corner < 3.3


def test_sizes_family_spans_6_to_40_px():
    s = make_recording("fluo4", preset="hard", family="sizes", rng=4, n_frames=8)
    d = 2 * np.sqrt(np.bincount(s.labels.ravel())[1:] / np.pi)
    assert d.min() < 10 and d.max() > 30

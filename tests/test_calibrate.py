"""`caimg calibrate` on a synthetic in-situ calibration recording, and `--calibration`."""

import json

import numpy as np
import pandas as pd
import pytest

from caimg.cli import main
from caimg.config import load_pipeline
from caimg.errors import ConfigError
from caimg.io.stack import write_recording
from caimg.synthetic import fura2_fluorescence, make_recording

RMIN, RMAX, BETA, KD = 0.3, 6.0, 6.0, 224.0


def _calibration_stack(path):
    """Cells in Ca2+-free bath (0-20 s), at rest (20-40 s), then saturated (40-60 s)."""
    syn = make_recording("fura2", preset="easy", rng=31)
    labels = syn.labels
    n_frames, dt = 60, 1.0
    t = np.arange(n_frames) * dt
    ca = np.where(t < 20, 0.0, np.where(t < 40, 80.0, 1e7))[:, None]
    rng = np.random.default_rng(0)
    loading = rng.uniform(300, 600, labels.max())
    f340, f380 = fura2_fluorescence(ca, loading[None, :], kd_nM=KD, rmin=RMIN, rmax=RMAX,
                                    beta=BETA)
    chans = {}
    for name, f in (("f340", f340), ("f380", f380)):
        img = np.zeros((n_frames,) + labels.shape) + 100.0  # camera offset + background
        cell = labels > 0
        img[:, cell] += f[:, labels[cell] - 1]
        chans[name] = np.clip(rng.normal(img, 2.0), 0, 65535).astype(np.uint16)
    write_recording(chans, path, layout="hyperstack", frame_interval_s=dt, pixel_size_um=1.0)
    return path


def test_calibrate_recovers_rmin_rmax_beta(tmp_path, capsys):
    stack = _calibration_stack(tmp_path / "calib.tif")
    prof = tmp_path / "profile.toml"
    assert main(["calibrate", str(stack), "--free", "2", "18", "--saturated", "42", "58",
                 "--out", str(prof)]) == 0
    assert "Rmin" in capsys.readouterr().out
    cal = load_pipeline("fura2", overrides={"calibration_profile": str(prof)}).signal.calibration
    assert cal.enabled
    assert cal.rmin == pytest.approx(RMIN, rel=0.03)
    assert cal.rmax == pytest.approx(RMAX, rel=0.03)
    assert cal.beta == pytest.approx(BETA, rel=0.03)
    # the profile drives a run: resting [Ca2+] comes back in ca_nM
    out = tmp_path / "out"
    assert main(["run", str(stack), "--out", str(out), "--calibration", str(prof)]) == 0
    traces = pd.read_csv(out / "calib" / "traces.csv")
    rest = traces[(traces["time_s"] >= 25) & (traces["time_s"] < 38)]["ca_nM"]
    assert np.nanmedian(rest) == pytest.approx(80.0, rel=0.1)
    prov = json.loads((out / "calib" / "run.json").read_text())
    assert prov["signal"]["calibration"]["rmin"] == pytest.approx(cal.rmin)
    assert prov["config"]["signal"]["calibration"]["profile"] == str(prof)


def test_calibrate_window_outside_recording(tmp_path, capsys):
    stack = _calibration_stack(tmp_path / "calib.tif")
    assert main(["calibrate", str(stack), "--free", "200", "210", "--saturated", "42", "58",
                 "--out", str(tmp_path / "p.toml")]) == 2
    assert "no frame in that interval" in capsys.readouterr().err


def test_bad_profile_key_is_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("rminn = 0.3\n")
    with pytest.raises(ConfigError, match=r"rminn.*bad.toml.*did you mean 'rmin'"):
        load_pipeline("fura2", overrides={"calibration_profile": str(bad)})

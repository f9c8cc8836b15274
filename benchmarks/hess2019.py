"""Reproduce the [Ca2+] and decay time constants of Hess et al. 2019 with caimg.

Data: ``../shared/data/fura2-hess2019-ratiometric-traces`` (Fura-2 340/380 counts with
background, the authors' calibration, their [Ca2+] per sample and their mono-exponential
decay fits; see its README). For every transient this script

1. background-subtracts each wavelength (counts per pixel and second, as the authors),
   computes the ratio with :func:`caimg.signals.fura2_ratio` and [Ca2+] with
   :func:`caimg.signals.grynkiewicz` (Keff = Kd*beta from the file), and compares it with
   the published [Ca2+] per sample (maximum relative difference);
2. measures the kinetics with :func:`caimg.kinetics.measure_kinetics` twice: with the
   authors' fit window (``decay_fit_start=0.5``, ``decay_fit_baseline_samples=7``: the
   first 7 samples of the record fitted jointly as the baseline, the decay from the first
   sample after the peak where the rise above baseline has fallen to 50 %) and with
   caimg's default window (``decay_fit_start=0.9``: from where the signal has fallen to
   90 % of the amplitude, no baseline samples);
3. prints the side-by-side table and ends with ``tau within 2 SE: N/91`` (accepted
   transients only).

Run: ``python benchmarks/hess2019.py [data_dir]`` from the repository root.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

DEFAULT_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / \
    "fura2-hess2019-ratiometric-traces"

# The records start at the break-in clock's TIME_OFFSET; responses start after sample ~15.
# The baseline window is the first 7 samples, as in the authors' fits; the stimulus is
# placed right after them (times are relative to the first sample).
BASELINE_SAMPLES = 7


def load_transient(data_dir: Path, h5_file: str, stim: str) -> dict:
    """Counts -> background-subtracted rates per pixel, calibration, time (s from record start)."""
    import h5py

    with h5py.File(data_dir / h5_file, "r") as f:
        adu = f[f"DATA/{stim}/ADU"][()].astype(np.float64)
        gain = float(f["CCD/GAIN"][0])
        p, p_b = float(f["CCD/P"][0]), float(f["CCD/P_B"][0])
        t340, t380 = float(f["ILLUMINATION/T_340"][0]), float(f["ILLUMINATION/T_380"][0])
        dt = float(f[f"DATA/{stim}/TIME_DELTA"][0])
        offset = float(f[f"DATA/{stim}/TIME_OFFSET"][0])
        cal = {k: float(f[f"DYE/{k}"][0]) for k in ("R_min_hat", "R_max_hat", "K_eff_hat")}
    return {
        "time_s": adu[:, 0] * dt,
        "clock_s": adu[:, 0] * dt + offset,
        "f340": adu[:, [1]] / (p * t340 * gain),
        "b340": adu[:, 2] / (p_b * t340 * gain),
        "f380": adu[:, [5]] / (p * t380 * gain),
        "b380": adu[:, 6] / (p_b * t380 * gain),
        "rmin": cal["R_min_hat"], "rmax": cal["R_max_hat"],
        "keff_nM": cal["K_eff_hat"] * 1000.0,
        "dt": dt,
    }


def calcium_nM(tr: dict) -> np.ndarray:
    """caimg's [Ca2+] (nM), shape (T,)."""
    from caimg.signals import fura2_ratio, grynkiewicz, subtract_background

    f340 = subtract_background(tr["f340"], tr["b340"])
    f380 = subtract_background(tr["f380"], tr["b380"])
    ratio = fura2_ratio(f340, f380)
    return grynkiewicz(ratio, rmin=tr["rmin"], rmax=tr["rmax"], keff_nM=tr["keff_nM"])[:, 0]


def kinetics_options(dt: float) -> dict:
    """Stimulus after the first 7 samples; the baseline window holds exactly those."""
    stim = (BASELINE_SAMPLES - 0.5) * dt
    return dict(stimulus_time_s=stim, baseline_window_s=BASELINE_SAMPLES * dt)


def run(data_dir: Path = DEFAULT_DIR):
    """Return (per-transient DataFrame, max relative [Ca2+] difference)."""
    import pandas as pd

    from caimg.kinetics import measure_kinetics

    fits = pd.read_csv(data_dir / "published_decay_fits.csv")
    rows, max_rel = [], 0.0
    for rec in fits.itertuples():
        tr = load_transient(data_dir, rec.h5_file, rec.stim)
        ca = calcium_nM(tr)
        pub = np.loadtxt(data_dir / rec.source.replace("RatioFit", "CaRatio"))
        rel = np.max(np.abs(ca / 1000.0 - pub[:, 1]) / np.abs(pub[:, 1]))
        max_rel = max(max_rel, float(rel))
        opts = kinetics_options(tr["dt"])
        authors = measure_kinetics(ca[:, None], tr["time_s"], decay_fit_start=0.5,
                                   decay_fit_baseline_samples=BASELINE_SAMPLES, **opts)
        default = measure_kinetics(ca[:, None], tr["time_s"], **opts)
        tau_a = float(authors["decay_tau_s"].iloc[0])
        tau_d = float(default["decay_tau_s"].iloc[0])
        rows.append({
            "experiment": rec.experiment, "stim": rec.stim, "verdict": rec.authors_verdict,
            "tau_pub_s": rec.tau_s, "tau_se_s": rec.tau_se_s,
            "tau_authors_window_s": tau_a, "tau_default_s": tau_d,
            "within_2se": bool(abs(tau_a - rec.tau_s) <= 2 * rec.tau_se_s),
            "default_within_2se": bool(abs(tau_d - rec.tau_s) <= 2 * rec.tau_se_s),
            "ca_max_rel_diff": float(rel),
        })
    return pd.DataFrame(rows), max_rel


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    data_dir = Path(argv[0]) if argv else DEFAULT_DIR
    if not (data_dir / "published_decay_fits.csv").is_file():
        print(f"data not found: {data_dir}")
        return 1
    table, max_rel = run(data_dir)
    good = table[table["verdict"] == "good"]
    print(f"{'experiment':<14}{'stim':<7}{'verdict':<8}{'published tau +- SE (s)':>24}"
          f"{'caimg authors window':>22}{'caimg default':>15}")
    for r in table.itertuples():
        mark = "" if r.within_2se else "  *"
        print(f"{r.experiment:<14}{r.stim:<7}{r.verdict:<8}"
              f"{r.tau_pub_s:>14.4f} +- {r.tau_se_s:<6.4f}{r.tau_authors_window_s:>22.4f}"
              f"{r.tau_default_s:>15.4f}{mark}")
    rel_a = (good["tau_authors_window_s"] / good["tau_pub_s"] - 1).abs()
    rel_d = (good["tau_default_s"] / good["tau_pub_s"] - 1)
    print()
    print(f"[Ca2+] max relative difference to the published per-sample values: {max_rel:.2e}")
    print(f"authors' window: median |relative tau difference| {rel_a.median():.4f}")
    print(f"default window (from 90 %): median relative tau difference "
          f"{rel_d.median():+.3f}, within 2 SE: {int(good['default_within_2se'].sum())}/"
          f"{len(good)}")
    print(f"tau within 2 SE: {int(good['within_2se'].sum())}/{len(good)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Accuracy of caimg.kinetics on synthetic truth (caimg.synthetic), with realistic noise.

For each indicator and seed, the true noiseless signal of :func:`caimg.synthetic.make_recording`
(Fluo-4 dF/F0, Fura-2 ratio; linear-ramp rise, exponential decay) gets white Gaussian noise
of a fixed SD, and :func:`caimg.kinetics.measure_kinetics` (default recipe options, the true
stimulus time) is compared with the truth table:

* median relative error of amplitude, decay tau and rise time (10-90 %) over true
  responders that caimg also calls responders;
* responder accuracy: fraction of all cells whose responder call matches the truth.

Noise SDs ("realistic"): whole-cell ROI means of Fluo-4 give dF/F0 noise of a few percent,
Fura-2 ratios about 0.01-0.03; the "high" level doubles them. The smallest true amplitudes
(0.5 dF/F0, 0.4 ratio units) are then 5-13 noise SDs.

Run: ``python benchmarks/kinetics_accuracy.py [n_seeds]`` (prints a table; bar: amplitude
and tau <= 5 %, rise <= 15 %, responders >= 97 %).
"""

from __future__ import annotations

import sys

import numpy as np

NOISE_SD = {"fluo4": {"realistic": 0.05, "high": 0.10},
            "fura2": {"realistic": 0.03, "high": 0.06}}


def evaluate(indicator: str, noise_sd: float, seeds, *, n_cells: int = 40,
             frame_interval_s: float | None = None):
    from caimg.kinetics import measure_kinetics
    from caimg.synthetic import make_recording

    errs = {"amplitude": [], "decay_tau_s": [], "rise_time_s": []}
    right = total = 0
    for seed in seeds:
        kw = {} if frame_interval_s is None else {"frame_interval_s": frame_interval_s}
        sr = make_recording(indicator, preset="easy", n_cells=n_cells, rng=seed,
                            shape=(192, 192), **kw)
        t = sr.recording.time_s()
        rng = np.random.default_rng(10_000 + seed)
        noisy = sr.signal + rng.normal(0.0, noise_sd, sr.signal.shape)
        got = measure_kinetics(noisy, t, stimulus_time_s=sr.stimulus_time_s)
        truth = sr.kinetics.set_index("roi").loc[got["roi"]].reset_index()
        right += int((got["responder"].to_numpy() == truth["responder"].to_numpy()).sum())
        total += len(got)
        both = got["responder"].to_numpy() & truth["responder"].to_numpy()
        for c in errs:
            g, w = got[c].to_numpy()[both], truth[c].to_numpy()[both]
            errs[c].extend(np.abs(g / w - 1.0))
    med = {c: float(np.nanmedian(v)) if len(v) else float("nan") for c, v in errs.items()}
    return med, right / max(total, 1), total


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    n_seeds = int(argv[0]) if argv else 5
    seeds = range(n_seeds)
    print(f"caimg kinetics vs synthetic truth ({n_seeds} seeds, default options)")
    print(f"{'indicator':<10}{'noise':<11}{'SD':>6}{'cells':>7}{'amplitude':>11}"
          f"{'decay tau':>11}{'rise 10-90':>12}{'responders':>12}")
    ok = True
    for indicator, levels in NOISE_SD.items():
        for level, sd in levels.items():
            med, acc, n = evaluate(indicator, sd, seeds)
            print(f"{indicator:<10}{level:<11}{sd:>6.2f}{n:>7}{med['amplitude']:>10.1%} "
                  f"{med['decay_tau_s']:>10.1%} {med['rise_time_s']:>11.1%} {acc:>11.1%}")
            if level == "realistic":
                ok &= (med["amplitude"] <= 0.05 and med["decay_tau_s"] <= 0.05
                       and med["rise_time_s"] <= 0.15 and acc >= 0.97)
    print("(median relative errors over cells that are true and called responders)")
    print(f"bar met at the realistic noise level: {'yes' if ok else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

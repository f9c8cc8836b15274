"""End-to-end accuracy of `caimg.run` against synthetic ground truth.

Prints, per indicator and seed, ROI detection (F1 at IoU >= 0.5), the Pearson r between
extracted and true signal of responding cells, the median relative errors of amplitude,
decay tau and 10-90 % rise time, and the fraction of right responder calls; then the
medians over seeds. tests/test_pipeline.py asserts the spine's bars on 3 seeds.

    python benchmarks/end_to_end_accuracy.py [n_seeds] [preset]
"""

import sys
import warnings

import numpy as np

import caimg
from caimg.metrics import score_against_truth
from caimg.synthetic import make_recording


def main(n_seeds=5, preset="moderate"):
    print(f"preset {preset!r}, {n_seeds} seeds per indicator")
    print(f"{'indicator':9s} {'seed':>4s} {'F1':>5s} {'IoU':>5s} {'r med':>6s} {'amp err':>7s} "
          f"{'tau err':>7s} {'rise err':>8s} {'resp ok':>7s}")
    for indicator in ("fura2", "fluo4"):
        rows = []
        for seed in range(n_seeds):
            syn = make_recording(indicator, preset=preset, rng=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = caimg.run(syn.recording, pipeline=indicator,
                                stimulus_time_s=syn.stimulus_time_s)
            s = score_against_truth(syn, res)
            row = (s.match.f1, s.match.mean_iou, np.median(s.pearson_r),
                   np.median(s.amplitude_error), np.median(s.decay_tau_error),
                   np.median(s.rise_time_error), s.responder_correct.mean())
            rows.append(row)
            print(f"{indicator:9s} {seed:4d} {row[0]:5.3f} {row[1]:5.3f} {row[2]:6.4f} "
                  f"{row[3]:7.1%} {row[4]:7.1%} {row[5]:8.1%} {row[6]:7.1%}")
        med = np.median(np.array(rows), axis=0)
        print(f"{indicator:9s} {'med':>4s} {med[0]:5.3f} {med[1]:5.3f} {med[2]:6.4f} "
              f"{med[3]:7.1%} {med[4]:7.1%} {med[5]:8.1%} {med[6]:7.1%}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5,
         sys.argv[2] if len(sys.argv) > 2 else "moderate")

"""Where the hard-preset amplitude errors come from (issue 13): an ablation.

For some families at the ``hard`` preset, each indicator and a few TUNING seeds (100..),
the amplitude error (median relative error of responders in both, as
:func:`caimg.metrics.score_against_truth`) is measured under conditions that remove one
error source at a time:

- ``found/auto``   caimg's ROIs, global background (the old default)
- ``found/ring``   caimg's ROIs, ring background (``[background] method = "annulus"``)
- ``true/auto``    the true cell masks, global background: what segmentation adds is the
                   difference to ``found/auto``
- ``true/ring``    true masks, ring background
- ``true/ring/known``  the same traces, amplitude read at the TRUE peak frame minus the
                   mean before the stimulus, instead of the measured kinetics: what peak
                   picking on a noisy trace adds is the difference to ``true/ring``
- ``noiseless``    true masks, ring background, no shot or read noise: what is left is
                   systematic (neighbour light, haze, bleaching, drift)
- ``noiseless, no halo/haze``  ... and no scattered light or out-of-focus cells
- ``noiseless, no bleach``     ... and no bleaching either (dF/F0 with F0 before the
                   stimulus does not follow bleaching)

Run:  python benchmarks/background_errors.py [--families plain,dark_nucleus] [--seeds 2]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import caimg
from caimg.metrics import score_against_truth
from caimg.pipeline import process_recording, resolve_pipeline
from caimg.synthetic import make_recording

CONDITIONS = ("found/auto", "found/ring", "true/auto", "true/ring", "true/ring/known",
              "noiseless", "noiseless, no halo/haze", "noiseless, no bleach")


def _run(syn, indicator, background, labels=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if labels is None:
            return caimg.run(syn.recording, pipeline=indicator,
                             stimulus_time_s=syn.stimulus_time_s,
                             background={"method": background})
        cfg = resolve_pipeline(indicator, syn.recording,
                               overrides={"stimulus_time_s": syn.stimulus_time_s,
                                          "background.method": background})
        return process_recording(syn.recording, cfg, labels=labels)


def _amp_errors(syn, res):
    s = score_against_truth(syn, res)
    return list(s.amplitude_error)


def _known_time_errors(syn, res):
    """Amplitude read at the true peak frame (no peak picking): signal there minus the
    mean signal before the stimulus; responders of the truth only."""
    time_s, roi_ids, values = res.trace_matrix()
    truth = syn.kinetics.set_index("roi")
    col = {int(r): j for j, r in enumerate(roi_ids)}
    pre = time_s < syn.stimulus_time_s
    out = []
    for rid, t in truth.iterrows():
        if not t["responder"] or int(rid) not in col:
            continue
        if "saturated" in truth.columns and bool(t["saturated"]):
            continue
        k = int(np.argmin(np.abs(time_s - (syn.stimulus_time_s + t["time_to_peak_s"]))))
        y = values[:, col[int(rid)]]
        amp = y[k] - np.nanmean(y[pre])
        out.append(abs(amp - t["amplitude"]) / t["amplitude"])
    return out


def one(indicator, family, seed, frames):
    """Amplitude errors of every condition on one recording."""
    kw = dict(preset="hard", family=family, rng=seed, n_frames=frames)
    syn = make_recording(indicator, **kw)
    err = {"found/auto": _amp_errors(syn, _run(syn, indicator, "auto")),
           "found/ring": _amp_errors(syn, _run(syn, indicator, "annulus")),
           "true/auto": _amp_errors(syn, _run(syn, indicator, "auto", syn.labels))}
    res = _run(syn, indicator, "annulus", syn.labels)
    err["true/ring"] = _amp_errors(syn, res)
    err["true/ring/known"] = _known_time_errors(syn, res)
    quiet = dict(shot_noise=False, read_noise=0.0)
    for name, extra in (("noiseless", {}),
                        ("noiseless, no halo/haze", {"halo_strength": 0.0, "haze_cells": 0}),
                        ("noiseless, no bleach", {"halo_strength": 0.0, "haze_cells": 0,
                                                  "bleach_per_frame": 0.0})):
        s2 = make_recording(indicator, **kw, **quiet, **extra)
        err[name] = _amp_errors(s2, _run(s2, indicator, "annulus", s2.labels))
    return err


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", default="plain,dark_nucleus,granular,silent,haze,wave")
    ap.add_argument("--indicators", default="fluo4,fura2")
    ap.add_argument("--seeds", type=int, default=2, help="tuning seeds 100..100+N-1")
    ap.add_argument("--frames", type=int, default=60)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    print("median relative amplitude error, hard preset, seeds "
          f"{list(range(100, 100 + args.seeds))}, {args.frames} frames")
    print(f"{'family':13s} {'ind':6s} " + " ".join(f"{c:>12.12s}" for c in CONDITIONS))
    for fam in args.families.split(","):
        for ind in args.indicators.split(","):
            pooled = {c: [] for c in CONDITIONS}
            for seed in range(100, 100 + args.seeds):
                for c, v in one(ind, fam, seed, args.frames).items():
                    pooled[c] += v
            print(f"{fam:13s} {ind:6s} " + " ".join(
                f"{np.nanmedian(pooled[c]) if pooled[c] else np.nan:12.1%}"
                for c in CONDITIONS), flush=True)
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

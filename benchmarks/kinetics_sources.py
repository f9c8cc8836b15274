"""Where the kinetics errors of the family benchmark come from (issue 13).

For each family and indicator of ``benchmarks/families.py`` (hard preset, 60 frames) the
same recording's kinetics are measured, with the recipe's options, on a ladder of signals
that adds one source of error at a time:

* ``truth``        the true noiseless signal (the definitions on the exact curve);
* ``truth+noise``  the true signal plus white noise of the SD of the extracted trace;
* ``true masks``   the pipeline's traces on the TRUE masks (background, halo, bleaching,
                   neighbours' light, drift: everything but segmentation);
* ``eroded masks`` the TRUE masks shrunk by 1 px (less light from touching neighbours);
* ``caimg``        the whole pipeline with caimg's segmentation (scored as the benchmark).

With ``--physics`` it instead renders the recording again with one image-formation knob
off at a time (flat background, no halo, no bleaching, no edge blur) and measures on the
TRUE masks, to split the ``true masks`` error among them.

Printed per rung: median |relative error| of amplitude, decay tau and 10-90 % rise
(responders in both), the signed median amplitude error, and responder calls right with
the counts of missed (FN) and false (FP) responders. Saturated cells are left out, as in
:func:`caimg.metrics.score_against_truth`.

Seeds: 100.. (the tuning seeds), never the reported 0..N-1.

Run:  python benchmarks/kinetics_sources.py [--seeds 1] [--families plain,wave]
      [--indicators fluo4,fura2] [--physics]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from caimg.config import kinetics_options
from caimg.kinetics import measure_kinetics, noise_sd
from caimg.metrics import match_labels
from caimg.pipeline import process_recording, resolve_pipeline
from caimg.synthetic import FAMILIES, make_recording

PHYSICS = {
    "as rendered": {},
    "flat background": {"background_gradient": 0.0, "vignetting": 0.0},
    "no halo": {"halo_strength": 0.0},
    "no bleaching": {"bleach_per_frame": 0.0},
    "no edge blur": {"edge_blur_px": 0.0},
    "none of these": {"background_gradient": 0.0, "vignetting": 0.0, "halo_strength": 0.0,
                      "bleach_per_frame": 0.0, "edge_blur_px": 0.0},
}


def errors(kin, truth, pairs):
    """Per matched (true id, measured id): responder calls and relative errors."""
    k = kin.set_index("roi")
    rows = []
    for ti, pi in pairs:
        t = truth.loc[ti]
        if bool(t.get("saturated", False)) or pi not in k.index:
            continue
        m = k.loc[pi]
        r = {"true": bool(t["responder"]), "called": bool(m["responder"])}
        if t["responder"] and m["responder"]:
            r["amp_signed"] = (m["amplitude"] - t["amplitude"]) / t["amplitude"]
            r["tau"] = abs(m["decay_tau_s"] - t["decay_tau_s"]) / t["decay_tau_s"]
            r["rise"] = abs(m["rise_time_s"] - t["rise_time_s"]) / t["rise_time_s"]
        rows.append(r)
    return pd.DataFrame(rows, columns=["true", "called", "amp_signed", "tau", "rise"])


def fmt(name, df):
    tr, ca = df["true"].astype(bool), df["called"].astype(bool)
    return (f"  {name:14s} n={len(df):4d} amp {np.nanmedian(df['amp_signed'].abs()):6.1%} "
            f"(signed {np.nanmedian(df['amp_signed']):+6.1%}) tau "
            f"{np.nanmedian(df['tau']):6.1%} rise {np.nanmedian(df['rise']):6.1%} resp "
            f"{(tr == ca).mean():6.1%} FN {int((tr & ~ca).sum()):3d} FP "
            f"{int((~tr & ca).sum()):3d}")


def _run(syn, indicator, labels=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = resolve_pipeline(indicator, syn.recording,
                               overrides={"stimulus_time_s": syn.stimulus_time_s})
        return cfg, process_recording(syn.recording, cfg, labels=labels)


def eroded(labels):
    """``labels`` without the pixels that touch another label or the background (1 px)."""
    cross = ndi.generate_binary_structure(2, 1)
    same = ndi.minimum_filter(labels, footprint=cross) == ndi.maximum_filter(labels,
                                                                             footprint=cross)
    return np.where(same, labels, 0)


def ladder(indicator, family, seed, rungs):
    syn = make_recording(indicator, preset="hard", family=family, rng=seed, n_frames=60)
    truth = syn.kinetics.set_index("roi")
    t = syn.recording.time_s()
    cfg, res_true = _run(syn, indicator, syn.labels)
    opts = kinetics_options(cfg.kinetics)
    _, ids, vals = res_true.trace_matrix()
    ids = np.asarray(ids)
    own = [(int(i), int(i)) for i in ids]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rungs["truth"].append(errors(measure_kinetics(syn.signal[:, ids - 1], t, roi_ids=ids,
                                                      **opts), truth, own))
        sd = np.array([noise_sd(vals[:, j]) for j in range(ids.size)])
        rng = np.random.default_rng(seed)
        noisy = syn.signal[:, ids - 1] + rng.normal(size=vals.shape) * np.nan_to_num(sd)
        noisy[:, ~np.isfinite(sd)] = np.nan  # a trace caimg could not measure stays so
        rungs["truth+noise"].append(errors(measure_kinetics(noisy, t, roi_ids=ids, **opts),
                                           truth, own))
    rungs["true masks"].append(errors(res_true.kinetics, truth, own))
    _, res_ero = _run(syn, indicator, eroded(syn.labels))
    rungs["eroded masks"].append(errors(res_ero.kinetics, truth, own))
    _, res = _run(syn, indicator)
    pairs = [tuple(int(v) for v in p) for p in match_labels(syn.labels, res.labels).pairs]
    rungs["caimg"].append(errors(res.kinetics, truth, pairs))


def physics(indicator, family, seed, rungs):
    for name, knobs in PHYSICS.items():
        syn = make_recording(indicator, preset="hard", family=family, rng=seed, n_frames=60,
                             **knobs)
        _, res = _run(syn, indicator, syn.labels)
        own = [(int(i), int(i)) for i in res.kinetics["roi"]]
        rungs[name].append(errors(res.kinetics, syn.kinetics.set_index("roi"), own))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=1, help="seeds 100..100+N-1")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--indicators", default="fluo4,fura2")
    ap.add_argument("--physics", action="store_true",
                    help="true masks with one image-formation knob off at a time")
    args = ap.parse_args(argv)
    names = list(PHYSICS) if args.physics else ["truth", "truth+noise", "true masks",
                                                "eroded masks", "caimg"]
    total = {ind: {n: [] for n in names} for ind in args.indicators.split(",")}
    for family in args.families.split(","):
        for ind in args.indicators.split(","):
            rungs = {n: [] for n in names}
            for seed in range(100, 100 + args.seeds):
                (physics if args.physics else ladder)(ind, family, seed, rungs)
            print(f"{family} {ind} (hard, seeds 100..{99 + args.seeds})", flush=True)
            for n in names:
                print(fmt(n, pd.concat(rungs[n])), flush=True)
                total[ind][n] += rungs[n]
    for ind, rungs in total.items():
        print(f"ALL FAMILIES {ind}")
        for n in names:
            print(fmt(n, pd.concat(rungs[n])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

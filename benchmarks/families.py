"""caimg beside a textbook pipeline on every synthetic family (issue 13).

For each family of cell appearance and behaviour in :data:`caimg.synthetic.FAMILIES`,
each indicator (Fluo-4, Fura-2), each difficulty (``standard`` = the ``moderate``
preset, ``hard`` = the ``hard`` preset) and each seed, a recording is rendered with
:func:`caimg.synthetic.make_recording` and run through the whole pipeline
(:func:`caimg.run`: registration, segmentation, traces, signal, kinetics) twice: with
caimg's segmentation (``auto``) and with the plain textbook one (``textbook``: Otsu
threshold after a wide background subtraction, filled holes, distance-transform
watershed; :mod:`caimg.segmentation._textbook`). Everything after segmentation is the
same, so the difference is the segmentation's.

caimg runs once per background method of ``--background`` (default ``auto,annulus``: the
global background and the local ring around each ROI, ``[background] method``); the
table shows, per family and difficulty, caimg's F1 and IoU once (segmentation does not
depend on the background) and then trace r, amplitude / tau / rise errors and responder
calls for each background method side by side. The textbook pipeline always uses the
global ``auto`` background (the floor is the same whatever caimg's background).

Per family and difficulty it prints, pooled over indicators and seeds, for caimg and the
textbook side by side: F1 at IoU >= 0.5 (2 x matches / (true + found)), mean matched IoU,
the median Pearson r between extracted and true signal (responders), the median relative
errors of amplitude, decay tau and 10-90 % rise time (cells that are responders in both),
and the fraction of right responder calls; then an overall row and which of the issue's
bars are met. Saturated cells count for detection but not for traces or kinetics (their
signal is clipped; :func:`caimg.metrics.score_against_truth` leaves them out).

Seeds: the report uses seeds 0 .. N-1. Anything tuned was tuned on seeds 100-199
(``--tune`` runs those instead); never tune on the reported seeds.

Run:  python benchmarks/families.py [--seeds 2] [--frames 60] [--quick] [--tune]
      [--families plain,granular] [--difficulty standard,hard] [--indicators fluo4,fura2]
      [--background auto,annulus]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import caimg
from caimg.metrics import score_against_truth
from caimg.synthetic import FAMILIES, make_recording

DIFFICULTY = {"standard": "moderate", "hard": "hard"}
#: the issue's bars: F1 per difficulty, mean IoU, r, amplitude/tau/rise errors, responders
BARS = {"f1": {"standard": 0.95, "hard": 0.92}, "iou": 0.85, "r": 0.99, "amp": 0.05,
        "tau": 0.05, "rise": 0.15, "resp": 0.97}
#: segmentation methods: caimg's and the textbook floor
METHODS = ("auto", "textbook")
#: background methods compared by default (``[background] method``)
BACKGROUNDS = ("auto", "annulus")


def run_one(indicator, preset, family, seed, n_frames, method, background="auto"):
    """Score one segmentation and background method on one recording; the pooled
    ingredients as a dict."""
    syn = make_recording(indicator, preset=preset, family=family, rng=seed, n_frames=n_frames)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = caimg.run(syn.recording, pipeline=indicator, stimulus_time_s=syn.stimulus_time_s,
                        segment_method=method, background={"method": background})
    s = score_against_truth(syn, res)
    return {"n_match": len(s.match.pairs), "n_true": s.match.n_true, "n_pred": s.match.n_pred,
            "iou": list(s.match.ious), "r": list(s.pearson_r), "amp": list(s.amplitude_error),
            "tau": list(s.decay_tau_error), "rise": list(s.rise_time_error),
            "resp": list(s.responder_correct)}


def pool(rows):
    """Pooled figures of several recordings' ``run_one`` dicts."""
    def cat(k):
        return np.concatenate([np.asarray(r[k], float) for r in rows]) if rows else np.zeros(0)

    def med(k):
        v = cat(k)
        v = v[np.isfinite(v)]
        return float(np.median(v)) if v.size else float("nan")

    nt = sum(r["n_true"] for r in rows)
    npred = sum(r["n_pred"] for r in rows)
    nm = sum(r["n_match"] for r in rows)
    iou = cat("iou")
    resp = cat("resp")
    return {"f1": 2 * nm / max(nt + npred, 1), "iou": float(iou.mean()) if iou.size else np.nan,
            "r": med("r"), "amp": med("amp"), "tau": med("tau"), "rise": med("rise"),
            "resp": float(resp.mean()) if resp.size else np.nan, "n_true": nt, "n_pred": npred}


def fmt(p):
    return f"{p['f1']:5.3f} {p['iou']:5.3f} " + fmt_traces(p)


def fmt_traces(p):
    """The trace and kinetics figures of a pooled row (what the background changes)."""
    return (f"{p['r']:6.4f} {p['amp']:6.1%} {p['tau']:6.1%} {p['rise']:6.1%} "
            f"{p['resp']:6.1%}")


def bars_met(p, difficulty):
    """Names of the issue's bars this pooled row misses."""
    miss = []
    if not p["f1"] >= BARS["f1"][difficulty]:
        miss.append("F1")
    for k, name in (("iou", "IoU"), ("r", "r"), ("resp", "resp")):
        if not p[k] >= BARS[k]:
            miss.append(name)
    for k, name in (("amp", "amp"), ("tau", "tau"), ("rise", "rise")):
        if not p[k] <= BARS[k]:
            miss.append(name)
    return miss


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=2, help="report on seeds 0..N-1")
    ap.add_argument("--frames", type=int, default=60, help="frames per recording")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--difficulty", default="standard,hard")
    ap.add_argument("--indicators", default="fluo4,fura2")
    ap.add_argument("--tune", action="store_true", help="seeds 100.. (for tuning), not 0..")
    ap.add_argument("--quick", action="store_true", help="1 seed, 40 frames, standard only")
    ap.add_argument("--verbose", action="store_true", help="one line per recording")
    ap.add_argument("--background", default=",".join(BACKGROUNDS),
                    help="caimg's background methods, side by side (default auto,annulus)")
    args = ap.parse_args(argv)
    n_seeds, frames, diffs = args.seeds, args.frames, args.difficulty.split(",")
    if args.quick:
        n_seeds, frames, diffs = 1, 40, ["standard"]
    seeds = [s + (100 if args.tune else 0) for s in range(n_seeds)]
    families = args.families.split(",")
    indicators = args.indicators.split(",")
    bgs = args.background.split(",")
    # the runs of one row: caimg with each background, then the textbook (global background)
    runs = [("auto", bg) for bg in bgs] + [("textbook", "auto")]
    t_start = time.perf_counter()
    print(f"seeds {seeds}, {frames} frames, indicators {indicators}, caimg backgrounds {bgs}")
    cols = f"{'r':>6s} {'amp':>6s} {'tau':>6s} {'rise':>6s} {'resp':>6s}"
    head = (f"{'family':17s} {'diff':8s} | {'F1':>5s} {'IoU':>5s} "
            + " | ".join(f"bg {bg}: {cols}" for bg in bgs)
            + f" | textbook: {'F1':>5s} {'IoU':>5s} {cols} | bars missed ("
            + "/".join(bgs) + ")")
    print(head)
    print("-" * len(head))
    all_rows = {r: {d: [] for d in diffs} for r in runs}
    worse = []

    def line(label, diff, p):
        auto = p[runs[0]]
        parts = [f"{label:17s} {diff:8s} | {auto['f1']:5.3f} {auto['iou']:5.3f}"]
        parts += [f"{' ' * (5 + len(bg))}{fmt_traces(p[('auto', bg)])}" for bg in bgs]
        parts.append(f"          {fmt(p[('textbook', 'auto')])}")
        parts.append(" / ".join(",".join(bars_met(p[("auto", bg)], diff)) or "-"
                                for bg in bgs))
        return " | ".join(parts)

    for fam in families:
        for diff in diffs:
            rows = {r: [] for r in runs}
            for ind in indicators:
                for seed in seeds:
                    for m, bg in runs:
                        r = run_one(ind, DIFFICULTY[diff], fam, seed, frames, m, bg)
                        rows[(m, bg)].append(r)
                        if args.verbose:
                            print(f"   {fam} {diff} {ind} seed {seed} {m} bg {bg}: "
                                  f"{fmt(pool([r]))}", flush=True)
            p = {r: pool(rows[r]) for r in runs}
            for r in runs:
                all_rows[r][diff] += rows[r]
            if p[runs[0]]["f1"] < p[("textbook", "auto")]["f1"]:
                worse.append(f"{fam}/{diff}")
            print(line(fam, diff, p), flush=True)
    print("-" * len(head))
    for diff in diffs:
        print(line("OVERALL", diff, {r: pool(all_rows[r][diff]) for r in runs}))
    print(f"caimg F1 below the textbook's on: {', '.join(worse) or 'no family'}")
    print(f"({time.perf_counter() - t_start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

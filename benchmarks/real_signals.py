"""Signal honesty on the real movies in ../shared/data: responder fraction, dF/F0 range and
low-signal ROIs.

Runs :func:`caimg.run` (recipe ``fluo4``, no stimulus time) on

- ``gcamp-optinist-mouse2p/sample_mouse2p_image.tiff`` (two-photon GCaMP, no stimulus;
  the first ``--frames`` frames at the 30 Hz OptiNiSt assumes),
- ``fura2-dynclust-340nm-stack/adu340_4small_TYX.tif`` (Fura-2 340 nm only, taken as a
  single-wavelength movie at an assumed 1 s frame interval),

and prints per movie: ROIs, accepted ROIs, ROIs flagged ``low_signal`` (when the column
exists), responders among the kinetics rows, and the 0.1 / 99.9 percentiles and extremes of
the reported dF/F0 over every ROI and frame (NaN left out).

``--background auto,annulus`` runs each movie once per background method (default: the
recipe's, the ring) to compare them.

Run:  python benchmarks/real_signals.py [--data ../shared/data] [--frames 600]
                                         [--background annulus]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np


def summarize(name, res):
    rois, kin = res.rois, res.kinetics
    d = res.traces["dff"].to_numpy(float)
    fin = d[np.isfinite(d)]
    n_low = int(rois["low_signal"].sum()) if "low_signal" in rois else float("nan")
    acc = int(rois["accepted"].astype(bool).sum())
    n_kin_rois = kin["roi"].nunique() if len(kin) else 0
    resp_rois = kin.loc[kin["responder"].astype(bool), "roi"].nunique() if len(kin) else 0
    per_roi = res.traces.groupby("roi")["dff"]
    lo, hi = per_roi.min(), per_roi.max()
    print(f"{name}: {len(rois)} ROIs, {acc} accepted, low_signal {n_low}; responders "
          f"{resp_rois}/{n_kin_rois} ROIs ({100 * resp_rois / max(n_kin_rois, 1):.0f} %)")
    if fin.size:
        p = np.percentile(fin, [0.1, 99.9])
        print(f"  dF/F0 over all ROIs and frames: min {fin.min():.3g}, 0.1 % {p[0]:.3g}, "
              f"99.9 % {p[1]:.3g}, max {fin.max():.3g}; NaN samples "
              f"{np.count_nonzero(~np.isfinite(d))}/{d.size}")
        print(f"  ROIs with min dF/F0 < -1: {int((lo < -1).sum())}; with max dF/F0 > 5: "
              f"{int((hi > 5).sum())}")
    ev = kin.loc[kin["responder"].astype(bool)] if len(kin) else kin
    if len(ev):
        print(f"  events: {len(ev)}; amplitude median {ev['amplitude'].median():.3g}, "
              f"max {ev['amplitude'].max():.3g}")


def run_one(stack, name, frame_interval_s, **overrides):
    import caimg
    from caimg.recording import Recording

    rec = Recording(channels={"f": stack}, frame_interval_s=frame_interval_s,
                    frame_interval_source="given", pixel_size_um=None, source=(),
                    layout="single", name=name, metadata={})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = caimg.run(rec, pipeline="fluo4", **overrides)
    summarize(name, res)
    return res


def main(argv=None):
    import tifffile

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent
                                          / "shared" / "data"))
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--background", default="annulus",
                    help="background methods, comma-separated (auto = one global value)")
    args = ap.parse_args(argv)
    data = Path(args.data)
    gc = data / "gcamp-optinist-mouse2p" / "sample_mouse2p_image.tiff"
    fu = data / "fura2-dynclust-340nm-stack" / "adu340_4small_TYX.tif"
    for bg in args.background.split(","):
        ov = {"background.method": bg}
        if gc.exists():
            stack = np.ascontiguousarray(tifffile.imread(gc)[:args.frames])
            run_one(stack, f"gcamp_optinist [{bg}]", 1 / 30.0, **ov)
            run_one(stack, f"gcamp_optinist(events=all) [{bg}]", 1 / 30.0,
                    **{"kinetics.events": "all", **ov})
        if fu.exists():
            run_one(tifffile.imread(fu), f"fura2_dynclust_340 [{bg}]", 1.0, **ov)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

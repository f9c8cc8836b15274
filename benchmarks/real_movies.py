"""caimg and the textbook segmentation on the real movies in ../shared/data, as overlays.

Runs :func:`caimg.run` (recipe ``fluo4``: one channel, the segmentation method either
caimg's ``auto`` or ``textbook``) on

- ``gcamp-optinist-mouse2p/sample_mouse2p_image.tiff`` (two-photon, 128 x 128, the first
  ``--frames`` frames at the 30 Hz OptiNiSt assumes; no ground-truth masks ship with it),
- ``fura2-dynclust-340nm-stack/adu340_4small_TYX.tif`` (Fura-2 340 nm only, 50 x 50 x 128),

prints ROI counts and the diameter segmentation used; writes PNG overlays (ROI
outlines over the mean image, caimg green, textbook magenta) to ``--out`` (default
/tmp/seg13_overlays), named ``<movie>_<estimate-diameter>.png``.

Run:  python benchmarks/real_movies.py [--data ../shared/data] [--frames 600]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np


def _overlay(path, image, layers, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skimage.segmentation import find_boundaries

    fig, axes = plt.subplots(1, len(layers), figsize=(6 * len(layers), 6), squeeze=False)
    lo, hi = np.percentile(image, [1, 99.7])
    for ax, (name, labels, colour) in zip(axes[0], layers, strict=True):
        ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        if labels is not None and labels.max() > 0:
            ax.contour(find_boundaries(labels, mode="inner"), [0.5], colors=colour,
                       linewidths=0.7)
        ax.set_title(f"{title}: {name} ({int(len(np.unique(labels)) - 1)} ROIs)")
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run_movie(stack, name, frame_interval_s, out, estimate="auto"):
    import caimg
    from caimg.motion import register
    from caimg.recording import Recording
    from caimg.segmentation import resolve_diameter

    rec = Recording(channels={"f": stack}, frame_interval_s=frame_interval_s,
                    frame_interval_source="given", pixel_size_um=None, source=(),
                    layout="single", name=name, metadata={})
    mean = register(stack).summary.mean
    d, src = resolve_diameter(mean, cell_diameter_px=12.0, estimate=estimate)
    results = {}
    for method in ("auto", "textbook"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params = {"estimate_diameter": estimate} if method == "auto" else {}
            results[method] = caimg.run(rec, pipeline="fluo4", segment_method=method,
                                        **{"segment.params": params})
    lab_c, lab_t = results["auto"].labels, results["textbook"].labels
    print(f"{name}: {stack.shape}, diameter {d:.1f} px ({src}); caimg {lab_c.max()} ROIs "
          f"({results['auto'].kinetics['responder'].sum()} responders), textbook "
          f"{lab_t.max()} ROIs")
    _overlay(out / f"{name}_{estimate}.png", mean, [("caimg", lab_c, "lime"),
                                         ("textbook", lab_t, "magenta")], name)
    return results


def main(argv=None):
    import tifffile

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent
                                          / "shared" / "data"))
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--out", default="/tmp/seg13_overlays")
    ap.add_argument("--estimate-diameter", default="auto", choices=("auto", "always", "never"),
                    help="segment.params.estimate_diameter for caimg (the recipe gives 12 px)")
    args = ap.parse_args(argv)
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gc = data / "gcamp-optinist-mouse2p" / "sample_mouse2p_image.tiff"
    if gc.exists():
        stack = tifffile.imread(gc)[:args.frames]
        run_movie(np.ascontiguousarray(stack), "gcamp_optinist", 1 / 30.0, out,
                  args.estimate_diameter)
    else:
        print(f"{gc}: not found, skipped")
    fu = data / "fura2-dynclust-340nm-stack" / "adu340_4small_TYX.tif"
    if fu.exists():
        run_movie(tifffile.imread(fu), "fura2_dynclust_340", 1.0, out, args.estimate_diameter)
    else:
        print(f"{fu}: not found, skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

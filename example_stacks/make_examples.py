"""Write the example stacks in this folder from caimg.synthetic, with fixed seeds.

Run from the repository root::

    python example_stacks/make_examples.py

Writes ``fura2_hyperstack.tif`` (ImageJ TCYX), ``fura2_pair_340.tif`` +
``fura2_pair_380.tif`` (ImageJ TYX each) and ``fluo4_cells.tif`` (ImageJ TYX), all uint16
with the frame interval and pixel size in the metadata, plus their ground truth in
``truth/`` (``<name>_kinetics.csv`` and ``<name>_truth.npz`` with labels, signal,
calcium_nM and shifts; not TIFF, so ``caimg run example_stacks`` does not pick them up).
The output is identical on every run (same seeds, same caimg.synthetic). See SOURCE.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from caimg.io.stack import write_recording
from caimg.synthetic import make_recording

HERE = Path(__file__).resolve().parent

# One place for everything that defines the examples (copied into SOURCE.md by hand).
COMMON = dict(preset="moderate", shape=(96, 96), n_frames=112, n_cells=15,
              frame_interval_s=0.5, stimulus_time_s=20.0, tau_max_s=8.0)
EXAMPLES = [
    # (file stem, indicator, layout, seed)
    ("fura2_hyperstack", "fura2", "hyperstack", 101),
    ("fura2_pair", "fura2", "pair", 102),
    ("fluo4_cells", "fluo4", "single", 103),
]


def summary(syn) -> dict:
    kin = syn.kinetics
    resp = kin[kin["responder"]]
    return {
        "n_cells": int(len(kin)),
        "n_responders": int(len(resp)),
        "n_touching": int(kin["touching"].sum()),
        "baseline_median": round(float(kin["baseline"].median()), 3),
        "amplitude_median": round(float(resp["amplitude"].median()), 3),
        "amplitude_range": [round(float(resp["amplitude"].min()), 3),
                            round(float(resp["amplitude"].max()), 3)],
        "decay_tau_s_median": round(float(resp["decay_tau_s"].median()), 2),
        "decay_tau_s_range": [round(float(resp["decay_tau_s"].min()), 2),
                              round(float(resp["decay_tau_s"].max()), 2)],
        "time_to_peak_s_median": round(float(resp["time_to_peak_s"].median()), 2),
        "max_drift_px": round(float(np.hypot(*syn.shifts.T).max()), 2),
    }


def main() -> dict:
    truth_dir = HERE / "truth"
    truth_dir.mkdir(exist_ok=True)
    report = {}
    for stem, indicator, layout, seed in EXAMPLES:
        syn = make_recording(indicator, rng=seed, **COMMON)
        rec = syn.recording
        files = write_recording(rec.channels, HERE / (stem if layout == "pair"
                                                      else f"{stem}.tif"),
                                layout=layout, frame_interval_s=rec.frame_interval_s,
                                pixel_size_um=rec.pixel_size_um)
        syn.kinetics.to_csv(truth_dir / f"{stem}_kinetics.csv", index=False,
                            float_format="%.6g")
        np.savez_compressed(truth_dir / f"{stem}_truth.npz", labels=syn.labels,
                            signal=syn.signal, calcium_nM=syn.calcium_nM, shifts=syn.shifts)
        info = {"indicator": indicator, "layout": layout, "seed": seed,
                "files": [p.name for p in files], **summary(syn)}
        report[stem] = info
        print(stem, json.dumps(info))
    params = {"common": {k: list(v) if isinstance(v, tuple) else v
                         for k, v in COMMON.items()}, "recordings": report}
    (truth_dir / "examples.json").write_text(json.dumps(params, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()

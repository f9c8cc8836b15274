"""A synthetic concentration-response experiment on disk, with its truth (for the tests
and docs/make_experiment_example.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .design import format_molar

__all__ = ["write_synthetic_experiment"]


def write_synthetic_experiment(folder, *, compound="igmesine", ec50_M=1e-6, hill_slope=1.0,
                               top=2.0, concentrations_M=(1e-8, 1e-7, 1e-6, 1e-5, 1e-4),
                               n_per_condition=3, coverslip_cv=0.15, seed=0,
                               shape=(64, 64), n_cells=5, n_frames=60, frame_interval_s=0.5,
                               stimulus_time_s=10.0):
    """Write Fluo-4 recordings whose response amplitude follows a Hill curve, and a
    ``design.csv`` for them.

    Every cell of a recording at concentration ``c`` responds with
    ``dF/F0 = top * c^h / (c^h + EC50^h) * (1 + coverslip_cv * z)``, ``z ~ N(0, 1)`` drawn
    once per recording (coverslip-to-coverslip variability; ``caimg.synthetic`` knobs
    ``amplitude_min = amplitude_max`` and ``responder_fraction = 1``); vehicle recordings
    get 0.

    Parameters
    ----------
    folder : path
        Created; receives ``recordings/<name>.tif`` and ``design.csv``.
    compound, ec50_M, hill_slope, top, concentrations_M, n_per_condition, coverslip_cv, seed :
        The experiment: one vehicle condition plus one per concentration (M), each with
        ``n_per_condition`` recordings (coverslips).
    shape, n_cells, n_frames, frame_interval_s, stimulus_time_s :
        Size of each recording (``caimg.synthetic.make_recording``).

    Returns
    -------
    dict
        ``recordings`` (folder of TIFFs), ``design`` (path), ``truth`` (compound,
        ec50_M, hill_slope, top, amplitudes per recording).
    """
    from .. import write_recording  # the top-level API: stable across io refactors
    from ..synthetic import make_recording

    folder = Path(folder)
    rec_dir = folder / "recordings"
    rec_dir.mkdir(parents=True, exist_ok=True)
    conditions = [("vehicle", 0.0)] + [(compound, float(c)) for c in concentrations_M]
    lines = ["recording,condition,compound,concentration,coverslip"]
    amplitudes = {}
    rng = np.random.default_rng(seed)
    for cname, conc in conditions:
        mean_amp = top * conc ** hill_slope / (conc ** hill_slope + ec50_M ** hill_slope)
        label = format_molar(conc).replace(" ", "").replace("µ", "u")
        stem = "vehicle" if conc == 0 else f"{cname}_{label}"
        cond = "vehicle" if conc == 0 else f"{cname} {format_molar(conc)}"
        for k in range(1, n_per_condition + 1):
            name = f"{stem}_cs{k}"
            amp = max(mean_amp * (1.0 + coverslip_cv * rng.standard_normal()), 0.0)
            syn = make_recording("fluo4", preset="easy", shape=shape, n_cells=n_cells,
                                 n_frames=n_frames, frame_interval_s=frame_interval_s,
                                 stimulus_time_s=stimulus_time_s,
                                 rng=int(rng.integers(2 ** 31)), amplitude_min=amp,
                                 amplitude_max=amp, responder_fraction=1.0)
            write_recording(syn.recording, rec_dir / f"{name}.tif", layout="single")
            amplitudes[name] = amp
        conc_text = "0" if conc == 0 else format_molar(conc).replace("µ", "u")
        lines.append(f"{stem}_cs*,{cond},{'vehicle' if conc == 0 else cname},{conc_text},")
    design = folder / "design.csv"
    design.write_text("\n".join(lines) + "\n")
    return {"recordings": rec_dir, "design": design,
            "truth": {"compound": compound, "ec50_M": ec50_M, "hill_slope": hill_slope,
                      "top": top, "amplitudes": amplitudes}}

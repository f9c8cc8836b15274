"""Build the worked example of docs/experiment.md: a synthetic concentration series, then
``caimg run`` and ``caimg summarize``, and copy two of its figures into
docs/experiment_example/.

    python docs/make_experiment_example.py [WORK_DIR]

WORK_DIR (default: a temporary folder) receives recordings/, design.csv, results/ and
report/. The truth: EC50 = 1 uM, Hill slope 1, top dF/F0 = 2, coverslip CV 15 %.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from caimg.cli import main
from caimg.experiment._demo import write_synthetic_experiment

HERE = Path(__file__).resolve().parent


def build(work: Path) -> Path:
    info = write_synthetic_experiment(work, compound="igmesine", ec50_M=1e-6, hill_slope=1.0,
                                      top=2.0, n_per_condition=4, seed=2026,
                                      shape=(96, 96), n_cells=10, n_frames=80)
    results, report = work / "results", work / "report"
    run = ["run", str(info["recordings"]), "--out", str(results), "--stimulus-time", "10"]
    summ = ["summarize", str(results), "--design", str(info["design"]), "--out", str(report),
            "--control", "vehicle"]
    for argv in (run, summ):
        print("$ caimg " + " ".join(argv), flush=True)
        if main(["-q", *argv] if argv[0] == "run" else argv) != 0:
            raise SystemExit(f"caimg {argv[0]} failed")
    print((info["design"]).read_text())
    return report


if __name__ == "__main__":
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="caimg_"))
    report = build(work)
    dest = HERE / "experiment_example"
    dest.mkdir(exist_ok=True)
    for name in ("dose_response_igmesine.png", "traces.png"):
        shutil.copyfile(report / name, dest / name)
    print(f"report in {report}; figures copied to {dest}")

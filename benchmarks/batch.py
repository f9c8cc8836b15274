"""A batch of small recordings: ``caimg run FOLDER --jobs 2`` against ``--jobs 1``.

Makes N (default 20) seeded synthetic Fluo-4 recordings (128 x 128, 300 frames, the
"moderate" preset) once in a temporary folder, then runs the CLI as a subprocess with
``--jobs 1`` and ``--jobs 2`` (``--force``, fresh output folders) and prints wall time,
recordings per second, the speed-up, and whether the two runs wrote identical tables.

Run:  python benchmarks/batch.py [--n 20] [--frames 300]

Numbers vary +-20 % on a shared VM; compare the two figures taken in one run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_inputs(folder: Path, n: int, frames: int) -> None:
    from caimg.io.stack import write_recording
    from caimg.synthetic import make_recording

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        p = folder / f"rec{i:02d}.tif"
        if not p.exists():
            syn = make_recording("fluo4", preset="moderate", n_frames=frames, rng=100 + i)
            write_recording(syn.recording, p, layout="single")


def tables(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.csv"))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args(argv)
    inputs = Path(tempfile.gettempdir()) / "caimg-bench" / f"batch_{args.n}x{args.frames}"
    t0 = time.perf_counter()
    make_inputs(inputs, args.n, args.frames)
    print(f"# {args.n} recordings in {inputs} ready in {time.perf_counter() - t0:.1f} s")
    work = Path(tempfile.mkdtemp(prefix="caimg-batch-"))
    res = {}
    try:
        for jobs in (1, 2):
            out = work / f"jobs{jobs}"
            t = time.perf_counter()
            p = subprocess.run([sys.executable, "-m", "caimg.cli", "-q", "run", str(inputs),
                                "--out", str(out), "--jobs", str(jobs), "--force"],
                               capture_output=True, text=True)
            res[jobs] = (time.perf_counter() - t, p.returncode, tables(out))
            if p.returncode:
                print(p.stdout, p.stderr)
        print(f"| run | s | recordings/s |")
        print(f"|---|---|---|")
        for jobs, (sec, rc, _) in res.items():
            print(f"| --jobs {jobs} (rc {rc}) | {sec:.2f} | {args.n / sec:.2f} |")
        print(f"speed-up --jobs 2 / --jobs 1: {res[1][0] / res[2][0]:.2f}x; identical tables: "
              f"{res[1][2] == res[2][2]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How a batch scales with cores: ``caimg run FOLDER --jobs J`` and a dask LocalCluster of J
single-threaded workers, for J = 1, 2, 4, ... up to the cores this process may use.

Makes N seeded synthetic Fluo-4 recordings ("moderate" preset; by default the workload of
issue 15: 256 x 256 pixels, 400 frames, 2 x max-jobs recordings and at least 24, about 2 s
each on one core) once in a temporary folder, then

* runs the CLI as a subprocess for each J (``-q run --jobs J --force``, a fresh output
  folder; start-up and imports included, as a user sees it),
* runs :func:`caimg.run_batch` on a ``dask.distributed.LocalCluster`` of J worker processes
  with one thread each, started with ``--preload caimg.dask_preload`` as the README says
  (cluster start-up, which includes each worker's imports, reported apart: a lab starts its
  cluster once for many batches), and, for J = 2, also the batch on a cluster started
  without the preload (its time includes each worker's first imports),
* prints wall time, recordings per second and parallel efficiency (time at J = 1 divided
  by J times the time at J) for each, whether every run wrote the same tables, and
* the per-recording fixed cost: the median time of a tiny recording (64 x 64, 20 frames),
  split into the pipeline stages of ``run.json`` and the rest (reading the request,
  hashing, writing the result folder), and what the overview figure adds (the same batch
  with ``output.overview_png = false``), and
* the batch fixed cost: the wall time of ``caimg -q run`` on one tiny recording minus that
  recording's steady-state time (start-up, imports, the first recording's warm-up, the
  batch tables, the exit): paid once by every batch, it caps how much ``--jobs`` can gain.

Run:  python benchmarks/batch.py [--n 32] [--frames 400] [--size 256] [--max-jobs 16]
                                  [--no-dask]

(``--frames 300 --size 128 --n 8`` is a 1-minute check; with recordings that small the
batch fixed cost, about 1.4 s, is a quarter of a ``--jobs 1`` run, and caps the speed-up.)

The default thread budget applies (cores shared out between the jobs). Numbers vary
+-20 % on a shared machine; compare the figures taken in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def job_counts(max_jobs: int) -> list[int]:
    """1, 2, 4, ... below max_jobs, and max_jobs itself."""
    out, j = [], 1
    while j < max_jobs:
        out.append(j)
        j *= 2
    return out + [max_jobs]


def make_inputs(folder: Path, n: int, frames: int, size: int, preset="moderate") -> None:
    from caimg.io.stack import write_recording
    from caimg.synthetic import make_recording

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        p = folder / f"rec{i:03d}.tif"
        if not p.exists():
            cells = max(4, round((25 if preset == "moderate" else 16) * (size / 128) ** 2))
            syn = make_recording("fluo4", preset=preset, shape=(size, size), n_frames=frames,
                                 n_cells=cells, rng=100 + i)
            write_recording(syn.recording, p, layout="single")


def tables(out: Path) -> dict[str, bytes]:
    """Every CSV of a batch (the per-recording ones and the batch tables)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.csv"))}


def run_cli(inputs: Path, out: Path, jobs: int, *extra: str) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "caimg", "-q", "run", str(inputs), "--out",
                        str(out), "--jobs", str(jobs), "--force", *extra], capture_output=True,
                       text=True, env=env)
    sec = time.perf_counter() - t
    if p.returncode:
        print(p.stdout, p.stderr, file=sys.stderr)
        raise SystemExit(f"caimg run --jobs {jobs} failed (exit {p.returncode})")
    return sec


def run_dask(inputs: Path, out: Path, workers: int, preload=True) -> tuple[float, float]:
    """(cluster start-up s, batch s) on a LocalCluster of ``workers`` 1-thread processes."""
    from distributed import LocalCluster

    from caimg.batch import run_batch

    t = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0",
                      preload=["caimg.dask_preload"] if preload else []) as cluster:
        start = time.perf_counter() - t
        t = time.perf_counter()
        summary = run_batch(inputs, out, "auto", scheduler=cluster.scheduler_address,
                            force=True)
        sec = time.perf_counter() - t
    if not summary.ok:
        raise SystemExit(f"dask batch with {workers} workers: {summary.n_failed} failed")
    return start, sec


def print_ratios(rows, single_thread_s: float) -> None:
    """The issue-15 comparisons at J = 2, and the scaling against one single-threaded
    process (``--jobs 1 --threads 1``): what the processes alone gain, free of how well one
    recording uses several threads.
    """
    sec = {(kind, j): s for kind, j, s, *_ in rows}
    print(f"\n--jobs 1 --threads 1 (one single-threaded process): {single_thread_s:.2f} s")
    for (kind, j), s in sec.items():
        if kind == "--jobs":
            print(f"  --jobs {j}: {single_thread_s / s:.2f}x that, efficiency "
                  f"{single_thread_s / (j * s):.0%}")
    if ("--jobs", 2) in sec:
        print(f"--jobs 2 vs --jobs 1: {sec['--jobs', 1] / sec['--jobs', 2]:.2f}x")
        for kind in ("dask", "dask, no preload"):
            if (kind, 2) in sec:
                print(f"{kind} J=2 vs --jobs 2: {sec[kind, 2] / sec['--jobs', 2] - 1:+.0%}")


def fixed_cost(work: Path, n: int = 6) -> None:
    """Median seconds of a tiny recording, split into the run.json stages and the rest."""
    from caimg.batch import run_batch

    tiny = work / "tiny_in"
    make_inputs(tiny, n, 20, 64, preset="easy")
    run_batch(tiny, work / "tiny_warm", "auto", force=True)  # imports, kernels
    summary = run_batch(tiny, work / "tiny_out", "auto", force=True)
    total = [o.seconds for o in summary.outcomes]
    stages: dict[str, list[float]] = {}
    for o in summary.outcomes:
        prov = json.loads((Path(o.folder) / "run.json").read_text())
        for k, v in prov.get("timings_s", {}).items():
            stages.setdefault(k, []).append(v)
    med = {k: statistics.median(v) for k, v in stages.items()}
    rest = statistics.median(total) - sum(med.values())
    bare = run_batch(tiny, work / "tiny_bare", "auto", force=True,
                     overrides={"output.overview_png": False})
    overview = statistics.median(total) - statistics.median(o.seconds for o in bare.outcomes)
    print(f"\nper-recording fixed cost (64 x 64 x 20 frames, median of {n}): "
          f"{statistics.median(total) * 1000:.0f} ms")
    print("  " + ", ".join(f"{k} {v * 1000:.0f}" for k, v in med.items())
          + f", rest (request key, up-to-date check, hashing, saving) {rest * 1000:.0f} ms, "
          f"of which overview.png {overview * 1000:.0f} ms")
    batch_fixed_cost(tiny, work)


def batch_fixed_cost(tiny: Path, work: Path, repeats: int = 3) -> None:
    """Seconds of ``caimg -q run`` on one tiny recording that are not that recording's own
    steady-state time: start-up and imports, the first recording's warm-up (kernel cache,
    lazy imports), the batch tables and the exit. Every batch pays it once, whatever its
    ``--jobs``; with ``--jobs J`` the workers pay their share side by side.
    """
    one = work / "one_in"
    one.mkdir(exist_ok=True)
    first = sorted(tiny.glob("*.tif"))[0]
    shutil.copy(first, one / first.name)
    walls = [run_cli(one, work / f"one_out{i}", 1) for i in range(repeats)]
    steady = statistics.median(total_s for total_s in _steady_seconds(tiny, work))
    wall = min(walls)
    print(f"batch fixed cost: `caimg -q run` of one tiny recording {wall:.2f} s (best of "
          f"{repeats}), of which the recording's own steady-state time {steady:.2f} s: "
          f"{wall - steady:.2f} s paid once per batch")


def _steady_seconds(tiny: Path, work: Path) -> list[float]:
    from caimg.batch import run_batch

    return [o.seconds for o in run_batch(tiny, work / "tiny_steady", "auto",
                                         force=True).outcomes]


def print_row(rows) -> None:
    """The table row of the last of ``rows``, flushed."""
    kind, j, sec, rate, eff, start, same = rows[-1]
    first = next(r[2] for r in rows if r[0] == kind.split(",")[0])
    note = f" (+{start:.1f} s cluster start)" if start is not None else ""
    print(f"| {kind} | {j} | {sec:.2f}{note} | {rate:.2f} | {first / sec:.2f}x | "
          f"{eff:.0%} | {same} |", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=None, help="recordings (default 2 x max-jobs, "
                                                         "at least 24)")
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--size", type=int, default=256, help="rows = columns of each recording")
    ap.add_argument("--max-jobs", type=int, default=cores())
    ap.add_argument("--no-dask", action="store_true", help="skip the LocalCluster runs")
    args = ap.parse_args(argv)
    n = args.n or max(24, 2 * args.max_jobs)
    inputs = (Path(tempfile.gettempdir()) / "caimg-bench"
              / f"batch_{n}x{args.frames}x{args.size}")
    t0 = time.perf_counter()
    make_inputs(inputs, n, args.frames, args.size)
    print(f"# {n} recordings ({args.size} x {args.size}, {args.frames} frames) in {inputs}, "
          f"ready in {time.perf_counter() - t0:.1f} s; {cores()} cores available, "
          f"{os.cpu_count()} in the machine")
    work = Path(tempfile.mkdtemp(prefix="caimg-batch-"))
    try:
        # every input in the page cache (each timed run reads them alike), and the kernels
        # compiled: one recording is enough for that
        for p in sorted(inputs.glob("*.tif")):
            p.read_bytes()
        one = work / "warm_in"
        one.mkdir()
        first = sorted(inputs.glob("*.tif"))[0]
        shutil.copy(first, one / first.name)
        run_cli(one, work / "warm", 1)
        rows, ref = [], None
        # each row is printed as it is measured (a long run cut short keeps what it has)
        print("| run | J | wall s | recordings/s | speed-up | efficiency | same tables |")
        print("|---|---|---|---|---|---|---|")
        for kind in ("--jobs", "dask") if not args.no_dask else ("--jobs",):
            base = None
            for j in job_counts(args.max_jobs):
                out = work / f"{kind.strip('-')}{j}"
                start = None
                if kind == "--jobs":
                    sec = run_cli(inputs, out, j)
                else:
                    start, sec = run_dask(inputs, out, j)
                base = sec if base is None else base  # J = 1 comes first
                same = tables(out)
                ref = ref or same
                rows.append((kind, j, sec, n / sec, base / (j * sec), start, same == ref))
                print_row(rows)
                shutil.rmtree(out, ignore_errors=True)
                if kind == "dask" and j == 2:
                    out = work / "dask2_cold"
                    start, sec = run_dask(inputs, out, j, preload=False)
                    rows.append(("dask, no preload", j, sec, n / sec, base / (j * sec), start,
                                 tables(out) == ref))
                    print_row(rows)
                    shutil.rmtree(out, ignore_errors=True)
        print_ratios(rows, run_cli(inputs, work / "single", 1, "--threads", "1"))
        fixed_cost(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End-to-end speed and memory of ``caimg run`` on big stacks, against the hardware floor.

Makes seeded synthetic stacks once (cached in a temporary folder), then, each in a fresh child
process (so imports, numba cache loading and peak RSS are those of a real ``caimg run``):

* the hardware floor, measured in the same run: one plain read of the file (``readinto``
  64 MiB blocks into one reused buffer) and one reduction over it (``max`` over a memory map,
  chunk by chunk); warm (file in page cache) and cold (``fsync`` + ``posix_fadvise(DONTNEED)``,
  /proc/sys/vm/drop_caches is not writable here);
* ``caimg run`` (open -> check -> register -> segment + background -> extract -> signal ->
  rois -> kinetics -> tables -> write the result folder; each stage timed, and "rest" is
  what is outside them: writing the folder and overview.png, library imports) on the
  Fluo-4 stack warm and cold, warm again with the
  shift estimated on a central 256 x 256 crop (``--set motion.crop_px=256``), and on the
  Fura-2 hyperstack (T pairs = 2T frames of 512 x 512);
* peak RSS at T and 4T frames, without the memory-mapped pages of the input (peak of
  ``RssAnon + RssShmem``, sampled every 5 ms, and ``VmHWM`` for reference);
* one-page-per-frame TIFF reading (512^2 and 128^2) through caimg's reader.

It prints one table where every time is also given as a ratio to the floor (warm: plain
read of the same file; cold: cold plain read).

Stacks: ``caimg.synthetic.make_recording`` renders 512 x 512 frames at about 27 frames/s, too
slow for 8000 frames, so it renders ``--base`` frames (default 120: 256 cells, the "moderate"
preset with 3 px drift) and the stack plays them forwards, backwards, forwards, ...
(frame t is rendered frame ``k(t)`` with ``k`` a triangle wave), so drift and calcium
stay continuous; the tiles are written with ``caimg.io.stack.write_recording``.

Run:  python benchmarks/throughput.py            # T = 2000, 4T = 8000 (takes ~3 min first time)
      python benchmarks/throughput.py --quick    # the spine figure: 1000 frames Fluo-4, 500-pair
                                                 # Fura-2, peak RSS vs 3x the file size
      python benchmarks/throughput.py --frames 500 --no-big   # small smoke run

Numbers vary +-20 % on a shared VM; quote the ratios taken in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
CACHE = Path(tempfile.gettempdir()) / "caimg-bench"


# --------------------------------------------------------------------------- stacks

class _PingPong:
    """Lazy (T, Y, X) stack that plays ``base`` (B, Y, X) forwards, backwards, forwards ..."""

    def __init__(self, base, n_frames):
        self.base = base
        self.shape = (int(n_frames), *base.shape[1:])
        self.dtype = base.dtype

    def index(self, t):
        b = self.base.shape[0]
        k = np.asarray(t) % (2 * b)
        return np.where(k < b, k, 2 * b - 1 - k)

    def __getitem__(self, key):
        t = np.arange(self.shape[0])[key]
        return self.base[self.index(t)]


def _base(indicator, n_base, size, seed):
    from caimg.synthetic import make_recording

    syn = make_recording(indicator, preset="moderate", shape=(size, size), n_frames=n_base,
                         n_cells=256 if size >= 512 else 25, rng=seed, drift_px=3.0,
                         frame_interval_s=0.1)
    return syn


def make_stack(indicator, n_frames, *, size=512, n_base=120, seed=7, pages="contiguous"):
    """Path of a cached synthetic stack (written once); Fura-2 is a (T, 2, Y, X) hyperstack."""
    from caimg.io.stack import write_recording

    CACHE.mkdir(exist_ok=True)
    name = f"{indicator}_{n_frames}x{size}_b{n_base}_s{seed}_{pages}.tif"
    path = CACHE / name
    if path.exists():
        return path
    syn = _base(indicator, n_base, size, seed)
    chans = {k: _PingPong(np.asarray(v), n_frames) for k, v in syn.recording.channels.items()}
    layout = "single" if indicator == "fluo4" else "hyperstack"
    write_recording(chans, path, layout=layout, frame_interval_s=0.1, pages=pages)
    return path


# --------------------------------------------------------------------------- child side

def _drop_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _status():
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[k] = int(v.split()[0]) * 1024
    return out


class _AnonPeak:
    """Peak of RssAnon + RssShmem, sampled in a thread (file-backed pages excluded)."""

    def __init__(self, interval=0.005):
        import threading

        self.peak = 0
        self.interval = interval
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            s = _status()
            self.peak = max(self.peak, s["RssAnon"] + s.get("RssShmem", 0))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        s = _status()
        self.peak = max(self.peak, s["RssAnon"] + s.get("RssShmem", 0))


def child_floor(path):
    """Plain read (readinto, 64 MiB reused buffer) and one max-reduction over a memmap."""
    import tifffile

    res = {}
    buf = bytearray(64 << 20)
    mv = memoryview(buf)
    t0 = time.perf_counter()
    n = 0
    with open(path, "rb", buffering=0) as fh:
        while True:
            k = fh.readinto(mv)
            if not k:
                break
            n += k
    res["read_s"] = time.perf_counter() - t0
    res["bytes"] = n
    mm = tifffile.memmap(path, mode="r")
    mm = mm.reshape(-1, *mm.shape[-2:])
    t0 = time.perf_counter()
    m = 0
    for a in range(0, mm.shape[0], 128):
        m = max(m, int(mm[a:a + 128].max()))
    res["reduce_s"] = time.perf_counter() - t0
    return res


def child_run(path, out, pipeline, extra):
    """``caimg run`` in-process, as the CLI does it; stage timings from run.json."""
    t_start = time.perf_counter()
    with _AnonPeak() as peak:
        from caimg.cli import main

        t_imp = time.perf_counter()
        rc = main(["-q", "run", str(path), "--out", str(out), "--pipeline", pipeline,
                   "--force", *extra])
        t_end = time.perf_counter()
    folder = Path(out) / Path(path).name.split(".")[0]
    prov = json.loads((folder / "run.json").read_text())
    s = _status()
    return {"rc": rc, "import_s": t_imp - t_start, "total_s": t_end - t_start,
            "run_s": t_end - t_imp, "timings": prov.get("timings_s", {}),
            "peak_anon": peak.peak, "hwm": s["VmHWM"], "shape": prov["shape"],
            "n_rois": prov["rois"]["n_rois"]}


def child_read_pages(path):
    """Read a one-page-per-frame TIFF as the pipeline does, then the plain-read floor.

    Timed: ``read_recording`` (open: metadata + the page table of every IFD), then every
    frame through ``TiffFrames.read_into``, 64 frames at a time into one reused
    ``np.empty((64, Y, X))`` buffer allocated inside the timing (as register and
    extract_traces read; its first touch is part of the cost). Then, in the same process,
    the floor: ``os.preadv`` of the whole file into one reused buffer (allocated and
    touched before its timing, so it is the copy from the page cache alone), no TIFF
    parsing, in 2 MiB blocks (cache-resident: the fastest plain read here) and in 64 MiB
    blocks (as the main floor row; larger than the L3 cache, about half as fast).
    """
    from caimg.io.stack import read_recording

    t0 = time.perf_counter()
    rec = read_recording(path, layout="single")
    ch = next(iter(rec.channels.values()))
    t1 = time.perf_counter()
    acc = 0
    buf = np.empty((64, *ch.shape[1:]), ch.dtype)
    for a in range(0, ch.shape[0], 64):
        b = min(a + 64, ch.shape[0])
        acc += int(ch.read_into(a, b, buf[:b - a])[:, 0, 0].sum())
    t2 = time.perf_counter()
    del buf
    res = {"open_s": t1 - t0, "read_s": t2 - t1, "frames": int(ch.shape[0])}
    for mib in (2, 64):
        block = np.ones(mib << 20, np.uint8)  # touched before timing: the copy alone
        fd = os.open(path, os.O_RDONLY)
        t3 = time.perf_counter()
        n = 0
        try:
            while True:
                k = os.preadv(fd, [block], n)
                if not k:
                    break
                n += k
        finally:
            os.close(fd)
        res[f"floor{mib}_s"] = time.perf_counter() - t3
        res["bytes"] = n
        del block
    return res


def _child(argv):
    kind, path = argv[0], argv[1]
    if len(argv) > 2 and argv[2] == "cold":
        _drop_cache(path)
    if kind == "floor":
        res = child_floor(path)
    elif kind == "run":
        res = child_run(path, argv[3], argv[4], argv[5:])
    elif kind == "pages":
        res = child_read_pages(path)
    else:
        raise SystemExit(f"unknown child {kind}")
    print("RESULT " + json.dumps(res))


# --------------------------------------------------------------------------- parent side

def _spawn(*args):
    env = dict(os.environ)
    p = subprocess.run([sys.executable, str(HERE), "--child", *map(str, args)],
                       capture_output=True, text=True, env=env)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"child {args} failed:\n{p.stdout}\n{p.stderr}")


def _warm(path):
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(64 << 20)
        while fh.readinto(buf):
            pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=2000, help="T (the memory check also runs 4T)")
    ap.add_argument("--quick", action="store_true",
                    help="spine figure: 1000-frame Fluo-4 + 500-pair Fura-2, no 4T, no cold")
    ap.add_argument("--no-big", action="store_true", help="skip the 4T memory runs")
    ap.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return _child(args.child)

    T = 1000 if args.quick else args.frames
    # Fura-2 "of the same size": T frames in all, T / 2 pairs (the spine figure: 500 pairs)
    T_fura = 500 if args.quick else args.frames // 2
    rows = []          # (label, seconds, frames, floor seconds, note)
    work = Path(tempfile.mkdtemp(prefix="caimg-throughput-"))
    try:
        t0 = time.perf_counter()
        fl = make_stack("fluo4", T)
        fu = make_stack("fura2", T_fura)
        print(f"# stacks ready in {time.perf_counter() - t0:.1f} s: {fl} "
              f"({fl.stat().st_size / 2**30:.2f} GiB), {fu} "
              f"({fu.stat().st_size / 2**30:.2f} GiB)", flush=True)

        _warm(fl)
        floor_w = _spawn("floor", fl, "warm")
        floor_c = _spawn("floor", fl, "cold")
        fr = floor_w["read_s"]
        frc = floor_c["read_s"]
        gb = floor_w["bytes"] / 1e9
        rows.append(("floor: plain read, warm", fr, T, fr, f"{gb / fr:.1f} GB/s"))
        rows.append(("floor: max over memmap, warm", floor_w["reduce_s"], T, fr, ""))
        rows.append(("floor: plain read, cold", frc, T, frc, f"{gb / frc:.1f} GB/s"))
        rows.append(("floor: max over memmap, cold (after the read)", floor_c["reduce_s"], T, frc,
                     ""))

        def run(path, pipeline, cold, label, n_frames, floor, extra=()):
            if not cold:
                _warm(path)
            r = _spawn("run", path, "cold" if cold else "warm", work / "out", pipeline, *extra)
            if r["rc"] != 0:
                raise RuntimeError(f"caimg run returned {r['rc']} on {path}")
            for k, v in r["timings"].items():
                rows.append((f"  {label}: {k}", v, n_frames, floor, ""))
            rows.append((f"  {label}: import caimg.cli", r["import_s"], None, floor, ""))
            rest = r["run_s"] - sum(r["timings"].values())
            rows.append((f"  {label}: rest", rest, None, floor,
                         "write the result folder + overview.png, library imports outside "
                         "the stages"))
            rows.append((f"{label}: END TO END", r["total_s"], n_frames, floor,
                         f"peak anon RSS {r['peak_anon'] / 2**20:.0f} MB (VmHWM "
                         f"{r['hwm'] / 2**20:.0f} MB), {r['n_rois']} ROIs"))
            return r

        r_w = run(fl, "fluo4", False, f"fluo4 {T}x512x512 warm", T, fr)
        mem = [(f"fluo4 T={T}", r_w["peak_anon"], fl.stat().st_size)]
        if not args.quick:
            run(fl, "fluo4", True, f"fluo4 {T}x512x512 cold", T, frc)
            # the optional centre-crop shift estimate (issue bar: >= 2 500 frames/s)
            run(fl, "fluo4", False, f"fluo4 {T}x512x512 warm, crop 256", T, fr,
                extra=("--set", "motion.crop_px=256"))
        _warm(fu)
        floor_fu = _spawn("floor", fu, "warm")
        r_fu = run(fu, "fura2", False, f"fura2 {T_fura} pairs warm", 2 * T_fura,
                   floor_fu["read_s"])
        mem.append((f"fura2 T={T_fura} pairs", r_fu["peak_anon"], fu.stat().st_size))
        if not (args.quick or args.no_big):
            fl4 = make_stack("fluo4", 4 * T)
            _warm(fl4)
            r4 = _spawn("run", fl4, "warm", work / "out", "fluo4")
            mem.append((f"fluo4 T={4 * T}", r4["peak_anon"], fl4.stat().st_size))
            rows.append((f"fluo4 {4 * T}x512x512 warm: END TO END", r4["total_s"], 4 * T,
                         None, f"peak anon RSS {r4['peak_anon'] / 2**20:.0f} MB"))
            fu4 = make_stack("fura2", 4 * T_fura)
            _warm(fu4)
            r4 = _spawn("run", fu4, "warm", work / "out", "fura2")
            mem.append((f"fura2 T={4 * T_fura} pairs", r4["peak_anon"], fu4.stat().st_size))
            rows.append((f"fura2 {4 * T_fura} pairs warm: END TO END", r4["total_s"],
                         8 * T_fura, None, f"peak anon RSS {r4['peak_anon'] / 2**20:.0f} MB"))
        if not args.quick:
            for size, n in ((512, 2000), (128, 20000)):
                p = make_stack("fluo4", n, size=size, pages="separate", n_base=60)
                for k in range(3):  # three fresh processes: the figure is noisy
                    _warm(p)
                    r = _spawn("pages", p, "warm")
                    gb = r["bytes"] / 1e9
                    rows.append((f"read one-page-per-frame {n}x{size}^2 (open + read) #{k + 1}",
                                 r["open_s"] + r["read_s"], n, r["floor2_s"],
                                 f"open {r['open_s']:.3f} s + read {r['read_s']:.3f} s; floor "
                                 f"(plain preadv, same child; x floor is to the 2 MiB one): "
                                 f"2 MiB blocks {r['floor2_s']:.3f} s "
                                 f"{gb / r['floor2_s']:.1f} GB/s, 64 MiB blocks "
                                 f"{r['floor64_s']:.3f} s {gb / r['floor64_s']:.1f} GB/s"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"| {'stage':<52} | {'s':>7} | {'frames/s':>9} | {'x floor':>7} | note |")
    print(f"|{'-' * 54}|{'-' * 9}|{'-' * 11}|{'-' * 9}|------|")
    for label, sec, n, floor, note in rows:
        fps = f"{n / sec:,.0f}" if n and sec > 0 else ""
        ratio = f"{sec / floor:.1f}" if floor and sec > 0 else ""
        print(f"| {label:<52} | {sec:7.3f} | {fps:>9} | {ratio:>7} | {note} |")
    print()
    print("| peak RSS without mapped input pages | MB | file MB | x file |")
    print("|---|---|---|---|")
    for label, peak, size in mem:
        print(f"| {label} | {peak / 2**20:.0f} | {size / 2**20:.0f} | {peak / size:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

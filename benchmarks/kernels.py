"""Speed and memory of caimg.motion and caimg.traces on synthetic 512 x 512 uint16 frames.

Prints frames/s for shift estimation (full frame and central crop), registration (reference
+ estimate + apply + summary images, as ``register``; and without the summary images;
the crop figures also with the stack memory-mapped from a file),
apply_shifts, summary images, and extraction (200 and
2000 ROIs; kernel only, and extract_traces including subpixel shifts and background), for
the numba path and the numpy fallback, plus the memory floor ratio: peak traced memory of
register + extract_traces at 4T over that at T (1.0 = flat in T).

Run:  python benchmarks/kernels.py [--frames 2000] [--quick]

Numbers vary +-20 % on a shared VM; compare figures taken in one run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from functools import partial

import numpy as np
from scipy import ndimage


def make_stack(n_frames, size=512, n_cells=300, seed=0):
    """Blob image with shot-like noise and a random-walk drift on a 0.1 px grid; uint16
    (T, Y, X) and the true aligning shifts (T, 2).

    Frame t is the padded base read at ``(y + w_t)``: the whole-pixel part of ``w_t`` by
    cropping, the fractional part from one of at most 100 Fourier-shifted copies of the base
    (exact band-limited subpixel motion, no interpolation blur)."""
    rng = np.random.default_rng(seed)
    pad = 12
    big = np.zeros((size + 2 * pad,) * 2)
    rr, cc = rng.integers(0, size + 2 * pad, (2, n_cells))
    big[rr, cc] = rng.uniform(500, 1500, n_cells)
    base = ndimage.gaussian_filter(big, 3) * 30 + 200
    noise = rng.normal(0, 15, (16, size + 2 * pad, size + 2 * pad)).astype(np.float32)
    walk = np.clip(np.cumsum(rng.normal(0, 0.4, (n_frames, 2)), axis=0), -8, 8)
    walk = np.round(walk * 10) / 10
    whole = np.floor(walk).astype(int)
    frac = np.round((walk - whole) * 10).astype(int)
    spec = np.fft.fft2(base)
    shifted = {}
    stack = np.empty((n_frames, size, size), np.uint16)
    for t in range(n_frames):
        key = (int(frac[t, 0]), int(frac[t, 1]))
        if key not in shifted:  # base(y + f) = fourier_shift(base, -f)
            f = np.array(key) / 10
            shifted[key] = np.fft.ifft2(ndimage.fourier_shift(spec, -f)).real.astype(np.float32)
        r, c = pad + whole[t]
        stack[t] = np.clip(shifted[key][r:r + size, c:c + size] + noise[t % 16][:size, :size],
                           0, 65535)
    return stack, walk


def make_labels(n_rois, size=512, radius=None, seed=1):
    """n_rois discs on a jittered grid (radius 8 for 200 ROIs, 4 for 2000)."""
    rng = np.random.default_rng(seed)
    radius = radius or (8 if n_rois <= 400 else 4)
    labels = np.zeros((size, size), np.int32)
    side = int(np.ceil(np.sqrt(n_rois)))
    step = size / side
    rr, cc = np.ogrid[:size, :size]
    k = 0
    for i in range(side):
        for j in range(side):
            if k == n_rois:
                break
            r = int((i + 0.5) * step + rng.uniform(-1, 1))
            c = int((j + 0.5) * step + rng.uniform(-1, 1))
            r0, r1 = max(r - radius, 0), min(r + radius + 1, size)
            c0, c1 = max(c - radius, 0), min(c + radius + 1, size)
            sub = (rr[r0:r1] - r) ** 2 + (cc[:, c0:c1] - c) ** 2 <= radius ** 2
            k += 1
            labels[r0:r1, c0:c1][sub] = k
    return labels


def best(fn, repeat=2):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=2000,
                    help="frames of the 512 x 512 stack (2000 = the issue's stack length)")
    ap.add_argument("--quick", action="store_true", help="300 frames, one repeat")
    args = ap.parse_args(argv)
    n_frames = 300 if args.quick else args.frames
    repeat = 1 if args.quick else 2

    from caimg import (
        _kernels as k,  # noqa: F401  (compile outside the timings)
        motion,
        traces,
    )
    from caimg._stream import run_blocks

    print(f"numba threads: {os.environ.get('NUMBA_NUM_THREADS', 'default')}, "
          f"cpu count {os.cpu_count()}")
    import scipy.fft
    a = np.random.default_rng(0).random((512, 512)).astype(np.float32)
    t, _ = best(lambda: [scipy.fft.rfft2(a, workers=1) for _ in range(50)], 3)
    print(f"machine check: float32 rfft2 512x512, 1 worker: {t / 50 * 1e3:.2f} ms "
          f"(0.5-0.6 ms on an idle machine of this kind; scale the figures below by it)")
    stack, true = make_stack(n_frames)
    T, Y, X = stack.shape
    print(f"stack {T} x {Y} x {X} uint16 ({stack.nbytes / 2**20:.0f} MiB)")
    # warm up (JIT compile or load from cache)
    reg = motion.register(stack[:40], reference_frames=20)
    traces.extract_traces(stack[:8], make_labels(20), shifts=reg.shifts[:8],
                          background=np.ones((Y, X), bool))

    ref = motion.register(stack[:200], reference_frames=100).reference
    rows = []
    for crop in (0, 256):
        t, sh = best(lambda crop=crop: motion.estimate_shifts(stack, ref, crop_px=crop), repeat)
        err = sh - true
        err -= np.median(err, axis=0)
        rows.append((f"estimate_shifts, {'full frame' if not crop else f'{crop}x{crop} crop'}",
                     T / t, f"max error {np.abs(err).max():.3f} px"))
    for crop in (0, 256):
        t, reg = best(lambda crop=crop: motion.register(stack, crop_px=crop), repeat)
        err = reg.shifts - true
        err -= np.median(err, axis=0)
        rows.append((f"register (ref 200 fr x 2 iters + estimate + apply + summary), "
                     f"{'full' if not crop else f'crop {crop}'}", T / t,
                     f"max error {np.abs(err).max():.3f} px"))
    buf = np.empty((64, Y, X), np.float32)

    def apply_all(shifts):
        for t0 in range(0, T, 64):
            c = stack[t0:t0 + 64]
            motion.apply_shifts(c, shifts[t0:t0 + 64], out=buf[:len(c)])
    t, _ = best(lambda: apply_all(reg.shifts), repeat)
    rows.append(("apply_shifts (bilinear, 64-frame chunks)", T / t, ""))
    # registration proper, without the summary projections: the reference (200 frames x 2
    # rounds) + every frame's shift + every frame shifted (bilinear, into a reused buffer)
    for crop in (0, 256):
        def estimate_and_apply(crop=crop):
            sh = motion.estimate_shifts(stack, crop_px=crop)
            apply_all(sh)
            return sh
        t, sh = best(estimate_and_apply, repeat)
        err = sh - true
        err -= np.median(err, axis=0)
        rows.append((f"registration proper (reference + estimate + apply, no summary), "
                     f"{'full' if not crop else f'crop {crop}'}", T / t,
                     f"max error {np.abs(err).max():.3f} px"))
    # the same two crop figures with the stack memory-mapped from a file, as caimg run reads
    # a contiguous TIFF (page cache warm: the file was just written)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "stack.u16")
        stack.tofile(path)
        mm = np.memmap(path, np.uint16, "r", shape=stack.shape)
        t, reg_mm = best(partial(motion.register, mm, crop_px=256), repeat)
        rows.append(("register, crop 256, memory-mapped file", T / t, ""))

        def proper_mm(src):
            sh = motion.estimate_shifts(src, crop_px=256)
            for t0 in range(0, T, 64):
                n = min(64, T - t0)
                motion.apply_shifts(src[t0:t0 + n], sh[t0:t0 + n], out=buf[:n])
        t, _ = best(partial(proper_mm, mm), repeat)
        rows.append(("registration proper, crop 256, memory-mapped file", T / t, ""))
        del mm, reg_mm
    t, _ = best(lambda: motion.summary_images(stack), repeat)
    rows.append(("summary_images (unshifted)", T / t, ""))

    for n_rois in (200, 2000):
        labels = make_labels(n_rois)
        r_, c_ = np.nonzero(labels)
        ids = np.unique(labels[r_, c_])
        col = np.searchsorted(ids, labels[r_, c_]).astype(np.int64)
        r_ = r_.astype(np.int64)
        c_ = c_.astype(np.int64)
        runs = traces._pixel_runs(r_, c_, col, Y)
        out = np.empty((64, ids.size))
        noshift = np.zeros((0, 2))
        chunk = stack[:64]
        def kernel_only(chunk=chunk, noshift=noshift, runs=runs, out=out):
            for _ in range(10):
                run_blocks(64, lambda a, b: k.roi_sums(chunk[a:b], noshift, *runs, out[a:b]))
        t, _ = best(kernel_only, repeat)
        rows.append((f"roi_sums kernel only (in-memory chunk, no shift), {n_rois} ROIs "
                     f"({r_.size} px)", 640 / t, ""))
        shifts = reg.shifts + np.random.default_rng(0).uniform(-0.5, 0.5, reg.shifts.shape)
        mask = traces.background_mask(labels)
        t, _ = best(partial(traces.extract_traces, stack, labels, shifts=shifts), repeat)
        rows.append((f"extract_traces + subpixel shifts, {n_rois} ROIs, numba", T / t, ""))
        t, _ = best(partial(traces.extract_traces, stack, labels, shifts=shifts,
                            background=mask), repeat)
        n_bg = int(mask.sum())
        n_bg = -(-n_bg // -(-n_bg // traces.MAX_BACKGROUND_SAMPLES))
        rows.append((f"  ... + background median ({n_bg} px sampled)", T / t, ""))
        os.environ["CAIMG_NO_NUMBA"] = "1"
        try:
            t, _ = best(partial(traces.extract_traces, stack[:200], labels,
                                shifts=shifts[:200]), 1)
            rows.append((f"extract_traces + subpixel shifts, {n_rois} ROIs, numpy fallback",
                         200 / t, ""))
        finally:
            del os.environ["CAIMG_NO_NUMBA"]

    print(f"\n{'operation':<78} {'frames/s':>9}")
    for name, fps, note in rows:
        print(f"{name:<78} {fps:>9.0f}  {note}")

    # memory: the stack lives in a file (np.memmap), so only caimg's own buffers are traced
    labels = make_labels(200)
    mask = traces.background_mask(labels)
    peaks = {}
    with tempfile.TemporaryDirectory() as d:
        for n in (n_frames // 4, n_frames):
            path = os.path.join(d, f"s{n}.u16")
            mm = np.memmap(path, np.uint16, "w+", shape=(n, Y, X))
            for t0 in range(0, n, 64):
                mm[t0:t0 + 64] = stack[t0 % T:t0 % T + 64][: min(64, n - t0)]
            mm.flush()
            mm = np.memmap(path, np.uint16, "r", shape=(n, Y, X))
            tracemalloc.start()
            r = motion.register(mm)
            traces.extract_traces(mm, labels, shifts=r.shifts, background=mask)
            peaks[n] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            del mm, r
    n1, n4 = sorted(peaks)
    print(f"\npeak traced memory, register + extract_traces: T={n1}: {peaks[n1] / 2**20:.1f} MiB,"
          f" T={n4}: {peaks[n4] / 2**20:.1f} MiB; memory floor ratio "
          f"{peaks[n4] / peaks[n1]:.2f} (1.0 = flat in T; one stack is "
          f"{n4 * Y * X * 2 / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()

"""Preload for dask workers: ``dask worker ADDRESS --preload caimg.dask_preload``.

A fresh dask worker process has imported nothing of caimg. Its first recording then also
pays for the imports of the pipeline (scipy, scikit-image, numba, pandas, matplotlib) and
for loading the compiled kernels from numba's cache: about 1-2 s per worker, more than a
small recording's analysis, and it lands inside the first batch sent to the cluster. With
this preload the worker does that when it starts, once for the life of the cluster, by
running the pipeline on a tiny synthetic recording, so that every batch after finds the
worker ready; it also turns off dask's statistical profiler on the worker (see
:func:`dask_setup`). (``caimg run --jobs`` needs no such step: its workers are forked from the
running ``caimg`` process.)

The same works for clusters started from Python, e.g.
``LocalCluster(n_workers=4, threads_per_worker=1, preload=["caimg.dask_preload"])``, and
for dask-jobqueue (``job_extra_directives`` or ``worker_extra_args=["--preload",
"caimg.dask_preload"]``).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import warnings
from pathlib import Path

__all__ = ["dask_setup", "warm_worker"]

log = logging.getLogger("caimg")


def warm_worker() -> float:
    """Import what a recording needs and load the kernels: run one tiny batch in a scratch
    folder (removed afterwards).

    Returns
    -------
    float
        Seconds it took.
    """
    from .batch import run_batch
    from .io.stack import write_recording
    from .synthetic import make_recording

    t0 = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="caimg-dask-preload-"))
    try:
        syn = make_recording("fluo4", preset="easy", shape=(48, 48), n_frames=24, n_cells=3,
                             rng=0)
        write_recording(syn.recording, scratch / "tiny.tif", layout="single")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a tiny recording's warnings mean nothing
            run_batch(scratch / "tiny.tif", scratch / "out", "fluo4", jobs=1, force=True,
                      overrides={"stimulus_time_s": 1.0})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return time.perf_counter() - t0


def _heap_as_glibc_default() -> bool:
    """Let malloc keep freed memory for reuse, as it does in a process dask did not start.

    dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` so that they hand
    freed memory back to the system at once. That setting also stops glibc from raising its
    mmap threshold, so every array over 128 KiB is a fresh mapping whose pages fault in
    again: on caimg's recordings (many arrays of a few MiB per frame chunk) it cost 13 % of a
    worker's time (2 workers, 8 recordings of 256 x 256 x 400: 11.1-11.4 s with it,
    9.7-10.0 s without). This sets the thresholds glibc's own adaptation ends at (mmap
    from 32 MiB, trim above 64 MiB), so a worker keeps at most 64 MiB of freed heap.
    Returns False where there is no glibc (then nothing changes).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold,
                                                                      64 << 20))


def dask_setup(worker) -> None:
    """The hook dask calls when a worker starts with ``--preload caimg.dask_preload``.

    Warms the process (:func:`warm_worker`), lets malloc reuse freed memory as it does
    outside dask (``_heap_as_glibc_default``), and turns off the worker's statistical
    profiler:
    it samples the running task's Python stack every 10 ms, and on caimg's recordings that
    cost 8-10 % of a worker's time (2-worker LocalCluster, 8 recordings of 256 x 256 x 400:
    11.2 s with it, 10.3 s without; ``caimg run --jobs 2`` 10.1-10.4 s). It only feeds the
    dashboard's Profile page; start workers without this preload to keep it.

    Parameters
    ----------
    worker : distributed.Worker
        The starting worker. dask runs preloads before it starts its periodic callbacks,
        so removing the profiler's ones here is what ``distributed.worker.profile.enabled =
        false`` does.
    """
    _heap_as_glibc_default()
    seconds = warm_worker()
    callbacks = getattr(worker, "periodic_callbacks", {})
    stopped = [callbacks.pop(name) for name in ("profile", "profile-cycle") if name in callbacks]
    for pc in stopped:
        pc.stop()
    log.info("caimg: dask worker ready in %.1f s (pipeline imported, kernels loaded%s)",
             seconds, ", profiler off" if stopped else "")

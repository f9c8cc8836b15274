"""Preload for dask workers: ``dask worker ADDRESS --preload caimg.dask_preload``.

A fresh dask worker process has imported nothing of caimg. Its first recording then also
pays for the imports of the pipeline (scipy, scikit-image, numba, pandas, matplotlib) and
for loading the compiled kernels from numba's cache: about 1-2 s per worker, more than a
small recording's analysis, and it lands inside the first batch sent to the cluster. With
this preload the worker does that when it starts, once for the life of the cluster, by
running the pipeline on a tiny synthetic recording, so that every batch after finds the
worker ready. (``caimg run --jobs`` needs no such step: its workers are forked from the
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


def dask_setup(worker) -> None:
    """The hook dask calls when a worker starts with ``--preload caimg.dask_preload``.

    Parameters
    ----------
    worker : distributed.Worker
        The starting worker (unused: the preload only warms the process).
    """
    seconds = warm_worker()
    log.info("caimg: dask worker ready in %.1f s (pipeline imported, kernels loaded)", seconds)

"""Thread budget of a batch: how many threads one recording may use, applied in one place
to caimg's worker pool, numba and the BLAS/OpenMP libraries of a process.
"""

from __future__ import annotations

import os
import sys
import warnings

from ._stream import set_worker_count

__all__ = [
    "THREAD_ENV",
    "available_cores",
    "current_budget",
    "set_thread_budget",
    "threads_per_job",
]


#: Environment variables that size the thread pools of caimg and the libraries below it.
#: Set before those libraries start their pools (spawned workers) they are enough; in a
#: process that has loaded them already (forked workers), threadpoolctl limits them too.
THREAD_ENV = ("CAIMG_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
              "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

_BUDGET: int | None = None  # the budget applied in this process, if any


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` elsewhere).

    Returns
    -------
    int
        The number of usable cores, at least 1.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def threads_per_job(jobs: int, threads: int | None = None) -> int:
    """The thread budget of one recording: ``threads`` when given, else the available
    cores shared out between ``jobs`` parallel recordings (at least 1).
    """
    if threads:
        return int(threads)
    return max(1, available_cores() // max(1, int(jobs)))


def set_thread_budget(n: int) -> None:
    """Let this process use at most ``n`` threads per recording: caimg's worker pool,
    numba, and the BLAS/OpenMP libraries (through threadpoolctl when they are loaded).

    This is the one place a batch sizes threads; it runs in each worker process before
    its first recording (and in the calling process for ``jobs=1`` with ``threads``).

    Parameters
    ----------
    n : int
        Threads per recording; values below 1 count as 1.
    """
    global _BUDGET
    n = max(1, int(n))
    for key in THREAD_ENV:
        os.environ[key] = str(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency; without it the variables act
        pass
    else:
        with warnings.catch_warnings():  # e.g. two OpenMP runtimes loaded: not the user's
            warnings.simplefilter("ignore")
            threadpool_limits(limits=n)
    numba = sys.modules.get("numba")
    if numba is not None:  # loaded already (a forked worker): its variable was read
        # its pool size is fixed at import: keep the variable at that size, or the next
        # compilation's config reload raises "Cannot set NUMBA_NUM_THREADS to a different
        # value once the threads have been launched" (seen with a cold kernel cache)
        os.environ["NUMBA_NUM_THREADS"] = str(numba.config.NUMBA_NUM_THREADS)
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    set_worker_count(n)  # caimg's own pool is remade at this size at its next use
    _BUDGET = n


def current_budget() -> int | None:
    """The budget :func:`set_thread_budget` applied in this process, or None."""
    return _BUDGET

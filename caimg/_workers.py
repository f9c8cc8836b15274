"""Worker processes of a parallel batch, and stopping a batch on Ctrl-C or SIGTERM.

A batch stops promptly: what is queued is cancelled, the workers are told to stop (SIGTERM)
and each removes the hidden folder of the result it was writing before it exits. A worker
never outlives its parent: on Linux the kernel sends it SIGTERM when the parent dies
(``PR_SET_PDEATHSIG``), and everywhere a thread of the worker watches the parent's pid.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from ._stream import share_cores
from ._threads import set_thread_budget

__all__ = ["BatchTerminated", "run_in_pool", "stop_on_sigterm"]


class BatchTerminated(KeyboardInterrupt):
    """The batch was asked to stop by a signal (SIGTERM); ``exit_code`` is 128 + signal."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(f"stopped by signal {signum}")
        self.exit_code = 128 + int(signum)


class _WorkerStop(BaseException):
    """Raised in a worker's task by SIGTERM: unwinds it (removing a half-written result
    folder) up to :func:`_in_worker`, which then ends the process.
    """


_IN_TASK = False
_PR_SET_PDEATHSIG = 1


#: seconds a stopping task may take to unwind before the worker ends regardless
_STOP_GRACE_S = 5.0


def _on_worker_sigterm(signum, frame):
    if _IN_TASK:
        # the exception can land where Python cannot raise it (inside a weakref or __del__
        # callback, reported as "Exception ignored"), and the task would go on: end the
        # process then, after a grace period for the normal unwinding
        timer = threading.Timer(_STOP_GRACE_S, os._exit, (128 + signum,))
        timer.daemon = True
        timer.start()
        raise _WorkerStop()
    os._exit(128 + signum)  # idle: nothing to clean up


def _quiet_stop(unraisable, _default=sys.unraisablehook) -> None:
    """Drop the "Exception ignored" report of a stop that landed in a callback (the
    grace timer ends the worker); report anything else as Python would.
    """
    if not isinstance(unraisable.exc_value, _WorkerStop):
        _default(unraisable)


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            return
        time.sleep(0.5)


def _worker_init(threads: int, parent: int, share=None) -> None:
    """Initializer of each worker: its thread budget (and, with ``share`` = (cores, busy),
    caimg's own threads follow the recordings still running: see
    :func:`caimg._stream.share_cores`); Ctrl-C is the parent's to handle (a terminal sends
    it to the whole process group); SIGTERM (from the parent, or from the kernel when the
    parent dies) stops the worker cleanly.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_worker_sigterm)
    sys.unraisablehook = _quiet_stop
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
        except (OSError, AttributeError):  # pragma: no cover - the watcher still runs
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(128 + signal.SIGTERM)
    threading.Thread(target=_watch_parent, args=(parent,), name="caimg-parent-watch",
                     daemon=True).start()
    set_thread_budget(threads)
    if share is not None:
        share_cores(*share)


def _in_worker(fn, *args):
    """Run one task in a worker; a SIGTERM during it ends the process once the task's
    cleanup (e.g. of a ``.partial`` result folder) has run.
    """
    global _IN_TASK
    _IN_TASK = True
    try:
        return fn(*args)
    except _WorkerStop:
        os._exit(128 + signal.SIGTERM)
    finally:
        _IN_TASK = False


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into :class:`BatchTerminated` (a KeyboardInterrupt) in the main thread
    while the block runs, so a terminated batch cleans up as on Ctrl-C.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise BatchTerminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop(workers, timeout_s: float = 10.0) -> None:
    """SIGTERM the workers, wait for them to clean up and exit, SIGKILL what remains."""
    for p in workers:
        with contextlib.suppress(OSError, ValueError):
            p.terminate()
    deadline = time.monotonic() + timeout_s
    for p in workers:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            with contextlib.suppress(OSError, ValueError):
                p.kill()
            p.join(1.0)


def run_in_pool(fn: Callable, arglists: Sequence[tuple], *, workers: int, threads: int,
                done: Callable, cores: int | None = None,
                costs: Sequence[float] | None = None) -> None:
    """``fn(*args)`` for each of ``arglists`` on ``workers`` processes of ``threads``
    threads each, calling ``done(result)`` as each completes.

    With ``cores`` (the batch's cores; for the default budget), caimg's threads in
    a worker follow the tasks still running: when fewer tasks than workers are left, they
    share the idle cores (never more threads than cores in all). With ``costs`` (e.g. input
    bytes), the costliest tasks are started first, so that a long one does not run alone at
    the end of the batch.

    On any exception in the parent (Ctrl-C, :class:`BatchTerminated`), what is queued is
    cancelled and the workers are stopped before it propagates.
    """
    before = set(multiprocessing.active_children())
    busy = None if cores is None else multiprocessing.Value("i", workers, lock=False)
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init,
                               initargs=(threads, os.getpid(),
                                         None if busy is None else (cores, busy)))
    order = (range(len(arglists)) if costs is None
             else sorted(range(len(arglists)), key=lambda i: -costs[i]))
    try:
        futs = [pool.submit(_in_worker, fn, *arglists[i]) for i in order]
        left = len(futs)
        for fut in as_completed(futs):
            left -= 1
            if busy is not None:  # the tasks still running: one per worker while queued
                busy.value = max(1, min(workers, left))
            done(fut.result())
    except BaseException:
        # the pool's manager thread ends once its workers are gone: waited for here, so that
        # Python 3.11's exit hook does not wake it through the pipe it closed as it ended
        # ("Exception ignored ... OSError: [Errno 9] Bad file descriptor"; fixed in 3.12)
        manager = getattr(pool, "_executor_manager_thread", None)
        pool.shutdown(wait=False, cancel_futures=True)
        _stop([p for p in multiprocessing.active_children() if p not in before])
        if manager is not None:
            manager.join(10.0)
        del manager
        raise
    pool.shutdown(wait=True)

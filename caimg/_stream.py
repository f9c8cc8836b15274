"""Frame streaming and the worker threads shared by the streaming stages.

Stacks are read in frame chunks (``stack[t0:t1]``), so a numpy array, a memory map or any
lazy object with that indexing works and a stack is never copied whole
(:func:`read_frames`, :func:`chunks`, :class:`ReadBuffer`).

Work on a chunk is split into contiguous blocks over one process-wide thread pool
(:func:`run_blocks`, :func:`run_each`). The compiled kernels release the GIL, so the blocks
run in parallel. The number of threads (:func:`worker_count`) is, by default, the number of
cores this process may run on, at most 8; the environment variable ``CAIMG_THREADS``
(read once, at the first use) or :func:`set_worker_count` sets it instead. With one thread
there is no pool and the work runs in the calling thread.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._validation import check_whole
from .errors import CaimgError

__all__ = ["ReadBuffer", "read_frames", "chunks", "stack_shape", "native_frames",
           "worker_count", "set_worker_count", "machine_worker_count", "block_edges",
           "run_blocks", "run_each",
           "THREADS_ENV", "MAX_DEFAULT_THREADS", "share_cores"]

#: Environment variable that sets the number of worker threads (a whole number >= 1).
THREADS_ENV = "CAIMG_THREADS"
#: Largest default thread count: beyond 8 the FFTs and reads of one recording gain little.
MAX_DEFAULT_THREADS = 8


# --------------------------------------------------------------------------- frames

def stack_shape(stack, name: str = "stack") -> tuple[int, int, int]:
    """``(T, Y, X)`` of a stack, checked.

    Parameters
    ----------
    stack : array-like, (T, Y, X)
        Anything with a 3-element ``shape``.
    name : str
        Parameter name, for the message.

    Returns
    -------
    tuple of int
        ``(T, Y, X)``; T may be 0, Y and X are >= 1.

    Examples
    --------
    >>> stack_shape(np.zeros((0, 4, 5)))
    (0, 4, 5)
    """
    shape = getattr(stack, "shape", None)
    if shape is None or len(shape) != 3:
        raise CaimgError(f"'{name}' must be a (T, Y, X) array-like with a shape attribute, "
                         f"got shape {shape!r}; pass one channel of the recording")
    t, y, x = (int(s) for s in shape)
    if y < 1 or x < 1:
        raise CaimgError(f"'{name}' has empty frames (shape {tuple(shape)}); expected Y, X >= 1")
    return t, y, x


def native_frames(a, name: str = "stack") -> np.ndarray:
    """Frames as a C-contiguous array of native byte order and a dtype the kernels compile
    for (no copy when they already are; values never rescaled).

    Parameters
    ----------
    a : array-like
        Real integer or float pixels.
    name : str
        Parameter name, for the message.

    Returns
    -------
    ndarray
        ``a`` itself when it is already such an array; float16 becomes float32, long
        double float64, big-endian data native.

    Examples
    --------
    >>> native_frames(np.zeros((1, 2, 2), ">u2")).dtype.isnative
    True
    """
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise CaimgError(f"'{name}' has dtype {a.dtype}; expected real integer or float pixels")
    if a.dtype == np.float16 or a.dtype.itemsize > 8:  # float16 / long double: not in numba
        a = a.astype(np.float32 if a.dtype == np.float16 else np.float64)
    elif not a.dtype.isnative:  # big-endian TIFF pages
        a = a.astype(a.dtype.newbyteorder("="))
    return np.ascontiguousarray(a)


class ReadBuffer:
    """A reusable destination for :func:`read_frames`: one allocation per loop instead of
    one per chunk.

    Used by stacks that can read into a buffer (``read_into(t0, t1, out)``, e.g.
    :class:`caimg.io.stack.TiffFrames`) and for copies of non-contiguous memory maps. One
    buffer per thread; the frames a read returned are overwritten by the next read.
    """

    def __init__(self):
        self.buf = None

    def get(self, stack, n: int, yx: tuple[int, int]) -> np.ndarray:
        """Return an ``(n, *yx)`` array of ``stack.dtype`` (the buffer grows when needed)."""
        dtype = np.dtype(stack.dtype)
        if self.buf is None or self.buf.shape[0] < n or self.buf.dtype != dtype:
            self.buf = np.empty((n, *yx), dtype)
        return self.buf[:n]


def read_frames(stack, t0: int, t1: int, yx: tuple[int, int],
                buffer: ReadBuffer | None = None) -> np.ndarray:
    """Frames ``t0:t1`` as a C-contiguous native numpy array (no copy when already one).

    Parameters
    ----------
    stack : array-like, (T, Y, X)
        Numpy array, memory map, or lazy object whose ``stack[t0:t1]`` returns numpy.
    t0, t1 : int
        Frame range.
    yx : tuple of int
        Frame shape ``(Y, X)``, checked against what the stack returned.
    buffer : ReadBuffer, optional
        With a stack that has ``read_into`` (or returns a non-contiguous array), the frames
        are read into this reused buffer, valid until its next read.

    Returns
    -------
    ndarray, (t1 - t0, Y, X)
        See :func:`native_frames`.

    Examples
    --------
    >>> read_frames(np.arange(8).reshape(2, 2, 2), 1, 2, (2, 2)).tolist()
    [[[4, 5], [6, 7]]]
    """
    if buffer is not None and hasattr(stack, "read_into") \
            and np.dtype(getattr(stack, "dtype", object)).isnative:
        a = stack.read_into(t0, t1, buffer.get(stack, t1 - t0, yx))
    else:
        a = stack[t0:t1]
        if buffer is not None and isinstance(a, np.ndarray) and not a.flags.c_contiguous \
                and a.dtype.isnative and a.dtype.kind in "uif" and a.dtype.itemsize <= 8:
            # e.g. one channel of an interleaved hyperstack memmap: copy into the reused
            # buffer instead of a fresh array per chunk
            out = buffer.get(a, t1 - t0, yx) if a.shape == (t1 - t0, *yx) else None
            if out is not None:
                np.copyto(out, a)
                a = out
    a = native_frames(a)
    if a.shape != (t1 - t0, *yx):
        raise CaimgError(f"stack[{t0}:{t1}] returned shape {a.shape}; expected "
                         f"{(t1 - t0, *yx)} (a lazy stack must return numpy frames)")
    return a


def chunks(n: int, size: int):
    """``(t0, t1)`` ranges of at most ``size`` frames covering ``range(n)``, in order.

    Parameters
    ----------
    n : int
        Number of frames.
    size : int
        Frames per chunk (>= 1).

    Yields
    ------
    tuple of int

    Examples
    --------
    >>> list(chunks(5, 2))
    [(0, 2), (2, 4), (4, 5)]
    """
    for t0 in range(0, n, size):
        yield t0, min(n, t0 + size)


# --------------------------------------------------------------------------- threads

_POOL = None  # (pid, n_workers, ThreadPoolExecutor) of this process
_POOL_LOCK = threading.Lock()
_WORKERS = None  # the count set by set_worker_count or CAIMG_THREADS; None = default
_SHARE = None  # (cores, shared count of busy batch workers): see share_cores
_ENV_READ = False


def _default_worker_count() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, MAX_DEFAULT_THREADS))


def _workers_from_env():
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise CaimgError(f"environment variable {THREADS_ENV}={text!r}: expected a whole "
                         f"number >= 1 of worker threads; unset it for the default "
                         f"(the cores this process may use, at most {MAX_DEFAULT_THREADS})")
    return value


def worker_count() -> int:
    """Threads the streaming stages split their work over (1 = no pool).

    Returns
    -------
    int
        The count given to :func:`set_worker_count`, else ``CAIMG_THREADS`` (read at the
        first call), else the number of cores this process may run on (its CPU affinity,
        looked up at each call), at most ``MAX_DEFAULT_THREADS`` (8).

    Examples
    --------
    >>> worker_count() >= 1
    True
    """
    global _WORKERS, _ENV_READ
    if _SHARE is not None:
        cores, busy = _SHARE
        return max(1, min(MAX_DEFAULT_THREADS, cores // max(1, busy.value)))
    if not _ENV_READ:
        _WORKERS = _workers_from_env() if _WORKERS is None else _WORKERS
        _ENV_READ = True
    return _default_worker_count() if _WORKERS is None else _WORKERS


def share_cores(cores: int | None, busy=None) -> None:
    """Make :func:`worker_count` follow a batch: ``cores // busy.value`` threads (at least
    1, at most ``MAX_DEFAULT_THREADS``), read at each use.

    A worker process of a batch calls this with the batch's cores and a shared integer
    (``multiprocessing.Value``) that the parent keeps at the number of recordings still
    running. While every worker is busy each gets its share of the cores; at the end of a
    batch, when fewer recordings than workers are left, the remaining ones take the idle
    cores at their next parallel step. Results do not change: work whose numbers depend on
    how it is split follows :func:`machine_worker_count`.

    Parameters
    ----------
    cores : int or None
        Cores of the batch; None stops following it (back to :func:`set_worker_count`'s).
    busy : multiprocessing.Value of int
        Recordings running in the batch now.
    """
    global _SHARE
    _SHARE = None if cores is None else (max(1, int(cores)), busy)


def set_worker_count(n: int | None) -> None:
    """Set the number of worker threads for this process (and processes it forks).

    Parameters
    ----------
    n : int or None
        Whole number >= 1; None returns to the default (``CAIMG_THREADS``, read again at
        the next use, else the cores available, at most 8).

    Notes
    -----
    The pool is remade with the new size at its next use; work already submitted to the
    old pool finishes there.

    Examples
    --------
    >>> before = worker_count()
    >>> set_worker_count(1); worker_count()
    1
    >>> set_worker_count(None); worker_count() == before
    True
    """
    global _WORKERS, _ENV_READ, _SHARE
    _SHARE = None
    if n is None:
        _WORKERS, _ENV_READ = None, False
    else:
        _WORKERS, _ENV_READ = check_whole(n, "n", minimum=1), True


def _pool(n_workers):
    """Return the shared worker pool with ``n_workers`` threads (None below 2).

    Tasks never submit tasks, so callers in several threads can share it without deadlock.
    """
    global _POOL
    if n_workers < 2:
        return None
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid() or _POOL[1] != n_workers:
            # an old pool of another size is dropped, not shut down: a caller that still
            # holds it can finish submitting; its idle threads exit once it is collected
            _POOL = (os.getpid(), n_workers,
                     ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="caimg-worker"))
        return _POOL[2]


def _forget_pool_after_fork():
    # a forked child inherits the pool object but not its threads: work submitted to it
    # would wait forever, so the child makes its own
    global _POOL, _POOL_LOCK
    _POOL = None
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def machine_worker_count() -> int:
    """Return this machine's default worker count, whatever count is set for this process.

    Returns
    -------
    int
        The cores this process may run on (its CPU affinity), at most
        ``MAX_DEFAULT_THREADS``. Code whose result depends on how work is split (partial
        sums added in order) splits by this count, so that a thread budget (``--threads``,
        ``--jobs``) never changes a result's bytes.

    Examples
    --------
    >>> machine_worker_count() >= 1
    True
    """
    return _default_worker_count()


def block_edges(n: int, *, min_block: int = 1, blocks: int | None = None) -> np.ndarray:
    """Edges of the contiguous blocks :func:`run_blocks` splits ``range(n)`` into.

    Parameters
    ----------
    n : int
        Number of items (frames, rows).
    min_block : int
        Fewest items per block: at most ``n // min_block`` blocks.
    blocks : int, optional
        Most blocks to make instead of :func:`worker_count` (e.g.
        :func:`machine_worker_count` where the split must not follow the thread budget).

    Returns
    -------
    ndarray, (k + 1,) int
        ``edges[i]:edges[i + 1]`` is block ``i``; ``k = 1`` with one worker, else
        ``max(1, min(worker_count(), n // min_block))`` blocks of near-equal size.

    Examples
    --------
    >>> block_edges(10, min_block=20).tolist()
    [0, 10]
    """
    w = worker_count() if blocks is None else blocks
    k = 1 if w < 2 else max(1, min(w, n // max(min_block, 1)))
    if k == 1:
        return np.array([0, n])
    return np.linspace(0, n, k + 1).round().astype(int)


def run_each(k: int, fn) -> None:
    """Call ``fn(i)`` for ``i`` in ``range(k)``, on the worker threads, and wait for all.

    Parameters
    ----------
    k : int
        Number of calls. With one call, or one worker, the calls run in the calling thread.
    fn : callable
        ``fn(i)``; return values are ignored; the first exception (in ``i`` order) is raised.

    Examples
    --------
    >>> out = [0] * 4
    >>> def square(i):
    ...     out[i] = i * i
    >>> run_each(4, square); out
    [0, 1, 4, 9]
    """
    pool = _pool(worker_count()) if k > 1 else None
    if pool is None:
        for i in range(k):
            fn(i)
        return
    for f in [pool.submit(fn, i) for i in range(k)]:
        f.result()


def run_blocks(n: int, fn, *, min_block: int = 1) -> None:
    """Call ``fn(start, stop)`` on contiguous blocks covering ``range(n)``, one per thread.

    Parameters
    ----------
    n : int
        Number of items (frames, rows).
    fn : callable
        ``fn(start, stop)``, called once per non-empty block of :func:`block_edges`; the
        blocks run in parallel, so ``fn`` must only write to its own block.
    min_block : int
        Fewest items per block.

    Examples
    --------
    >>> acc = np.zeros(10)
    >>> def fill(a, b):
    ...     acc[a:b] = np.arange(a, b)
    >>> run_blocks(10, fill); acc.tolist() == list(range(10))
    True
    """
    edges = block_edges(n, min_block=min_block)
    if len(edges) == 2:
        if n > 0:
            fn(0, n)
        return
    blocks = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)
              if b > a]
    run_each(len(blocks), lambda i: fn(*blocks[i]))

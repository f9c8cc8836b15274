"""Frame streaming and the worker pool (caimg._stream)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from caimg import _stream
from caimg.errors import CaimgError
from caimg.motion import register


@pytest.fixture
def default_workers(monkeypatch):
    """Start and end each test with the default worker count (no CAIMG_THREADS)."""
    monkeypatch.delenv("CAIMG_THREADS", raising=False)
    _stream.set_worker_count(None)
    yield
    _stream.set_worker_count(None)


def test_set_worker_count_sizes_the_blocks_and_the_pool(default_workers):
    _stream.set_worker_count(3)
    assert _stream.worker_count() == 3
    assert _stream.block_edges(9).tolist() == [0, 3, 6, 9]
    seen = set()

    def record(a, b):
        seen.add((a, b, threading.current_thread().name.startswith("caimg-worker")))

    _stream.run_blocks(9, record)
    assert {(a, b) for a, b, _ in seen} == {(0, 3), (3, 6), (6, 9)}
    assert all(in_pool for *_, in_pool in seen)
    _stream.set_worker_count(1)
    assert _stream.block_edges(9).tolist() == [0, 9]
    seen.clear()
    _stream.run_blocks(9, record)
    assert seen == {(0, 9, False)}  # one worker: no pool, the caller does the work


def test_min_block_bounds_the_number_of_blocks(default_workers):
    _stream.set_worker_count(8)
    assert _stream.block_edges(40, min_block=16).tolist() == [0, 20, 40]
    assert _stream.block_edges(10, min_block=16).tolist() == [0, 10]


def test_default_is_the_available_cores_at_most_8(default_workers):
    import os

    assert _stream.worker_count() == max(1, min(8, len(os.sched_getaffinity(0))))


def test_threads_env_read_at_first_use(default_workers, monkeypatch):
    monkeypatch.setenv("CAIMG_THREADS", "2")
    _stream.set_worker_count(None)  # forget: the variable is read again at the next use
    assert _stream.worker_count() == 2
    monkeypatch.setenv("CAIMG_THREADS", "5")
    assert _stream.worker_count() == 2  # read once
    _stream.set_worker_count(4)
    assert _stream.worker_count() == 4  # the setter wins


@pytest.mark.parametrize("text", ["0", "two", "-1", "1.5"])
def test_bad_threads_env_names_the_variable(default_workers, monkeypatch, text):
    monkeypatch.setenv("CAIMG_THREADS", text)
    _stream.set_worker_count(None)
    with pytest.raises(CaimgError, match="CAIMG_THREADS"):
        _stream.worker_count()
    monkeypatch.delenv("CAIMG_THREADS")
    _stream.set_worker_count(None)


@pytest.mark.parametrize("n", [0, 1.0, True])
def test_set_worker_count_refuses_non_counts(default_workers, n):
    with pytest.raises(CaimgError, match="whole number >= 1"):
        _stream.set_worker_count(n)


def test_registration_does_not_depend_on_the_worker_count(default_workers):
    rng = np.random.default_rng(3)
    stack = rng.integers(0, 1000, (40, 32, 32)).astype(np.uint16)
    _stream.set_worker_count(1)
    a = register(stack, reference_frames=10, chunk_frames=8)
    _stream.set_worker_count(3)
    b = register(stack, reference_frames=10, chunk_frames=8)
    np.testing.assert_array_equal(a.shifts, b.shifts)
    np.testing.assert_array_equal(a.reference, b.reference)
    np.testing.assert_allclose(a.summary.mean, b.summary.mean, rtol=1e-6)
    np.testing.assert_allclose(a.summary.std, b.summary.std, rtol=1e-5, atol=1e-3)


def test_read_frames_checks_what_a_lazy_stack_returns():
    class Lazy:
        shape = (4, 3, 3)
        dtype = np.dtype(np.uint16)

        def __getitem__(self, key):
            return np.zeros((2, 3, 3), np.uint16)  # always two frames: wrong for 0:1

    with pytest.raises(CaimgError, match=r"stack\[0:1\] returned shape \(2, 3, 3\)"):
        _stream.read_frames(Lazy(), 0, 1, (3, 3))


def test_read_buffer_is_reused_for_non_contiguous_frames():
    data = np.arange(2 * 4 * 3 * 3, dtype=np.uint16).reshape(4, 2, 3, 3)[:, 0]  # strided
    buf = _stream.ReadBuffer()
    a = _stream.read_frames(data, 0, 2, (3, 3), buf)
    np.testing.assert_array_equal(a, data[0:2])
    b = _stream.read_frames(data, 2, 4, (3, 3), buf)
    assert np.shares_memory(a, b)  # the same buffer, overwritten
    np.testing.assert_array_equal(b, data[2:4])

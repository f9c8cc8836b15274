"""The speed-ups do not change results: fast kernels vs the numpy fallback, the fast CSV
writer vs pandas, and serial vs ``jobs=2`` vs a dask.distributed cluster (identical result
folders)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from caimg.batch import run_batch
from caimg.io.result import write_table
from caimg.io.stack import write_recording
from caimg.motion import register, summary_images
from caimg.pipeline import process_recording
from caimg.synthetic import make_recording


def _small(indicator, seed, n_frames=60):
    return make_recording(indicator, preset="moderate", n_frames=n_frames, rng=seed,
                          drift_px=2.0)


@pytest.fixture(scope="module")
def batch_inputs(tmp_path_factory):
    """Three small recordings (two Fluo-4, one Fura-2 hyperstack) in one folder."""
    d = tmp_path_factory.mktemp("inputs")
    write_recording(_small("fluo4", 1).recording, d / "a_fluo4.tif", layout="single")
    write_recording(_small("fluo4", 2).recording, d / "b_fluo4.tif", layout="single")
    write_recording(_small("fura2", 3).recording, d / "c_fura2.tif", layout="hyperstack")
    return d


def _folder_bytes(out: Path) -> dict[str, bytes]:
    """Every file of every result folder, except run.json (timings, dates, absolute
    paths) and overview.png (a picture of the same tables)."""
    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name not in ("run.json", "overview.png"):
            files[str(p.relative_to(out))] = p.read_bytes()
    return files


def test_kernels_and_numpy_fallback_give_the_same_result(monkeypatch):
    syn = _small("fluo4", 5, n_frames=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fast = process_recording(syn.recording, "fluo4")
        monkeypatch.setenv("CAIMG_NO_NUMBA", "1")
        slow = process_recording(syn.recording, "fluo4")
    np.testing.assert_array_equal(fast.shifts, slow.shifts)
    np.testing.assert_array_equal(fast.labels, slow.labels)
    assert list(fast.traces.columns) == list(slow.traces.columns)
    for col in ("f", "f0", "dff"):
        np.testing.assert_allclose(fast.traces[col], slow.traces[col], rtol=2e-6, atol=1e-9)
    np.testing.assert_allclose(fast.projection, slow.projection, rtol=1e-6)


def test_register_summary_threads_and_fallback_agree(monkeypatch):
    rng = np.random.default_rng(0)
    syn = _small("fluo4", 6, n_frames=70)
    stack = np.asarray(syn.recording.channels["f"])
    reg = register(stack, reference_frames=20, reference_iterations=1, chunk_frames=16)
    err = np.abs(reg.shifts - (syn.shifts - syn.shifts[0]))
    assert np.median(err) < 0.25  # ground truth recovered by the threaded pass
    monkeypatch.setenv("CAIMG_NO_NUMBA", "1")
    slow = register(stack, reference_frames=20, reference_iterations=1, chunk_frames=16)
    np.testing.assert_array_equal(reg.shifts, slow.shifts)
    for name in ("mean", "std", "max", "corr"):
        np.testing.assert_allclose(getattr(reg.summary, name), getattr(slow.summary, name),
                                   rtol=1e-5, atol=1e-4, err_msg=name)
    # summary_images with shifts (the same threaded pass) on shifts of any size
    shifts = rng.uniform(-40, 40, (stack.shape[0], 2))
    shifts[::4] = np.round(shifts[::4])
    monkeypatch.delenv("CAIMG_NO_NUMBA")
    a = summary_images(stack, shifts, chunk_frames=8)
    monkeypatch.setenv("CAIMG_NO_NUMBA", "1")
    b = summary_images(stack, shifts, chunk_frames=64)
    for name in ("mean", "std", "max", "corr"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-5, atol=1e-4,
                                   err_msg=name)


def test_fast_csv_writer_matches_pandas(tmp_path):
    rng = np.random.default_rng(3)
    n = 70_000  # more than one 65536-row block of the fast writer
    x = np.concatenate([rng.normal(0, 1, n - 40), 10.0 ** rng.uniform(-300, 300, 30),
                        [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-5, 123456789.0, 1234567890.0,
                         0.5, 5e-324]])
    df = pd.DataFrame({"roi": rng.integers(-5, 10**12, n), "frame": np.arange(n),
                       "time_s": np.arange(n) * 0.1, "value": x})
    write_table(df, tmp_path / "fast.csv")
    df.to_csv(tmp_path / "pandas.csv", index=False, float_format="%.9g", lineterminator="\n")
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
    back = pd.read_csv(tmp_path / "fast.csv")
    np.testing.assert_allclose(back["value"], x, rtol=1e-8)


def _pipeline_imported(dask_worker) -> bool:
    """The preload ran: the pipeline is imported and dask's profiler sampling is off."""
    import sys

    imported = {"caimg.segmentation", "caimg.io.result", "caimg.plotting"} <= set(sys.modules)
    return imported and "profile" not in dask_worker.periodic_callbacks


def test_serial_jobs2_and_dask_give_identical_result_folders(batch_inputs, tmp_path):
    serial = run_batch([batch_inputs], tmp_path / "serial", jobs=1)
    assert serial.ok and len(serial.outcomes) == 3
    par = run_batch([batch_inputs], tmp_path / "jobs2", jobs=2)
    assert par.ok
    ref = _folder_bytes(tmp_path / "serial")
    assert any(k.endswith("traces.csv") for k in ref) and len(ref) >= 3 * 5
    assert _folder_bytes(tmp_path / "jobs2") == ref

    distributed = pytest.importorskip("distributed")
    # workers started with the preload have the pipeline imported before the first task
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0",
                                  preload=["caimg.dask_preload"]) as cluster:
        with distributed.Client(cluster.scheduler_address) as client:
            ready = client.run(_pipeline_imported)
        assert len(ready) == 2 and all(ready.values()), ready
        dask_run = run_batch([batch_inputs], tmp_path / "dask",
                             scheduler=cluster.scheduler_address)
    assert dask_run.ok
    assert _folder_bytes(tmp_path / "dask") == ref


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.uint32])
def test_channel_stats_kernel_matches_numpy(monkeypatch, dtype):
    from caimg.validate import channel_stats

    info = np.iinfo(dtype)
    rng = np.random.default_rng(4)
    v = rng.integers(max(info.min, -500), min(info.max, 3000), (37, 9, 11)).astype(dtype)
    v[5, 2, 3] = info.max
    v[5, 4, :] = info.max
    v[36, 0, 0] = info.max
    v[20, 1, 1] = info.min
    fast = channel_stats(v, chunk_frames=8)
    monkeypatch.setenv("CAIMG_NO_NUMBA", "1")
    slow = channel_stats(v, chunk_frames=8)
    assert fast["min"] == slow["min"] == float(info.min)
    assert fast["max"] == slow["max"] == float(info.max)
    np.testing.assert_array_equal(fast["saturated_per_frame"], slow["saturated_per_frame"])
    assert fast["saturated_per_frame"][[5, 36]].tolist() == [12, 1]


def test_an_interrupted_dask_batch_leaves_no_task_on_the_cluster(batch_inputs, tmp_path):
    distributed = pytest.importorskip("distributed")

    def stop(outcome, n_done, n_total):
        raise KeyboardInterrupt  # Ctrl-C after the first recording

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        with pytest.raises(KeyboardInterrupt):
            run_batch([batch_inputs], tmp_path / "out", scheduler=cluster.scheduler_address,
                      progress=stop)
        scheduler = cluster.scheduler
        for _ in range(200):  # the running one finishes, the queued ones are dropped
            if not scheduler.tasks:
                break
            time.sleep(0.05)
        assert not scheduler.tasks, list(scheduler.tasks)
    out = tmp_path / "out"
    assert not [p.name for p in out.iterdir() if ".partial" in p.name]
    done = [p for p in out.iterdir() if p.is_dir()]
    assert 1 <= len(done) < 3  # the rest was not processed after the stop
    assert all((p / "run.json").is_file() for p in done)  # complete, or absent


def _threads_after(i, wait_s):
    from caimg._stream import worker_count

    time.sleep(wait_s)
    return i, worker_count()


def test_the_last_recordings_of_a_batch_take_the_idle_cores():
    from caimg._workers import run_in_pool

    got = []
    # two workers on a batch of 4 cores: 2 threads each while both run; the slow task,
    # alone after the quick one ended, may use all 4 (the parent lowers the busy count)
    run_in_pool(_threads_after, [(0, 0.0), (1, 2.0)], workers=2, threads=2, cores=4,
                done=got.append)
    assert sorted(got) == [(0, 2), (1, 4)]
    got.clear()  # an explicit budget stays as it is
    run_in_pool(_threads_after, [(0, 0.0), (1, 2.0)], workers=2, threads=2, done=got.append)
    assert sorted(got) == [(0, 2), (1, 2)]


def test_the_costliest_tasks_start_first():
    from caimg._workers import run_in_pool

    got = []
    run_in_pool(_threads_after, [(0, 0.0), (1, 0.0), (2, 0.0)], workers=1, threads=1,
                costs=[1.0, 5.0, 3.0], done=got.append)
    assert [i for i, _ in got] == [1, 2, 0]

"""Fuzz the stack readers with mutated valid files (cut, flipped bits, overwritten and zeroed
spans, swapped and duplicated blocks): every case either reads or raises a caimg error, and
none hangs (each case runs under an alarm)."""

import signal
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings, strategies as st

from caimg.errors import CaimgError
from caimg.io.stack import read_recording, write_recording
from caimg.validate import check_recording

N_MUTATIONS = 50      # per base file; 8 base files -> 400 cases per run
CASE_SECONDS = 10     # a case taking longer counts as a hang


def _stack(rng, t=8, rows=24, cols=20, dtype=np.uint16):
    base = rng.normal(500, 50, (t, rows, cols))
    return base.astype(dtype)


@pytest.fixture(scope="module")
def base_files(tmp_path_factory):
    """Valid files of every kind the reader handles, each as (paths, read kwargs)."""
    d = tmp_path_factory.mktemp("fuzz_base")
    rng = np.random.default_rng(0)
    one = {"f": _stack(rng)}
    two = {"f340": _stack(rng), "f380": _stack(rng)}
    out = {}
    out["imagej_single"] = (write_recording(one, d / "s.tif", layout="single",
                                            frame_interval_s=0.5, pixel_size_um=0.5), {})
    out["hyperstack"] = (write_recording(two, d / "h.tif", frame_interval_s=0.5), {})
    out["separate_pages"] = (write_recording(one, d / "p.tif", layout="single",
                                             frame_interval_s=0.5, pages="separate"), {})
    out["ome"] = (write_recording(one, d / "o.ome.tif", layout="single", frame_interval_s=0.5,
                                  ome=True), {})
    out["bigtiff"] = (write_recording(two, d / "b.tif", frame_interval_s=0.5, bigtiff=True), {})
    out["alternating"] = (write_recording(two, d / "a.tif", layout="alternating",
                                          frame_interval_s=0.5), {"layout": "alternating"})
    z = d / "z.tif"
    tifffile.imwrite(z, one["f"].astype(np.float32), imagej=True, compression="zlib",
                     metadata={"axes": "TYX", "finterval": 0.5})
    out["zlib_float"] = ([z], {})
    out["pair"] = (write_recording(two, d / "pair", layout="pair", frame_interval_s=0.5), {})
    return out


def _mutate(data: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    b = bytearray(data)
    n = len(b)
    kind = rng.choice(["cut", "flip", "overwrite", "zero", "swap", "duplicate", "header"])
    if kind == "cut":
        b = b[: int(rng.integers(0, n))]
    elif kind in ("flip", "header"):
        hi = min(n, 512) if kind == "header" else n  # headers and first IFDs
        for pos in rng.integers(0, hi, int(rng.integers(1, 9))):
            b[pos] ^= 1 << int(rng.integers(0, 8))
    elif kind in ("overwrite", "zero"):
        start = int(rng.integers(0, n))
        length = int(rng.integers(1, 65))
        fill = rng.integers(0, 256, length, dtype=np.uint8).tobytes() if kind == "overwrite" \
            else bytes(length)
        b[start:start + length] = fill[: max(0, min(length, n - start))]
    elif kind == "swap":  # shuffle two blocks (e.g. pages or IFDs)
        size = int(rng.integers(8, max(9, n // 8)))
        i, j = sorted(rng.integers(0, max(1, n - size), 2))
        if j >= i + size:
            b[i:i + size], b[j:j + size] = b[j:j + size], b[i:i + size]
    else:  # duplicate a block in place: every later offset is off
        size = int(rng.integers(1, 256))
        i = int(rng.integers(0, n))
        b[i:i] = b[i:i + size]
    return str(kind), bytes(b)


class _Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Hang()


def _read_everything(paths, kw):
    rec = read_recording(paths if len(paths) > 1 else paths[0], **kw)
    for arr in rec.channels.values():
        for t in range(arr.shape[0]):  # frame by frame: a damaged header cannot ask for GBs
            frame = np.asarray(arr[t])
            assert frame.shape == rec.shape[1:]
    check_recording(rec, indicator="fura2" if len(rec.channels) == 2 else "fluo4")
    return rec


def _fuzz_case(paths, kw, rng, tmp: Path):
    victim = int(rng.integers(0, len(paths)))
    kind, data = _mutate(Path(paths[victim]).read_bytes(), rng)
    mutated = []
    for i, p in enumerate(paths):
        q = tmp / Path(p).name
        q.write_bytes(data if i == victim else Path(p).read_bytes())
        mutated.append(q)
    # half the cases give the frame interval, so damage past the metadata gets read too
    kw = dict(kw, frame_interval_s=0.5) if rng.random() < 0.5 else dict(kw)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # metadata warnings are fine here
            _read_everything(mutated, kw)
        return kind, "read"
    except CaimgError as exc:
        assert str(exc), "empty error message"
        return kind, type(exc).__name__
    except _Hang:
        pytest.fail(f"reading a {kind}-mutated {paths[victim].name} took over {CASE_SECONDS} s")
    except Exception as exc:  # noqa: BLE001 - the point of the test
        pytest.fail(f"{kind}-mutated {paths[victim].name}: {type(exc).__name__}: {exc}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_mutated_files_read_or_raise_caimg_errors(base_files, tmp_path):
    rng = np.random.default_rng(7)
    outcomes = Counter()
    for name, (paths, kw) in base_files.items():
        _read_everything(paths, kw)  # the unmutated file reads
        for k in range(N_MUTATIONS):
            case = tmp_path / f"{name}_{k}"
            case.mkdir()
            kind, what = _fuzz_case(paths, kw, rng, case)
            outcomes[what] += 1
    assert sum(outcomes.values()) == N_MUTATIONS * len(base_files) >= 300
    # both outcomes happen: the fuzzer reaches past the header checks
    assert outcomes["read"] > 20 and outcomes["StackReadError"] > 100, outcomes


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0.0, 1.0), flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 7)),
                                                max_size=4))
def test_hypothesis_cut_and_flip_hyperstack(base_files, tmp_path_factory, cut, flips):
    (src,), kw = base_files["hyperstack"]
    data = bytearray(src.read_bytes())
    for where, bit in flips:
        data[min(int(where * len(data)), len(data) - 1)] ^= 1 << bit
    data = data[: max(0, int(round(cut * len(data))))]
    p = tmp_path_factory.mktemp("hyp") / "h.tif"
    p.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _read_everything([p], kw)
        except CaimgError:
            pass

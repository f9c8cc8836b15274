"""Property-based test over TIFF header fields (issue 16): frames, frame sizes, compression,
sample formats and metadata that disagrees with the pages. Whatever the header says, a
read either returns the right array or raises a CaimgError, within bounded memory.

The reads run in one worker process under an address-space limit (RLIMIT_AS, 2 GiB; a
normal read needs well under 0.5 GiB), so a header that makes caimg allocate gigabytes shows
up as a MemoryError or a crash there instead of taking the machine's memory.
"""

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, example, given, settings, strategies as st

REPO = Path(__file__).resolve().parents[2]
AS_LIMIT_BYTES = 2 << 30
READ_SECONDS = 30  # a read taking longer counts as a hang

_WORKER = textwrap.dedent("""
    import json, resource, signal, sys, warnings
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import numpy as np
    from caimg.errors import CaimgError
    from caimg.io import read_recording

    class Hang(Exception):
        pass

    def alarm(signum, frame):
        raise Hang()

    signal.signal(signal.SIGALRM, alarm)
    warnings.simplefilter("ignore")
    for line in sys.stdin:
        req = json.loads(line)
        signal.alarm(int(sys.argv[2]))
        try:
            rec = read_recording(req["path"], frame_interval_s=0.5)
            np.savez(req["out"], **{k: np.asarray(v) for k, v in rec.channels.items()})
            res = {"outcome": "read"}
        except CaimgError as exc:
            res = {"outcome": "CaimgError", "message": str(exc)}
        except MemoryError as exc:
            res = {"outcome": "MemoryError", "message": repr(exc)}
        except Hang:
            res = {"outcome": "hang"}
        except Exception as exc:
            res = {"outcome": type(exc).__name__, "message": repr(exc)}
        finally:
            signal.alarm(0)
        print(json.dumps(res), flush=True)
""")


class _Worker:
    """One long-lived reader process under the address-space limit (restarted if it dies)."""

    def __init__(self):
        self.proc = None

    def _start(self):
        env = {**os.environ, "PYTHONPATH": str(REPO), "CAIMG_NO_NUMBA": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(AS_LIMIT_BYTES), str(READ_SECONDS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env)

    def read(self, path: Path, out: Path) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.proc.stdin.write(json.dumps({"path": str(path), "out": str(out)}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=30)
            err = self.proc.stderr.read()[-2000:]
            self.proc.stdout.close()
            self.proc.stderr.close()
            self.proc = None
            return {"outcome": "crash", "message": err}
        res = json.loads(line)
        if res["outcome"] == "read":
            with np.load(out) as z:
                res["arrays"] = {k: z[k] for k in z.files}
        return res

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
            self.proc.stdout.close()
            self.proc.stderr.close()


@pytest.fixture(scope="module")
def worker():
    w = _Worker()
    yield w
    w.close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("header_properties")


_DTYPES = ["uint8", "uint16", "int16", "uint32", "int32", "float32", "float64"]
_BIG = [1000, 40000, 65535, 10**6, 10**9, 2**31 - 1]
_KINDS = {"none": ["pages", "contiguous", "imagej", "ome"],
          "frames_claim": ["imagej", "ome"],  # metadata that counts the planes
          "size_all": ["pages", "contiguous", "imagej", "ome"],
          "size_last": ["pages", "ome"],
          "bits": ["pages", "contiguous", "ome"],
          "sampleformat": ["pages", "contiguous", "ome"],
          "mixed_sizes": ["pages"]}


@st.composite
def specs(draw):
    """One file to write and one header field to change (``mutation``)."""
    mutation = draw(st.sampled_from(sorted(_KINDS)))
    kind = draw(st.sampled_from(_KINDS[mutation]))
    dtypes = ["uint8", "uint16", "float32"] if kind == "imagej" else _DTYPES
    n = draw(st.integers(2 if mutation == "frames_claim" else 1, 10))
    claim = draw(st.one_of(st.integers(1, 24), st.sampled_from(_BIG)))
    return {
        "n": n, "rows": draw(st.integers(1, 20)), "cols": draw(st.integers(1, 20)),
        "dtype": draw(st.sampled_from(dtypes)),
        "compression": draw(st.sampled_from([None, None, "zlib", "lzw", "packbits", "zstd"])),
        "kind": kind, "mutation": mutation, "claim": claim,
        "claim2": draw(st.one_of(st.integers(1, 24), st.sampled_from(_BIG))),
        "seed": draw(st.integers(0, 2**16)),
    }


def _spec(**kw):
    base = {"n": 8, "rows": 12, "cols": 10, "dtype": "uint16", "compression": None,
            "kind": "ome", "mutation": "none", "claim": 4, "claim2": 4, "seed": 0}
    return {**base, **kw}


def _write(path: Path, data: np.ndarray, spec) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tifffile's notes on odd combinations
        _write_tiff(path, data, spec)


def _write_tiff(path: Path, data: np.ndarray, spec) -> None:
    kind, comp = spec["kind"], spec["compression"]
    kw = {"compression": comp, "photometric": "minisblack"}
    if kind == "imagej" and data.dtype.name in ("uint8", "uint16", "float32"):
        tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TYX", "finterval": 0.5},
                         **kw)
    elif kind == "ome":
        tifffile.imwrite(path, data, ome=True, metadata={"axes": "TYX", "TimeIncrement": 0.5},
                         **kw)
    elif kind == "contiguous":
        tifffile.imwrite(path, data, metadata=None, **kw)
    else:
        with tifffile.TiffWriter(path) as w:
            for k, frame in enumerate(data):
                if spec["mutation"] == "mixed_sizes" and k >= max(1, len(data) // 2):
                    frame = frame[: max(1, frame.shape[0] - 1)]
                w.write(frame, metadata=None, contiguous=False, **kw)


def _mutate(path: Path, spec) -> bool:
    """Apply the header mutation in place; False when it does not apply to this file."""
    m = spec["mutation"]
    if m in ("none", "mixed_sizes"):
        return m == "none" or spec["kind"] == "pages"
    with tifffile.TiffFile(path, mode="r+b") as tif:
        pages = list(tif.pages)
        first = pages[0]
        if m == "frames_claim":
            desc = first.tags.get("ImageDescription")
            if desc is None:
                return False
            text = desc.value
            n = spec["n"]
            if tif.is_ome:
                new = text.replace(f'SizeT="{n}"', f'SizeT="{spec["claim"]}"')
            elif tif.is_imagej:
                new = (text.replace(f"images={n}\n", f"images={spec['claim']}\n")
                       .replace(f"frames={n}\n", f"frames={spec['claim']}\n"))
            else:
                return False
            if new == text:
                return False
            desc.overwrite(new)
        elif m in ("size_all", "size_last"):
            for page in (pages if m == "size_all" else pages[-1:]):
                page.tags["ImageLength"].overwrite(spec["claim"])
                page.tags["ImageWidth"].overwrite(spec["claim2"])
                if "RowsPerStrip" in page.tags:
                    page.tags["RowsPerStrip"].overwrite(spec["claim"])
        elif m == "bits":
            bits = {1: 8, 2: 16, 7: 32, 30: 64}.get(spec["claim"], 16)
            for page in pages:
                page.tags["BitsPerSample"].overwrite(bits)
        elif m == "sampleformat":
            if "SampleFormat" not in first.tags:
                return False
            fmt = 1 + spec["claim2"] % 3  # uint, int, float
            for page in pages:
                page.tags["SampleFormat"].overwrite(fmt)
    return True


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(spec=specs())
# the cases of issue 16, always run: SizeT / images counting half the planes (read as a
# crop before), pages changing size half-way, pages claiming 40000 x 20000, 10^9 planes
@example(spec=_spec(mutation="frames_claim"))
@example(spec=_spec(mutation="frames_claim", kind="imagej"))
@example(spec=_spec(mutation="frames_claim", claim=10**9))
@example(spec=_spec(mutation="mixed_sizes", kind="pages"))
@example(spec=_spec(mutation="size_all", kind="pages", claim=40000, claim2=20000))
@example(spec=_spec(mutation="size_all", kind="contiguous", compression="zlib", claim=40000,
                    claim2=20000))
def test_any_header_reads_right_or_raises_caimg_error_in_bounded_memory(spec, worker,
                                                                         workdir):
    rng = np.random.default_rng(spec["seed"])
    data = rng.integers(0, 100, (spec["n"], spec["rows"], spec["cols"])).astype(spec["dtype"])
    path = workdir / "case.tif"
    path.unlink(missing_ok=True)
    _write(path, data, spec)
    if not _mutate(path, spec):
        spec = dict(spec, mutation="none")
    res = worker.read(path, workdir / "out.npz")
    assert res["outcome"] in ("read", "CaimgError"), (spec, res)
    if res["outcome"] == "CaimgError":
        assert str(path) in res["message"] or path.name in res["message"], res
    if spec["mutation"] == "none" and spec["n"] >= 2 and min(spec["rows"], spec["cols"]) >= 2:
        # an unchanged stack must read, and read right (tifffile's ImageJ writer stores
        # frames one pixel wide as one page it cannot read back: those may be refused)
        assert res["outcome"] == "read", (spec, res)
    if res["outcome"] == "read" and spec["mutation"] in ("none", "frames_claim"):
        # what is read is what was written: never a crop, never other frames
        (arr,) = res["arrays"].values()
        np.testing.assert_array_equal(arr, data)

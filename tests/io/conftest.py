"""Reads under an address-space limit, for inputs whose headers promise gigabytes."""

import gzip
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# ../shared/data next to the checkout; a worktree one level deeper looks one level up too
_CANDIDATES = [Path(os.environ["CAIMG_SHARED_DATA"])] if os.environ.get("CAIMG_SHARED_DATA") \
    else [REPO.parent / "shared" / "data", REPO.parent.parent / "shared" / "data"]
# a normal read needs well under 0.5 GiB of address space (measured); 2 GiB leaves room
# and still stops any header that makes caimg allocate gigabytes
AS_LIMIT_BYTES = 2 << 30

_SCRIPT = textwrap.dedent("""
    import json, resource, sys, warnings
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import numpy as np
    from caimg.errors import CaimgError
    what, path, out = sys.argv[2], sys.argv[3], sys.argv[4]
    kwargs = json.loads(sys.argv[5])
    warnings.simplefilter("ignore")
    try:
        if what == "rois":
            from caimg.io.rois import read_rois
            arrays = {"labels": read_rois(path, tuple(kwargs["shape"]))}
        else:
            from caimg.io import read_recording
            rec = read_recording(path, **kwargs)
            arrays = {k: np.asarray(v) for k, v in rec.channels.items()}
        np.savez(out, **arrays)
        print(json.dumps({"outcome": "read"}))
    except CaimgError as exc:
        print(json.dumps({"outcome": type(exc).__name__, "message": str(exc)}))
    except MemoryError as exc:
        print(json.dumps({"outcome": "MemoryError", "message": repr(exc)}))
""")


def _run(what, path, tmp_path, **kwargs):
    out = tmp_path / f"arrays_{os.getpid()}_{Path(path).name}.npz"
    env = {**os.environ, "PYTHONPATH": str(REPO), "CAIMG_NO_NUMBA": "1"}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(AS_LIMIT_BYTES), what,
                           str(path), str(out), json.dumps(kwargs)],
                          check=False, capture_output=True, text=True, env=env, timeout=120)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"outcome": f"crash (exit {proc.returncode})", "message": proc.stderr[-2000:]}
    res = json.loads(lines[-1])
    if res["outcome"] == "read":
        import numpy as np
        with np.load(out) as z:
            res["arrays"] = {k: z[k] for k in z.files}
    return res


@pytest.fixture
def bounded_read(tmp_path):
    """``bounded_read(path, what="recording"|"rois", **kwargs)``: read in a subprocess under
    an address-space limit; returns ``{"outcome": "read"|error class|"MemoryError"|"crash
    ...", "message": ..., "arrays": {...}}``."""
    def read(path, what="recording", **kwargs):
        return _run(what, path, tmp_path, **kwargs)
    return read


@pytest.fixture(scope="session")
def vendor_data():
    """The folder holding ``vendor-*`` fixtures, or skip when there is none."""
    for cand in _CANDIDATES:
        if (cand / "vendor-nd2-nikon-a1-tzc-pims").is_dir():
            return cand
    pytest.skip(f"real data folder with vendor files not found in {_CANDIDATES}")


@pytest.fixture(scope="session")
def mm_dataset(vendor_data, tmp_path_factory):
    """The Micro-Manager 1.4 four-position dataset, gunzipped into a temporary folder (the
    shared folder is read-only)."""
    src = vendor_data / "vendor-mmtiff-micromanager14-multipos"
    out = tmp_path_factory.mktemp("mm") / "mm_dataset"
    out.mkdir()
    for gz in sorted(src.glob("*.gz")):
        with gzip.open(gz, "rb") as fin, open(out / gz.name[:-3], "wb") as fout:
            shutil.copyfileobj(fin, fout)
    return out

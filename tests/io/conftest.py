"""Fixtures of tests/io: the real vendor files in ../shared/data (skipped when absent)."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# ../shared/data next to the checkout; a worktree one level deeper looks one level up too
_CANDIDATES = [Path(os.environ["CAIMG_SHARED_DATA"])] if os.environ.get("CAIMG_SHARED_DATA") \
    else [REPO.parent / "shared" / "data", REPO.parent.parent / "shared" / "data"]


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

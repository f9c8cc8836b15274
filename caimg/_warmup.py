"""Compile the numba kernels ahead of the first run (``caimg warmup``; ``make install``).

numba compiles each kernel for the argument types it is first called with and caches the
machine code on disk (``__pycache__`` next to ``caimg/_kernels.py``, or
``NUMBA_CACHE_DIR``). On a fresh install the first ``caimg run`` therefore spends about
15 s of CPU compiling before it analyses anything; later runs load the cache in well under
a second. Running the pipeline once on small synthetic recordings, written in the layouts
and dtypes microscopes give (uint16 hyperstack, file pair and single channel), compiles the
same specialisations a real run needs, once, at install time.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["kernel_cache_is_cold", "warm_up"]


def _kernels():
    """Return the numba kernel module, or None when the numpy path runs (no numba,
    ``CAIMG_NO_NUMBA=1``). The one place this module picks the backend.
    """
    from ._backend import kernels_or_none

    return kernels_or_none()


def kernel_cache_is_cold() -> bool:
    """Tell whether the numba kernels have no compiled code cached on disk yet (so the next
    run compiles them); False when they are cached, or numba is not used.
    """
    kernels = _kernels()
    if kernels is None:
        return False
    dispatcher = getattr(kernels, "roi_sums", None)
    try:  # numba's cache index of one kernel every run uses
        index = Path(dispatcher._cache._cache_file._index_path)
    except AttributeError:  # another numba version: do not guess
        return False
    return not index.is_file()


def warm_up(folder: str | Path | None = None) -> float:
    """Run the pipeline on three small synthetic recordings so that numba compiles (and
    caches) the kernels a run needs.

    Parameters
    ----------
    folder : path, optional
        Scratch folder for the recordings and results (default: a temporary folder, removed
        afterwards).

    Returns
    -------
    float
        Seconds it took.
    """
    from .batch import run_batch
    from .io.stack import write_recording
    from .synthetic import make_recording

    t0 = time.perf_counter()
    scratch = (Path(folder) if folder is not None
               else Path(tempfile.mkdtemp(prefix="caimg-warmup-")))
    try:
        inputs = scratch / "in"
        inputs.mkdir(parents=True, exist_ok=True)
        # drifting cells (so shifts are applied), 25 cells x 260 frames: a traces table long
        # enough for the compiled CSV writer
        kw = dict(preset="moderate", n_frames=260, rng=0)
        fura = make_recording("fura2", **kw).recording
        fluo = make_recording("fluo4", **kw).recording
        write_recording(fura, inputs / "hyper.tif", layout="hyperstack")
        write_recording(fura, inputs / "pair", layout="pair")
        write_recording(fluo, inputs / "single.tif", layout="single")
        run_batch(inputs, scratch / "out", "auto", jobs=1, force=True)
    finally:
        if folder is None:
            shutil.rmtree(scratch, ignore_errors=True)
    return time.perf_counter() - t0

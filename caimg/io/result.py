"""Write and read the result folder (the contract in DESIGN.md shared by CLI, API and napari).

A result folder is written under a temporary name next to its final place and renamed when
every file is complete, so an interrupted run never leaves a half result that looks whole.
``run.json`` is written last; a folder without it is not a result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import config_from_dict, config_to_dict
from ..errors import ResultError
from ..result import Result

__all__ = ["save_result", "load_result", "is_result_folder", "file_fingerprint", "RESULT_FILES",
           "write_table", "PARTIAL_SUFFIX"]

#: Files every complete result folder holds.
RESULT_FILES = ("rois.tif", "rois.zip", "rois.csv", "traces.csv", "kinetics.csv", "run.json",
                "overview.png")
PARTIAL_SUFFIX = ".partial"
FORMAT_VERSION = 1


def file_fingerprint(path: str | Path, *, hash_bytes: bool = True) -> dict:
    """Size, modification time and SHA-256 of a file (never modifies it)."""
    path = Path(path)
    st = path.stat()
    info = {"path": str(path.resolve()), "size": st.st_size, "mtime": st.st_mtime}
    if hash_bytes:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
        info["sha256"] = h.hexdigest()
    return info


def write_table(df: pd.DataFrame, path: Path) -> None:
    """CSV with a fixed float format so reruns give byte-identical files."""
    df.to_csv(path, index=False, float_format="%.9g", lineterminator="\n")


def _write_labels_tif(labels: np.ndarray, path: Path) -> None:
    import tifffile

    dtype = np.uint16 if labels.max(initial=0) < 65536 else np.int32
    tifffile.imwrite(path, labels.astype(dtype, copy=False), imagej=dtype == np.uint16,
                     photometric="minisblack")


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj)}")


def is_result_folder(folder: str | Path) -> bool:
    """True when ``folder`` holds a complete caimg result (``run.json`` present)."""
    return (Path(folder) / "run.json").is_file()


def save_result(result: Result, out_dir: str | Path, *, overview: bool | None = None) -> Path:
    """Write ``result`` to ``out_dir/<result.name>/`` atomically and return that folder.

    An existing result of the same name is replaced only once the new one is complete.
    """
    from ..plotting import save_overview
    from ..rois import write_roiset

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / result.name
    tmp = out_dir / f".{result.name}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}"
    tmp.mkdir()
    try:
        _write_labels_tif(result.labels, tmp / "rois.tif")
        if result.config.output.roiset_zip:
            write_roiset(result.labels, tmp / "rois.zip")
        write_table(result.rois, tmp / "rois.csv")
        write_table(result.traces, tmp / "traces.csv")
        write_table(result.kinetics, tmp / "kinetics.csv")
        if result.treatments is not None:
            write_table(result.treatments, tmp / "treatments.csv")
        if result.shifts is not None:
            write_table(pd.DataFrame({"frame": np.arange(len(result.shifts)),
                                      "shift_row": result.shifts[:, 0],
                                      "shift_col": result.shifts[:, 1]}), tmp / "shifts.csv")
        if result.projection is not None or result.background_mask is not None:
            import tifffile

            if result.projection is not None:
                tifffile.imwrite(tmp / "projection.tif", result.projection.astype(np.float32),
                                 imagej=True)
            if result.background_mask is not None:
                tifffile.imwrite(tmp / "background.tif",
                                 result.background_mask.astype(np.uint8), imagej=True)
        if overview if overview is not None else result.config.output.overview_png:
            save_overview(result, tmp / "overview.png")
        prov = dict(result.provenance)
        prov["format_version"] = FORMAT_VERSION
        prov["config"] = config_to_dict(result.config)
        with open(tmp / "run.json", "w") as fh:
            json.dump(prov, fh, indent=2, default=_json_default, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        if final.exists():
            old = out_dir / f".{result.name}.{uuid.uuid4().hex[:8]}.old"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def load_result(folder: str | Path) -> Result:
    """Read a result folder written by :func:`save_result` (or edited in napari).

    Raises
    ------
    ResultError
        When the folder is missing, incomplete, or of another format version.
    """
    import tifffile

    folder = Path(folder)
    if not folder.is_dir():
        raise ResultError(f"{folder}: not a folder; expected a caimg result folder "
                          f"(holding {', '.join(RESULT_FILES)})")
    if not is_result_folder(folder):
        raise ResultError(f"{folder}: no run.json, so this is not a complete caimg result "
                          "(an interrupted run leaves none); run caimg again on the input")
    with open(folder / "run.json") as fh:
        prov = json.load(fh)
    version = prov.get("format_version")
    if version != FORMAT_VERSION:
        raise ResultError(f"{folder / 'run.json'}: result format version {version!r}, this caimg "
                          f"reads version {FORMAT_VERSION}; rerun caimg to regenerate it")
    missing = [f for f in ("rois.tif", "rois.csv", "traces.csv", "kinetics.csv")
               if not (folder / f).is_file()]
    if missing:
        raise ResultError(f"{folder}: incomplete result, missing {', '.join(missing)}")
    config = config_from_dict(prov.pop("config"), where=str(folder / "run.json"))
    labels = tifffile.imread(folder / "rois.tif").astype(np.int32)
    rois = _read_csv(folder / "rois.csv")
    if "accepted" in rois:
        rois["accepted"] = rois["accepted"].astype(bool)
    kinetics = _read_csv(folder / "kinetics.csv")
    if "responder" in kinetics:
        kinetics["responder"] = kinetics["responder"].astype(bool)
    shifts = projection = bg = None
    if (folder / "shifts.csv").is_file():
        s = _read_csv(folder / "shifts.csv")
        shifts = s[["shift_row", "shift_col"]].to_numpy(float) if len(s) else np.zeros((0, 2))
    if (folder / "projection.tif").is_file():
        projection = tifffile.imread(folder / "projection.tif")
    if (folder / "background.tif").is_file():
        bg = tifffile.imread(folder / "background.tif").astype(bool)
    treatments = None
    if (folder / "treatments.csv").is_file():
        treatments = _read_csv(folder / "treatments.csv")
    return Result(name=folder.name, labels=labels, rois=rois,
                  traces=_read_csv(folder / "traces.csv"), kinetics=kinetics, config=config,
                  provenance=prov, shifts=shifts, projection=projection, background_mask=bg,
                  folder=folder, treatments=treatments)

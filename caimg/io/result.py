"""Write and read the result folder (the contract in DESIGN.md shared by CLI, API and napari).

A result folder is written under a temporary name next to its final place and renamed when
every file is complete, so an interrupted run never leaves a half result that looks whole.
``run.json`` is written last; a folder without it is not a result.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from .._stream import worker_count
from ..config import config_from_dict, config_to_dict
from ..errors import ResultError
from ..result import ROI_DTYPES, Result

__all__ = ["save_result", "load_result", "is_result_folder", "file_fingerprint", "RESULT_FILES",
           "write_table", "PARTIAL_SUFFIX", "FORMAT_VERSION", "clean_stale_temporaries",
           "result_format_version", "is_temporary_name", "check_replaceable", "pid_alive"]

#: Files every complete result folder holds.
RESULT_FILES = ("rois.tif", "rois.zip", "rois.csv", "traces.csv", "kinetics.csv", "run.json",
                "overview.png")
PARTIAL_SUFFIX = ".partial"
OLD_SUFFIX = ".old"
FORMAT_VERSION = 1

# temporary folders of save_result: ".<name>.<pid>-<8 hex>.partial" (being written) and
# ".<name>.<pid>-<8 hex>.old" (a previous result being replaced)
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}(?P<kind>\.partial|\.old)$")


def is_temporary_name(name: str) -> bool:
    """Tell whether ``name`` is one of save_result's hidden temporary folders.

    Parameters
    ----------
    name : str
        A folder name (not a path).

    Returns
    -------
    bool
        True for the name of a ``.partial`` or ``.old`` folder (never a result).
    """
    return bool(_TEMP_RE.match(name)) or (name.startswith(".") and name.endswith(
        (PARTIAL_SUFFIX, OLD_SUFFIX)))


def pid_alive(pid: int) -> bool:
    """Tell whether process ``pid`` still runs (a temporary of one that does not is stale).

    Parameters
    ----------
    pid : int
        A process id, e.g. from a temporary file's or folder's name.

    Returns
    -------
    bool
        True while it runs, or when that cannot be checked (another user's process).
    """
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def result_format_version(folder: str | Path):
    """Read the ``format_version`` of the result in ``folder``.

    Parameters
    ----------
    folder : str or Path
        A result folder.

    Returns
    -------
    str or int or None
        ``format_version`` from ``run.json``; ``"unknown"`` when run.json has none; None
        when the folder holds no readable run.json.
    """
    try:
        with open(Path(folder) / "run.json") as fh:
            prov = json.load(fh)
    except (OSError, ValueError):
        return None
    return prov.get("format_version", "unknown") if isinstance(prov, dict) else "unknown"


def clean_stale_temporaries(out_dir: str | Path) -> list[str]:
    """Remove what interrupted runs left in ``out_dir``.

    A ``.partial`` folder of a process that no longer runs is deleted. A ``.old`` folder
    (a previous result moved aside while its replacement was renamed into place) is put
    back when the process died between the two renames and no result of that name
    exists; otherwise it is deleted. Folders of running processes are left alone, so
    two runs writing to one folder do not disturb each other.

    Parameters
    ----------
    out_dir : str or Path
        An output folder (results side by side); a missing folder holds nothing to clean.

    Returns
    -------
    list of str
        What was done, one line per temporary folder (``"removed ..."``,
        ``"restored ... from ..."``).
    """
    out_dir = Path(out_dir)
    done = []
    try:
        entries = sorted(out_dir.iterdir())
    except OSError:
        return done
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if not m or not entry.is_dir() or pid_alive(int(m["pid"])):
            continue
        final = out_dir / m["name"]
        if (m["kind"] == OLD_SUFFIX and not final.exists()
                and is_result_folder(entry, _any_name=True)):
            os.rename(entry, final)
            done.append(f"restored {final.name} from {entry.name}")
        else:
            shutil.rmtree(entry, ignore_errors=True)
            done.append(f"removed {entry.name}")
    return done


def file_fingerprint(path: str | Path, *, hash_bytes: bool = True) -> dict:
    """Describe a file by its size, modification time and SHA-256 (never modifies it).

    Parameters
    ----------
    path : str or Path
        The file.
    hash_bytes : bool
        ``False``: skip the SHA-256 (no read of the file's bytes).

    Returns
    -------
    dict
        ``path`` (resolved, str), ``size`` (bytes), ``mtime`` (s since the epoch) and, with
        ``hash_bytes``, ``sha256`` (hex).
    """
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
    """Write a CSV with a fixed float format so reruns give byte-identical files.

    Floats are written as ``%.9g`` (NaN as an empty field), integers as ``%d``. Long tables
    of plain int64/float64 columns (``traces.csv``: one row per ROI and frame) are formatted
    by a compiled kernel (``caimg._kernels.format_csv``, about 40x pandas) into the same
    bytes; everything else, or without numba, goes through ``DataFrame.to_csv``.

    Parameters
    ----------
    df : pandas.DataFrame
        The table; its index is not written.
    path : Path
        The CSV file to write (overwritten).
    """
    if len(df) >= _FAST_CSV_MIN_ROWS and _write_table_fast(df, path):
        return
    df.to_csv(path, index=False, float_format="%.9g", lineterminator="\n")


_FAST_CSV_MIN_ROWS = 5000
_SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _write_table_fast(df: pd.DataFrame, path: Path) -> bool:
    """Write ``df`` with the numba CSV kernel; False (nothing written) when it does not apply."""
    from .._backend import kernels_or_none

    kernels = kernels_or_none()
    if kernels is None or not all(isinstance(c, str) and _SIMPLE_NAME.match(c)
                                  for c in df.columns):
        return False
    ints, floats, kinds = [], [], []
    for c in df.columns:
        col = df[c]
        if col.dtype == np.int64:
            kinds.append(len(ints))
            ints.append(col.to_numpy())
        elif col.dtype == np.float64:
            kinds.append(-len(floats) - 1)
            floats.append(col.to_numpy())
        else:
            return False
    n = len(df)
    pow10 = _pow10()
    kinds = np.array(kinds, np.int64)
    block = 1 << 16  # rows per block: one small reused text buffer, whatever the length
    out = np.empty(min(n, block) * len(kinds) * 28, np.uint8)
    with open(path, "wb") as fh:
        fh.write((",".join(df.columns) + "\n").encode())
        for a in range(0, n, block):
            b = min(n, a + block)
            ia = np.array([c[a:b] for c in ints], np.int64).reshape(len(ints), b - a)
            fa = np.array([c[a:b] for c in floats], np.float64).reshape(len(floats), b - a)
            end = kernels.format_csv(ia, fa, kinds, pow10, out)
            fh.write(memoryview(out)[:end])
    return True


def _pow10():
    global _POW10
    if _POW10 is None:
        _POW10 = np.array([float(f"1e{k}") for k in range(-400, 401)])
    return _POW10


_POW10 = None


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


def is_result_folder(folder: str | Path, *, _any_name: bool = False) -> bool:
    """Tell whether ``folder`` holds a complete caimg result (``run.json`` present), not
    one of the hidden temporary folders an interrupted run may leave behind.

    Parameters
    ----------
    folder : str or Path
        The folder to look at.

    Returns
    -------
    bool
        True for a complete result folder.
    """
    folder = Path(folder)
    if not _any_name and is_temporary_name(folder.name):
        return False
    return (folder / "run.json").is_file()


def save_result(result: Result, out_dir: str | Path, *, overview: bool | None = None) -> Path:
    """Write ``result`` to ``out_dir/<result.name>/`` atomically and return that folder.

    Everything is written into a hidden ``.<name>.<pid>-<hex>.partial`` folder that is
    renamed to ``<name>`` when complete (``run.json`` last), so a run killed at any point
    leaves a complete result or none. An existing result of the same name (same format
    version) is replaced only once the new one is complete; anything else in the way (a
    folder that is not a caimg result, or a result of another format version) is never
    overwritten.

    Parameters
    ----------
    result : Result
        The result to write.
    out_dir : str or Path
        The output folder (created when missing); the result goes into a folder named
        ``result.name`` inside it.
    overview : bool, optional
        Write ``overview.png``; None: as ``result.config.output.overview_png`` says.

    Returns
    -------
    Path
        The result folder ``out_dir/<result.name>``.

    Raises
    ------
    ResultError
        When ``out_dir/<name>`` exists and is not a caimg result of this format version.
    """
    from ..plotting import save_overview
    from .rois import write_roiset

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / result.name
    check_replaceable(final)
    stamp = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = out_dir / f".{result.name}.{stamp}{PARTIAL_SUFFIX}"
    plot = None
    try:
        # inside the try: a stop (Ctrl-C, a worker's SIGTERM) right after the mkdir still
        # removes the folder
        tmp.mkdir()
        # overview.png (matplotlib, ~0.5 s for a big recording) renders in its own thread
        # while the tables, ROI files and images are written here; joined before run.json.
        # With a budget of one thread it renders here (a second thread would take a core
        # from another worker's recording)
        if overview if overview is not None else result.config.output.overview_png:
            plot = _Background(save_overview, result, tmp / "overview.png",
                               threaded=worker_count() > 1)
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
        if plot is not None:
            plot.result()
        prov = dict(result.provenance)
        prov["format_version"] = FORMAT_VERSION
        prov["config"] = config_to_dict(result.config)
        with open(tmp / "run.json", "w") as fh:
            json.dump(prov, fh, indent=2, default=_json_default, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        if final.exists():
            check_replaceable(final)
            # between these two renames no result of this name exists; a run killed there
            # leaves the previous one as .old, which clean_stale_temporaries puts back
            old = out_dir / f".{result.name}.{stamp}{OLD_SUFFIX}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    except BaseException:
        if plot is not None:
            plot.join()  # never delete the folder under a thread still writing into it
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


class _Background:
    """``fn(*args)`` in a daemon thread, or at once with ``threaded=False``.

    :meth:`result` joins the thread and re-raises its error.
    """

    def __init__(self, fn, *args, threaded=True):
        import threading

        self._error = None
        self._thread = None

        def run():
            try:
                fn(*args)
            except BaseException as exc:  # noqa: BLE001 - re-raised by result()
                self._error = exc

        if not threaded:  # errors and stops propagate from here, as from any write
            fn(*args)
            return
        self._thread = threading.Thread(target=run, name="caimg-overview", daemon=True)
        self._thread.start()

    def join(self):
        if self._thread is not None:
            self._thread.join()

    def result(self):
        self.join()
        if self._error is not None:
            raise self._error


def check_replaceable(final: Path) -> None:
    """Refuse to replace anything but a caimg result of this format version.

    Parameters
    ----------
    final : Path
        Where a result folder is about to be written.

    Raises
    ------
    ResultError
        ``final`` exists and is not a caimg result of this format version (nor an empty
        folder).
    """
    if not final.exists() and not final.is_symlink():
        return
    if final.is_symlink() or not final.is_dir():
        raise ResultError(f"{final}: exists and is not a result folder; caimg will not replace "
                          "it. Move it away or choose another output folder (--out)")
    version = result_format_version(final)
    if version is None:
        try:
            empty = not any(final.iterdir())
        except OSError:
            empty = False
        if empty:
            return
        raise ResultError(f"{final}: exists and is not a caimg result (no readable run.json); "
                          "caimg will not overwrite it. Move it away or choose another output "
                          "folder (--out)")
    if version != FORMAT_VERSION:
        raise ResultError(f"{final}: holds a caimg result of format version {version!r}, this "
                          f"caimg writes version {FORMAT_VERSION}; it is not overwritten. Use a "
                          "new output folder (--out), or delete the old result to redo it")




def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _roi_dtypes(rois: pd.DataFrame) -> pd.DataFrame:
    """The flags of ``rois.csv`` as bools and its text columns as text ("" where the CSV
    has an empty field, which pandas reads as NaN), as the pipeline made them.
    """
    for col, dtype in ROI_DTYPES.items():
        if col not in rois:
            continue
        if dtype == "bool":
            rois[col] = rois[col].fillna(False).astype(bool)
        elif dtype == "str":
            rois[col] = rois[col].astype(object).where(rois[col].notna(), "").astype(str)
    return rois


def load_result(folder: str | Path) -> Result:
    """Read a result folder written by :func:`save_result` (or edited in napari).

    Parameters
    ----------
    folder : str or Path
        The result folder (the one holding ``run.json``).

    Returns
    -------
    Result
        The result, its config and provenance read back from ``run.json``.

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
    if is_temporary_name(folder.name):
        raise ResultError(f"{folder}: a temporary folder of an unfinished or interrupted run, "
                          "not a result; expected a caimg result folder (rerun caimg on the "
                          "input; the next run removes it)")
    if not is_result_folder(folder):
        raise ResultError(f"{folder}: no run.json, so this is not a complete caimg result "
                          "(an interrupted run leaves none); run caimg again on the input")
    try:
        with open(folder / "run.json") as fh:
            prov = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ResultError(f"{folder / 'run.json'}: cannot be read ({exc}); expected the JSON "
                          "provenance caimg writes") from exc
    if not isinstance(prov, dict):
        raise ResultError(f"{folder / 'run.json'}: expected a JSON object")
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
    rois = _roi_dtypes(_read_csv(folder / "rois.csv"))
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

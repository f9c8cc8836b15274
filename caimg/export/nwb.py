"""NWB file of one result folder, with pynwb.

What goes where (docs/export.md has the full table):

- ``/general``: session start time, recording name as ``session_id``, the subject (user
  metadata, else explicit "unknown" values), caimg provenance (``run.json``) in ``notes``;
- ``/general/devices`` + ``/general/optophysiology``: a Device, one OpticalChannel and one
  ImagingPlane per excitation wavelength (Fura-2: 340 and 380 nm excitation, 510 nm
  emission; Fluo-4: 494 / 516 nm);
- ``/acquisition``: one ImageSeries per input file in external mode (a relative link to
  the raw stack, never a copy);
- ``/processing/ophys``: ImageSegmentation/PlaneSegmentation (ids = caimg ROI numbers,
  ``image_mask`` from ``rois.tif``, every ``rois.csv`` column), ``Fluorescence`` (the
  background-subtracted channels and F0), ``DfOverF`` (ratio, R/R0, dR/R0 or dF/F0),
  ``Calcium`` ([Ca2+] in nM when calibrated), ``SummaryImages`` (the mean projection) and
  the ``kinetics`` / ``treatment_responses`` tables;
- ``/intervals``: ``stimulus`` and ``treatments`` (TimeIntervals).

Series are named after their ``traces.csv`` column (``f340``, ``ratio``, ``dff``, ...).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._common import ExportError, atomic_target, default_nwb_path, require

__all__ = ["export_nwb", "read_nwb_metadata", "check_nwb_metadata", "INDICATORS",
           "SERIES"]

#: indicator -> (name, {channel: excitation nm}, emission nm)
INDICATORS = {
    "fura2": ("Fura-2", {"f340": 340.0, "f380": 380.0}, 510.0),
    "fluo4": ("Fluo-4", {"f": 494.0}, 516.0),
}

#: traces.csv column -> (container, unit, description)
SERIES = {
    "f340": ("Fluorescence", "a.u.", "background-subtracted mean fluorescence per ROI at "
             "340 nm excitation (camera counts after background subtraction)"),
    "f380": ("Fluorescence", "a.u.", "background-subtracted mean fluorescence per ROI at "
             "380 nm excitation (camera counts after background subtraction)"),
    "f": ("Fluorescence", "a.u.", "background-subtracted mean fluorescence per ROI (camera "
          "counts after background subtraction)"),
    "f0": ("Fluorescence", "a.u.", "baseline fluorescence F0 per ROI and frame (the recipe's "
           "signal.f0_mode, recorded in the run.json in /general/notes)"),
    "ratio": ("DfOverF", "n.a.", "Fura-2 ratio R = F340/F380 of the background-subtracted "
              "channels (the signal caimg measures kinetics on)"),
    "r_r0": ("DfOverF", "n.a.", "R/R0: the ratio divided by its baseline R0 (signal.f0_mode)"),
    "dr_r0": ("DfOverF", "n.a.", "dR/R0 = (R - R0)/R0 with baseline R0 (signal.f0_mode)"),
    "dff": ("DfOverF", "n.a.", "dF/F0 = (F - F0)/F0 (the signal caimg measures kinetics on)"),
    "ca_nM": ("Calcium", "nM", "[Ca2+] in nM from the calibration in the recipe "
              "(signal.calibration; Fura-2: Grynkiewicz et al. 1985, Kd*beta*(R-Rmin)/"
              "(Rmax-R); single wavelength: Kd*(F-Fmin)/(Fmax-F))"),
}

_COLUMN_DESC = {
    "roi": "caimg ROI number (= the PlaneSegmentation id and the value in rois.tif)",
    "event": "response number within the ROI, from 1",
    "responder": "amplitude above responder_k x baseline noise SD",
    "onset_s": "response onset, s from the first frame",
    "baseline": "mean signal before the stimulus (or the onset)",
    "peak": "peak signal",
    "amplitude": "peak - baseline",
    "time_to_peak_s": "time from the stimulus (or the onset) to the peak, s",
    "rise_time_s": "10-90 % rise time, s",
    "decay_tau_s": "single-exponential decay time constant, s",
    "decay_r2": "R^2 of the decay fit",
    "half_decay_s": "peak to 50 % of the amplitude, s",
    "fwhm_s": "full width at half maximum, s",
    "auc": "area under the baseline-subtracted curve (signal x s)",
    "snr": "amplitude / baseline noise SD",
    "centroid_row": "ROI centroid, image row (pixels)",
    "centroid_col": "ROI centroid, image column (pixels)",
    "area_px": "ROI area in pixels",
    "area_um2": "ROI area in square micrometres",
    "mean_intensity": "mean raw intensity in the ROI",
    "accepted": "accepted for analysis (false: rejected automatically or in review)",
    "source": "how the ROI was made: auto (segmentation), imported or edited (review)",
    "reject_reason": "why the ROI was rejected (empty when accepted)",
    "treatment": "treatment name",
    "treatment_time_s": "treatment time, s from the first frame",
}

_SUBJECT_DEFAULTS = {
    # nwbinspector needs these; caimg cannot know them, so they say "unknown" explicitly
    # (sex "U", an open age range from 0 days, the NCBI taxonomy root "cellular organisms")
    "sex": "U",
    "age": "P0D/",
    "species": "http://purl.obolibrary.org/obo/NCBITaxon_131567",
    "description": "not recorded by caimg (species, sex and age unknown); give the real "
                   "values with caimg export nwb --metadata FILE.toml ([subject] table)",
}
_NWBFILE_KEYS = ("experimenter", "lab", "institution", "experiment_description", "keywords",
                 "related_publications", "protocol", "session_description", "pharmacology",
                 "surgery", "virus", "slices", "data_collection", "session_start_time")
_SUBJECT_KEYS = ("subject_id", "species", "sex", "age", "date_of_birth", "description",
                 "strain", "genotype", "weight")


def _parse_time(value) -> _dt.datetime | None:
    if isinstance(value, _dt.datetime):
        t = value
    elif isinstance(value, str):
        try:
            t = _dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    elif isinstance(value, (int, float)) and np.isfinite(value):
        t = _dt.datetime.fromtimestamp(float(value), tz=_dt.UTC)
    else:
        return None
    return t if t.tzinfo is not None else t.astimezone()


def _session_start(prov: Mapping, folder: Path | None) -> tuple[_dt.datetime, str]:
    """Session start: the earliest input-file modification time in run.json (the closest
    to the acquisition caimg knows), else run.json ``created``, else the folder's mtime.
    """
    mtimes = [i.get("mtime") for i in prov.get("inputs", []) if isinstance(i, dict)]
    times = [t for t in map(_parse_time, mtimes) if t is not None]
    now = _dt.datetime.now(_dt.UTC)
    if times and min(times) <= now:  # a file time in the future is a wrong clock: not used
        return min(times), "the modification time of the input file"
    t = _parse_time(prov.get("created"))
    if t is not None and t <= now:
        return t, "the time caimg processed the recording (run.json created)"
    if folder is not None and (folder / "run.json").is_file():
        t = _parse_time((folder / "run.json").stat().st_mtime)
        if t <= now:
            return t, "the modification time of run.json"
    return now, "the time of this export (no earlier time was recorded)"


def _series_times(time_s: np.ndarray, frame_interval_s) -> dict[str, Any]:
    """Rate + starting_time when the frames are evenly spaced, else timestamps."""
    if len(time_s) > 1:
        d = np.diff(time_s)
        if np.all(np.isfinite(d)) and np.allclose(d, d[0], rtol=1e-6, atol=1e-9) and d[0] > 0:
            return {"rate": float(1.0 / d[0]), "starting_time": float(time_s[0])}
        return {"timestamps": np.asarray(time_s, float)}
    dt = float(frame_interval_s) if frame_interval_s else 1.0
    start = float(time_s[0]) if len(time_s) else 0.0
    return {"rate": 1.0 / dt, "starting_time": start}


_TEXT_COLUMNS = ("source", "reject_reason", "treatment")


def _column_values(s: pd.Series):
    """A table column as NWB-friendly values: strings for text (missing = ""), bools,
    ints and floats as they are.
    """
    if s.name not in _TEXT_COLUMNS and (s.dtype == bool
                                         or pd.api.types.is_numeric_dtype(s.dtype)):
        return s.to_numpy()
    if s.isna().all():
        return np.array([""] * len(s), dtype=object)
    vals = s.astype(object).where(s.notna(), "")
    if set(vals) <= {True, False, "True", "False"}:
        return np.array([v in (True, "True") for v in vals])
    return np.array([str(v) for v in vals], dtype=object)


def _dynamic_table(name: str, description: str, df: pd.DataFrame):
    from hdmf.common import DynamicTable, VectorData

    cols = [VectorData(name=str(c), description=_COLUMN_DESC.get(str(c), str(c)),
                       data=_column_values(df[c])) for c in df.columns]
    return DynamicTable(name=name, description=description, id=list(range(len(df))),
                        columns=cols)


#: the line of ``notes`` that records the metadata a user gave (JSON after the marker)
_MD_MARK = "caimg export metadata (given by the user; kept when caimg rewrites this file): "


def read_nwb_metadata(path: str | Path) -> dict[str, dict[str, Any]]:
    """The user metadata of an NWB file, to carry over when the file is rewritten:
    ``{"nwbfile": {...}, "subject": {...}}``.

    For a file written by :func:`export_nwb` these are exactly the fields the user gave
    (recorded in its ``notes``), not caimg's defaults; for another NWB file, every set
    field among the keys :func:`export_nwb` accepts.

    Parameters
    ----------
    path : str or Path
        An NWB file.

    Returns
    -------
    dict
        ``{"nwbfile": {...}, "subject": {...}}``.
    """
    pynwb = require("pynwb", what="reading NWB metadata")
    out: dict[str, dict[str, Any]] = {"nwbfile": {}, "subject": {}}
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        for line in str(nwb.notes or "").splitlines():
            if line.startswith(_MD_MARK):
                return check_nwb_metadata(json.loads(line[len(_MD_MARK):]))
        for key in _NWBFILE_KEYS:
            v = getattr(nwb, key, None)
            if v is None or (isinstance(v, str) and not v):
                continue
            if not isinstance(v, (str, _dt.datetime)):
                v = [x.decode() if isinstance(x, bytes) else str(x) for x in v[:]]
            out["nwbfile"][key] = v
        if nwb.subject is not None:
            for key in _SUBJECT_KEYS:
                v = getattr(nwb.subject, key, None)
                if v is not None:
                    out["subject"][key] = v
    return out


def check_nwb_metadata(metadata: Mapping | None) -> dict[str, dict[str, Any]]:
    """Validate NWB metadata: only the sections and keys :func:`export_nwb` accepts.

    Parameters
    ----------
    metadata : mapping or None
        ``{"nwbfile": {...}, "subject": {...}}`` (either table may be missing).

    Returns
    -------
    dict
        ``{"nwbfile": {...}, "subject": {...}}``, both present (empty when not given).

    Raises
    ------
    ExportError
        A section other than ``nwbfile`` / ``subject``, or a key NWB does not accept there.
    """
    md = {"nwbfile": {}, "subject": {}}
    for section, values in (metadata or {}).items():
        allowed = _NWBFILE_KEYS if section == "nwbfile" else _SUBJECT_KEYS
        if section not in md or not isinstance(values, Mapping):
            raise ExportError(f"NWB metadata: unknown section {section!r}; expected the "
                              "tables [nwbfile] and [subject]")
        bad = sorted(set(values) - set(allowed))
        if bad:
            raise ExportError(f"NWB metadata [{section}]: unknown key(s) {bad}; expected any "
                              f"of {', '.join(allowed)}")
        md[section].update(values)
    return md


def _raw_series(pynwb, prov, res, nwb_dir: Path, times: dict, n_frames: int,
                name_prefix: str = "raw"):
    """One external-mode ImageSeries per input file that exists (relative paths, as
    nwbinspector asks); inputs that are gone are only named in the description.
    """
    series, missing = [], []
    inputs = [i for i in prov.get("inputs", []) if isinstance(i, dict) and i.get("path")]
    layout = prov.get("layout", "unknown")
    channels = list(prov.get("channels") or [])
    suffixes = tuple(res.config.input.pair_suffixes)
    for k, inp in enumerate(inputs):
        p = Path(inp["path"])
        if not p.is_file():
            missing.append(str(p))
            continue
        if layout == "pair" and len(inputs) == 2:
            stem = p.stem
            chan = next((c for c, s in zip(("f340", "f380"), suffixes, strict=False)
                         if stem.endswith(s)),
                        channels[k] if k < len(channels) else f"{k}")
            name, what = f"{name_prefix}_{chan}", f"the {chan} channel"
        else:
            name = name_prefix if len(inputs) == 1 else f"{name_prefix}_{k}"
            what = (f"channels {', '.join(channels)}" if channels else "the recording")
        desc = (f"raw stack ({what}, layout {layout!r} as caimg read it), stored outside this "
                f"file; size {inp.get('size')} bytes, SHA-256 {inp.get('sha256', 'not recorded')}")
        series.append(pynwb.image.ImageSeries(
            name=name, description=desc, external_file=[os.path.relpath(p, nwb_dir)],
            format="external", starting_frame=[0], unit="a.u.", num_samples=n_frames,
            **times))
    return series, missing


def export_nwb(result_folder, path: str | Path | None = None, *,
               metadata: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Write one NWB file for a result folder.

    Parameters
    ----------
    result_folder : path or Result
        A caimg result folder (or a :class:`~caimg.result.Result` loaded from one).
    path : path, optional
        The ``.nwb`` file; default ``<parent>/<recording>.nwb`` beside the result folder
        (not inside it: re-saving a result replaces the whole folder). Written under a
        temporary name and renamed when complete.
    metadata : mapping, optional
        ``{"nwbfile": {...}, "subject": {...}}``: NWBFile fields (``experimenter``, ``lab``,
        ``institution``, ``experiment_description``, ``keywords``, ``session_description``,
        ``session_start_time``, ``pharmacology``, ...) and Subject fields (``subject_id``,
        ``species``, ``sex``, ``age``, ``strain``, ...). Missing subject fields are set to
        explicit "unknown" values (sex ``U``, age ``P0D/``, species the NCBI taxonomy root
        "cellular organisms") so that the file passes nwbinspector.

    Returns
    -------
    Path
        The NWB file written.

    Raises
    ------
    ExportError
        pynwb is missing (``pip install 'caimg[export]'``) or the metadata has unknown keys.
    ResultError
        The folder is not a complete result.

    Notes
    -----
    ``image_mask`` follows the NWB schema's axis names ``(num_roi, num_x, num_y)``: each
    mask is the transpose of the ``rois.tif`` (rows, columns) region, as NeuroConv writes
    it; ``SummaryImages/mean_projection`` likewise. Traces keep every ROI of the result
    (accepted or not; the ``accepted`` column says which); RoiResponseSeries are
    (frames, ROIs). Evenly spaced frames are written as ``rate`` + ``starting_time``
    (seconds from the first frame, which is the session start), others as
    ``timestamps`` shared by every series.
    """
    pynwb = require("pynwb", what="the NWB export")
    from ..io.result import load_result
    from ..result import Result

    res = (result_folder if isinstance(result_folder, Result)
           else load_result(Path(result_folder).resolve()))  # "." has a name too
    folder = Path(res.folder) if res.folder is not None else None
    if path is None:
        if folder is None:
            raise ExportError(f"{res.name}: this result has no folder; pass path=")
        path = default_nwb_path(folder)
    path = Path(path)
    md = check_nwb_metadata(metadata)
    prov = dict(res.provenance)

    time_s, roi_ids_tr, _ = res.trace_matrix()
    times = _series_times(time_s, prov.get("frame_interval_s"))
    raw, missing = _raw_series(pynwb, prov, res, path.resolve().parent, times, len(time_s))
    nwb = _new_nwbfile(pynwb, res, md, prov, missing)
    planes = _add_imaging_planes(nwb, res, prov, times)
    for s in raw:
        nwb.add_acquisition(s)

    ophys = nwb.create_processing_module(
        name="ophys", description=f"caimg {res.config.name!r} recipe: registration, ROIs, "
                                  "background subtraction, signals and kinetics")
    _add_summary_image(ophys, res)
    if len(res.rois):
        ps = _add_plane_segmentation(ophys, res, next(iter(planes.values())))
        _add_response_series(ophys, res, ps, roi_ids_tr, times)
    _add_tables(ophys, res)
    _add_intervals(nwb, res, time_s, prov.get("frame_interval_s"))

    with atomic_target(path) as tmp:
        with pynwb.NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwb)
    return path


def _nwbfile_fields(res, md: Mapping, prov: Mapping) -> tuple[dict[str, Any], str]:
    """The user's NWBFile fields completed with caimg's (session start, description,
    keywords, pharmacology), and where the session start time comes from.
    """
    from .._version import __version__

    indicator = INDICATORS[res.indicator][0]
    folder = Path(res.folder) if res.folder is not None else None
    start, start_source = _session_start(prov, folder)
    nwbkw = dict(md["nwbfile"])
    if "session_start_time" in nwbkw:
        t = _parse_time(nwbkw["session_start_time"])
        if t is None:
            raise ExportError(f"NWB metadata session_start_time {nwbkw['session_start_time']!r}"
                              ": expected an ISO 8601 date and time, e.g. 2026-05-04T10:30:00")
        nwbkw["session_start_time"], start_source = t, "the metadata given"
    else:
        nwbkw["session_start_time"] = start
    treatments = dict(res.config.kinetics.treatments or {})
    edits = prov.get("edits") or []
    nwbkw.setdefault("session_description",
                     f"{indicator} calcium imaging of recording {res.name!r}, analysed by caimg "
                     f"{prov.get('caimg_version', __version__)} with the {res.config.name!r} "
                     f"recipe into per-ROI traces and response kinetics"
                     + (f"; {len(edits)} review edit session(s)" if edits else ""))
    nwbkw.setdefault("keywords", ["calcium imaging", indicator, "caimg"])
    if treatments and "pharmacology" not in nwbkw:
        nwbkw["pharmacology"] = "; ".join(f"{k} at {v:g} s" for k, v in treatments.items())
    return nwbkw, start_source


def _new_nwbfile(pynwb, res, md: Mapping, prov: Mapping, missing: list[str]):
    """The NWBFile with its ``/general`` fields, provenance notes and Subject."""
    from pynwb.file import Subject

    from .._version import __version__

    nwbkw, start_source = _nwbfile_fields(res, md, prov)
    folder = Path(res.folder) if res.folder is not None else None
    stim = res.config.kinetics.stimulus_time_s
    nwb = pynwb.NWBFile(
        identifier=str(uuid.uuid4()),
        session_id=res.name.replace("/", "_"),
        source_script=(f"caimg {__version__} (caimg.export.export_nwb) from the result folder "
                       f"{folder if folder is not None else res.name}; session_start_time is "
                       f"{start_source}"),
        source_script_file_name="caimg/export/nwb.py",
        stimulus_notes=(f"stimulus at {stim:g} s from the first frame" if stim is not None
                        else "no stimulus time given"),
        notes=(f"raw input(s) not found when this file was written, so not linked: "
               f"{'; '.join(missing)}\n" if missing else "")
              + _MD_MARK + json.dumps(md, default=str) + "\n"
              + "caimg provenance (run.json of the result folder):\n"
              + json.dumps({**prov, "config": _config_dict(res)}, default=str, indent=1),
        **nwbkw)
    subj = {**_SUBJECT_DEFAULTS, "subject_id": res.name.replace("/", "_"), **md["subject"]}
    nwb.subject = Subject(**subj)
    return nwb


def _add_imaging_planes(nwb, res, prov: Mapping, times: Mapping) -> dict[str, Any]:
    """Device, OpticalChannel and one ImagingPlane per excitation wavelength, by channel."""
    from pynwb.ophys import OpticalChannel

    indicator, excitation, emission = INDICATORS[res.indicator]
    frame_interval_s = prov.get("frame_interval_s")
    rate = (1.0 / float(frame_interval_s) if frame_interval_s
            else times.get("rate", float("nan")))
    device = nwb.create_device(name="Microscope", description="widefield fluorescence "
                               "microscope and camera (model not recorded by caimg)")
    channel = OpticalChannel(name="OpticalChannel", description=f"{indicator} emission",
                             emission_lambda=emission)
    ps_um = prov.get("pixel_size_um")
    grid = ({"grid_spacing": [float(ps_um)] * 2, "grid_spacing_unit": "micrometers"}
            if ps_um else {})
    planes = {}
    for chan, ex in excitation.items():
        nm = f"ImagingPlane{int(ex)}" if len(excitation) > 1 else "ImagingPlane"
        planes[chan] = nwb.create_imaging_plane(
            name=nm, optical_channel=channel, device=device, excitation_lambda=ex,
            indicator=indicator, location="unknown",
            imaging_rate=float(rate) if np.isfinite(rate) else 0.0,
            description=f"{indicator}, {ex:g} nm excitation, {emission:g} nm emission; "
                        f"frame interval {frame_interval_s} s "
                        f"({prov.get('frame_interval_source', 'source not recorded')})",
            **grid)
    return planes


def _add_summary_image(ophys, res) -> None:
    """``SummaryImages/mean_projection`` (x, y axes), when the result has a projection."""
    if res.projection is None:
        return
    from pynwb.base import Images
    from pynwb.image import GrayscaleImage

    ophys.add(Images(name="SummaryImages", description="images caimg segmented on",
                     images=[GrayscaleImage(
                         name="mean_projection", data=np.asarray(res.projection, float).T,
                         description="mean projection of the registered motion channel "
                                     "(x, y axes: the transpose of rows, columns)")]))


def _add_plane_segmentation(ophys, res, plane):
    """ImageSegmentation/PlaneSegmentation: one row per ROI of rois.csv, with its mask."""
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb.ophys import ImageSegmentation

    rois = res.rois
    prov = res.provenance
    seg = ImageSegmentation(name="ImageSegmentation")
    ophys.add(seg)
    ps = seg.create_plane_segmentation(
        name="PlaneSegmentation", imaging_plane=plane,
        description=f"caimg ROIs (rois.tif; {prov.get('rois', {}).get('source', 'auto')}"
                    "); ids are the caimg ROI numbers; image_mask axes (x, y) = the "
                    "transpose of rois.tif (rows, columns); shared by every channel")
    extra = [c for c in rois.columns if c != "roi"]
    for c in extra:
        ps.add_column(name=str(c), description=_COLUMN_DESC.get(str(c), str(c)))
    values = {c: _column_values(rois[c]) for c in extra}
    labels = np.asarray(res.labels)
    for i, roi in enumerate(rois["roi"].astype(int).to_numpy()):
        ps.add_roi(id=int(roi), image_mask=(labels == roi).T,
                   **{str(c): values[c][i] for c in extra})
    # masks are mostly zeros: gzip, one chunk per ROI (324 ROIs of 512 x 512 pixels:
    # 88 MB uncompressed, 0.3 MB compressed), so reading one mask reads one chunk
    ps["image_mask"].set_data_io(H5DataIO, {"compression": "gzip",
                                            "chunks": (1, *labels.T.shape)})
    return ps


def _add_response_series(ophys, res, ps, roi_ids_tr, times: Mapping) -> None:
    """One RoiResponseSeries per traces.csv column, in Fluorescence / DfOverF / Calcium."""
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb.ophys import DfOverF, Fluorescence, RoiResponseSeries

    position = {int(r): i for i, r in enumerate(res.rois["roi"].astype(int))}
    missing_rois = [int(r) for r in roi_ids_tr if int(r) not in position]
    if missing_rois:
        raise ExportError(f"{res.folder}: traces.csv has ROI(s) {missing_rois} that rois.csv "
                          "lacks; expected the same ROIs in both (re-save the result)")
    region = [position[int(r)] for r in roi_ids_tr]
    containers: dict[str, Any] = {}
    first = None
    for col in [c for c in SERIES if c in res.traces.columns]:
        kind, unit, desc = SERIES[col]
        if kind not in containers:
            cls = DfOverF if kind == "DfOverF" else Fluorescence
            containers[kind] = cls(name=kind)
            ophys.add(containers[kind])  # before the series: their table is in ophys
        _, ids, values_tr = res.trace_matrix(col)
        tkw = times if first is None or "timestamps" not in times else {"timestamps": first}
        rrs = RoiResponseSeries(
            name=col, description=desc, unit=unit,
            data=H5DataIO(np.asarray(values_tr, float), compression="gzip"),
            rois=ps.create_roi_table_region(description=f"the ROIs of {col}",
                                            region=region),
            **tkw)
        containers[kind].add_roi_response_series(rrs)
        first = first or rrs


def _add_tables(ophys, res) -> None:
    """The ``kinetics`` and ``treatment_responses`` tables, when not empty."""
    if len(res.kinetics):
        ophys.add(_dynamic_table("kinetics", f"response kinetics per ROI and event "
                                 f"(kinetics.csv), measured on {res.signal_column}; roi = "
                                 "PlaneSegmentation id", res.kinetics))
    if res.treatments is not None and len(res.treatments):
        ophys.add(_dynamic_table("treatment_responses", "responses per ROI and treatment "
                                 "(treatments.csv); roi = PlaneSegmentation id",
                                 res.treatments))


def _add_intervals(nwb, res, time_s: np.ndarray, frame_interval_s) -> None:
    """``/intervals/stimulus`` and ``/intervals/treatments`` from the recipe's times."""
    from pynwb.epoch import TimeIntervals

    stim = res.config.kinetics.stimulus_time_s
    treatments = dict(res.config.kinetics.treatments or {})
    end = float(time_s[-1]) if len(time_s) else 0.0
    step = float(frame_interval_s) if frame_interval_s else 1.0
    if stim is not None:
        ti = TimeIntervals(name="stimulus", description="the stimulus of the recipe "
                           "(kinetics.stimulus_time_s), to the end of the recording")
        ti.add_interval(start_time=float(stim), stop_time=max(end + step, float(stim) + step))
        nwb.add_time_intervals(ti)
    if treatments:
        ti = TimeIntervals(name="treatments", description="treatment windows: from each "
                           "treatment time to the next treatment, the treatment window "
                           "(kinetics.treatment_window_s) or the end of the recording")
        ti.add_column(name="treatment", description="treatment name")
        order = sorted(treatments.items(), key=lambda kv: kv[1])
        window = res.config.kinetics.treatment_window_s
        for k, (name, t0) in enumerate(order):
            later = [t for _, t in order[k + 1:] if t > t0]
            stop = (t0 + window if window else later[0] if later else end + step)
            ti.add_interval(start_time=float(t0), stop_time=float(max(stop, t0 + step)),
                            treatment=str(name))
        nwb.add_time_intervals(ti)


def _config_dict(res) -> dict:
    from ..config import config_to_dict

    return config_to_dict(res.config)

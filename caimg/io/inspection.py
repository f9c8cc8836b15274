"""What caimg would read from each input, before any analysis (``caimg inspect``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CaimgError
from .channels import choose_channels, describe_channels
from .find import RecordingSource, find_recordings, mask_for
from .read import read_recording
from .vendor import describe_file, is_vendor_file, recording_from_image

__all__ = ["inspect_inputs", "format_report"]

# at most this many per-frame times are listed in a report (first and last half)
_MAX_TIMES = 20


def _times(rec) -> dict[str, Any]:
    """Return the time axis of a Recording as a JSON-ready dict."""
    out: dict[str, Any] = {"kind": "per-frame" if rec.timestamps_s is not None else "uniform",
                           "source": rec.frame_interval_source,
                           "interval_s": rec.frame_interval_s}
    if rec.timestamps_s is not None:
        t = [float(v) for v in rec.timestamps_s]
        out["n_times"] = len(t)
        out["times_s"] = t if len(t) <= _MAX_TIMES else \
            t[:_MAX_TIMES // 2] + t[-_MAX_TIMES // 2:]
    return out


def _file_times(info) -> dict[str, Any]:
    """Return the time axis a vendor file describes, whatever caimg would do with it."""
    out: dict[str, Any] = {"kind": "per-frame" if info.times_s is not None else
                           ("uniform" if info.frame_interval_s else "none"),
                           "source": info.time_source if info.times_s is not None
                           else info.interval_source, "interval_s": info.frame_interval_s}
    if info.times_s is not None:
        t = [float(v) for v in info.times_s]
        out["n_times"] = len(t)
        out["times_s"] = t if len(t) <= _MAX_TIMES else \
            t[:_MAX_TIMES // 2] + t[-_MAX_TIMES // 2:]
        if out["interval_s"] is None and len(t) > 1:
            out["interval_s"] = float(np.median(np.diff(t)))
    return out


def _vendor_entry(src: RecordingSource, options: dict) -> dict[str, Any]:
    path = Path(src.paths[0])
    infos = describe_file(path)
    info = infos[src.position or 0]
    entry: dict[str, Any] = {
        "recording": src.name, "files": [str(p) for p in src.paths], "format": info.format,
        "position": info.position, "n_positions": len(infos), "axes": info.axes,
        "shape": list(info.shape), "dtype": np.dtype(info.dtype).name,
        "channels": [c.as_dict() for c in info.channels], "n_z": info.n_z,
        "time": _file_times(info), "pixel_size_um": info.pixel_size_um,
        "metadata": {k: v for k, v in info.metadata.items() if v is not None},
        "use": None, "refused": None,
    }
    if info.refusal is None:
        try:
            chosen = choose_channels(info.channels, options.get("channels"), where=info.where)
            entry["use"] = {k: describe_channels([info.channels[c]]) for k, c in chosen.items()}
        except CaimgError:
            pass  # the read below says why
    try:
        rec = recording_from_image(info, **{k: v for k, v in options.items()
                                            if k not in ("layout", "pair_suffixes")})
    except CaimgError as exc:
        entry["refused"] = str(exc)
    else:
        entry["time"] = _times(rec)
        entry["z_plane"] = rec.metadata.get("z_plane")
    return entry


def _tiff_entry(src: RecordingSource, options: dict) -> dict[str, Any]:
    entry: dict[str, Any] = {"recording": src.name, "files": [str(p) for p in src.paths],
                             "format": "tiff", "use": None, "refused": None}
    try:
        rec = read_recording(src, **options)
    except CaimgError as exc:
        entry["refused"] = str(exc)
        return entry
    md = rec.metadata
    entry.update({
        "format": "image sequence" if rec.layout == "sequence" else
                  f"tiff ({md.get('tiff_kind', 'generic')})",
        "layout": rec.layout, "axes": md.get("axes"), "shape": md.get("shape_in_file"),
        "dtype": md.get("dtype"), "channels": [{"index": i, "name": None}
                                               for i in range(len(rec.channels))],
        "use": {k: k for k in rec.channels}, "recording_shape": list(rec.shape),
        "time": _times(rec), "pixel_size_um": rec.pixel_size_um,
    })
    return entry


def inspect_inputs(paths, **options) -> list[dict[str, Any]]:
    """Describe what caimg would read from files and folders, without analysing them.

    Parameters
    ----------
    paths : str, Path or list of them
        Files or folders, searched as :func:`~caimg.io.find.find_recordings` does.
    **options
        Keyword options of :func:`~caimg.io.read.read_recording` (``channels``,
        ``z_plane``, ``frame_interval_s``, ``timestamps``, ``layout``, ...), as a recipe's
        ``[input]`` section gives them; ``sequence_pattern`` for discovery;
        ``masks_beside`` (default True): look for mask files beside the recordings (a
        recipe's ``segment.masks_beside``, off when it names a ``segment.rois_file``).

    Returns
    -------
    list of dict
        One per recording found: ``recording`` (name), ``files``, ``format``,
        ``position``, ``axes``, ``shape``, ``channels`` (index, name, excitation_nm,
        emission_nm), ``use`` (caimg channel -> file channel), ``time`` (kind
        ``per-frame``/``uniform``, ``source``, ``interval_s``, ``times_s``),
        ``pixel_size_um``, ``mask_file`` (the mask file beside it that a batch would use
        instead of segmentation, see :func:`~caimg.io.find.mask_for`, else None) and
        ``refused`` (why caimg would not read it, else None).
    """
    pattern = options.pop("sequence_pattern", None)
    masks_beside = options.pop("masks_beside", True)
    found = find_recordings(paths, layout=options.get("layout", "auto"),
                            pair_suffixes=options.get("pair_suffixes", ("_340", "_380")),
                            on_error="report", sequence_pattern=pattern)
    out = []
    for src in found:
        if src.error:
            out.append({"recording": src.name, "files": [str(p) for p in src.paths],
                        "format": None, "use": None, "refused": src.error})
        elif len(src.paths) == 1 and src.layout == "auto" and is_vendor_file(src.paths[0]):
            try:
                out.append(_vendor_entry(src, options))
            except CaimgError as exc:
                out.append({"recording": src.name, "files": [str(src.paths[0])],
                            "format": Path(src.paths[0]).suffix.lstrip(".").lower(),
                            "use": None, "refused": str(exc)})
        else:
            out.append(_tiff_entry(src, options))
        if not src.error and masks_beside:
            _add_mask(out[-1], src)
    return out


def _add_mask(entry: dict[str, Any], src: RecordingSource) -> None:
    """``mask_file`` of an entry; two mask files for one recording are a refusal."""
    try:
        mask = mask_for(src)
    except CaimgError as exc:
        entry["mask_file"] = None
        entry["refused"] = entry.get("refused") or str(exc)
        return
    entry["mask_file"] = str(mask) if mask is not None else None


def format_report(entries: list[dict[str, Any]]) -> str:
    """Format the entries of :func:`inspect_inputs` as text for the terminal.

    Parameters
    ----------
    entries : list of dict
        From :func:`inspect_inputs`.

    Returns
    -------
    str
        A few indented lines per recording.
    """
    lines = []
    for e in entries:
        lines.append(f"{e['recording']}: {e.get('format') or '?'}  ({', '.join(e['files'][:2])}"
                     f"{' ...' if len(e['files']) > 2 else ''})")
        if e.get("position"):
            lines.append(f"  position   {e['position']} (of {e.get('n_positions')})")
        if e.get("axes"):
            lines.append(f"  axes       {e['axes']} {tuple(e.get('shape') or ())} "
                         f"{e.get('dtype', '')}")
        for c in e.get("channels") or []:
            waves = ", ".join(f"{k[:2]} {c[k]:g} nm" for k in ("excitation_nm", "emission_nm")
                              if c.get(k) is not None)
            lines.append(f"  channel {c['index']}  {c.get('name') or '-'}"
                         f"{'  (' + waves + ')' if waves else ''}")
        if e.get("use"):
            lines.append("  use        " + ", ".join(f"{k} = {v}" for k, v in e["use"].items()))
        t = e.get("time")
        if t:
            every = f"every {t['interval_s']:.6g} s" if t.get("interval_s") else "no interval"
            extra = f", {t['n_times']} per-frame times" if t.get("n_times") else ""
            lines.append(f"  time       {t['kind']} ({t['source']}), {every}{extra}")
        if e.get("pixel_size_um"):
            lines.append(f"  pixel      {e['pixel_size_um']:.6g} um")
        if e.get("mask_file"):
            lines.append(f"  masks      {e['mask_file']} (its ROIs, not segmentation)")
        if e.get("refused"):
            lines.append(f"  REFUSED    {e['refused']}")
    return "\n".join(lines)

"""``caimg export nwb|xlsx RESULT...``: argument parsing only; the work is in
:mod:`caimg.export`. Nothing heavy is imported until the command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    """Register ``caimg export`` on the ``caimg`` sub-command parsers (``set_defaults(func=)``)."""
    e = subparsers.add_parser(
        "export", help="write result folders as NWB files or an Excel workbook",
        description="Export caimg results for the next tool: `nwb` writes one NWB file per "
                    "result folder (pynwb; ROIs, traces, kinetics, stimulus intervals, a link "
                    "to the raw file), `xlsx` one Excel workbook (summary, kinetics, ROIs and a "
                    "wide traces sheet per recording). RESULT is a batch output folder of "
                    "`caimg run` (every result folder inside) or a result folder. Needs "
                    "`pip install 'caimg[export]'`. See docs/export.md.")
    e.add_argument("format", choices=["nwb", "xlsx"], help="what to write")
    e.add_argument("results", nargs="+", metavar="RESULT",
                   help="a batch output folder or a result folder (repeatable)")
    e.add_argument("--out", "-o", metavar="PATH",
                   help="nwb: a folder for <recording>.nwb files, or a .nwb file for one "
                        "result (default: beside each result folder); xlsx: the workbook "
                        "(default: <batch>/caimg_batch.xlsx for one batch folder, "
                        "<recording>.xlsx beside one result folder)")
    e.add_argument("--metadata", metavar="FILE",
                   help="nwb: a TOML file with [nwbfile] (experimenter, institution, ...) and "
                        "[subject] (species, sex, age, ...) tables")
    e.add_argument("--signal", action="append", metavar="COLUMN", dest="signals",
                   help="xlsx: trace column for the wide sheets (repeatable; default: ratio "
                        "for Fura-2, dff for Fluo-4), e.g. --signal ratio --signal ca_nM")
    e.add_argument("--inspect", action="store_true",
                   help="nwb: run nwbinspector on each file written; exit code 1 when it "
                        "reports a critical or best-practice-violation finding")
    e.set_defaults(func=run)


def _nwb_targets(folders: list[Path], out: str | None) -> list[Path]:
    from ._common import ExportError, default_nwb_path

    if out is None:
        return [default_nwb_path(f) for f in folders]
    o = Path(out)
    if o.suffix == ".nwb":
        if len(folders) != 1:
            raise ExportError(f"--out {o}: one .nwb file for {len(folders)} results; give a "
                              "folder instead (each result becomes <folder>/<recording>.nwb)")
        return [o]
    names = [f.name for f in folders]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ExportError(f"--out {o}: several results are named {', '.join(dup)}; export "
                          "them into separate folders")
    return [o / f"{f.name}.nwb" for f in folders]


def _xlsx_target(results: list[str], out: str | None) -> Path:
    from ._common import BATCH_XLSX, ExportError

    if out is not None:
        return Path(out)
    if len(results) == 1:
        p = Path(results[0]).resolve()
        if (p / "run.json").is_file():
            return p.parent / f"{p.name}.xlsx"
        return p / BATCH_XLSX
    raise ExportError(f"caimg export xlsx: {len(results)} RESULT arguments make one workbook; "
                      "say where with --out FILE.xlsx")


def run(args) -> int:
    """Handler of ``caimg export``; returns the exit code."""
    from ._common import result_folders_in

    if args.format == "xlsx":
        from .xlsx import export_xlsx

        target = _xlsx_target(args.results, args.out)
        path = export_xlsx(args.results if len(args.results) > 1 else args.results[0],
                           target, signals=args.signals)
        print(f"caimg: wrote {path}")
        return 0
    from ._outputs import existing_nwb_metadata, load_nwb_metadata, merge_metadata
    from .nwb import export_nwb

    folders = result_folders_in(args.results)
    user_md = load_nwb_metadata(args.metadata) if args.metadata else None
    status = 0
    for folder, target in zip(folders, _nwb_targets(folders, args.out), strict=True):
        old = existing_nwb_metadata(target) if target.is_file() else {}
        path = export_nwb(folder, target, metadata=merge_metadata(old, user_md))
        print(f"caimg: wrote {path}")
        if args.inspect:
            status = max(status, _inspect(path))
    return status


def _inspect(path: Path) -> int:
    from ._common import require

    require("nwbinspector", what="--inspect")
    from nwbinspector import Importance, inspect_nwbfile

    bad = 0
    for msg in inspect_nwbfile(nwbfile_path=str(path)):
        serious = msg.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)
        bad += serious
        print(f"  {msg.importance.name}: {msg.object_type} {msg.object_name!r}: {msg.message}",
              file=sys.stderr if serious else sys.stdout)
    return 1 if bad else 0

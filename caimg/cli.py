"""Command line: ``caimg run``, ``caimg info``, ``caimg view``, ``caimg pipelines``,
``caimg calibrate`` (also ``python -m caimg``).

Only translation of arguments here; the work is in :mod:`caimg.batch` and the core.
Heavy libraries are imported inside the commands so that ``caimg --help`` is instant.
The global options (``-q``, ``-v``, ``--version``) work before or after the subcommand.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import UTC
from pathlib import Path

from ._cli_inspect import add_parser as add_inspect_parser

__all__ = ["main", "build_parser"]

log = logging.getLogger("caimg")


def _parse_set(values):
    """``--set kinetics.responder_k=3`` -> {"kinetics.responder_k": 3} (TOML value syntax)."""
    import tomllib

    from .errors import ConfigError

    out = {}
    for item in values or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. "
                              "--set kinetics.responder_k=3")
        key, raw = item.split("=", 1)
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word is a string
        out[key.strip()] = value
    return out


def _add_global_options(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """-q, -v and --version. After the subcommand their default is SUPPRESS, so a
    subcommand's parser sets them only when given and never resets what came before it.
    """
    def default(value):
        return argparse.SUPPRESS if after_command else value

    parser.add_argument("--version", action="store_true", default=default(False),
                        help="print the caimg version and exit")
    parser.add_argument("-v", "--verbose", action="count", default=default(0),
                        help="more output: each warning of each recording (-vv for debug logs)")
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False),
                        help="only errors: failed recordings, and what stopped the run")


class _CommandParser(argparse.ArgumentParser):
    """Parser of a subcommand: takes the global options too (``caimg run ... -q``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _add_global_options(self, after_command=True)


def _without_none(value):
    """TOML has no null: a key whose value is None is left out, which loads back as the
    same default (every None in a config is a field's default).
    """
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_without_none(v) for v in value]
    return value


def _to_toml(data: dict) -> str:
    """A recipe or profile dict as TOML (tomli-w), keys whose value is None left out."""
    import tomli_w

    return tomli_w.dumps(_without_none(data))


def build_parser() -> argparse.ArgumentParser:
    """The ``caimg`` argument parser with every subcommand.

    Returns
    -------
    argparse.ArgumentParser
        Global options (``-q``, ``-v``, ``--version``) are accepted before or after the
        subcommand.
    """
    p = argparse.ArgumentParser(
        prog="caimg",
        description="Calcium-imaging stacks (Fura-2 340/380, Fluo-4) to per-cell traces and "
                    "response kinetics.")
    _add_global_options(p, after_command=False)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)

    r = sub.add_parser("run", help="process recordings into result folders",
                       description="Process every recording under PATH... into one result folder "
                                   "each, plus combined kinetics.csv, rois.csv and failures.csv "
                                   "in --out. Exit code 0 when every recording succeeded.")
    r.add_argument("paths", nargs="+", metavar="PATH",
                   help="a stack file or a folder (searched recursively for .tif/.tiff; "
                        "*_340/*_380 pairs are grouped)")
    r.add_argument("--out", "-o", required=True, metavar="DIR",
                   help="output folder for the result folders and batch tables")
    r.add_argument("--pipeline", "-p", default="auto", metavar="NAME|FILE",
                   help="recipe: fura2, fluo4, a .toml file, or auto (fura2 for two-channel "
                        "recordings, fluo4 for one channel; the default)")
    r.add_argument("--frame-interval", type=float, metavar="S", dest="frame_interval_s",
                   help="seconds between frames (between 340/380 pairs); overrides the file "
                        "metadata, with a warning when they disagree")
    r.add_argument("--timestamps", metavar="FILE.csv", dest="input.timestamps_file",
                   help="per-frame times: a CSV with a time_s column, one row per frame")
    r.add_argument("--stimulus-time", type=float, metavar="S", dest="stimulus_time_s",
                   help="stimulus time in seconds from the first frame: baseline before it, "
                        "time to peak counted from it")
    r.add_argument("--layout", choices=["auto", "hyperstack", "alternating", "pair", "single"],
                   help="how the channels are stored: ImageJ hyperstack (T,C,Y,X), alternating "
                        "340/380 frames in one file, a *_340/*_380 file pair, or one channel")
    r.add_argument("--pixel-size", type=float, metavar="UM", dest="pixel_size_um",
                   help="pixel size in micrometres, when the files do not say")
    r.add_argument("--rois", metavar="FILE", dest="rois_file",
                   help="use these ROIs instead of segmentation: ImageJ RoiSet.zip/.roi or a "
                        "label TIFF (the same ROIs for every recording)")
    r.add_argument("--calibration", metavar="FILE", dest="calibration_profile",
                   help="calibrate to [Ca2+] (ca_nM) with this profile TOML (rmin, rmax, kd_nM, "
                        "beta; e.g. written by `caimg calibrate`)")
    r.add_argument("--background-roi", metavar="FILE", dest="background_roi",
                   help="take the background from this region (ImageJ .roi/RoiSet.zip or a "
                        "mask TIFF) instead of the pixels away from every cell")
    r.add_argument("--treatment", action="append", metavar="NAME=S", dest="treatment",
                   help="a named treatment time in seconds, e.g. --treatment ATP=30 (repeatable); "
                        "each gets peak, AUC, max slope, latency and a responder call in "
                        "treatments.csv. A treatments.csv (recording, treatment, time_s) next to "
                        "the recordings is read too")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", dest="settings",
                   help="override any recipe value, e.g. --set kinetics.responder_k=3 "
                        "(repeatable; TOML value syntax)")
    r.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                   help="process N recordings in parallel on local processes")
    r.add_argument("--threads", type=int, metavar="N",
                   help="threads per recording (caimg, numba, BLAS); default: the cores this "
                        "process may use shared out between the --jobs workers, and on dask "
                        "the threads each worker was started with")
    r.add_argument("--scheduler", metavar="ADDRESS",
                   help="send one task per recording to this dask.distributed scheduler")
    r.add_argument("--force", action="store_true",
                   help="redo recordings whose result is complete and unchanged, and replace "
                        "results that hold review edits")
    r.add_argument("--on-conflict", choices=["stop", "rename", "replace"], default="stop",
                   dest="on_conflict",
                   help="when --out holds a result of the same name made from another input "
                        "(day1/cell.tif, now day2/cell.tif): stop that recording with a "
                        "failures.csv row (the default), write it as <folder>__<name>, or "
                        "replace the other result")

    i = sub.add_parser("info", help="print what a result folder holds and how it was made",
                       description="Print the provenance (run.json) of a result folder readably.")
    i.add_argument("folder", metavar="RESULT", help="a result folder written by caimg run")
    i.add_argument("--json", action="store_true", help="print run.json as it is")

    v = sub.add_parser("view", help="open a stack or a result folder in napari",
                       description="Open napari with the caimg plugin on a stack or a result "
                                   "folder (needs `pip install caimg[napari]`).")
    v.add_argument("path", metavar="PATH", nargs="?", help="stack file or result folder")

    c = sub.add_parser("calibrate", help="Rmin, Rmax and beta from an in-situ calibration "
                                         "recording (Fura-2)",
                       description="Run the Fura-2 pipeline on a calibration recording and "
                                   "compute Rmin (Ca2+-free segment, e.g. EGTA), Rmax (saturating "
                                   "segment, e.g. ionomycin + high Ca2+) and beta = "
                                   "F380(free)/F380(bound), as the median over accepted ROIs. "
                                   "Writes a calibration profile TOML for "
                                   "--calibration / signal.calibration.profile.")
    c.add_argument("path", metavar="PATH", help="the calibration recording (any Fura-2 layout)")
    c.add_argument("--free", nargs=2, type=float, required=True, metavar=("START", "END"),
                   help="time window in seconds of the Ca2+-free segment (gives Rmin)")
    c.add_argument("--saturated", nargs=2, type=float, required=True, metavar=("START", "END"),
                   help="time window in seconds of the saturating segment (gives Rmax)")
    c.add_argument("--kd", type=float, default=224.0, metavar="NM",
                   help="dissociation constant of the dye in nM (default 224, Fura-2)")
    c.add_argument("--out", "-o", default="calibration.toml", metavar="FILE",
                   help="where to write the profile (default calibration.toml)")
    c.add_argument("--pipeline", "-p", default="fura2", metavar="NAME|FILE",
                   help="recipe used to find ROIs and background (default fura2)")
    c.add_argument("--frame-interval", type=float, metavar="S", dest="frame_interval_s",
                   help="seconds between 340/380 pairs, when the file does not say")
    c.add_argument("--layout", choices=["auto", "hyperstack", "alternating", "pair"],
                   help="channel layout, as for caimg run")

    add_inspect_parser(sub)
    s = sub.add_parser("pipelines", help="list the shipped recipes, or print one",
                       description="List the recipes shipped with caimg, or print one "
                                   "(fully resolved, as TOML) to start your own from: "
                                   "caimg pipelines fura2 > my.toml; caimg run ... "
                                   "--pipeline my.toml")
    s.add_argument("name", nargs="?", metavar="NAME|FILE", help="recipe to print")
    s.add_argument("--json", action="store_true", help="print it as JSON instead of TOML")

    w = sub.add_parser("warmup", help="compile the numba kernels now (once after install)",
                       description="Compile and cache the numba kernels by running the pipeline "
                                   "on small synthetic recordings, so that the first caimg run "
                                   "does not wait for it (about 15 s of CPU, once per install; "
                                   "make install runs it).")
    w.set_defaults(handler=_cmd_warmup)
    from .export._cli import add_parser as add_export_parser
    add_export_parser(sub)
    from .experiment._cli import add_parser as add_summarize_parser
    add_summarize_parser(sub)
    return p


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else
                                         logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr,
                        force=True)
    logging.getLogger("caimg").setLevel(level if verbose or quiet else logging.INFO)


def _median(df, col):
    import numpy as np

    if col not in df or not len(df):
        return float("nan")
    return float(np.nanmedian(df[col].to_numpy(float))) if df[col].notna().any() else float("nan")


def _signal_name(folder) -> str:
    """'ratio' or 'dF/F0', from the recipe stored in the result's run.json."""
    try:
        prov = json.loads((Path(folder) / "run.json").read_text())
        return "ratio" if prov["config"]["indicator"] == "fura2" else "dF/F0"
    except (OSError, ValueError, KeyError, TypeError):
        return "?"


def _n_warnings(n: int) -> str:
    return f"{n} warning{'s' if n != 1 else ''}"


def _progress_printer(quiet, stream=None, verbose=0):
    """Progress of a batch: a live bar on a terminal, one log line per recording otherwise
    (files, CI, cluster logs). Each line says how many warnings the recording had;
    ``verbose`` prints them.
    """
    stream = stream or sys.stderr
    start = time.perf_counter()
    live = stream.isatty()
    counts = {"ok": 0, "skipped": 0, "failed": 0}

    def progress(outcome, done, total):
        counts[outcome.status] += 1
        if quiet:
            return
        elapsed = time.perf_counter() - start
        eta = elapsed / done * (total - done)
        state = (f"done {counts['ok'] + counts['skipped']}, failed {counts['failed']}, "
                 f"remaining {total - done}, ETA {eta:.0f} s")
        warns = tuple(getattr(outcome, "warnings", ()) or ())
        flag = f" [{_n_warnings(len(warns))}]" if warns else ""
        detail = "".join(f"    warning: {w}\n" for w in warns) if verbose else ""
        if live:
            width = 24
            filled = round(width * done / total)
            if outcome.status == "failed":
                stream.write(f"\r\033[K  FAILED {outcome.name}: {outcome.error_type}: "
                             f"{outcome.message}\n")
            if detail:
                stream.write(f"\r\033[K  {outcome.name}:{flag}\n{detail}")
            stream.write(f"\r\033[K[{'#' * filled}{'.' * (width - filled)}] {done}/{total}  "
                         f"{state}  ({outcome.name}{flag})")
            if done == total:
                stream.write("\n")
            stream.flush()
            return
        line = f"[{done}/{total}] {outcome.status:7s} {outcome.name}{flag}  ({state})"
        if outcome.status == "failed":
            line += f"\n    {outcome.error_type}: {outcome.message}"
        print(line + ("\n" + detail.rstrip("\n") if detail else ""), file=stream, flush=True)

    return progress


def _print_warning_summary(summary, *, verbose: int, stream=None) -> None:
    """The recordings that had warnings, after the batch (to stderr)."""
    stream = stream or sys.stderr
    with_warnings = [o for o in summary.outcomes if o.warnings]
    if not with_warnings:
        return
    n = sum(len(o.warnings) for o in with_warnings)
    hint = "" if verbose else "; -v prints them"
    print(f"caimg: {_n_warnings(n)} in {len(with_warnings)} recording(s) (all in "
          f"{Path(summary.out) / 'warnings.csv'}{hint}):", file=stream)
    for o in with_warnings:
        kinds = sorted({str(w).partition(":")[0] for w in o.warnings})
        print(f"  {o.name}: {_n_warnings(len(o.warnings))} ({', '.join(kinds)})", file=stream)
    stream.flush()


def _cmd_warmup(args) -> int:
    from ._warmup import kernel_cache_is_cold, warm_up

    cold = kernel_cache_is_cold()
    if not args.quiet:
        print("caimg: compiling the numba kernels (once after install)..." if cold else
              "caimg: checking the numba kernel cache...", file=sys.stderr, flush=True)
    seconds = warm_up()
    if not args.quiet:
        print(f"caimg: kernels {'compiled and cached' if cold else 'ready'} in {seconds:.1f} s",
              file=sys.stderr)
    return 0


def _cmd_run(args) -> int:
    from ._warmup import kernel_cache_is_cold
    from .batch import run_batch

    overrides = _parse_set(args.settings)
    if args.background_roi:
        overrides["background.method"] = "roi"
        overrides["background.roi_file"] = args.background_roi
    if args.treatment:
        from .errors import ConfigError

        treatments = {}
        for item in args.treatment:
            name, _, value = item.partition("=")
            try:
                treatments[name.strip()] = float(value)
            except ValueError:
                raise ConfigError(f"--treatment {item!r}: expected NAME=SECONDS, e.g. "
                                  "--treatment ATP=30") from None
        overrides["treatments"] = treatments
    for key in ("frame_interval_s", "stimulus_time_s", "layout", "pixel_size_um", "rois_file",
                "calibration_profile", "input.timestamps_file"):
        value = getattr(args, key)
        if value is not None:
            overrides[key] = value
    if args.jobs < 1:
        from .errors import ConfigError

        raise ConfigError(f"--jobs {args.jobs}: expected 1 or more")
    if args.threads is not None and args.threads < 1:
        from .errors import ConfigError

        raise ConfigError(f"--threads {args.threads}: expected 1 or more (threads per "
                          "recording), or leave it out to share the cores between --jobs")
    if not args.quiet and kernel_cache_is_cold():
        print("caimg: compiling the numba kernels for this machine (once after install, "
              "~15 s of CPU; `caimg warmup` does it ahead)", file=sys.stderr, flush=True)
    # each recording's warnings come back with its outcome (and are in its run.json): the
    # progress lines count them, -v prints them, warnings.csv lists them
    summary = run_batch(args.paths, args.out, args.pipeline, overrides=overrides,
                        jobs=args.jobs, force=args.force, scheduler=args.scheduler,
                        threads=args.threads, on_conflict=args.on_conflict,
                        progress=_progress_printer(args.quiet, verbose=args.verbose))
    n = len(summary.outcomes)
    ok = sum(o.status == "ok" for o in summary.outcomes)
    skipped = sum(o.status == "skipped" for o in summary.outcomes)
    if not args.quiet:  # -q keeps only the errors: the FAILED lines below
        _print_result_table(summary, n=n, ok=ok, skipped=skipped)
    for o in summary.outcomes:
        if o.status == "failed":
            print(f"  FAILED {o.name}: {o.error_type}: {o.message}")
    if summary.n_failed:
        print(f"  see {Path(summary.out) / 'failures.csv'}")
    sys.stdout.flush()
    if not args.quiet:
        _print_warning_summary(summary, verbose=args.verbose)
    return 0 if summary.ok and n > 0 else 1


def _print_result_table(summary, *, n: int, ok: int, skipped: int) -> None:
    """The batch's one-line count and a line of median kinetics per recording (stdout)."""
    kin = summary.kinetics
    print(f"caimg: {n} recording(s): {ok} processed, {skipped} unchanged (skipped), "
          f"{summary.n_failed} failed -> {summary.out}")
    if n - summary.n_failed:
        print(f"  {'recording':24s} {'signal':6s} {'ROIs':>5s} {'resp.':>5s} {'amplitude':>9s} "
              f"{'t peak s':>8s} {'rise s':>7s} {'tau s':>6s}   (medians of responders)")
    for o in summary.outcomes:
        if o.status == "failed":
            continue
        k = kin[kin["recording"] == o.name] if len(kin) else kin
        resp = k[k["responder"].astype(bool)] if len(k) else k
        signal = _signal_name(o.folder)
        print(f"  {o.name[:24]:24s} {signal:6s} {k['roi'].nunique() if len(k) else 0:5d} "
              f"{resp['roi'].nunique() if len(resp) else 0:5d} {_median(resp, 'amplitude'):9.3g} "
              f"{_median(resp, 'time_to_peak_s'):8.3g} {_median(resp, 'rise_time_s'):7.3g} "
              f"{_median(resp, 'decay_tau_s'):6.3g}")


def _cmd_info(args) -> int:
    from datetime import datetime

    from .errors import ResultError

    folder = Path(args.folder)
    run_json = folder / "run.json"
    if not run_json.is_file():
        raise ResultError(f"{folder}: no run.json; expected a result folder written by caimg run")
    prov = json.loads(run_json.read_text())
    if args.json:
        print(json.dumps(prov, indent=2))
        return 0
    cfg = prov.get("config", {})
    print(f"result     {folder}")
    print(f"recording  {prov.get('recording')}  ({prov.get('layout')}, channels "
          f"{', '.join(prov.get('channels', []))}, shape {prov.get('shape')}, "
          f"{prov.get('dtype')})")
    for inp in prov.get("inputs", []):
        mtime = inp.get("mtime")
        when = (datetime.fromtimestamp(mtime, UTC).isoformat(timespec="seconds")
                if isinstance(mtime, (int, float)) else "?")
        print(f"input      {inp.get('path')}  {inp.get('size', '?')} bytes  modified {when}  "
              f"sha256 {str(inp.get('sha256', '?'))[:16]}...")
    print(f"pipeline   {cfg.get('name')} ({cfg.get('indicator')})   "
          f"caimg {prov.get('caimg_version')}"
          f"   result format {prov.get('format_version')}")
    print(f"frames     every {prov.get('frame_interval_s')} s "
          f"(from {prov.get('frame_interval_source')})"
          f"   pixel {prov.get('pixel_size_um')} um   stimulus {prov.get('stimulus_time_s')} s")
    m = prov.get("motion", {})
    print(f"motion     {'on' if m.get('enabled') else 'off'} ({m.get('channel')}), max shift "
          f"{m.get('max_abs_shift_px', 0):.2f} px, "
          f"median {m.get('median_abs_shift_px', 0):.2f} px")
    r = prov.get("rois", {})
    print(f"ROIs       {r.get('n_rois')} ({r.get('source')}, method {r.get('method')}), "
          f"{r.get('n_accepted')} accepted, {prov.get('n_responders')} responders")
    print(f"background {prov.get('background')}")
    t = prov.get("timings_s", {})
    print("timings    " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()))
    v = prov.get("versions", {})
    print("versions   " + ", ".join(f"{k} {val}" for k, val in v.items()))
    for e in prov.get("edits", []):
        print(f"edit       {e}")
    warns = prov.get("warnings", [])
    print(f"warnings   {len(warns)}")
    for w in warns:
        print(f"  - {w}")
    return 0


def _cmd_view(args) -> int:
    try:
        import napari
    except ImportError:
        print("caimg view needs napari: pip install 'caimg[napari]' (and a Qt binding, e.g. "
              "pip install pyqt6)", file=sys.stderr)
        return 2
    viewer = napari.Viewer()
    viewer.window.add_plugin_dock_widget("caimg", "Review ROIs")
    if args.path:
        viewer.open(args.path, plugin="caimg")
    napari.run()
    return 0


def _cmd_calibrate(args) -> int:
    import warnings

    import numpy as np

    from .errors import ConfigError
    from .pipeline import run
    from .signals import insitu_calibration

    overrides = {k: v for k, v in (("frame_interval_s", args.frame_interval_s),
                                   ("layout", args.layout)) if v is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run(args.path, args.pipeline, **overrides)
    if not args.quiet:
        for w in res.provenance.get("warnings", []):
            print(f"caimg: warning: {w}", file=sys.stderr)
    if res.indicator != "fura2":
        raise ConfigError(f"{args.path}: calibration needs a Fura-2 recording (340/380), the "
                          f"'{res.config.name}' recipe is {res.indicator}")
    accepted = res.rois.loc[res.rois["accepted"].astype(bool), "roi"].to_numpy()
    time_s, roi_ids, f340 = res.trace_matrix("f340")
    _, _, f380 = res.trace_matrix("f380")
    keep = np.isin(roi_ids, accepted)
    if not keep.any():
        raise ConfigError(f"{args.path}: no accepted ROI to calibrate on")
    prof = insitu_calibration(f340[:, keep], f380[:, keep], time_s,
                              rmin_window_s=tuple(args.free),
                              rmax_window_s=tuple(args.saturated), kd_nM=args.kd)
    header = (f"# caimg calibrate {args.path}: median over {int(keep.sum())} accepted ROIs\n"
              f"# Ca2+-free window {args.free[0]}-{args.free[1]} s, saturating window "
              f"{args.saturated[0]}-{args.saturated[1]} s\n")
    profile = {"enabled": True, **{k: float(prof[k]) for k in ("rmin", "rmax", "beta", "kd_nM")}}
    Path(args.out).write_text(header + _to_toml(profile))
    per = prof["per_roi"]
    print(f"Rmin {prof['rmin']:.4g}  Rmax {prof['rmax']:.4g}  beta {prof['beta']:.4g}  "
          f"(Keff {prof['keff_nM']:.4g} nM; ROI spread: Rmin IQR "
          f"{np.nanpercentile(per['rmin'], 25):.3g}-{np.nanpercentile(per['rmin'], 75):.3g}, "
          f"Rmax IQR {np.nanpercentile(per['rmax'], 25):.3g}-"
          f"{np.nanpercentile(per['rmax'], 75):.3g})")
    print(f"profile written to {args.out}; use it with: caimg run ... --calibration {args.out}")
    return 0


def _cmd_pipelines(args) -> int:
    from .config import available_pipelines, config_to_dict, load_pipeline

    if not args.name:
        for name in available_pipelines():
            cfg = load_pipeline(name)
            print(f"{name:10s} {cfg.indicator}")
        return 0
    cfg = load_pipeline(args.name)
    if args.json:
        print(json.dumps(config_to_dict(cfg), indent=2))
        return 0

    print(f"# caimg pipelines {args.name}: the recipe, fully resolved (every key is "
          "documented in\n# caimg/config.py). Save it (caimg pipelines NAME > my.toml), edit "
          "it, and run it\n# with: caimg run ... --pipeline my.toml\n"
          + _to_toml(config_to_dict(cfg)), end="")
    return 0


def main(argv=None) -> int:
    """Entry point; returns the exit code (0 success, 1 a recording failed, 2 bad usage).

    Parameters
    ----------
    argv : list of str, optional
        The command-line arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    int
        The exit code: 0 success, 1 a recording failed, 2 bad usage.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and usage errors
        return int(exc.code or 0)
    if args.version:
        from ._version import __version__

        print(f"caimg {__version__}")
        return 0
    if not args.command:
        parser.print_help()
        return 2
    _setup_logging(args.verbose, args.quiet)
    # a stray Python warning (outside a recording, whose warnings are collected) goes
    # through logging: shown like the others, silenced by -q
    logging.captureWarnings(True)
    from .errors import CaimgError

    commands = {"run": _cmd_run, "info": _cmd_info, "view": _cmd_view, "pipelines": _cmd_pipelines,
                "calibrate": _cmd_calibrate}
    # a subcommand registers its handler here, or with set_defaults(handler=...)
    handler = (getattr(args, "handler", None) or getattr(args, "func", None)
               or commands[args.command])
    try:
        return handler(args)
    except CaimgError as exc:
        print(f"caimg: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM during a batch (exit 143)
        print("caimg: interrupted", file=sys.stderr)
        return getattr(exc, "exit_code", 130)
    finally:
        logging.captureWarnings(False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

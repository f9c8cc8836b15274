"""``caimg inspect FILE...``: what caimg would read from each input, before any analysis."""

from __future__ import annotations

import argparse
import json
import tomllib

__all__ = ["add_parser", "cmd_inspect", "parse_settings"]


def parse_settings(values) -> dict:
    """``["input.z_plane=0"]`` -> ``{"input.z_plane": 0}`` (TOML values; bare words are
    strings).
    """
    from .errors import ConfigError

    out = {}
    for item in values or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set input.z_plane=0")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = raw
    return out


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``inspect`` command to the CLI's subparsers; returns its parser."""
    p = subparsers.add_parser(
        "inspect", help="show what caimg would read from files or folders (no analysis)",
        description="For each recording under PATH...: format, axes and shape, positions, "
                    "channels with names and wavelengths, which caimg would use as what, "
                    "the time axis (interval or per-frame times, and where they come from), "
                    "pixel size, the mask file beside it that a batch would use instead of "
                    "segmentation, and anything caimg would refuse and why.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    p.add_argument("--json", action="store_true", help="print JSON (one object per recording)")
    p.add_argument("--pipeline", "-p", default="fluo4", metavar="NAME|FILE",
                   help="recipe whose [input] settings apply (default fluo4)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", dest="settings",
                   help="override a recipe value, e.g. --set input.z_plane=0 or "
                        "--set 'input.channels={f = \"GFP\"}'")
    p.add_argument("--frame-interval", type=float, metavar="S", dest="frame_interval_s")
    p.add_argument("--timestamps", metavar="FILE.csv", dest="input.timestamps_file")
    p.set_defaults(func=cmd_inspect)
    return p


def cmd_inspect(args) -> int:
    """Run ``caimg inspect``; exit code 0 when every input would be read, 1 otherwise."""
    from .config import load_pipeline
    from .io.inspection import format_report, inspect_inputs
    from .io.read import read_options

    overrides = parse_settings(args.settings)
    for key in ("frame_interval_s", "input.timestamps_file"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    cfg = load_pipeline(args.pipeline, overrides=overrides)
    inp, sc = cfg.input, cfg.segment
    entries = inspect_inputs(args.paths, sequence_pattern=inp.sequence_pattern,
                             masks_beside=sc.masks_beside and not sc.rois_file,
                             **read_options(inp))
    if args.json:
        print(json.dumps(entries, indent=2, default=str, ensure_ascii=False))
    else:
        print(format_report(entries))
    return 0 if entries and not any(e.get("refused") for e in entries) else 1

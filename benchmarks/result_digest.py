"""Digest of the result folders caimg makes, to show a refactor changed no output.

Runs ``caimg run`` (through :func:`caimg.batch.run_batch`) on ``example_stacks/`` and on
a fixed set of synthetic recordings written as TIFF files (Fura-2 hyperstack,
alternating pages and file pair; Fluo-4 single and OME; easy, moderate and hard
presets), then prints one line per output file: its path relative to the output folder
and the SHA-256 of its bytes. ``run.json`` is hashed after dropping the fields that
change from run to run by design (``created``, ``timings_s``, and the input ``mtime``
and ``sha256``: an OME-TIFF written by tifffile carries a fresh UUID each time).

Usage::

    python benchmarks/result_digest.py OUT_DIR > digest.txt

Run it on two commits with the same ``OUT_DIR`` (input paths are part of ``run.json``)
and ``diff`` the two digests: no line may differ.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: (indicator, preset, seed, layout, ome) of the synthetic recordings
SYNTHETIC = (
    ("fura2", "easy", 3, "hyperstack", False),
    ("fura2", "moderate", 1, "alternating", False),
    ("fura2", "moderate", 2, "pair", False),
    ("fluo4", "easy", 4, "single", False),
    ("fluo4", "moderate", 0, "single", True),
    ("fluo4", "hard", 1, "single", False),
)

_VOLATILE = ("created", "timings_s")


def _without_repo(text: str) -> str:
    # the example stacks are read from the checkout the script runs in; a clone elsewhere
    # must give the same digest
    return text.replace(str(REPO), "<repo>")


def _run_json_digest(path: Path) -> str:
    data = json.loads(_without_repo(path.read_text()))
    for key in _VOLATILE:
        data.pop(key, None)
    for item in data.get("inputs", []):
        item.pop("mtime", None)
        item.pop("sha256", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def digest(folder: Path) -> list[str]:
    """One ``path sha256`` line per file under ``folder``, sorted."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name == "run.json":
            h = _run_json_digest(path)
        elif path.suffix == ".csv":
            h = hashlib.sha256(_without_repo(path.read_text()).encode()).hexdigest()
        else:
            h = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{path.relative_to(folder)} {h}")
    return lines


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    from caimg.batch import run_batch
    from caimg.io.stack import write_recording
    from caimg.synthetic import make_recording

    out = Path(argv[0]).resolve()
    shutil.rmtree(out, ignore_errors=True)
    inputs = out / "inputs"
    inputs.mkdir(parents=True)
    for indicator, preset, seed, layout, ome in SYNTHETIC:
        syn = make_recording(indicator, preset=preset, rng=seed)
        name = f"{indicator}_{preset}_{seed}_{layout}{'_ome' if ome else ''}"
        write_recording(syn.recording, inputs / f"{name}.tif", layout=layout, ome=ome)

    run_batch([REPO / "example_stacks"], out / "examples", "auto",
              overrides={"kinetics.stimulus_time_s": 20.0}, jobs=1)
    run_batch([inputs], out / "synthetic", "auto", jobs=1)
    for sub in ("examples", "synthetic"):
        for line in digest(out / sub):
            print(f"{sub}/{line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

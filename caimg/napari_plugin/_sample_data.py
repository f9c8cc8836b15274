"""Sample data for napari's File > Open Sample menu.

The example stacks of the repository (``example_stacks/``) when they are there (a source
checkout); otherwise a small synthetic recording rendered locally by
:mod:`caimg.synthetic`, so the menu works offline and from a wheel.
"""

from __future__ import annotations

from pathlib import Path

from ._reader import read_stack_layers, recording_layers

__all__ = ["fura2_sample", "fluo4_sample", "example_stack"]

_EXAMPLES = Path(__file__).resolve().parents[2] / "example_stacks"


def example_stack(name: str) -> Path | None:
    """Path of ``example_stacks/<name>`` in a source checkout, or None."""
    p = _EXAMPLES / name
    return p if p.is_file() else None


def _synthetic(indicator: str):
    from ..synthetic import make_recording

    syn = make_recording(indicator, preset="moderate", rng=1)
    return recording_layers(syn.recording, stimulus_time_s=syn.stimulus_time_s)


def fura2_sample():
    """Fura-2 340/380 hyperstack: the repository example, else a synthetic one."""
    p = example_stack("fura2_hyperstack.tif")
    return read_stack_layers(p) if p else _synthetic("fura2")


def fluo4_sample():
    """Fluo-4 single-channel stack: the repository example, else a synthetic one."""
    p = example_stack("fluo4_cells.tif")
    return read_stack_layers(p) if p else _synthetic("fluo4")

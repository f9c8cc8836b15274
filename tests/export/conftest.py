"""Small batches (synthetic recordings run through caimg.run_batch) shared by the export
tests: a calibrated Fura-2 batch (a hyperstack and a *_340/*_380 pair, with a stimulus and
two treatments) and a Fluo-4 batch."""

import shutil

import pytest

import caimg
from caimg.io.stack import write_recording
from caimg.synthetic import make_recording

STIM_S = 12.0
TREATMENTS = {"ATP": 12.0, "ionomycin": 24.0}
CALIBRATION = {"signal.calibration.enabled": True, "signal.calibration.rmin": 0.3,
               "signal.calibration.rmax": 6.0, "signal.calibration.beta": 6.0,
               "signal.calibration.kd_nM": 224.0}


def _syn(indicator, seed):
    return make_recording(indicator, preset="easy", shape=(64, 72), n_frames=64, n_cells=5,
                          stimulus_time_s=STIM_S, rng=seed)


@pytest.fixture(scope="session")
def batches(tmp_path_factory):
    """{"fura2": out folder, "fluo4": out folder} of two finished batches (never edit them:
    copy with the ``fresh`` fixture)."""
    root = tmp_path_factory.mktemp("export_batches")
    fura, fluo = root / "data_fura", root / "data_fluo"
    fura.mkdir()
    fluo.mkdir()
    write_recording(_syn("fura2", 31).recording, fura / "hyper.tif", layout="hyperstack")
    write_recording(_syn("fura2", 32).recording, fura / "cells.tif", layout="pair")
    write_recording(_syn("fluo4", 33).recording, fluo / "fluo.tif", layout="single")
    outs = {}
    for name, data, pipeline, extra in (("fura2", fura, "fura2", CALIBRATION),
                                        ("fluo4", fluo, "fluo4", {})):
        out = root / f"out_{name}"
        summary = caimg.run_batch(data, out, pipeline,
                                  overrides={"stimulus_time_s": STIM_S,
                                             "treatments": TREATMENTS, **extra})
        assert summary.ok, summary.failures
        outs[name] = out
    return outs


@pytest.fixture
def fresh(batches, tmp_path):
    """A private copy of a batch output folder: ``fresh("fura2")``."""

    def copy(name):
        dst = tmp_path / f"out_{name}"
        shutil.copytree(batches[name], dst)
        return dst

    return copy

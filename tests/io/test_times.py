"""Time as the file records it: OME DeltaT, --timestamps tables, dropped frames."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from caimg.cli import main
from caimg.errors import StackReadError
from caimg.io import read_recording, write_recording
from caimg.recording import Recording

DROPPED = np.array([0.0, 10.0, 20.0, 40.0, 50.0, 60.0])


def _ome_deltat(path, times, shape=(8, 8)):
    data = np.random.default_rng(0).integers(100, 200, (len(times), *shape)).astype(np.uint16)
    plane = {"DeltaT": [float(t) for t in times], "DeltaTUnit": ["s"] * len(times)}
    tifffile.imwrite(path, data, ome=True, photometric="minisblack",
                     metadata={"axes": "TYX", "Plane": plane})
    return data


def test_ome_deltat_without_time_increment_gives_per_frame_times(tmp_path):
    p = tmp_path / "dropped.ome.tif"
    _ome_deltat(p, DROPPED)
    rec = read_recording(p)
    np.testing.assert_array_equal(rec.time_s(), DROPPED)
    assert rec.frame_interval_s == 10.0  # the median step
    assert rec.frame_interval_source == "ome DeltaT"
    assert rec.time_source == "per-frame (ome DeltaT)"


def test_given_interval_wins_over_deltat(tmp_path):
    p = tmp_path / "dropped.ome.tif"
    _ome_deltat(p, DROPPED)
    rec = read_recording(p, frame_interval_s=2.0)
    assert rec.timestamps_s is None
    np.testing.assert_allclose(rec.time_s(), np.arange(6) * 2.0)


def test_timestamps_file_gives_times_unchanged(tmp_path):
    p = tmp_path / "plain.tif"
    write_recording({"f": np.ones((6, 4, 4), np.uint16)}, p, layout="single")
    csv = tmp_path / "times.csv"
    pd.DataFrame({"time_s": DROPPED + 0.25}).to_csv(csv, index=False)
    rec = read_recording(p, timestamps_file=csv)
    np.testing.assert_array_equal(rec.time_s(), DROPPED + 0.25)
    assert rec.frame_interval_source == "timestamps file times.csv"


@pytest.mark.parametrize("rows, match", [
    (DROPPED[:4], r"times\.csv \(timestamps file\): 4 times found but the recording has 6 "
                  r"frames; expected one time per frame \(6 rows\)"),
    (DROPPED[::-1], r"times\.csv.*not strictly increasing.*frame 0 at 60 s"),
])
def test_bad_timestamps_file_names_file_rows_and_frames(tmp_path, rows, match):
    p = tmp_path / "plain.tif"
    write_recording({"f": np.ones((6, 4, 4), np.uint16)}, p, layout="single")
    csv = tmp_path / "times.csv"
    pd.DataFrame({"time_s": rows}).to_csv(csv, index=False)
    with pytest.raises(StackReadError, match=match):
        read_recording(p, timestamps_file=csv)


def test_timestamps_file_without_time_s_column(tmp_path):
    p = tmp_path / "plain.tif"
    write_recording({"f": np.ones((6, 4, 4), np.uint16)}, p, layout="single")
    csv = tmp_path / "times.csv"
    pd.DataFrame({"t": DROPPED}).to_csv(csv, index=False)
    with pytest.raises(StackReadError, match=r"times\.csv: timestamps file has columns \['t'\]; "
                                             r"expected a time_s column"):
        read_recording(p, timestamps_file=csv)


def test_recording_rejects_timestamps_of_wrong_length():
    with pytest.raises(ValueError, match="one time per frame"):
        Recording({"f": np.zeros((3, 2, 2))}, timestamps_s=np.arange(4.0))


# -- through the pipeline ----------------------------------------------------------------

def _synthetic(n_frames=120, dt=1.0):
    from caimg.synthetic import make_recording

    return make_recording("fluo4", preset="easy", rng=3, n_frames=n_frames,
                          frame_interval_s=dt, stimulus_time_s=30.0, drift_px=0.0)


def _drop(rec: Recording, keep: np.ndarray) -> Recording:
    chans = {k: np.asarray(v)[keep] for k, v in rec.channels.items()}
    return Recording(chans, frame_interval_s=rec.frame_interval_s,
                     frame_interval_source="test", name=rec.name + "_dropped",
                     timestamps_s=rec.time_s()[keep])


@pytest.fixture(scope="module")
def dropped_pair(tmp_path_factory):
    """A synthetic Fluo-4 recording, and the same with frames 10, 40, 41, 75, 100 dropped."""
    syn = _synthetic()
    rec = syn.recording
    keep = np.setdiff1d(np.arange(rec.n_frames), [10, 40, 41, 75, 100])
    d = tmp_path_factory.mktemp("dropped")
    labels = d / "labels.tif"
    tifffile.imwrite(labels, syn.labels.astype(np.uint16))
    return rec, _drop(rec, keep), labels, keep


def test_kinetics_with_dropped_frames_match_uniform(dropped_pair, tmp_path):
    """Kinetics of the same analytic transients sampled with and without dropped frames
    agree: amplitude within 5 %, time to peak within one frame interval (1 s), decay time
    constant within 10 %."""
    from caimg.pipeline import run

    full, dropped, labels, _ = dropped_pair
    opts = dict(stimulus_time_s=30.0, rois_file=str(labels))
    a = run(full, "fluo4", **opts).kinetics.set_index("roi")
    b = run(dropped, "fluo4", **opts).kinetics.set_index("roi")
    resp = a.index[a["responder"].astype(bool)]
    assert len(resp) >= 3
    np.testing.assert_allclose(b.loc[resp, "amplitude"], a.loc[resp, "amplitude"], rtol=0.05)
    np.testing.assert_allclose(b.loc[resp, "time_to_peak_s"], a.loc[resp, "time_to_peak_s"],
                               atol=1.0)
    ok = a.loc[resp, "decay_tau_s"].notna()
    np.testing.assert_allclose(b.loc[resp[ok], "decay_tau_s"], a.loc[resp[ok], "decay_tau_s"],
                               rtol=0.10)


def test_dropped_frames_reach_traces_csv_from_deltat_and_timestamps(dropped_pair, tmp_path):
    """The same dropped-frame recording as an OME-TIFF with DeltaT and as a plain TIFF with
    --timestamps: traces.csv holds the recorded times unchanged; run.json says where."""
    _, dropped, labels, _ = dropped_pair
    times = dropped.time_s()
    f = np.asarray(dropped.channels["f"])
    ome = tmp_path / "in_ome" / "cells.ome.tif"
    ome.parent.mkdir()
    plane = {"DeltaT": times.tolist(), "DeltaTUnit": ["s"] * len(times)}
    tifffile.imwrite(ome, f, ome=True, photometric="minisblack",
                     metadata={"axes": "TYX", "Plane": plane})
    plain = tmp_path / "in_plain" / "cells.tif"
    write_recording({"f": f}, plain, layout="single")
    csv = tmp_path / "times.csv"
    pd.DataFrame({"time_s": times}).to_csv(csv, index=False)
    common = ["--pipeline", "fluo4", "--stimulus-time", "30", "--set",
              f"segment.rois_file='{labels}'"]
    assert main(["run", str(ome), "--out", str(tmp_path / "r_ome"), *common]) == 0
    assert main(["run", str(plain), "--out", str(tmp_path / "r_csv"), "--timestamps",
                 str(csv), *common]) == 0
    for out, source in (("r_ome", "per-frame (ome DeltaT)"),
                        ("r_csv", "per-frame (timestamps file times.csv)")):
        folder = tmp_path / out / "cells"
        traces = pd.read_csv(folder / "traces.csv")
        got = np.sort(traces["time_s"].unique())
        np.testing.assert_array_equal(got, times)
        prov = json.loads((folder / "run.json").read_text())
        prov = prov.get("provenance", prov)
        assert prov["time_source"] == source


def test_stk_plane_creation_times():
    from caimg.io._times import stk_plane_times

    created = np.datetime64("2024-05-01T10:00:00", "ns") + \
        (DROPPED * 1e9).astype("timedelta64[ns]")
    np.testing.assert_allclose(stk_plane_times({"DatetimeCreated": created}, 6), DROPPED)
    # no time stamps (all planes created at once), a count mismatch, or none at all: None
    assert stk_plane_times({"DatetimeCreated": np.repeat(created[:1], 6)}, 6) is None
    assert stk_plane_times({"DatetimeCreated": created}, 5) is None
    assert stk_plane_times(None, 6) is None

"""Channels by name, wavelength or index; RGB camera TIFFs; Z never time (TIFF files)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from caimg.errors import ConfigError, StackReadError
from caimg.io import read_recording
from caimg.io.channels import ChannelInfo, choose_channels


def _ome(path, data, names, excitation=None, axes="TCYX"):
    channel = {"Name": names}
    if excitation is not None:
        channel["ExcitationWavelength"] = excitation
    tifffile.imwrite(path, data, ome=True, photometric="minisblack",
                     metadata={"axes": axes, "TimeIncrement": 2.0, "Channel": channel})


@pytest.fixture
def tcyx():
    return np.random.default_rng(1).integers(0, 4000, (6, 2, 8, 8)).astype(np.uint16)


@pytest.mark.parametrize("ex, expected", [
    ((380.0, 340.0), {"f340": 1, "f380": 0}),
    ((345.0, 387.0), {"f340": 0, "f380": 1}),   # within 10 nm
    ((360.0, 380.0), None),                      # 360 is neither
])
def test_fura2_recognised_by_excitation_within_tolerance(ex, expected):
    chans = [ChannelInfo(i, f"ch{i}", excitation_nm=w) for i, w in enumerate(ex)]
    if expected is None:
        with pytest.raises(StackReadError, match="found 2 channels"):
            choose_channels(chans, None, where="x.nd2")
    else:
        assert choose_channels(chans, None, where="x.nd2") == expected


def test_fura2_recognised_by_name(tcyx, tmp_path):
    p = tmp_path / "fura.ome.tif"
    _ome(p, tcyx, ["380nm", "340nm"])
    rec = read_recording(p)
    assert rec.channel_names == ("f340", "f380")
    np.testing.assert_array_equal(np.asarray(rec.channels["f340"]), tcyx[:, 1])
    np.testing.assert_array_equal(np.asarray(rec.channels["f380"]), tcyx[:, 0])


def test_gfp_and_brightfield_need_a_chosen_channel(tcyx, tmp_path):
    p = tmp_path / "gfp.ome.tif"
    _ome(p, tcyx, ["GFP", "BF"], [488.0, None])
    with pytest.raises(StackReadError) as exc:
        read_recording(p)
    msg = str(exc.value)
    assert "gfp.ome.tif: found 2 channels (0 'GFP' (ex 488 nm), 1 'BF')" in msg
    assert "input.channels={f = \"GFP\"}" in msg
    for choice in ("GFP", "gfp", 0, "488nm"):
        rec = read_recording(p, channels={"f": choice})
        assert rec.channel_names == ("f",)
        np.testing.assert_array_equal(np.asarray(rec.channels["f"]), tcyx[:, 0])


def test_unknown_channel_name_lists_the_channels(tcyx, tmp_path):
    p = tmp_path / "gfp.ome.tif"
    _ome(p, tcyx, ["GFP", "BF"], [488.0, None])
    with pytest.raises(StackReadError) as exc:
        read_recording(p, channels={"f": "mCherry"})
    msg = str(exc.value)
    assert "gfp.ome.tif: input.channels.f = 'mCherry' matches none" in msg
    assert "0 'GFP' (ex 488 nm), 1 'BF'" in msg and "expected one of their names" in msg
    with pytest.raises(StackReadError, match=r"input.channels.f = 5 but the file has 2 "
                                             r"channels .*expected an index from 0 to 1"):
        read_recording(p, channels={"f": 5})
    with pytest.raises(ConfigError, match=r"input.channels has keys \['g'\]; expected f"):
        read_recording(p, channels={"g": 0})


def test_rgb_camera_tiff_reads_the_chosen_colour(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (5, 8, 9, 3)).astype(np.uint8)
    p = tmp_path / "evos.tif"
    tifffile.imwrite(p, rgb, photometric="rgb")
    with pytest.raises(StackReadError) as exc:
        read_recording(p, frame_interval_s=1)
    msg = str(exc.value)
    assert "evos.tif (RGB colour samples): found 3 channels (0 'red', 1 'green', 2 'blue')" \
        in msg
    assert "input.channels={f = \"green\"}" in msg
    rec = read_recording(p, frame_interval_s=1, channels={"f": "green"})
    assert rec.shape == (5, 8, 9)
    np.testing.assert_array_equal(np.asarray(rec.channels["f"]), rgb[..., 1])
    np.testing.assert_array_equal(rec.channels["f"][[4, 0]], rgb[[4, 0], ..., 1])


def test_two_unnamed_channels_stay_a_fura2_hyperstack(tcyx, tmp_path):
    p = tmp_path / "hs.tif"
    tifffile.imwrite(p, tcyx, imagej=True, metadata={"axes": "TCYX", "finterval": 1})
    rec = read_recording(p)
    assert rec.channel_names == ("f340", "f380") and rec.layout == "hyperstack"
    rec = read_recording(p, channels={"f": 1})
    np.testing.assert_array_equal(np.asarray(rec.channels["f"]), tcyx[:, 1])


def test_z_stack_time_series_needs_a_plane(tmp_path):
    z = np.random.default_rng(2).integers(0, 4000, (4, 3, 2, 8, 8)).astype(np.uint16)
    p = tmp_path / "tz.tif"
    tifffile.imwrite(p, z, imagej=True, metadata={"axes": "TZCYX", "finterval": 1})
    with pytest.raises(StackReadError) as exc:
        read_recording(p)
    msg = str(exc.value)
    assert "tz.tif: a Z-stack time series (axes TZCYX with shape (4, 3, 2, 8, 8): 3 Z planes " \
           "per time point); Z is never read as time" in msg
    assert "input.z_plane = INDEX (0 to 2)" in msg
    rec = read_recording(p, z_plane=1)
    np.testing.assert_array_equal(np.asarray(rec.channels["f380"]), z[:, 1, 1])
    rec = read_recording(p, z_plane="max", channels={"f": 0})
    np.testing.assert_array_equal(np.asarray(rec.channels["f"]), z[:, :, 0].max(axis=1))
    with pytest.raises(StackReadError, match=r"input.z_plane = 7 but the file has 3 Z planes"):
        read_recording(p, z_plane=7)

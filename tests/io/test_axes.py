"""Axes and page sizes are never guessed (issue 16): a Z axis is never time nor channels;
pages the first series leaves out (pages changing size half-way, OME SizeT counting fewer
planes than there are pages) are an error naming what disagrees, never a silent crop."""

import numpy as np
import pytest
import tifffile

from caimg.errors import StackReadError
from caimg.io import read_recording


def _frames(t=60, rows=64, cols=64):
    return (np.arange(t * rows * cols) % 997).astype(np.uint16).reshape(t, rows, cols)


def test_two_channel_z_stack_is_not_read_as_fura2(tmp_path):
    # ZCYX used to be read as a Fura-2 (T, C, Y, X) hyperstack
    p = tmp_path / "zstack.tif"
    tifffile.imwrite(p, _frames(20).reshape(10, 2, 64, 64), imagej=True,
                     metadata={"axes": "ZCYX"})
    with pytest.raises(StackReadError, match=r"axes ZCYX .* Z axis of 10 planes") as exc:
        read_recording(p, frame_interval_s=1.0)
    assert "input.z_plane" in str(exc.value) and "save the axis as T" in str(exc.value)
    for layout in ("hyperstack", "alternating"):
        with pytest.raises(StackReadError, match="Z axis"):
            read_recording(p, frame_interval_s=1.0, layout=layout)


def test_one_channel_z_stack_is_not_read_as_time(tmp_path):
    # ZYX used to be read as time with a warning in run.json only
    p = tmp_path / "zstack.tif"
    tifffile.imwrite(p, _frames(10), imagej=True, metadata={"axes": "ZYX"})
    for layout in ("auto", "single"):
        with pytest.raises(StackReadError, match=r"axes ZYX .* Z axis of 10 planes"):
            read_recording(p, frame_interval_s=1.0, layout=layout)


def test_z_stack_in_a_pair_is_refused(tmp_path):
    for suffix in ("_340", "_380"):
        tifffile.imwrite(tmp_path / f"cell{suffix}.tif", _frames(10), imagej=True,
                         metadata={"axes": "ZYX"})
    with pytest.raises(StackReadError, match="Z axis"):
        read_recording([tmp_path / "cell_340.tif", tmp_path / "cell_380.tif"],
                       frame_interval_s=1.0)


def test_time_series_with_channels_still_reads(tmp_path):
    p = tmp_path / "tcyx.tif"
    v = _frames(20).reshape(10, 2, 64, 64)
    tifffile.imwrite(p, v, imagej=True, metadata={"axes": "TCYX", "finterval": 0.5})
    rec = read_recording(p)
    np.testing.assert_array_equal(np.asarray(rec.channels["f340"]), v[:, 0])


def test_pages_changing_size_half_way_are_refused(tmp_path):
    # 30 pages 64x64 then 30 pages 48x64 used to be read as 30 frames
    p = tmp_path / "mixed.tif"
    v = _frames()
    with tifffile.TiffWriter(p) as w:
        for k in range(60):
            w.write(v[k] if k < 30 else v[k, :48], metadata=None, contiguous=False)
    with pytest.raises(StackReadError,
                       match=r"change size .*30 pages of 64x64.*30 pages of 48x64"):
        read_recording(p, frame_interval_s=1.0)


def test_ome_size_t_counting_fewer_planes_than_pages_is_refused(tmp_path):
    # SizeT=30 for 60 planes used to be read as 30 frames
    v = _frames()
    ok = tmp_path / "ok.ome.tif"
    tifffile.imwrite(ok, v, ome=True, metadata={"axes": "TYX", "TimeIncrement": 0.5})
    with tifffile.TiffFile(ok) as tif:
        xml = tif.ome_metadata.replace('SizeT="60"', 'SizeT="30"')
    p = tmp_path / "sizet30.ome.tif"
    with tifffile.TiffWriter(p) as w:
        for k, f in enumerate(v):
            w.write(f, description=xml if k == 0 else None, metadata=None, contiguous=False)
    with pytest.raises(StackReadError, match=r"describes 30 planes .*SizeT=30.* 60 pages"):
        read_recording(p)
    rec = read_recording(ok)  # the same file with a header that counts every page
    np.testing.assert_array_equal(np.asarray(rec.channels["f"]), v)


def test_imagej_images_counting_fewer_planes_than_pages_is_refused(tmp_path):
    v = _frames()
    p = tmp_path / "images30.tif"
    desc = "ImageJ=1.54f\nimages=30\nframes=30\nfinterval=0.5\n"
    with tifffile.TiffWriter(p) as w:
        for k, f in enumerate(v):
            w.write(f, description=desc if k == 0 else None, metadata=None, contiguous=False)
    with tifffile.TiffFile(p) as tif:
        assert tif.is_imagej and len(tif.pages) == 60
    with pytest.raises(StackReadError, match=r"ImageJ metadata describes 30 planes .* 60 pages"):
        read_recording(p)

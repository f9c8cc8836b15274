"""Headers that promise gigabytes are refused from the header, before anything is decoded
(issue 16: OME claiming 10^9 planes, zlib bombs, huge label TIFFs, pages claiming
40000 x 20000 pixels)."""

import numpy as np
import pytest
import tifffile

from caimg.errors import StackReadError
from caimg.io import read_recording


def _frames(t=10, rows=64, cols=64):
    return (np.arange(t * rows * cols) % 1000).astype(np.uint16).reshape(t, rows, cols)


def _patch_size(path, rows, cols):
    """Overwrite every page's ImageLength/ImageWidth (and RowsPerStrip) in place."""
    with tifffile.TiffFile(path, mode="r+b") as tif:
        for page in tif.pages:
            page.tags["ImageWidth"].overwrite(cols)
            page.tags["ImageLength"].overwrite(rows)
            if "RowsPerStrip" in page.tags:
                page.tags["RowsPerStrip"].overwrite(rows)


def _pages(path, frames, description=None, compression=None):
    with tifffile.TiffWriter(path) as w:
        for k, f in enumerate(frames):
            w.write(f, description=description if k == 0 else None, metadata=None,
                    contiguous=False, compression=compression)
    return path


def _ome_xml(size_t, rows=64, cols=64):
    return ('<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/'
            'Schemas/OME/2016-06"><Image ID="Image:0"><Pixels ID="Pixels:0" '
            f'DimensionOrder="XYCZT" Type="uint16" SizeX="{cols}" SizeY="{rows}" SizeC="1" '
            f'SizeZ="1" SizeT="{size_t}" TimeIncrement="0.5"><Channel ID="Channel:0:0" '
            'SamplesPerPixel="1"/><TiffData/></Pixels></Image></OME>')


def test_ome_header_claiming_1e9_planes_is_refused_from_the_header(tmp_path, bounded_read):
    # tifffile allocated one entry per announced plane: 7.7 GB before failing
    p = _pages(tmp_path / "claims.ome.tif", _frames(), description=_ome_xml(10**9))
    res = bounded_read(p)
    assert res["outcome"] == "StackReadError", res
    assert "1000000000 planes" in res["message"] and "SizeT=1000000000" in res["message"]


def test_ome_header_claiming_more_planes_than_pages_is_refused(tmp_path, bounded_read):
    p = _pages(tmp_path / "claims.ome.tif", _frames(), description=_ome_xml(5000))
    res = bounded_read(p)
    assert res["outcome"] == "StackReadError", res
    assert "5000 planes" in res["message"] and "10 pages" in res["message"]


def test_valid_ome_reads(tmp_path):
    p = _pages(tmp_path / "ok.ome.tif", _frames(), description=_ome_xml(10))
    rec = read_recording(p)
    np.testing.assert_array_equal(np.asarray(rec.channels["f"]), _frames())


def test_zlib_bomb_is_refused_by_decoded_size_against_file_size(tmp_path):
    # ~0.5 MB on disk, 400 MiB decoded (ratio ~850, below the former limit of 4096, which
    # zlib can never reach: its best is ~1030x)
    p = tmp_path / "bomb.tif"
    with tifffile.TiffWriter(p) as w:
        for _ in range(200):
            w.write(np.zeros((1024, 1024), np.uint16), metadata=None, contiguous=False,
                    compression="zlib")
    assert p.stat().st_size < 2 << 20
    with pytest.raises(StackReadError, match=r"times its size .*decompression bomb"):
        read_recording(p, frame_interval_s=1.0)


def test_small_compressed_stack_still_reads(tmp_path):
    # below 64 MiB decoded, a high ratio is harmless
    p = tmp_path / "zeros.tif"
    with tifffile.TiffWriter(p) as w:
        for _ in range(20):
            w.write(np.zeros((256, 256), np.uint16), metadata=None, contiguous=False,
                    compression="zlib")
    rec = read_recording(p, frame_interval_s=1.0)
    assert np.asarray(rec.channels["f"]).shape == (20, 256, 256)


@pytest.mark.parametrize("contiguous", [False, True])
def test_pages_claiming_40000x20000_are_refused_before_a_frame_is_allocated(tmp_path,
                                                                            contiguous):
    # a read used to succeed lazily; the first frame read then allocated 1.6 GB per frame
    # (an internal MemoryError in the pipeline)
    p = tmp_path / "claims.tif"
    if contiguous:
        tifffile.imwrite(p, _frames(), metadata=None)
    else:
        _pages(p, _frames())
    _patch_size(p, 40000, 20000)
    with pytest.raises(StackReadError, match=r"claims a frame of \(40000, 20000\)"):
        read_recording(p, frame_interval_s=1.0)


def test_huge_label_tiff_is_refused_from_its_header(tmp_path, bounded_read):
    # 40000 x 40000 uint16: 3.2 GB decoded before the shape check
    p = tmp_path / "labels.tif"
    tifffile.imwrite(p, np.ones((64, 64), np.uint16), compression="zlib")
    _patch_size(p, 40000, 40000)
    res = bounded_read(p, what="rois", shape=[64, 64])
    assert res["outcome"] == "RoiError", res
    assert "shape (40000, 40000)" in res["message"]
    assert "(64, 64)" in res["message"]

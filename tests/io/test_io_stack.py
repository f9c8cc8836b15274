"""Tests for caimg.io.stack: every layout written and read back, bad files, discovery."""

from __future__ import annotations

import hashlib
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from caimg.errors import CaimgError, StackReadError
from caimg.io.stack import (
    MetadataWarning,
    RecordingSource,
    TiffFrames,
    find_recordings,
    open_stack,
    read_recording,
    write_recording,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
DYNCLUST = DATA / "fura2-dynclust-340nm-stack" / "adu340_4small_TYX.tif"
OPTINIST = DATA / "gcamp-optinist-mouse2p" / "sample_mouse2p_image.tiff"

T, ROWS, COLS = 7, 6, 5


def _stack(seed, dtype=np.uint16, t=T):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.normal(100, 10, (t, ROWS, COLS)).astype(dtype)
    return rng.integers(0, 4000, (t, ROWS, COLS)).astype(dtype)


def _pair(dtype=np.uint16, t=T):
    return {"f340": _stack(1, dtype, t), "f380": _stack(2, dtype, t)}


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _assert_same(rec, chans):
    assert rec.channel_names == tuple(chans)
    for k, v in chans.items():
        got = np.asarray(rec.channels[k])
        assert got.dtype == v.dtype
        np.testing.assert_array_equal(got, v)
        # chunked access as the pipeline does it
        np.testing.assert_array_equal(np.asarray(rec.channels[k][2:5]), v[2:5])
        np.testing.assert_array_equal(np.asarray(rec.channels[k][3]), v[3])


# ----------------------------------------------------------------------------------- layouts

@pytest.mark.parametrize("pages", ["contiguous", "separate"])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_hyperstack_roundtrip(tmp_path, pages, dtype):
    chans = _pair(dtype)
    (p,) = write_recording(chans, tmp_path / "hs.tif", layout="hyperstack",
                           frame_interval_s=0.25, pixel_size_um=0.65, pages=pages)
    rec = read_recording(p)
    assert rec.layout == "hyperstack"
    _assert_same(rec, chans)
    assert rec.frame_interval_s == pytest.approx(0.25, rel=1e-9)
    assert rec.frame_interval_source == "imagej finterval"
    assert rec.pixel_size_um == pytest.approx(0.65, rel=1e-6)
    assert rec.name == "hs"
    assert rec.metadata["axes"] == "TCYX"
    assert rec.metadata["memmap"] == (pages == "contiguous")


@pytest.mark.parametrize("pages", ["contiguous", "separate"])
def test_alternating_roundtrip_interval_doubles(tmp_path, pages):
    chans = _pair()
    (p,) = write_recording(chans, tmp_path / "alt.tif", layout="alternating",
                           frame_interval_s=0.5, pixel_size_um=1.3, pages=pages)
    with tifffile.TiffFile(p) as tif:  # per-page interval in the file
        assert len(tif.pages) == 2 * T
        assert tif.imagej_metadata["finterval"] == pytest.approx(0.25)
    rec = read_recording(p, layout="alternating")
    assert rec.layout == "alternating"
    _assert_same(rec, chans)
    assert rec.frame_interval_s == pytest.approx(0.5)
    assert rec.frame_interval_source == "imagej finterval"
    assert rec.pixel_size_um == pytest.approx(1.3, rel=1e-6)
    # never guessed: auto reads the same file as one channel of 2T frames
    auto = read_recording(p)
    assert auto.layout == "single" and auto.shape == (2 * T, ROWS, COLS)


def test_alternating_plain_without_metadata_needs_interval(tmp_path):
    chans = _pair()
    (p,) = write_recording(chans, tmp_path / "plain.tif", layout="alternating")
    with pytest.raises(StackReadError, match="plain.tif.*no frame interval"):
        read_recording(p, layout="alternating")
    rec = read_recording(p, layout="alternating", frame_interval_s=2.0)
    _assert_same(rec, chans)
    assert rec.frame_interval_s == 2.0 and rec.frame_interval_source == "override"
    assert rec.pixel_size_um is None


@pytest.mark.parametrize("pages", ["contiguous", "separate"])
def test_pair_roundtrip(tmp_path, pages):
    chans = _pair()
    paths = write_recording(chans, tmp_path / "cellA", layout="pair", frame_interval_s=3.0,
                            pixel_size_um=0.2, pages=pages)
    assert [q.name for q in paths] == ["cellA_340.tif", "cellA_380.tif"]
    rec = read_recording(tuple(paths))
    assert rec.layout == "pair" and rec.name == "cellA"
    _assert_same(rec, chans)
    assert rec.frame_interval_s == pytest.approx(3.0)
    assert rec.frame_interval_source == "imagej finterval"
    assert rec.pixel_size_um == pytest.approx(0.2, rel=1e-6)
    # the same through discovery
    (src,) = find_recordings(tmp_path)
    assert src == RecordingSource("cellA", tuple(paths), "pair")
    _assert_same(read_recording(src), chans)


def test_pair_custom_suffixes(tmp_path):
    chans = {"a": _stack(1), "b": _stack(2)}
    paths = write_recording(chans, tmp_path / "x", layout="pair", frame_interval_s=1,
                            pair_suffixes=("-ex340", "-ex380"), channel_order=("a", "b"))
    (src,) = find_recordings(tmp_path, pair_suffixes=("-ex340", "-ex380"))
    assert src.name == "x" and src.paths == tuple(paths)
    rec = read_recording(src, channel_order=("a", "b"), pair_suffixes=("-ex340", "-ex380"))
    _assert_same(rec, chans)


@pytest.mark.parametrize("ome,bigtiff", [(False, False), (True, False), (True, True),
                                         (False, True)])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_single_roundtrip(tmp_path, ome, bigtiff, dtype):
    chans = {"f": _stack(3, dtype)}
    (p,) = write_recording(chans, tmp_path / "fluo.tif", layout="single", frame_interval_s=0.1,
                           pixel_size_um=0.45, ome=ome, bigtiff=bigtiff)
    with tifffile.TiffFile(p) as tif:
        assert tif.is_bigtiff == bigtiff
        assert tif.is_ome == (ome or bigtiff)
    rec = read_recording(p)
    assert rec.layout == "single" and rec.name == "fluo"
    _assert_same(rec, chans)
    assert rec.frame_interval_s == pytest.approx(0.1, rel=1e-9)
    expected_source = "ome TimeIncrement" if (ome or bigtiff) else "imagej finterval"
    assert rec.frame_interval_source == expected_source
    assert rec.pixel_size_um == pytest.approx(0.45, rel=1e-6)
    assert isinstance(rec.channels["f"], np.memmap)


def test_single_separate_pages_is_lazy(tmp_path):
    chans = {"f": _stack(4, t=20)}
    (p,) = write_recording(chans, tmp_path / "sep.tif", layout="single", frame_interval_s=0.05,
                           pages="separate")
    rec = read_recording(p)
    arr = rec.channels["f"]
    assert isinstance(arr, TiffFrames)
    assert arr.shape == (20, ROWS, COLS) and arr.ndim == 3 and len(arr) == 20
    assert arr.dtype == np.uint16
    v = chans["f"]
    np.testing.assert_array_equal(arr[::3], v[::3])
    np.testing.assert_array_equal(arr[-1], v[-1])
    np.testing.assert_array_equal(arr[5:1:-2], v[5:1:-2])
    np.testing.assert_array_equal(arr[[0, 19, 4]], v[[0, 19, 4]])
    np.testing.assert_array_equal(arr[2:4, 1:3, 0], v[2:4, 1:3, 0])
    np.testing.assert_array_equal(np.asarray(arr, dtype=float), v.astype(float))
    assert arr[3:3].shape == (0, ROWS, COLS)
    with pytest.raises(IndexError):
        arr[20]
    # picklable for process pools; the copy reopens the file
    clone = pickle.loads(pickle.dumps(arr))
    np.testing.assert_array_equal(clone[7:9], v[7:9])


def test_compressed_file_is_lazy_and_decoded(tmp_path):
    v = _stack(5, t=9)
    p = tmp_path / "zip.tif"
    tifffile.imwrite(p, v, imagej=True, compression="zlib", metadata={"axes": "TYX",
                                                                       "finterval": 0.3})
    rec = read_recording(p)
    assert isinstance(rec.channels["f"], TiffFrames)
    np.testing.assert_array_equal(np.asarray(rec.channels["f"][1:8:2]), v[1:8:2])
    assert rec.frame_interval_s == pytest.approx(0.3)


@pytest.mark.parametrize("kw", [
    dict(compression="zlib", predictor=True, tile=(16, 16)),   # tiles cut at the edges
    dict(compression="packbits", rowsperstrip=3),              # several strips per page
    dict(compression=None, rowsperstrip=4),                    # raw, several strips
    dict(compression=None, tile=(16, 16)),                     # raw tiles: decoded path
])
def test_lazy_paths_strips_tiles_predictor(tmp_path, kw):
    rng = np.random.default_rng(9)
    v = rng.integers(0, 60000, (11, 37, 21)).astype(np.uint16)
    p = tmp_path / "odd.tif"
    with tifffile.TiffWriter(p) as tw:  # one IFD per frame, no shape metadata
        for frame in v:
            tw.write(frame, contiguous=False, metadata=None, photometric="minisblack", **kw)
    rec = read_recording(p, frame_interval_s=0.1)
    arr = rec.channels["f"]
    assert isinstance(arr, TiffFrames)
    np.testing.assert_array_equal(np.asarray(arr), v)
    np.testing.assert_array_equal(arr[1::4], v[1::4])
    np.testing.assert_array_equal(arr[::-3], v[::-3])
    with pytest.raises(StackReadError, match="11 pages"):
        read_recording(p, layout="alternating", frame_interval_s=0.1)


def test_lazy_alternating_separate_pages_vectored(tmp_path):
    chans = _pair(t=40)
    (p,) = write_recording(chans, tmp_path / "alt.tif", layout="alternating",
                           frame_interval_s=1.0, pages="separate")
    rec = read_recording(p, layout="alternating")
    for k, v in chans.items():
        arr = rec.channels[k]
        assert isinstance(arr, TiffFrames)
        np.testing.assert_array_equal(arr[3:37], v[3:37])
        np.testing.assert_array_equal(arr[::5], v[::5])


@pytest.mark.parametrize("imagej", [False, True])
def test_big_endian_file_read_lazily_in_native_order(tmp_path, imagej):
    # ImageJ itself saves big-endian ("MM") TIFFs
    chans = _pair()
    v = np.stack([chans["f340"], chans["f380"]], axis=1)
    p = tmp_path / "be.tif"
    tifffile.imwrite(p, v, byteorder=">", imagej=imagej,
                     metadata={"axes": "TCYX", "finterval": 0.5})
    rec = read_recording(p, frame_interval_s=None if imagej else 0.5)
    assert rec.layout == "hyperstack" and rec.metadata["byteorder"] == "big"
    for k in chans:
        assert isinstance(rec.channels[k], TiffFrames)
        got = rec.channels[k][1:5]
        assert got.dtype.isnative and got.dtype == np.uint16
        np.testing.assert_array_equal(got, chans[k][1:5])
    assert rec.frame_interval_s == 0.5
    # truncated inside the pixel data
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    _err(p, frame_interval_s=0.5)


@pytest.mark.parametrize("kind", ["raw", "zlib", "big-endian"])
def test_read_into_reuses_the_buffer(tmp_path, kind):
    v = _stack(6, t=12)
    p = tmp_path / "r.tif"
    if kind == "raw":
        write_recording({"f": v}, p, layout="single", frame_interval_s=0.1, pages="separate")
    else:
        tifffile.imwrite(p, v, imagej=True, byteorder=">" if kind == "big-endian" else "<",
                         compression="zlib" if kind == "zlib" else None,
                         metadata={"axes": "TYX", "finterval": 0.1})
    arr = read_recording(p).channels["f"]
    assert isinstance(arr, TiffFrames)
    buf = np.full((4, ROWS, COLS), 7, np.uint16)
    for a in range(0, 12, 4):
        got = arr.read_into(a, a + 4, buf)
        assert got is buf or np.shares_memory(got, buf)
        assert got.dtype.isnative
        np.testing.assert_array_equal(got, v[a:a + 4])
    assert arr.read_into(5, 5, buf[:0]).shape == (0, ROWS, COLS)
    with pytest.raises(StackReadError, match="buffer"):
        arr.read_into(0, 4, np.empty((3, ROWS, COLS), np.uint16))
    with pytest.raises(StackReadError, match="buffer"):
        arr.read_into(0, 4, np.empty((4, ROWS, COLS), np.float32))
    with pytest.raises(IndexError):
        arr.read_into(10, 14, buf)


def test_register_and_extract_same_on_lazy_and_in_memory_stack(tmp_path):
    from caimg.motion import register
    from caimg.traces import extract_traces

    rng = np.random.default_rng(3)
    v = (rng.random((70, 24, 20)) * 1000).astype(np.uint16)
    (p,) = write_recording({"f": v}, tmp_path / "s.tif", layout="single",
                           frame_interval_s=0.1, pages="separate")
    lazy = read_recording(p).channels["f"]
    assert isinstance(lazy, TiffFrames)
    labels = np.zeros((24, 20), np.int32)
    labels[4:9, 3:8] = 1
    labels[12:20, 10:16] = 2
    kw = dict(reference_frames=10, chunk_frames=16)
    ra, rb = register(v, **kw), register(lazy, **kw)
    np.testing.assert_array_equal(ra.shifts, rb.shifts)
    np.testing.assert_array_equal(ra.summary.mean, rb.summary.mean)
    ta = extract_traces(v, labels, shifts=ra.shifts, chunk_frames=16)
    tb = extract_traces(lazy, labels, shifts=rb.shifts, chunk_frames=16)
    np.testing.assert_array_equal(ta.means, tb.means)


def test_read_warnings_keep_their_class(tmp_path):
    """metadata["warnings"] keeps each warning's class, and check_recording raises it again
    with that class and text (what run.json lists as "Class: text")."""
    from caimg.io.read import ReadWarning
    from caimg.validate import check_recording

    p = tmp_path / "frames.tif"
    tifffile.imwrite(p, _stack(10), imagej=True, metadata={"axes": "TYX", "finterval": 2.0})
    with pytest.warns(MetadataWarning, match="was given") as first:
        rec = read_recording(p, frame_interval_s=1.0)
    (record,) = rec.metadata["warnings"]
    assert isinstance(record, ReadWarning) and record.category is MetadataWarning
    assert record.message == str(first[0].message)
    assert str(record) == f"MetadataWarning: {first[0].message}"
    with pytest.warns(MetadataWarning) as again:
        check_recording(rec, indicator="fluo4")
    assert [(w.category, str(w.message)) for w in again] == [(MetadataWarning, record.message)]


def test_every_layout_has_a_reader():
    from caimg.io._paths import LAYOUT_NAMES
    from caimg.io.read import LAYOUTS

    assert set(LAYOUTS) == set(LAYOUT_NAMES) - {"auto"}


def test_write_recording_object_roundtrip(tmp_path):
    chans = _pair()
    (p,) = write_recording(chans, tmp_path / "a.tif", frame_interval_s=0.7, pixel_size_um=2.0)
    rec = read_recording(p)
    (q,) = write_recording(rec, tmp_path / "b.tif", layout="hyperstack")
    rec2 = read_recording(q)
    _assert_same(rec2, chans)
    assert rec2.frame_interval_s == pytest.approx(0.7)
    assert rec2.pixel_size_um == pytest.approx(2.0, rel=1e-6)
    assert not any(f.name.endswith(".partial") for f in tmp_path.iterdir())


def test_write_keeps_no_partial_on_error(tmp_path):
    with pytest.raises(CaimgError, match="f340"):
        write_recording({"x": _stack(1)}, tmp_path / "bad.tif", layout="hyperstack")
    with pytest.raises(CaimgError):
        write_recording({"f": np.zeros((4, 4))}, tmp_path / "bad.tif", layout="single")
    assert list(tmp_path.iterdir()) == []


def test_ome_time_increment_units(tmp_path):
    v = _stack(7)
    for unit, value, expected in [("ms", 250.0, 0.25), ("min", 0.5, 30.0), ("s", 2.0, 2.0)]:
        p = tmp_path / f"u_{unit}.ome.tif"
        tifffile.imwrite(p, v, ome=True, metadata={"axes": "TYX", "TimeIncrement": value,
                                                   "TimeIncrementUnit": unit,
                                                   "PhysicalSizeX": 500.0,
                                                   "PhysicalSizeXUnit": "nm"})
        rec = read_recording(p)
        assert rec.name == f"u_{unit}"
        assert rec.frame_interval_s == pytest.approx(expected)
        assert rec.pixel_size_um == pytest.approx(0.5)


def test_imagej_units(tmp_path):
    v = _stack(8)
    for unit, expected in [("nm", 0.0002), ("mm", 200.0), ("\\u00B5m", 0.2), ("um", 0.2),
                           ("micron", 0.2)]:
        p = tmp_path / "u.tif"
        tifffile.imwrite(p, v, imagej=True, resolution=(1 / 0.2, 1 / 0.2),
                         metadata={"axes": "TYX", "finterval": 1.0, "unit": unit})
        assert read_recording(p).pixel_size_um == pytest.approx(expected, rel=1e-6), unit


# ---------------------------------------------------------------- overrides and intervals

def test_override_wins_and_warns(tmp_path):
    (p,) = write_recording({"f": _stack(1)}, tmp_path / "s.tif", layout="single",
                           frame_interval_s=0.5, pixel_size_um=1.0)
    with pytest.warns(MetadataWarning, match=r"0\.5 s.*0\.6 s"):
        rec = read_recording(p, frame_interval_s=0.6, pixel_size_um=0.3)
    assert rec.frame_interval_s == 0.6 and rec.frame_interval_source == "override"
    assert rec.pixel_size_um == 0.3
    assert rec.metadata["frame_interval_metadata_s"] == pytest.approx(0.5)
    # within 0.1 %: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = read_recording(p, frame_interval_s=0.50025)
    assert rec.frame_interval_source == "override"


def test_missing_interval_is_an_error(tmp_path):
    (p,) = write_recording({"f": _stack(1)}, tmp_path / "noint.tif", layout="single")
    with pytest.raises(StackReadError, match=r"noint\.tif: no frame interval.*--frame-interval"):
        read_recording(p)
    rec = read_recording(p, frame_interval_s=0.2)
    assert rec.frame_interval_s == 0.2


def test_bad_override_values(tmp_path):
    (p,) = write_recording({"f": _stack(1)}, tmp_path / "s.tif", layout="single",
                           frame_interval_s=0.5)
    for bad in (0, -1, float("nan"), "x"):
        with pytest.raises(CaimgError, match="frame_interval_s"):
            read_recording(p, frame_interval_s=bad)
    with pytest.raises(CaimgError, match="layout"):
        read_recording(p, layout="stacked")


# --------------------------------------------------------------------------- bad inputs

def _err(path, match=None, **kw):
    with pytest.raises(StackReadError) as info:
        read_recording(path, **kw)
    first = path.paths[0] if isinstance(path, RecordingSource) else path
    assert Path(first).name in str(info.value)
    if match:
        assert match in str(info.value), str(info.value)
    return str(info.value)


def test_odd_alternating_count(tmp_path):
    p = tmp_path / "odd.tif"
    tifffile.imwrite(p, _stack(1, t=7), imagej=True, metadata={"axes": "TYX", "finterval": 1})
    _err(p, "found 7 pages", layout="alternating")


def test_unpaired_340(tmp_path):
    paths = write_recording(_pair(), tmp_path / "lone", layout="pair", frame_interval_s=1)
    paths[1].unlink()
    (src,) = find_recordings(tmp_path)
    assert src.layout == "pair" and src.paths == (paths[0],) and src.name == "lone"
    msg = _err(src, "lone_380.tif")
    assert "partner" in msg


def test_pair_shape_mismatch(tmp_path):
    write_recording({"f": _stack(1, t=7)}, tmp_path / "m_340.tif", layout="single",
                    frame_interval_s=1)
    write_recording({"f": _stack(2, t=6)}, tmp_path / "m_380.tif", layout="single",
                    frame_interval_s=1)
    (src,) = find_recordings(tmp_path)
    msg = _err(src, "(7, 6, 5) vs (6, 6, 5)")
    assert "m_380.tif" in msg


def test_two_d_image(tmp_path):
    p = tmp_path / "flat.tif"
    tifffile.imwrite(p, _stack(1)[0], imagej=True)
    _err(p, "2-D image")
    _err(p, "2-D image", layout="alternating", frame_interval_s=1)


def test_three_channels_and_z_stacks(tmp_path):
    p = tmp_path / "c3.tif"
    tifffile.imwrite(p, np.zeros((4, 3, 5, 6), np.uint16), imagej=True,
                     metadata={"axes": "TCYX", "finterval": 1})
    _err(p, "3 channels")
    p = tmp_path / "c2.tif"  # two channels, one frame each
    tifffile.imwrite(p, np.zeros((2, 5, 6), np.uint16), imagej=True,
                     metadata={"axes": "CYX", "finterval": 1})
    _err(p, "one frame per channel")
    p = tmp_path / "tz.tif"
    tifffile.imwrite(p, np.zeros((4, 3, 5, 6), np.uint16), imagej=True,
                     metadata={"axes": "TZYX", "finterval": 1})
    _err(p, "TZYX")
    p = tmp_path / "rgb.tif"
    tifffile.imwrite(p, np.zeros((4, 5, 6, 3), np.uint8), photometric="rgb")
    _err(p, "RGB", frame_interval_s=1)


def test_forced_layout_mismatch(tmp_path):
    (hs,) = write_recording(_pair(), tmp_path / "hs.tif", frame_interval_s=1)
    (sg,) = write_recording({"f": _stack(1)}, tmp_path / "sg.tif", layout="single",
                            frame_interval_s=1)
    _err(hs, "2 channels", layout="single")
    _err(sg, "needs a channel axis", layout="hyperstack")


def test_not_a_tiff(tmp_path):
    p = tmp_path / "notes.tif"
    p.write_text("this is a text file, not an image\n" * 10)
    _err(p, "not a readable TIFF")


def test_zero_byte(tmp_path):
    p = tmp_path / "empty.tif"
    p.write_bytes(b"")
    _err(p, "0 bytes")


@pytest.mark.parametrize("keep", [0.2, 0.6, 0.97])
@pytest.mark.parametrize("pages", ["contiguous", "separate"])
def test_truncated(tmp_path, pages, keep):
    # contiguous files: 0.2 cuts into the pixel data, 0.6 and 0.97 only lose later IFDs
    (p,) = write_recording({"f": _stack(1, t=20)}, tmp_path / "cut.tif", layout="single",
                           frame_interval_s=1, pages=pages)
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * keep)])
    _err(p)


def test_nonfinite_float_stack(tmp_path):
    v = _stack(1, np.float32)
    v[4, 2, 2] = np.nan
    (p,) = write_recording({"f": v}, tmp_path / "nan.tif", layout="single", frame_interval_s=1)
    _err(p, "frame 4")
    v[4, 2, 2] = 0
    v[6, 0, 0] = np.inf
    (p,) = write_recording(_pair(np.float32) | {"f380": v}, tmp_path / "inf.tif",
                           frame_interval_s=1)
    _err(p, "'f380'")


def test_missing_path(tmp_path):
    _err(tmp_path / "nothere.tif", "nothere.tif")
    with pytest.raises(StackReadError, match="nowhere"):
        find_recordings([tmp_path / "nowhere"])


# ------------------------------------------------------------------------- memory and safety

def test_contiguous_read_is_memmap_view_and_inputs_unchanged(tmp_path):
    (hs,) = write_recording(_pair(), tmp_path / "hs.tif", frame_interval_s=1)
    (alt,) = write_recording(_pair(), tmp_path / "alt.tif", layout="alternating",
                             frame_interval_s=1)
    (sep,) = write_recording({"f": _stack(1)}, tmp_path / "sep.tif", layout="single",
                             frame_interval_s=1, pages="separate")
    before = {p: _sha(p) for p in (hs, alt, sep)}
    for p, lay in [(hs, "auto"), (alt, "alternating")]:
        rec = read_recording(p, layout=lay)
        for arr in rec.channels.values():
            assert isinstance(arr, np.memmap)
            assert not arr.flags.owndata and not arr.flags.writeable
        np.asarray(rec.channels["f380"][:]).sum()
    np.asarray(read_recording(sep).channels["f"]).sum()
    assert {p: _sha(p) for p in (hs, alt, sep)} == before


# ----------------------------------------------------------------------------- discovery

def test_find_recordings_tree(tmp_path):
    root = tmp_path / "data"
    write_recording(_pair(), root / "day1" / "cell", layout="pair", frame_interval_s=1)
    write_recording(_pair(), root / "day2" / "cell", layout="pair", frame_interval_s=1)
    write_recording({"f": _stack(1)}, root / "day1" / "fluo.TIF", layout="single",
                    frame_interval_s=1)
    write_recording(_pair(), root / "day2" / "sub" / "hyper.tiff", frame_interval_s=1)
    # result folders, hidden and partial folders are skipped
    res = root / "results" / "cell"
    write_recording({"f": _stack(1)}, res / "rois.tif", layout="single", frame_interval_s=1)
    (res / "run.json").write_text("{}")
    write_recording({"f": _stack(1)}, root / ".hidden" / "h.tif", layout="single")
    write_recording({"f": _stack(1)}, root / "out.partial" / "p.tif", layout="single")
    (root / "day1" / "._junk.tif").write_bytes(b"x")
    (root / "day1" / "notes.txt").write_text("x")

    found = find_recordings(root)
    by_name = {s.name: s for s in found}
    assert sorted(by_name) == ["day1__cell", "day2__cell", "fluo", "hyper"]
    assert by_name["day1__cell"].layout == "pair"
    assert [p.name for p in by_name["day2__cell"].paths] == ["cell_340.tif", "cell_380.tif"]
    assert by_name["fluo"].layout == "auto" and by_name["hyper"].layout == "auto"
    # every source reads
    for s in found:
        assert read_recording(s).name == s.name
    # a single file, and a list mixing files and folders, without duplicates
    (one,) = find_recordings(by_name["fluo"].paths[0])
    assert one.name == "fluo"
    both = find_recordings([root / "day1", by_name["fluo"].paths[0]])
    assert sorted(s.name for s in both) == ["cell", "fluo"]
    # one file of a pair given alone brings its partner
    (pair,) = find_recordings(by_name["day1__cell"].paths[1])
    assert pair.paths == by_name["day1__cell"].paths and pair.name == "cell"
    # other layouts: no pairing
    singles = find_recordings(root / "day1", layout="single")
    assert sorted(s.name for s in singles) == ["cell_340", "cell_380", "fluo"]


# ----------------------------------------------------------------------------------- dask

def test_open_stack(tmp_path):
    chans = _pair()
    (hs,) = write_recording(chans, tmp_path / "hs.tif", frame_interval_s=1)
    d = open_stack(hs, channel="f380")
    assert d.shape == (T, ROWS, COLS)
    np.testing.assert_array_equal(d[2:5].compute(), chans["f380"][2:5])
    np.testing.assert_array_equal(open_stack(hs, channel=0).compute(), chans["f340"])
    with pytest.raises(StackReadError, match="hs.tif"):
        open_stack(hs)
    (sg,) = write_recording({"f": chans["f340"]}, tmp_path / "s.tif", layout="single")
    np.testing.assert_array_equal(np.asarray(open_stack(sg)), chans["f340"])


# ------------------------------------------------------------------------------ real data

@pytest.mark.skipif(not DYNCLUST.exists(), reason=f"real data not present: {DYNCLUST}")
def test_real_dynclust_stack():
    before = _sha(DYNCLUST)
    with pytest.raises(StackReadError, match="adu340_4small_TYX.tif: no frame interval"):
        read_recording(DYNCLUST)
    rec = read_recording(DYNCLUST, frame_interval_s=1.0)
    assert rec.shape == (128, 50, 50) and rec.dtype == np.uint16
    assert rec.channel_names == ("f",) and rec.frame_interval_source == "override"
    assert isinstance(rec.channels["f"], np.memmap)
    frames = np.asarray(rec.channels["f"][:])
    assert 974 <= frames.min() and frames.max() <= 2171  # documented ADU range
    assert _sha(DYNCLUST) == before


@pytest.mark.skipif(not OPTINIST.exists(), reason=f"real data not present: {OPTINIST}")
def test_real_optinist_plain_multipage_lazy():
    rec = read_recording(OPTINIST, frame_interval_s=1 / 30)
    arr = rec.channels["f"]
    assert isinstance(arr, TiffFrames)  # PackBits pages: decoded lazily
    assert rec.shape == (2000, 128, 128) and rec.dtype == np.uint16
    with tifffile.TiffFile(OPTINIST) as tif:
        for t in (0, 999, 1999):
            np.testing.assert_array_equal(arr[t], tif.pages[t].asarray())
    chunk = arr[100:164]
    assert chunk.shape == (64, 128, 128)
    assert 5000 < chunk.mean() < 20000  # documented mean ~10917

"""One-page-per-frame TIFFs: the fast IFD-chain walk (``caimg.io._ifdwalk``) against tifffile.

Every file is read twice through ``caimg.io._tiff.inspect``: with the walk, and with it
switched off (tifffile's own page objects, the path all files took before). Both must
describe the file identically (axes, shape, dtype, kind, interval, pixel size, and the
frame table: page indices, strip/tile offsets and byte counts, compressed flag) and
give the frames ``tifffile.imread`` gives; damaged files must fail with the same message.
Each case also asserts whether the walk was taken, so a walk that silently never runs
(or runs on a file it should leave to tifffile) fails.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
import tifffile

from caimg.errors import StackReadError
from caimg.io import TiffFrames, _ifdwalk, _tiff, read_recording, write_recording

N = 12  # pages per test file (the walk needs >= 8)
# whether the installed tifffile is one the walk runs on (elsewhere it is switched off and
# every file takes tifffile's own path: the comparisons below still hold)
WALKS = _ifdwalk.walk_supported()


def _frames(n=N, shape=(20, 24), dtype=np.uint16, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.normal(100, 20, (n, *shape)).astype(dtype)
    hi = np.iinfo(dtype).max
    return rng.integers(0, hi, (n, *shape), endpoint=True).astype(dtype)


def _write_pages(path, frames, *, bigtiff=False, byteorder="<", description=None, **kw):
    """One IFD per frame, written frame by frame, no tifffile shape metadata."""
    with tifffile.TiffWriter(path, bigtiff=bigtiff, byteorder=byteorder) as tw:
        for i, f in enumerate(frames):
            tw.write(f, contiguous=False, metadata=None, photometric="minisblack",
                     description=description if i == 0 else None, **kw)
    return path


def _imagej_desc(n, **kw):
    return tifffile.imagej_description((n, 20, 24), axes="TYX", finterval=0.25, **kw)


def _summary(info):
    d = {k: getattr(info, k) for k in ("axes", "shape", "frame_interval_s", "interval_source",
                                       "pixel_size_um", "file_size", "kind", "memmapped")}
    d["dtype"] = info.dtype.str
    data = info.data
    if isinstance(data, TiffFrames):
        d["frames"] = (data._pages.tolist(), data._offsets.tolist(), data._bytecounts.tolist(),
                       data._compressed, data._frame_shape, data._file_dtype.str)
    else:
        d["frames"] = (type(data).__name__, getattr(data, "offset", None), data.shape)
    return d


def _outcome(path):
    try:
        info = _tiff.inspect(path)
    except StackReadError as exc:
        return ("error", str(exc)), None
    return ("ok", _summary(info)), info


def _both(path, monkeypatch):
    """(outcome with the walk, outcome without it, walk taken?, info with the walk)."""
    taken = []
    real = _tiff.walk_pages

    def spy(*args):
        res = real(*args)
        taken.append(res is not None)
        return res

    monkeypatch.setattr(_tiff, "walk_pages", spy)
    fast, info = _outcome(path)
    monkeypatch.setattr(_tiff, "walk_pages", lambda *args: None)
    slow, _ = _outcome(path)
    monkeypatch.setattr(_tiff, "walk_pages", real)
    return fast, slow, any(taken), info


def _check_frames(info, path):
    want = tifffile.imread(path)
    want = want.reshape(-1, *want.shape[-2:])
    data = info.data
    assert np.array_equal(np.asarray(data), want)
    # the pipeline's way: chunks through one reused buffer (vectored reads across pages)
    buf = np.empty((5, *data.shape[1:]), data.dtype)
    for a in range(0, len(data), 5):
        b = min(a + 5, len(data))
        assert np.array_equal(data.read_into(a, b, buf[:b - a]), want[a:b])


CASES = {
    "plain": dict(),
    "plain uint8": dict(dtype=np.uint8),
    "plain float32": dict(dtype=np.float32),
    "imagej": dict(imagej=True),
    "imagej float32": dict(imagej=True, dtype=np.float32),
    "bigtiff": dict(bigtiff=True),
    "bigtiff strips": dict(bigtiff=True, rowsperstrip=3),
    "big-endian": dict(byteorder=">"),
    "big-endian imagej strips": dict(byteorder=">", imagej=True, rowsperstrip=8),
    "strips": dict(rowsperstrip=4),
    "two strips (SHORT-sized offsets table)": dict(rowsperstrip=10, dtype=np.uint8),
    "zlib": dict(compression="zlib"),
    "zlib predictor strips": dict(compression="zlib", predictor=True, rowsperstrip=6),
    "zlib imagej big-endian": dict(compression="zlib", imagej=True, byteorder=">"),
    "tiled": dict(tile=(16, 16)),
    "tiled zlib bigtiff": dict(tile=(16, 16), compression="zlib", bigtiff=True),
    "uint8 tiled": dict(tile=(16, 16), dtype=np.uint8),
}


@pytest.mark.parametrize("case", list(CASES))
def test_walk_matches_tifffile(tmp_path, monkeypatch, case):
    kw = dict(CASES[case])
    dtype = kw.pop("dtype", np.uint16)
    desc = _imagej_desc(N) if kw.pop("imagej", False) else None
    frames = _frames(dtype=dtype)
    path = _write_pages(tmp_path / "s.tif", frames, description=desc, **kw)
    fast, slow, taken, info = _both(path, monkeypatch)
    assert taken == WALKS, "the fast walk should handle this file"
    assert fast[0] == "ok", fast
    assert fast == slow
    assert isinstance(info.data, TiffFrames)
    if desc is not None:
        assert info.kind == "imagej" and info.frame_interval_s == 0.25
    _check_frames(info, path)
    assert np.array_equal(np.asarray(info.data), frames)


@pytest.mark.parametrize("layout", ["single", "hyperstack", "alternating", "pair"])
def test_walk_matches_tifffile_on_written_recordings(tmp_path, monkeypatch, layout):
    f = _frames(n=10, dtype=np.uint16, seed=1)
    g = _frames(n=10, dtype=np.uint16, seed=2)
    chans = {"f": f} if layout == "single" else {"f340": f, "f380": g}
    paths = write_recording(chans, tmp_path / "r.tif", layout=layout, frame_interval_s=0.5,
                            pixel_size_um=0.4, pages="separate")
    for path in paths:
        fast, slow, taken, info = _both(path, monkeypatch)
        assert taken == WALKS and fast[0] == "ok" and fast == slow
        assert info.pixel_size_um == pytest.approx(0.4)
        _check_frames(info, path)
    rec = read_recording(paths if layout == "pair" else paths[0], layout=layout)
    for name, want in (("f", f), ("f340", f), ("f380", g)):
        if name in rec.channels:
            assert np.array_equal(np.asarray(rec.channels[name]), want)


def test_pages_of_another_size_are_left_to_tifffile(tmp_path, monkeypatch):
    frames = list(_frames())
    frames[5] = np.zeros((20, 25), np.uint16)  # one page one column wider
    path = _write_pages(tmp_path / "odd.tif", frames)
    fast, slow, taken, _ = _both(path, monkeypatch)
    assert not taken
    assert fast == slow


def test_imagej_pages_that_differ_are_left_to_tifffile(tmp_path, monkeypatch):
    frames = list(_frames())
    frames[9] = np.zeros((20, 24), np.uint8)  # another dtype on one page
    path = _write_pages(tmp_path / "odd.tif", frames, description=_imagej_desc(N))
    fast, slow, taken, _ = _both(path, monkeypatch)
    assert not taken
    assert fast == slow


def test_few_pages_and_other_formats_are_left_to_tifffile(tmp_path, monkeypatch):
    short = _write_pages(tmp_path / "short.tif", _frames(n=5))
    ome = tmp_path / "o.ome.tif"
    write_recording({"f": _frames()}, ome, layout="single", frame_interval_s=0.1, ome=True)
    shaped = tmp_path / "shaped.tif"
    tifffile.imwrite(shaped, _frames(), photometric="minisblack")  # tifffile JSON metadata
    for path in (short, ome, shaped):
        fast, slow, taken, _ = _both(path, monkeypatch)
        assert not taken, path.name
        assert fast == slow


@pytest.mark.parametrize("version", ["2026.2.20", "2024.1.30", "2027.1.1", "unknown"])
def test_untested_tifffile_versions_fall_back_to_tifffile(tmp_path, monkeypatch, version):
    """The walk writes tifffile's private page-list state: with a tifffile version it is
    not tested on it must step aside, and tifffile's own reading gives the same file."""
    path = _write_pages(tmp_path / "p.tif", _frames(), description=_imagej_desc(N))
    fast, slow, taken, _ = _both(path, monkeypatch)
    assert taken == WALKS and fast[0] == "ok"
    monkeypatch.setattr(tifffile, "__version__", version)
    assert not _ifdwalk.walk_supported()
    gated, _, taken, info = _both(path, monkeypatch)
    assert not taken
    assert gated == slow == fast
    _check_frames(info, path)
    with tifffile.TiffFile(path) as tif:
        assert _ifdwalk.walk_pages(tif, path, path.stat().st_size) is None
        if WALKS:  # the private page-list fields the walk would write are untouched
            assert len(tif.pages._loaded) == 1 and not tif.pages._indexed


def test_walk_supported_versions():
    assert _ifdwalk.walk_supported("2026.2.24")
    assert _ifdwalk.walk_supported("2026.3.3")  # the version these tests were written on
    assert not _ifdwalk.walk_supported("2026.2.20")  # before TiffPages was refactored
    assert not _ifdwalk.walk_supported("2027.1.1")  # not tested yet
    assert not _ifdwalk.walk_supported("")


def _ifd_offsets(path):
    with tifffile.TiffFile(path) as tif:
        return [p.offset for p in tif.pages]


def _next_field(path, ifd_offset):
    """Offset of the 'next IFD' field of the classic-TIFF IFD at ``ifd_offset``."""
    with open(path, "rb") as fh:
        fh.seek(ifd_offset)
        n = struct.unpack("<H", fh.read(2))[0]
    return ifd_offset + 2 + 12 * n


@pytest.mark.parametrize("damage", ["cut in last pixels", "cut in last IFD", "cut mid-file",
                                    "lost last IFD", "next IFD past the end", "loop"])
@pytest.mark.parametrize("imagej", [False, True])
def test_damaged_files_fail_the_same_way(tmp_path, monkeypatch, damage, imagej):
    path = _write_pages(tmp_path / "d.tif", _frames(), description=_imagej_desc(N) if imagej
                        else None)
    data = bytearray(path.read_bytes())
    ifds = _ifd_offsets(path)
    if damage == "cut in last pixels":
        data = data[:-100]
    elif damage == "cut in last IFD":
        data = data[:ifds[-1] + 20]
    elif damage == "cut mid-file":
        data = data[:len(data) // 2]
    elif damage == "lost last IFD":  # the chain ends one page early
        at = _next_field(path, ifds[-2])
        data[at:at + 4] = b"\0\0\0\0"
    elif damage == "next IFD past the end":
        at = _next_field(path, ifds[-2])
        data[at:at + 4] = struct.pack("<I", len(data) + 1000)
    elif damage == "loop":  # last page points back to page 3
        at = _next_field(path, ifds[-1])
        data[at:at + 4] = struct.pack("<I", ifds[3])
    path.write_bytes(bytes(data))
    fast, slow, taken, _ = _both(path, monkeypatch)
    assert fast == slow
    # a chain that ends early is still a valid chain: walked, and the ImageJ page count
    # catches it afterwards exactly as before; anything else is left to tifffile
    assert taken == (WALKS and damage == "lost last IFD")
    if damage in ("cut in last pixels", "cut in last IFD", "cut mid-file",
                  "next IFD past the end") or (imagej and damage == "lost last IFD"):
        assert fast[0] == "error", fast
        assert "truncated" in fast[1] or "damaged" in fast[1]


@pytest.mark.skipif(not WALKS, reason=f"tifffile {tifffile.__version__}: the walk is off")
def test_walk_leaves_no_trace_when_it_declines(tmp_path, monkeypatch):
    """A declined walk must not have touched tifffile's page list."""
    frames = list(_frames())
    frames[7] = np.zeros((21, 24), np.uint16)
    path = _write_pages(tmp_path / "odd.tif", frames)
    with tifffile.TiffFile(path) as tif:
        assert _ifdwalk.walk_pages(tif, path, path.stat().st_size) is None
        assert len(tif.pages._loaded) == 1 and not tif.pages._indexed
        assert len(tif.pages) == N


# --------------------------------------------------------------------------------------
# reading: frames that are one run of bytes (_read_runs) vs the per-strip loop
# --------------------------------------------------------------------------------------

def _read_all(data, monkeypatch, runs: bool):
    if not runs:
        monkeypatch.setattr(TiffFrames, "_frame_starts", lambda self, nbytes: None)
    try:
        data.close()
        whole = np.asarray(data)
        picked = data[[5, 2, 2, 11, 0]]
        strided = data[1:12:3]
        return whole, picked, strided
    finally:
        monkeypatch.undo()


@pytest.mark.parametrize("kw", [dict(), dict(rowsperstrip=4), dict(byteorder=">", rowsperstrip=7)])
def test_run_reads_equal_strip_reads(tmp_path, monkeypatch, kw):
    frames = _frames(seed=3)
    path = _write_pages(tmp_path / "r.tif", frames, **kw)
    data = _tiff.inspect(path).data
    assert data._frame_starts(20 * 24 * 2) is not None  # the run path is taken
    fast = _read_all(data, monkeypatch, runs=True)
    slow = _read_all(data, monkeypatch, runs=False)
    wants = (frames, frames[[5, 2, 2, 11, 0]], frames[1:12:3])
    for a, b, want in zip(fast, slow, wants, strict=True):
        assert np.array_equal(a, want) and np.array_equal(b, want)


def test_file_cut_after_opening_fails_the_same_way(tmp_path, monkeypatch):
    path = _write_pages(tmp_path / "c.tif", _frames(), rowsperstrip=5)
    data = _tiff.inspect(path).data
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) - 300])
    msgs = []
    for runs in (True, False):
        with pytest.raises(StackReadError, match="cut short") as exc:
            _read_all(data, monkeypatch, runs)
        msgs.append(str(exc.value))
    assert msgs[0] == msgs[1]


def test_strips_out_of_order_use_the_strip_loop(tmp_path):
    """Each frame's second half stored before its first half: not one run."""
    rng = np.random.default_rng(4)
    frames = rng.integers(0, 60000, (4, 6, 8)).astype(np.uint16)
    half = frames[0].nbytes // 2
    blob, offs = bytearray(b"\0" * 16), []
    for f in frames:
        b = f.tobytes()
        second = len(blob)
        blob += b[half:] + b"\0" * 10
        first = len(blob)
        blob += b[:half]
        offs.append([first, second])
    path = tmp_path / "raw.bin"
    path.write_bytes(bytes(blob))
    data = TiffFrames(path, np.arange(4), (6, 8), np.dtype("<u2"), offsets=offs,
                      bytecounts=np.full((4, 2), half))
    assert data._frame_starts(frames[0].nbytes) is None
    assert np.array_equal(np.asarray(data), frames)
    assert np.array_equal(data[[3, 1]], frames[[3, 1]])

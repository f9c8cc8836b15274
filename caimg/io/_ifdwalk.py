"""A fast IFD-chain walk for TIFF files with one page per frame.

Most acquisition software writes one IFD per frame. tifffile parses each of them into a
page object, which costs far more than reading the pixels of small frames. For a plain or
ImageJ multi-page file whose pages all share the first page's image definition,
:func:`walk_pages` reads every page's strip/tile tables straight from the file bytes and
hands tifffile's page list lightweight ``TiffFrame`` objects built from them, so that
``tif.series`` runs unchanged without parsing every IFD again.

This writes private state of ``tifffile.TiffPages`` (``_offsets``, ``_loaded``,
``_indexed``, ``_nextpageoffset``), which exists in this form only since tifffile
2026.2.24 (its "Refactor TiffPages" release). The walk is therefore used only with the
tifffile versions it is tested on (:func:`walk_supported`); with any other version it is
skipped and tifffile reads every page itself, as it always could.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

__all__ = ["PageWalk", "TESTED_TIFFFILE", "walk_supported", "walk_pages"]

#: tifffile versions the walk is tested on: from the release that introduced the private
#: ``TiffPages`` fields it writes, up to (not including) the next year's calendar version,
#: whose changes are unknown. Widen after running tests/io/test_io_pages.py on a new one.
TESTED_TIFFFILE = ((2026, 2, 24), (2027,))


def walk_supported(version: str | None = None) -> bool:
    """Whether :func:`walk_pages` may run with this tifffile version.

    Parameters
    ----------
    version : str, optional
        A tifffile version string; default the installed ``tifffile.__version__``.

    Returns
    -------
    bool
        True within :data:`TESTED_TIFFFILE`; False outside it or for a version that does
        not parse (then tifffile reads the pages itself).

    Examples
    --------
    >>> walk_supported("2026.3.3"), walk_supported("2025.10.16"), walk_supported("dev")
    (True, False, False)
    """
    if version is None:
        version = getattr(tifffile, "__version__", "")
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", str(version))
    if m is None:
        return False
    v = tuple(int(x) for x in m.groups())
    low, high = TESTED_TIFFFILE
    return low <= v < high


# Tags whose values define a page's image (what tifffile's ``TiffPage.hash`` is built
# from): every page must carry the first page's entries for these, byte for byte.
_DEFINING_TAGS = frozenset({
    256, 257, 258, 259, 262,  # ImageWidth, ImageLength, BitsPerSample, Compression, Photometric
    266, 277, 278, 284, 317,  # FillOrder, SamplesPerPixel, RowsPerStrip, PlanarConfig, Predictor
    322, 323, 338, 339, 530,  # TileWidth, TileLength, ExtraSamples, SampleFormat, YCbCrSubsampling
    32997, 32998,             # ImageDepth, TileDepth
})
# tags after which the walk leaves the file to tifffile: SubIFDs, JPEGTables (per page),
# MD Gel and Micro-Manager metadata (their own series logic)
_UNUSUAL_TAGS = frozenset({330, 347, 33445, 51123})
# tifffile series kinds (TiffFile.series order) that take other paths than ImageJ/uniform;
# checked on the first page only (cheap flags)
_OTHER_KINDS = ("shaped", "lsm", "micromanager", "ome", "fluoview", "stk", "sis", "svs", "scn",
                "qpi", "ndpi", "bif", "avs", "eer", "philips", "scanimage", "nih", "mdgel")
# TIFF field types allowed for strip/tile offsets and byte counts: SHORT, LONG, LONG8
_SEG_TYPES = {3: "u2", 4: "u4", 16: "u8"}
# below this many pages tifffile itself is fast enough (and takes its "generic" path)
_WALK_MIN_PAGES = 8


@dataclass
class PageWalk:
    """Pages of a file found by :func:`walk_pages`, in IFD-chain order."""

    ifd_offsets: np.ndarray  # (N,) int64, file offset of each IFD
    offsets: np.ndarray      # (N, n_segments) int64, strip/tile offsets
    bytecounts: np.ndarray   # (N, n_segments) int64, strip/tile byte counts


def _gather(fd: int, starts: np.ndarray, length: int) -> np.ndarray | None:
    """``(len(starts), length)`` uint8: ``length`` bytes of the file at each start, or
    None when the file ends early.
    """
    pread = os.pread
    data = b"".join([pread(fd, length, s) for s in starts.tolist()])
    if len(data) != len(starts) * length:
        return None
    return np.frombuffer(data, np.uint8).reshape(len(starts), length)


def _seg_values(fd: int, entries: np.ndarray, tiff, size: int) -> np.ndarray | None:
    """Values of one strip/tile offsets or byte-counts tag on every page.

    ``entries`` is ``(M, tagsize)`` uint8: that tag's IFD entry on each of ``M`` pages.
    Returns ``(M, count)`` int64, or None when the entries differ in type or count, or
    point outside the file.
    """
    bo = tiff.byteorder
    csize = tiff.offsetsize  # count field: 4 bytes classic, 8 BigTIFF
    types = np.ascontiguousarray(entries[:, 2:4]).view(bo + "u2")[:, 0]
    counts = np.ascontiguousarray(entries[:, 4:4 + csize]).view(f"{bo}u{csize}")[:, 0]
    t, k = int(types[0]), int(counts[0])
    if t not in _SEG_TYPES or k < 1 or (types != t).any() or (counts != k).any():
        return None
    vt = np.dtype(bo + _SEG_TYPES[t])
    nbytes = k * vt.itemsize
    field = entries[:, 4 + csize:]  # the value itself, or the offset to it
    if nbytes <= csize:
        raw = np.ascontiguousarray(field[:, :nbytes])
    else:
        ptr = np.ascontiguousarray(field).view(f"{bo}u{csize}")[:, 0].astype(np.int64)
        if ptr.min() < 0 or int(ptr.max()) + nbytes > size:
            return None
        raw = _gather(fd, ptr, nbytes)
        if raw is None:
            return None
    return raw.view(vt).reshape(len(entries), k).astype(np.int64)


def _walk_chain(fd: int, tiff, first: int, size: int):
    """``(IFD offsets, IFD bytes)`` along the IFD chain: one positioned read per IFD (tag
    count, entries, next offset). None when the chain is unusual: an offset outside the
    file, a backward pointer (so no loops), more than 4096 tags.
    """
    unpack_n = struct.Struct(tiff.tagnoformat).unpack_from
    unpack_o = struct.Struct(tiff.offsetformat).unpack_from
    nsize, tagsize, osize = tiff.tagnosize, tiff.tagsize, tiff.offsetsize
    pread = os.pread
    offs, blocks = [], []
    o, want = first, nsize + osize
    while True:
        if o + nsize > size:
            return None
        data = pread(fd, want, o)
        if len(data) < nsize:
            return None
        n = unpack_n(data, 0)[0]
        need = nsize + n * tagsize + osize
        if n > 4096 or o + need > size:
            return None
        if need != want:  # tag count differs from the previous IFD's: read it again
            want = need
            data = pread(fd, want, o)
            if len(data) != need:
                return None
        offs.append(o)
        blocks.append(data)
        nxt = unpack_o(data, need - osize)[0]
        if nxt == 0:
            return offs, blocks
        if nxt <= o or nxt >= size:
            return None
        o = nxt



def _plain_first_page(pages, tiff, first) -> bool:
    """Whether tifffile has parsed only the first page, and it is of a kind the walk
    handles (plain or ImageJ; no SubIFDs, per-page JPEG tables, OME, LSM, STK, ...).
    """
    if not all(hasattr(pages, a) for a in ("_offsets", "_loaded", "_indexed",
                                           "_nextpageoffset")):
        return False
    return not (tiff.is_ndpi or len(pages._offsets) != 1 or pages._indexed
                or set(pages._loaded) != {0} or any(c in first.tags for c in _UNUSUAL_TAGS)
                or any(getattr(first, "is_" + k, False) for k in _OTHER_KINDS))


def _tag_entries(chain, tiff):
    """``(e0, e1, codes0, codes1)``: the tag entries of page 0 ``(1, n0, tagsize)`` and of
    pages 1.. ``(N - 1, n1, tagsize)`` and their tag codes; None unless pages 1.. all
    carry the same tags and the first page's image-defining entries, byte for byte.
    """
    bo, nsize, tagsize = tiff.byteorder, tiff.tagnosize, tiff.tagsize
    b0, rest = chain[1][0], chain[1][1:]
    n_pages = len(chain[0])
    n0 = (len(b0) - nsize - tiff.offsetsize) // tagsize
    n1 = (len(rest[0]) - nsize - tiff.offsetsize) // tagsize
    if any(len(b) != len(rest[0]) for b in rest):
        return None
    e0 = np.frombuffer(b0, np.uint8)[nsize:nsize + n0 * tagsize].reshape(1, n0, tagsize)
    e1 = np.frombuffer(b"".join(rest), np.uint8).reshape(n_pages - 1, -1)
    del rest
    e1 = e1[:, nsize:nsize + n1 * tagsize].reshape(n_pages - 1, n1, tagsize)
    codes0 = np.ascontiguousarray(e0[0, :, :2]).view(bo + "u2")[:, 0].tolist()
    codes1 = np.ascontiguousarray(e1[:, :, :2]).view(bo + "u2")[..., 0]
    if (codes1 != codes1[0]).any():
        return None
    codes1 = codes1[0].tolist()
    if (any(c in _UNUSUAL_TAGS for c in codes1) or len(set(codes0)) != len(codes0)
            or len(set(codes1)) != len(codes1)
            or {c for c in codes0 if c in _DEFINING_TAGS}
            != {c for c in codes1 if c in _DEFINING_TAGS}):
        return None
    for j, c in enumerate(codes1):
        if c in _DEFINING_TAGS and (e1[:, j, 2:] != e0[0, codes0.index(c), 2:]).any():
            return None
    return e0, e1, codes0, codes1


def _segment_tables(fd: int, tiff, first, size: int, entries):
    """``(offsets, bytecounts)``, each ``(N, n_segments)`` int64, of every page's strips or
    tiles; None when they do not match what tifffile would build from the first page.
    """
    e0, e1, codes0, codes1 = entries
    tiled = 324 in codes0
    off_code, cnt_code = (324, 325) if tiled else (273, 279)
    if off_code not in codes0 or off_code not in codes1 or (273 if tiled else 324) in codes0:
        return None
    key_off = np.asarray(first.dataoffsets, dtype=np.int64)
    key_cnt = np.asarray(first.databytecounts, dtype=np.int64)

    def values(code):
        v0 = _seg_values(fd, e0[:, codes0.index(code)], tiff, size)
        v1 = _seg_values(fd, e1[:, codes1.index(code)], tiff, size)
        if v0 is None or v1 is None or v0.shape[1] != v1.shape[1]:
            return None
        return np.concatenate([v0, v1])

    offsets = values(off_code)
    # tifffile's TiffFrame rejects pages whose segment count differs from the first's
    if offsets is None or offsets.shape[1] != len(key_off) \
            or not np.array_equal(offsets[0], key_off):
        return None
    if first.is_contiguous:  # tifffile takes the first page's byte counts for all
        counts = np.broadcast_to(key_cnt, offsets.shape).copy()
    else:
        if cnt_code not in codes0 or cnt_code not in codes1:
            return None
        counts = values(cnt_code)
        if counts is None or counts.shape != offsets.shape \
                or not np.array_equal(counts[0], key_cnt):
            return None
    if int((offsets + counts).max()) > size or int(offsets.min()) < 0:
        return None
    return offsets, counts


def _install(tif: tifffile.TiffFile, first, ifd_list: list[int], offsets: np.ndarray,
             counts: np.ndarray, n_last: int) -> None:
    """Hand tifffile the chain: lightweight frames (as its own "virtual frame" constructor
    builds them) in place of parsing each IFD again.
    """
    pages, tiff = tif.pages, tif.tiff
    frame = tifffile.TiffFrame
    off_rows = offsets.tolist()
    key_cnt_t = tuple(first.databytecounts)
    cnt_rows = None if first.is_contiguous else counts.tolist()
    loaded = {0: first}
    for i in range(1, len(ifd_list)):
        loaded[i] = frame(tif, i, offset=ifd_list[i], keyframe=first,
                          dataoffsets=tuple(off_rows[i]),
                          databytecounts=key_cnt_t if cnt_rows is None else tuple(cnt_rows[i]))
    pages._offsets = ifd_list
    pages._loaded = loaded
    pages._nextpageoffset = ifd_list[-1] + tiff.tagnosize + n_last * tiff.tagsize
    pages._indexed = True


def walk_pages(tif: tifffile.TiffFile, path: Path, size: int) -> PageWalk | None:
    """Walk the IFD chain of a one-page-per-frame file without a tifffile object per page.

    For a plain or ImageJ multi-page file whose pages all share the first page's image
    definition (:data:`_DEFINING_TAGS`, byte for byte), reads each page's strip/tile
    offsets and byte counts straight from the file bytes (``struct`` along the chain,
    numpy over all IFDs at once) and hands tifffile's page list lightweight
    ``TiffFrame`` objects built from them, so that ``tif.series`` (ImageJ or uniform
    series logic, axes, shape) runs unchanged without parsing every IFD again.

    Parameters
    ----------
    tif : tifffile.TiffFile
        Just opened, with ``pages.useframes = True``; only its first page parsed.
    path : Path
        The file ``tif`` reads (opened once more, read-only, for positioned reads).
    size : int
        File size in bytes.

    Returns
    -------
    PageWalk or None
        None, leaving ``tif`` untouched, for anything else: a tifffile version the walk
        is not tested on (:func:`walk_supported`), fewer than :data:`_WALK_MIN_PAGES`
        pages, SubIFDs, per-page JPEG tables, OME/LSM/STK/... first pages, pages that
        differ from the first, an IFD or strip table outside the file, a chain that does
        not run forward. tifffile then reads the file as before (and reports what is
        wrong with it the way it always did).
    """
    if not walk_supported():
        return None
    pages = tif.pages
    tiff = tif.tiff
    try:
        first = pages.first
    except IndexError:
        return None
    if not _plain_first_page(pages, tiff, first):
        return None
    if not hasattr(os, "pread"):  # pragma: no cover - Windows
        return None
    with open(path, "rb", buffering=0) as fh:
        fd = fh.fileno()
        chain = _walk_chain(fd, tiff, int(first.offset), size)
        if chain is None or len(chain[0]) < _WALK_MIN_PAGES:
            return None
        ifd = np.array(chain[0], dtype=np.int64)
        entries = _tag_entries(chain, tiff)
        del chain
        if entries is None:
            return None
        tables = _segment_tables(fd, tiff, first, size, entries)
        if tables is None:
            return None
    offsets, counts = tables
    _install(tif, first, ifd.tolist(), offsets, counts, n_last=len(entries[3]))
    return PageWalk(ifd_offsets=ifd, offsets=offsets, bytecounts=counts)

"""Labels <-> ImageJ polygons, pure code: outlines of label regions, polygons and ovals
filled into label images, and ROI names.

Pixel conventions
-----------------
ImageJ polygon coordinates are pixel *corners*: pixel ``(row, col)`` covers
``col <= x < col + 1`` and ``row <= y < row + 1``, and ImageJ's ``PolygonFiller`` puts a
pixel inside a polygon ROI when its *centre* ``(col + 0.5, row + 0.5)`` is inside. Exported
ROIs are the traced pixel-edge outline of each label (what ImageJ's wand tool makes), so
import -> export -> import gives back the same pixels. Reading and writing RoiSet files is
in :mod:`caimg.io.rois`.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
from scipy import ndimage as ndi

from ._validation import check_labels
from .errors import RoiError

__all__ = [
    "labels_to_imagej_rois",
    "imagej_rois_to_labels",
    "label_outline",
    "fill_polygon",
    "roi_name",
]

_NAME_RE = re.compile(r"^roi_(\d+)$")


def roi_name(roi: int) -> str:
    """Name of ROI ``roi`` in an exported RoiSet (``"roi_0007"``); read back as id 7.

    Parameters
    ----------
    roi : int
        ROI id (label value).

    Returns
    -------
    str
        ``roi_`` and the id with at least four digits.
    """
    return f"roi_{int(roi):04d}"


# --------------------------------------------------------------------------------------
# label <-> polygon (pure)
# --------------------------------------------------------------------------------------
def label_outline(mask) -> np.ndarray:
    """Pixel-edge outline of the largest 4-connected component of a mask.

    Parameters
    ----------
    mask : (Y, X) bool array

    Returns
    -------
    (N, 2) int array
        Polygon vertices as ImageJ ``(x, y)`` pixel-corner coordinates (x = column), without
        collinear points and without repeating the first vertex. Filling it with the
        pixel-centre rule gives back the component with its holes filled. Empty mask ->
        shape (0, 2).

    Notes
    -----
    Every pixel side between the component and the outside is a directed edge, oriented
    clockwise on screen (interior on the right). Edges are chained into loops; where two
    loops meet at one corner (diagonal neighbours), the walk turns right, which keeps
    diagonal-only neighbours apart (4-connectivity). The outer loop is the one with the
    largest enclosed area.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.empty((0, 2), dtype=np.int64)
    lab, n = ndi.label(mask)
    if n > 1:
        sizes = ndi.sum_labels(np.ones(mask.shape), lab, np.arange(1, n + 1))
        mask = lab == (np.argmax(sizes) + 1)
    p = np.pad(mask, 1)
    r, c = np.nonzero(p[1:-1, 1:-1])
    rp, cp = r + 1, c + 1
    # edges as (x0, y0, x1, y1) in corner coordinates of the unpadded image
    segs = []
    top = ~p[rp - 1, cp]
    segs.append(np.stack([c[top], r[top], c[top] + 1, r[top]], 1))
    right = ~p[rp, cp + 1]
    segs.append(np.stack([c[right] + 1, r[right], c[right] + 1, r[right] + 1], 1))
    bottom = ~p[rp + 1, cp]
    segs.append(np.stack([c[bottom] + 1, r[bottom] + 1, c[bottom], r[bottom] + 1], 1))
    left = ~p[rp, cp - 1]
    segs.append(np.stack([c[left], r[left] + 1, c[left], r[left]], 1))
    edges = np.concatenate(segs).tolist()

    out: dict = {}
    for e in edges:
        out.setdefault((e[0], e[1]), []).append((e[2], e[3]))
    used: set = set()
    loops = []
    for e in edges:
        start = (e[0], e[1], e[2], e[3])
        if start in used:
            continue
        loop = []
        cur = start
        while cur not in used:
            used.add(cur)
            loop.append((cur[0], cur[1]))
            x1, y1 = cur[2], cur[3]
            dx, dy = x1 - cur[0], y1 - cur[1]
            options = [o for o in out[(x1, y1)] if (x1, y1, o[0], o[1]) not in used]
            if not options:
                break
            if len(options) > 1:
                want = (x1 - dy, y1 + dx)  # right turn on screen (y down)
                nxt = want if want in options else options[0]
            else:
                nxt = options[0]
            cur = (x1, y1, nxt[0], nxt[1])
        loops.append(np.array(loop, dtype=np.int64))

    def area2(poly):
        x, y = poly[:, 0], poly[:, 1]
        return abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))

    poly = max(loops, key=area2)
    # drop collinear vertices
    prev = np.roll(poly, 1, axis=0)
    nxt = np.roll(poly, -1, axis=0)
    cross = (poly[:, 0] - prev[:, 0]) * (nxt[:, 1] - poly[:, 1]) - \
            (poly[:, 1] - prev[:, 1]) * (nxt[:, 0] - poly[:, 0])
    return poly[cross != 0]


def fill_polygon(xy, shape):
    """Pixels whose centre lies inside the polygon ``xy`` (ImageJ's pixel rule).

    Parameters
    ----------
    xy : (N, 2) array
        Vertices as ImageJ ``(x, y)`` pixel-corner coordinates.
    shape : (int, int)
        (Y, X) of the mask.

    Returns
    -------
    (Y, X) bool array
    """
    from skimage.draw import polygon as draw_polygon

    xy = np.asarray(xy, dtype=np.float64)
    mask = np.zeros(shape, dtype=bool)
    if len(xy) < 3:
        return mask
    rr, cc = draw_polygon(xy[:, 1] - 0.5, xy[:, 0] - 0.5, shape=shape)
    mask[rr, cc] = True
    return mask


def _fill_oval(left, top, width, height, shape):
    """Pixels whose centre lies inside the ellipse inscribed in the bounding rectangle."""
    mask = np.zeros(shape, dtype=bool)
    if width <= 0 or height <= 0:
        return mask
    cx, cy = left + width / 2.0, top + height / 2.0
    r0, r1 = max(int(np.floor(top)), 0), min(int(np.ceil(top + height)), shape[0])
    c0, c1 = max(int(np.floor(left)), 0), min(int(np.ceil(left + width)), shape[1])
    if r0 >= r1 or c0 >= c1:
        return mask
    yy, xx = np.mgrid[r0:r1, c0:c1]
    inside = (((xx + 0.5 - cx) / (width / 2.0)) ** 2
              + ((yy + 0.5 - cy) / (height / 2.0)) ** 2) <= 1.0
    mask[r0:r1, c0:c1] = inside
    return mask


def labels_to_imagej_rois(labels) -> list:
    """One ImageJ polygon ROI per label.

    Parameters
    ----------
    labels : (Y, X) int array
        Label image, 0 = background.

    Returns
    -------
    list of roifile.ImagejRoi
        In increasing id order; ROI ``k`` is named :func:`roi_name` ``(k)`` (``"roi_0007"``),
        which :func:`caimg.io.rois.read_rois` reads back as id ``k``. Each is a traced (pixel-edge)
        polygon of the label's largest 4-connected part with holes filled; labels that
        are a single hole-free 4-connected region come back pixel for pixel.
    """
    import roifile

    labels = check_labels(labels)
    ids = np.unique(labels)
    ids = ids[ids > 0]
    slices = ndi.find_objects(labels)
    rois = []
    for rid in ids:
        sl = slices[rid - 1]
        poly = label_outline(labels[sl] == rid)
        poly = poly + [sl[1].start, sl[0].start]
        roi = roifile.ImagejRoi.frompoints(poly.astype(np.int32), name=roi_name(rid))
        roi.roitype = roifile.ROI_TYPE.TRACED
        roi.options = roifile.ROI_OPTIONS.NONE
        # corner coordinates: the bounds are the polygon's own extent (frompoints adds 1)
        roi.right = int(poly[:, 0].max())
        roi.bottom = int(poly[:, 1].max())
        rois.append(roi)
    return rois


def _roi_ids(rois, where) -> list[int]:
    """Label id of each ROI: the number in names caimg wrote (``roi_0007`` -> 7), else its
    1-based position, else the next free id.
    """
    ids = []
    taken = set()
    parsed = []
    for roi in rois:
        m = _NAME_RE.match(roi.name or "")
        parsed.append(int(m.group(1)) if m and int(m.group(1)) > 0 else None)
    named = [p for p in parsed if p is not None]
    if len(set(named)) != len(named):
        dup = sorted({p for p in named if named.count(p) > 1})
        raise RoiError(f"{where}: ROI names give the same id twice ({dup}); expected unique "
                       f"names like 'roi_0007'")
    taken.update(named)
    next_free = 1
    for i, p in enumerate(parsed, start=1):
        if p is not None:
            ids.append(p)
            continue
        rid = i if i not in taken else None
        if rid is None:
            while next_free in taken:
                next_free += 1
            rid = next_free
        taken.add(rid)
        ids.append(rid)
    return ids


def imagej_rois_to_labels(rois, shape, *, where="ROIs") -> np.ndarray:
    """Rasterise ImageJ ROIs into a label image with ImageJ's pixel rules.

    Parameters
    ----------
    rois : sequence of roifile.ImagejRoi
    shape : (int, int)
        (Y, X) of the image the ROIs belong to.
    where : str
        Name of the file, for messages.

    Returns
    -------
    (Y, X) int32 array
        ROI ``i`` (1-based, in order) gets label ``i``, unless its name is one caimg wrote
        (``roi_0007`` -> 7). Where ROIs overlap, the later one wins (with a warning).
        Line and point ROIs have no area and are skipped with a warning.

    Raises
    ------
    RoiError
        When a ROI lies entirely outside ``shape``, or two ROIs claim the same id.
    """
    import roifile

    shape = tuple(int(s) for s in shape)
    T = roifile.ROI_TYPE
    ids = _roi_ids(rois, where)

    labels = np.zeros(shape, dtype=np.int32)
    skipped, overlap, clipped = [], 0, []
    for roi, rid in zip(rois, ids, strict=True):
        rtype = roi.roitype
        name = roi.name or f"#{rid}"
        if roi.composite or (rtype == T.RECT and roi.multi_coordinates is not None):
            mask = np.zeros(shape, dtype=bool)
            for part in roi.coordinates(multi=True):
                mask ^= fill_polygon(part, shape)  # even-odd: inner paths are holes
        elif rtype == T.RECT:
            mask = np.zeros(shape, dtype=bool)
            r0, r1 = max(roi.top, 0), min(roi.bottom, shape[0])
            c0, c1 = max(roi.left, 0), min(roi.right, shape[1])
            if r0 < r1 and c0 < c1:
                mask[r0:r1, c0:c1] = True
        elif rtype == T.OVAL:
            mask = _fill_oval(roi.left, roi.top, roi.right - roi.left, roi.bottom - roi.top, shape)
        elif rtype in (T.POLYGON, T.FREEHAND, T.TRACED):
            xy = roi.coordinates()
            if len(xy) < 3:
                raise RoiError(f"{where}: ROI '{name}' is a {T(rtype).name.lower()} with "
                               f"{len(xy)} vertex(es) at (x, y) {np.asarray(xy).tolist()}; "
                               "expected a polygon of at least 3 vertices enclosing an area "
                               "(redraw or delete it in Fiji's ROI Manager)")
            mask = fill_polygon(xy, shape)
        else:
            skipped.append(f"{name} ({T(rtype).name.lower()})")
            continue
        inside = (roi.right > 0 and roi.bottom > 0 and roi.left < shape[1]
                  and roi.top < shape[0])
        if not mask.any() and inside:
            raise RoiError(f"{where}: ROI '{name}' (bounds x {roi.left}..{roi.right}, "
                           f"y {roi.top}..{roi.bottom}) lies on the image of shape (Y, X) = "
                           f"{shape} but encloses no pixel centre; expected an outline around "
                           "at least one pixel (redraw or delete it in Fiji's ROI Manager)")
        if not mask.any():
            raise RoiError(f"{where}: ROI '{name}' (bounds x {roi.left}..{roi.right}, "
                           f"y {roi.top}..{roi.bottom}) has no pixel inside the image of shape "
                           f"(Y, X) = {shape}; expected ROIs drawn on an image of this size")
        if roi.left < 0 or roi.top < 0 or roi.right > shape[1] or roi.bottom > shape[0]:
            clipped.append(name)
        overlap += int(np.count_nonzero(labels[mask]))
        labels[mask] = rid
    if skipped:
        warnings.warn(f"{where}: skipped {len(skipped)} ROI(s) without area: "
                      f"{', '.join(skipped[:5])}", stacklevel=3)
    if clipped:
        warnings.warn(f"{where}: {len(clipped)} ROI(s) reach beyond the image of shape {shape} "
                      f"and were clipped: {', '.join(clipped[:5])}", stacklevel=3)
    if overlap:
        warnings.warn(f"{where}: {overlap} pixel(s) belong to more than one ROI; the later ROI "
                      f"in the file keeps them", stacklevel=3)
    return labels

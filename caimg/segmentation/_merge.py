"""Merging ROIs that are pieces of one cell (:func:`merge_fragments`, :func:`merge_isolated`).

Pieces come from a too-small cell diameter, a dark nucleus (sectors of the cytoplasm
around it) or a granular cytoplasm (parts of the cell brighter than others). Pure: arrays
in, arrays out.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from ._common import hull_area, mad_sd

__all__ = ["merge_fragments", "merge_isolated"]


def _rim_dip(labels, smooth, a, b):
    """How much the border of ROIs ``a`` and ``b`` dips below the rest of their union's rim.

    The rim is the band of the union within a sixth of its equivalent diameter (at least
    2 px) of its outline; the border's part of it is compared with the rest of it, at the
    same depth, so the dimmer edge of a cell does not count as a dip. Two cells pressed
    together meet in a notch where both are at their dim edges (a dip); two pieces of one
    cell cut through a dark nucleus meet in cytoplasm (no dip). Returns ``1 - border /
    rest`` (inf when either part is too small to tell).
    """
    ys, xs = np.nonzero((labels == a) | (labels == b))
    y0, y1 = max(ys.min() - 1, 0), ys.max() + 2
    x0, x1 = max(xs.min() - 1, 0), xs.max() + 2
    lab = labels[y0:y1, x0:x1]
    ma, mb = lab == a, lab == b
    union = ma | mb
    depth = max(2.0, 2.0 * math.sqrt(union.sum() / math.pi) / 6.0)
    dist = ndi.distance_transform_edt(union)
    rim = union & (dist <= depth)
    cross = np.ones((3, 3), bool)
    border = (ma & ndi.binary_dilation(mb, cross)) | (mb & ndi.binary_dilation(ma, cross))
    on = rim & border
    off = rim & ~ndi.binary_dilation(border, cross, iterations=2)
    if on.sum() < 3 or off.sum() < 10:
        return math.inf
    v = smooth[y0:y1, x0:x1]
    rest = float(np.median(v[off]))
    if rest <= 0:
        return math.inf
    return 1.0 - float(np.median(v[on])) / rest


def merge_fragments(labels, smooth, *, max_dip=0.08, max_step=1.4, min_solidity=0.93,
                    textured_step=2.0, min_texture=0.0, textured_elongation=1.6,
                    textured_solidity=0.9):
    """Merge adjacent ROIs that are pieces of one cell (no dip between them).

    Two ROIs sharing a border are one cell when the image along their border hardly dips
    below the dimmer one's median (``1 - border / min(median) < max_dip``), their medians
    differ by less than the factor ``max_step`` (a dim cell pressed against a bright one
    is kept apart) and their union fills at least ``min_solidity`` of its convex hull (two
    round cells touching make a waist). Pairs are merged greedily, smallest dip first;
    the merged ROI keeps the smaller id. Scale-free: this is what removes the fragments
    that a too-small cell diameter, a textured interior or a nucleus leave inside or at
    the edge of a cell.

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X)
        ROIs 1..N, 0 = background.
    smooth : ndarray of float64, shape (Y, X)
        Smoothed, background-flattened image.
    max_dip, max_step, min_solidity : float
        The merge rule (see above).
    textured_step, min_texture : float
        Texture-aware step: two pieces that are both textured (fine texture, the image
        less its 2-px Gaussian blur, robust SD inside each piece at least ``min_texture``
        of its median) may differ by up to the factor ``textured_step``. Coarse granules
        make one part of a cell 1.5-2.5x brighter than another and the watershed cuts
        there; the granules also make each part rough, which a smooth cell pressed
        against a brighter or dimmer one is not. ``min_texture = 0`` (default) turns it off.
    textured_elongation, textured_solidity : float
        Two such rough ROIs are merged when their union, after a 3 x 3 closing (dark
        granules at the edge leave notches), fills ``textured_solidity`` of its convex
        hull and is round (moment ellipse at most ``textured_elongation`` times as long
        as wide): the pieces of one cell make one cell; two granular cells side by side
        make a union about twice as long as wide.

    Returns
    -------
    ndarray of int32, shape (Y, X)
        The ROIs after merging (ids not consecutive).
    """
    labels = np.asarray(labels, dtype=np.int32)
    n = int(labels.max(initial=0))
    if n < 2:
        return labels
    idx = np.arange(1, n + 1)
    med = np.zeros(n + 1)
    med[1:] = ndi.median(smooth, labels, idx)
    vals = {}
    for a_img, b_img, sa, sb in ((labels[:, :-1], labels[:, 1:], smooth[:, :-1], smooth[:, 1:]),
                                 (labels[:-1, :], labels[1:, :], smooth[:-1, :], smooth[1:, :])):
        border = (a_img != b_img) & (a_img > 0) & (b_img > 0)
        if not border.any():
            continue
        pa, pb = a_img[border], b_img[border]
        key = np.minimum(pa, pb).astype(np.int64) * (n + 1) + np.maximum(pa, pb)
        v = np.minimum(sa[border], sb[border])
        order = np.argsort(key, kind="stable")
        key, v = key[order], v[order]
        u, start = np.unique(key, return_index=True)
        for k_, part in zip(u.tolist(), np.split(v, start[1:]), strict=True):
            vals.setdefault(k_, []).append(part)
    cand = []
    texture = _fine_texture(labels, smooth, med) if min_texture > 0 else None
    for k_, parts in vals.items():
        a, b = divmod(k_, n + 1)
        lo, hi = min(med[a], med[b]), max(med[a], med[b])
        if lo <= 0 or hi / lo >= max(max_step, textured_step if texture is not None else 0):
            continue
        rough = texture is not None and min(texture[a], texture[b]) >= min_texture
        stepped = hi / lo >= max_step
        if stepped and not rough:
            continue  # a step between smooth ROIs: a dim cell against a bright one
        border_level = float(np.median(np.concatenate(parts)))
        dip = 1.0 - border_level / lo
        if dip >= max_dip:
            # a border that dips only in its middle crosses a dark nucleus: near the
            # union's outline it runs through cytoplasm as bright as the rest of the rim
            dip = _rim_dip(labels, smooth, a, b)
        if dip < max_dip:
            cand.append((dip, a, b, stepped, rough))
    if not cand:
        return labels
    cand.sort()
    parent = np.arange(n + 1)

    def root(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    slices = ndi.find_objects(labels)
    members = {i: [i] for i in idx.tolist()}
    for _dip, a, b, stepped, rough in cand:
        ra, rb = root(a), root(b)
        if ra == rb:
            continue
        group = members[ra] + members[rb]
        m = np.isin(labels[_group_box(slices, group)], group)
        if not ((not stepped and _one_cell(m, min_solidity))
                or (rough and _one_cell(m, textured_solidity, textured_elongation))):
            continue
        keep, gone = min(ra, rb), max(ra, rb)
        parent[gone] = keep
        members[keep] = group
        del members[gone]
    # rings of sectors around a nucleus: pieces with no step between them
    _merge_rings([c[1:3] for c in cand if not c[3]], labels, slices, members,
                 root, parent, min_solidity)
    roots = np.array([root(i) for i in range(n + 1)])
    return roots[labels].astype(np.int32)


def merge_isolated(labels, smooth, *, min_solidity=0.88, max_elongation=1.6, max_area=1.55,
                   max_step=2.0):
    """Merge the ROIs of a group that touches no other ROI when the group is one cell.

    A granular cell's dark granules can cut it into pieces whose borders dip like the
    notch between two cells, so :func:`merge_fragments` keeps them apart. A group of ROIs
    that touch each other and nothing else (background all round) is one cell when their
    union (holes filled) is the size of one cell (at most ``max_area`` x the median ROI's
    area), round (moment ellipse at most ``max_elongation`` times as long as wide) and
    solid (at least ``min_solidity`` of its convex hull), and the medians of its ROIs
    differ by less than the factor ``max_step``. Two cells side by side make a union about
    twice one cell's area and twice as long as wide; a small cell against a big one, a
    union longer than one cell (a disc of radius 5 px against one of 9 px: 1.65x as long as
    wide); a dim cell against one more than twice as bright is two cells (granules make
    one part of a cell up to about twice as bright as another).

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X)
        ROIs 1..N, 0 = background.
    smooth : ndarray of float64, shape (Y, X)
        Smoothed, background-flattened image.
    min_solidity, max_elongation, max_area, max_step : float
        The rule above; ``max_area = 0`` turns it off.

    Returns
    -------
    ndarray of int32, shape (Y, X)
        The ROIs after merging (a merged group keeps its smallest id).

    Examples
    --------
    >>> lab = np.zeros((12, 32), int)
    >>> lab[2:10, 2:6], lab[2:10, 6:9] = 1, 2       # one cell in two pieces
    >>> lab[2:10, 13:20] = 3                        # a cell of its own
    >>> lab[2:10, 23:30] = 4                        # and another one
    >>> np.unique(merge_isolated(lab, np.ones(lab.shape))).tolist()
    [0, 1, 3, 4]
    """
    labels = np.asarray(labels, dtype=np.int32)
    area = np.bincount(labels.ravel())[1:]
    if max_area <= 0 or (area > 0).sum() < 3:
        return labels
    limit = max_area * float(np.median(area[area > 0]))
    med = np.zeros(len(area) + 1)
    med[1:] = ndi.median(smooth, labels, np.arange(1, len(area) + 1))
    groups, _ = ndi.label(labels > 0)
    out = labels.copy()
    for g, box in enumerate(ndi.find_objects(groups), start=1):
        m = groups[box] == g
        ids = np.unique(labels[box][m])
        if len(ids) < 2 or m.sum() > limit:
            continue
        lo, hi = med[ids].min(), med[ids].max()
        if not (lo > 0 and hi < max_step * lo):
            continue
        filled = ndi.binary_fill_holes(np.pad(m, 1))
        if _elongation(filled) > max_elongation:
            continue
        hull = hull_area(filled)
        if hull is not None and filled.sum() >= min_solidity * hull:
            out[box][m] = ids.min()
    return out


def _fine_texture(labels, smooth, med, sigma_px=2.0):
    """Per ROI (index = id), the robust SD of ``smooth`` less its ``sigma_px`` Gaussian blur
    inside the ROI (less its outline pixels), relative to the ROI's median ``med``: granules
    and coarse texture, not the dome of a smooth cell (inf where the median is not > 0).
    """
    hp = smooth - ndi.gaussian_filter(smooth, sigma_px)
    core = np.where(ndi.grey_erosion(labels, size=3) == labels, labels, 0)
    out = np.full(len(med), np.inf)
    idx = np.arange(1, len(med))
    sd = ndi.labeled_comprehension(hp, core, idx, mad_sd, float, np.nan)
    alls = ndi.labeled_comprehension(hp, labels, idx, mad_sd, float, 0.0)
    sd = np.where(np.isfinite(sd), sd, alls)  # too thin for a core: all its pixels
    # less the noise's share (measured the same way on the free pixels): roughness, not noise
    bg = labels == 0
    noise = mad_sd(hp[bg]) if bg.sum() > 20 else 0.0
    sd = np.sqrt(np.clip(sd * sd - noise * noise, 0.0, None))
    ok = med[1:] > 0
    out[1:][ok] = sd[ok] / med[1:][ok]
    return out


def _one_cell(mask, min_solidity, max_elongation=None):
    """Whether the union ``mask`` of some ROIs is shaped like one cell: it fills
    ``min_solidity`` of its convex hull; with ``max_elongation`` (pieces of a granular
    cell), measured after a 3 x 3 closing (dark granules at the edge leave notches that
    the ROI's own closing fills later), and its moment ellipse is at most that many times
    as long as wide.
    """
    if max_elongation is not None:
        mask = ndi.binary_closing(np.pad(mask, 2), np.ones((3, 3), bool))
        if _elongation(mask) > max_elongation:
            return False
    hull = hull_area(mask)
    return hull is not None and mask.sum() >= min_solidity * hull


def _elongation(mask):
    """Length over width of the moment ellipse of the pixels of ``mask`` (bool image)."""
    rr, cc = np.nonzero(mask)
    cov = np.cov(np.vstack([rr, cc]).astype(float)) + np.eye(2) / 12.0 if rr.size > 1 else None
    if cov is None:
        return 1.0
    lo, hi = np.linalg.eigvalsh(cov)
    return float(math.sqrt(hi / max(lo, 1e-12)))


def _group_box(slices, group):
    """The bounding box of the ROIs ``group`` (ids into ``slices`` from find_objects)."""
    return tuple(slice(min(slices[g - 1][k].start for g in group),
                       max(slices[g - 1][k].stop for g in group)) for k in range(2))


def _merge_rings(cand, labels, slices, members, root, parent, min_solidity):
    """Second pass of :func:`merge_fragments`: pieces of a ring around a dark nucleus.

    Three sectors of one cell's cytoplasm make a C shape two at a time, which fails the
    solidity test; all of them together, with the nucleus they enclose, make the cell. So
    every group of candidate pairs linked through each other that is still in pieces is
    merged whole when its union, holes filled, passes the test.
    """
    link = {}

    def top(x):
        while link.get(x, x) != x:
            x = link[x]
        return x

    for a, b in cand:
        ta, tb = top(a), top(b)
        if ta != tb:
            link[max(ta, tb)] = min(ta, tb)
    comps = {}
    for a, b in cand:
        comps.setdefault(top(a), set()).update((a, b))
    for ids in comps.values():
        roots = {root(i) for i in ids}
        if len(roots) < 2:
            continue
        group = sorted({g for r in roots for g in members[r]})
        m = ndi.binary_fill_holes(np.isin(labels[_group_box(slices, group)], group))
        hull = hull_area(m)
        if hull is None or m.sum() < min_solidity * hull:
            continue
        keep = min(roots)
        for r in roots - {keep}:
            parent[r] = keep
            members[keep] = members[keep] + members.pop(r)

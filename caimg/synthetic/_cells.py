"""Cell geometry of the synthetic generator.

Shapes, placement (isolated cells and touching clusters), the static fluorescence
profile, and which cells touch.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from ..errors import ConfigError

__all__ = ["touching_cells", "place_cells", "cell_profile", "illumination", "add_neurites"]


def touching_cells(labels):
    """Which labels share a border (4-connected) with another label.

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X)
        0 = background.

    Returns
    -------
    ndarray of bool, shape (labels.max(),)
        Entry ``i`` is True when label ``i + 1`` touches another label.
    """
    lab = np.asarray(labels)
    n = int(lab.max()) if lab.size else 0
    touch = np.zeros(n + 1, dtype=bool)
    for a, b in ((lab[1:, :], lab[:-1, :]), (lab[:, 1:], lab[:, :-1])):
        m = (a != b) & (a > 0) & (b > 0)
        touch[a[m]] = True
        touch[b[m]] = True
    return touch[1:]


def _raster_cell(rng, k, center, cell):
    """Boolean mask, normalised radius and nucleus weight of one cell in its bounding box."""
    a, b, ang, harm = cell["a"], cell["b"], cell["angle"], cell["harm"]
    rmax = max(a, b) * (1 + sum(abs(h[0]) for h in harm)) + 1
    r0 = int(math.floor(center[0] - rmax))
    c0 = int(math.floor(center[1] - rmax))
    r1 = int(math.ceil(center[0] + rmax)) + 1
    c1 = int(math.ceil(center[1] + rmax)) + 1
    # crop the bounding box to the image
    r0, c0 = max(r0, 0), max(c0, 0)
    r1, c1 = min(r1, k["shape"][0]), min(c1, k["shape"][1])
    rr, cc = np.mgrid[r0:r1, c0:c1]
    dy = rr - center[0]
    dx = cc - center[1]
    u = dx * math.cos(ang) + dy * math.sin(ang)
    v = -dx * math.sin(ang) + dy * math.cos(ang)
    theta = np.arctan2(v / b, u / a)
    mod = np.ones_like(theta)
    for amp, order, phase in harm:
        mod = mod + amp * np.cos(order * theta + phase)
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2) / mod
    mask = rho <= 1.0
    return (r0, c0), mask, rho


def _new_cell_shape(rng, k):
    d = rng.uniform(k["diameter_min_px"], k["diameter_max_px"])
    lo = k.get("aspect_min", 1.0)
    aspect = rng.uniform(lo, max(lo, k["aspect_max"]))
    a = d / 2 * math.sqrt(aspect)
    b = d / 2 / math.sqrt(aspect)
    harm = [(k["irregularity"] * rng.normal() / (order - 1), order, rng.uniform(0, 2 * np.pi))
            for order in (2, 3, 4)]
    harm = [(float(np.clip(h, -0.25, 0.25)), o, p) for h, o, p in harm]
    return {"a": a, "b": b, "angle": rng.uniform(0, np.pi), "harm": harm, "radius": d / 2}


def _cluster_sizes(k, rng):
    """Sizes of the touching clusters (2-4 cells each) and the number of isolated cells."""
    n = k["n_cells"]
    n_touch = int(round(k["touching_fraction"] * n))
    if n_touch == 1:
        n_touch = 2 if n >= 2 else 0
    n_touch = min(n_touch, n)
    clusters = []
    if n_touch >= 2:
        n_cl = max(1, int(round(n_touch / 2.4)))
        n_cl = min(n_cl, n_touch // 2)
        sizes = np.full(n_cl, 2)
        for _ in range(n_touch - 2 * n_cl):
            sizes[rng.integers(n_cl)] += 1
        clusters = [int(s) for s in sizes]
    return clusters, n - n_touch


class _Canvas:
    """The label and normalised-radius images cells are placed on, and the cells so far.

    ``place_isolated`` and ``attach`` draw from ``rng`` in a fixed order; ``commit`` writes
    a cell only when it keeps its neighbours whole.
    """

    def __init__(self, k, rng):
        self.k = k
        self.rng = rng
        self.ny, self.nx = k["shape"]
        self.margin = int(k["margin"]) or int(math.ceil(k["drift_px"])) + 2
        self.gap = gap = int(k["min_gap_px"])
        self.labels = np.zeros((self.ny, self.nx), dtype=np.int32)
        self.rho_img = np.full((self.ny, self.nx), np.inf)
        self.cells = []
        # Euclidean gap: a disk, so diagonal neighbours keep the same distance
        yy, xx = np.mgrid[-gap:gap + 1, -gap:gap + 1]
        self.gap_disk = yy ** 2 + xx ** 2 <= gap ** 2

    def fits(self, origin, mask):
        """Whether the mask stays ``margin`` pixels inside the image."""
        r0, c0 = origin
        margin = self.margin
        rows = np.nonzero(mask.any(axis=1))[0]
        cols = np.nonzero(mask.any(axis=0))[0]
        if rows.size == 0:
            return False
        return (r0 + rows[0] >= margin and r0 + rows[-1] < self.ny - margin
                and c0 + cols[0] >= margin and c0 + cols[-1] < self.nx - margin)

    def neighbours(self, origin, mask):
        """Labels within `gap` pixels of the mask."""
        r0, c0 = origin
        gap, ny, nx = self.gap, self.ny, self.nx
        pad = gap + 1
        m = np.pad(mask, pad)
        if gap > 0:
            m = ndi.binary_dilation(m, self.gap_disk)
        rs, cs = r0 - pad, c0 - pad
        sub_r = slice(max(rs, 0), min(rs + m.shape[0], ny))
        sub_c = slice(max(cs, 0), min(cs + m.shape[1], nx))
        mm = m[sub_r.start - rs:sub_r.stop - rs, sub_c.start - cs:sub_c.stop - cs]
        return set(np.unique(self.labels[sub_r, sub_c][mm]).tolist()) - {0}

    def commit(self, origin, mask, rho, cell, allowed):
        """Write a cell, splitting overlaps with `allowed` labels; False if it fails."""
        labels, cells = self.labels, self.cells
        r0, c0 = origin
        sl = (slice(r0, r0 + mask.shape[0]), slice(c0, c0 + mask.shape[1]))
        lab_sub = labels[sl]
        rho_sub = self.rho_img[sl]
        take = mask & ((lab_sub == 0) | (rho < rho_sub))
        new_label = len(cells) + 1
        # every neighbour must keep most of its area and stay in one piece
        for lab_id in allowed:
            lost = int(np.count_nonzero(take & (lab_sub == lab_id)))
            if lost > 0.35 * cells[lab_id - 1]["area"]:
                return False
        if np.count_nonzero(take) < 0.65 * np.count_nonzero(mask):
            return False
        trial = lab_sub.copy()
        trial[take] = new_label
        for lab_id in list(allowed) + [new_label]:
            comp, ncomp = ndi.label(trial == lab_id)
            if ncomp > 1:
                return False
        if allowed:
            touch = touching_cells(np.where(np.isin(trial, list(allowed) + [new_label]),
                                            trial, 0))
            if not touch[new_label - 1]:
                return False
        labels[sl] = trial
        rho_sub[take] = rho[take]
        for lab_id in allowed:
            cells[lab_id - 1]["area"] = int(np.count_nonzero(labels == lab_id))
        cell["area"] = int(np.count_nonzero(trial == new_label))
        cell["origin"] = origin
        cell["bbox_shape"] = mask.shape
        cells.append(cell)
        return True

    def place_isolated(self, max_tries=400):
        """Place one cell clear of all others; its label, or None after ``max_tries``."""
        k, rng, margin = self.k, self.rng, self.margin
        for _ in range(max_tries):
            cell = _new_cell_shape(rng, k)
            center = (rng.uniform(margin, self.ny - margin), rng.uniform(margin, self.nx - margin))
            origin, mask, rho = _raster_cell(rng, k, center, cell)
            if not self.fits(origin, mask) or self.neighbours(origin, mask):
                continue
            cell["center"] = center
            if self.commit(origin, mask, rho, cell, []):
                return len(self.cells)
        return None

    def attach(self, members, max_tries=60):
        """Place one cell touching the cluster ``members`` only; its label, or None."""
        k, rng, cells = self.k, self.rng, self.cells
        for _ in range(max_tries):
            parent = members[rng.integers(len(members))]
            pc = cells[parent - 1]
            cell = _new_cell_shape(rng, k)
            phi = rng.uniform(0, 2 * np.pi)
            dist = (pc["radius"] + cell["radius"]) * rng.uniform(0.8, 0.95)
            center = (pc["center"][0] + dist * math.sin(phi),
                      pc["center"][1] + dist * math.cos(phi))
            origin, mask, rho = _raster_cell(rng, k, center, cell)
            if not self.fits(origin, mask):
                continue
            near = self.neighbours(origin, mask)
            if not near or not near <= set(members):
                continue
            cell["center"] = center
            if self.commit(origin, mask, rho, cell, sorted(near)):
                return len(cells)
        return None


def place_cells(k, rng):
    """Place the cells: touching clusters first, then the isolated cells.

    Parameters
    ----------
    k : dict
        Resolved knobs (``shape``, ``n_cells``, ``touching_fraction``, ``min_gap_px``,
        ``margin``, ``drift_px``, cell-shape knobs).
    rng : numpy.random.Generator
        The recording's generator; draws are made in a fixed order, so a seed gives the
        same cells.

    Returns
    -------
    labels : ndarray of int32, shape (Y, X)
        Cell masks 1..N, 0 = background.
    rho_img : ndarray of float64, shape (Y, X)
        Normalised radius (0 at the centre, 1 at the outline) of the cell owning each
        pixel; inf outside cells.
    cells : list of dict
        Per cell: shape (``a``, ``b``, ``angle``, ``harm``, ``radius``), ``center``,
        ``origin`` and ``bbox_shape`` of its bounding box, ``area``.

    Raises
    ------
    ConfigError
        When the cells do not fit.
    """
    clusters, n_isolated = _cluster_sizes(k, rng)
    canvas = _Canvas(k, rng)
    leftover = 0
    for size in clusters:
        seed = canvas.place_isolated()
        if seed is None:
            leftover += size
            continue
        members = [seed]
        for _ in range(size - 1):
            new = canvas.attach(members)
            if new is None:
                leftover += 1
            else:
                members.append(new)
        if len(members) == 1:  # could not attach anything: seed counts as isolated
            leftover -= 1
    for _ in range(n_isolated + leftover):
        if canvas.place_isolated() is None:
            raise ConfigError(
                f"n_cells = {k['n_cells']}: could only place {len(canvas.cells)} cells of "
                f"diameter {k['diameter_min_px']:g}-{k['diameter_max_px']:g} px with "
                f"min_gap_px = {canvas.gap} in shape = {k['shape']}; expected fewer or "
                f"smaller cells or a larger shape")
    return canvas.labels, canvas.rho_img, canvas.cells


def cell_profile(labels, rho_img, cells, k, rng):
    """Draw the static per-pixel fluorescence weights: dome, nucleus, texture.

    Parameters
    ----------
    labels : ndarray of int32, shape (Y, X)
        Cell masks 1..N.
    rho_img : ndarray of float64, shape (Y, X)
        Normalised radius of each cell pixel (:func:`place_cells`).
    cells : list of dict
        The cells, as :func:`place_cells` returns them.
    k : dict
        Resolved knobs (:func:`resolve_knobs`).
    rng : numpy.random.Generator
        The recording's generator (the order of its draws is part of the contract).

    Returns
    -------
    profile : ndarray of float64, shape (Y, X)
        Weights, 0 outside cells, scaled so that after the edge blur the mean over each
        mask is 1.
    has_nucleus : ndarray of bool, shape (N,)
        Which cells have a dimmer nucleus.
    """
    ny, nx = labels.shape
    n = len(cells)
    prof = np.zeros((ny, nx))
    inside = labels > 0
    rho = np.where(inside, np.clip(rho_img, 0, 1), 0.0)
    prof[inside] = 1.0 - k["cell_dome"] * rho[inside] ** 2
    has_nucleus = rng.random(n) < k["nucleus_fraction"]
    for i, cell in enumerate(cells):
        if not has_nucleus[i]:
            continue
        a, b, ang = cell["a"] * 0.45, cell["b"] * 0.45, cell["angle"]
        off = rng.uniform(-0.15, 0.15, size=2) * cell["radius"]
        cy, cx = cell["center"][0] + off[0], cell["center"][1] + off[1]
        r0, c0 = cell["origin"]
        h, w = cell["bbox_shape"]
        rr, cc = np.mgrid[r0:r0 + h, c0:c0 + w]
        dy, dx = rr - cy, cc - cx
        u = dx * math.cos(ang) + dy * math.sin(ang)
        v = -dx * math.sin(ang) + dy * math.cos(ang)
        rn = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        # soft-edged nucleus, only inside this cell
        w_nuc = 1.0 / (1.0 + np.exp((rn - 1.0) * 6.0))
        sl = (slice(r0, r0 + h), slice(c0, c0 + w))
        own = labels[sl] == i + 1
        prof[sl][own] *= 1.0 - k["nucleus_contrast"] * w_nuc[own]
    if k.get("perinuclear_boost", 0.0) > 0:
        # flat spread cells: the thick, bright region around the nucleus
        prof[inside] *= 1.0 + k["perinuclear_boost"] * np.exp(-(rho[inside] / 0.4) ** 2)
    if k["texture"] > 0:
        tex = ndi.gaussian_filter(rng.normal(size=(ny, nx)), 1.0)
        tex /= tex.std() or 1.0
        prof[inside] *= np.clip(1.0 + k["texture"] * tex[inside], 0.2, None)
    if k.get("granule_contrast", 0.0) > 0:
        gran = ndi.gaussian_filter(rng.normal(size=(ny, nx)), k["granule_size_px"])
        gran /= gran.std() or 1.0
        prof[inside] *= np.clip(1.0 + k["granule_contrast"] * gran[inside], 0.1, None)
    if n:
        means = np.bincount(labels.ravel(), weights=prof.ravel(), minlength=n + 1)
        counts = np.bincount(labels.ravel(), minlength=n + 1)
        norm = np.ones(n + 1)
        norm[1:] = means[1:] / np.maximum(counts[1:], 1)
        prof = prof / norm[labels]
        prof[~inside] = 0.0
        if k["edge_blur_px"] > 0:
            # make up for the light the edge blur carries out of each mask, so the mean
            # over a true mask of the blurred cell is its fluorescence F (isolated cells)
            kept = np.bincount(labels.ravel(),
                               weights=ndi.gaussian_filter(prof, k["edge_blur_px"],
                                                           mode="constant").ravel(),
                               minlength=n + 1)[1:] / np.maximum(counts[1:], 1)
            scale = np.ones(n + 1)
            scale[1:] = 1.0 / np.clip(kept, 0.3, None)
            prof = prof * scale[labels]
    if k.get("shading", 0.0) > 0:
        # excitation shading: cells away from the optical axis are dimmer, like the
        # background's vignetting (same radial law)
        prof = prof * illumination(labels.shape, k["shading"])
    return prof, has_nucleus


def illumination(shape, strength):
    """Radial illumination field ``1 - strength * r2``, 1 at the centre.

    ``r2`` is 1 in the corners, so ``strength = 2/3`` gives 3:1 from centre to corner.
    """
    ny, nx = shape
    rr, cc = np.mgrid[0:ny, 0:nx].astype(float)
    rr = rr / max(ny - 1, 1) - 0.5
    cc = cc / max(nx - 1, 1) - 0.5
    return 1.0 - strength * (rr ** 2 + cc ** 2) / 0.5


def add_neurites(labels, prof, cells, k, rng):
    """Draw neurites out of the cells: thin, dimmer processes that are not in the masks.

    Parameters
    ----------
    labels : ndarray of int32, shape (Y, X)
        Cell masks 1..N (unchanged: the truth is the cell bodies).
    prof : ndarray of float64, shape (Y, X)
        Static weights (:func:`cell_profile`).
    cells : list of dict
        The cells (:func:`place_cells`).
    k : dict
        Resolved knobs (``neurites_per_cell``, ``neurite_length``, ``neurite_width_px``,
        ``neurite_brightness``).
    rng : numpy.random.Generator
        The recording's generator.

    Returns
    -------
    owner : ndarray of int32, shape (Y, X)
        ``labels`` plus the neurite pixels, labelled with their cell's id (whose signal
        they carry).
    prof : ndarray of float64, shape (Y, X)
        The weights with the neurites added.
    """
    ny, nx = labels.shape
    owner = labels.copy()
    prof = prof.copy()
    dist, (ir, ic) = ndi.distance_transform_edt(labels == 0, return_indices=True)
    nearest = labels[ir, ic]
    half = k["neurite_width_px"] / 2.0
    margin = 2
    for i, cell in enumerate(cells, start=1):
        n_neur = int(rng.poisson(k["neurites_per_cell"]))
        for _ in range(n_neur):
            phi = rng.uniform(0, 2 * np.pi)
            length = cell["radius"] * (1.0 + 2.0 * k["neurite_length"])
            n_steps = int(length / 0.5)
            turns = np.cumsum(rng.normal(0.0, 0.06, size=n_steps))
            r, c = cell["center"]
            for step in range(n_steps):
                r += 0.5 * math.sin(phi + turns[step])
                c += 0.5 * math.cos(phi + turns[step])
                ri, ci = int(round(r)), int(round(c))
                if not (margin <= ri < ny - margin and margin <= ci < nx - margin):
                    break
                if labels[ri, ci] not in (0, i):
                    break
                if labels[ri, ci] == 0 and nearest[ri, ci] != i and dist[ri, ci] < 4:
                    break
                rs = slice(max(int(r - half - 1), 0), min(int(r + half + 2), ny))
                cs = slice(max(int(c - half - 1), 0), min(int(c + half + 2), nx))
                rr, cc = np.mgrid[rs, cs]
                disk = (rr - r) ** 2 + (cc - c) ** 2 <= half * half
                free = disk & (owner[rs, cs] == 0)
                owner[rs, cs][free] = i
                prof[rs, cs][free] = k["neurite_brightness"]
    return owner, prof

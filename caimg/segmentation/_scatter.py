"""The light scattered around very bright cells, measured and taken off the image.

A cell 40 times brighter than its neighbours (often saturated) is surrounded by a skirt of
scattered light several cell radii wide. Dim cells on that skirt sit on a slope: they get no
flat interior and no Laplacian-of-Gaussian peak of their own, the watershed region of the
bright cell or of a halo piece runs over them, and they are missed or outlined wrongly.
:func:`scattered_light` measures the skirt around each very bright ROI as the median of the
free pixels at each whole-pixel distance from it (dim cells cover a minority of each ring)
and returns it as an image, so that segmentation can run again on the image without it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from ._common import padded

__all__ = ["scattered_light", "very_bright"]


def scattered_light(labels, flat, noise, *, bright, reach_px, min_ring_px=8):
    """The skirt of scattered light around the very bright ROIs ``bright`` of ``labels``.

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X)
        ROIs of a first segmentation, 0 = background.
    flat : ndarray of float64, shape (Y, X)
        The background-flattened (smoothed) image the ROIs were found on.
    noise : float
        Noise SD of ``flat``; a skirt is measured out to where it falls below 2 of them.
    bright : sequence of int
        Ids of the very bright ROIs (:func:`very_bright`).
    reach_px : float
        Farthest distance from a bright ROI at which its skirt is measured, pixels.
    min_ring_px : int
        Free pixels a distance ring needs for its median.

    Returns
    -------
    ndarray of float64, shape (Y, X) or None
        Per pixel, the largest skirt of the bright ROIs reaching it (0 inside ROIs that are
        very bright themselves and beyond every skirt); None when no ROI is very bright.
    """
    if not len(bright):
        return None
    out = np.zeros(flat.shape)
    reach = int(math.ceil(reach_px))
    slices = ndi.find_objects(labels)
    is_bright = np.isin(labels, bright)
    for i in bright:
        box = padded(slices[i - 1], reach + 1, labels.shape)
        own = labels[box] == i
        dist = np.rint(ndi.distance_transform_edt(~own)).astype(int)
        free = labels[box] == 0
        v = flat[box]
        prof = np.zeros(reach + 1)
        for k in range(1, reach + 1):
            ring = free & (dist == k)
            if ring.sum() < min_ring_px:
                break
            level = float(np.median(v[ring]))
            if level < 2.0 * noise:
                break
            prof[k] = level
        skirt = np.where((dist >= 1) & (dist <= reach), prof[np.minimum(dist, reach)], 0.0)
        out[box] = np.maximum(out[box], skirt)
    out[is_bright] = 0.0
    return out


def very_bright(labels, flat, ratio):
    """Ids of the ROIs of ``labels`` whose median in ``flat`` is at least ``ratio`` times
    the median ROI's median (and above 0); empty with fewer than 3 ROIs or ``ratio <= 0``.
    """
    n = int(labels.max(initial=0))
    if n < 3 or ratio <= 0:
        return []
    med = np.zeros(n + 1)
    med[1:] = ndi.median(flat, labels, np.arange(1, n + 1))
    present = np.bincount(labels.ravel(), minlength=n + 1)[1:] > 0
    typical = float(np.median(med[1:][present]))
    if typical <= 0:
        return []
    return [i for i in range(1, n + 1) if present[i - 1] and med[i] >= ratio * typical]

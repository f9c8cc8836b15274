"""The ``"textbook"`` segmentation method: the floor caimg must never fall below.

What a new user writes in an afternoon from a scikit-image tutorial: subtract a wide
background, Otsu threshold, fill holes, distance-transform peaks as markers, watershed.
Nothing here is tuned to caimg's synthetic generator; its only scale is the cell
diameter.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["segment_textbook"]


def segment_textbook(structural, activity, *, cell_diameter_px, min_area_px, max_area_px,
                     background_scale=4.0, projection="mean"):
    """Otsu threshold after a wide background subtraction, split by a distance watershed.

    Parameters
    ----------
    structural : ndarray of float64, shape (Y, X)
        Structural (mean) image, camera counts.
    activity : dict or None
        Activity images; with ``projection = "max"`` and ``"max"`` given, the maximum
        projection is used instead of ``structural``.
    cell_diameter_px : float
        Typical cell diameter, pixels: the background sigma is ``background_scale`` of it
        and markers are at least half of it apart.
    min_area_px, max_area_px : int
        Area limits (``segment`` applies them).
    background_scale : float
        Gaussian background sigma, in cell diameters ("larger than the largest cell").
    projection : {"mean", "max"}
        Which projection to threshold.

    Returns
    -------
    ndarray of int32, shape (Y, X)
        Labels, 0 = background.
    """
    from skimage.feature import peak_local_max
    from skimage.filters import threshold_otsu
    from skimage.segmentation import watershed

    img = structural
    if projection == "max" and activity is not None and "max" in activity:
        img = activity["max"]
    d = float(cell_diameter_px)
    flat = img - ndi.gaussian_filter(img, background_scale * d)
    flat = ndi.gaussian_filter(flat, 1.0)
    if np.ptp(flat) == 0:
        return np.zeros(img.shape, dtype=np.int32)
    fg = flat > threshold_otsu(flat)
    fg = ndi.binary_fill_holes(ndi.binary_opening(fg))
    dist = ndi.distance_transform_edt(fg)
    peaks = peak_local_max(dist, min_distance=max(1, int(d / 2)), labels=ndi.label(fg)[0],
                           exclude_border=False)
    markers = np.zeros(fg.shape, dtype=np.int32)
    markers[peaks[:, 0], peaks[:, 1]] = np.arange(1, len(peaks) + 1)
    return watershed(-dist, markers, mask=fg).astype(np.int32)

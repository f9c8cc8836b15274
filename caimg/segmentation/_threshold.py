"""The ``"threshold"`` segmentation method.

A global threshold of the flattened image, touching cells split by a watershed of the
distance transform.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ._common import flatten, smoothed

__all__ = ["segment_threshold"]


def segment_threshold(structural, activity, *, cell_diameter_px, min_area_px, max_area_px,
                   background_scale=3.0, threshold_snr=3.0, split=True):
    """Global threshold of the flattened image, touching cells split by distance transform.

    Parameters
    ----------
    structural : ndarray of float64, shape (Y, X)
        Structural image (camera counts, finite).
    activity : dict or None
        ``"std"`` and ``"corr"`` (Y, X) activity images, or None.
    cell_diameter_px : float
        Typical cell diameter, pixels.
    min_area_px, max_area_px : int
        Area limits (applied later by ``segment``; here for methods that use them).
    background_scale : float
        Sigma of the background estimate, in cell diameters.
    threshold_snr : float
        Foreground is the smoothed flattened image above this many noise SDs.
    split : bool
        Split touching cells by a watershed of the distance transform.

    Returns
    -------
    ndarray of int, shape (Y, X)
        Labels, 0 = background (``segment`` makes them consecutive and hole-free).
    """
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    d = cell_diameter_px
    flat, bg, noise, bgmask = flatten(structural, d, scale=background_scale)
    smooth, noise_s = smoothed(flat, bgmask, noise, d)
    fg = smooth > threshold_snr * noise_s
    fg = ndi.binary_opening(fg)
    if not split:
        return ndi.label(fg)[0]
    dist = ndi.distance_transform_edt(fg)
    dist = ndi.gaussian_filter(dist, 1.0)
    peaks = peak_local_max(dist, min_distance=max(1, int(0.5 * d)), labels=ndi.label(fg)[0],
                           exclude_border=False)
    markers = np.zeros(fg.shape, dtype=np.int32)
    markers[peaks[:, 0], peaks[:, 1]] = np.arange(1, len(peaks) + 1)
    return watershed(-dist, markers, mask=fg)

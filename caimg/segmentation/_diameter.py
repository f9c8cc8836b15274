"""Cell diameter from the image: scale-space Laplacian-of-Gaussian blob sizes.

Real data come at every magnification; when neither the recipe nor the pixel size says
how big cells are (or what they say does not fit the image), the segmentation measures
it: blobs are found in the scale space of the scale-normalised LoG of the
background-flattened image (:func:`skimage.feature.blob_log`), each blob's diameter is
``2 sqrt(2) sigma`` (the scale at which a disc of that diameter responds most), and the
area-weighted median over blobs is the typical cell diameter.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

__all__ = ["estimate_diameter"]


def estimate_diameter(image, *, min_px=4.0, max_px=80.0, n_scales=30, threshold_rel=0.1):
    """Typical cell diameter of a structural image, in pixels.

    Parameters
    ----------
    image : ndarray, shape (Y, X)
        Structural image (mean projection), camera counts.
    min_px, max_px : float
        Range of diameters searched, pixels (``max_px`` is cut to a third of the image).
    n_scales : int
        Number of log-spaced scales.
    threshold_rel : float
        Blobs must reach this fraction of the strongest blob's response.

    Returns
    -------
    float or None
        The area-weighted median blob diameter, pixels (half of the blobs' area is in
        blobs at most this big); None when no blob is found (a featureless image).

    Notes
    -----
    The image is flattened (minus a Gaussian of sigma ``max_px``) and smoothed by a
    1-px Gaussian, so fine texture (granules) does not count as cells. A disc of
    diameter D gives the largest scale-normalised LoG response at sigma = D / (2 sqrt 2).
    On the synthetic families the estimate is within about 20 % of the median true
    equivalent diameter (flat, irregular cells come out smaller; with sizes from 6 to
    40 px it is the size of the bigger half).

    References
    ----------
    Lindeberg T (1998) Feature detection with automatic scale selection. Int J Comput
    Vis 30:79-116. doi:10.1023/A:1008045108935

    Examples
    --------
    >>> from skimage.draw import disk
    >>> img = np.zeros((96, 96))
    >>> for r, c in [(24, 24), (24, 70), (70, 40)]:
    ...     rr, cc = disk((r, c), 8); img[rr, cc] = 100
    >>> 13 < estimate_diameter(img) < 20
    True
    """
    from skimage.feature import blob_log

    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < 8 or not np.isfinite(img).all() or np.ptp(img) == 0:
        return None
    max_px = float(min(max_px, min(img.shape) / 3.0))
    min_px = float(min(min_px, max_px))
    flat = img - ndi.gaussian_filter(img, max_px)
    flat = ndi.gaussian_filter(flat, 1.0)
    k = 2.0 * math.sqrt(2.0)
    blobs = blob_log(flat, min_sigma=min_px / k, max_sigma=max_px / k, num_sigma=n_scales,
                     log_scale=True, threshold=None, threshold_rel=threshold_rel,
                     exclude_border=False)
    if len(blobs) == 0:
        return None
    # area-weighted median: the diameter of the blob that covers the median pixel of all
    # blobs, so many small puncta (debris, granules, boutons) do not outvote the cells
    d = np.sort(k * blobs[:, 2])
    cum = np.cumsum(d * d)
    return float(d[np.searchsorted(cum, 0.5 * cum[-1])])

"""Cell diameter from the image: scale-space Laplacian-of-Gaussian blob sizes.

Real data come at every magnification; when neither the recipe nor the pixel size says
how big cells are (or what they say does not fit the image), the segmentation measures
it: blobs are found in the scale space of the scale-normalised LoG of the
background-flattened image (:func:`skimage.feature.blob_log`), each blob's diameter is
``2 sqrt(2) sigma`` (the scale at which a disc of that diameter responds most), and the
diameter-weighted median over blobs (of the log image, so a few very bright cells
do not hide the dim ones) is the typical cell diameter.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from ._common import mad_sd

__all__ = ["estimate_diameter"]


#: the brightest 0.5 % of the flattened image must reach this many noise SDs for a size to
#: be measured (a Gaussian noise field reaches about 2.6)
_MIN_OBJECT_SNR = 5.0


def estimate_diameter(image, *, min_px=4.0, max_px=80.0, n_scales=30, threshold_rel=0.1):
    """Typical cell diameter of a structural image, in pixels.

    Parameters
    ----------
    image : ndarray, shape (Y, X)
        Structural image (mean projection), camera counts.
    min_px, max_px : float
        Range of diameters searched, pixels (``max_px`` is cut to a third of the image).
    n_scales : int
        Number of log-spaced scales. Images of 512 px and more (both sides) are binned
        2 x 2 first (4x less work).
    threshold_rel : float
        Blobs must reach this fraction of the strongest blob's response.

    Returns
    -------
    float or None
        The diameter-weighted median blob diameter, pixels; None when no blob is found
        (a featureless image).

    Notes
    -----
    The image is flattened (minus a Gaussian of sigma ``max_px``), smoothed by a 1-px
    Gaussian, so fine texture (granules) does not count as cells, and taken as
    ``log(max(flat, 2 noise SD))``. A disc of
    diameter D gives the largest scale-normalised LoG response at sigma = D / (2 sqrt 2).
    Blobs whose response is largest at the first or last scale searched (objects smaller
    than ``min_px`` or larger than ``max_px``) are left out when others are found.
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
    # big fields: the scale space of a 2x2-binned image is 4x cheaper; sizes scale back
    if min(img.shape) >= 512 and min_px >= 4:
        ny, nx = (img.shape[0] // 2) * 2, (img.shape[1] // 2) * 2
        binned = img[:ny, :nx].reshape(ny // 2, 2, nx // 2, 2).mean(axis=(1, 3))
        half = estimate_diameter(binned, min_px=min_px / 2, max_px=max_px / 2,
                                 n_scales=n_scales, threshold_rel=threshold_rel)
        return None if half is None else 2.0 * half
    flat = img - ndi.gaussian_filter(img, max_px)
    flat = ndi.gaussian_filter(flat, 1.0)
    # in log intensity a 40x brighter (or saturated) cell and its halo do not push the
    # dim cells under the relative threshold
    noise = mad_sd(flat)
    if noise <= 0:
        noise = max(float(np.std(flat)), 1e-12)
    if np.percentile(flat, 99.5) < _MIN_OBJECT_SNR * noise:
        # nothing stands out of the noise (an empty field): no size to measure, and
        # blob_log would keep a blob at nearly every noise peak and run out of memory
        # pruning them
        return None
    logi = np.log(np.maximum(flat, 2.0 * noise))
    k = 2.0 * math.sqrt(2.0)
    blobs = blob_log(logi, min_sigma=min_px / k, max_sigma=max_px / k, num_sigma=n_scales,
                     log_scale=True, threshold=None, threshold_rel=threshold_rel,
                     exclude_border=False)
    if len(blobs) == 0:
        return None
    # a blob whose response peaks at the smallest or largest scale searched has no size
    # measured, only a bound (puncta, boutons, dust smaller than min_px; a smooth hump
    # wider than max_px): it is left out unless every blob is such a one. On a real
    # two-photon movie (gcamp-optinist-mouse2p) 13 of 36 blobs were puncta at 4 px and
    # pulled the estimate to 6.5 px; the cells there are 8-12 px across
    sig = blobs[:, 2]
    inside = (sig > min_px / k * 1.001) & (sig < max_px / k * 0.999)
    if inside.any():
        blobs = blobs[inside]
    # diameter-weighted median: many small puncta (debris, granules, boutons) count less
    # than cells, a few big blurred blobs do not decide either
    d = np.sort(k * blobs[:, 2])
    cum = np.cumsum(d)
    return float(d[np.searchsorted(cum, 0.5 * cum[-1])])

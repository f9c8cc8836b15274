"""The segmentation half of the ``find_rois`` stage and the saturation measure of
``score_rois`` (:mod:`caimg._stages`): what segmentation is given and what ``run.json``
and ``rois.csv`` say about it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._plausibility import check_scale, unit_scaled

if TYPE_CHECKING:
    from .config import PipelineConfig
    from .recording import Recording

__all__ = ["segment_summary", "DIAMETER_SOURCES", "camera_ceiling", "saturated_fraction"]

#: run.json names of where the cell diameter came from (caimg.segmentation.resolve_diameter)
DIAMETER_SOURCES = {"given": "recipe px (segment.cell_diameter_px)",
                    "um/pixel size": "recipe um x pixel size (segment.cell_diameter_um / "
                                     "pixel_size_um)",
                    "estimated": "estimated from the image",
                    "default": "default"}


def segment_summary(rec: Recording, cfg: PipelineConfig, summary) -> tuple[np.ndarray, dict]:
    """Segment ``summary``; the label image and what ``run.json`` says about it.

    Parameters
    ----------
    rec : Recording
    cfg : PipelineConfig
        The resolved recipe (its ``[segment]`` section).
    summary : caimg.motion.SummaryImages
        Summary images of the registered motion channel.

    Returns
    -------
    labels : ndarray, (Y, X) int32
    info : dict
        ``run.json`` ``segment``: ``method``, ``cell_diameter_px`` (used),
        ``cell_diameter_source`` (a value of :data:`DIAMETER_SOURCES`),
        ``estimate_diameter``, ``min_area_px``, ``max_area_px``, ``params`` (as the recipe
        gives them) and ``options`` (every option of the method with the value used: its
        defaults, overridden by ``params``).

    Notes
    -----
    The cell diameter is resolved here (:func:`caimg.segmentation.resolve_diameter`, on
    the image :func:`~caimg.segmentation.segment` would measure) and handed on as given,
    so that run.json reports the diameter segmentation used, and the image is measured
    once.
    """
    from .segmentation import method_options, resolve_diameter, segment

    sc = cfg.segment
    check_scale(rec, sc)
    images = unit_scaled(summary)
    params = dict(sc.params)
    estimate = params.pop("estimate_diameter", "auto")
    structural = np.asarray(images.mean, dtype=np.float64)
    finite = np.isfinite(structural)
    if not finite.all():  # as segment() fills them
        structural = np.where(finite, structural,
                              np.median(structural[finite]) if finite.any() else 0.0)
    flat = structural.size == 0 or min(structural.shape) < 3 or np.ptp(structural) == 0
    diameter_px, where = resolve_diameter(  # a flat image: nothing to measure, no cells
        structural, cell_diameter_px=sc.cell_diameter_px, cell_diameter_um=sc.cell_diameter_um,
        pixel_size_um=rec.pixel_size_um, estimate="never" if flat else estimate)
    lab = segment(images, method=sc.method, cell_diameter_px=diameter_px,
                  min_area_px=sc.min_area_px, max_area_px=sc.max_area_px,
                  estimate_diameter="never", **params)
    info = {"rois_from": "segmentation", "method": sc.method,
            "cell_diameter_px": float(diameter_px),
            "cell_diameter_source": DIAMETER_SOURCES.get(where, where),
            "estimate_diameter": estimate if not isinstance(estimate, bool) else
            ("always" if estimate else "never"),
            "min_area_px": sc.min_area_px, "max_area_px": sc.max_area_px,
            "params": dict(sc.params),
            # every rule and threshold the method ran with: its defaults, then the recipe's
            "options": {**(method_options(sc.method) or {}), **params}}
    return lab, info


#: pixels at one value a plateau needs to be taken as a camera's ceiling below the dtype's
_CEILING_MIN_PIXELS = 3


def camera_ceiling(max_image, dtype) -> float | None:
    """The value at which the camera clipped this recording, or None when nothing did.

    Parameters
    ----------
    max_image : ndarray, (Y, X)
        Maximum projection of the raw counts (of the motion-corrected frames: a clipped
        plateau shifted by a fraction of a pixel is the ceiling give or take float
        rounding, so values are compared to within half a count).
    dtype : numpy dtype
        The recording's pixel type.

    Returns
    -------
    float or None
        The integer dtype's maximum when a pixel reaches it; else the image maximum
        (rounded) when it is ``2**n - 1`` with n >= 8 (an 8 to 14-bit camera in a wider
        container, e.g. 4095 in uint16) and at least 3 pixels reach it (a clipped
        plateau, not one bright pixel); else None. Float data: None.
    """
    if not np.issubdtype(dtype, np.integer) or np.size(max_image) == 0:
        return None
    full = float(np.iinfo(dtype).max)
    top = float(np.nanmax(max_image))
    if not np.isfinite(top):
        return None
    if top >= full - 0.5:
        return full
    top = float(round(top))
    if (top >= 255 and (int(top) + 1) & int(top) == 0
            and np.count_nonzero(max_image >= top - 0.5) >= _CEILING_MIN_PIXELS):
        return top
    return None


def saturated_fraction(max_image, labels, roi_ids, dtype):
    """Fraction of each ROI's pixels at the camera's ceiling (:func:`camera_ceiling`).

    Parameters
    ----------
    max_image : ndarray, (Y, X)
        Maximum projection of the raw counts.
    labels : ndarray, (Y, X) int
    roi_ids : ndarray of int, (R,)
    dtype : numpy dtype
        The recording's pixel type.

    Returns
    -------
    ndarray, (R,) float
        0 for every ROI when nothing is clipped (and for float data).
    """
    ceiling = camera_ceiling(max_image, dtype)
    if ceiling is None or len(roi_ids) == 0:
        return np.zeros(len(roi_ids))
    sat = max_image >= ceiling - 0.5
    counts = np.bincount(labels.ravel(), weights=sat.ravel(), minlength=int(roi_ids.max()) + 1)
    areas = np.bincount(labels.ravel(), minlength=int(roi_ids.max()) + 1)
    return counts[roi_ids] / np.maximum(areas[roi_ids], 1)

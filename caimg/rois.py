"""ROIs, pure code: measuring ROIs and accepting them.

:func:`measure_rois` measures every ROI of a label image (position, size, intensity and
quality figures); :func:`accept_rois` applies the accept rules (the recipe's ``[rois]``
section) to such a table; :func:`roi_table` does both. Arrays in, a
:class:`pandas.DataFrame` out. Reading and writing ROI files (``roifile``/``tifffile`` on
disk) lives in :mod:`caimg.io.rois`.
Labels <-> ImageJ polygons are in :mod:`caimg.polygons` (re-exported here).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from ._validation import check_labels
from .errors import RoiError
from .kinetics import difference_mad
from .polygons import (
    fill_polygon,
    imagej_rois_to_labels,
    label_outline,
    labels_to_imagej_rois,
    roi_name,
)
from .result import ROI_DTYPES

__all__ = [
    "roi_table",
    "measure_rois",
    "accept_rois",
    "MEASURED_COLUMNS",
    "labels_to_imagej_rois",
    "imagej_rois_to_labels",
    "label_outline",
    "fill_polygon",
    "roi_name",
]

#: Columns of :func:`measure_rois`: every ROI column but the accept call and the source.
MEASURED_COLUMNS = tuple(c for c in ROI_DTYPES if c not in ("accepted", "reject_reason",
                                                            "source", "low_signal"))

# --------------------------------------------------------------------------------------
# measuring ROIs (pure)
# --------------------------------------------------------------------------------------
# The figures are computed with scipy.ndimage label sums rather than
# skimage.measure.regionprops_table: regionprops' centroid/inertia sums run in another
# order (and its ellipse axes lack the 1/12 pixel variance used here), so rois.csv would
# change in the last bits; the arithmetic below is what every result folder was made with.

def _moments(lab, index, image):
    """Area, centroid, mean intensity and moment-ellipse aspect ratio per ROI."""
    area = ndi.sum_labels(np.ones_like(image), lab, index).astype(np.int64)
    rr, cc = np.indices(lab.shape, dtype=np.float64)
    cen_r = ndi.sum_labels(rr, lab, index) / area
    cen_c = ndi.sum_labels(cc, lab, index) / area
    mean_int = ndi.sum_labels(image, lab, index) / area
    # second moments -> aspect ratio of the moment ellipse
    mu_rr = ndi.sum_labels(rr * rr, lab, index) / area - cen_r ** 2
    mu_cc = ndi.sum_labels(cc * cc, lab, index) / area - cen_c ** 2
    mu_rc = ndi.sum_labels(rr * cc, lab, index) / area - cen_r * cen_c
    # a single-pixel ROI has zero variance; the 1/12 is the variance of a uniform pixel
    mu_rr = mu_rr + 1.0 / 12
    mu_cc = mu_cc + 1.0 / 12
    half_tr = (mu_rr + mu_cc) / 2
    disc = np.sqrt(np.maximum(((mu_rr - mu_cc) / 2) ** 2 + mu_rc ** 2, 0))
    lam1, lam2 = half_tr + disc, np.maximum(half_tr - disc, 1e-12)
    return area, cen_r, cen_c, mean_int, np.sqrt(lam1 / lam2)


def _ring_contrast(lab, index, image, mean_int, bg_mask, offset, ring_px):
    """Mean of the surrounding ring and the relative contrast per ROI."""
    # surrounding ring: 2 .. ring_px+1 px away (a 1 px gap skips the blurred edge)
    any_roi = lab > 0
    dist, (ir, ic) = ndi.distance_transform_edt(~any_roi, return_indices=True)
    nearest = lab[ir, ic]
    if bg_mask is not None and (bg_mask & ~any_roi).any():
        # the background region usually starts a few px away from every ROI: the ring
        # is its first ring_px px
        start = float(dist[bg_mask & ~any_roi].min())
        ring = bg_mask & (~any_roi) & (dist > 1) & (dist <= max(start, 1.0) + ring_px)
    else:
        ring = (~any_roi) & (dist > 1) & (dist <= ring_px + 1)
    ring_lab = np.where(ring, nearest, 0)
    ring_n = ndi.sum_labels(np.ones_like(image), ring_lab, index)
    with np.errstate(invalid="ignore", divide="ignore"):
        ring_mean = ndi.sum_labels(image, ring_lab, index) / ring_n
        denom = ring_mean - offset
        contrast = np.where((ring_n > 0) & (denom > 0), (mean_int - ring_mean) / denom, np.nan)
    return np.where(ring_n > 0, ring_mean, np.nan), contrast


def _solidity(lab, ids):
    """Area / convex hull area per ROI (per bounding box; cheap for cell-sized ROIs)."""
    from skimage.morphology import convex_hull_image

    solidity = np.full(ids.size, np.nan)
    slices = ndi.find_objects(lab)
    for k, rid in enumerate(ids):
        sl = slices[rid - 1]
        m = lab[sl] == rid
        if m.sum() < 3:
            solidity[k] = 1.0
            continue
        try:
            hull = convex_hull_image(m)
            solidity[k] = m.sum() / max(hull.sum(), 1)
        except Exception:  # degenerate (collinear) pixels: qhull fails
            solidity[k] = 1.0
    return solidity


def _snr(signal, noise_sd, n):
    """``max_t |s_t - median(s)| / noise_sd`` per ROI (NaN without a signal)."""
    snr = np.full(n, np.nan)
    if signal is None:
        return snr
    sig = np.asarray(signal, dtype=np.float64)
    if sig.ndim == 1 and n == 1:
        sig = sig[:, None]
    if sig.ndim != 2 or sig.shape[1] != n:
        raise RoiError(f"'signal' must be (T, R) with R = {n} ROIs in id order, "
                       f"got shape {sig.shape}")
    if sig.shape[0] < 3:
        return snr
    if noise_sd is None:
        # the MAD estimator of caimg.kinetics; its 0.6745 (not 1/1.4826) keeps rois.csv
        # byte-identical to earlier results
        sd = difference_mad(sig, axis=0) / 0.6745 / np.sqrt(2.0)
    else:
        sd = np.broadcast_to(np.asarray(noise_sd, dtype=np.float64), (n,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN traces
        dev = np.nanmax(np.abs(sig - np.nanmedian(sig, axis=0)), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = np.where(sd > 0, dev / sd, np.nan)
    return np.where(np.isfinite(snr), snr, np.nan)


def _background_arg(background, shape):
    """(offset, mask) from the ``background`` argument of :func:`measure_rois`."""
    if background is None:
        return 0.0, None
    bg = np.asarray(background)
    if bg.ndim == 0:
        return float(bg), None
    if bg.shape == shape:
        return 0.0, bg.astype(bool)
    raise RoiError(f"'background' must be a number or a (Y, X) boolean mask of shape "
                   f"{shape}, got shape {bg.shape}")


def _saturation(saturated_fraction, saturation_value, image, lab, index, area, n):
    if saturated_fraction is not None:
        sat = np.asarray(saturated_fraction, dtype=np.float64).reshape(-1)
        if sat.size != n:
            raise RoiError(f"'saturated_fraction' has {sat.size} values for {n} ROIs")
        return sat
    if saturation_value is not None:
        above = (image >= float(saturation_value)).astype(np.float64)
        return ndi.sum_labels(above, lab, index) / area
    return np.full(n, np.nan)


def measure_rois(labels, image, *, pixel_size_um=None, signal=None, noise_sd=None,
                 saturation_value=None, saturated_fraction=None, background=None,
                 ring_px=4) -> pd.DataFrame:
    """One row per ROI: position, size, intensity and quality figures (no accept call).

    Parameters
    ----------
    labels : (Y, X) int array
        Label image, 0 = background, ROI ids > 0 (need not be consecutive).
    image : (Y, X) array
        The image intensities are measured on, usually the mean projection, in camera
        counts (never rescaled).
    pixel_size_um : float, optional
        Pixel edge length in um; ``area_um2`` is NaN when unknown.
    signal : (T, R) array, optional
        Each ROI's trace, columns in increasing ROI id order. Gives ``snr``.
    noise_sd : (R,) array or float, optional
        Noise SD of each trace; estimated from frame-to-frame differences when omitted.
    saturation_value : float, optional
        Pixel value at or above which a pixel counts as saturated in ``image``.
    saturated_fraction : (R,) array, optional
        Already measured saturated fraction per ROI (overrides ``saturation_value``).
    background : float or (Y, X) bool array, optional
        A scalar is a constant offset (camera dark level) removed before the relative
        contrast; a boolean mask restricts the surrounding ring to those pixels.
    ring_px : int
        Width of the surrounding ring, in pixels, that ``contrast`` compares against.

    Returns
    -------
    pandas.DataFrame
        Sorted by ``roi``; columns :data:`MEASURED_COLUMNS` with the dtypes of
        :data:`caimg.result.ROI_DTYPES` (see :func:`roi_table` for their meaning).
    """
    labels = check_labels(labels)
    image = np.asarray(image)
    if image.shape != labels.shape:
        raise RoiError(f"'image' has shape {image.shape} but 'labels' has shape {labels.shape}; "
                       f"expected the same (Y, X)")
    image = image.astype(np.float64, copy=False)
    offset, bg_mask = _background_arg(background, labels.shape)
    ids = np.unique(labels)
    ids = ids[ids > 0]
    n = ids.size
    if n == 0:
        return pd.DataFrame({c: pd.Series([], dtype=ROI_DTYPES[c]) for c in MEASURED_COLUMNS})
    area, cen_r, cen_c, mean_int, aspect = _moments(labels, ids, image)
    ring_mean, contrast = _ring_contrast(labels, ids, image, mean_int, bg_mask, offset, ring_px)
    any_roi = labels > 0
    border = np.zeros_like(any_roi)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    area_um2 = area * float(pixel_size_um) ** 2 if pixel_size_um else np.full(n, np.nan)
    data = {
        "roi": ids.astype(np.int64),
        "centroid_row": cen_r,
        "centroid_col": cen_c,
        "area_px": area,
        "area_um2": np.asarray(area_um2, dtype=np.float64),
        "mean_intensity": mean_int,
        "background_intensity": ring_mean,
        "contrast": contrast,
        "snr": _snr(signal, noise_sd, n),
        "saturated_fraction": (sat := _saturation(saturated_fraction, saturation_value,
                                                  image, labels, ids, area, n)),
        "saturated": sat > 0,  # NaN (not measured) -> False
        "touches_border": np.isin(ids, np.unique(labels[border & any_roi])),
        "aspect_ratio": aspect,
        "solidity": _solidity(labels, ids),
    }
    return pd.DataFrame({c: pd.Series(data[c], dtype=ROI_DTYPES[c]) for c in MEASURED_COLUMNS})


def accept_rois(table: pd.DataFrame, *, accept_min_area_px: float = 10,
                max_aspect_ratio: float = 4.0, min_contrast: float = 0.0,
                min_snr_no_contrast: float = 5.0) -> pd.DataFrame:
    """The accept call of every ROI: columns ``accepted`` and ``reject_reason``.

    Parameters
    ----------
    table : pandas.DataFrame
        With columns ``area_px``, ``aspect_ratio``, ``contrast`` and ``snr`` (from
        :func:`measure_rois`).
    accept_min_area_px, max_aspect_ratio, min_contrast, min_snr_no_contrast : float
        The rules (the recipe's ``[rois]`` section, :class:`caimg.config.RoisConfig`).

    Returns
    -------
    pandas.DataFrame
        A copy of ``table`` with ``accepted`` (bool) and ``reject_reason`` (``""`` when
        accepted, else the broken rules, ``;``-separated) set.

    Notes
    -----
    A ROI is *not accepted* ("clearly not a cell") when any of these holds:

    - ``small``: ``area_px < accept_min_area_px``;
    - ``elongated``: ``aspect_ratio > max_aspect_ratio``;
    - ``no contrast``: ``contrast <= min_contrast`` (NaN counts as none) and the trace
      shows no activity either (``snr < min_snr_no_contrast``, or NaN).

    Examples
    --------
    >>> t = pd.DataFrame({"area_px": [50, 5], "aspect_ratio": [1.2, 1.0],
    ...                   "contrast": [0.4, 0.4], "snr": [np.nan, np.nan]})
    >>> accept_rois(t)["reject_reason"].tolist()
    ['', 'small']
    """
    area = table["area_px"].to_numpy()
    aspect = table["aspect_ratio"].to_numpy()
    contrast = table["contrast"].to_numpy()
    snr = table["snr"].to_numpy()
    reasons = []
    for k in range(len(table)):
        r = []
        if area[k] < accept_min_area_px:
            r.append("small")
        if aspect[k] > max_aspect_ratio:
            r.append("elongated")
        no_contrast = not (contrast[k] > min_contrast)  # NaN contrast counts as none
        active = snr[k] >= min_snr_no_contrast  # NaN -> False
        if no_contrast and not active:
            r.append("no contrast")
        reasons.append(";".join(r))
    out = table.copy()
    out["accepted"] = pd.Series([not r for r in reasons], index=table.index,
                                dtype=ROI_DTYPES["accepted"])
    out["reject_reason"] = pd.Series(reasons, index=table.index,
                                     dtype=ROI_DTYPES["reject_reason"])
    return out


def roi_table(labels, image, *, source="auto", pixel_size_um=None, signal=None, noise_sd=None,
              saturation_value=None, saturated_fraction=None, background=None,
              ring_px=4, accept_min_area_px=10, max_aspect_ratio=4.0, min_contrast=0.0,
              min_snr_no_contrast=5.0) -> pd.DataFrame:
    """One row per ROI: position, size, intensity and quality figures, and an accept call
    (:func:`measure_rois`, then :func:`accept_rois`).

    Parameters
    ----------
    labels : (Y, X) int array
        Label image, 0 = background, ROI ids > 0 (need not be consecutive).
    image : (Y, X) array
        The image intensities are measured on, usually the mean projection.
    source : str or sequence of str, optional
        ``"auto"`` (segmented), ``"imported"`` or ``"edited"``, for all ROIs or one per ROI
        in increasing id order.
    pixel_size_um, signal, noise_sd, saturation_value, saturated_fraction, background, \
ring_px
        As in :func:`measure_rois`.
    accept_min_area_px, max_aspect_ratio, min_contrast, min_snr_no_contrast : float
        Rules of ``accepted``, as in :func:`accept_rois`.

    Returns
    -------
    pandas.DataFrame
        Sorted by ``roi``; columns and dtypes as in :data:`caimg.result.ROI_DTYPES`:
        ``roi``, ``centroid_row``, ``centroid_col`` (pixels), ``area_px``, ``area_um2``,
        ``mean_intensity``, ``background_intensity`` (mean of the surrounding ring),
        ``contrast``, ``snr``, ``saturated_fraction`` (of the ROI's pixels at the
        saturation value), ``saturated`` (any are), ``touches_border``,
        ``aspect_ratio`` (major / minor axis of the moment ellipse), ``solidity``,
        ``accepted``, ``reject_reason`` (``""`` when accepted) and ``source``.
        No ROIs give an empty table with the same columns and dtypes.

    Notes
    -----
    ``contrast = (mean_roi - mean_ring) / (mean_ring - offset)``, where the ring is the
    pixels 2 .. ``ring_px + 1`` px from the ROI that belong to no ROI (with a background
    mask: the mask's pixels from where it starts, ``d0`` px from the ROIs, to
    ``d0 + ring_px``), each ring pixel counted for its nearest ROI, and ``offset`` is the
    scalar ``background`` (0 by default). NaN when the ring is empty or its mean is not
    above the offset.

    ``snr = max_t |s_t - median(s)| / noise_sd``, with
    ``noise_sd = MAD(diff(s)) / 0.6745 / sqrt(2)`` unless given.

    Touching the border and saturation are reported, not rejected.

    Examples
    --------
    >>> labels = np.zeros((20, 20), int); labels[5:10, 5:10] = 1
    >>> image = np.full((20, 20), 100.0); image[labels > 0] = 150
    >>> t = roi_table(labels, image)
    >>> float(t.loc[0, "contrast"]), bool(t.loc[0, "accepted"])
    (0.5, True)
    """
    measured = measure_rois(labels, image, pixel_size_um=pixel_size_um, signal=signal,
                            noise_sd=noise_sd, saturation_value=saturation_value,
                            saturated_fraction=saturated_fraction, background=background,
                            ring_px=ring_px)
    n = len(measured)
    if isinstance(source, str):
        sources = [source] * n
    else:
        sources = [str(s) for s in source]
        if n and len(sources) != n:
            raise RoiError(f"'source' has {len(sources)} entries for {n} ROIs; expected one "
                           "per ROI")
    table = accept_rois(measured, accept_min_area_px=accept_min_area_px,
                        max_aspect_ratio=max_aspect_ratio, min_contrast=min_contrast,
                        min_snr_no_contrast=min_snr_no_contrast)
    table["source"] = pd.Series(sources if n else [], index=table.index,
                                dtype=ROI_DTYPES["source"])
    # set from the traces by the pipeline's signal stage (caimg._stages.signal)
    table["low_signal"] = pd.Series(False, index=table.index, dtype=ROI_DTYPES["low_signal"])
    return table.loc[:, list(ROI_DTYPES)]

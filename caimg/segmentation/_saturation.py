"""Which ROIs hold saturated pixels (the camera's ceiling), to flag them, not drop them."""

from __future__ import annotations

import numpy as np

__all__ = ["saturated_rois"]


def saturated_rois(labels, image, *, ceiling=None, min_pixels=3):
    """ROI ids with at least ``min_pixels`` pixels at the camera ceiling.

    Parameters
    ----------
    labels : ndarray of int, shape (Y, X)
        ROIs 1..N, 0 = background.
    image : ndarray, shape (Y, X) or (T, Y, X)
        Raw camera counts: best the maximum projection (or the stack itself); a mean
        image only shows cells that are saturated in every frame.
    ceiling : float, optional
        The camera's full-scale value (4095 for 12 bit, 65535 for 16 bit). None: the
        image's maximum, when at least ``min_pixels`` pixels share it (a clipped
        plateau); otherwise nothing is saturated.
    min_pixels : int
        Pixels at the ceiling a ROI needs to count as saturated.

    Returns
    -------
    ndarray of int64
        Sorted ROI ids whose signal is clipped (their traces and kinetics are not
        trustworthy: flag them in the ROI table).

    Examples
    --------
    >>> lab = np.zeros((8, 8), int); lab[1:4, 1:4] = 1; lab[5:8, 5:8] = 2
    >>> img = np.full((8, 8), 100); img[1:4, 1:4] = 4095
    >>> saturated_rois(lab, img).tolist()
    [1]
    """
    labels = np.asarray(labels)
    img = np.asarray(image)
    if img.ndim == 3:
        img = img.max(axis=0)
    if img.shape != labels.shape:
        from ..errors import ConfigError

        raise ConfigError(f"saturated_rois: image of shape {img.shape} for labels of shape "
                          f"{labels.shape}; expected the same (rows, columns)")
    if labels.max(initial=0) == 0 or img.size == 0:
        return np.zeros(0, dtype=np.int64)
    if ceiling is None:
        top = img.max()
        if np.count_nonzero(img == top) < min_pixels:
            return np.zeros(0, dtype=np.int64)
        ceiling = top
    hit = img >= ceiling
    counts = np.bincount(labels[hit].ravel(), minlength=int(labels.max()) + 1)
    counts[0] = 0
    return np.flatnonzero(counts >= min_pixels).astype(np.int64)

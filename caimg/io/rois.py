"""ROI files: ImageJ RoiSet ``.zip`` / ``.roi`` and label-image TIFF import, RoiSet export.

The only code that touches ``roifile`` / ``tifffile`` and the disk for ROIs; the
conversion between label images and ImageJ polygons is pure and lives in
:mod:`caimg.rois`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._validation import check_labels
from ..errors import RoiError
from ..polygons import imagej_rois_to_labels, labels_to_imagej_rois
from ._limits import check_label_tiff

__all__ = ["read_rois", "write_roiset"]


def read_rois(path, shape) -> np.ndarray:
    """Read ROIs from an ImageJ RoiSet ``.zip`` / ``.roi`` file or a label-image TIFF.

    Parameters
    ----------
    path : str or Path
        ``*.zip`` (ImageJ ROI Manager "Save"), ``*.roi`` (one ROI) or ``*.tif``/``*.tiff``
        (integer label image, 0 = background).
    shape : (int, int)
        (Y, X) of the recording the ROIs are applied to.

    Returns
    -------
    (Y, X) int32 array
        Label image. RoiSet ROIs get ids as in :func:`imagej_rois_to_labels` (file order,
        or the number in names caimg wrote, so ids survive export and import); a label
        TIFF keeps its values.

    Raises
    ------
    RoiError
        Missing or unreadable file, a ROI outside ``shape``, or a label image of another
        shape or non-integer values. The message names the file and the shapes.

    Examples
    --------
    >>> labels = read_rois("RoiSet.zip", (512, 512))  # doctest: +SKIP
    """
    path = Path(path)
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2:
        raise RoiError(f"read_rois({path}): 'shape' must be (Y, X), got {shape}")
    if not path.is_file():
        raise RoiError(f"ROI file {path} does not exist; expected an ImageJ RoiSet .zip, a .roi "
                       f"file or a label TIFF")
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return _read_label_tiff(path, shape)
    if suffix not in (".zip", ".roi"):
        raise RoiError(f"ROI file {path}: unknown kind '{suffix}'; expected .zip (ImageJ RoiSet), "
                       f".roi or .tif (label image)")
    import roifile

    try:
        rois = roifile.roiread(path)
    except Exception as exc:  # roifile raises several types on broken files
        raise RoiError(f"ROI file {path} could not be read as ImageJ ROIs: {exc}") from exc
    if not isinstance(rois, list):
        rois = [rois]
    if not rois:
        raise RoiError(f"ROI file {path} holds no ROIs")
    return imagej_rois_to_labels(rois, shape, where=str(path))


def _read_label_tiff(path, shape):
    import tifffile

    check_label_tiff(path, shape)  # from the header: a huge image is never decoded
    try:
        data = tifffile.imread(path)
    except Exception as exc:
        raise RoiError(f"label TIFF {path} could not be read: {exc}") from exc
    data = np.squeeze(np.asarray(data))
    if data.shape != shape:
        raise RoiError(f"label TIFF {path} has shape {data.shape}; expected a (Y, X) label image "
                       f"of the recording's shape {shape}")
    try:
        labels = check_labels(data, name=str(path))
    except RoiError as exc:
        raise RoiError(f"label TIFF {path}: {exc}") from exc
    if labels.max(initial=0) > np.iinfo(np.int32).max:
        raise RoiError(f"label TIFF {path}: labels up to {labels.max()} do not fit int32")
    return labels.astype(np.int32)


def write_roiset(labels, path) -> Path:
    """Write every label as one polygon ROI into an ImageJ RoiSet zip that Fiji opens.

    Parameters
    ----------
    labels : (Y, X) int array
        Label image, 0 = background.
    path : str or Path
        Output ``.zip``; overwritten if it exists.

    Returns
    -------
    Path
        ``path``. ROIs are named ``roi_0001`` ... after their label, see
        :func:`labels_to_imagej_rois`. No labels -> an empty zip archive.
    """
    import zipfile

    import roifile

    path = Path(path)
    rois = labels_to_imagej_rois(labels)
    if path.exists():
        path.unlink()
    if not rois:
        with zipfile.ZipFile(path, "w"):
            pass
        return path
    roifile.roiwrite(path, rois, mode="w")
    return path

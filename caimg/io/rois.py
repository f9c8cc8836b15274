"""ROI files: ImageJ RoiSet ``.zip`` / ``.roi``, label-image TIFF and PNG import (Cellpose
``*_cp_masks.png``/``.tif`` included), RoiSet export, and the mask file that lies beside a
recording (:func:`find_mask_beside`).

The only code that touches ``roifile`` / ``tifffile`` / Pillow and the disk for ROIs; the
conversion between label images and ImageJ polygons is pure and lives in
:mod:`caimg.rois`.

Mask files beside a recording (used by a batch instead of segmentation, see
``segment.masks_beside``), with ``<stem>`` the recording's stem
(:attr:`caimg.io.find.RecordingSource.stem`):

==============================  ==============================================
``<stem>_cp_masks.png|tif``     Cellpose's label image (uint16 PNG or TIFF)
``<stem>_masks.tif|tiff|png``   a label image (0 = background, 1..N = cells)
``<stem>_labels.tif|tiff|png``  a label image
``<stem>_RoiSet.zip``           an ImageJ / Fiji ROI Manager set
``RoiSet_<stem>.zip``           an ImageJ / Fiji ROI Manager set
==============================  ==============================================

The part after (or, for ``RoiSet_``, before) the stem is matched in any case.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .._validation import check_labels
from ..errors import RoiError
from ..polygons import imagej_rois_to_labels, labels_to_imagej_rois
from ._limits import check_label_tiff

__all__ = ["read_rois", "write_roiset", "MASK_SUFFIXES", "MASK_PREFIXES", "mask_stem",
           "find_mask_beside"]

#: name endings (lower case) of mask files beside a recording: ``<stem><ending>``
MASK_SUFFIXES = ("_cp_masks.png", "_cp_masks.tif", "_cp_masks.tiff",
                 "_masks.png", "_masks.tif", "_masks.tiff",
                 "_labels.png", "_labels.tif", "_labels.tiff",
                 "_roiset.zip")
#: (name start, name ending), lower case, of mask files named ``<start><stem><ending>``
MASK_PREFIXES = (("roiset_", ".zip"),)


def read_rois(path, shape) -> np.ndarray:
    """Read ROIs from an ImageJ RoiSet ``.zip`` / ``.roi`` file or a label-image TIFF.

    Parameters
    ----------
    path : str or Path
        ``*.zip`` (ImageJ ROI Manager "Save"), ``*.roi`` (one ROI), or an integer label
        image (0 = background) as ``*.tif``/``*.tiff`` or ``*.png`` (8 or 16 bit grey, as
        Cellpose's ``*_cp_masks.png``).
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
                       f"file or a label TIFF or PNG")
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return _read_label_tiff(path, shape)
    if suffix == ".png":
        return _read_label_png(path, shape)
    if suffix not in (".zip", ".roi"):
        raise RoiError(f"ROI file {path}: unknown kind '{suffix}'; expected .zip (ImageJ RoiSet), "
                       f".roi, or .tif / .png (label image)")
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


def _read_label_png(path, shape):
    from PIL import Image  # Pillow: a dependency of matplotlib

    try:
        with Image.open(path) as img:
            found = (img.height, img.width)  # from the header: nothing decoded yet
            if found != shape:
                raise RoiError(f"label PNG {path} has shape {found}; expected a (Y, X) label "
                               f"image of the recording's shape {shape}")
            mode = img.mode
            data = np.asarray(img)
    except RoiError:
        raise
    except Exception as exc:  # Pillow raises several types on broken files
        raise RoiError(f"label PNG {path} could not be read: {exc}") from exc
    if data.ndim == 3:  # grey saved as RGB(A) is fine; a coloured overlay is not labels
        rgb = data[..., :3]
        if not (rgb == rgb[..., :1]).all():
            raise RoiError(f"label PNG {path} is a colour ({mode}) image; expected a grey label "
                           "image (0 = background, 1..N = cells) such as Cellpose's "
                           "*_cp_masks.png, not an overlay or outline picture")
        data = rgb[..., 0]
    try:
        labels = check_labels(data, name=str(path))
    except RoiError as exc:
        raise RoiError(f"label PNG {path}: {exc}") from exc
    return labels.astype(np.int32)


def mask_stem(name: str) -> tuple[str, str] | None:
    """The recording stem a mask file name refers to, and its kind.

    Parameters
    ----------
    name : str
        A file name (no folder).

    Returns
    -------
    (str, str) or None
        ``(stem, kind)`` with ``kind`` ``"cellpose"``, ``"labels"`` or ``"roiset"`` when
        ``name`` is one of the mask names of the module docstring, else None.

    Examples
    --------
    >>> mask_stem("cell1_cp_masks.png")
    ('cell1', 'cellpose')
    >>> mask_stem("RoiSet_cell1.zip")
    ('cell1', 'roiset')
    >>> mask_stem("cell1.tif") is None
    True
    """
    low = name.lower()
    for suffix in MASK_SUFFIXES:
        if low.endswith(suffix) and len(name) > len(suffix):
            kind = ("cellpose" if suffix.startswith("_cp_masks") else
                    "roiset" if suffix.endswith(".zip") else "labels")
            return name[:-len(suffix)], kind
    for prefix, suffix in MASK_PREFIXES:
        if low.startswith(prefix) and low.endswith(suffix) \
                and len(name) > len(prefix) + len(suffix):
            return name[len(prefix):-len(suffix)], "roiset"
    return None


def find_mask_beside(folder, stems) -> Path | None:
    """The mask file for a recording in ``folder``, by the names of the module docstring.

    Parameters
    ----------
    folder : str or Path
        The recording's folder.
    stems : sequence of str
        Stems the mask may be named after (for a 340/380 pair: the common stem and each
        file's stem, as Cellpose names its output after the image it segmented).

    Returns
    -------
    Path or None
        The one mask file, or None when there is none.

    Raises
    ------
    RoiError
        Two or more mask files for the recording (naming them all): which one is meant
        cannot be guessed.
    """
    folder = Path(folder)
    wanted = set(stems)
    try:
        index = _masks_in(str(folder), folder.stat().st_mtime_ns)
    except OSError:
        return None  # the recording's own read says why the folder cannot be listed
    found = sorted((folder / n for s in wanted for n in index.get(s, ())
                    if (folder / n).is_file()), key=lambda f: f.name)
    if len(found) > 1:
        raise RoiError(f"{folder}: {len(found)} mask files for the recording "
                       f"{'/'.join(sorted(wanted))}: {', '.join(f.name for f in found)}; "
                       "expected at most one: remove or rename the others, name the one to "
                       "use in the recipe (segment.rois_file), or set segment.masks_beside = "
                       "false to segment instead")
    return found[0] if found else None


@functools.lru_cache(maxsize=16)
def _masks_in(folder: str, mtime_ns: int) -> dict[str, tuple[str, ...]]:
    """Mask file names of a folder by the stem they name, listed once per folder state
    (``mtime_ns`` changes when a file is added, removed or renamed): a batch of thousands
    of recordings in one folder lists it once, not once per recording.
    """
    index: dict[str, list[str]] = {}
    for e in Path(folder).iterdir():
        m = mask_stem(e.name)
        if m is not None:
            index.setdefault(m[0], []).append(e.name)
    return {k: tuple(v) for k, v in index.items()}


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

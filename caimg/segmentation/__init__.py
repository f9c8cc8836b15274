"""Cell segmentation of widefield calcium-imaging recordings.

:func:`segment` turns summary images of a registered recording (a structural projection,
and optionally the activity images: temporal SD and local correlation) into a label
image. Methods are chosen by name (:func:`available_methods`); ``"auto"`` is the best one
(``"gradient"``, measured by ``benchmarks/segmentation_accuracy.py``). Everything here is
pure: arrays in, arrays out.

The default method, ``"gradient"``, in one paragraph: the structural image is flattened
(a smooth background, estimated from pixels that are not cells, is subtracted). The
gradient of the *log* of the flattened image, ``|grad I| / I``, is high on every cell
outline -- also between a bright and a dim cell pressed together, where intensity only
steps down without a dip -- and low inside every cell, whatever its dye loading. Cell
interiors (low relative gradient) give one marker per distance-transform maximum, so
interiors that leak into each other through a weak stretch of border still give one
marker per cell; cells too small or dim for a flat interior are added from peaks of a
scale-normalised Laplacian of Gaussian on a locally contrast-normalised image, and, when
activity images are given, from the local-correlation image (cells that respond but are
hardly visible). A watershed of the relative gradient from these markers splits touching
cells along their real border; each cell's outline is then cut at ``edge_fraction`` of its
own height above its own surroundings (one rule for cells of any brightness, which keeps
scattered-light halos outside), and slivers thinner than a quarter cell are dropped.

Issue 13 added, each a ``segment.params`` option: the cell diameter measured from the
image when none is given or the given one is far off (:func:`resolve_diameter`,
:func:`estimate_diameter`), no marker from texture inside big flat interiors, adjacent
pieces of one cell merged, outlines of textured cells referred to the body's median,
out-of-focus blobs and elongated strings (neurites) dropped, activity ROIs stuck to a cell
or the image edge dropped, pieces of a saturated cell's scattered light dropped and a dim
cell's region cut back from it, the skirt of scattered light around cells 10x brighter than
the others measured and taken off before a second pass, neurites dropped by their thin
bright core, rough pieces of a granular cell merged across a texture-sized step
(``merge_texture``), a group of ROIs touching no other ROI made one when its union is the
size and shape of one cell (``isolated_*``), and a ROI with room for two cells that is two
touching convex cells cut along a straight line (``cut_solidity``, ``cut_area``; looser
for a ROI both big and long, two round cells side by side: ``long_cut_*``);
:func:`saturated_rois` lists clipped ROIs.
``"textbook"`` is the floor caimg is benchmarked against (``benchmarks/families.py``),
``"cellpose"`` runs Cellpose with weights already on disk, and packages add methods through
the ``caimg.segmenters`` entry-point group.

The package: this module holds :func:`segment` and the method registry; each method
lives in its own module (``_gradient``, ``_watershed``, ``_threshold``, ``_textbook``,
``_cellpose``), the helpers they share (background flattening, outline cut) in
``_common``, the fragment merge in ``_merge``, the diameter estimate in ``_diameter``, the
scattered-light skirt in ``_scatter``, the two-cell cut in ``_split_merged``.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ..errors import ConfigError
from ._cellpose import segment_cellpose
from ._common import OUTLINE_REFERENCES
from ._diameter import estimate_diameter
from ._gradient import segment_gradient
from ._saturation import saturated_rois
from ._textbook import segment_textbook
from ._threshold import segment_threshold
from ._watershed import segment_watershed

__all__ = ["segment", "available_methods", "register_method", "method_options",
           "estimate_diameter", "resolve_diameter", "saturated_rois", "OPTION_CHOICES"]

#: Options of the built-in methods whose value must be one of a few words (the recipe
#: check refuses anything else before a batch starts).
OPTION_CHOICES: dict[str, tuple[str, ...]] = {"outline_reference": OUTLINE_REFERENCES}

_METHODS: dict[str, Callable[..., np.ndarray]] = {}
_DEFAULT = "gradient"


def register_method(name: str):
    """Register a segmentation method under ``name`` (a decorator).

    A method is called as ``fn(structural, activity, *, cell_diameter_px, min_area_px,
    max_area_px, **params)`` with ``structural`` a (Y, X) float64 image and ``activity``
    ``None`` or a dict with (Y, X) float64 ``"std"`` and ``"corr"``; it returns a (Y, X)
    integer label image. Its keyword-only parameters with defaults are its ``params``.

    Parameters
    ----------
    name : str
        The name ``segment(method=...)`` accepts; an existing name is replaced.

    Returns
    -------
    callable
        A decorator that registers the method and returns it unchanged.

    Examples
    --------
    >>> @register_method("everything")
    ... def _one_roi(structural, activity, *, cell_diameter_px, min_area_px, max_area_px):
    ...     return np.ones(structural.shape, dtype=np.int32)
    >>> "everything" in available_methods()
    True
    >>> int(segment(np.arange(64.0).reshape(8, 8), method="everything").max())
    1
    >>> del _METHODS["everything"]
    """

    def deco(fn):
        _METHODS[name] = fn
        return fn

    return deco


register_method("cellpose")(segment_cellpose)
register_method("gradient")(segment_gradient)
register_method("textbook")(segment_textbook)
register_method("threshold")(segment_threshold)
register_method("watershed")(segment_watershed)


#: entry-point group through which other packages add segmentation methods
PLUGIN_GROUP = "caimg.segmenters"
_PLUGINS: dict[str, Any] = {}  # name -> entry point, loaded on first use


def _plugin_entry_points():
    """Entry points of :data:`PLUGIN_GROUP` not shadowing a built-in method (not loaded)."""
    from importlib.metadata import entry_points

    builtin = set(_METHODS) - set(_PLUGINS)
    return {ep.name: ep for ep in entry_points(group=PLUGIN_GROUP) if ep.name not in builtin}


def _resolve_method(name):
    """The method function for ``name``: built-in, or a plugin loaded now; None if unknown."""
    if name in _METHODS:
        return _METHODS[name]
    ep = _plugin_entry_points().get(name)
    if ep is None:
        return _METHODS.get(name)
    try:
        fn = ep.load()
    except Exception as exc:  # a broken plugin names itself
        raise ConfigError(f"segmentation method '{name}' comes from the plugin entry point "
                          f"'{ep.value}' (group {PLUGIN_GROUP}), which failed to load: {exc}; "
                          f"fix or uninstall that package, or choose another method") from exc
    if not callable(fn):
        raise ConfigError(f"segmentation plugin '{name}' ({ep.value}) is not callable; "
                          "expected a function fn(structural, activity, *, cell_diameter_px, "
                          "min_area_px, max_area_px, **params) -> labels")
    _METHODS[name] = fn
    _PLUGINS[name] = ep
    return fn


def available_methods() -> list[str]:
    """Names accepted by ``segment(method=...)``.

    Built-in methods and those that installed packages add through the
    ``caimg.segmenters`` entry-point group (a plugin is imported only when used).

    Returns
    -------
    list of str
        ``"auto"`` first, then the method names in alphabetical order.

    Examples
    --------
    >>> available_methods()[:5]
    ['auto', 'cellpose', 'gradient', 'textbook', 'threshold']
    """
    return ["auto", *sorted(set(_METHODS) | set(_plugin_entry_points()))]


_COMMON = ("cell_diameter_px", "min_area_px", "max_area_px")


def _method_params(fn) -> dict[str, Any] | None:
    """Keyword-only options of a method with their defaults; None when it takes **kwargs."""
    sig = inspect.signature(fn)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return {k: p.default for k, p in sig.parameters.items()
            if p.kind is p.KEYWORD_ONLY and k not in _COMMON}


def _as_images(images):
    """(structural, activity-or-None) as float64, from SummaryImages-like or an array."""
    if hasattr(images, "mean") and not isinstance(images, np.ndarray) and hasattr(images, "std"):
        structural = np.asarray(images.mean, dtype=np.float64)
        activity = {}
        for k in ("std", "corr", "max"):
            v = getattr(images, k, None)
            if v is not None:
                v = np.asarray(v, dtype=np.float64)
                if v.shape != structural.shape:
                    raise ConfigError(f"summary image '{k}' has shape {v.shape}, expected the "
                                      f"shape of 'mean' {structural.shape}")
                activity[k] = v
        n_frames = getattr(images, "n_frames", None)
        if n_frames is not None:
            activity["n_frames"] = int(n_frames)
        if "corr" not in activity:
            activity = None
        return structural, activity
    arr = np.asarray(images)
    if arr.ndim != 2:
        raise ConfigError(f"'images' must be a (Y, X) projection or summary images with "
                          f"(Y, X) fields mean/std/corr, got an array of shape {arr.shape}")
    return arr.astype(np.float64), None


def resolve_diameter(structural, *, cell_diameter_px=None, cell_diameter_um=None,
                     pixel_size_um=None, estimate="auto", mismatch=1.6):
    """The cell diameter segmentation uses, in pixels, and where it came from.

    Parameters
    ----------
    structural : ndarray, shape (Y, X)
        Structural image (for the estimate).
    cell_diameter_px : float, optional
        Given diameter in pixels.
    cell_diameter_um, pixel_size_um : float, optional
        When both are given, ``cell_diameter_um / pixel_size_um`` is the given diameter.
    estimate : {"auto", "always", "never"} or bool
        ``"auto"``: measure the image (:func:`estimate_diameter`) when no diameter is
        given, or when the given one is more than ``mismatch`` times off the measured
        one (a recipe default at the wrong magnification); ``"always"`` (True): use the
        measured one whenever there is one; ``"never"`` (False): use the given one.
    mismatch : float
        Factor beyond which ``"auto"`` trusts the image over the given diameter.

    Returns
    -------
    diameter_px : float
        The diameter to use.
    source : str
        ``"given"``, ``"um/pixel size"``, ``"estimated"`` or ``"default"`` (12 px: no
        diameter given and none measurable).

    Raises
    ------
    ConfigError
        Non-positive sizes, a diameter below 1 px, or an unknown ``estimate``.
    """
    mode = {True: "always", False: "never"}.get(estimate, estimate)
    if mode not in ("auto", "always", "never"):
        raise ConfigError(f"segment parameter estimate_diameter = {estimate!r}: expected "
                          "'auto', 'always' or 'never'")
    given, source = None, "given"
    if cell_diameter_um is not None and pixel_size_um is not None:
        if cell_diameter_um <= 0 or pixel_size_um <= 0:
            raise ConfigError(f"cell_diameter_um = {cell_diameter_um} and pixel_size_um = "
                              f"{pixel_size_um}: expected positive numbers")
        given, source = float(cell_diameter_um) / float(pixel_size_um), "um/pixel size"
    elif cell_diameter_px is not None:
        given = float(cell_diameter_px)
    if given is not None and not given >= 1:
        raise ConfigError(f"cell_diameter_px = {given}: expected a value >= 1 pixel")
    if mode == "never" and given is not None:
        return given, source
    est = estimate_diameter(structural) if mode != "never" else None
    if est is None:
        return (given, source) if given is not None else (12.0, "default")
    if mode == "always" or given is None:
        return est, "estimated"
    if est > mismatch * given or given > mismatch * est:
        return est, "estimated"
    return given, source


def segment(images, *, method="auto", cell_diameter_px=12.0, cell_diameter_um=None,
            pixel_size_um=None, min_area_px=20, max_area_px=5000, **params) -> np.ndarray:
    """Find cells and return them as a label image.

    Parameters
    ----------
    images : SummaryImages or (Y, X) array
        Summary images of the registered recording (an object with (Y, X) attributes
        ``mean``, ``std``, ``corr`` and ``n_frames``, as made by
        ``caimg.motion.summary_images``), or a single (Y, X) structural image (then the
        structural image alone is used). For Fura-2 use the 380 nm channel, whose resting
        fluorescence is brightest and most stable. Intensities in camera counts.
    method : str
        ``"auto"`` (the best method, currently ``"gradient"``) or a name from
        :func:`available_methods`.
    cell_diameter_px : float or None
        Typical cell diameter in pixels. Sets every length scale of the methods. None:
        measured from the image (:func:`estimate_diameter`).
    cell_diameter_um, pixel_size_um : float, optional
        When both are known they override ``cell_diameter_px``
        (``cell_diameter_px = cell_diameter_um / pixel_size_um``).
    min_area_px, max_area_px : int
        Objects smaller or larger than this (in pixels) are dropped.
    **params
        Options of the chosen method (see the ``segment_<name>`` function of its module,
        e.g. ``caimg.segmentation._gradient.segment_gradient``); an unknown name is a
        :class:`~caimg.errors.ConfigError`. One option belongs to ``segment`` itself:
        ``estimate_diameter`` (``"auto"``, the default, ``"always"`` or ``"never"``; see
        :func:`resolve_diameter`): with ``"auto"`` a given diameter more than 1.6 x off
        the one measured in the image is replaced by the measured one.

    Returns
    -------
    (Y, X) int32 array
        Labels 1..N (consecutive, in raster order of the cells' first pixel), 0 =
        background. Every ROI is one 4-connected region without holes. A featureless or
        empty image gives all zeros.

    Raises
    ------
    ConfigError
        Unknown method (listing the valid ones, closest first), unknown parameter for
        the method, or images of the wrong shape.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage.draw import disk
    >>> img = np.random.default_rng(0).normal(100, 2, (64, 64))
    >>> for r, c in [(16, 16), (16, 40), (44, 28)]:
    ...     rr, cc = disk((r, c), 6); img[rr, cc] += 40
    >>> int(segment(img).max())
    3
    """
    name = "auto" if method is None else str(method)
    if name == "auto":
        name = _DEFAULT
    fn = _resolve_method(name)
    if fn is None:
        valid = available_methods()
        close = difflib.get_close_matches(name, valid, n=len(valid), cutoff=0.0)
        raise ConfigError(f"unknown segmentation method '{method}': expected one of {close} "
                          f"(packages add methods through the '{PLUGIN_GROUP}' entry-point "
                          "group)")
    params = dict(params)
    estimate = params.pop("estimate_diameter", "auto")
    valid_params = _method_params(fn)
    for k in (params if valid_params is not None else ()):
        if k not in valid_params:
            close = difflib.get_close_matches(k, list(valid_params), n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"unknown parameter '{k}' for segmentation method '{name}': "
                              f"expected one of {sorted(valid_params)}{hint}")
    check = getattr(fn, "check_params", None)
    if check is not None:
        check(params)
    if min_area_px > max_area_px:
        raise ConfigError(f"min_area_px = {min_area_px} is larger than max_area_px = "
                          f"{max_area_px}; expected min_area_px <= max_area_px")

    structural, activity = _as_images(images)
    finite = np.isfinite(structural)
    if not finite.all():
        fill = np.median(structural[finite]) if finite.any() else 0.0
        structural = np.where(finite, structural, fill)
    if activity is not None:
        for k in ("std", "corr"):
            if k in activity:
                activity[k] = np.nan_to_num(activity[k], nan=0.0, posinf=0.0, neginf=0.0)
    if structural.size == 0 or min(structural.shape) < 3 or np.ptp(structural) == 0:
        resolve_diameter(structural, cell_diameter_px=cell_diameter_px,
                         cell_diameter_um=cell_diameter_um, pixel_size_um=pixel_size_um,
                         estimate="never")  # still check the arguments
        return np.zeros(structural.shape, dtype=np.int32)
    cell_diameter_px, _ = resolve_diameter(
        structural, cell_diameter_px=cell_diameter_px, cell_diameter_um=cell_diameter_um,
        pixel_size_um=pixel_size_um, estimate=estimate)

    labels = fn(structural, activity, cell_diameter_px=cell_diameter_px,
                min_area_px=int(min_area_px), max_area_px=int(max_area_px), **params)
    return _finalise(labels, min_area_px, max_area_px)


def _finalise(labels, min_area_px, max_area_px):
    """One 4-connected, hole-free region per label, area filters, consecutive ids."""
    labels = np.asarray(labels)
    out = np.zeros(labels.shape, dtype=np.int32)
    if labels.max(initial=0) == 0:
        return out
    slices = ndi.find_objects(labels.astype(np.int64, copy=False))
    k = 0
    for i, sl in enumerate(slices, start=1):
        if sl is None:
            continue
        m = labels[sl] == i
        cc, n = ndi.label(m)
        if n > 1:
            sizes = np.bincount(cc.ravel())[1:]
            m = cc == (np.argmax(sizes) + 1)
        m = ndi.binary_fill_holes(m)
        m &= (out[sl] == 0)
        a = int(m.sum())
        if a < min_area_px or a > max_area_px:
            continue
        # filling may merge a disconnected sliver; keep the largest 4-connected part again
        cc, n = ndi.label(m)
        if n > 1:
            sizes = np.bincount(cc.ravel())[1:]
            m = cc == (np.argmax(sizes) + 1)
        k += 1
        out[sl][m] = k
    return out


def method_options(name: str) -> dict[str, Any] | None:
    """The options (``segment.params``) of a registered method, with their defaults.

    Parameters
    ----------
    name : str
        A name of :func:`available_methods` (``"auto"``: the method it stands for).

    Returns
    -------
    dict or None
        Option name -> default; None for a method that takes any option.

    Raises
    ------
    ConfigError
        An unknown method.
    """
    fn = _resolve_method(_DEFAULT if name == "auto" else name)  # a plugin is loaded here
    if fn is None:
        raise ConfigError(f"unknown segmentation method {name!r}; expected one of "
                          f"{available_methods()}")
    return _method_params(fn)

"""Plausibility checks of a recording's physical scales against the recipe (issue 16).

Pure functions: numbers in, a :class:`~caimg.errors.ConfigError` or a warning message out.
They catch unit mistakes (a pixel size in mm or m given as um, a frame interval in ms
given as s) before they make segmentation allocate gigabytes or kinetics return NaN.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .errors import ConfigError, DataQualityWarning

__all__ = ["PIXEL_SIZE_RANGE_UM", "INTENSITY_RANGE", "unit_hint", "check_cell_diameter_px",
           "recording_where", "warn_inverted", "warn_no_rois", "unit_scaled",
           "check_scale"]

#: Pixel edge lengths (in the sample plane) of light microscopes with a camera, in um:
#: from 100x objectives with small pixels (~0.05) to low-magnification macro views.
PIXEL_SIZE_RANGE_UM = (0.02, 50.0)

_UNITS = (("mm", 1e3), ("m", 1e6), ("nm", 1e-3), ("cm", 1e4))


def unit_hint(value: float, lo: float, hi: float, base: str = "um") -> str:
    """A hint naming the unit that would make ``value`` fall inside ``[lo, hi]``.

    Parameters
    ----------
    value : float
    lo, hi : float
        The plausible range in ``base`` units.
    base : str
        The unit the value should be in (``"um"`` or ``"s"``).

    Returns
    -------
    str
        E.g. ``" (0.0065 looks like mm: 6.5 um)"``, or ``""`` when no unit fits.
    """
    units = _UNITS if base == "um" else (("ms", 1e-3),)
    for name, factor in units:
        if lo <= value * factor <= hi:
            return f" ({value:g} looks like {name}: {value * factor:g} {base})"
    return ""


def check_cell_diameter_px(pixel_size_um: float, cell_diameter_um: float,
                           frame_shape: tuple[int, int], *, where: str, source: str
                           ) -> str | None:
    """Check that ``cell_diameter_um / pixel_size_um`` is a plausible size in pixels.

    Parameters
    ----------
    pixel_size_um : float
        Pixel edge length in um.
    cell_diameter_um : float
        ``segment.cell_diameter_um`` of the recipe.
    frame_shape : (int, int)
        (Y, X) of the frames.
    where : str
        The recording (file names) for the message.
    source : str
        Where the pixel size came from (``"override"``, ``"metadata"``), for the message.

    Returns
    -------
    str or None
        A warning message when the cell is under 2 px across (cells hardly resolved);
        None when plausible.

    Raises
    ------
    ConfigError
        When a cell would be under 1 px or over twice the frame's larger side across: the
        pixel size is almost surely in the wrong unit (mm or m for um moves it by 1e3 or
        1e6), and segmenting at that scale would find nothing (or run for hours). A small
        crop around one or two cells stays allowed.
    """
    diameter_px = float(cell_diameter_um) / float(pixel_size_um)
    lo, hi = PIXEL_SIZE_RANGE_UM
    if source == "metadata":
        origin = (f"the pixel size in the file metadata, {pixel_size_um:g} um,")
        fix = "pass the right one with --pixel-size UM (or set input.pixel_size_um)"
    else:
        origin = f"--pixel-size / input.pixel_size_um = {pixel_size_um:g} um"
        fix = "give the pixel size in micrometres (--pixel-size UM)"
    hint = unit_hint(pixel_size_um, lo, hi) if not lo <= pixel_size_um <= hi else ""
    what = (f"{where}: {origin} makes a segment.cell_diameter_um = {cell_diameter_um:g} um "
            f"cell {diameter_px:.3g} px across in frames of {frame_shape[0]}x{frame_shape[1]} "
            "px")
    most = 2 * max(frame_shape)
    if not math.isfinite(diameter_px) or diameter_px > most or diameter_px < 1:
        raise ConfigError(f"{what}; expected 1 to {most:g} px{hint}; {fix}, or set "
                          "segment.cell_diameter_px and drop cell_diameter_um")
    if diameter_px < 2:
        return (f"{what}; cells under 2 px across are hardly resolved, so ROIs are unreliable"
                f"{hint}; check the pixel size (in um) and segment.cell_diameter_um")
    return None


#: Frame intervals of calcium recordings, in s: from fast line-scan-like cameras (1 us) to
#: slow time-lapse (one frame an hour); outside this, the number is in the wrong unit.
FRAME_INTERVAL_RANGE_S = (1e-6, 3600.0)


def interval_origin(source: str) -> str:
    """How the frame interval was given, for messages (``--frame-interval`` or the file)."""
    if source in ("override", "recipe"):
        return "--frame-interval / input.frame_interval_s"
    return f"the frame interval in the file metadata ({source})"


def check_frame_interval(interval_s: float, n_frames: int, *, where: str, source: str) -> None:
    """Check that the frame interval is a plausible number of seconds.

    Parameters
    ----------
    interval_s : float
    n_frames : int
    where : str
        The recording, for the message.
    source : str
        ``Recording.frame_interval_source``.

    Raises
    ------
    ConfigError
        Naming the option (or the file metadata), the value and the plausible range.
    """
    lo, hi = FRAME_INTERVAL_RANGE_S
    duration = float(interval_s) * max(n_frames - 1, 0)
    if lo <= interval_s <= hi and math.isfinite(duration):
        return
    fix = ("pass the right one with --frame-interval SECONDS" if source not in
           ("override", "recipe") else "give the time between frames in seconds")
    raise ConfigError(f"{where}: {interval_origin(source)} = {interval_s:g} s; expected "
                      f"{lo:g} to {hi:g} s between frames{unit_hint(interval_s, lo, hi, 's')}"
                      f"; {fix}")


def treatment_problem(name: str, time_s: float, first_s: float, last_s: float,
                      baseline_window_s: float, *, where: str) -> str | None:
    """Why a treatment time cannot be measured in a recording, or None.

    Parameters
    ----------
    name : str
        Treatment name.
    time_s : float
        Treatment time (s, recording clock).
    first_s, last_s : float
        Times of the first and last frame.
    baseline_window_s : float
    where : str
        The recording, for the message.

    Returns
    -------
    str or None
        A warning message naming the option when the treatment lies after the last frame
        or has no frame before it (its ``treatments.csv`` rows are then empty).
    """
    opt = f"kinetics.treatments {name} = {time_s:g} s (--treatment or treatments.csv)"
    if time_s > last_s:
        return (f"{where}: {opt} is after the last frame ({last_s:.3g} s); its rows in "
                "treatments.csv are empty (NaN); expected a time within the recording")
    if time_s <= first_s:
        return (f"{where}: {opt} is at or before the first frame ({first_s:.3g} s), so no "
                "baseline precedes it; its rows in treatments.csv are empty (NaN); expected "
                f"a time with frames in the {baseline_window_s:g} s before it")
    return None


# -- checks of a recording in the pipeline's stages (caimg._stages) -----------------------

def recording_where(rec) -> str:
    """The recording's files (or its name), to start a message with.

    Parameters
    ----------
    rec : Recording

    Returns
    -------
    str
    """
    return ", ".join(str(p) for p in rec.source) or rec.name


def warn_inverted(rec, summary) -> None:
    """Cells darker than the background make the mean image skewed towards dark; bright
    cells on a dark background (every fluorescence image caimg is meant for) skew it
    towards bright (skewness 0.2 to 3 in the examples and shared data).
    """
    x = np.asarray(getattr(summary, "mean", summary), dtype=np.float64)
    x = x[np.isfinite(x)]
    sd = float(x.std()) if x.size > 2 else 0.0
    if not sd > 0:
        return
    skewness = float(np.mean(((x - x.mean()) / sd) ** 3))
    if skewness < -1.0:
        warnings.warn(f"{recording_where(rec)}: the mean image is skewed towards dark "
                      f"(skewness {skewness:.2g}; bright cells on a dark background give > 0): "
                      "the contrast looks inverted (background brighter than cells, e.g. an "
                      "inverted LUT saved into the data or a transmitted-light channel); ROIs "
                      "found may be the gaps between cells - check the channel, or give ROIs "
                      "with --rois", DataQualityWarning, stacklevel=3)


def warn_no_rois(rec, cfg, source: str) -> None:
    if source == "auto":
        sc = cfg.segment
        size = (f"segment.cell_diameter_um = {sc.cell_diameter_um:g} um at "
                f"{rec.pixel_size_um:g} um/px" if sc.cell_diameter_um is not None
                and rec.pixel_size_um else f"segment.cell_diameter_px = {sc.cell_diameter_px:g}")
        how = (f"segmentation (segment.method = '{sc.method}', {size}) found no cell; check "
               "the cell size and pixel size, the contrast (cells brighter than the "
               "background) and the intensity scale, or give ROIs with --rois")
    else:
        how = "the ROIs given cover no pixel of the image; check the ROI file"
    warnings.warn(f"{recording_where(rec)}: 0 ROIs: {how}; the result has no traces or "
                  "kinetics",
                  DataQualityWarning, stacklevel=3)


#: Typical intensity range (camera counts, or dF/F-like floats) segmentation is tuned for
INTENSITY_RANGE = (1e-2, 1e7)


def unit_scaled(summary):
    """Summary images with intensities brought into :data:`INTENSITY_RANGE` by a power of
    two (exact: only the exponent changes), so segmentation, whose thresholds include
    absolute epsilons, finds the same cells in a float stack scaled by 1e-30 or 1e30
    (issue 16). Images already in range are returned as they are (same object).
    """
    import dataclasses

    mean = getattr(summary, "mean", None)
    if mean is None or not dataclasses.is_dataclass(summary):
        return summary
    level = float(np.nanmedian(np.abs(mean))) if np.size(mean) else 0.0
    lo, hi = INTENSITY_RANGE
    if not np.isfinite(level) or level == 0 or lo <= level <= hi:
        return summary
    factor = 2.0 ** -round(np.log2(level / 1000.0))  # median about 1000
    return dataclasses.replace(summary, mean=np.asarray(summary.mean, np.float64) * factor,
                               std=np.asarray(summary.std, np.float64) * factor,
                               max=np.asarray(summary.max, np.float64) * factor)


def check_scale(rec, sc) -> None:
    """A pixel size in the wrong unit must not make segmentation run for hours (issue 16)."""
    px = rec.pixel_size_um
    if px is None:
        return
    source = rec.metadata.get("pixel_size_source", "override")
    if sc.cell_diameter_um is not None:
        msg = check_cell_diameter_px(px, sc.cell_diameter_um, rec.shape[1:],
                                     where=recording_where(rec), source=source)
        if msg:
            warnings.warn(msg, UserWarning, stacklevel=3)
    lo, hi = PIXEL_SIZE_RANGE_UM
    if not lo <= px <= hi:
        warnings.warn(f"{recording_where(rec)}: pixel size {px:g} um ({source}) is outside "
                      f"the usual {lo:g} to {hi:g} um{unit_hint(px, lo, hi)}; ROI areas in um2 "
                      "use it (give --pixel-size UM)", UserWarning, stacklevel=3)

"""Is there a signal to report? The low-signal test of issue 13.

A ROI whose background-subtracted baseline is not clearly above the background's noise has
no measurable dF/F0 or ratio: an error of one background SD in the background under it
changes the result several-fold or flips its sign (real movies gave dF/F0 of -8 and +60).
:func:`background_noise_sd` and :func:`low_signal_flags` are the pure test;
:func:`background_noise` and :func:`flag_low_signal` are what the pipeline's background
and signal stages (:mod:`caimg._stages`) call. Definitions: README "Definitions".
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .errors import CaimgError

__all__ = ["background_noise_sd", "low_signal_flags", "background_noise", "flag_low_signal",
           "ring_not_below_cell", "background_subtracted", "mean_of_frames"]


def background_noise_sd(image, mask) -> float:
    """Robust spatial noise SD of the background pixels of an image.

    Parameters
    ----------
    image : array_like, shape (Y, X)
        A time-averaged frame of one channel (camera counts).
    mask : array_like of bool, shape (Y, X)
        Background pixels (no ROI).

    Returns
    -------
    float
        ``1.4826 * median(|v - median(v)|)`` over the finite background values ``v``: the
        SD of a normal distribution with that spread, insensitive to the few bright pixels
        of unsegmented cells. NaN when fewer than 2 background pixels are finite.

    Notes
    -----
    The background subtraction uses one level per frame; the background under a given ROI
    differs from it by about this much (uneven illumination, haze, neuropil, camera
    pattern), so a ROI whose background-subtracted F is not well above it has no
    measurable baseline.

    Examples
    --------
    >>> img = np.array([[10.0, 12.0], [14.0, 100.0]])
    >>> round(background_noise_sd(img, img < 50), 4)
    2.9652
    """
    img = np.asarray(image, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    if m.shape != img.shape:
        raise CaimgError(f"background mask has shape {m.shape}, the image {img.shape}: "
                         "expected the same (rows, columns)")
    v = img[m]
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan")
    return float(1.482602218505602 * np.median(np.abs(v - np.median(v))))


def low_signal_flags(baseline, background_sd, *, k: float = 1.5) -> np.ndarray:
    """Which ROIs have no baseline clearly above the background noise.

    Parameters
    ----------
    baseline : array_like, shape (T, R) or (R,)
        Background-subtracted baseline of one channel (F0 from :func:`compute_f0`); a
        (T, R) baseline is summarised by its median over time.
    background_sd : float
        Background noise SD of that channel (:func:`background_noise_sd`), same units.
        NaN (no background pixels): only a baseline at or below zero is flagged.
    k : float
        A ROI is flagged when its baseline is below ``k * background_sd`` (or at or below
        zero, or not finite).

    Returns
    -------
    flags : ndarray of bool, shape (R,)

    Notes
    -----
    dF/F0 and F340/F380 divide by this baseline. When it is within a few background SDs
    of zero, an error of one background SD in the background under the ROI changes the
    result by a factor of 3 or more and its sign can flip; such ROIs give dF/F0 values of
    -8 or +60 on real movies. With ``k = 1.5`` (the default) a flagged ROI's baseline is
    below about 93 % of a normal background's pixels, and an error of one background SD
    changes its dF/F0 by a factor of 3 or more.

    Examples
    --------
    >>> low_signal_flags(np.array([5.0, 50.0, -1.0]), 10.0, k=2.0).tolist()
    [True, False, True]
    """
    b = np.asarray(baseline, dtype=np.float64)
    if b.ndim == 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns -> NaN
            b = np.nanmedian(b, axis=0) if b.shape[0] else np.full(b.shape[1], np.nan)
    elif b.ndim != 1:
        raise CaimgError(f"'baseline' has shape {b.shape}: expected (R,) or (T, R)")
    if not (math.isfinite(k) and k >= 0):
        raise CaimgError(f"'low_signal_k' = {k!r}: expected a number >= 0")
    limit = k * background_sd if math.isfinite(background_sd) else 0.0
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(b) | (b <= 0) | (b < limit)


def background_noise(rec, labels, mask, *, dropped_frames=None) -> dict[str, float]:
    """Spatial noise SD of the background of every channel, for the low-signal test.

    Parameters
    ----------
    rec : Recording
    labels : ndarray, (Y, X) int
    mask : ndarray, (Y, X) bool, or None
        The background pixels; None (``constant`` / ``none`` background): the pixels of
        :func:`caimg.traces.background_mask` of ``labels``.
    dropped_frames : sequence of int, optional
        Frames left out (blank or broken).

    Returns
    -------
    dict of str to float
        :func:`background_noise_sd` of the mean of up to 64 evenly spaced
        frames of each channel (camera counts; NaN without background pixels).

    Notes
    -----
    64 frames keep the cost at a fraction of one pass over a long stack while cutting the
    frame-to-frame noise by 8: what remains is the spread a background level cannot
    remove (uneven illumination, haze, neuropil), the relevant error of F0.
    """
    from .traces import background_mask

    if mask is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mask = background_mask(labels)
    skip = set(dropped_frames or ())
    out = {}
    for ch, stack in rec.channels.items():
        m = mean_of_frames(stack, skip=skip)
        out[ch] = float("nan") if m is None else background_noise_sd(m, mask)
    return out


def mean_of_frames(stack, *, skip=(), n_max=64):
    """Mean of up to ``n_max`` evenly spaced frames of ``stack`` that are not in ``skip``.

    Parameters
    ----------
    stack : array_like, shape (T, Y, X)
        Read one frame at a time (memory-mapped stacks stay on disk).
    skip : collection of int
        Frames to leave out (blank or broken).
    n_max : int
        At most this many frames.

    Returns
    -------
    ndarray of float64, shape (Y, X), or None
        None when no frame is left.
    """
    n = int(stack.shape[0])
    idx = [int(i) for i in np.unique(np.linspace(0, n - 1, min(n, n_max)).round().astype(int))
           if int(i) not in skip]
    if not idx:
        return None
    acc = np.zeros(stack.shape[1:], dtype=np.float64)
    for i in idx:
        acc += np.asarray(stack[i:i + 1], dtype=np.float64)[0]
    return acc / len(idx)


def flag_low_signal(out, means, time_s, *, roi_ids, config, noise):
    """Flag the ROIs with no baseline above the background noise; NaN their derived columns.

    Parameters
    ----------
    out : caimg.indicators.SignalOutput
        What the indicator's signal function returned.
    means : mapping of str to ndarray, each (T, R)
        Background-subtracted channel means.
    time_s : ndarray, (T,)
    roi_ids : ndarray, (R,)
    config : caimg.config.PipelineConfig
        Its indicator (every channel it reads is tested), ``signal.low_signal_k`` and the
        F0 options.
    noise : mapping of str to float
        Background noise SD per channel (:func:`background_noise`); a missing channel
        counts as NaN (only a baseline at or below zero is flagged).

    Returns
    -------
    caimg.indicators.SignalOutput
        ``out`` with ``low_signal`` (R,) bool, NaN for flagged ROIs in every column but the
        channels and ``f0``, ``signal`` the indicator's column of those, and ``info`` with
        ``low_signal_k``, ``background_noise_sd`` and ``low_signal_rois``.
    """
    from dataclasses import replace

    from .indicators import f0_options, get_indicator
    from .signals import compute_f0

    ind, k = get_indicator(config.indicator), config.signal.low_signal_k
    flags = np.zeros(len(roi_ids), dtype=bool)
    for ch in ind.channels:
        f0 = compute_f0(means[ch], time_s, **f0_options(config))
        flags |= low_signal_flags(f0, noise.get(ch, float("nan")), k=k)
    columns = dict(out.columns)
    if flags.any():
        for name, col in columns.items():
            if name not in ind.channels and name != "f0":
                columns[name] = np.where(flags[None, :], np.nan, col)
    info = {**out.info, "low_signal_k": k,
            "background_noise_sd": {ch: noise.get(ch, float("nan")) for ch in ind.channels},
            "low_signal_rois": [int(r) for r in np.asarray(roi_ids)[flags]]}
    return replace(out, columns=columns, signal=columns[ind.signal_column], info=info,
                   low_signal=flags)


def ring_not_below_cell(ring_subtracted, global_subtracted, time_s, *, config, noise,
                        global_noise):
    """Which ROIs' rings are not background: the ring leaves no baseline above the noise
    where the global background does.

    A ring is background when it is darker than the cell it surrounds. Where the ROI is
    part of a larger bright structure (a cell cluster, a glomerulus, a cell pressed into
    unsegmented neighbours), its ring lies on that structure's light and subtracting it
    leaves a baseline near zero (flagged ``low_signal``). For those ROIs the global
    background is the better estimate, as it is for rings with too few pixels.

    Parameters
    ----------
    ring_subtracted, global_subtracted : mapping of str to ndarray, each (T, R)
        The channel means minus each ROI's ring background, and minus the global one.
    time_s : ndarray, (T,)
    config : caimg.config.PipelineConfig
        Its indicator (every channel it reads is tested), ``signal.low_signal_k`` and the
        F0 options.
    noise : mapping of str to float
        The rings' noise SD per channel (:func:`caimg.annulus.ring_noise_sd`).
    global_noise : mapping of str to float
        The global background pixels' spread per channel (:func:`background_noise_sd`),
        uneven illumination included: how far the global value may be off under a ROI. A
        missing channel: the global background is never used instead.

    Returns
    -------
    ndarray of bool, shape (R,)
        True where some channel's ring-subtracted F0 is below ``low_signal_k`` ring noise
        SDs and every channel's globally subtracted F0 is above ``low_signal_k`` global
        noise SDs. A ROI drawn on empty background in a brighter part of an unevenly lit
        field is above the global median but not by that spread, so it stays flagged.

    Examples
    --------
    >>> from caimg.pipeline import resolve_pipeline
    >>> cfg = resolve_pipeline("fluo4")
    >>> t = np.arange(20.0)
    >>> ring = {"f": np.tile([100.0, 2.0], (20, 1))}     # ROI 2: ring as bright as the cell
    >>> glob = {"f": np.tile([150.0, 90.0], (20, 1))}
    >>> ring_not_below_cell(ring, glob, t, config=cfg, noise={"f": 5.0},
    ...                     global_noise={"f": 20.0}).tolist()
    [False, True]
    """
    from .indicators import f0_options, get_indicator
    from .signals import compute_f0

    ind, k = get_indicator(config.indicator), config.signal.low_signal_k
    ring_low = global_ok = None
    for ch in ind.channels:
        sd = noise.get(ch, float("nan"))
        low_r = low_signal_flags(compute_f0(ring_subtracted[ch], time_s,
                                            **f0_options(config)), sd, k=k)
        ok_g = ~low_signal_flags(compute_f0(global_subtracted[ch], time_s,
                                            **f0_options(config)),
                                 global_noise.get(ch, float("inf")), k=k)
        ring_low = low_r if ring_low is None else ring_low | low_r
        global_ok = ok_g if global_ok is None else global_ok & ok_g
    return ring_low & global_ok


def background_subtracted(raw, time_s, *, config, dropped_frames=None, noise=None,
                          global_noise=None):
    """Each of the indicator's channel means minus the recipe's background.

    Parameters
    ----------
    raw : mapping of str to caimg.traces.Traces
        Per channel: ``means`` (T, R), the global ``background`` (T,) and, with rings,
        ``roi_background`` (T, R).
    time_s : ndarray, (T,)
    config : caimg.config.PipelineConfig
        ``background.method`` (and ``constant``), the indicator and the F0 options.
    dropped_frames : sequence of int, optional
        Frames with no value (NaN rows: F0 and baselines leave them out).
    noise, global_noise : mapping of str to float, optional
        The rings' and the global background's noise SD per channel (ring method only;
        :func:`ring_not_below_cell`).

    Returns
    -------
    means : dict of str to ndarray, (T, R)
    ring_not_below : ndarray of bool, (R,), or None
        With ``method = "annulus"``: the ROIs that use the global background because their
        ring is not darker than the cell (:func:`ring_not_below_cell`); else None.
    """
    from .indicators import get_indicator
    from .signals import subtract_background

    bc = config.background
    channels = get_indicator(config.indicator).channels

    def subtracted(level):
        out = {}
        for ch in channels:
            m = subtract_background(raw[ch].means, level(ch))
            if dropped_frames:
                m = np.array(m, dtype=np.result_type(m, np.float32), copy=True)
                m[list(dropped_frames)] = np.nan
            out[ch] = m
        return out

    if bc.method == "constant":
        return subtracted(lambda ch: float(bc.constant[ch])), None
    if bc.method == "none":
        return subtracted(lambda ch: 0.0), None
    if bc.method != "annulus" or any(raw[ch].roi_background is None for ch in channels):
        # (rings not extracted, e.g. a stage run alone: the global background)
        return subtracted(lambda ch: raw[ch].background), None
    ring = subtracted(lambda ch: raw[ch].roi_background)
    if any(raw[ch].background is None for ch in channels):
        return ring, None
    glob = subtracted(lambda ch: raw[ch].background)
    use = ring_not_below_cell(ring, glob, time_s, config=config, noise=noise or {},
                              global_noise=global_noise or {})
    if use.any():
        ring = {ch: np.where(use[None, :], glob[ch], m) for ch, m in ring.items()}
    return ring, use

"""Named treatments (stimuli) of a recording: peak, AUC, slope, latency and responder call
per ROI and treatment (``treatments.csv``).
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_time_s
from ..errors import CaimgError
from ..result import TREATMENT_COLUMNS, TREATMENT_DTYPES
from ._response import integrate

__all__ = ["TREATMENT_COLUMNS", "measure_treatments", "treatments_from_table"]

_NAN = float("nan")


def _treatment_list(treatments):
    if isinstance(treatments, dict) or hasattr(treatments, "items"):
        items = list(treatments.items())
    else:
        items = [tuple(x) for x in treatments]
    out = []
    for item in items:
        if len(item) != 2:
            raise CaimgError(f"treatment {item!r}: expected (name, time_s)")
        name, ts = item
        try:
            ts = float(ts)
        except (TypeError, ValueError):
            raise CaimgError(f"treatment {name!r}: time_s = {ts!r} is not a number") from None
        if not math.isfinite(ts):
            raise CaimgError(f"treatment {name!r}: time_s = {ts!r}: expected a finite time")
        out.append((str(name), ts))
    return sorted(out, key=lambda x: x[1])


def treatments_from_table(table, recording: str):
    """Treatment times of one recording from a table with columns ``recording``,
    ``treatment``, ``time_s`` (e.g. a small CSV next to the recordings, read by the IO
    layer).

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``recording``, ``treatment`` and ``time_s`` (seconds from the first frame).
    recording : str
        The recording whose rows are taken.

    Returns
    -------
    list of (str, float)
        ``(treatment, time_s)`` sorted by time.
    """
    missing = {"recording", "treatment", "time_s"} - set(table.columns)
    if missing:
        raise CaimgError(f"treatment table lacks column(s) {sorted(missing)}: expected "
                         "columns recording, treatment, time_s")
    rows = table[table["recording"].astype(str) == str(recording)]
    return _treatment_list(list(zip(rows["treatment"], rows["time_s"], strict=True)))


def measure_treatments(signal, time_s, treatments, *, roi_ids=None,
                       baseline_window_s: float = 10.0, window_s: float | None = None,
                       responder_k: float = 5.0, slope_frames: int = 3):
    """Per ROI and treatment: peak, AUC over a window, maximum slope, latency, responder.

    Parameters
    ----------
    signal : array_like, shape (T, R)
    time_s : array_like, shape (T,)
    treatments : mapping name -> time_s, or sequence of (name, time_s)
        Treatment / stimulus times (s, clock of ``time_s``).
    roi_ids : array_like of int, shape (R,), optional
    baseline_window_s : float
        Baseline = frames with ``t_k - baseline_window_s <= t < t_k`` (and after the
        previous treatment's time).
    window_s : float, optional
        Response window length after each treatment; default up to the next treatment
        (or the end of the recording).
    responder_k : float
        Responder when ``peak > baseline + responder_k * baseline_sd``.
    slope_frames : int
        Frames of the local straight-line fit that estimates the slope (>= 2).

    Returns
    -------
    table : pandas.DataFrame
        :data:`TREATMENT_COLUMNS`, one row per ROI and treatment (treatments in time
        order). ``baseline_sd`` is the SD (ddof=1) of the baseline frames, ``peak`` the
        largest value in the window, ``amplitude = peak - baseline``, ``auc`` the
        trapezoid integral of ``y - baseline`` over the window (signal x s),
        ``max_slope`` the largest least-squares slope over ``slope_frames`` consecutive
        frames in the window (signal/s), ``latency_s`` the interpolated time from the
        treatment to the first crossing of ``baseline + responder_k * baseline_sd``
        (NaN for non-responders).
    """
    import pandas as pd

    x = np.asarray(signal, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise CaimgError(f"'signal' has shape {x.shape}: expected (T, R)")
    T, R = x.shape
    t = check_time_s(time_s, T)
    ids = np.arange(1, R + 1) if roi_ids is None else np.asarray(roi_ids)
    if ids.shape != (R,):
        raise CaimgError(f"'roi_ids' has shape {ids.shape}: expected ({R},)")
    if isinstance(slope_frames, bool) or int(slope_frames) != slope_frames or slope_frames < 2:
        raise CaimgError(f"'slope_frames' = {slope_frames!r}: expected a whole number >= 2")
    for key, v in (("baseline_window_s", baseline_window_s), ("responder_k", responder_k)):
        if not (math.isfinite(v) and v > 0):
            raise CaimgError(f"'{key}' = {v!r}: expected a number > 0")
    if window_s is not None and not (math.isfinite(window_s) and window_s > 0):
        raise CaimgError(f"'window_s' = {window_s!r}: expected a number > 0 or None")
    tr = _treatment_list(treatments)
    rows = []
    n = int(slope_frames)
    for k, (name, tk) in enumerate(tr):
        t_prev = tr[k - 1][1] if k else -np.inf
        t_next = tr[k + 1][1] if k + 1 < len(tr) else np.inf
        t_end = min(t_next, tk + window_s if window_s is not None else np.inf, t[-1])
        bsel = (t >= max(tk - baseline_window_s, t_prev)) & (t < tk)
        wsel = (t >= tk) & (t <= t_end)
        for j in range(R):
            rows.append(_treatment_row(t, x[:, j], int(ids[j]), name, tk, t_end, bsel, wsel,
                                       responder_k=responder_k, slope_frames=n))
    return pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=TREATMENT_DTYPES[c])
                         for c in TREATMENT_COLUMNS})


def _treatment_row(t, y, roi, name, tk, t_end, bsel, wsel, *, responder_k, slope_frames):
    """One ROI's row of :data:`TREATMENT_COLUMNS` for treatment ``name`` at ``tk`` s."""
    n = slope_frames
    iw = np.flatnonzero(wsel)
    vb = y[bsel][np.isfinite(y[bsel])]
    vw = y[wsel]
    row = dict(roi=roi, treatment=name, treatment_time_s=tk,
               baseline=_NAN, baseline_sd=_NAN, peak=_NAN, amplitude=_NAN, auc=_NAN,
               max_slope=_NAN, latency_s=_NAN, responder=False)
    if vb.size and np.any(np.isfinite(vw)):
        b = float(vb.mean())
        sd = float(vb.std(ddof=1)) if vb.size > 1 else _NAN
        peak = float(np.nanmax(vw))
        row.update(baseline=b, baseline_sd=sd, peak=peak, amplitude=peak - b,
                   auc=integrate(t, y - b, tk, t_end))
        if iw.size >= n:
            tw, yw = t[iw], y[iw]
            win_t = np.lib.stride_tricks.sliding_window_view(tw, n)
            win_y = np.lib.stride_tricks.sliding_window_view(yw, n)
            tc = win_t - win_t.mean(1, keepdims=True)
            slopes = (tc * (win_y - win_y.mean(1, keepdims=True))).sum(1) / (tc * tc).sum(1)
            if np.any(np.isfinite(slopes)):
                row["max_slope"] = float(np.nanmax(slopes))
        if math.isfinite(sd) and sd > 0:
            level = b + responder_k * sd
            responder = peak > level
            row["responder"] = bool(responder)
            if responder:
                i0 = iw[0]
                above = np.flatnonzero(np.where(np.isfinite(y[iw]), y[iw] > level, False))
                i1 = i0 + int(above[0])
                if i1 == i0 or not math.isfinite(y[i1 - 1]):
                    tc1 = float(t[i1])
                else:
                    tc1 = float(t[i1 - 1] + (level - y[i1 - 1]) /
                                (y[i1] - y[i1 - 1]) * (t[i1] - t[i1 - 1]))
                row["latency_s"] = max(tc1, tk) - tk
    return row

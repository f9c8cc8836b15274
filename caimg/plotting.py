"""Figures: the ``overview.png`` of a result, and one trace with its kinetics marks.

:func:`overview_figure` draws a whole result (ROIs over the projection, all traces);
:func:`plot_trace` draws one ROI's trace with the baseline, peak, 10 % / 90 % rise points and
the decay fit on any matplotlib axes: the napari review widget uses it, and so can a
notebook. Both take plain arrays and results; matplotlib is imported when a figure is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["overview_figure", "save_overview", "plot_trace", "response_marks", "trace_ylabel",
           "TRACE_YLABELS"]

#: Axis label of a trace column (the signal columns; other columns are labelled by name).
TRACE_YLABELS = {"ratio": "F340/F380 ratio", "dff": "dF/F0"}


def trace_ylabel(column: str | None) -> str:
    """Axis label of a trace column: :data:`TRACE_YLABELS`, else the column name.

    Parameters
    ----------
    column : str or None
        A column of ``Result.traces`` (``ratio``, ``dff``, ``f340``, ``ca_nM``...).

    Returns
    -------
    str
        ``""`` when ``column`` is None.

    Examples
    --------
    >>> trace_ylabel("dff"), trace_ylabel("f380")
    ('dF/F0', 'f380')
    """
    if column is None:
        return ""
    return TRACE_YLABELS.get(column, column)


def overview_figure(result):
    """Matplotlib figure: projection with ROI outlines (accepted green, rejected red) and
    the signal traces of accepted ROIs (responders coloured, others grey).

    Parameters
    ----------
    result : Result

    Returns
    -------
    matplotlib.figure.Figure
        12 x 5 inches at 100 dpi, not attached to pyplot.
    """
    # a bare Figure (no pyplot) renders through Agg on savefig by itself: no backend is
    # selected, so a notebook's or napari's own matplotlib backend and figures stay as they are
    from matplotlib.figure import Figure
    from skimage.segmentation import find_boundaries

    fig = Figure(figsize=(12, 5), dpi=100)
    # fixed axes boxes, not layout="constrained": the layout engine measured every tick
    # label and took 40 % of the time to save the figure, a fixed cost of every recording
    # in a batch (issue 15); the margins leave room for 7-character tick labels
    ax_img = fig.add_axes((0.01, 0.03, 0.38, 0.84))
    ax_tr = fig.add_axes((0.47, 0.1, 0.515, 0.77))
    img = result.projection if result.projection is not None else (result.labels > 0).astype(float)
    lo, hi = np.nanpercentile(img, [1, 99.5]) if img.size else (0, 1)
    ax_img.imshow(img, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1)
    accepted = set()
    if len(result.rois):
        accepted = set(result.rois.loc[result.rois["accepted"].astype(bool), "roi"].astype(int))
    rgba = np.zeros(result.labels.shape + (4,), np.float32)
    bounds = find_boundaries(result.labels, mode="inner")
    acc_mask = np.isin(result.labels, list(accepted)) & bounds
    rej_mask = bounds & ~acc_mask
    rgba[acc_mask] = (0.2, 1.0, 0.3, 1.0)
    rgba[rej_mask] = (1.0, 0.25, 0.25, 1.0)
    ax_img.imshow(rgba, interpolation="nearest")
    if len(result.rois) <= 150:
        for _, row in result.rois.iterrows():
            ax_img.text(row["centroid_col"], row["centroid_row"], str(int(row["roi"])),
                        color="yellow", fontsize=6, ha="center", va="center")
    # the recording's name over the whole figure: long names do not fit above the image
    fig.suptitle(result.name, fontsize=10)
    ax_img.set_title(f"{len(accepted)} accepted / {result.n_rois} ROIs")
    ax_img.set_axis_off()

    time_s, roi_ids, values = result.trace_matrix()
    responders = set()
    if len(result.kinetics):
        responders = set(result.kinetics.loc[result.kinetics["responder"].astype(bool), "roi"])
    # two line collections (others grey underneath, responders in the colour cycle on top):
    # one artist each instead of one Line2D per ROI (260 ROIs x 2000 frames: 0.44 -> 0.36 s)
    from matplotlib import rcParams
    from matplotlib.collections import LineCollection

    cycle = rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    t = np.asarray(time_s, dtype=np.float64)
    grey, coloured, colours = [], [], []
    for j, roi in enumerate(roi_ids):
        if roi not in accepted:
            continue
        seg = np.column_stack([t, values[:, j]])
        if roi in responders:
            colours.append(cycle[len(coloured) % len(cycle)])
            coloured.append(seg)
        else:
            grey.append(seg)
    if grey:
        ax_tr.add_collection(LineCollection(grey, colors="0.7", linewidths=0.5, alpha=0.6))
    if coloured:
        ax_tr.add_collection(LineCollection(coloured, colors=colours, linewidths=0.8))
    ax_tr.autoscale_view()
    stim = result.config.kinetics.stimulus_time_s
    if stim is not None:
        ax_tr.axvline(stim, color="k", ls="--", lw=0.8, label="stimulus")
        ax_tr.legend(loc="upper right", fontsize=8)
    ax_tr.set_xlabel("time (s)")
    ax_tr.set_ylabel(trace_ylabel(result.signal_column))
    ax_tr.set_title(f"{len(responders)} responders (coloured) of {len(accepted)} accepted ROIs")
    return fig


def save_overview(result, path: str | Path) -> Path:
    """Write :func:`overview_figure` of ``result`` to ``path`` (format from the suffix).

    Parameters
    ----------
    result : Result
    path : str or Path
        The image file to write, for example ``<folder>/overview.png``.

    Returns
    -------
    Path
        ``path``.
    """
    fig = overview_figure(result)
    fig.savefig(path)
    return Path(path)


def response_marks(response, time_s: np.ndarray | None = None) -> dict[str, Any]:
    """Where to draw one response's kinetics on its trace.

    Parameters
    ----------
    response : caimg.kinetics.Response
        From :func:`caimg.kinetics.measure_trace` (or
        :meth:`caimg.review.ReviewSession.responses`).
    time_s : ndarray, (T,), optional
        Frame times; the decay-fit curve is evaluated on those inside the fit window.

    Returns
    -------
    dict
        ``baseline`` ``((t_start, t_end), level)``; ``peak`` ``(t, value)``; ``rise10`` and
        ``rise90`` ``(t, level)`` with level = ``baseline + 0.1 / 0.9 * amplitude``;
        ``half_decay`` ``(t, baseline + 0.5 * amplitude)``; ``onset_s``; ``decay``
        ``(t, y)`` arrays of the fitted ``y = c + a exp(-(t - t0) / tau)`` (empty when no
        fit). Entries with NaN coordinates mean "not measured".

    Examples
    --------
    >>> from caimg.kinetics import measure_trace
    >>> t = np.arange(0, 60, 0.5)
    >>> y = np.where(t < 10, 1.0, 1.0 + np.exp(-(t - 10) / 5.0))
    >>> m = response_marks(measure_trace(y, t, stimulus_time_s=10.0)[0], t)
    >>> m["peak"], m["rise90"][1]
    ((10.0, 2.0), 1.9)
    """
    nan = float("nan")
    b, amp = float(response.baseline), float(response.amplitude)
    marks: dict[str, Any] = {
        "baseline": ((float(response.baseline_start_s), float(response.baseline_end_s)), b),
        "peak": (float(response.peak_time_s), float(response.peak)),
        "rise10": (float(response.t10_s), b + 0.1 * amp),
        "rise90": (float(response.t90_s), b + 0.9 * amp),
        "half_decay": (float(getattr(response, "half_fall_s", nan)), b + 0.5 * amp),
        "onset_s": float(response.onset_s),
        "decay": (np.zeros(0), np.zeros(0)),
    }
    fit = response.decay_fit
    if fit is not None and time_s is not None:
        c, a, t0, tau = (float(v) for v in fit)
        t = np.asarray(time_s, dtype=float)
        lo, hi = float(response.decay_fit_start_s), float(response.decay_fit_end_s)
        if not np.isfinite(lo):
            lo = t0
        if not np.isfinite(hi):
            hi = t[-1] if t.size else t0
        sel = t[(t >= lo) & (t <= hi)]
        if sel.size and tau > 0:
            marks["decay"] = (sel, c + a * np.exp(-(sel - t0) / tau))
    return marks


def _draw_marks(ax, marks: dict[str, Any], time_s: np.ndarray, *, first: bool) -> None:
    """One response's marks; only the first response's marks get legend labels."""
    (b0, b1), base = marks["baseline"]
    if np.isfinite(base):
        ax.hlines(base, b0 if np.isfinite(b0) else time_s[0],
                  b1 if np.isfinite(b1) else time_s[-1], color="tab:blue", lw=2,
                  label="baseline" if first else None)
    pt, pv = marks["peak"]
    if np.isfinite(pt):
        ax.plot([pt], [pv], "v", color="tab:red", ms=8, label="peak" if first else None)
    for key in ("rise10", "rise90"):
        tt, lv = marks[key]
        if np.isfinite(tt):
            ax.plot([tt], [lv], "o", mfc="none", mec="tab:orange", ms=8, mew=1.5,
                    label=("10 % / 90 %" if key == "rise10" and first else None))
    dt, dy = marks["decay"]
    if dt.size:
        ax.plot(dt, dy, color="tab:green", lw=2, alpha=0.8, label="decay fit" if first else None)


def plot_trace(ax, time_s, values, responses=None, *, label: str | None = None,
               ylabel: str | None = None, stimulus_time_s: float | None = None,
               accepted: bool = True, title: str | None = None):
    """Draw one trace with its kinetics: baseline, peak, 10 % / 90 % rise, decay fit.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw (not cleared first).
    time_s, values : array_like, (T,)
        Frame times in seconds and the trace (for example ``ReviewSession.trace(roi)``).
    responses : sequence of caimg.kinetics.Response, optional
        From :func:`caimg.kinetics.measure_trace` on this trace; each gets its marks
        (:func:`response_marks`), the first one a legend entry per mark and its amplitude,
        decay time and responder call in the title.
    label : str, optional
        Trace column name: the line's legend entry and, through :func:`trace_ylabel`, the
        y-axis label.
    ylabel : str, optional
        Y-axis label instead of the one from ``label``.
    stimulus_time_s : float, optional
        Stimulus time in seconds: a dashed vertical line.
    accepted : bool
        False draws the trace grey (a rejected ROI).
    title : str, optional
        Axes title, for example ``"ROI 7"``.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from caimg.kinetics import measure_trace
    >>> t = np.arange(0, 60, 0.5)
    >>> y = np.where(t < 10, 1.0, 1.0 + np.exp(-(t - 10) / 5.0))
    >>> ax = plot_trace(Figure().subplots(), t, y, measure_trace(y, t, stimulus_time_s=10.0),
    ...                 label="dff", stimulus_time_s=10.0, title="ROI 1")
    >>> ax.get_ylabel(), [txt.get_text() for txt in ax.get_legend().get_texts()]
    ('dF/F0', ['dff', 'stimulus', 'baseline', 'peak', '10 % / 90 %', 'decay fit'])
    """
    time_s = np.asarray(time_s, dtype=float)
    ax.plot(time_s, np.asarray(values, dtype=float), color="k" if accepted else "0.6", lw=1.0,
            label=label)
    if stimulus_time_s is not None:
        ax.axvline(stimulus_time_s, color="tab:purple", ls="--", lw=1, label="stimulus")
    responses = list(responses or ())
    for k, resp in enumerate(responses):
        _draw_marks(ax, response_marks(resp, time_s), time_s, first=k == 0)
    text = title or ""
    if responses:
        first = responses[0]
        text += (f"   amp {first.amplitude:.3g}   tau {first.decay_tau_s:.3g} s"
                 f"   {'responder' if first.responder else 'non-responder'}")
    if text:
        ax.set_title(text, fontsize=9)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(trace_ylabel(label) if ylabel is None else ylabel)
    if ax.get_legend_handles_labels()[0]:  # an empty legend warns
        ax.legend(fontsize=7, loc="upper right", frameon=False)
    return ax

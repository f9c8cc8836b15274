"""The ``overview.png`` figure: ROIs over the projection, and the traces."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["overview_figure", "save_overview"]


def overview_figure(result):
    """Matplotlib figure: projection with ROI outlines (accepted green, rejected red) and
    the signal traces of accepted ROIs (responders coloured, others grey)."""
    # a bare Figure (no pyplot) renders through Agg on savefig by itself: no backend is
    # selected, so a notebook's or napari's own matplotlib backend and figures stay as they are
    from matplotlib.figure import Figure
    from skimage.segmentation import find_boundaries

    fig = Figure(figsize=(12, 5), dpi=100, layout="constrained")
    ax_img, ax_tr = fig.subplots(1, 2, width_ratios=[1, 1.4])
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
    ylabel = {"ratio": "F340/F380 ratio", "dff": "dF/F0"}[result.signal_column]
    ax_tr.set_xlabel("time (s)")
    ax_tr.set_ylabel(ylabel)
    ax_tr.set_title(f"{len(responders)} responders (coloured) of {len(accepted)} accepted ROIs")
    return fig


def save_overview(result, path: str | Path) -> Path:
    fig = overview_figure(result)
    fig.savefig(path)
    return Path(path)

"""Figures and files of an experiment summary: PNGs, one PDF with a methods page, and the
tables as CSV.

Figures are bare :class:`matplotlib.figure.Figure` objects (no pyplot state, no backend
switch), so the report can be made in a thread, a notebook or a headless batch job alike.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from .design import format_molar
from .summary import MAIN_WINDOW, ExperimentSummary

__all__ = ["write_report", "trace_figure", "measures_figure", "responder_figure",
           "dose_response_figure", "methods_figure"]

_LABELS = {"amplitude": "amplitude (peak - baseline)", "time_to_peak_s": "time to peak (s)",
           "rise_time_s": "rise time 10-90 % (s)", "decay_tau_s": "decay tau (s)",
           "auc": "AUC (signal x s)", "max_slope": "max slope (signal/s)",
           "latency_s": "latency (s)", "responder_fraction": "responder fraction"}
_SIGNAL = {"dff": "dF/F0", "ratio": "F340/F380"}


def _figure(width, height):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _colours(summary: ExperimentSummary, conditions):
    """Control grey; the others by log concentration on viridis (by order without one)."""
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    conc = summary.design.drop_duplicates("condition").set_index("condition")["concentration_M"]
    others = [c for c in conditions if c != summary.control]
    logs = np.array([np.log10(conc.get(c, np.nan)) if conc.get(c, 0) > 0 else np.nan
                     for c in others])
    if np.isfinite(logs).sum() >= 2:
        lo, hi = np.nanmin(logs), np.nanmax(logs)
        pos = np.where(np.isfinite(logs), (logs - lo) / max(hi - lo, 1e-9), 0.0)
    else:
        pos = np.linspace(0, 1, max(len(others), 2))[:len(others)]
    out = {c: cmap(0.05 + 0.85 * p) for c, p in zip(others, pos, strict=True)}
    if summary.control:
        out[summary.control] = (0.45, 0.45, 0.45, 1.0)
    return out


def _conditions(summary, window=MAIN_WINDOW):
    c = summary.conditions
    return list(c.loc[c["window"] == window, "condition"])


def trace_figure(summary: ExperimentSummary):
    """Plot the mean +/- SEM (over recordings) trace per condition, from the stimulus.

    Parameters
    ----------
    summary : ExperimentSummary

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure(7.5, 4.2)
    ax = fig.add_subplot()
    conds = [c for c in _conditions(summary) if c in set(summary.traces["condition"])]
    colours = _colours(summary, conds)
    for cond in conds:
        t = summary.traces[summary.traces["condition"] == cond]
        n = int(t["n_recordings"].max())
        ax.plot(t["time_s"], t["mean"], color=colours[cond], lw=1.5, label=f"{cond} (n={n})")
        ax.fill_between(t["time_s"], t["mean"] - t["sem"], t["mean"] + t["sem"],
                        color=colours[cond], alpha=0.25, lw=0)
    ax.axvline(0.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("time from stimulus (s)")
    ax.set_ylabel(f"{_SIGNAL.get(summary.signal, summary.signal)}, mean of accepted cells")
    ax.set_title("Mean ± SEM over recordings")
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    return fig


def _points_and_means(ax, summary, rec, cond_table, measure, conds, colours):
    rng = np.random.default_rng(0)  # fixed jitter: the same figure on every run
    for i, cond in enumerate(conds):
        v = rec.loc[rec["condition"] == cond, measure].to_numpy(float)
        v = v[np.isfinite(v)]
        ax.scatter(i + rng.uniform(-0.12, 0.12, v.size), v, s=16, color=colours[cond],
                   alpha=0.8, lw=0, zorder=3)
        row = cond_table[cond_table["condition"] == cond].iloc[0]
        m, s = row[f"{measure}_mean"], row[f"{measure}_sem"]
        ax.errorbar(i + 0.28, m, yerr=0 if not np.isfinite(s) else s, fmt="_", ms=14,
                    color="k", capsize=3, lw=1.2, zorder=4)
    ax.set_xticks(range(len(conds)), conds, rotation=40, ha="right", fontsize=7)
    ax.set_ylabel(_LABELS.get(measure, measure), fontsize=8)
    ax.tick_params(axis="y", labelsize=7)


def measures_figure(summary: ExperimentSummary, *, window: str = MAIN_WINDOW):
    """Plot per-recording points and the condition mean +/- SEM for each measure.

    Parameters
    ----------
    summary : ExperimentSummary
    window : str
        ``"response"`` or a treatment name.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per measure of the window.
    """
    rec = summary.recordings[summary.recordings["window"] == window]
    cond_table = summary.conditions[summary.conditions["window"] == window]
    conds = _conditions(summary, window)
    # the table holds the columns of every window; a window's own measures have values
    measures = [c[:-5] for c in cond_table.columns
                if c.endswith("_mean") and not c.startswith(("pooled_", "responder_"))
                and cond_table[c].notna().any()]
    colours = _colours(summary, conds)
    ncol = min(3, len(measures))
    nrow = -(-len(measures) // ncol)
    fig = _figure(3.3 * ncol, 3.0 * nrow)
    for k, m in enumerate(measures):
        ax = fig.add_subplot(nrow, ncol, k + 1)
        _points_and_means(ax, summary, rec, cond_table, m, conds, colours)
    fig.suptitle(f"{window}: one point per recording, bar = mean ± SEM", fontsize=9)
    return fig


def responder_figure(summary: ExperimentSummary, *, window: str = MAIN_WINDOW):
    """Plot the responder fraction per recording and per condition (mean +/- SEM).

    Parameters
    ----------
    summary : ExperimentSummary
    window : str
        ``"response"`` or a treatment name.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rec = summary.recordings[summary.recordings["window"] == window]
    cond_table = summary.conditions[summary.conditions["window"] == window]
    conds = _conditions(summary, window)
    fig = _figure(max(4.0, 0.6 * len(conds) + 1.5), 3.4)
    ax = fig.add_subplot()
    _points_and_means(ax, summary, rec, cond_table, "responder_fraction", conds,
                      _colours(summary, conds))
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(f"Responders / accepted cells ({window})", fontsize=9)
    return fig


def fit_text(row) -> str:
    """One line for a concentration-response fit: EC50/IC50 with its CI, or the reason.

    Parameters
    ----------
    row : mapping
        A row of the ``dose_response`` table.

    Returns
    -------
    str
    """
    if not row["determined"]:
        return f"{row['label']} not determined: {row['reason']}"
    return (f"{row['label']} = {format_molar(row['ec50_M'])} (95 % CI "
            f"{format_molar(row['ci_low_M'])} to {format_molar(row['ci_high_M'])}), "
            f"Hill {row['hill_slope']:.2g}, R² {row['r_squared']:.3f}")


def dose_response_figure(summary: ExperimentSummary, compound: str, *,
                         window: str = MAIN_WINDOW):
    """Plot the concentration-response of one compound on a log axis.

    Parameters
    ----------
    summary : ExperimentSummary
    compound : str
    window : str
        ``"response"`` or a treatment name.

    Returns
    -------
    matplotlib.figure.Figure
        Recording-level points, mean +/- SEM per concentration, the fitted curve with
        EC50/IC50 and its 95 % CI, the control as a band (mean +/- SEM).
    """
    m = summary.measure
    rec = summary.recordings[summary.recordings["window"] == window]
    pts = rec[(rec["compound"] == compound) & (rec["concentration_M"] > 0)]
    fig = _figure(5.8, 4.2)
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ctrl = rec[rec["condition"] == summary.control][m].to_numpy(float) \
        if summary.control else np.array([])
    ctrl = ctrl[np.isfinite(ctrl)]
    if ctrl.size:
        mean = ctrl.mean()
        sem = ctrl.std(ddof=1) / np.sqrt(ctrl.size) if ctrl.size > 1 else 0.0
        ax.axhspan(mean - sem, mean + sem, color="0.85", zorder=0)
        ax.axhline(mean, color="0.45", lw=1, zorder=1, label=f"{summary.control} (mean ± SEM)")
    ax.scatter(pts["concentration_M"], pts[m], s=18, color="C0", alpha=0.7, lw=0, zorder=3,
               label="recordings")
    by = pts.groupby("concentration_M")[m]
    sem = by.std(ddof=1) / np.sqrt(by.count())
    ax.errorbar(by.mean().index * 1.12, by.mean(), yerr=sem.fillna(0.0), fmt="s", ms=4,
                color="k", capsize=2, lw=1, zorder=4, label="mean ± SEM")
    curve = summary.curves[(summary.curves["compound"] == compound) &
                           (summary.curves["window"] == window)]
    if len(curve):
        ax.plot(curve["concentration_M"], curve[m], color="C3", lw=1.6, zorder=2,
                label="4-parameter logistic fit")
    fit = summary.dose_response[(summary.dose_response["compound"] == compound) &
                                (summary.dose_response["window"] == window)]
    text = fit_text(fit.iloc[0]) if len(fit) else "no fit"
    if len(fit) and fit.iloc[0]["determined"]:
        r = fit.iloc[0]
        ax.axvspan(r["ci_low_M"], r["ci_high_M"], color="C3", alpha=0.12, lw=0,
                   label=f"95 % CI of {r['label']}")
        ax.axvline(r["ec50_M"], color="C3", lw=0.8, ls=":")
    ax.set_xlabel(f"{compound} concentration (M)")
    ax.set_ylabel(_LABELS.get(m, m))
    ax.set_title("\n".join(textwrap.wrap(text, 70)), fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="best")
    return fig


def methods_figure(summary: ExperimentSummary, *, title="caimg experiment summary"):
    """Make a text page: the methods, the fits and a table per condition.

    Parameters
    ----------
    summary : ExperimentSummary
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        A4 portrait.
    """
    fig = _figure(8.27, 11.69)
    lines = [title, ""]
    lines += textwrap.wrap("Methods. " + summary.methods, 95) + [""]
    lines += textwrap.wrap(
        "Concentration-response: four-parameter logistic y = bottom + (top - bottom) / "
        "(1 + (EC50/x)^h) (inhibition: (x/IC50)^h), least squares in log10 EC50 on "
        "recording-level values, the control entered at concentration 0; 95 % CI of "
        "EC50 by profile likelihood (F-test on the residual sum of squares).", 95) + [""]
    for _, r in summary.dose_response.iterrows():
        lines += textwrap.wrap(f"{r['compound']} ({r['window']}, {r['measure']}, "
                               f"n = {r['n_recordings']} recordings): {fit_text(r)}", 95)
    lines += ["", *_condition_lines(summary)]
    fig.text(0.06, 0.965, title, va="top", ha="left", fontsize=13, weight="bold")
    fig.text(0.06, 0.94, "\n".join(lines[2:]), va="top", ha="left", family="monospace",
             fontsize=7.5)
    return fig


def _condition_lines(summary):
    """Per condition: n, responder fraction and the primary measure (mean ± SEM), and its
    comparison with the control.
    """
    m = summary.measure
    comps = summary.comparisons
    lines = textwrap.wrap(f"Per condition: recordings, accepted cells, responder fraction "
                          f"and {m} (mean ± SEM over recordings); against the control: "
                          "adjusted p and Hedges' g.", 95)
    lines += [f"  {'condition':24s} {'window':10s} {'n':>3s} {'cells':>5s}  "
              f"{'responders':>11s}  {m[:18]:>18s}  {'p':>8s} {'g':>6s}"]
    for _, r in summary.conditions.iterrows():
        p = g = ""
        if len(comps):
            hit = comps[(comps["window"] == r["window"]) & (comps["measure"] == m) &
                        (comps["condition"] == r["condition"])]
            if len(hit):
                p, g = f"{hit['p_value'].iloc[0]:.2g}", f"{hit['hedges_g'].iloc[0]:.2g}"
        val = (f"{r[f'{m}_mean']:.3g} ± {r[f'{m}_sem']:.2g}" if f"{m}_mean" in r
               else "")
        lines.append(f"  {r['condition'][:24]:24s} {str(r['window'])[:10]:10s} "
                     f"{r['n_recordings']:3d} {r['n_accepted']:5d}  "
                     f"{r['responder_fraction_mean']:.2f} ± {r['responder_fraction_sem']:.2f}"
                     f"  {val:>18s}  {p:>8s} {g:>6s}")
    return lines


def _figures(summary):
    """(file stem, Figure) for every figure of the report."""
    out = [("traces", trace_figure(summary))] if len(summary.traces) else []
    for window in pd.unique(summary.recordings["window"]):
        tag = "" if window == MAIN_WINDOW else f"_{window}"
        out.append((f"measures{tag}", measures_figure(summary, window=window)))
        out.append((f"responders{tag}", responder_figure(summary, window=window)))
    for _, r in summary.dose_response.iterrows():
        tag = "" if r["window"] == MAIN_WINDOW else f"_{r['window']}"
        out.append((f"dose_response_{r['compound']}{tag}",
                    dose_response_figure(summary, r["compound"], window=r["window"])))
    return out


def write_report(summary: ExperimentSummary, out_dir) -> dict[str, Path]:
    """Write the tables (CSV), the figures (PNG), ``report.pdf`` and ``methods.txt``.

    Parameters
    ----------
    summary : ExperimentSummary
        From :func:`caimg.experiment.summarize`.
    out_dir : str or Path
        Created if needed; existing files of the same names are replaced.

    Returns
    -------
    dict
        File stem -> path of everything written.
    """
    from matplotlib.backends.backend_pdf import PdfPages

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, table in summary.tables().items():
        # not design.csv: the report folder may sit beside the user's own design.csv
        path = out / f"{'design_used' if name == 'design' else name}.csv"
        table.to_csv(path, index=False)
        written[name] = path
    (out / "methods.txt").write_text(summary.methods + "\n")
    written["methods"] = out / "methods.txt"
    figures = _figures(summary)
    for stem, fig in figures:
        fig.savefig(out / f"{stem}.png")
        written[stem] = out / f"{stem}.png"
    with PdfPages(out / "report.pdf") as pdf:
        pdf.savefig(methods_figure(summary))
        for _, fig in figures:
            pdf.savefig(fig)
    written["report"] = out / "report.pdf"
    return written

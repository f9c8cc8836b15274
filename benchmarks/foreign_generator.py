"""An independent synthetic generator, to measure how caimg's segmentation generalizes.

caimg's segmentation is tuned on recordings of its own generator (``caimg.synthetic``).
This script renders recordings the way another lab's simulation would, from the physics,
without importing or copying anything from ``caimg.synthetic``:

- cells are ellipses (random orientation, smooth dome or flat-top thickness profiles, some
  with a dimmer nucleus, a fixed speckle texture), blurred by a Gaussian PSF;
- the indicator responds to a calcium transient (latency, exponential rise and decay):
  Fura-2 through the bound fraction ``Ca / (Ca + Kd)`` with separate free / bound
  brightness at 340 and 380 nm (340 up, 380 down, ratio up), Fluo-4 as ``F0 (1 + dF/F0)``;
- the camera adds a uniform autofluorescence background, Poisson shot noise, Gaussian read
  noise and an offset of 100 ADU, and stores uint16;
- the hard scenarios add dense touching cells, low photon counts, out-of-focus haze (a
  heavily blurred copy of the cells), slow sub-pixel drift, bleaching and uneven
  illumination.

Files are written as a lab script would: Fura-2 as an ImageJ hyperstack (TCYX, C = 340,
380) or as a ``<name>_340.tif`` / ``<name>_380.tif`` pair, Fluo-4 as a TYX ImageJ stack, all
with ``finterval``. Ground truth: the label image in the coordinates of frame 0 (the drift
is zero there; overlap pixels go to the cell whose normalised ellipse radius is smallest),
the per-cell true signal (noiseless, background-free ratio 340/380 or dF/F0), the
responder flag and the true decay time constant.

Each recording is run through ``caimg.run`` twice, with the default segmentation and with
``segment.method = "textbook"`` (Otsu + distance-transform watershed), and scored with
``caimg.metrics.match_labels`` (IoU 0.5) on all ROIs and on accepted ROIs only, plus the
median Pearson r of the matched responders' traces against the truth. Overlays (mean
projection; truth green, caimg magenta, textbook orange) go to ``--out``.

How it differs from ``caimg.synthetic`` (written without reading it): its own cell
shapes and profiles, Grynkiewicz-style Fura-2 photometry, a Gaussian PSF whose width is a
parameter (``psf_sigma_px``; widefield cells at high magnification are blurred by 2 px
and more), haze as a blurred copy of the cells, and drift / bleaching / vignetting applied
to the rendered frames. Files are read back by caimg's own readers, as a user's would be.

Run (about 2 min on 2 idle cores for the defaults; the TIFFs go to a temp folder unless
``--keep DIR``)::

    PYTHONPATH=$PWD python benchmarks/foreign_generator.py --out /tmp/foreign_ov
    PYTHONPATH=$PWD python benchmarks/foreign_generator.py --scenarios fura2_hard --seeds 1
    # robustness: change a rendering parameter of every scenario, or a caimg setting
    PYTHONPATH=$PWD python benchmarks/foreign_generator.py --set psf_sigma_px=2.0 \
        --scenarios fura2_standard fluo4_standard --seeds 2 --out /tmp/foreign_psf2
    PYTHONPATH=$PWD python benchmarks/foreign_generator.py \
        --caimg-set 'segment.params={"min_edge_contrast": 0}'

Per-seed numbers go to ``OUT/scores.csv``; overlays to ``OUT/<scenario>_s<seed>.png``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage

SHAPE = (256, 256)
OFFSET_ADU = 100.0
KD_NM = 224.0
# Fura-2 brightness per unit dye, free and bound, at 340 and 380 nm (Rmin 0.25, Rmax 6.25)
SF340, SB340, SF380, SB380 = 0.25, 0.75, 1.0, 0.12


@dataclass(frozen=True)
class Scenario:
    """Rendering parameters of one scenario."""

    name: str
    indicator: str  # "fura2" or "fluo4"
    layout: str  # "hyperstack", "pair" or "single"
    n_cells: int
    diameter_px: tuple[float, float]
    min_gap_px: float  # centre distance >= sum of directional radii + gap (negative: overlap)
    brightness_photons: tuple[float, float]  # resting F380 (Fura-2) or F0 (Fluo-4), photons
    background_photons: float
    psf_sigma_px: float
    read_noise_adu: float = 3.0
    haze: float = 0.0  # haze brightness relative to the in-focus cells
    drift_px: float = 0.0  # total drift over the movie
    bleach_tau_s: float = 5000.0
    illumination: float = 0.0  # relative fall-off of the illumination at the far corner
    n_frames: int = 120
    frame_interval_s: float = 2.0
    stimulus_s: float = 40.0
    responder_fraction: float = 0.7
    texture: float = 0.08  # SD of the fixed speckle texture, relative
    dome_fraction: float = 0.5  # cells with a dome profile; the others are flat-topped
    nucleus_fraction: float = 0.4  # cells with a dimmer nucleus
    nucleus_dimming: float = 0.55  # the nucleus is 0.25 less than to this much dimmer
    brightness_spread: float = 0.3  # SD of log brightness between cells


SCENARIOS = {
    "fura2_standard": Scenario("fura2_standard", "fura2", "hyperstack", 40, (14, 26), 6.0,
                               (500, 1500), 40.0, 1.2),
    "fura2_pair": Scenario("fura2_pair", "fura2", "pair", 40, (14, 26), 6.0,
                           (500, 1500), 40.0, 1.2),
    "fluo4_standard": Scenario("fluo4_standard", "fluo4", "single", 40, (14, 26), 6.0,
                               (200, 700), 30.0, 1.2),
    "fura2_hard": Scenario("fura2_hard", "fura2", "hyperstack", 85, (13, 24), -2.0,
                           (60, 200), 40.0, 1.8, read_noise_adu=4.0, haze=0.6,
                           drift_px=3.0, bleach_tau_s=500.0, illumination=0.45),
    "fluo4_hard": Scenario("fluo4_hard", "fluo4", "single", 85, (13, 24), -2.0,
                           (40, 150), 30.0, 1.8, read_noise_adu=4.0, haze=0.6,
                           drift_px=3.0, bleach_tau_s=500.0, illumination=0.45),
}


# ---------------------------------------------------------------------------- rendering

def _directional_radius(a, b, theta, phi):
    """Radius of an ellipse (semi-axes a, b, major axis at theta) in direction phi."""
    d = phi - theta
    return a * b / np.sqrt((b * np.cos(d)) ** 2 + (a * np.sin(d)) ** 2)


def _place_cells(sc: Scenario, rng):
    """Ellipses (row, col, a, b, theta) by rejection sampling; dense ones may touch."""
    ny, nx = SHAPE
    cells = []
    tries = 0
    while len(cells) < sc.n_cells and tries < 200_000:
        tries += 1
        d = rng.uniform(*sc.diameter_px)
        a = d / 2
        b = a * rng.uniform(0.65, 1.0)
        theta = rng.uniform(0, np.pi)
        margin = a + 2 if sc.min_gap_px > 0 else 0.4 * a
        r, c = rng.uniform(margin, ny - margin), rng.uniform(margin, nx - margin)
        ok = True
        for (r2, c2, a2, b2, t2) in cells:
            dist = np.hypot(r - r2, c - c2)
            if dist > a + a2 + abs(sc.min_gap_px):
                continue
            phi = np.arctan2(r2 - r, c2 - c)
            need = _directional_radius(a, b, theta, phi) + _directional_radius(a2, b2, t2, phi)
            if dist < need + sc.min_gap_px:
                ok = False
                break
        if ok:
            cells.append((r, c, a, b, theta))
    return cells


def _render_maps(sc: Scenario, cells, rng):
    """Per-cell unblurred dye maps (n, Y, X) and the frame-0 label image."""
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]].astype(np.float64)
    n = len(cells)
    maps = np.zeros((n,) + SHAPE, np.float32)
    dome = np.zeros(n, bool)
    nucleus = np.zeros(n, bool)
    rho_all = np.full((n,) + SHAPE, np.inf)
    texture = 1 + sc.texture * ndimage.gaussian_filter(rng.standard_normal(SHAPE), 1.5) / 0.19
    for i, (r, c, a, b, theta) in enumerate(cells):
        dy, dx = yy - r, xx - c
        u = dx * np.cos(theta) + dy * np.sin(theta)
        v = -dx * np.sin(theta) + dy * np.cos(theta)
        rho = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        inside = rho <= 1
        rho_all[i][inside] = rho[inside]
        dome[i] = rng.random() < sc.dome_fraction
        if dome[i]:  # dome: thickness falls towards the edge
            prof = np.clip(1 - rho ** 2, 0, None) ** rng.uniform(0.3, 0.7)
        else:  # flat top with a soft edge
            prof = np.clip((1 - rho) / 0.15, 0, 1) ** 0.5
        nucleus[i] = rng.random() < sc.nucleus_fraction
        if nucleus[i]:  # dimmer nucleus, off-centre
            nr = rng.uniform(0.35, 0.5)
            nu = u - rng.uniform(-0.2, 0.2) * a
            nv = v - rng.uniform(-0.2, 0.2) * b
            nrho = np.sqrt((nu / (nr * a)) ** 2 + (nv / (nr * b)) ** 2)
            dim = rng.uniform(sc.nucleus_dimming - 0.25, sc.nucleus_dimming)
            prof = prof * (1 - dim * np.clip((1 - nrho) / 0.3, 0, 1))
        maps[i] = (prof * texture).astype(np.float32)
    labels = np.zeros(SHAPE, np.int32)
    inside_any = np.isfinite(rho_all).any(axis=0)
    labels[inside_any] = np.argmin(rho_all, axis=0)[inside_any] + 1
    # a cell pixel assigned to a neighbour is not dye of this cell (no double brightness)
    for i in range(n):
        maps[i][labels != i + 1] = 0
    return maps, labels, dome, nucleus


def _transients(sc: Scenario, n, rng):
    """Calcium (nM) or dF/F0 time courses (n, T), responder flags and decay taus (s)."""
    t = np.arange(sc.n_frames) * sc.frame_interval_s
    resp = rng.random(n) < sc.responder_fraction
    tau_decay = rng.uniform(12, 40, n)
    tau_rise = rng.uniform(1, 4, n)
    onset = sc.stimulus_s + rng.uniform(0, 8, n)
    shape = np.zeros((n, t.size))
    for i in range(n):
        s = np.clip(t - onset[i], 0, None)
        k = (1 - np.exp(-s / tau_rise[i])) * np.exp(-s / tau_decay[i])
        shape[i] = k / k.max() if k.max() > 0 else k
    shape[~resp] = 0
    if sc.indicator == "fura2":
        ca0 = rng.uniform(50, 120, n)
        peak = rng.uniform(300, 1200, n)
        signal = ca0[:, None] + (peak - ca0)[:, None] * shape
    else:
        signal = rng.uniform(1.0, 3.0, n)[:, None] * shape  # dF/F0
    return t, signal, resp, tau_decay


def _drift(sc: Scenario, rng):
    """(T, 2) sub-pixel translation, zero at frame 0: a slow line plus a slow wander."""
    T = sc.n_frames
    if sc.drift_px == 0:
        return np.zeros((T, 2))
    ang = rng.uniform(0, 2 * np.pi)
    ramp = np.linspace(0, 1, T)[:, None] * sc.drift_px * np.array([np.sin(ang), np.cos(ang)])
    wander = ndimage.gaussian_filter1d(rng.standard_normal((T, 2)), 8, axis=0) * 0.8
    return ramp + wander - wander[0]


def render(sc: Scenario, seed: int):
    """Render one recording.

    Returns
    -------
    dict
        ``channels``: list of (T, Y, X) uint16 stacks (340, 380 or F); ``labels``: (Y, X)
        int32 truth in frame-0 coordinates; ``signal``: (n, T) true ratio or dF/F0;
        ``responder``: (n,) bool; ``tau_s``: (n,) true decay constant; ``time_s``: (T,);
        ``shifts``: (T, 2) the drift applied; per cell ``dome`` (else flat-top) and
        ``nucleus`` (bool), ``dye`` (resting brightness, photons before illumination).
    """
    rng = np.random.default_rng(seed)
    cells = _place_cells(sc, rng)
    maps, labels, dome, nucleus = _render_maps(sc, cells, rng)
    n = len(cells)
    t, sig, resp, tau = _transients(sc, n, rng)
    blurred = np.stack([ndimage.gaussian_filter(m, sc.psf_sigma_px) for m in maps])
    dye = rng.lognormal(0, sc.brightness_spread, n) * rng.uniform(*sc.brightness_photons, n)
    bleach = np.exp(-t / sc.bleach_tau_s)
    if sc.indicator == "fura2":
        frac = sig / (sig + KD_NM)
        per_cell = [dye[:, None] * (SF340 + (SB340 - SF340) * frac),
                    dye[:, None] * (SF380 + (SB380 - SF380) * frac)]
        truth_signal = per_cell[0] / per_cell[1]
    else:
        per_cell = [dye[:, None] * (1 + sig)]
        truth_signal = sig
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]] / np.array(SHAPE).reshape(2, 1, 1)
    cy, cx = rng.uniform(0.3, 0.7, 2)
    illum = 1 - sc.illumination * np.clip(((yy - cy) ** 2 + (xx - cx) ** 2) / 0.5, 0, 1)
    shifts = _drift(sc, rng)
    flat = blurred.reshape(n, -1)
    channels = []
    for f_cell in per_cell:
        movie = np.empty((sc.n_frames,) + SHAPE, np.uint16)
        for k in range(sc.n_frames):
            img = (f_cell[:, k] * bleach[k] @ flat).reshape(SHAPE)
            if sc.haze:
                img = img + sc.haze * ndimage.gaussian_filter(img, 14, mode="reflect")
            if shifts[k].any():
                img = ndimage.shift(img, shifts[k], order=3, mode="nearest")
            photons = np.clip(img, 0, None) * illum + sc.background_photons * illum
            adu = (OFFSET_ADU + rng.poisson(photons)
                   + rng.normal(0, sc.read_noise_adu, SHAPE))
            movie[k] = np.clip(np.rint(adu), 0, 65535).astype(np.uint16)
        channels.append(movie)
    return dict(channels=channels, labels=labels, signal=truth_signal, responder=resp,
                tau_s=tau, time_s=t, shifts=shifts, dome=dome, nucleus=nucleus, dye=dye)


def write(sc: Scenario, rec, folder: Path, name: str):
    """Write the recording as a lab would; returns the path or pair to hand to caimg.run."""
    meta = {"finterval": sc.frame_interval_s, "unit": "pixel"}
    if sc.layout == "hyperstack":
        path = folder / f"{name}.tif"
        data = np.stack(rec["channels"], axis=1)  # T, C, Y, X
        tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TCYX", **meta})
        return path
    if sc.layout == "pair":
        paths = []
        for wl, ch in zip((340, 380), rec["channels"], strict=True):
            p = folder / f"{name}_{wl}.tif"
            tifffile.imwrite(p, ch, imagej=True, metadata={"axes": "TYX", **meta})
            paths.append(p)
        return tuple(paths)
    path = folder / f"{name}.tif"
    tifffile.imwrite(path, rec["channels"][0], imagej=True, metadata={"axes": "TYX", **meta})
    return path


# ---------------------------------------------------------------------------- scoring

def _failure_modes(truth, pred):
    """Counts of the ways pred differs from truth.

    A predicted ROI with more than half its pixels in background is a ``bg_rois``; any
    other belongs to the true cell it overlaps most. ``fragments``: ROIs beyond the first
    that belong to one cell; ``split``: cells with two or more ROIs each covering at least
    15 % of the cell; ``merged``: ROIs covering at least 25 % of two or more cells;
    ``missed``: cells no ROI covers by 25 %; ``area_ratio``: median ROI / cell area over
    cells with an IoU >= 0.5 ROI (< 1: outlines too tight). Also returns the missed ids.
    """
    t = truth.ravel()
    p = pred.ravel()
    nt, npred = int(t.max()), int(p.max())
    inter = np.zeros((nt + 1, npred + 1))
    np.add.at(inter, (t, p), 1)
    area_t = inter.sum(axis=1)
    area_p = inter.sum(axis=0)
    present_p = np.flatnonzero(area_p[1:]) + 1
    present_t = np.flatnonzero(area_t[1:]) + 1
    background = merges = 0
    owner = {}
    for j in present_p:
        if inter[0, j] > 0.5 * area_p[j]:
            background += 1
            continue
        covered = [i for i in present_t if inter[i, j] >= 0.25 * area_t[i]]
        if len(covered) >= 2:
            merges += 1
        best = int(np.argmax(inter[1:, j])) + 1
        owner.setdefault(best, []).append(j)
    split = sum(1 for i in present_t
                if sum(inter[i, j] >= 0.15 * area_t[i] for j in owner.get(i, [])) >= 2)
    missed = [i for i in present_t if inter[i, 1:].max(initial=0) < 0.25 * area_t[i]]
    # outline: area ratio of the best-overlapping ROI of each well-found cell (IoU >= 0.5)
    iou = inter[1:, 1:] / (area_t[1:, None] + area_p[None, 1:] - inter[1:, 1:] + 1e-9)
    ratios = []
    for i in present_t:
        j = int(np.argmax(iou[i - 1]))
        if iou[i - 1, j] >= 0.5:
            ratios.append(area_p[j + 1] / area_t[i])
    fragments = sum(len(v) - 1 for v in owner.values())
    return dict(split=split, fragments=fragments, merged=merges, missed=len(missed),
                bg_rois=background,
                area_ratio=float(np.median(ratios)) if ratios else float("nan")), missed


def score(rec, result):
    """Segmentation and trace scores of one caimg Result against the truth."""
    from caimg.metrics import match_labels

    labels = np.asarray(result.labels)
    acc_ids = result.rois.loc[result.rois["accepted"].astype(bool), "roi"].to_numpy()
    acc_labels = np.where(np.isin(labels, acc_ids), labels, 0)
    m_all = match_labels(rec["labels"], labels)
    m_acc = match_labels(rec["labels"], acc_labels)
    col = result.signal_column
    tr = result.traces.pivot(index="roi", columns="frame", values=col)
    rs = []
    for true_id, roi in m_all.pairs:
        if rec["responder"][true_id - 1] and roi in tr.index:
            x = tr.loc[roi].to_numpy(float)
            y = rec["signal"][true_id - 1]
            ok = np.isfinite(x)
            if ok.sum() > 10:
                rs.append(np.corrcoef(x[ok], y[ok])[0, 1])
    # decay tau of responders in both (exact for dF/F0; the Fura-2 ratio is not linear in
    # calcium, so there it is only indicative)
    kin = result.kinetics.drop_duplicates("roi").set_index("roi")
    errs = []
    for true_id, roi in m_all.pairs:
        if rec["responder"][true_id - 1] and roi in kin.index and kin.loc[roi, "responder"]:
            errs.append(abs(kin.loc[roi, "decay_tau_s"] / rec["tau_s"][true_id - 1] - 1))
    out = dict(n_rois=m_all.n_pred, n_acc=m_acc.n_pred, P=m_all.precision, R=m_all.recall,
               F1=m_all.f1, F1_acc=m_acc.f1, IoU=m_all.mean_iou,
               r=float(np.median(rs)) if rs else float("nan"),
               tau_err=float(np.nanmedian(errs)) if errs else float("nan"))
    # caimg's shifts undo the drift: shift + drift = 0 when motion correction is right
    if result.shifts is not None and len(result.shifts) == len(rec["shifts"]):
        out["drift_err_px"] = float(np.abs(np.asarray(result.shifts) + rec["shifts"]).max())
    modes, missed = _failure_modes(rec["labels"], labels)
    out.update(modes)
    out["missed_dome"] = int(sum(rec["dome"][i - 1] for i in missed))
    return out


def overlay(rec, projection, res_default, res_text, path: Path, title: str):
    """Mean projection with truth (green), caimg (magenta) and textbook (orange) outlines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skimage.segmentation import find_boundaries

    img = np.asarray(projection, float)
    lo, hi = np.percentile(img, [1, 99.7])
    fig, axes = plt.subplots(1, 2, figsize=(14, 7.3), dpi=110)
    panels = [("caimg", res_default.labels, (1, 0, 1)), ("textbook", res_text.labels,
                                                         (1, 0.55, 0))]
    truth_b = find_boundaries(rec["labels"], mode="inner")
    for ax, (name, lab, colour) in zip(axes, panels, strict=True):
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        rgba = np.zeros(img.shape + (4,))
        rgba[truth_b] = (0, 1, 0, 0.9)
        pb = find_boundaries(np.asarray(lab), mode="inner")
        rgba[pb] = colour + (0.95,)
        ax.imshow(rgba, interpolation="nearest")
        ax.set_title(f"{title}: truth green, {name} "
                     f"{'magenta' if name == 'caimg' else 'orange'} "
                     f"({len(np.unique(lab)) - 1} ROIs)", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ---------------------------------------------------------------------------- main

SCORES = ["n_true", "n_rois", "n_acc", "P", "R", "F1", "F1_acc", "IoU", "r", "tau_err",
          "drift_err_px"]
MODES = ["split", "fragments", "merged", "missed", "missed_dome", "bg_rois", "area_ratio"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/foreign_ov", help="overlay PNG folder")
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--frames", type=int, default=None, help="frames per recording")
    ap.add_argument("--keep", default=None, help="write the TIFFs here instead of a temp dir")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="change a Scenario field in every scenario, e.g. psf_sigma_px=2.0 "
                         "or diameter_px=24,36")
    ap.add_argument("--caimg-set", action="append", default=[], metavar="KEY=JSON",
                    help="extra caimg.run override (JSON value) for the default-method "
                         "run only, e.g. 'segment.cell_diameter_px=19'")
    args = ap.parse_args(argv)

    import warnings

    import pandas as pd

    import caimg

    extra = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.caimg_set)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for name in args.scenarios:
            sc = SCENARIOS[name]
            changes = {"n_frames": args.frames} if args.frames else {}
            for item in args.set:
                key, value = item.split("=", 1)
                old = getattr(sc, key)
                changes[key] = (tuple(float(v) for v in value.split(","))
                                if isinstance(old, tuple) else type(old)(value))
            sc = Scenario(**{**sc.__dict__, **changes})
            for seed in range(args.seeds):
                t0 = time.perf_counter()
                rec = render(sc, seed)
                path = write(sc, rec, folder, f"{name}_s{seed}")
                results = {}
                for method, over in (("caimg", {}), ("textbook",
                                                     {"segment.method": "textbook"})):
                    over = {**extra, **over} if method == "caimg" else over
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        res = caimg.run(path, stimulus_time_s=sc.stimulus_s, **over)
                    results[method] = res
                    rows.append(dict(scenario=name, seed=seed, method=method,
                                     n_true=int(rec["labels"].max()), **score(rec, res)))
                overlay(rec, results["caimg"].projection, results["caimg"],
                        results["textbook"], out / f"{name}_s{seed}.png", f"{name} seed {seed}")
                print(f"{name} seed {seed}: {time.perf_counter() - t0:.1f} s", flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(out / "scores.csv", index=False)
    groups = df.groupby(["scenario", "method"], sort=False)
    with pd.option_context("display.width", 160, "display.precision", 3):
        print(f"medians over {args.seeds} seed(s); P, R, F1 of all ROIs at IoU 0.5, F1_acc of "
              "accepted ones; r: Pearson of matched responders' traces")
        print(groups[SCORES].median().to_string())
        print("failure modes (medians; see _failure_modes)")
        print(groups[MODES].median().to_string())
    print(f"per seed: {out / 'scores.csv'}; overlays: {out}/*.png")


if __name__ == "__main__":
    main()

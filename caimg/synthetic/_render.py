"""Image formation of the synthetic generator.

Drift, static background, and the rendering of cells through blur, halo, drift and
camera noise to uint16 frames.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft as sfft
from scipy import ndimage as ndi

__all__ = ["draw_drift", "background_image", "render_channels"]


def draw_drift(k, rng, n_frames):
    """Draw the rigid drift: a smoothed random walk plus a slow sinusoid.

    Parameters
    ----------
    k : dict
        Resolved knobs (:func:`resolve_knobs`).
    rng : numpy.random.Generator
        The recording's generator (the order of its draws is part of the contract).
    n_frames : int
        Number of frames T.

    Returns
    -------
    ndarray of float64, shape (T, 2)
        (row, column) displacement of the content per frame, px: zero at frame 0, at most
        ``drift_px`` away from it.
    """
    d = np.zeros((n_frames, 2))
    if k["drift_px"] <= 0:
        return d
    walk = np.cumsum(rng.normal(size=(n_frames, 2)), axis=0)
    walk = ndi.gaussian_filter1d(walk, sigma=max(1.0, n_frames / 40), axis=0, mode="nearest")
    t = np.arange(n_frames)[:, None]
    period = rng.uniform(0.5, 1.5, size=2) * n_frames
    walk = walk / (np.abs(walk).max() or 1.0) + rng.uniform(0.3, 1.0, size=2) * np.sin(
        2 * np.pi * t / period + rng.uniform(0, 2 * np.pi, size=2))
    d = walk - walk[0]
    peak = np.sqrt((d ** 2).sum(axis=1)).max()
    if peak > 0:
        d = d * (k["drift_px"] / peak)
    return d


def background_image(k, rng, shape):
    """Draw the static background: a linear gradient in a random direction, vignetted.

    Parameters
    ----------
    k : dict
        Resolved knobs (:func:`resolve_knobs`).
    rng : numpy.random.Generator
        The recording's generator (the order of its draws is part of the contract).
    shape : (int, int)
        (Y, X).

    Returns
    -------
    ndarray of float64, shape (Y, X)
        Background, photoelectrons (``background`` at the field centre).
    """
    ny, nx = shape
    rr, cc = np.mgrid[0:ny, 0:nx].astype(float)
    rr = rr / max(ny - 1, 1) - 0.5
    cc = cc / max(nx - 1, 1) - 0.5
    ang = rng.uniform(0, 2 * np.pi)
    proj = rr * math.sin(ang) + cc * math.cos(ang)
    proj = proj / (np.abs(proj).max() or 1.0) / 2  # -0.5 .. 0.5
    r2 = (rr ** 2 + cc ** 2) / 0.5
    return k["background"] * (1 + k["background_gradient"] * proj) * (1 - k["vignetting"] * r2)


def render_channels(cell_fs, bgs, labels, prof, drift, k, rng, chunk=32):
    """Render channels: each cell_f (T, N) photoelectrons at mask mean -> uint16 (T, Y, X).

    All channels share the cells, the blur, the halo and the drift; they are rendered
    together frame chunk by frame chunk so the Fourier shift is computed once.

    Parameters
    ----------
    cell_fs : list of ndarray of float64, shape (T, N)
        Per channel, each cell's fluorescence (photoelectrons, mean over its mask).
    bgs : list of ndarray of float64, shape (Y, X)
        Per channel, the static background (photoelectrons).
    labels : ndarray of int32, shape (Y, X)
        Cell masks 1..N.
    prof : ndarray of float64, shape (Y, X)
        Static per-pixel weights (:func:`~caimg.synthetic._cells.cell_profile`).
    drift : ndarray of float64, shape (T, 2)
        Content displacement per frame, px.
    k : dict
        Resolved knobs (:func:`resolve_knobs`).
    rng : numpy.random.Generator
        The recording's generator (the order of its draws is part of the contract).
    chunk : int
        Frames rendered at once.

    Returns
    -------
    list of ndarray of uint16, shape (T, Y, X)
        Per channel, the camera frames (ADU), with shot and read noise drawn from ``rng``
        frame chunk by chunk, channel by channel.
    """
    n_frames = cell_fs[0].shape[0]
    ny, nx = labels.shape
    reach = max(k["edge_blur_px"], k["halo_sigma_px"] if k["halo_strength"] else 0.0)
    pad = int(math.ceil(k["drift_px"] + 3 * reach + 3))
    py = sfft.next_fast_len(ny + 2 * pad, real=True)
    px = sfft.next_fast_len(nx + 2 * pad, real=True)
    fy = sfft.fftfreq(py)[:, None]
    fx = sfft.rfftfreq(px)[None, :]
    f2 = fy ** 2 + fx ** 2
    transfer = np.exp(-2 * np.pi ** 2 * k["edge_blur_px"] ** 2 * f2)
    if k["halo_strength"] > 0:
        transfer = transfer + k["halo_strength"] * np.exp(-2 * np.pi ** 2
                                                          * k["halo_sigma_px"] ** 2 * f2)
    transfer = transfer.astype(np.complex64)
    bleach = np.exp(-k["bleach_per_frame"] * np.arange(n_frames))
    f_pads = [np.concatenate([np.zeros((n_frames, 1)), cf * bleach[:, None]], axis=1)
              for cf in cell_fs]
    outs = [np.empty((n_frames, ny, nx), dtype=np.uint16) for _ in cell_fs]
    need_fft = k["edge_blur_px"] > 0 or k["halo_strength"] > 0 or bool(np.any(drift))
    top = min(np.iinfo(np.uint16).max, int(k.get("saturation_adu", 65535)))
    for t0 in range(0, n_frames, chunk):
        t1 = min(t0 + chunk, n_frames)
        if need_fft:
            # shift theorem, separable in rows and columns: content moves by +drift
            ph_r = np.exp(-2j * np.pi * fy[None] * drift[t0:t1, 0, None, None])
            ph_c = np.exp(-2j * np.pi * fx[None] * drift[t0:t1, 1, None, None])
            kernel = (ph_r * ph_c).astype(np.complex64) * transfer[None]
        for f_pad, bg, out in zip(f_pads, bgs, outs, strict=True):
            img = f_pad[t0:t1][:, labels] * prof  # (t, Y, X)
            if need_fft:
                buf = np.zeros((t1 - t0, py, px), dtype=np.float32)
                buf[:, pad:pad + ny, pad:pad + nx] = img
                spec = sfft.rfft2(buf, workers=1)
                spec *= kernel
                img = sfft.irfft2(spec, s=(py, px), workers=1)[:, pad:pad + ny, pad:pad + nx]
                img = img.astype(float)
            clean = np.clip(img + bg, 0.0, None)
            electrons = rng.poisson(clean).astype(float) if k["shot_noise"] else clean
            adu = k["offset"] + k["gain"] * electrons
            if k["read_noise"] > 0:
                adu += rng.normal(0.0, k["read_noise"], size=adu.shape)
            out[t0:t1] = np.clip(np.rint(adu), 0, top).astype(np.uint16)
    return outs

"""The optional ``"cellpose"`` segmentation method: Cellpose with weights already on disk.

Cellpose (Stringer et al. 2021, doi:10.1038/s41592-020-01018-x) is not a dependency of
caimg and is imported only when this method runs. caimg never downloads model weights:
``segment.params.model`` must name a model file the user already has.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError

__all__ = ["segment_cellpose", "check_cellpose_params"]


def check_cellpose_params(params):
    """Refuse a Cellpose run without a model file on disk, before any work.

    Parameters
    ----------
    params : mapping
        The method's parameters (``model`` is the one checked).

    Raises
    ------
    ConfigError
        No ``model`` given, or a path that is not an existing file.
    """
    model = params.get("model")
    if model is None or str(model).strip() == "":
        raise ConfigError(
            "segment.method = 'cellpose' needs segment.params.model = PATH, the path of "
            "Cellpose model weights already on this computer (e.g. a file under "
            "~/.cellpose/models/); caimg never downloads models. Give the path (recipe: "
            "[segment.params] model = \"/path/to/model\") or choose another method, e.g. "
            "segment.method = 'auto'")
    path = Path(str(model)).expanduser()
    if not path.is_file():
        what = "a folder" if path.is_dir() else "nothing"
        raise ConfigError(
            f"segment.params.model = '{model}': found {what} there, expected a Cellpose "
            f"model file on disk; caimg never downloads models. Check the path, or copy "
            f"the weights there")


def segment_cellpose(structural, activity, *, cell_diameter_px, min_area_px, max_area_px,
                     model=None, flow_threshold=0.4, cellprob_threshold=0.0, gpu=False):
    """Cellpose on the structural image, with a model file the user already has.

    Parameters
    ----------
    structural : ndarray of float64, shape (Y, X)
        Structural image (camera counts).
    activity : dict or None
        Not used.
    cell_diameter_px : float
        Cell diameter given to Cellpose, pixels.
    min_area_px, max_area_px : int
        Area limits (``segment`` applies them).
    model : str
        Path of the Cellpose model weights (required; never downloaded).
    flow_threshold, cellprob_threshold : float
        Cellpose's own thresholds.
    gpu : bool
        Let Cellpose use a GPU.

    Returns
    -------
    ndarray of int32, shape (Y, X)
        Cellpose's masks.

    Raises
    ------
    ConfigError
        No model path, a path that is not a file, or Cellpose not installed.
    """
    check_cellpose_params({"model": model})
    try:
        from cellpose import models
    except ImportError as exc:
        raise ConfigError("segment.method = 'cellpose' needs the cellpose package, which is "
                          "not installed; install it (pip install cellpose) or choose "
                          "another method") from exc
    net = models.CellposeModel(gpu=bool(gpu), pretrained_model=str(Path(model).expanduser()))
    out = net.eval(np.asarray(structural, dtype=np.float32), diameter=float(cell_diameter_px),
                   flow_threshold=flow_threshold, cellprob_threshold=cellprob_threshold)
    return np.asarray(out[0], dtype=np.int32)


segment_cellpose.check_params = check_cellpose_params

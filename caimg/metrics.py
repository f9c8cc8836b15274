"""Scoring against ground truth: ROI matching by IoU (used by tests and benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["match_labels", "MatchResult"]


@dataclass(frozen=True)
class MatchResult:
    """ROI detection scores at one IoU threshold.

    ``pairs`` is (K, 2) of matched (true id, predicted id); ``ious`` their IoU.
    """

    precision: float
    recall: float
    f1: float
    mean_iou: float
    pairs: np.ndarray
    ious: np.ndarray
    n_true: int
    n_pred: int


def match_labels(true_labels: np.ndarray, pred_labels: np.ndarray, *,
                 iou_threshold: float = 0.5) -> MatchResult:
    """One-to-one matching of predicted to true ROIs maximising total IoU.

    Parameters
    ----------
    true_labels, pred_labels : ndarray, (Y, X) int
        Label images, 0 = background.
    iou_threshold : float
        A pair counts as a match when its IoU is at least this.

    Returns
    -------
    MatchResult
        precision = matches / predicted, recall = matches / true, F1 their harmonic mean,
        mean_iou over matched pairs.
    """
    t = np.asarray(true_labels).ravel().astype(np.int64)
    p = np.asarray(pred_labels).ravel().astype(np.int64)
    if t.shape != p.shape:
        raise ValueError(f"label images differ in shape: {true_labels.shape} vs {pred_labels.shape}")
    t_ids = np.unique(t[t > 0])
    p_ids = np.unique(p[p > 0])
    nt, npred = len(t_ids), len(p_ids)
    if nt == 0 or npred == 0:
        f1 = 1.0 if nt == npred else 0.0
        return MatchResult(f1, f1, f1, float("nan"), np.zeros((0, 2), int), np.zeros(0), nt, npred)
    ti = np.searchsorted(t_ids, t)
    pi = np.searchsorted(p_ids, p)
    both = (t > 0) & (p > 0)
    inter = np.zeros((nt, npred))
    np.add.at(inter, (ti[both], pi[both]), 1)
    area_t = np.bincount(ti[t > 0], minlength=nt)
    area_p = np.bincount(pi[p > 0], minlength=npred)
    iou = inter / (area_t[:, None] + area_p[None, :] - inter)
    rows, cols = linear_sum_assignment(-iou)
    ok = iou[rows, cols] >= iou_threshold
    rows, cols = rows[ok], cols[ok]
    k = len(rows)
    precision, recall = k / npred, k / nt
    f1 = 2 * k / (nt + npred)
    ious = iou[rows, cols]
    return MatchResult(precision, recall, f1, float(ious.mean()) if k else float("nan"),
                       np.stack([t_ids[rows], p_ids[cols]], axis=1), ious, nt, npred)

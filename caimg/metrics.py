"""Scoring against ground truth: ROI matching by IoU (used by tests and benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["match_labels", "MatchResult", "score_against_truth", "TruthScore"]


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
        raise ValueError(f"label images differ in shape: {true_labels.shape} vs "
                         f"{pred_labels.shape}")
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


@dataclass(frozen=True)
class TruthScore:
    """How a pipeline result compares with a synthetic recording's ground truth.

    ``pearson_r``: per matched responding cell, correlation of the extracted signal with
    the true noiseless signal; ``amplitude_error`` / ``decay_tau_error``: relative errors
    of cells that are responders in both; ``responder_correct``: per matched cell with a
    kinetics row, whether the responder call is right.
    """

    match: MatchResult
    pearson_r: np.ndarray
    amplitude_error: np.ndarray
    decay_tau_error: np.ndarray
    rise_time_error: np.ndarray
    responder_correct: np.ndarray


def score_against_truth(synthetic, result) -> TruthScore:
    """Match ROIs to true cells (IoU >= 0.5) and compare signals and kinetics.

    Parameters
    ----------
    synthetic : caimg.synthetic.SyntheticRecording
        The recording with its ground truth (labels, noiseless signal, kinetics).
    result : caimg.result.Result
        The pipeline's result for that recording.

    Returns
    -------
    TruthScore
        The matching and the per-cell signal and kinetics errors.
    """
    m = match_labels(synthetic.labels, result.labels, iou_threshold=0.5)
    _, roi_ids, values = result.trace_matrix()
    col = {int(r): j for j, r in enumerate(roi_ids)}
    kin = result.kinetics.set_index("roi")
    truth = synthetic.kinetics.set_index("roi")
    rs, amp, tau, rise, ok = [], [], [], [], []
    for t_id, p_id in m.pairs:
        t = truth.loc[t_id]
        if t["responder"] and int(p_id) in col:  # a flat true trace has no correlation
            rs.append(np.corrcoef(synthetic.signal[:, t_id - 1], values[:, col[int(p_id)]])[0, 1])
        if p_id not in kin.index:
            continue
        k = kin.loc[p_id]
        ok.append(bool(k["responder"]) == bool(t["responder"]))
        if t["responder"] and k["responder"]:
            amp.append(abs(k["amplitude"] - t["amplitude"]) / t["amplitude"])
            tau.append(abs(k["decay_tau_s"] - t["decay_tau_s"]) / t["decay_tau_s"])
            rise.append(abs(k["rise_time_s"] - t["rise_time_s"]) / t["rise_time_s"])
    return TruthScore(m, np.array(rs), np.array(amp), np.array(tau), np.array(rise),
                      np.array(ok, bool))

"""Dim cells pressed against a very bright one get a marker (``scatter_markers``, issue 13).

In the ``saturated`` family (15 % of the cells 40x brighter, hard preset) most missed cells
touch a very bright cell: in the second pass, on the image less the bright cells'
scattered light, they had no marker. The Laplacian-of-Gaussian peaks of the image with
the very bright cells set to the background are added outside them.
"""

from __future__ import annotations

import warnings

import caimg
from caimg.metrics import match_labels
from caimg.synthetic import make_recording


def _found(syn, indicator, on):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = caimg.run(syn.recording, pipeline=indicator, stimulus_time_s=syn.stimulus_time_s,
                        segment={"params": {"scatter_markers": on}})
    m = match_labels(syn.labels, res.labels, iou_threshold=0.5)
    return len(m.pairs), m.n_true + m.n_pred


def test_dim_cells_beside_saturated_cells_are_found():
    # seeds that are neither tuning seeds (100-199) nor report seeds (0-3)
    found, found_off, f1, f1_off = 0, 0, [], []
    for indicator, seed in (("fluo4", 305), ("fura2", 306)):
        syn = make_recording(indicator, preset="hard", family="saturated", rng=seed,
                             n_frames=20)
        on, n_on = _found(syn, indicator, True)
        off, n_off = _found(syn, indicator, False)
        found, found_off = found + on, found_off + off
        f1.append(2 * on / n_on)
        f1_off.append(2 * off / n_off)
    # measured: 170 of 180 cells matched with the markers, 165 without
    assert found >= found_off + 3, (found, found_off)
    assert min(a - b for a, b in zip(f1, f1_off, strict=True)) >= 0, (f1, f1_off)

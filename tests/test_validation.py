"""The shared input checks (caimg._validation): one rule each, the same in every module."""

from __future__ import annotations

import numpy as np
import pytest

from caimg._validation import check_labels, check_positive, check_shifts, check_time_s, check_whole
from caimg.errors import CaimgError, RoiError
from caimg.kinetics import measure_kinetics
from caimg.motion import register
from caimg.signals import compute_f0, insitu_calibration
from caimg.traces import background_mask, extract_traces


def _labels():
    lab = np.zeros((12, 12), np.int32)
    lab[2:5, 2:6] = 1
    lab[7:10, 6:11] = 2
    return lab


# --------------------------------------------------------------------------- labels

def test_whole_valued_float_labels_read_as_integers():
    lab = _labels()
    got = check_labels(lab.astype(np.float32))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, lab)
    assert check_labels(lab) is lab  # integer labels: returned as they are, no copy
    np.testing.assert_array_equal(check_labels(lab > 0), (lab > 0).astype(np.int64))


def test_extract_traces_treats_whole_valued_float_labels_as_integer_labels():
    rng = np.random.default_rng(0)
    stack = rng.integers(0, 1000, (6, 12, 12)).astype(np.uint16)
    lab = _labels()
    a = extract_traces(stack, lab, shifts=np.full((6, 2), 0.25))
    b = extract_traces(stack, lab.astype(np.float64), shifts=np.full((6, 2), 0.25))
    np.testing.assert_array_equal(a.means, b.means)
    np.testing.assert_array_equal(a.roi_ids, b.roi_ids)
    np.testing.assert_array_equal(background_mask(lab, dilation_px=1),
                                  background_mask(lab.astype(np.float32), dilation_px=1))


@pytest.mark.parametrize("bad, match", [
    (_labels() + 0.5, "whole numbers"),
    (np.where(_labels() > 0, np.nan, 0.0), "whole numbers"),
    (_labels().astype(complex), "integer labels"),
    (-_labels(), "negative"),
    (_labels()[None], r"\(Y, X\)"),
])
def test_bad_labels_refused_with_the_same_message_everywhere(bad, match):
    stack = np.zeros((2, 12, 12), np.uint16)
    with pytest.raises(RoiError, match=match):
        check_labels(bad)
    with pytest.raises(RoiError, match=match):
        extract_traces(stack, bad)


def test_labels_of_another_shape_name_the_frame_shape():
    with pytest.raises(RoiError, match=r"labels.*\(12, 11\).*\(12, 12\)"):
        check_labels(_labels()[:, :-1], (12, 12))


# --------------------------------------------------------------------------- time

@pytest.mark.parametrize("t", [[0.0, np.inf], [0.0, np.nan], [0.0, 1.0, 1.0], [1.0, 0.0]])
def test_time_not_finite_and_increasing_is_refused_by_signals_and_kinetics(t):
    t = np.array(t)
    with pytest.raises(CaimgError, match="time_s.*finite and strictly increasing"):
        check_time_s(t, t.size)
    x = np.ones((t.size, 1))
    with pytest.raises(CaimgError, match="time_s"):
        compute_f0(x, t, mode="percentile")
    with pytest.raises(CaimgError, match="time_s"):
        insitu_calibration(x, x, t, rmin_window_s=(0, 1), rmax_window_s=(0, 1))
    with pytest.raises(CaimgError, match="time_s"):
        measure_kinetics(x, t)


def test_single_non_finite_time_is_refused():
    # one frame has no successor to compare with: finiteness is checked on its own
    with pytest.raises(CaimgError, match="finite"):
        compute_f0(np.ones(1), np.array([np.nan]), mode="percentile")


def test_time_of_the_wrong_length_names_the_expected_shape():
    with pytest.raises(CaimgError, match=r"\(3,\)"):
        check_time_s(np.arange(2.0), 3)
    assert check_time_s([0, 1], 2).dtype == np.float64


# --------------------------------------------------------------------------- numbers

@pytest.mark.parametrize("value", [True, 2.0, "3", 0, -1, None])
def test_check_whole_refuses_what_is_not_a_whole_number_at_least_minimum(value):
    with pytest.raises(CaimgError, match=r"'chunk_frames' = .*whole number >= 1"):
        check_whole(value, "chunk_frames", minimum=1)


def test_check_whole_returns_a_python_int():
    got = check_whole(np.uint8(3), "n", minimum=0)
    assert got == 3 and type(got) is int


@pytest.mark.parametrize("value", [True, 0, -1.0, np.nan, np.inf, "1", 1j])
def test_check_positive_refuses_what_is_not_a_finite_number_above_zero(value):
    with pytest.raises(CaimgError, match=r"'max_shift_px' = .*finite number > 0"):
        check_positive(value, "max_shift_px")


def test_check_positive_returns_a_float():
    got = check_positive(np.int16(2), "x")
    assert got == 2.0 and type(got) is float


def test_motion_and_traces_use_the_same_number_rules():
    stack = np.zeros((2, 8, 8), np.float32)
    with pytest.raises(CaimgError, match="'chunk_frames' = 0: expected a whole number >= 1"):
        register(stack, chunk_frames=0)
    with pytest.raises(CaimgError, match="'chunk_frames' = 0: expected a whole number >= 1"):
        extract_traces(stack, np.zeros((8, 8), int), chunk_frames=0)
    with pytest.raises(CaimgError, match="'max_shift_px' = True: expected a finite number > 0"):
        register(stack, max_shift_px=True)


# --------------------------------------------------------------------------- shifts

def test_check_shifts():
    assert check_shifts([[1, 2]], 1).flags.c_contiguous
    with pytest.raises(CaimgError, match=r"'shifts' has shape \(1, 2\); expected \(2, 2\)"):
        check_shifts([[1, 2]], 2)
    with pytest.raises(CaimgError, match="NaN or inf"):
        check_shifts([[np.nan, 0]], 1)

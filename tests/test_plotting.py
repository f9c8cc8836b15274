"""caimg.plotting.plot_trace: one trace with its kinetics marks, on any matplotlib axes."""

import matplotlib.colors as mcolors
import numpy as np
import pytest
from matplotlib.figure import Figure

from caimg.kinetics import measure_trace
from caimg.plotting import TRACE_YLABELS, plot_trace, response_marks, trace_ylabel


@pytest.fixture
def trace():
    t = np.arange(0, 60, 0.5)
    y = np.where(t < 10, 1.0, 1.0 + 0.8 * np.exp(-(t - 10) / 5.0))
    return t, y


def test_marks_sit_on_the_measured_kinetics(trace):
    t, y = trace
    resp = measure_trace(y, t, stimulus_time_s=10.0)
    ax = plot_trace(Figure().subplots(), t, y, resp, label="ratio", stimulus_time_s=10.0,
                    title="ROI 3")
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    np.testing.assert_array_equal(lines["ratio"].get_ydata(), y)
    assert lines["peak"].get_ydata()[0] == pytest.approx(resp[0].peak)
    assert lines["stimulus"].get_xdata()[0] == 10.0
    decay_t, decay_y = response_marks(resp[0], t)["decay"]
    assert decay_t.size > 10
    np.testing.assert_allclose(lines["decay fit"].get_ydata(), decay_y)
    np.testing.assert_allclose(decay_y, np.interp(decay_t, t, y), atol=1e-6)
    assert ax.get_title().startswith("ROI 3   amp 0.8")
    assert ax.get_ylabel() == TRACE_YLABELS["ratio"] == trace_ylabel("ratio")


def test_plain_trace_without_labels_draws_no_legend(trace):
    t, y = trace
    ax = plot_trace(Figure().subplots(), t, y, accepted=False, ylabel="a.u.")
    assert ax.get_legend() is None and ax.get_title() == ""  # and no empty-legend warning
    assert ax.get_ylabel() == "a.u."
    assert mcolors.to_hex(ax.get_lines()[0].get_color()) == mcolors.to_hex("0.6")  # rejected

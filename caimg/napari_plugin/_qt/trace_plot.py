"""The trace plot: a matplotlib canvas drawn by :func:`caimg.plotting.plot_trace`."""

from __future__ import annotations

from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from ...plotting import plot_trace

__all__ = ["TracePlot"]


class TracePlot(QWidget):
    """A matplotlib figure in the dock (``figure``, ``ax``, ``canvas``)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(5, 3), dpi=100, layout="constrained")
        self.ax = self.figure.add_subplot(111)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(260)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.canvas)

    def show_trace(self, time_s, values, responses=None, **kwargs) -> None:
        """Redraw with :func:`caimg.plotting.plot_trace` (same arguments, after ``ax``)."""
        self.ax.clear()
        plot_trace(self.ax, time_s, values, responses, **kwargs)
        self.canvas.draw_idle()

    def show_message(self, text: str) -> None:
        """Replace the plot by a centred message (for example "no ROI selected")."""
        self.ax.clear()
        self.ax.text(0.5, 0.5, text, ha="center", va="center", transform=self.ax.transAxes)
        self.canvas.draw_idle()

    def clear(self) -> None:
        """Empty axes."""
        self.ax.clear()
        self.canvas.draw_idle()

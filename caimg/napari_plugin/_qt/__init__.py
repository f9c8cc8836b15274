"""Qt sub-widgets of the review dock, each in its own module; :mod:`.._review_widget` wires
them to :class:`caimg.review.ReviewSession`. They show what they are given and hold no
state of the review.
"""

from .recording_nav import RecordingNav
from .roi_controls import RoiControls
from .roi_table import TABLE_COLUMNS, RoiTable
from .trace_plot import TracePlot

__all__ = ["RecordingNav", "RoiControls", "RoiTable", "TracePlot", "TABLE_COLUMNS"]

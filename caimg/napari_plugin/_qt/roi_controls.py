"""The current ROI's line: its state, the trace column shown, and the decision buttons."""

from __future__ import annotations

from qtpy.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

__all__ = ["RoiControls"]


class RoiControls(QWidget):
    """ROI label and trace-column chooser over Accept / Reject / New ROI / Save buttons.

    The review widget connects the buttons (``accept_btn``, ``reject_btn``, ``new_btn``,
    ``save_btn``) and ``column.currentTextChanged``.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.roi_label = QLabel("ROI -")
        self.column = QComboBox()
        self.column.setToolTip("trace shown: the signal (ratio / dF/F0) or a raw channel")
        self.accept_btn = QPushButton("Accept [a]")
        self.reject_btn = QPushButton("Reject [r]")
        self.new_btn = QPushButton("New ROI")
        self.new_btn.setToolTip("paint a new ROI with the next free id (then draw with the "
                                "brush, fill or polygon tools)")
        self.save_btn = QPushButton("Save")
        row1 = QHBoxLayout()
        row1.addWidget(self.roi_label, 1)
        row1.addWidget(self.column)
        row2 = QHBoxLayout()
        for b in self.buttons:
            row2.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row1)
        lay.addLayout(row2)

    @property
    def buttons(self) -> tuple[QPushButton, ...]:
        """Accept, Reject, New ROI and Save."""
        return (self.accept_btn, self.reject_btn, self.new_btn, self.save_btn)

    def set_roi_text(self, html: str | None) -> None:
        """Describe the current ROI (rich text), or "ROI -" when None."""
        self.roi_label.setText("ROI -" if html is None else html)

    def set_columns(self, columns, current: str) -> None:
        """Offer ``columns`` with ``current`` chosen, without emitting a change."""
        self.column.blockSignals(True)
        self.column.clear()
        self.column.addItems(list(columns))
        self.column.setCurrentText(current)
        self.column.blockSignals(False)

    def set_active(self, active: bool) -> None:
        """Enable the buttons and the chooser (when a result is under review)."""
        for w in (*self.buttons, self.column):
            w.setEnabled(active)

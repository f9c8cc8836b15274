"""Recording navigation: the title of the recording under review and previous / next."""

from __future__ import annotations

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

__all__ = ["RecordingNav"]

NO_RESULT_TEXT = "open a caimg result folder (File > Open Folder)"


class RecordingNav(QWidget):
    """Title line (rich text) over "< recording" / "recording >" buttons.

    Signals
    -------
    stepped(int)
        -1 or +1 when a button is clicked.
    """

    stepped = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.title = QLabel(NO_RESULT_TEXT)
        self.title.setWordWrap(True)
        self.prev_rec = QPushButton("< recording")
        self.next_rec = QPushButton("recording >")
        self.prev_rec.clicked.connect(lambda: self.stepped.emit(-1))
        self.next_rec.clicked.connect(lambda: self.stepped.emit(1))
        buttons = QHBoxLayout()
        buttons.addWidget(self.prev_rec)
        buttons.addWidget(self.next_rec)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.title)
        lay.addLayout(buttons)

    def set_title(self, html: str | None) -> None:
        """Show ``html``, or the "open a result folder" hint when None."""
        self.title.setText(NO_RESULT_TEXT if html is None else html)

    def set_can_step(self, can_step: bool) -> None:
        """Enable the buttons (when the batch holds more than one recording)."""
        self.prev_rec.setEnabled(can_step)
        self.next_rec.setEnabled(can_step)

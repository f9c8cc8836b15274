"""The sortable ROI table: one row per ROI, rejected rows in red, numbers sorted as numbers."""

from __future__ import annotations

import math

import numpy as np
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

__all__ = ["RoiTable", "TABLE_COLUMNS"]

#: (column of :func:`caimg.review.review_table`, header) shown, in order.
TABLE_COLUMNS = (("roi", "ROI"), ("accepted", "accepted"), ("responder", "responder"),
                 ("amplitude", "amplitude"), ("snr", "SNR"), ("decay_tau_s", "tau (s)"),
                 ("time_to_peak_s", "t peak (s)"), ("area_px", "area"), ("source", "source"),
                 ("saturated", "saturated"), ("low_signal", "low signal"),
                 ("reject_reason", "rejected because"))


class _Item(QTableWidgetItem):
    """A table cell that sorts by its value (numbers numerically, NaN last)."""

    def __init__(self, text: str, key):
        super().__init__(text)
        self.key = key
        self.setFlags(self.flags() & ~Qt.ItemFlag.ItemIsEditable)

    def __lt__(self, other):
        a, b = self.key, getattr(other, "key", None)
        try:
            a_nan = isinstance(a, float) and math.isnan(a)
            b_nan = isinstance(b, float) and math.isnan(b)
            if a_nan or b_nan:
                return b_nan and not a_nan
            return a < b
        except TypeError:
            return str(a) < str(b)


def _text(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else f"{v:.3g}"
    return str(v)


def _key(v):
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, (int, np.integer, bool, np.bool_)):
        return int(v)
    return str(v)


class RoiTable(QTableWidget):
    """Sortable table of :data:`TABLE_COLUMNS`, single-row selection.

    Signals
    -------
    roi_clicked(int)
        The ROI id of a clicked row.
    """

    roi_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(0, len(TABLE_COLUMNS), parent)
        self.setHorizontalHeaderLabels([h for _, h in TABLE_COLUMNS])
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setSortingEnabled(True)
        self.sortItems(0, Qt.SortOrder.AscendingOrder)
        self.cellClicked.connect(self._on_cell_clicked)
        self.setMinimumHeight(180)

    def roi_at_row(self, row: int) -> int | None:
        """ROI id shown in ``row`` (as sorted now), None for no such row."""
        item = self.item(row, 0)
        return None if item is None else int(item.key)

    def _on_cell_clicked(self, row: int, _col: int) -> None:
        roi = self.roi_at_row(row)
        if roi is not None:
            self.roi_clicked.emit(roi)

    def fill(self, table) -> None:
        """Show ``table`` (a :func:`caimg.review.review_table`), keeping the sort order."""
        header = self.horizontalHeader()
        sort_col, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        sorting = self.isSortingEnabled()
        self.setSortingEnabled(False)  # rows would move while they are filled
        self.setRowCount(len(table))
        for i, rec in enumerate(table.to_dict("records")):
            for j, (col, _h) in enumerate(TABLE_COLUMNS):
                item = _Item(_text(rec[col]), _key(rec[col]))
                if not rec["accepted"]:
                    item.setForeground(Qt.GlobalColor.red)
                self.setItem(i, j, item)
        self.setSortingEnabled(sorting)
        if sorting and 0 <= sort_col < len(TABLE_COLUMNS):
            self.sortItems(sort_col, order)

    def select_roi(self, roi: int | None) -> None:
        """Select and scroll to the row of ``roi`` without emitting ``roi_clicked``."""
        for i in range(self.rowCount()):
            if roi is not None and self.roi_at_row(i) == roi:
                self.blockSignals(True)
                self.selectRow(i)
                self.blockSignals(False)
                self.scrollToItem(self.item(i, 0))
                return

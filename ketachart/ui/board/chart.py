"""A session's read-only chart on the board: its vitals plotted and its entries listed. Nothing here writes;
acknowledging, amending and signing happen at the chair."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QDialog, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout

from ..theme import DARK, Palette


class SessionChartDialog(QDialog):
    def __init__(self, chart: dict, title: str = "", palette: Palette = DARK, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Read-only chart - {title}" if title else "Read-only chart")
        self.resize(1100, 760)
        self.setStyleSheet(f"background: {palette.bg}; color: {palette.text}; font-size: 17px;")
        layout = QVBoxLayout(self)
        note = QLabel("Read-only: alerts are acknowledged and entries charted at the chair.")
        note.setStyleSheet(f"color: {palette.muted};")
        layout.addWidget(note)
        self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.plot.setBackground(palette.plot_bg)
        self.plot.addLegend()
        readings = chart.get("readings", {})
        for param, label, color in (("HR", "HR", palette.hr), ("SPO2", "SpO2", palette.spo2)):
            points = readings.get(param, [])
            if points:
                self.plot.plot([t.timestamp() for t, _ in points], [v for _, v in points], pen=pg.mkPen(color, width=2),
                               name=label)
        for param, label in (("NIBP_SYS", "BP sys"), ("NIBP_DIA", "BP dia")):
            points = readings.get(param, [])
            if points:
                self.plot.plot([t.timestamp() for t, _ in points], [v for _, v in points], pen=None, symbol="t",
                               symbolBrush=palette.bp, name=label)
        layout.addWidget(self.plot, 3)
        entries = chart.get("entries", [])
        self.table = QTableWidget(len(entries), 3)
        self.table.setHorizontalHeaderLabels(["Time", "What", "Details"])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i, e in enumerate(entries):
            for j, value in enumerate((e["at"].astimezone().strftime("%H:%M:%S"), e["what"], e["text"])):
                self.table.setItem(i, j, QTableWidgetItem(value))
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table, 2)

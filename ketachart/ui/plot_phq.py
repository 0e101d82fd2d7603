"""The course's PHQ-9 trend on the patient list: a few dozen totals over weeks, drawn with QPainter.

The patient list is the first screen after start-up; a full plotting library (pyqtgraph and numpy, about a
third of a second to import) for a handful of points would delay every start, so this small widget draws the
totals, the severity bands' lines (5, 10, 15, 20) and a date axis itself. It holds no clinical state: the
patients screen hands it the course view model's ``phq9`` points.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from .theme import Palette

DAY_S = 86400.0
PHQ9_MAX = 27
BAND_LINES = (5, 10, 15, 20)  # the PHQ-9 severity cut-offs (mild, moderate, moderately severe, severe)
_TICK_DAYS = (1, 2, 7, 14, 28, 56, 91, 182, 365)


def phq_x_range(points: list[tuple[float, float]], now_s: float) -> tuple[float, float]:
    """Days, never seconds: no scores shows the last four weeks; one score (or a few on one day) a week around
    it; more a 5 % margin either side (at least a day)."""
    if not points:
        return now_s - 28 * DAY_S, now_s
    xs = [x for x, _ in points]
    lo, hi = min(xs), max(xs)
    pad = max(DAY_S, (hi - lo) * 0.05)
    return lo - pad, max(hi, lo + 6 * DAY_S) + pad


def date_ticks(x0: float, x1: float, max_ticks: int) -> list[float]:
    """Local midnights every 1, 2, 7 ... days: the smallest step that gives at most ``max_ticks`` labels."""
    span_days = max((x1 - x0) / DAY_S, 1e-9)
    step = next((d for d in _TICK_DAYS if span_days / d <= max(1, max_ticks)), _TICK_DAYS[-1])
    first = datetime.fromtimestamp(x0).astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    t = first.timestamp()
    ticks = []
    while t <= x1 and len(ticks) < 400:
        if t >= x0:
            ticks.append(t)
        t = datetime.fromtimestamp(t + step * DAY_S + 3 * 3600).astimezone().replace(
            hour=0, minute=0, second=0, microsecond=0).timestamp()  # +3 h: a DST day is still the next midnight
    return ticks


class PhqTrend(QWidget):
    """PHQ-9 totals (0-27) against the date they were scored."""

    def __init__(self, palette: Palette, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName("PHQ-9 totals")
        self.pal = palette
        self.points: list[tuple[float, float]] = []
        self.x_range = (0.0, 28 * DAY_S)

    def apply_palette(self, pal: Palette) -> None:
        self.pal = pal
        self.update()

    def set_scores(self, points: list[tuple[float, float]], now_s: float) -> None:
        self.points = sorted(points)
        self.x_range = phq_x_range(self.points, now_s)
        last = self.points[-1] if self.points else None
        self.setAccessibleDescription(
            f"{len(self.points)} PHQ-9 totals; the last {last[1]:g} on "
            f"{datetime.fromtimestamp(last[0]).astimezone():%d %b %Y}" if last else "No PHQ-9 totals yet")
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802
        pal = self.pal
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(pal.panel))
        fm = p.fontMetrics()
        left = fm.horizontalAdvance("27") + 12
        area = QRectF(left, 6, max(10.0, self.width() - left - 10), max(10.0, self.height() - fm.height() - 14))
        x0, x1 = self.x_range
        y_lo, y_hi = -PHQ9_MAX * 0.05, PHQ9_MAX * 1.05

        def px(t: float) -> float:
            return area.left() + (t - x0) / ((x1 - x0) or 1.0) * area.width()

        def py(v: float) -> float:
            return area.bottom() - (v - y_lo) / (y_hi - y_lo) * area.height()

        axis = QPen(QColor(pal.plot_axis))
        p.setPen(axis)
        p.drawLine(QPointF(area.left(), area.top()), QPointF(area.left(), area.bottom()))
        p.drawLine(QPointF(area.left(), area.bottom()), QPointF(area.right(), area.bottom()))
        text = QColor(pal.text)
        band = QPen(QColor(128, 128, 128, 90))
        band.setStyle(Qt.PenStyle.DotLine)
        for v in (0, *BAND_LINES, 25):
            y = py(v)
            if v in BAND_LINES:
                p.setPen(band)
                p.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            p.setPen(text)
            p.drawText(QRectF(0, y - fm.height() / 2, left - 6, fm.height()),
                       int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), str(v))
        label_w = fm.horizontalAdvance("00 Mmm") + 16
        for t in date_ticks(x0, x1, int(area.width() // label_w)):
            x = px(t)
            p.setPen(axis)
            p.drawLine(QPointF(x, area.bottom()), QPointF(x, area.bottom() + 4))
            p.setPen(text)
            p.drawText(QRectF(x - label_w / 2, area.bottom() + 5, label_w, fm.height()),
                       int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop),
                       datetime.fromtimestamp(t).astimezone().strftime("%d %b"))
        if self.points:
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setClipRect(area.adjusted(-6, -6, 6, 6))
            accent = QColor(pal.accent)
            p.setPen(QPen(accent, 2))
            p.drawPolyline(QPolygonF([QPointF(px(t), py(v)) for t, v in self.points]))
            p.setBrush(accent)
            for t, v in self.points:
                p.drawEllipse(QPointF(px(t), py(v)), 5, 5)
        p.end()

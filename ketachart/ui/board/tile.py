"""One chair's tile, painted in one pass (large type, readable across a room). Holds a ChairTile, nothing else.

Colour is the second cue, never the only one: an alert tile is red *and* says the alert and its age; a stale
tile is grey *and* says "STALE - last heard 2 min ago"; an overdue BP is amber *and* says "BP OVERDUE".
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from ...board.model import ChairTile, Phase
from ..theme import Palette

PHASE_WORDS = {Phase.CHECKED_IN: "CHECKED IN", Phase.INFUSING: "INFUSING", Phase.PAUSED: "PAUSED",
               Phase.RECOVERY: "RECOVERY", Phase.READY: "READY FOR DISCHARGE", Phase.FREE: "FREE"}


class ChairTileWidget(QWidget):
    tapped = Signal(str, str)  # device id, session id ("" when free)

    def __init__(self, palette: Palette, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.palette_ = palette
        self.tile: ChairTile | None = None
        self.blink = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(260, 200)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def set_tile(self, tile: ChairTile) -> None:
        if tile != self.tile:
            self.tile = tile
            self.setAccessibleName(self.summary())
            self.update()

    def summary(self) -> str:
        """The tile in words (accessibility, tests)."""
        t = self.tile
        if t is None:
            return ""
        parts = [t.chair_name, PHASE_WORDS[t.phase]]
        if t.stale:
            parts.append(f"STALE - {t.last_heard_text}")
        parts += [t.patient_text, t.elapsed_text, t.next_bp_text, t.discharge_text]
        parts += [f"{v.label} {v.text} ({v.age_text})" for v in t.vitals]
        parts += [f"ALERT {a.message} ({a.age_text})" for a in t.alerts]
        return " | ".join(p for p in parts if p)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self.tile is not None and event.button() == Qt.MouseButton.LeftButton:
            self.tapped.emit(self.tile.device_id, self.tile.session_id or "")
        super().mouseReleaseEvent(event)

    # --- painting ---------------------------------------------------------------------------------
    def _colors(self) -> tuple[QColor, QColor, QColor]:
        p, t = self.palette_, self.tile
        if t.alerting:
            bg = QColor(p.alarm_bg) if not self.blink else QColor(p.alarm_bg).lighter(130)
            return bg, QColor(p.alarm), QColor("#ffffff")
        if t.stale:
            return QColor("#2b2f35"), QColor(p.muted), QColor(p.muted)
        if t.bp_overdue:
            return QColor(p.warn_bg), QColor(p.warn), QColor(p.text)
        if t.phase is Phase.FREE:
            return QColor(p.bg), QColor(p.border), QColor(p.muted)
        return QColor(p.panel), QColor(p.border), QColor(p.text)

    def paintEvent(self, _event) -> None:  # noqa: N802
        t = self.tile
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if t is None:
            return
        p = self.palette_
        bg, border, fg = self._colors()
        r = QRectF(self.rect()).adjusted(4, 4, -4, -4)
        painter.setPen(QPen(border, 4 if (t.alerting or t.bp_overdue) else 2))
        painter.setBrush(bg)
        painter.drawRoundedRect(r, 12, 12)
        h = r.height()
        unit = max(10.0, min(h / 15.0, r.width() / 22.0))  # one text line, scaled with the tile
        x, y, w = r.left() + unit * 0.8, r.top() + unit * 0.5, r.width() - unit * 1.6

        def text(s: str, size: float, color: QColor | str, bold: bool = False, align=Qt.AlignmentFlag.AlignLeft,
                 height: float | None = None, at_y: float | None = None, left: float = 0.0,
                 width: float | None = None) -> float:
            font = QFont()
            font.setPixelSize(max(8, int(size)))
            font.setBold(bold)
            painter.setFont(font)
            painter.setPen(QColor(color))
            box_w = w - left if width is None else width
            box = QRectF(x + left, y if at_y is None else at_y, box_w, height or size * 1.3)
            painter.drawText(box, int(align | Qt.AlignmentFlag.AlignVCenter), painter.fontMetrics().elidedText(
                s, Qt.TextElideMode.ElideRight, int(box_w)))
            return box.height()

        # Header: chair name, phase
        phase_color = {Phase.INFUSING: p.accent_text, Phase.PAUSED: p.warn, Phase.READY: p.ok}.get(t.phase, fg)
        text(t.chair_name, unit * 1.6, fg, bold=True, width=w * 0.42)
        phase_size = unit * (1.1 if len(PHASE_WORDS[t.phase]) <= 12 else 0.85)
        text(PHASE_WORDS[t.phase], phase_size, phase_color, bold=True, align=Qt.AlignmentFlag.AlignRight,
             height=unit * 1.6 * 1.3, left=w * 0.42)
        y += unit * 2.1
        if t.stale:
            y += text(f"STALE - {t.last_heard_text}", unit * 1.1, p.warn if not t.alerting else "#ffffff", bold=True)
        if t.phase is Phase.FREE:
            y += unit * 0.3
            text("Free chair", unit * 1.3, p.muted)
            y += unit * 1.7
        else:
            y += text(t.patient_text, unit * 1.1, fg, bold=True)
            clocks = "   ".join(s for s in (t.elapsed_text, t.discharge_text) if s)
            y += text(clocks, unit * 0.95, fg)
            if t.next_bp_text:
                y += text(t.next_bp_text, unit * 0.95, p.warn if t.bp_overdue else fg, bold=t.bp_overdue)
            # Vitals row: big numbers with their age underneath
            if t.vitals:
                colors = {"HR": p.hr, "PR": p.hr, "SpO2": p.spo2, "BP": p.bp}
                starts = {"HR": 0.0, "PR": 0.0, "SpO2": 0.26, "BP": 0.52}
                for v in t.vitals[:3]:
                    vx = x + w * starts[v.label]
                    col_w = w * (0.48 if v.label == "BP" else 0.26)
                    font = QFont()
                    font.setPixelSize(int(unit * 0.8))
                    painter.setFont(font)
                    painter.setPen(QColor(p.muted if not t.alerting else "#ffd0d0"))
                    painter.drawText(QRectF(vx, y, col_w, unit), int(Qt.AlignmentFlag.AlignLeft), v.label)
                    font.setPixelSize(int(unit * 2.0))
                    font.setBold(True)
                    painter.setFont(font)
                    painter.setPen(QColor(colors.get(v.label, p.text)) if not t.stale else QColor(p.muted))
                    painter.drawText(QRectF(vx, y + unit * 0.8, col_w, unit * 2.3), int(Qt.AlignmentFlag.AlignLeft), v.text)
                    font.setPixelSize(int(unit * 0.75))
                    font.setBold(False)
                    painter.setFont(font)
                    painter.setPen(QColor(p.muted if not t.alerting else "#ffd0d0"))
                    painter.drawText(QRectF(vx, y + unit * 3.1, col_w, unit), int(Qt.AlignmentFlag.AlignLeft), v.age_text)
                y += unit * 4.2
            self._sparkline(painter, QRectF(x, y, w, unit * 2.2))
            y += unit * 2.5
        for a in t.alerts[-2:]:
            text(f"⚠ {a.message}", unit * 0.95, "#ffffff", bold=True, width=w * 0.7)
            y += text(a.age_text, unit * 0.95, "#ffffff", bold=True, align=Qt.AlignmentFlag.AlignRight, left=w * 0.7)
        bottom = r.bottom() - unit * 1.5
        muted = p.muted if not t.alerting else "#ffd0d0"
        text(t.devices_text, unit * 0.75, muted, at_y=bottom, width=w * 0.6)
        text(t.last_heard_text, unit * 0.75, muted, at_y=bottom, left=w * 0.6, align=Qt.AlignmentFlag.AlignRight)
        painter.end()

    def _sparkline(self, painter: QPainter, box: QRectF) -> None:
        t, p = self.tile, self.palette_
        halves = (("SPO2", p.spo2, 6.0, box.top()), ("HR", p.hr, 20.0, box.top() + box.height() / 2))
        for param, color, min_span, top in halves:
            points = t.trend.get(param) or ()
            if len(points) < 2:
                continue
            values = [v for _, v in points]
            mid = (max(values) + min(values)) / 2
            span = max(min_span, max(values) - min(values))
            lo, height = mid - span / 2, box.height() / 2 - 2
            path = QPainterPath()
            for i, (minute, value) in enumerate(points):
                px = box.left() + box.width() * (minute + 30.0) / 30.0
                py = top + height - (value - lo) / span * height
                (path.moveTo if i == 0 else path.lineTo)(QPointF(px, py))
            painter.setPen(QPen(QColor(color if not t.stale else p.muted), 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(path)

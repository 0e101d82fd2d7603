"""Paint a :class:`~ketachart.report.model.Summary` onto paper: a PDF (QPdfWriter) or a printer (QPrinter).

Layout is a simple flow: the summary becomes a list of blocks (headings, field grids, tables, the vitals
plot); blocks are measured with the device's own font metrics, placed on pages (tables split between rows
and repeat their header; a heading never ends a page), then painted, so the footer knows "page x of y".
Every page carries the patient identification line, the footer (page x of y, printed-at time, record
fingerprint) and, for a session not yet final, the IN PROGRESS banner and watermark.

All geometry is in points (1/72 in) and scaled to device units, fonts are sized in points against the
device resolution; the plot is drawn with QPainter paths, so everything stays vector and crisp at any dpi.
QPdfWriter may be used from a worker thread (it needs no GUI thread); QPrinter painting stays in the GUI
thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QMarginsF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPageLayout,
    QPageSize,
    QPagedPaintDevice,
    QPainter,
    QPainterPath,
    QPdfWriter,
    QPen,
    QPolygonF,
)

from .. import __version__
from .model import Field, Summary

PAPERS = {"a4": QPageSize.PageSizeId.A4, "letter": QPageSize.PageSizeId.Letter}
PDF_DPI = 1200

FONT_FAMILY = "DejaVu Sans"
BASE_PT = 8.3
INK = QColor(20, 20, 20)
GREY = QColor(95, 95, 95)
LIGHT = QColor(200, 200, 200)
RULE = QColor(150, 150, 150)
FLAG = QColor(176, 0, 0)
HR_COLOR = QColor(190, 30, 45)
SPO2_COLOR = QColor(20, 90, 190)
BP_COLOR = QColor(15, 15, 15)
INFUSION_FILL = QColor(255, 196, 0, 70)
BAND_FILL = QColor(0, 0, 0, 10)

MARGIN_X = 38.0
MARGIN_TOP = 30.0
MARGIN_BOTTOM = 44.0  # the footer lives here
GAP = 5.0


# --- styles and measuring ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    size: float = BASE_PT
    bold: bool = False
    italic: bool = False
    color: str = "#141414"  # a QColor name (QColor itself is not hashable)
    strike: bool = False


NORMAL = Style()
BOLD = Style(bold=True)
SMALL = Style(size=BASE_PT - 1.1, color=GREY.name())
LABEL = Style(size=BASE_PT - 1.1, color=GREY.name())
FLAGGED = Style(bold=True, color=FLAG.name())
FLAG_SMALL = Style(size=BASE_PT - 0.8, bold=True, color=FLAG.name())
ORIGINAL = Style(size=BASE_PT - 0.8, color=GREY.name(), strike=True)
HEADING = Style(size=10.5, bold=True)
TITLE = Style(size=15.0, bold=True)


class Ctx:
    """Device, scale (device units per point) and cached fonts/metrics."""

    def __init__(self, device) -> None:
        self.device = device
        self.k = device.logicalDpiY() / 72.0
        self._fonts: dict[Style, tuple[QFont, QFontMetricsF]] = {}

    def font(self, style: Style) -> tuple[QFont, QFontMetricsF]:
        hit = self._fonts.get(style)
        if hit is None:
            f = QFont(FONT_FAMILY)
            f.setPointSizeF(style.size)
            f.setBold(style.bold)
            f.setItalic(style.italic)
            f.setStrikeOut(style.strike)
            f.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
            f.setKerning(True)
            for tag in ("liga", "clig"):  # no "fi" ligatures: copied or extracted text must stay searchable
                f.setFeature(QFont.Tag(tag), 0)
            hit = (f, QFontMetricsF(f, self.device))
            self._fonts[style] = hit
        return hit

    def text_height(self, text: str, style: Style, width: float) -> float:
        """Height in points of ``text`` wrapped to ``width`` points."""
        _, fm = self.font(style)
        if not text:
            return fm.height() / self.k
        r = fm.boundingRect(QRectF(0, 0, width * self.k, 1e7), int(Qt.TextFlag.TextWordWrap), text)
        return r.height() / self.k

    def text_width(self, text: str, style: Style) -> float:
        _, fm = self.font(style)
        return fm.horizontalAdvance(text) / self.k

    def draw_text(self, p: QPainter, x: float, y: float, w: float, text: str, style: Style,
                  align=Qt.AlignmentFlag.AlignLeft) -> float:
        font, _ = self.font(style)
        p.setFont(font)
        p.setPen(QColor(style.color))
        h = self.text_height(text, style, w)
        k = self.k
        p.drawText(QRectF(x * k, y * k, w * k, (h + 1) * k), int(align | Qt.TextFlag.TextWordWrap), text)
        return h


Run = tuple[str, Style]


def runs_height(ctx: Ctx, runs: list[Run], width: float) -> float:
    return sum(ctx.text_height(t, s, width) for t, s in runs) if runs else 0.0


def draw_runs(ctx: Ctx, p: QPainter, x: float, y: float, w: float, runs: list[Run]) -> float:
    start = y
    for text, style in runs:
        y += ctx.draw_text(p, x, y, w, text, style)
    return y - start


# --- blocks -------------------------------------------------------------------------------------


class Block:
    keep_with_next = False

    def height(self, ctx: Ctx, width: float) -> float:
        raise NotImplementedError

    def draw(self, ctx: Ctx, p: QPainter, x: float, y: float, width: float) -> None:
        raise NotImplementedError

    def split(self, ctx: Ctx, width: float, available: float) -> tuple["Block | None", "Block | None"]:
        """(part that fits in ``available``, the rest); (None, self) when nothing useful fits."""
        return None, self


class Spacer(Block):
    def __init__(self, h: float) -> None:
        self.h = h

    def height(self, ctx, width):
        return self.h

    def draw(self, ctx, p, x, y, width):
        pass


class Heading(Block):
    keep_with_next = True

    def __init__(self, text: str, note: str = "") -> None:
        self.text, self.note = text, note

    def height(self, ctx, width):
        return ctx.text_height(self.text, HEADING, width) + 4

    def draw(self, ctx, p, x, y, width):
        h = ctx.draw_text(p, x, y, width, self.text, HEADING)
        if self.note:
            tw = ctx.text_width(self.text, HEADING)
            ctx.draw_text(p, x + tw + 8, y + 2.2, width - tw - 8, self.note, SMALL)
        k = ctx.k
        p.setPen(QPen(RULE, 0.6 * k))
        p.drawLine(QPointF(x * k, (y + h + 1) * k), QPointF((x + width) * k, (y + h + 1) * k))


class Paragraph(Block):
    def __init__(self, runs: list[Run], box: QColor | None = None, pad: float = 0.0) -> None:
        self.runs, self.box, self.pad = runs, box, pad

    def height(self, ctx, width):
        return runs_height(ctx, self.runs, width - 2 * self.pad) + 2 * self.pad

    def draw(self, ctx, p, x, y, width):
        k = ctx.k
        if self.box is not None:
            h = self.height(ctx, width)
            p.setPen(QPen(self.box, 1.2 * k))
            fill = QColor(self.box)
            fill.setAlpha(22)
            p.setBrush(fill)
            p.drawRect(QRectF(x * k, y * k, width * k, h * k))
            p.setBrush(Qt.BrushStyle.NoBrush)
        draw_runs(ctx, p, x + self.pad, y + self.pad, width - 2 * self.pad, self.runs)


class FieldGrid(Block):
    """Label/value pairs in ``columns`` columns, label above or beside value."""

    def __init__(self, fields: list[Field], columns: int = 2, label_width: float = 0.38) -> None:
        self.fields, self.columns, self.label_width = fields, columns, label_width

    def _cells(self, ctx, width):
        colw = (width - (self.columns - 1) * 10) / self.columns
        lw = colw * self.label_width
        vw = colw - lw - 4
        rows = [self.fields[i:i + self.columns] for i in range(0, len(self.fields), self.columns)]
        return colw, lw, vw, rows

    def _row_h(self, ctx, row, lw, vw):
        return max(max(ctx.text_height(f.label, LABEL, lw), ctx.text_height(f.value, FLAGGED if f.flag else NORMAL, vw))
                   for f in row) + 1.6

    def height(self, ctx, width):
        colw, lw, vw, rows = self._cells(ctx, width)
        return sum(self._row_h(ctx, r, lw, vw) for r in rows)

    def draw(self, ctx, p, x, y, width):
        colw, lw, vw, rows = self._cells(ctx, width)
        for row in rows:
            h = self._row_h(ctx, row, lw, vw)
            for i, f in enumerate(row):
                cx = x + i * (colw + 10)
                ctx.draw_text(p, cx, y + 0.9, lw, f.label, LABEL)
                ctx.draw_text(p, cx + lw + 4, y, vw, f.value, FLAGGED if f.flag else NORMAL)
            y += h

    def split(self, ctx, width, available):
        colw, lw, vw, rows = self._cells(ctx, width)
        used, n = 0.0, 0
        for r in rows:
            h = self._row_h(ctx, r, lw, vw)
            if used + h > available:
                break
            used, n = used + h, n + 1
        if n == 0:
            return None, self
        cut = n * self.columns
        return (FieldGrid(self.fields[:cut], self.columns, self.label_width),
                FieldGrid(self.fields[cut:], self.columns, self.label_width))


class Columns(Block):
    """Blocks side by side (not split across pages)."""

    def __init__(self, blocks: list[Block], fractions: list[float], gap: float = 14) -> None:
        self.blocks, self.fractions, self.gap = blocks, fractions, gap

    def _widths(self, width):
        free = width - self.gap * (len(self.blocks) - 1)
        return [free * f for f in self.fractions]

    def height(self, ctx, width):
        return max(b.height(ctx, w) for b, w in zip(self.blocks, self._widths(width)))

    def draw(self, ctx, p, x, y, width):
        for b, w in zip(self.blocks, self._widths(width)):
            b.draw(ctx, p, x, y, w)
            x += w + self.gap


class Stack(Block):
    def __init__(self, blocks: list[Block]) -> None:
        self.blocks = blocks

    def height(self, ctx, width):
        return sum(b.height(ctx, width) for b in self.blocks)

    def draw(self, ctx, p, x, y, width):
        for b in self.blocks:
            b.draw(ctx, p, x, y, width)
            y += b.height(ctx, width)


Cell = list[Run]


class Table(Block):
    def __init__(self, headers: list[str], fractions: list[float], rows: list[list[Cell]],
                 shade: list[bool] | None = None) -> None:
        self.headers, self.fractions, self.rows = headers, fractions, rows
        self.shade = shade or [False] * len(rows)

    def _widths(self, width):
        return [width * f for f in self.fractions]

    def _header_h(self, ctx, width):
        return max(ctx.text_height(h, LABEL, w - 4) for h, w in zip(self.headers, self._widths(width))) + 3

    def _row_h(self, ctx, row, width):
        return max(runs_height(ctx, cell, w - 4) for cell, w in zip(row, self._widths(width))) + 3

    def height(self, ctx, width):
        return self._header_h(ctx, width) + sum(self._row_h(ctx, r, width) for r in self.rows)

    def draw(self, ctx, p, x, y, width):
        k = ctx.k
        widths = self._widths(width)
        hh = self._header_h(ctx, width)
        cx = x
        for h, w in zip(self.headers, widths):
            ctx.draw_text(p, cx + 2, y + 1, w - 4, h, Style(size=BASE_PT - 1.1, bold=True, color=GREY.name()))
            cx += w
        y += hh
        p.setPen(QPen(RULE, 0.5 * k))
        p.drawLine(QPointF(x * k, y * k), QPointF((x + width) * k, y * k))
        for row, shade in zip(self.rows, self.shade):
            rh = self._row_h(ctx, row, width)
            if shade:
                p.fillRect(QRectF(x * k, y * k, width * k, rh * k), QColor(176, 0, 0, 18))
            cx = x
            for cell, w in zip(row, widths):
                draw_runs(ctx, p, cx + 2, y + 1.5, w - 4, cell)
                cx += w
            y += rh
            p.setPen(QPen(LIGHT, 0.35 * k))
            p.drawLine(QPointF(x * k, y * k), QPointF((x + width) * k, y * k))

    def split(self, ctx, width, available):
        used = self._header_h(ctx, width)
        n = 0
        for r in self.rows:
            h = self._row_h(ctx, r, width)
            if used + h > available:
                break
            used, n = used + h, n + 1
        if n == 0:
            return None, self
        return (Table(self.headers, self.fractions, self.rows[:n], self.shade[:n]),
                Table(self.headers, self.fractions, self.rows[n:], self.shade[n:]))


# --- the plot -----------------------------------------------------------------------------------


def _bands(points: list[tuple[float, float]], x0: float, x1: float, bins: int, gap_s: float = 90.0):
    """Per time step: lowest, highest and median value (every stored reading counts; peaks and dips stay
    visible as the band), as segments broken where the data has a gap."""
    if not points:
        return []
    arr = np.asarray(points, dtype=float)
    t, v = arr[:, 0], arr[:, 1]
    width = max((x1 - x0) / bins, 1.0)
    idx = np.floor((t - x0) / width).astype(np.int64)
    starts = np.concatenate(([0], np.nonzero(np.diff(idx))[0] + 1))
    ends = np.concatenate((starts[1:], [len(v)]))
    lo = np.minimum.reduceat(v, starts)
    hi = np.maximum.reduceat(v, starts)
    sums = np.add.reduceat(v, starts)
    med = sums / (ends - starts)  # mean within a step (steps are a few seconds wide)
    xs = np.clip(x0 + (idx[starts] + 0.5) * width, t[starts], t[ends - 1])
    segments = []
    cut = np.nonzero(t[starts[1:]] - t[ends[:-1] - 1] > gap_s)[0] + 1
    bounds = np.concatenate(([0], cut, [len(starts)]))
    for a, b in zip(bounds[:-1], bounds[1:]):
        segments.append((xs[a:b].tolist(), lo[a:b].tolist(), hi[a:b].tolist(), med[a:b].tolist()))
    return segments


class VitalsPlot(Block):
    def __init__(self, summary: Summary, h: float = 215.0) -> None:
        self.s, self.h = summary, h

    def height(self, ctx, width):
        return self.h

    def draw(self, ctx, p, x, y, width):
        k = ctx.k
        plot = self.s.plot
        left, right = 40.0, 6.0
        strip = 28.0  # observation marks above the plot
        axis_h = 22.0
        px, pw = x + left, width - left - right
        top = y + strip
        avail = self.h - strip - axis_h
        top_h = avail * 0.68
        gap = 6.0
        bot_h = avail - top_h - gap
        bot_y = top + top_h + gap
        pad = plot.x_end * 0.012
        x0, x1 = -pad, plot.x_end + pad

        def X(t: float) -> float:
            return (px + (t - x0) / (x1 - x0) * pw) * k

        # y ranges
        hv = [v for _, v in plot.hr] + [b[1] for b in plot.nibp] + [b[2] for b in plot.nibp]
        ylo, yhi = 40.0, 200.0
        if hv:
            ylo = min(ylo, 20 * np.floor(min(hv) / 20))
            yhi = max(yhi, 20 * np.ceil(max(hv) / 20))
        sv = [v for _, v in plot.spo2]
        slo, shi = 80.0, 100.0
        if sv and min(sv) < slo:
            slo = 10 * np.floor(min(sv) / 10)

        def Y(v: float) -> float:
            return (top + top_h - (v - ylo) / (yhi - ylo) * top_h) * k

        def YS(v: float) -> float:
            return (bot_y + bot_h - (v - slo) / (shi - slo) * bot_h) * k

        # infusion shading
        for a, b in plot.infusion:
            for py, ph in ((top, top_h), (bot_y, bot_h)):
                p.fillRect(QRectF(X(max(a, x0)), py * k, X(min(b, x1)) - X(max(a, x0)), ph * k), INFUSION_FILL)
        # grid and frames
        small, _ = ctx.font(SMALL)
        p.setFont(small)
        for panel_y, panel_h, lo, hi, step, conv, label in (
            (top, top_h, ylo, yhi, 20.0, Y, "HR /min   BP mmHg"),
            (bot_y, bot_h, slo, shi, 5.0 if shi - slo <= 20 else 10.0, YS, "SpO2 %"),
        ):
            v = lo
            while v <= hi + 1e-6:
                yy = conv(v)
                p.setPen(QPen(LIGHT, 0.3 * k, Qt.PenStyle.DotLine if v not in (lo, hi) else Qt.PenStyle.SolidLine))
                p.drawLine(QPointF(px * k, yy), QPointF((px + pw) * k, yy))
                p.setPen(GREY)
                p.drawText(QRectF((px - 28) * k, yy - 5 * k, 25 * k, 10 * k),
                           int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), f"{v:.0f}")
                v += step
            p.setPen(QPen(RULE, 0.6 * k))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(px * k, panel_y * k, pw * k, panel_h * k))
            p.save()
            p.setPen(GREY)
            p.translate((px - left) * k, (panel_y + panel_h / 2) * k)
            p.rotate(-90)
            p.drawText(QRectF(-panel_h / 2 * k, 0, panel_h * k, 10 * k),
                       int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop), label)
            p.restore()
        # time axis: clock time and minutes from the start of administration
        span_min = (x1 - x0) / 60
        step_min = 10 if span_min <= 100 else 15 if span_min <= 200 else 30 if span_min <= 420 else 60
        origin = plot.origin
        first = origin.replace(second=0, microsecond=0)
        offset_min = (first.minute // step_min + 1) * step_min - first.minute
        tick = first + timedelta(minutes=offset_min)
        while (tick - origin).total_seconds() <= x1:
            t = (tick - origin).total_seconds()
            xx = X(t)
            p.setPen(QPen(RULE, 0.5 * k))
            p.drawLine(QPointF(xx, (bot_y + bot_h) * k), QPointF(xx, (bot_y + bot_h + 2.5) * k))
            p.setPen(QPen(LIGHT, 0.25 * k, Qt.PenStyle.DotLine))
            p.drawLine(QPointF(xx, top * k), QPointF(xx, (top + top_h) * k))
            p.drawLine(QPointF(xx, bot_y * k), QPointF(xx, (bot_y + bot_h) * k))
            label = tick.strftime("%H:%M")
            if plot.start_offset is not None:
                rel = round((t - plot.start_offset) / 60)
                label += f"\n{rel:+d} min" if rel else "\nstart"
            p.setPen(GREY)
            p.drawText(QRectF(xx - 20 * k, (bot_y + bot_h + 3) * k, 40 * k, 20 * k),
                       int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop), label)
            tick += timedelta(minutes=step_min)
        # series
        bins = int(pw * 1.5)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setClipRect(QRectF(px * k, (top - 1) * k, pw * k, (bot_y + bot_h - top + 2) * k))
        for points, color, conv in ((plot.hr, HR_COLOR, Y), (plot.spo2, SPO2_COLOR, YS)):
            band = QColor(color)
            band.setAlpha(95)
            pen = QPen(color, 0.7 * k)
            pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
            for seg in _bands(points, x0, x1, bins):
                xs, lo, hi, med = seg
                if len(xs) > 1:
                    poly = QPolygonF([QPointF(X(t), conv(v)) for t, v in zip(xs, hi)]
                                     + [QPointF(X(t), conv(v)) for t, v in zip(xs[::-1], lo[::-1])])
                    p.setPen(QPen(band, 0.35 * k))
                    p.setBrush(band)
                    p.drawPolygon(poly)
                    p.setBrush(Qt.BrushStyle.NoBrush)
                path = QPainterPath()
                path.moveTo(X(xs[0]), conv(med[0]))
                for t, v in zip(xs[1:], med[1:]):
                    path.lineTo(X(t), conv(v))
                if len(xs) == 1:
                    path.lineTo(X(xs[0]) + 0.6 * k, conv(med[0]))
                p.setPen(pen)
                p.drawPath(path)
        for t, sys_, dia, manual in plot.nibp:
            xx, ys, yd = X(t), Y(sys_), Y(dia)
            p.setPen(QPen(BP_COLOR, 0.6 * k))
            p.drawLine(QPointF(xx, ys), QPointF(xx, yd))
            a = 2.4 * k
            p.setPen(QPen(BP_COLOR, 0.6 * k))
            p.setBrush(Qt.BrushStyle.NoBrush if manual else QBrush(BP_COLOR))
            p.drawPolygon(QPolygonF([QPointF(xx - a, ys - a * 1.4), QPointF(xx + a, ys - a * 1.4), QPointF(xx, ys)]))
            p.drawPolygon(QPolygonF([QPointF(xx - a, yd + a * 1.4), QPointF(xx + a, yd + a * 1.4), QPointF(xx, yd)]))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setClipping(False)
        # marks strip: observations on staggered rows so labels do not collide
        mark_style = Style(size=BASE_PT - 1.6, color=INK.name())
        mfont, mfm = ctx.font(mark_style)
        p.setFont(mfont)
        rows_end = [-1e9] * 4
        row_h = 6.5
        marks = [(t, c, False) for t, c in plot.marks] + [(t, c, True) for t, c in plot.alert_marks]
        marks.sort(key=lambda m: m[0])
        for t, code, is_alert in marks:
            xx = X(t) / k
            w = mfm.horizontalAdvance(code) / k
            row = next((i for i, end in enumerate(rows_end) if xx - w / 2 > end + 1), len(rows_end) - 1)
            rows_end[row] = xx + w / 2
            ty = y + 1 + row * row_h
            p.setPen(QPen(FLAG if is_alert else LIGHT, 0.35 * k))
            p.drawLine(QPointF(xx * k, (ty + row_h - 0.5) * k), QPointF(xx * k, (top + top_h) * k))
            p.setPen(FLAG if is_alert else INK)
            if is_alert:
                f2, _ = ctx.font(Style(size=BASE_PT - 1.2, bold=True, color=FLAG.name()))
                p.setFont(f2)
            p.fillRect(QRectF((xx - w / 2 - 0.6) * k, (ty + 0.3) * k, (w + 1.2) * k, (row_h - 0.6) * k), Qt.GlobalColor.white)
            p.drawText(QRectF((xx - 10) * k, ty * k, 20 * k, row_h * k), int(Qt.AlignmentFlag.AlignCenter), code)
            p.setFont(mfont)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)


def _legend(summary: Summary) -> Paragraph:
    text = ("Red: heart rate; blue: SpO2 (line = mean, band = lowest to highest of every stored reading in each "
            "time step). NIBP: systolic and diastolic triangles joined by a bar (hollow = manual). Shaded: drug "
            "running. Marks: D dissociation 0-4, S sedation MOAA/S 0-5, N nausea 0-10, C CADSS-6, "
            "Rx intervention, n note, ! alert.")
    return Paragraph([(text, SMALL)])


# --- from summary to blocks ---------------------------------------------------------------------


def _blocks(s: Summary) -> list[Block]:
    out: list[Block] = []
    out.append(Columns([
        Paragraph([(s.clinic_name, Style(size=9.5, bold=True))] + ([(s.clinic_address, SMALL)] if s.clinic_address else [])),
        Paragraph([(f"All times {s.tz_label}", SMALL), (f"Printed {s.printed_at}", SMALL)]),
    ], [0.6, 0.4]))
    out.append(Paragraph([(s.title, TITLE)]))
    if s.in_progress:
        out.append(Paragraph([("IN PROGRESS - not a final record", Style(size=12, bold=True, color=FLAG.name())),
                              (f"Session state: {s.state}. Entries may still be added or corrected; reprint after "
                               "discharge for the patient's file.", FLAG_SMALL)], box=FLAG, pad=4))
    out.append(Spacer(3))
    out.append(Columns([FieldGrid(s.patient, 1, 0.3), FieldGrid(s.session, 1, 0.34)], [0.47, 0.53]))
    out.append(Spacer(GAP))

    # dose
    out.append(Heading("Dose record"))
    if s.dose:
        out.append(FieldGrid(s.dose.fields, 2, 0.32))
        if s.dose.amended:
            out.append(Paragraph([(s.dose.amended, FLAG_SMALL)]))
        if s.dose.events:
            out.append(Spacer(2))
            out.append(Table(["Time", "Administration", "Reason"], [0.1, 0.42, 0.48],
                             [[[(e.time, NORMAL)], [(e.what, NORMAL)], [(e.reason or "", NORMAL)]] for e in s.dose.events]))
    else:
        out.append(Paragraph([("No dose recorded.", FLAGGED)]))
    out.append(Spacer(GAP))

    # vitals
    out.append(Heading("Vital signs", "HR and SpO2: median of the minute before each point; BP: nearest measurement"))
    out.append(VitalsPlot(s))
    out.append(_legend(s))
    out.append(Spacer(3))
    out.append(Table(["", "Time", "BP mmHg", "HR /min", "SpO2 %"], [0.24, 0.09, 0.27, 0.2, 0.2],
                     [[[(v.label, BOLD if v.label in ("Minimum", "Maximum") else NORMAL)], [(v.time, NORMAL)],
                       [(v.bp, NORMAL)], [(v.hr, NORMAL)], [(v.spo2 + (f" ({v.note})" if v.note else ""), NORMAL)]]
                      for v in s.vitals]))
    out.append(Spacer(GAP))

    # alerts
    out.append(Heading("Alerts and acknowledgments"))
    if s.alerts:
        rows, shade = [], []
        for a in s.alerts:
            ack: Cell = [(x, NORMAL) for x in a.acks] or [("NOT ACKNOWLEDGED", FLAGGED)]
            rows.append([[(a.time, NORMAL)], [(a.severity, FLAGGED if a.severity == "critical" else BOLD)],
                         [(a.message, NORMAL), (f"policy v{a.policy_version}", SMALL)], ack])
            shade.append(not a.acknowledged)
        out.append(Table(["Time", "Severity", "Alert", "Acknowledged (time, by, action)"], [0.08, 0.1, 0.32, 0.5],
                         rows, shade))
    else:
        out.append(Paragraph([("No alerts.", NORMAL)]))
    out.append(Spacer(GAP))

    # timeline
    out.append(Heading("Observation timeline", "late entries and corrections are labelled; originals stay readable"))
    rows, shade = [], []
    for item in s.timeline:
        detail: Cell = [(item.text, FLAGGED if item.alert else NORMAL)]
        detail += [(f, FLAG_SMALL) for f in item.flags]
        detail += [(f"Original: {o}", ORIGINAL) for o in item.originals]
        rows.append([[(item.time, NORMAL)], [(item.kind, BOLD)], detail, [(item.author, SMALL)]])
        shade.append(item.alert)
    out.append(Table(["Time", "Entry", "Details", "Charted by"], [0.08, 0.15, 0.58, 0.19], rows, shade))
    out.append(Spacer(GAP))

    if s.prechecks:
        out.append(Heading("Pre-session checks"))
        out.append(FieldGrid(s.prechecks, 2, 0.5))
        out.append(Spacer(GAP))

    # discharge
    out.append(Heading("Discharge check"))
    d = s.discharge
    if d:
        status = ("PASSED" if d.passed and not d.override else "OVERRIDE" if d.override else "NOT PASSED")
        head: list[Run] = [(f"Checked {d.time} - PADSS {d.score} - {status} (policy v{d.policy_version})",
                            BOLD if status == "PASSED" else FLAGGED)]
        out.append(Paragraph(head))
        out.append(Spacer(3))
        if d.override:
            out.append(Paragraph([("DISCHARGE OVERRIDE - reason: " + d.override, FLAGGED)], box=FLAG, pad=3))
        if d.facts:  # what the chart said at the check (the discharge screen's words), and the PADSS scores
            padss = "; ".join(f"{f.label} {f.value.split(' - ')[0]}" for f in d.padss)
            items = d.items + [Field("Modified PADSS (0-2 each)", padss, flag=any(f.flag for f in d.padss))]
            out.append(FieldGrid(items, 2, 0.36))
        else:
            out.append(Columns([
                Stack([Paragraph([("Checklist", LABEL)]), FieldGrid(d.items, 1, 0.68)]),
                Stack([Paragraph([("Modified PADSS (0-2 each)", LABEL)]), FieldGrid(d.padss, 1, 0.42)]),
            ], [0.55, 0.45]))
    else:
        out.append(Paragraph([("No discharge check recorded.", FLAGGED if not s.in_progress else NORMAL)]))
    out.append(Spacer(GAP))

    if s.rems is not None:
        out.append(Heading("Spravato REMS patient monitoring form", "values from this chart, ready to transcribe"))
        for title, fields in s.rems:
            out.append(Paragraph([(title, Style(size=BASE_PT - 0.6, bold=True, color=GREY.name()))]))
            out.append(FieldGrid(fields, 2, 0.5))
        out.append(Spacer(GAP))

    out.append(Heading("Signatures"))
    if s.signatures:
        rows, shade = [], []
        for g in s.signatures:
            check: Cell = [("content verified", SMALL)] if g.valid else [("HASH MISMATCH - signed content changed", FLAGGED)]
            if g.signed_version_amended:
                check.append(("SIGNED VERSION AMENDED - the current entry was not signed", FLAG_SMALL))
            rows.append([[(g.what, NORMAL)], [(g.printed_name, BOLD)], [(g.meaning, NORMAL)], [(g.time, NORMAL)], check])
            shade.append(not g.valid or g.signed_version_amended)
        out.append(Table(["Signed item", "Printed name", "Meaning", "Date / time", "Check"],
                         [0.25, 0.2, 0.12, 0.17, 0.26], rows, shade))
    else:
        out.append(Paragraph([("No signatures.", NORMAL)]))
    out.append(Spacer(GAP))
    out.append(Paragraph([
        (f"Record fingerprint (SHA-256 over {s.row_count} chart rows of this session): {s.fingerprint}",
         Style(size=BASE_PT - 1.4, color=GREY.name())),
        (f"Session id {s.session_id}. Compare with `ketachart report` output or the PDF metadata to match this paper "
         "to the database.", Style(size=BASE_PT - 1.4, color=GREY.name())),
    ]))
    return out


# --- pagination and painting --------------------------------------------------------------------


@dataclass
class _Page:
    items: list[tuple[Block, float]] = field(default_factory=list)


def _paginate(ctx: Ctx, blocks: list[Block], width: float, first_top: float, top: float, bottom: float) -> list[_Page]:
    pages = [_Page()]
    y = first_top
    queue = list(blocks)
    while queue:
        b = queue.pop(0)
        h = b.height(ctx, width)
        need = h
        if b.keep_with_next and queue:
            nxt = queue[0]
            nh = nxt.height(ctx, width)
            need = h + min(nh, 60.0)
        if y + need <= bottom:
            pages[-1].items.append((b, y))
            y += h
            continue
        if not b.keep_with_next:
            head, rest = b.split(ctx, width, bottom - y)
            if head is not None:
                pages[-1].items.append((head, y))
                queue.insert(0, rest)
                pages.append(_Page())
                y = top
                continue
        if not pages[-1].items or y == top:
            # nothing fits even on an empty page: place anyway (clipped) rather than loop forever
            pages[-1].items.append((b, y))
            y += h
            continue
        pages.append(_Page())
        y = top
        queue.insert(0, b)
    return pages


def _paint_pages(summary: Summary, device: QPagedPaintDevice, painter: QPainter, page_w: float, page_h: float,
                 new_page: Callable[[], bool], progress: Callable[[int, int], None] | None = None) -> int:
    ctx = Ctx(device)
    width = page_w - 2 * MARGIN_X
    running_h = 14.0
    blocks = _blocks(summary)
    pages = _paginate(ctx, blocks, width, MARGIN_TOP, MARGIN_TOP + running_h, page_h - MARGIN_BOTTOM)
    total = len(pages)
    for n, page in enumerate(pages, start=1):
        if n > 1 and not new_page():
            raise RuntimeError("the printer refused a new page")
        if summary.in_progress:
            _watermark(ctx, painter, page_w, page_h)
        if n > 1:
            ident = (f"{summary.patient[0].value}  -  MRN {summary.patient[1].value}  -  DOB {summary.patient[2].value}"
                     f"  -  session {summary.session[0].value}  -  summary")
            if summary.in_progress:
                ident = "IN PROGRESS - not a final record  -  " + ident
            ctx.draw_text(painter, MARGIN_X, MARGIN_TOP - 4, width, ident,
                          FLAG_SMALL if summary.in_progress else Style(size=BASE_PT - 1, bold=True, color=GREY.name()))
        for block, y in page.items:
            block.draw(ctx, painter, MARGIN_X, y, width)
        _footer(ctx, painter, summary, n, total, page_w, page_h)
        if progress:
            progress(n, total)
    return total


def _watermark(ctx: Ctx, p: QPainter, page_w: float, page_h: float) -> None:
    k = ctx.k
    p.save()
    p.translate(page_w / 2 * k, page_h / 2 * k)
    p.rotate(-52)
    font, _ = ctx.font(Style(size=44, bold=True))
    p.setFont(font)
    p.setPen(QColor(200, 0, 0, 38))
    p.drawText(QRectF(-page_h * 0.6 * k, -40 * k, page_h * 1.2 * k, 80 * k), int(Qt.AlignmentFlag.AlignCenter),
               "IN PROGRESS - not a final record")
    p.restore()


def _footer(ctx: Ctx, p: QPainter, s: Summary, n: int, total: int, page_w: float, page_h: float) -> None:
    k = ctx.k
    y = page_h - MARGIN_BOTTOM + 12
    width = page_w - 2 * MARGIN_X
    p.setPen(QPen(RULE, 0.5 * k))
    p.drawLine(QPointF(MARGIN_X * k, y * k), QPointF((MARGIN_X + width) * k, y * k))
    style = Style(size=BASE_PT - 1, color=GREY.name())
    left = f"{s.patient[0].value}  MRN {s.patient[1].value}"
    ctx.draw_text(p, MARGIN_X, y + 3, width * 0.36, left, style)
    ctx.draw_text(p, MARGIN_X + width * 0.3, y + 3, width * 0.4, f"Printed {s.printed_at}", style,
                  Qt.AlignmentFlag.AlignHCenter)
    ctx.draw_text(p, MARGIN_X + width * 0.6, y + 3, width * 0.4, f"Page {n} of {total}",
                  Style(size=BASE_PT - 0.5, bold=True), Qt.AlignmentFlag.AlignRight)
    ctx.draw_text(p, MARGIN_X, y + 13, width, f"Record fingerprint {s.fingerprint_short}", style)
    ctx.draw_text(p, MARGIN_X, y + 13, width, f"KetaChart {__version__}" + ("  -  IN PROGRESS - not a final record"
                                                                             if s.in_progress else ""),
                  FLAG_SMALL if s.in_progress else style, Qt.AlignmentFlag.AlignRight)


def _xmp(summary: Summary) -> bytes:
    def esc(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    title = esc(f"KetaChart session summary {summary.session_id}")
    desc = esc(f"record-fingerprint sha256:{summary.fingerprint}; session {summary.session_id}; "
               f"{'IN PROGRESS' if summary.in_progress else 'final'}")
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:pdf="http://ns.adobe.com/pdf/1.3/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
     xmlns:ketachart="urn:ketachart:report:1">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{desc}</rdf:li></rdf:Alt></dc:description>
   <pdf:Keywords>record-fingerprint sha256:{summary.fingerprint}</pdf:Keywords>
   <pdf:Producer>KetaChart {__version__}</pdf:Producer>
   <xmp:CreatorTool>KetaChart {__version__}</xmp:CreatorTool>
   <ketachart:recordFingerprint>{summary.fingerprint}</ketachart:recordFingerprint>
   <ketachart:sessionId>{esc(summary.session_id)}</ketachart:sessionId>
   <ketachart:inProgress>{str(summary.in_progress).lower()}</ketachart:inProgress>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def page_size(paper: str) -> QPageSize:
    try:
        return QPageSize(PAPERS[paper.lower()])
    except KeyError:
        raise ValueError(f"paper must be one of {', '.join(PAPERS)}, not {paper!r}") from None


def render_pdf(summary: Summary, path: str | Path, paper: str = "a4",
               progress: Callable[[int, int], None] | None = None) -> int:
    """Write the summary as a PDF; returns the page count. Safe to call from a worker thread."""
    size = page_size(paper)
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    writer = QPdfWriter(str(tmp))
    writer.setResolution(PDF_DPI)
    writer.setPageLayout(QPageLayout(size, QPageLayout.Orientation.Portrait, QMarginsF(0, 0, 0, 0)))
    writer.setTitle(f"KetaChart session summary {summary.session_id}")
    writer.setCreator(f"KetaChart {__version__} - record fingerprint sha256:{summary.fingerprint}")
    writer.setDocumentXmpMetadata(_xmp(summary))
    points = size.size(QPageSize.Unit.Point)
    painter = QPainter()
    if not painter.begin(writer):
        raise OSError(f"cannot write {path}")
    try:
        pages = _paint_pages(summary, writer, painter, points.width(), points.height(), writer.newPage, progress)
    finally:
        painter.end()
    del writer
    tmp.replace(path)
    return pages


def render_to_printer(summary: Summary, printer, progress: Callable[[int, int], None] | None = None) -> int:
    """Paint onto a configured QPrinter (from a print dialog or a preview); GUI thread only. Returns pages."""
    from PySide6.QtPrintSupport import QPrinter

    printer.setFullPage(False)
    layout = printer.pageLayout()
    rect = layout.paintRect(QPageLayout.Unit.Point)
    full = layout.fullRect(QPageLayout.Unit.Point)
    # Our own margins are measured from the paper edge; subtract what the printer's margins already take.
    painter = QPainter()
    if not painter.begin(printer):
        raise OSError("the printer could not be started")
    try:
        k = printer.logicalDpiY() / 72.0
        painter.translate(-rect.left() * k, -rect.top() * k)
        pages = _paint_pages(summary, printer, painter, full.width(), full.height(), printer.newPage, progress)
    finally:
        painter.end()
    _ = QPrinter  # imported for type clarity; QtPrintSupport stays out of the PDF path
    return pages

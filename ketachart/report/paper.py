"""Plain form-like papers (the REMS form page, the patient's discharge handout, the controlled-substance
log): headings, label/value fields, paragraphs and tables flowed onto pages with a footer. Uses the summary's
fonts and measuring (:mod:`.render`), so all papers look alike. Safe from a worker thread (QPdfWriter)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMarginsF
from PySide6.QtGui import QPageLayout, QPageSize, QPainter, QPdfWriter, QPen

from .. import __version__
from .fields import Field
from .paper_model import Doc, Fields, Heading, Para, Table
from .render import BOLD, FLAGGED, HEADING, LABEL, NORMAL, PDF_DPI, RULE, SMALL, TITLE, Ctx, Style, page_size

STYLES = {"normal": NORMAL, "small": SMALL, "bold": BOLD}

MARGIN = 40.0


def _block_height(ctx: Ctx, b, width: float) -> float:
    if isinstance(b, Heading):
        return ctx.text_height(b.text, HEADING, width) + 6
    if isinstance(b, Para):
        return ctx.text_height(b.text, STYLES[b.style], width - (12 if b.bullet else 0)) + 3
    if isinstance(b, Fields):
        return sum(_field_height(ctx, f, b, width, i) for i, f in enumerate(b.fields))
    if isinstance(b, Table):
        return _row_height(ctx, b.headers, b, width, True) + sum(_row_height(ctx, r, b, width) for r in b.rows)
    return 0.0


def _label(f: Field, b: Fields, i: int) -> str:
    return f.label if b.numbered_from is None else f"{b.numbered_from + i}. {f.label}"


def _field_height(ctx: Ctx, f: Field, b: Fields, width: float, i: int = 0) -> float:
    lw = b.label_width
    return max(ctx.text_height(_label(f, b, i), LABEL, lw - 18), ctx.text_height(f.value, FLAGGED if f.flag else NORMAL,
                                                                           width - lw)) + 3


def _row_height(ctx: Ctx, cells: list[str], t: Table, width: float, header: bool = False) -> float:
    style = Style(size=7.2, bold=header)
    return max(ctx.text_height(c, style, t.widths[i] * width - 4) for i, c in enumerate(cells)) + 3


def _paint_block(ctx: Ctx, p: QPainter, b, x: float, y: float, width: float) -> float:
    k = ctx.k
    if isinstance(b, Heading):
        y += 3
        h = ctx.draw_text(p, x, y, width, b.text, HEADING)
        p.setPen(QPen(RULE, 0.6 * k))
        p.drawLine(int(x * k), int((y + h + 1) * k), int((x + width) * k), int((y + h + 1) * k))
        return y + h + 3
    if isinstance(b, Para):
        if b.bullet:
            ctx.draw_text(p, x, y, 10, "\u2022", STYLES[b.style])
            return y + ctx.draw_text(p, x + 12, y, width - 12, b.text, STYLES[b.style]) + 3
        return y + ctx.draw_text(p, x, y, width, b.text, STYLES[b.style]) + 3
    if isinstance(b, Fields):
        for i, f in enumerate(b.fields):
            lw = b.label_width
            label = _label(f, b, i)
            h = _field_height(ctx, f, b, width, i)
            ctx.draw_text(p, x, y, lw - 18, label, LABEL)
            ctx.draw_text(p, x + lw, y, width - lw, f.value, FLAGGED if f.flag else NORMAL)
            p.setPen(QPen(RULE.lighter(130), 0.3 * k))
            p.drawLine(int(x * k), int((y + h - 1) * k), int((x + width) * k), int((y + h - 1) * k))
            y += h
        return y
    if isinstance(b, Table):
        y = _paint_row(ctx, p, b.headers, b, x, y, width, True)
        for i, r in enumerate(b.rows):
            y = _paint_row(ctx, p, r, b, x, y, width, False, b.flagged[i] if i < len(b.flagged) else False)
        return y
    return y


def _paint_row(ctx, p, cells, t: Table, x, y, width, header, flagged=False) -> float:
    style = Style(size=7.2, bold=header or flagged, color=FLAGGED.color if flagged else NORMAL.color)
    h = _row_height(ctx, cells, t, width, header)
    cx = x
    for i, c in enumerate(cells):
        ctx.draw_text(p, cx + 1, y + 1, t.widths[i] * width - 4, c, style)
        cx += t.widths[i] * width
    k = ctx.k
    p.setPen(QPen(RULE, (0.6 if header else 0.25) * k))
    p.drawLine(int(x * k), int((y + h) * k), int((x + width) * k), int((y + h) * k))
    return y + h


def render_doc(doc: Doc, path: str | Path, paper: str = "letter") -> int:
    """Write the paper as a PDF; returns the page count."""
    size = page_size(paper)
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    writer = QPdfWriter(str(tmp))
    writer.setResolution(PDF_DPI)
    orient = QPageLayout.Orientation.Landscape if doc.landscape else QPageLayout.Orientation.Portrait
    writer.setPageLayout(QPageLayout(size, orient, QMarginsF(0, 0, 0, 0)))
    writer.setTitle(doc.pdf_title)
    writer.setCreator(f"KetaChart {__version__}")
    pts = size.size(QPageSize.Unit.Point)
    page_w, page_h = (pts.height(), pts.width()) if doc.landscape else (pts.width(), pts.height())
    painter = QPainter()
    if not painter.begin(writer):
        raise OSError(f"cannot write {path}")
    ctx = Ctx(writer)
    width = page_w - 2 * MARGIN
    bottom = page_h - MARGIN - 14
    pages = 1
    try:
        def header(first: bool) -> float:
            y = MARGIN
            if first:
                y += ctx.draw_text(painter, MARGIN, y, width, doc.title, TITLE) + 2
                for line in doc.subtitle:
                    y += ctx.draw_text(painter, MARGIN, y, width, line, SMALL)
                return y + 6
            return y + ctx.draw_text(painter, MARGIN, y, width, doc.title + " (continued)", BOLD) + 6

        def footer(n: int) -> None:
            ctx.draw_text(painter, MARGIN, page_h - MARGIN + 2, width, f"{doc.footer}   -   page {n}", SMALL)

        y = header(True)
        for b in doc.blocks:
            h = _block_height(ctx, b, width)
            if y + h > bottom and isinstance(b, Table) and b.rows:
                # split a long table between rows, repeating its header
                rows, flags = list(b.rows), list(b.flagged)
                while rows:
                    room = bottom - y - _row_height(ctx, b.headers, b, width, True)
                    take, used = 0, 0.0
                    while take < len(rows) and used + _row_height(ctx, rows[take], b, width) <= room:
                        used += _row_height(ctx, rows[take], b, width)
                        take += 1
                    if take == 0:
                        footer(pages)
                        writer.newPage()
                        pages += 1
                        y = header(False)
                        continue
                    part = Table(b.headers, rows[:take], b.widths, flags[:take])
                    y = _paint_block(ctx, painter, part, MARGIN, y, width)
                    rows, flags = rows[take:], flags[take:]
                    if rows:
                        footer(pages)
                        writer.newPage()
                        pages += 1
                        y = header(False)
                continue
            if y + h > bottom:
                footer(pages)
                writer.newPage()
                pages += 1
                y = header(False)
            y = _paint_block(ctx, painter, b, MARGIN, y, width)
        footer(pages)
    finally:
        painter.end()
    del writer
    tmp.replace(path)
    return pages

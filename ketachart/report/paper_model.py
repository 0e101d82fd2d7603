"""Form-like papers as plain data (no Qt): headings, label/value fields, paragraphs and tables. The REMS
page, the discharge handout and the controlled-substance log are built as a :class:`Doc`;
:func:`ketachart.report.paper.render_doc` paints one onto PDF pages."""

from __future__ import annotations

from dataclasses import dataclass, field

from .fields import Field


@dataclass
class Heading:
    text: str


@dataclass
class Fields:
    fields: list[Field]
    label_width: float = 210.0
    numbered_from: int | None = None  # print "1." "2." ... before each label (the form's item numbers)


@dataclass
class Para:
    text: str
    style: str = "normal"  # normal | small | bold
    bullet: bool = False


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    widths: list[float]  # fractions of the text width
    flagged: list[bool] = field(default_factory=list)


@dataclass
class Doc:
    title: str
    subtitle: list[str]
    blocks: list
    footer: str
    pdf_title: str
    landscape: bool = False

"""The records from the app (issue 16): the REMS form page and the discharge handout as PDF (menu entries of
the summary's "Print / PDF" button), and the "REMS forms due" list with "Mark submitted".

Every rule and word comes from report/ and store/ (the same code as ``ketachart rems`` and ``handout``); the
widgets hold only what is on screen. Marking a form submitted is charted as the signed-in user.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from PySide6.QtCore import Qt


def _now(store) -> datetime:
    clock = getattr(store, "clock", None)
    return clock.now() if clock is not None else datetime.now(timezone.utc)


def _ask_path(parent: QWidget | None, title: str, name: str) -> Path | None:
    path, _ = QFileDialog.getSaveFileName(parent, title, name, "PDF (*.pdf)")
    return Path(path) if path else None


def save_rems_pdf(parent: QWidget | None, store, session_id: str, path: str | Path | None = None) -> str:
    """Write the one-page REMS form; returns the text for the message line (raises ValueError for IV)."""
    from ..report.model import build_summary
    from ..report.paper import render_doc
    from ..report.rems_paper import rems_doc

    summary = build_summary(store, session_id, _now(store))
    if summary.rems is None:
        raise ValueError("the REMS form is for intranasal esketamine (Spravato) sessions")
    path = Path(path) if path else _ask_path(parent, "Save the REMS form", f"rems-{session_id[-8:]}.pdf")
    if path is None:
        return "cancelled"
    pages = render_doc(rems_doc(summary), path, "letter")
    store.audit("export", f"sessions:{session_id}", {"format": "rems-pdf", "pages": pages,
                                                      "fingerprint": summary.fingerprint})
    gaps = sum(1 for _, fields in summary.rems for f in fields if f.flag)
    return f"REMS form saved to {path}" + (f"; {gaps} field(s) flagged: check before submitting" if gaps else "")


def save_handout_pdf(parent: QWidget | None, store, session_id: str, path: str | Path | None = None) -> str:
    """Write the discharge handout and chart it as given (with the instructions' version)."""
    from ..chair.records import RecordsCommands
    from ..report.handout import handout_doc
    from ..report.paper import render_doc

    path = Path(path) if path else _ask_path(parent, "Save the discharge handout", f"handout-{session_id[-8:]}.pdf")
    if path is None:
        return "cancelled"
    render_doc(handout_doc(store, session_id, _now(store)), path, "letter")
    row = RecordsCommands(store).give_handout(session_id)
    return f"Discharge handout saved to {path}; charted as given ({row['text']})"


class RemsDueDialog(QDialog):
    """Finished Spravato sessions whose REMS form is not marked submitted, most urgent first."""

    def __init__(self, store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.setWindowTitle("REMS forms due")
        self.setMinimumWidth(720)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Spravato REMS monitoring forms not yet marked submitted (7-day window):"))
        self.list = QListWidget()
        lay.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.note = QLineEdit()
        self.note.setPlaceholderText("confirmation number from the REMS portal (optional)")
        row.addWidget(self.note, 1)
        self.save_button = QPushButton("Save form as PDF…")
        self.save_button.clicked.connect(lambda: self.save_selected())
        self.mark_button = QPushButton("Mark submitted")
        self.mark_button.clicked.connect(lambda: self.mark_selected())
        for b in (self.save_button, self.mark_button):
            b.setMinimumHeight(44)
            row.addWidget(b)
        lay.addLayout(row)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        lay.addWidget(self.message)
        close = QPushButton("Close")
        close.setMinimumHeight(44)
        close.clicked.connect(self.accept)
        lay.addWidget(close)
        self.reload()

    def reload(self) -> None:
        from ..report.rems_paper import rems_due
        from ..report.settings import LocalClock, ReportSettings

        zone, _ = ReportSettings.resolve(self.store).zone()
        clk = LocalClock(zone)
        self.list.clear()
        due = rems_due(self.store, clk.local(_now(self.store)).date(), clk)
        for d in due:
            item = QListWidgetItem(f"{d.session_date}   {d.status:<22}   {d.patient}   MRN {d.mrn}")
            item.setData(Qt.ItemDataRole.UserRole, d.session_id)
            if d.days_left < 0:
                item.setForeground(Qt.GlobalColor.red)
            self.list.addItem(item)
        if not due:
            self.list.addItem("No REMS forms due")
        self.list.setCurrentRow(0)

    def selected(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def save_selected(self, path: str | Path | None = None) -> None:
        sid = self.selected()
        if sid:
            self.message.setText(save_rems_pdf(self, self.store, sid, path))

    def mark_selected(self) -> None:
        from ..domain.errors import ClinicalInputError
        from ..store.records import mark_rems_submitted

        sid = self.selected()
        if not sid:
            return
        author = self.store.author
        names = {u["user_id"]: u["display_name"] for u in self.store.users()}
        try:
            mark_rems_submitted(self.store, sid, by=author, printed_name=names.get(author, author),
                                note=self.note.text())
        except ClinicalInputError as exc:
            self.message.setText(str(exc))
            return
        self.message.setText(f"Marked submitted by {names.get(author, author)}")
        self.note.clear()
        self.reload()

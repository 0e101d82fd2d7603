"""The "Print / PDF" button: Print, Print preview and Save as PDF of one session's summary.

Used on the session screen (the open session) and in the patient's course view (a finished session picked
in the list). The work runs through :mod:`.report_actions` (the summary is built in a worker thread with a
progress dialog), so the event loop - and the live vitals - never stop. The outcome is shown on the
screen's message line: "Saved 2 page(s) to ..." or why it failed.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMenu, QPushButton, QWidget

from . import report_actions


class SummaryActions(QObject):
    """``session_id()`` says which session (None: nothing to print); ``show(text, kind)`` reports the result."""

    def __init__(self, parent: QWidget, store, session_id: Callable[[], str | None],
                 show: Callable[[str, str], None], *, text: str = "Print / PDF…") -> None:
        super().__init__(parent)
        self.parent_widget = parent
        self.store = store
        self.session_id = session_id
        self.show = show
        self.job: report_actions.ReportJob | None = None  # the job in flight (tests wait on it)
        self.results: list[tuple[str, str]] = []  # (kind, text) of every finished job, newest last
        self.button = QPushButton(text, parent)
        self.button.setMinimumHeight(48)
        self.button.setToolTip("Print, preview or save the session summary as PDF; export as FHIR or CSV")
        menu = QMenu(self.button)
        self.print_action = menu.addAction("Print…", lambda: self.print_summary())
        self.preview_action = menu.addAction("Print preview…", lambda: self.print_preview())
        self.pdf_action = menu.addAction("Save as PDF…", lambda: self.save_pdf())
        # issue 16: the REMS form page and the discharge handout (ui/records_actions.py)
        self.rems_action = menu.addAction("REMS form as PDF…", lambda: self._records("save_rems_pdf"))
        self.handout_action = menu.addAction("Discharge handout as PDF (charted as given)…",
                                             lambda: self._records("save_handout_pdf"))
        menu.addSeparator()
        export = menu.addMenu("Export")
        self.export_actions = {kind: export.addAction(spec[0], lambda kind=kind: self.export(kind))
                               for kind, spec in report_actions.EXPORT_FORMATS.items()}
        self.button.setMenu(menu)
        self.button.setAccessibleName(text.rstrip("…"))
        self.button.setAccessibleDescription("Print, preview or save the session summary as PDF, or export the "
                                             "session for the EHR (FHIR) or a spreadsheet (CSV)")

    def _records(self, name: str, path: str | None = None) -> str | None:
        from . import records_actions

        sid = self.session_id()
        if not sid:
            self.show("no session to print", "error")
            return None
        try:
            text = getattr(records_actions, name)(self.parent_widget, self.store, sid, path)
        except Exception as exc:  # noqa: BLE001 - shown on the message line, nothing half-written
            self.show(f"{exc}", "error")
            return None
        self.show(text, "saved" if text != "cancelled" else "info")
        return text

    def _run(self, start: Callable[[str], report_actions.ReportJob | None], what: str, preparing: str = "the summary"):
        sid = self.session_id()
        if not sid:
            self.show("no session to print", "error")
            return None
        job = start(sid)
        if job is None:  # the file dialog was cancelled
            return None
        self.job = job
        job.finished.connect(lambda text: self._done("saved", text))
        job.failed.connect(lambda reason: self._done("error", f"{what} failed: {reason}") if reason != "cancelled"
                           else self._done("info", f"{what} cancelled"))
        self.show(f"{what}: preparing {preparing}…", "info")
        return job

    def _done(self, kind: str, text: str) -> None:
        self.results.append((kind, text))
        self.show(text, kind)

    def save_pdf(self, path: str | None = None, paper: str = "a4"):
        return self._run(lambda sid: report_actions.save_pdf(self.parent_widget, self.store, sid, path, paper),
                         "Save as PDF")

    def export(self, kind: str, path: str | None = None):
        """FHIR or CSV of the session, written in the background with a progress dialog."""
        what = "Export " + report_actions.EXPORT_FORMATS[kind][0].rstrip("…")
        return self._run(lambda sid: report_actions.export_session(self.parent_widget, self.store, sid, kind, path),
                         what, "the export")

    def print_summary(self):
        return self._run(lambda sid: report_actions.print_summary(self.parent_widget, self.store, sid), "Print")

    def print_preview(self):
        return self._run(lambda sid: report_actions.print_preview(self.parent_widget, self.store, sid), "Print preview")

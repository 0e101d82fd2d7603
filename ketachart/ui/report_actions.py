"""Print, Print preview and Save as PDF for the chair screen, without blocking the event loop.

The summary is built in a worker thread (QThreadPool) that opens its own read connection to the chart;
"Save as PDF" also paints the PDF there (QPdfWriter and QPainter may be used off the GUI thread). Printing
and the preview paint in the GUI thread, as QPrinter requires. A QProgressDialog shows progress; the
result is audited through the app's store (ids, format, fingerprint; never patient data).

API (all return a :class:`ReportJob`; connect to its ``finished(str)`` / ``failed(str)`` signals if needed)::

    save_pdf(parent, store, session_id, path=None, paper="a4")   # path None: ask with a file dialog
    print_summary(parent, store, session_id)                      # QPrintDialog, then print
    print_preview(parent, store, session_id)                      # QPrintPreviewDialog

``store`` is the app's open :class:`~ketachart.store.repository.ChartStore` (used in the GUI thread for the
audit entry only). ``open_reader`` (keyword, optional) returns a new read-only store for the worker; the
default reopens ``store.path`` with ``open_store(..., lock=False)`` and the same encryption setting.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog, QWidget

from ..report.model import Summary, build_summary


def _busy_dialog(text: str, title: str, parent: QWidget | None) -> QProgressDialog:
    """The window-modal progress of a job on the thread pool: shown only if it takes a moment, closed by the job."""
    dialog = QProgressDialog(text, None, 0, 0, parent)
    dialog.setWindowTitle(title)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(300)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    return dialog


class _Signals(QObject):
    built = Signal(object)  # Summary
    progress = Signal(int, int)  # page, pages
    rendered = Signal(object, int)  # Summary, pages
    error = Signal(str)


class _Worker(QRunnable):
    def __init__(self, open_reader: Callable, session_id: str, pdf_path: Path | None, paper: str,
                 signals: _Signals, printed_at: datetime) -> None:
        super().__init__()
        self.open_reader, self.session_id, self.pdf_path, self.paper = open_reader, session_id, pdf_path, paper
        self.printed_at = printed_at
        self.signals = signals
        self.setAutoDelete(True)

    def run(self) -> None:  # worker thread
        try:
            reader = self.open_reader()
            try:
                summary = build_summary(reader, self.session_id, self.printed_at)
            finally:
                reader.close()
            if self.pdf_path is None:
                self.signals.built.emit(summary)
                return
            from ..report.render import render_pdf

            pages = render_pdf(summary, self.pdf_path, self.paper, progress=self.signals.progress.emit)
            self.signals.rendered.emit(summary, pages)
        except Exception as exc:  # shown to the nurse; nothing is half-written (render_pdf writes a .part file)
            self.signals.error.emit(f"{type(exc).__name__}: {exc}")


class ReportJob(QObject):
    """One print/preview/save in flight. ``finished`` carries a short result text, ``failed`` the reason."""

    finished = Signal(str)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None, store, session_id: str, mode: str, *, path: Path | None = None,
                 paper: str = "a4", open_reader: Callable | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self.store, self.session_id, self.mode, self.path, self.paper = store, session_id, mode, path, paper
        self.parent_widget = parent
        self.summary: Summary | None = None
        self.pages = 0
        self.open_reader = open_reader or _default_reader(store)
        self.signals = _Signals()  # lives in the GUI thread: its signals arrive here queued
        self.signals.built.connect(self._built)
        self.signals.rendered.connect(self._rendered)
        self.signals.progress.connect(self._progress)
        self.signals.error.connect(self._error)
        self.dialog = _busy_dialog("Preparing the session summary...", "Session summary", parent)
        self.pool = pool or QThreadPool.globalInstance()

    def start(self) -> "ReportJob":
        pdf = self.path if self.mode == "pdf" else None
        # "Printed at" is the chart's clock (the demo's runs fast), so it never reads as earlier than the entries.
        clock = getattr(self.store, "clock", None)
        printed_at = clock.now() if clock is not None else datetime.now(timezone.utc)
        self.pool.start(_Worker(self.open_reader, self.session_id, pdf, self.paper, self.signals, printed_at))
        return self

    # --- GUI thread ---------------------------------------------------------------------------
    def _progress(self, page: int, pages: int) -> None:
        self.dialog.setMaximum(pages)
        self.dialog.setValue(page)
        self.dialog.setLabelText(f"Writing page {page} of {pages}...")

    def _error(self, message: str) -> None:
        self.dialog.close()
        if self.parent_widget is not None:
            QMessageBox.warning(self.parent_widget, "Session summary", f"The summary could not be produced.\n{message}")
        self.failed.emit(message)

    def _audit(self, action: str, details: dict) -> None:
        if self.store is not None and self.summary is not None:
            self.store.audit(action, f"sessions:{self.session_id}", {**details, "fingerprint": self.summary.fingerprint})

    def _rendered(self, summary: Summary, pages: int) -> None:
        self.summary, self.pages = summary, pages
        self.dialog.close()
        self._audit("export", {"format": "pdf", "pages": pages})
        self.finished.emit(f"Saved {pages} page(s) to {self.path}")

    def _built(self, summary: Summary) -> None:
        from PySide6.QtPrintSupport import QPrintDialog, QPrinter, QPrintPreviewDialog

        from ..report.render import page_size, render_to_printer

        self.summary = summary
        self.dialog.close()
        # The job keeps the printer: QPrintDialog and QPrintPreviewDialog only borrow it, and the preview paints
        # on it again (zoom, page setup, print) long after this method returns. A local would be garbage
        # collected here and the preview's first paint would crash the app on the freed printer.
        printer = self.printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setPageSize(page_size(self.paper))
        printer.setDocName(f"Session summary {self.session_id}")
        if self.mode == "print":
            from .spooler import PrintProblem, check_can_print, send_to_printer, show_problem, watch_job

            try:  # through the spooler; no printer, a stopped queue or a rejected job is told (ui/spooler.py)
                check_can_print()
                dlg = QPrintDialog(printer, self.parent_widget)
                dlg.setMinimumWidth(640)  # with the app's large touch fonts Qt's own size clips "Properties" and "..."
                if dlg.exec() != QPrintDialog.DialogCode.Accepted:
                    self.failed.emit("cancelled")
                    return
                result = send_to_printer(summary, printer)
            except PrintProblem as exc:
                show_problem(self.parent_widget, str(exc))
                self.failed.emit(str(exc))
                return
            self.pages = result.pages
            self._audit("print", {"format": "printer", "pages": self.pages, **result.audit})
            self.finished.emit(result.message)
            self.watch = watch_job(self.parent_widget, result)  # a printer that stops before printing is told
        else:
            preview = QPrintPreviewDialog(printer, self.parent_widget)
            preview.setWindowTitle("Print preview - session summary")
            if self.parent_widget is not None:
                # Qt's default (about 740x530) hides the toolbar's Print button behind its overflow arrow and
                # shows the page at a third of its size: open it over most of the chair window instead.
                area = self.parent_widget.window().geometry()
                preview.resize(max(640, int(area.width() * 0.9)), max(480, int(area.height() * 0.92)))
            printed = {"n": 0}

            def paint(p) -> None:
                printed["n"] = render_to_printer(summary, p)

            preview.paintRequested.connect(paint)
            self.preview = preview
            preview.finished.connect(lambda _r: self.finished.emit(f"Preview of {printed['n']} page(s) closed"))
            preview.open()


def _default_reader(store) -> Callable:
    def open_reader():
        from ..store.open import open_store

        return open_store(Path(store.path), unencrypted=not getattr(store, "encrypted", False),
                          holder="KetaChart report", lock=False, verify=False)

    return open_reader


def save_pdf(parent: QWidget | None, store, session_id: str, path: str | Path | None = None, paper: str = "a4",
             *, open_reader: Callable | None = None) -> ReportJob | None:
    """Save the summary as a PDF in the background; asks for a file when ``path`` is None (None if cancelled)."""
    if path is None:
        chosen, _ = QFileDialog.getSaveFileName(parent, "Save session summary", "session-summary.pdf", "PDF (*.pdf)")
        if not chosen:
            return None
        path = chosen
    return ReportJob(parent, store, session_id, "pdf", path=Path(path), paper=paper, open_reader=open_reader).start()


def print_summary(parent: QWidget | None, store, session_id: str, paper: str = "a4", *,
                  open_reader: Callable | None = None) -> ReportJob:
    """Build in the background, then show the print dialog and print."""
    return ReportJob(parent, store, session_id, "print", paper=paper, open_reader=open_reader).start()


def print_preview(parent: QWidget | None, store, session_id: str, paper: str = "a4", *,
                  open_reader: Callable | None = None) -> ReportJob:
    """Build in the background, then open a print preview (which can print)."""
    return ReportJob(parent, store, session_id, "preview", paper=paper, open_reader=open_reader).start()


# --- exports (FHIR, CSV) from the app ----------------------------------------------------------------------

EXPORT_FORMATS = {
    # key: (menu text, file filter, default name, write_export arguments)
    "fhir": ("FHIR for the EHR…", "FHIR JSON (*.json)", "session-fhir.json", {"fmt": "fhir"}),
    "fhir-minute": ("FHIR, vitals per minute…", "FHIR JSON (*.json)", "session-fhir-per-minute.json",
                    {"fmt": "fhir", "vitals": "per-minute"}),
    "csv": ("CSV…", "CSV (*.csv)", "session.csv", {"fmt": "csv"}),
    "excel": ("CSV for Excel…", "CSV (*.csv)", "session-excel.csv", {"fmt": "csv", "excel": True}),
}


def explain_export_error(exc: BaseException) -> str:
    """What went wrong and what the nurse (or IT) can do about it."""
    from ..domain.errors import ClinicalInputError

    if isinstance(exc, ClinicalInputError):
        return f"{exc}"
    if isinstance(exc, PermissionError):
        return f"The file could not be written there ({exc.strerror}). Choose another folder, e.g. Documents."
    if isinstance(exc, OSError):
        return (f"The file could not be written ({exc.strerror or exc}). Check that the drive is connected and has "
                "space, then try again.")
    return (f"The export failed ({type(exc).__name__}: {exc}). Try again; if it fails again, tell IT and keep "
            "the chart open (nothing in the chart was changed).")


class _ExportSignals(QObject):
    progress = Signal(int, int)
    done = Signal(object, str)  # Written, fingerprint
    error = Signal(str)


class _ExportWorker(QRunnable):
    def __init__(self, open_reader: Callable, session_id: str, path: Path, kwargs: dict, signals: _ExportSignals):
        super().__init__()
        self.open_reader, self.session_id, self.path, self.kwargs, self.signals = (
            open_reader, session_id, path, kwargs, signals)
        self.setAutoDelete(True)

    def run(self) -> None:  # worker thread: its own read connection; nothing here touches a widget
        try:
            from ..report.cli import write_export
            from ..store.fingerprint import record_fingerprint

            reader = self.open_reader()
            try:
                kwargs = dict(self.kwargs)
                fmt = kwargs.pop("fmt")
                written = write_export(reader, self.session_id, fmt, self.path, progress=self.signals.progress.emit,
                                       **kwargs)
                fingerprint, _ = record_fingerprint(reader, self.session_id)
            finally:
                reader.close()
            self.signals.done.emit(written, fingerprint)
        except Exception as exc:  # shown with what to do; .part files never replace a good file
            self.signals.error.emit(explain_export_error(exc))


class ExportJob(QObject):
    """One export in flight: progress dialog, worker thread, audit in the GUI thread, result or reason."""

    finished = Signal(str)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None, store, session_id: str, kind: str, path: Path, *,
                 open_reader: Callable | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self.store, self.session_id, self.kind, self.path = store, session_id, kind, Path(path)
        self.parent_widget = parent
        self.kwargs = dict(EXPORT_FORMATS[kind][3])
        self.open_reader = open_reader or _default_reader(store)
        self.signals = _ExportSignals()
        self.signals.progress.connect(self._progress)
        self.signals.done.connect(self._done)
        self.signals.error.connect(self._error)
        self.dialog = _busy_dialog("Preparing the export...", "Export", parent)
        self.dialog.setAccessibleName("Export progress")
        self.pool = pool or QThreadPool.globalInstance()
        self.message = ""

    def start(self) -> "ExportJob":
        self.pool.start(_ExportWorker(self.open_reader, self.session_id, self.path, self.kwargs, self.signals))
        return self

    def _progress(self, done: int, total: int) -> None:
        self.dialog.setMaximum(max(total, 1))
        self.dialog.setValue(done)
        self.dialog.setLabelText(f"Exporting... step {done} of {total}")

    def _done(self, written, fingerprint: str) -> None:
        self.dialog.close()
        details = {"format": self.kwargs["fmt"], "entries": written.count, "fingerprint": fingerprint}
        if written.files > 1:
            details["files"] = written.files
        if self.kwargs.get("vitals"):
            details["vitals"] = self.kwargs["vitals"]
        if self.store is not None:
            self.store.audit("export", f"sessions:{self.session_id}", details)
        unit = "entries" if self.kwargs["fmt"] == "fhir" else "rows"
        self.message = f"Exported {written.count} {unit} to {', '.join(str(p) for p in written.paths)}"
        self.finished.emit(self.message)

    def _error(self, message: str) -> None:
        self.dialog.close()
        self.message = message
        if self.parent_widget is not None:
            box = QMessageBox(QMessageBox.Icon.Warning, "Export", f"The export was not made.\n\n{message}",
                              QMessageBox.StandardButton.Ok, self.parent_widget)
            box.setAccessibleName("Export failed")
            box.setAccessibleDescription(message)
            box.open()
            self.error_box = box
        self.failed.emit(message)


def export_session(parent: QWidget | None, store, session_id: str, kind: str, path: str | Path | None = None, *,
                   open_reader: Callable | None = None) -> ExportJob | None:
    """Export in the background; asks for a file when ``path`` is None (None if cancelled)."""
    text, filt, default, _ = EXPORT_FORMATS[kind]
    if path is None:
        chosen, _ = QFileDialog.getSaveFileName(parent, "Export session", default, filt)
        if not chosen:
            return None
        path = chosen
    return ExportJob(parent, store, session_id, kind, Path(path), open_reader=open_reader).start()

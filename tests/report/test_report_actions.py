"""Save as PDF, Print preview and printing from the app: the summary is built in a worker thread, the event loop
keeps running, the result is audited."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ketachart.store.models import AuditEvent
from ketachart.store.open import open_store
from ketachart.ui import report_actions


def test_save_pdf_runs_in_the_background_and_audits(demo, qtbot, tmp_path):
    store, sid = demo
    path = tmp_path / "saved.pdf"
    before = len(store.rows(AuditEvent))
    job = report_actions.save_pdf(None, store, sid, path,
                                  open_reader=lambda: open_store(store.path, unencrypted=True, lock=False, verify=False))
    with qtbot.waitSignal(job.finished, timeout=60_000) as blocker:
        pass
    assert "Saved 3 page(s)" in blocker.args[0]
    assert path.read_bytes()[:5] == b"%PDF-"
    audits = store.rows(AuditEvent)[before:]
    assert [(a["action"], a["target"]) for a in audits] == [("export", f"sessions:{sid}")]


def test_unknown_session_fails_without_a_file(demo, qtbot, tmp_path):
    store, _ = demo
    path = tmp_path / "none.pdf"
    job = report_actions.ReportJob(None, store, "nope", "pdf", path=path,
                                   open_reader=lambda: open_store(store.path, unencrypted=True, lock=False, verify=False))
    with qtbot.waitSignal(job.failed, timeout=60_000) as blocker:
        job.start()
    assert "nope" in blocker.args[0] and not path.exists()


def _reader(store):
    return lambda: open_store(store.path, unencrypted=True, lock=False, verify=False)


def test_print_preview_opens_shows_every_page_and_survives_the_printer_going_out_of_scope(demo, qtbot):
    """The preview dialog runs for real here, offscreen as on a desktop.

    It used to segfault (offscreen and under X11 alike): the QPrinter was a local of the slot that opened the
    preview, so Python freed it when the slot returned, and the dialog's first paint - which comes later, from
    the event loop - painted on freed memory. The job now keeps the printer; ``gc.collect()`` below makes sure
    nothing else happens to keep it alive by chance.
    """
    import gc

    from PySide6.QtPrintSupport import QPrintPreviewDialog, QPrintPreviewWidget

    store, sid = demo
    job = report_actions.print_preview(None, store, sid, open_reader=_reader(store))
    qtbot.waitUntil(lambda: getattr(job, "preview", None) is not None, timeout=60_000)
    gc.collect()
    preview = job.preview
    assert isinstance(preview, QPrintPreviewDialog)
    assert preview.printer() is job.printer  # the dialog borrows the job's printer
    qtbot.waitUntil(preview.isVisible)
    widget = preview.findChild(QPrintPreviewWidget)
    qtbot.waitUntil(lambda: widget.pageCount() == 3)  # the summary was painted onto the preview's pages
    widget.updatePreview()  # zoom, page setup and "print" repaint through the same printer, long after opening
    assert widget.pageCount() == 3
    with qtbot.waitSignal(job.finished) as blocker:
        preview.reject()
    assert blocker.args == ["Preview of 3 page(s) closed"]


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) missing")
def test_render_to_printer_paints_the_summary_onto_a_pdf_printer(demo, qtbot, tmp_path):
    """The Print path (GUI thread, QPrinter), with the printer's PDF output standing in for a real printer."""
    from PySide6.QtPrintSupport import QPrinter

    from ketachart.report.model import build_summary
    from ketachart.report.render import page_size, render_to_printer

    from .conftest import PRINTED_AT

    store, sid = demo
    path = tmp_path / "printed.pdf"
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(path))
    printer.setPageSize(page_size("a4"))
    summary = build_summary(store, sid, PRINTED_AT)
    seen: list[tuple[int, int]] = []
    assert render_to_printer(summary, printer, progress=lambda n, total: seen.append((n, total))) == 3
    assert seen == [(1, 3), (2, 3), (3, 3)]
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert text.count("\f") == 3  # three pages (delivered amount, records and pre-session items)
    flat = " ".join(text.split())
    for expected in ("RIVERA, Jordan", "DEMO-0000", "Dose record", "Discharge check", "Page 1 of 3", "Page 2 of 3",
                     f"Record fingerprint {summary.fingerprint_short}"):
        assert expected in flat, expected
    # nothing fell off the paper: the printer's own margins were taken into account
    pages = text.split("\f")
    assert "Page 2 of 3" in pages[1] and "RIVERA, Jordan" in pages[1]

"""Printing the summary through a real print spooler: CUPS with Debian's virtual PDF printer (cups-pdf).

The test adds its own queues (one that prints, one stopped, one rejecting jobs), prints through the app's
print path (the print dialog is accepted as a nurse would), and reads what the spooler produced: pages
with pdfinfo, words with pdftotext. Without CUPS it skips with the reason, unless KETACHART_REQUIRE_CUPS=1
(CI, where scripts/cups-test-printer.sh starts it) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from ketachart.store.models import AuditEvent
from ketachart.store.open import open_store
from ketachart.ui import report_actions

PPD = Path("/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd")


def _need(reason: str) -> None:
    if os.environ.get("KETACHART_REQUIRE_CUPS") == "1":
        pytest.fail(f"KETACHART_REQUIRE_CUPS=1 but {reason}")
    pytest.skip(reason)


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**os.environ, "LANG": "C", "LC_ALL": "C"})


@pytest.fixture(scope="module")
def cups():
    for tool in ("lpstat", "lpadmin", "lp", "cupsdisable", "cupsreject", "pdfinfo", "pdftotext"):
        if not shutil.which(tool):
            _need(f"{tool} is not installed (scripts/cups-test-printer.sh start installs CUPS and cups-pdf)")
    if "is running" not in _run("lpstat", "-r").stdout:
        _need("the CUPS scheduler is not running (scripts/cups-test-printer.sh start)")
    if not PPD.exists():
        _need("Debian's cups-pdf (printer-driver-cups-pdf) is not installed")
    if os.geteuid() != 0:
        _need("adding the test's own print queues needs root (lpadmin, /etc/cups)")
    out = Path(tempfile.mkdtemp(prefix="ketachart-cups-out-"))
    out.chmod(0o1777)
    tag = f"ketachart_test_{os.getpid()}"
    queues = {kind: f"{tag}_{kind}" for kind in ("pdf", "stopped", "rejecting", "failing")}
    confs = []
    try:
        for q in queues.values():
            conf = Path(f"/etc/cups/cups-pdf-{q}.conf")  # cups-pdf reads cups-pdf-<instance>.conf for cups-pdf:/<instance>
            conf.write_text(f"Out {out}\n")
            confs.append(conf)
            # pdftocairo turns the PDF into the PostScript cups-pdf takes with the text kept as text, so pdftotext
            # can read what came out (the gs and pdftops renderers draw the glyphs as shapes)
            r = _run("lpadmin", "-p", q, "-E", "-v", f"cups-pdf:/{q}", "-P", str(PPD),
                     "-o", "pdftops-renderer-default=pdftocairo")
            assert r.returncode == 0, r.stderr
        # a printer that is not there (a serial port that does not exist): CUPS stops the queue and keeps the job
        r = _run("lpadmin", "-p", queues["failing"], "-v", "serial:/dev/ketachart-no-such-port?baud=9600",
                 "-o", "printer-error-policy=stop-printer")
        assert r.returncode == 0, r.stderr
        assert _run("cupsdisable", "-r", "Paused by the test", queues["stopped"]).returncode == 0
        assert _run("cupsreject", "-r", "Rejecting by the test", queues["rejecting"]).returncode == 0
        yield queues, out
    finally:
        for q in queues.values():
            _run("lpadmin", "-x", q)
        for conf in confs:
            conf.unlink(missing_ok=True)
        shutil.rmtree(out, ignore_errors=True)


def _reader(store):
    return lambda: open_store(store.path, unencrypted=True, lock=False, verify=False)


def _accept_print_dialog(qtbot, seen: list) -> None:
    """Press Print in the print dialog when it opens (the queue is preselected as the default printer)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtPrintSupport import QPrintDialog
    from PySide6.QtWidgets import QApplication

    def poll():
        dlg = QApplication.activeModalWidget()
        if isinstance(dlg, QPrintDialog):
            seen.append(dlg.printer().printerName())
            dlg.accept()
        else:
            QTimer.singleShot(20, poll)

    QTimer.singleShot(20, poll)


def _print(qtbot, store, sid, queue, monkeypatch, parent=None):
    monkeypatch.setenv("PRINTER", queue)  # CUPS's default destination for this process: the dialog preselects it
    monkeypatch.setenv("LPDEST", queue)
    seen: list = []
    _accept_print_dialog(qtbot, seen)
    job = report_actions.print_summary(parent, store, sid, open_reader=_reader(store))
    outcome: dict = {}
    job.finished.connect(lambda m: outcome.setdefault("finished", m))
    job.failed.connect(lambda m: outcome.setdefault("failed", m))
    qtbot.waitUntil(lambda: bool(outcome), timeout=120_000)
    assert seen == [queue]
    _print.job = job
    return outcome


def _spooled_pdf(out: Path, timeout_s: float = 120.0) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:  # an external process: bounded polling, not a sleep in place of a clock
        pdfs = sorted(out.glob("*.pdf"))
        if pdfs and _run("pdfinfo", str(pdfs[-1])).returncode == 0:
            return pdfs[-1]
        time.sleep(0.2)
    raise AssertionError(f"the spooler produced no PDF in {out} within {timeout_s} s: {_run('lpstat', '-W', 'all', '-o').stdout}")


def test_the_summary_prints_through_the_spooler_and_comes_out(cups, demo, qtbot, monkeypatch):
    (queues, out), (store, sid) = cups, demo
    before = len(store.rows(AuditEvent))
    outcome = _print(qtbot, store, sid, queues["pdf"], monkeypatch)
    assert "finished" in outcome, outcome
    assert outcome["finished"].startswith(f"Sent 3 page(s) to {queues['pdf']} (job {queues['pdf']}-")
    pdf = _spooled_pdf(out)
    watch = _print.job.watch  # the spooler finished the job: nothing to tell
    qtbot.waitUntil(lambda: not watch.timer.isActive(), timeout=60_000)
    assert watch.message == ""
    info = dict(line.split(":", 1) for line in _run("pdfinfo", str(pdf)).stdout.splitlines() if ":" in line)
    assert int(info["Pages"]) == 3
    assert f"Session summary {sid}" in info["Title"]
    text = " ".join(_run("pdftotext", "-layout", str(pdf), "-").stdout.split())
    for expected in ("RIVERA, Jordan", "DEMO-0000", "Page 1 of 3", "Page 2 of 3"):
        assert expected in text, (expected, text[:400])
    audit = store.rows(AuditEvent)[before:]
    assert [a["action"] for a in audit] == ["print"]
    assert queues["pdf"] in audit[0]["details"] and '"pages": 3' in audit[0]["details"]


def test_a_printer_that_stops_before_printing_the_job_is_told(cups, demo, qtbot, monkeypatch):
    (queues, _out), (store, sid) = cups, demo
    outcome = _print(qtbot, store, sid, queues["failing"], monkeypatch)
    assert outcome.get("finished", "").startswith(f"Sent 3 page(s) to {queues['failing']}"), outcome
    watch = _print.job.watch
    assert watch is not None
    qtbot.waitUntil(lambda: not watch.timer.isActive(), timeout=120_000)
    assert f"The printer {queues['failing']} stopped before it printed the summary" in watch.message
    assert "Unable to open serial port" in watch.message and f"cupsenable {queues['failing']}" in watch.message
    assert watch.job in _run("lpstat", "-o", queues["failing"]).stdout  # kept: it prints when the printer is back


def test_a_stopped_queue_is_shown_to_the_nurse_with_what_to_do_and_nothing_is_queued(cups, demo, qtbot, monkeypatch):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

    (queues, _out), (store, sid) = cups, demo
    parent = QWidget()
    qtbot.addWidget(parent)
    shown: list[str] = []

    def close_warning():
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            shown.append(box.text())
            box.accept()
        else:
            QTimer.singleShot(20, close_warning)

    QTimer.singleShot(20, close_warning)
    outcome = _print(qtbot, store, sid, queues["stopped"], monkeypatch, parent=parent)
    assert "failed" in outcome
    message = outcome["failed"]
    assert f"The printer {queues['stopped']} is stopped" in message and f"cupsenable {queues['stopped']}" in message
    assert "Paused by the test" in message and "Nothing was sent" in message
    qtbot.waitUntil(lambda: bool(shown), timeout=10_000)
    assert shown == [message]  # the nurse saw it, word for word
    assert _run("lpstat", "-o", queues["stopped"]).stdout.strip() == ""  # no job waiting in the paused queue


def test_a_queue_that_rejects_jobs_is_told_not_swallowed(cups, demo, qtbot, monkeypatch):
    (queues, _out), (store, sid) = cups, demo
    before = len(store.rows(AuditEvent))
    outcome = _print(qtbot, store, sid, queues["rejecting"], monkeypatch)
    message = outcome.get("failed", "")
    assert f"The printer {queues['rejecting']} is not accepting print jobs" in message, outcome
    assert f"cupsaccept {queues['rejecting']}" in message
    assert [a["action"] for a in store.rows(AuditEvent)[before:]] == []  # not printed, so no print audited


def test_a_job_the_spooler_refuses_at_submission_is_told(cups, demo, qtbot, monkeypatch):
    """The queue passed the check, then started rejecting before lp ran (an admin, another app): lp's real
    refusal becomes the nurse's message. The race is made certain by skipping the check."""
    from PySide6.QtPrintSupport import QPrinter

    from ketachart.report.model import build_summary
    from ketachart.ui import spooler

    from .conftest import PRINTED_AT

    (queues, _out), (store, sid) = cups, demo
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setPrinterName(queues["rejecting"])
    monkeypatch.setattr(spooler, "queue_problem", lambda _name: None)
    with pytest.raises(spooler.PrintProblem) as exc:
        spooler.send_to_printer(build_summary(store, sid, PRINTED_AT), printer)
    message = str(exc.value)
    assert f"The printer {queues['rejecting']} refused the summary" in message and "not accepting jobs" in message
    assert "Nothing was printed" in message and "Save as PDF" in message


def test_no_print_service_is_told_before_the_dialog(demo, qtbot, monkeypatch):
    """A CUPS server that is not there (nothing listens on that port) stands for a stopped print service."""
    if not shutil.which("lpstat"):
        _need("lpstat (cups-client) is not installed")
    (store, sid) = demo
    monkeypatch.setenv("CUPS_SERVER", "127.0.0.1:9")
    job = report_actions.print_summary(None, store, sid, open_reader=_reader(store))
    with qtbot.waitSignal(job.failed, timeout=120_000) as blocker:
        pass
    assert "not running" in blocker.args[0] or "No printer is set up" in blocker.args[0]
    assert "Save as PDF" in blocker.args[0]

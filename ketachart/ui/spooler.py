"""Printing the session summary through the operating system's print spooler, and saying when it did not.

Qt's own CUPS engine hands a job to CUPS and ignores the answer, so a queue that rejects jobs, a stopped
queue or a print service that is not running would swallow the summary without a word. Where CUPS's
``lp`` exists (Linux, macOS) the summary is therefore painted into a PDF with the very same renderer
(``render_to_printer``) and submitted with ``lp``; the queue's state and ``lp``'s answer become a message
for the nurse that says what to do. Where it does not (Windows) Qt's native engine prints, after the
printer's state has been checked. "Print to file" in the dialog writes the file as before.

Printer names and job ids are not patient data; they go into the audit entry of the print.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QTimer, Signal

SAVE_INSTEAD = "Use Save as PDF for now"


class PrintProblem(Exception):
    """The summary was not (or will not be) printed; the text tells the nurse why and what to do."""


@dataclass
class PrintResult:
    pages: int
    printer: str
    job: str | None = None
    message: str = ""
    audit: dict = field(default_factory=dict)


def _cups() -> bool:
    return shutil.which("lp") is not None and shutil.which("lpstat") is not None


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "LANG": "C", "LC_ALL": "C"}  # lpstat's words are parsed below
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env)


def check_can_print() -> None:
    """Before the print dialog: is there any printer at all? Raises :class:`PrintProblem` if not."""
    from PySide6.QtPrintSupport import QPrinterInfo

    if _cups() and "is running" not in _run(["lpstat", "-r"]).stdout:
        raise PrintProblem(
            "The printing service of this computer (CUPS) is not running, so the summary was not printed. "
            f"{SAVE_INSTEAD}, and ask IT to start the print service."
        )
    if not QPrinterInfo.availablePrinterNames():
        raise PrintProblem(
            f"No printer is set up on this computer, so the summary was not printed. {SAVE_INSTEAD}, and ask IT "
            "to add the clinic's printer."
        )


def queue_problem(name: str) -> str | None:
    """Why CUPS queue ``name`` would not print now (unknown, stopped, rejecting jobs), or None."""
    state = _run(["lpstat", "-p", name])
    if state.returncode != 0 or not state.stdout.strip():
        return (f"The printer {name} is not known to this computer's print service, so the summary was not printed. "
                f"Choose another printer, or {SAVE_INSTEAD[0].lower() + SAVE_INSTEAD[1:]} and ask IT to add it.")
    reason = _reason(state.stdout)
    if " disabled since" in state.stdout:
        return (f"The printer {name} is stopped on this computer{reason}, so the summary would wait in its queue "
                f"and not come out. Nothing was sent. Choose another printer, or ask IT to resume it "
                f"(cupsenable {name}).")
    accepting = _run(["lpstat", "-a", name])
    if "not accepting" in accepting.stdout:
        return (f"The printer {name} is not accepting print jobs{_reason(accepting.stdout)}, so the summary was not "
                f"printed. Choose another printer, or ask IT to let it accept jobs again (cupsaccept {name}).")
    return None


def _reason(lpstat_out: str) -> str:
    lines = [ln.strip() for ln in lpstat_out.splitlines()[1:] if ln.strip()]
    return f" ({lines[0]})" if lines else ""


def send_to_printer(summary, printer, progress: Callable[[int, int], None] | None = None) -> PrintResult:
    """Print ``summary`` on the QPrinter the print dialog configured. Raises :class:`PrintProblem`."""
    from PySide6.QtPrintSupport import QPrinter

    from ..report.render import render_to_printer

    if printer.outputFormat() == QPrinter.OutputFormat.PdfFormat:  # "Print to file" in the dialog
        pages = render_to_printer(summary, printer, progress)
        return PrintResult(pages, "file", message=f"Saved {pages} page(s) to {printer.outputFileName()}",
                           audit={"printer": "file"})
    name = printer.printerName()
    if not name:
        raise PrintProblem(f"No printer was chosen, so the summary was not printed. {SAVE_INSTEAD}.")
    if not _cups():
        return _print_native(summary, printer, name, progress)
    problem = queue_problem(name)
    if problem:
        raise PrintProblem(problem)
    with tempfile.TemporaryDirectory(prefix="ketachart-print-") as tmp:
        pdf = Path(tmp) / "summary.pdf"
        pages = render_to_printer(summary, _pdf_like(printer, pdf), progress)
        cmd = ["lp", "-d", name, "-t", printer.docName() or "Session summary", "-n", str(max(1, printer.copyCount()))]
        cmd += _options(printer) + ["--", str(pdf)]
        sent = _run(cmd)  # lp hands the file to the spooler before it returns; the temp copy can go
    if sent.returncode != 0:
        why = (sent.stderr or sent.stdout).strip().removeprefix("lp: ") or f"lp exit code {sent.returncode}"
        raise PrintProblem(f"The printer {name} refused the summary ({why}). Nothing was printed. Choose another "
                           f"printer, or {SAVE_INSTEAD[0].lower() + SAVE_INSTEAD[1:]} and tell IT.")
    match = re.search(r"request id is (\S+)", sent.stdout)
    job = match.group(1) if match else None
    return PrintResult(pages, name, job, f"Sent {pages} page(s) to {name}" + (f" (job {job})" if job else ""),
                       audit={"printer": name, "job": job})


def _pdf_like(printer, path: Path):
    """A PDF QPrinter with the dialog's paper, orientation and document name: what goes to the queue."""
    from PySide6.QtPrintSupport import QPrinter

    pdf = QPrinter(QPrinter.PrinterMode.HighResolution)
    pdf.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    pdf.setOutputFileName(str(path))
    pdf.setPageLayout(printer.pageLayout())
    pdf.setDocName(printer.docName())
    return pdf


def _options(printer) -> list[str]:
    from PySide6.QtPrintSupport import QPrinter

    opts = []
    sides = {QPrinter.DuplexMode.DuplexLongSide: "two-sided-long-edge",
             QPrinter.DuplexMode.DuplexShortSide: "two-sided-short-edge",
             QPrinter.DuplexMode.DuplexNone: "one-sided"}.get(printer.duplex())
    if sides:
        opts += ["-o", f"sides={sides}"]
    if printer.printRange() == QPrinter.PrintRange.PageRange and printer.fromPage() > 0:
        opts += ["-P", f"{printer.fromPage()}-{printer.toPage() or printer.fromPage()}"]
    if printer.colorMode() == QPrinter.ColorMode.GrayScale:
        opts += ["-o", "print-color-mode=monochrome"]
    return opts


def _print_native(summary, printer, name: str, progress) -> PrintResult:
    """Windows: Qt's engine prints; a printer in an error state is refused first, a failed job is reported."""
    from PySide6.QtPrintSupport import QPrinter, QPrinterInfo

    from ..report.render import render_to_printer

    info = QPrinterInfo.printerInfo(name)
    if info.isNull():
        raise PrintProblem(f"The printer {name} is not set up on this computer, so the summary was not printed. "
                           f"Choose another printer. {SAVE_INSTEAD}.")
    if info.state() in (QPrinter.PrinterState.Error, QPrinter.PrinterState.Aborted):
        raise PrintProblem(f"The printer {name} reports an error (offline, out of paper or paused), so the summary was "
                           f"not printed. Check the printer, or choose another one. {SAVE_INSTEAD}.")
    pages = render_to_printer(summary, printer, progress)
    if printer.printerState() in (QPrinter.PrinterState.Error, QPrinter.PrinterState.Aborted):
        raise PrintProblem(f"The printer {name} did not take the summary. Check the printer, or choose another one. "
                           f"{SAVE_INSTEAD}.")
    return PrintResult(pages, name, message=f"Sent {pages} page(s) to {name}", audit={"printer": name})


def pending_jobs(queue: str) -> set[str]:
    """Job ids the spooler has not finished on ``queue`` (pending, held or printing)."""
    out = _run(["lpstat", "-W", "not-completed", "-o", queue]).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def watch_job(parent, result: PrintResult, interval_ms: int = 1000, timeout_s: float = 180.0):
    """After ``lp`` took the job: tell the nurse if the printer stops before it has printed it (printer off,
    unplugged, out of paper: CUPS then stops the queue and keeps the job). Returns the watcher or None."""
    if not result.job or not _cups():
        return None
    return JobWatch(parent, result.printer, result.job, interval_ms, timeout_s).start()


class JobWatch(QObject):
    """Polls the spooler until the job is done, the queue stops (``problem``) or ``timeout_s`` passes."""

    problem = Signal(str)
    done = Signal()

    def __init__(self, parent, queue: str, job: str, interval_ms: int, timeout_s: float) -> None:
        super().__init__(parent)
        self.parent_widget, self.queue, self.job = parent, queue, job
        self.message = ""  # what the nurse was told, if anything
        self.polls_left = max(1, int(timeout_s * 1000 / interval_ms))
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._poll)

    def start(self) -> "JobWatch":
        self.timer.start()
        return self

    def _poll(self) -> None:
        self.polls_left -= 1
        if self.job not in pending_jobs(self.queue):
            self.timer.stop()
            self.done.emit()
            return
        state = _run(["lpstat", "-p", self.queue]).stdout
        if " disabled since" in state:
            self.timer.stop()
            message = (f"The printer {self.queue} stopped before it printed the summary{_reason(state)}. The job "
                       f"{self.job} is waiting in its queue and comes out when the printer is back: check that "
                       f"the printer is on, connected and has paper, then ask IT to resume the queue "
                       f"(cupsenable {self.queue}). Or choose another printer and print again.")
            self.message = message
            show_problem(self.parent_widget, message)
            self.problem.emit(message)
        elif self.polls_left <= 0:
            self.timer.stop()


def show_problem(parent, message: str) -> None:
    """The nurse sees it; never only a log line."""
    from PySide6.QtWidgets import QMessageBox

    if parent is not None:
        QMessageBox.warning(parent, "Printing the session summary", message)

"""Sync in the chair app: a background pass every minute, the status bar line, and "Sync now" with progress.

Only installed when a central database is configured (``--central URL``, ``KETACHART_CENTRAL`` or the config
file; see docs/SYNC.md). Each pass is ``SyncService.run_once`` on a one-thread QThreadPool of its own, so the
event loop never waits for the network; the service uses the app's own ChartStore (its write lock serialises
the cursor updates with the chair's charting). ``run_once`` never raises for server trouble: the result's
``error`` goes to the status bar, and the next pass carries on where this one stopped.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import QLabel, QProgressDialog, QPushButton, QSizePolicy

from ..sync import SyncResult, SyncService
from .viewmodels import local

log = logging.getLogger(__name__)

INTERVAL_S = 60.0
LABEL_REFRESH_MS = 5000
PHASES = {"connect": "Connecting to the central database", "pull": "Fetching the clinic's charts",
          "push": "Sending this chair's rows", "done": "Done"}


class _Signals(QObject):
    progress = Signal(str, int, int)
    done = Signal(object)  # SyncResult


class _Pass(QRunnable):
    def __init__(self, service: SyncService, signals: _Signals) -> None:
        super().__init__()
        self.service, self.signals = service, signals
        self.setAutoDelete(True)

    def run(self) -> None:  # worker thread
        try:
            result = self.service.run_once(progress=self.signals.progress.emit)
        except Exception as exc:  # a local problem (not the server's): shown, never fatal
            log.warning("sync pass failed locally: %s", type(exc).__name__)
            result = SyncResult(0, 0, -1, f"sync failed on this chair: {type(exc).__name__}: {exc}", None)
        self.signals.done.emit(result)


class SyncStatus(QObject):
    """The status bar's sync line and "Sync now" button, plus the periodic background pass."""

    finished = Signal(object)  # SyncResult, after every pass

    def __init__(self, window, service: SyncService, *, interval_s: float = INTERVAL_S,
                 start_now: bool = True) -> None:
        super().__init__(window)
        self.w = window
        self.service = service
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.running = False
        self.passes = 0
        self.last: SyncResult | None = None
        self.progress: QProgressDialog | None = None
        self.signals = _Signals()
        self.signals.progress.connect(self._on_progress)
        self.signals.done.connect(self._on_done)
        self.label = QLabel("")
        self.label.setObjectName("muted")
        self.label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.button = QPushButton("Sync now")
        self.button.setMinimumHeight(40)
        self.button.setToolTip(f"Send this chair's charting to {service.central.display()} and fetch the clinic's")
        self.button.clicked.connect(lambda _=False: self.sync_now())
        bar = window.statusBar()
        bar.addPermanentWidget(self.label)
        bar.addPermanentWidget(self.button)
        self.timer = QTimer(self)
        self.timer.setInterval(int(interval_s * 1000))
        self.timer.timeout.connect(self.start_pass)
        self.label_timer = QTimer(self)
        self.label_timer.setInterval(LABEL_REFRESH_MS)
        self.label_timer.timeout.connect(self.refresh)
        self.refresh()
        self.timer.start()
        self.label_timer.start()
        if start_now:
            QTimer.singleShot(0, self.start_pass)

    # --- passes -----------------------------------------------------------------------------------
    def start_pass(self) -> bool:
        """Start a background pass unless one is running. Never blocks."""
        if self.running:
            return False
        self.running = True
        self.button.setEnabled(False)
        self.label.setText(self.label.text().split("  ·  syncing")[0] + "  ·  syncing…")
        self.pool.start(_Pass(self.service, self.signals))
        return True

    def sync_now(self) -> None:
        """"Sync now": a pass with a progress dialog (non-modal: charting and monitoring go on)."""
        if self.progress is None:
            self.progress = QProgressDialog("Syncing with the central database…", None, 0, 0, self.w)
            self.progress.setWindowTitle("Sync")
            self.progress.setWindowModality(Qt.WindowModality.NonModal)
            self.progress.setMinimumDuration(0)
            self.progress.setAutoClose(False)
            self.progress.setAutoReset(False)
        self.progress.setLabelText("Syncing with the central database…")
        self.progress.show()
        self.start_pass()

    def _on_progress(self, phase: str, done: int, total: int) -> None:
        if self.progress is None:
            return
        self.progress.setMaximum(max(total, 0))
        self.progress.setValue(min(done, total) if total else 0)
        count = f" ({done} of {total})" if phase == "push" and total else ""
        self.progress.setLabelText(PHASES.get(phase, phase) + count + "…")

    def _on_done(self, result: SyncResult) -> None:
        self.running = False
        self.passes += 1
        self.last = result
        self.button.setEnabled(True)
        if self.progress is not None:
            self.progress.close()
            self.progress.deleteLater()
            self.progress = None
        self.refresh()
        self.finished.emit(result)

    # --- the status bar line ----------------------------------------------------------------------
    def status_text(self) -> str:
        try:
            pending = self.service.pending_count()
            last = self.service.last_sync_at()
        except Exception as exc:  # the chart is closing, or a local read failed: say so, keep going
            return f"Sync: status unavailable ({type(exc).__name__})"
        text = f"Sync: last {local(last) if last else 'never'}  ·  {pending} pending"
        held = self.last.refused_rows if self.last is not None else ()
        if held:  # the central refused these rows; kept here, the rest went on
            text += f"  ·  {len(held)} refused by the central"
        if self.last is not None and self.last.history_conflict:
            text += "  ·  ⚠ charting stopped: " + self.last.history_conflict[:60] + "…"
        elif self.last is not None and self.last.error:
            error = self.last.error
            text += "  ·  ⚠ " + (error if len(error) <= 70 else error[:69] + "…")  # all of it in the tooltip
        return text

    def refresh(self) -> None:
        text = self.status_text()
        if self.running:
            text += "  ·  syncing…"
        self.label.setText(text)
        error = self.last.error if self.last is not None else None
        self.label.setToolTip(f"Last error: {error}" if error else f"Central: {self.service.central.display()}")
        self.label.setObjectName("error" if error else "muted")
        self.label.style().unpolish(self.label)
        self.label.style().polish(self.label)

    def stop(self, wait_ms: int = 15000) -> None:
        """Stop the timers and wait for a pass in flight (before the store is closed)."""
        self.timer.stop()
        self.label_timer.stop()
        self.pool.waitForDone(wait_ms)

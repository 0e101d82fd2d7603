"""From device reader threads to the GUI thread, and from the GUI thread to the store, without waiting.

::

    device thread --submit()--> ReadingBridge --queued signal--> GUI thread: listeners(batch)
                                                                  (a) LiveData ring buffers (plot)
                                                                  (b) alert rules
                                                                  (c) VitalsWriter.submit() -> writer thread
                                                                      commits about once a second

``submit`` only appends to a list under a lock and, if no hand-off is pending, emits one queued signal: a
burst of readings costs one event-loop wake-up. The writer commits on its own thread, so a reading never
waits on the database and the UI never waits on a device.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Sequence

from PySide6.QtCore import QObject, Qt, Signal

from ..domain.readings import Reading
from .saved_trace import trace_saved


class ReadingBridge(QObject):
    """Thread-safe entry point for readings and device states; delivers them on the GUI thread."""

    _wake = Signal()
    device_state = Signal(str, str)  # device name, state (connecting, streaming, silent, lost ...)
    writer_report = Signal(int, str)  # rows committed so far, error text ("" when fine)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: list[Reading] = []
        self._scheduled = False
        self._listeners: list[Callable[[list[Reading]], None]] = []
        self.delivered = 0
        self._wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    def add_listener(self, fn: Callable[[list[Reading]], None]) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[list[Reading]], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def submit(self, reading: Reading) -> None:
        """Any thread. Never blocks beyond a list append."""
        with self._lock:
            self._pending.append(reading)
            if self._scheduled:
                return
            self._scheduled = True
        self._wake.emit()

    def submit_many(self, readings: Sequence[Reading]) -> None:
        if not readings:
            return
        with self._lock:
            self._pending.extend(readings)
            if self._scheduled:
                return
            self._scheduled = True
        self._wake.emit()

    def submit_state(self, device: str, state: str) -> None:
        """Any thread: a device link's state change (queued to the GUI thread by Qt)."""
        self.device_state.emit(device, state)

    def _drain(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._scheduled = False
        if not batch:
            return
        self.delivered += len(batch)
        for fn in list(self._listeners):
            fn(batch)


class VitalsWriter:
    """Commits readings to the store in batches on its own thread (about every ``interval_s`` real seconds).

    ``submit`` never blocks. A failed commit keeps what it did not commit and retries;
    ``on_report(committed, error)`` is called from the writer thread (route it through a queued signal).
    """

    def __init__(self, store, interval_s: float = 1.0, on_report: Callable[[int, str], None] | None = None) -> None:
        self.store = store
        self.interval_s = interval_s
        self.on_report = on_report
        self._lock = threading.Lock()
        self._queue: list[tuple[str, Reading]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.committed = 0
        self.error = ""
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="vitals-writer", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + (1 if self._busy else 0)

    def submit(self, session_id: str | None, readings: Sequence[Reading]) -> None:
        if session_id is None or not readings:
            return
        with self._lock:
            self._queue.extend((session_id, r) for r in readings)

    def flush_soon(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            self._commit()
        self._commit()

    def _commit(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
            self._busy = bool(batch)
        if not batch:
            return
        by_session: dict[str, list[Reading]] = {}
        for sid, r in batch:
            by_session.setdefault(sid, []).append(r)
        done: set[str] = set()
        try:
            for sid, readings in by_session.items():
                n = self.store.add_readings(sid, readings)
                done.add(sid)
                self.committed += n
                trace_saved("vitals", session=sid, rows=n, committed=self.committed)  # after the commit returned
            self.error = ""
        except Exception as exc:  # the disk is full, the file is locked: keep the readings, say so, retry
            self.error = f"vitals not saved yet: {type(exc).__name__}"
            with self._lock:  # only what was not committed: a retry must not store a session's batch twice
                self._queue[:0] = [(sid, r) for sid, r in batch if sid not in done]
            time.sleep(min(self.interval_s, 1.0))
        finally:
            with self._lock:
                self._busy = False
        if self.on_report is not None:
            try:
                self.on_report(self.committed, self.error)
            except Exception:
                pass

    def stop(self, timeout: float = 5.0) -> None:
        """Commit what is queued and end the thread."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

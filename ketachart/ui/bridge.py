"""From device reader threads to the GUI thread, and from the GUI thread to the store, without waiting.

::

    device thread --submit()--> ReadingBridge --queued signal--> GUI thread: listeners(batch)
                                                                  (a) LiveData ring buffers (plot)
                                                                  (b) alert rules
                                                                  (c) the chair service: alert rules and
                                                                      VitalsWriter.submit() (store/vitals_writer.py)

``submit`` only appends to a list under a lock and, if no hand-off is pending, emits one queued signal: a
burst of readings costs one event-loop wake-up. The writer commits on its own thread, so a reading never
waits on the database and the UI never waits on a device; ``writer_report`` carries its reports back to the
GUI thread.
"""

from __future__ import annotations

import threading
from typing import Callable, Sequence

from PySide6.QtCore import QObject, Qt, Signal

from ..domain.readings import Reading


class ReadingBridge(QObject):
    """Thread-safe entry point for readings and device states; delivers them on the GUI thread."""

    _wake = Signal()
    device_state = Signal(str, str)  # device name, state (connecting, streaming, silent, lost ...)
    writer_report = Signal(int, str)  # rows committed so far, error text ("" when fine)
    device_event = Signal(str, object)  # device name, a codec event (e.g. "monitor says another patient")

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
        self.submit_many((reading,))

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

    def submit_event(self, device: str, event: object) -> None:
        """Any thread: a device's event (patient mismatch questions, device information), queued to the GUI."""
        self.device_event.emit(device, event)

    def _drain(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._scheduled = False
        if not batch:
            return
        self.delivered += len(batch)
        for fn in list(self._listeners):
            fn(batch)

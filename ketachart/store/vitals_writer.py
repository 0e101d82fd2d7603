"""Commits device readings to the store in batches on a thread of its own, so a reading never waits on the disk.

Qt-free: the chair service submits readings from the GUI thread; reports (``on_report``) and confirmations
(``on_committed``, e.g. the saved trace) are called from the writer thread after the commit returned, so the
caller routes them to its own thread (the UI through a queued signal).
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Sequence

from ..domain.readings import Reading


class VitalsWriter:
    """Commits readings to the store in batches on its own thread (about every ``interval_s`` real seconds).

    ``submit`` never blocks. A failed commit keeps what it did not commit and retries;
    ``on_report(committed, error)`` and ``on_committed(session_id, rows, committed)`` are called from the writer
    thread, the latter only after that session's commit returned.
    """

    def __init__(self, store, interval_s: float = 1.0, on_report: Callable[[int, str], None] | None = None,
                 on_committed: Callable[[str, int, int], None] | None = None) -> None:
        self.store = store
        self.interval_s = interval_s
        self.on_report = on_report
        self.on_committed = on_committed
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
                if self.on_committed is not None:  # after the commit returned
                    self.on_committed(sid, n, self.committed)
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

"""Hear the central's change notifications (``LISTEN ketachart_board``) on a thread of its own. No Qt.

``on_change(device_ids)`` is called from the listener thread with the chairs that changed; the UI hops to its
own thread before touching a widget. A lost connection is retried with a growing pause (at most 10 s, waited
on an Event so ``stop()`` is immediate), and after reconnecting the listener reports ``{"*"}``: notifications
sent while it was away are lost, so everything is re-read. The board's slow fallback poll covers the rest.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

import psycopg

from ..sync.central_board import CHANNEL

log = logging.getLogger(__name__)


class BoardListener:
    def __init__(self, url: str, on_change: Callable[[set[str]], None], *, connect_kwargs: dict | None = None) -> None:
        self.url = url
        self.on_change = on_change
        self.connect_kwargs = connect_kwargs or {}
        self._stop = threading.Event()
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._run, name="board-listen", daemon=True)
        self._conn: psycopg.Connection | None = None

    def start(self) -> "BoardListener":
        self.thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.thread.join(timeout)

    def _run(self) -> None:
        pause = 0.5
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, **self.connect_kwargs) as conn:
                    self._conn = conn
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.connected.set()
                    if not first:
                        self.on_change({"*"})  # what was said while we were away is lost: re-read everything
                    first = False
                    pause = 0.5
                    while not self._stop.is_set():
                        changed: set[str] = set()
                        for note in conn.notifies(timeout=0.5, stop_after=200):
                            changed.update(p for p in note.payload.split(",") if p)
                        if changed:
                            self.on_change(changed)
            except psycopg.Error as exc:
                self.connected.clear()
                log.warning("board: change notifications lost (%s); retrying", type(exc).__name__)
            except Exception:  # a bug in on_change must not silence the board for good
                self.connected.clear()
                log.exception("board: notification handler failed")
            finally:
                self._conn = None
            if self._stop.wait(pause):
                return
            pause = min(10.0, pause * 2)

"""Live push for the clinic board: while a session is open the chair pushes every ``board_push_s`` seconds
(clinic policy, default 5) and at once when an alert, observation or session event is charted, then writes its
heartbeat. No Qt; one thread of its own.

"At once" needs no hook in the charting code: the thread looks at the chart's own device counter twice a
second, and when it moved it asks whether any of the new rows is an alert, observation or session event (an
indexed ``device_id, device_seq`` probe). Offline, each pass fails quietly (the result carries the error) and
the chair keeps charting locally; the next pass that reaches the central catches up, exactly as ``sync`` does.
With no open session the chair still pushes and beats, but only every ``idle_s`` (default 60 s).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Callable

import psycopg

from .. import __version__
from .central import connect
from .central_board import HEARTBEAT_LATEST, HEARTBEAT_UPSERT
from .service import SyncResult, SyncService

log = logging.getLogger(__name__)

URGENT_TABLES = ("alerts", "alert_acks", "observations", "session_events", "sessions")
WATCH_S = 0.5
IDLE_S = 60.0


class LivePush:
    def __init__(self, service: SyncService, *, device_states: Callable[[], dict] | None = None,
                 chair_name: str | None = None, interval_s: float | None = None, idle_s: float = IDLE_S,
                 watch_s: float = WATCH_S, on_result: Callable[[SyncResult], None] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.store = service.store
        self.device_states = device_states or (lambda: {})
        self.chair_name = chair_name
        self.interval_override = interval_s
        self.idle_s = idle_s
        self.watch_s = watch_s
        self.on_result = on_result
        self.monotonic = monotonic
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._seen_seq = self._last_seq()
        self._last_pass: float | None = None
        self._hb_conn: psycopg.Connection | None = None
        self.passes = 0
        self.heartbeats = 0
        self.last_result: SyncResult | None = None
        self.thread: threading.Thread | None = None

    # --- what to do when --------------------------------------------------------------------------
    @property
    def interval_s(self) -> float:
        if self.interval_override is not None:
            return self.interval_override
        return float(getattr(self.store.policy, "board_push_s", 5))

    def poke(self) -> None:
        """Push now (e.g. the UI knows an alert was just charted)."""
        self._wake.set()

    def _last_seq(self) -> int:
        with self.store.engine.connect() as conn:
            seq = conn.exec_driver_sql(
                "SELECT last_seq FROM device_counter WHERE device_id = ?", (self.store.device_id,)).scalar()
            conn.rollback()
        return int(seq or 0)

    def urgent_since(self, seq: int) -> bool:
        """Did this chair chart an alert, acknowledgement, observation or session event after ``seq``?"""
        with self.store.engine.connect() as conn:
            for table in URGENT_TABLES:
                if conn.exec_driver_sql(
                        f"SELECT 1 FROM {table} WHERE device_id = ? AND device_seq > ? LIMIT 1",
                        (self.store.device_id, seq)).first():
                    conn.rollback()
                    return True
            conn.rollback()
        return False

    def open_session(self) -> dict | None:
        """This chair's newest session when it is not finished (what the board shows for this chair)."""
        with self.store.engine.connect() as conn:
            row = conn.exec_driver_sql(
                "SELECT id, chair FROM sessions WHERE device_id = ? ORDER BY device_seq DESC LIMIT 1",
                (self.store.device_id,)).first()
            conn.rollback()
        if row is None or self.store.session_state(row[0]).is_final:
            return None
        return {"id": row[0], "chair": row[1]}

    def due(self) -> bool:
        """One look (twice a second): is a pass due now?"""
        now = self.monotonic()
        seq = self._last_seq()
        urgent = False
        if seq != self._seen_seq:
            urgent = self.urgent_since(self._seen_seq)
            self._seen_seq = seq
        if urgent or self._last_pass is None:
            return True
        interval = self.interval_s if self.open_session() is not None else self.idle_s
        return now - self._last_pass >= interval

    # --- a pass -----------------------------------------------------------------------------------
    def pass_once(self) -> SyncResult:
        """Push (and pull) once, then beat. Never raises for central trouble."""
        self._last_pass = self.monotonic()
        result = self.service.run_once()
        self.passes += 1
        self.last_result = result
        if not result.refused:
            self.heartbeat()
        if self.on_result:
            self.on_result(result)
        return result

    def heartbeat(self) -> bool:
        """Tell the central this chair is alive: name, app version, device states, open session."""
        session = self.open_session()
        name = self.chair_name or (session or {}).get("chair")
        try:
            states = dict(self.device_states())
        except Exception:  # a device view that failed must not stop the heartbeat
            states = {}
        try:
            if self._hb_conn is None or self._hb_conn.closed:
                self._hb_conn = connect(self.service.central)
            self._hb_conn.execute(HEARTBEAT_UPSERT, (
                self.store.device_id, name, __version__, json.dumps(states, sort_keys=True),
                (session or {}).get("id"), self.store.clock.now()))
            if session is not None:
                self._hb_conn.execute(HEARTBEAT_LATEST, (json.dumps(self.store.unsealed_latest(session["id"])),
                                                         self.store.device_id))
            self.heartbeats += 1
            return True
        except Exception as exc:  # offline: the chair charts on; the board shows it stale
            log.info("heartbeat not delivered (%s)", type(exc).__name__)
            self._close_hb()
            return False

    def _close_hb(self) -> None:
        if self._hb_conn is not None:
            try:
                self._hb_conn.close()
            except Exception:
                pass
            self._hb_conn = None

    # --- the thread -------------------------------------------------------------------------------
    def start(self) -> "LivePush":
        self.thread = threading.Thread(target=self._run, name="live-push", daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            poked = self._wake.wait(self.watch_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                if poked or self.due():
                    self.pass_once()
            except Exception:  # a local failure (file closing): logged without patient data, tried again
                log.exception("live push pass failed on this chair")
        self._close_hb()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self.thread is not None:
            self.thread.join(timeout)


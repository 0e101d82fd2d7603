"""One sync pass: pull the clinic's shared rows, push this chair's outbox. No Qt; safe in a worker thread.

Push (the outbox)
    This chair's rows (``device_id`` = this device) with ``device_seq`` above the acknowledged cursor go up
    in batches of ``batch_size`` consecutive device_seq values. Each batch is one server transaction: the rows
    are COPYed into a temporary staging table and moved with ``INSERT ... SELECT ... ON CONFLICT (id) DO
    NOTHING``. Only after the server's COMMIT returned does a local transaction advance the cursor (in
    ``sync_state``). A crash, kill or lost connection anywhere leaves the cursor at or behind the server, so
    the next pass re-sends at most one batch, which the server ignores row by row: resumable and idempotent.
    Rows pulled from other chairs carry their own device_id and are never pushed again.

Pull (what other chairs need to know)
    Users, policy versions, patients, courses, sessions, session events, dose administrations and the
    observations that belong to a patient's course (PHQ-9 and other course-level scores, ``patient_id`` set):
    enough for the patient list, pre-fill (last weight and dose), course tracking and sign-in at any chair.
    Vital readings, alerts, checklists, signatures, audit events and session-only observations of other
    chairs stay central. The pull uses the commit-safe ``txid``/``pg_snapshot_xmin`` watermark (see
    :mod:`ketachart.sync.central`); pulled rows are inserted with SQLAlchemy Core ``INSERT OR IGNORE`` by
    ``id`` (never updated: the triggers forbid it) keeping their original device_id, device_seq and row_hash,
    and never through ``ChartStore._append`` (which would re-stamp them). The local device's counter and
    hash chain are untouched, because pulled rows all belong to other devices.

Time
    At each pass the server clock is read and the offset to this chair's clock is stored in ``sync_state``
    (``clock_offset_s``) and, when rows moved or the offset changed by more than 30 seconds, in a ``sync``
    audit event. Nothing is ordered by a device clock: push order is ``device_seq``, pull order is ``txid``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import psycopg
from psycopg import sql
from sqlalchemy import insert, select

from ..store.models import MODEL_BY_TABLE, CHART_TABLES, DeviceCounter, SyncState
from ..store.repository import SYSTEM_AUTHOR, ChartStore
from ..store.sync_support import ensure_sync_indexes
from .central import SCHEMA, chart_columns, connect, read_meta
from .config import CentralConfig, CentralRefused, _first_line, redact

# (table, extra condition) in parent-before-child order.
PULL_TABLES: tuple[tuple[str, str | None], ...] = (
    ("users", None),
    ("policy_versions", None),
    ("patients", None),
    ("courses", None),
    ("sessions", None),
    ("session_events", None),
    ("dose_administrations", None),
    ("observations", "patient_id IS NOT NULL"),
)
PULLED_TABLES = tuple(t for t, _ in PULL_TABLES)
OFFSET_AUDIT_THRESHOLD_S = 30.0  # a quiet pass writes a sync audit event only when the clock moved this much

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``; phase is ``connect``, ``pull``, ``push`` or ``done``."""

Hook = Callable[[str, dict], None]
"""Test seam: ``hook(stage, info)`` at ``batch-staged`` (server transaction open, rows staged, not committed)
and ``batch-committed`` (server committed, local cursor not yet advanced). ``info`` has ``backend_pid``,
``batch`` (0-based) and ``hi`` (last device_seq of the batch)."""


class ReplayMismatch(RuntimeError):
    """A row this chair pushes differs from the central row with the same id (see ``_check_replayed``)."""


@dataclass(frozen=True)
class SyncResult:
    """Outcome of one pass.

    pushed        this chair's rows the server acknowledged in this pass
    pulled        other chairs' rows newly stored locally in this pass
    pending       this chair's rows still waiting for the server after the pass
    error         None, or a message for the status bar (the pass stopped there; what was done is kept)
    last_sync_at  server time of the last fully successful pass (this one or an earlier one), or None
    clock_offset_s  server clock minus this chair's clock at this pass (None if the server was not reached)
    refused       the server refused us before anything was done (unreachable, login, schema): local unchanged
    """

    pushed: int
    pulled: int
    pending: int
    error: str | None
    last_sync_at: datetime | None
    clock_offset_s: float | None = None
    refused: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict:
        return {
            "pushed": self.pushed,
            "pulled": self.pulled,
            "pending": self.pending,
            "error": self.error,
            "last_sync_at": self.last_sync_at.isoformat() if self.last_sync_at else None,
            "clock_offset_s": None if self.clock_offset_s is None else round(self.clock_offset_s, 3),
        }


class SyncService:
    """Sync one chair's store with the central database. ``run_once`` may be called from any one thread at a
    time (a lock serialises concurrent calls); the UI runs it in a worker and shows the result."""

    def __init__(
        self,
        store: ChartStore,
        central: CentralConfig | str,
        *,
        batch_size: int = 20000,
        progress: Progress | None = None,
        hook: Hook | None = None,
    ) -> None:
        self.store = store
        self.central = central if isinstance(central, CentralConfig) else CentralConfig.resolve(central)
        self.batch_size = max(1, int(batch_size))
        self.progress = progress
        self.hook = hook
        self._lock = threading.Lock()
        self._last: SyncResult | None = None

    # --- local bookkeeping ----------------------------------------------------------------------
    def _state(self, key: str) -> str | None:
        with self.store.engine.connect() as conn:
            value = conn.execute(select(SyncState.value).where(SyncState.key == key)).scalar()
            conn.rollback()
        return value

    @staticmethod
    def _put_state(conn, values: dict[str, str]) -> None:
        for key, value in values.items():
            conn.exec_driver_sql(
                "INSERT INTO sync_state (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def _last_seq(self) -> int:
        with self.store.engine.connect() as conn:
            seq = conn.execute(
                select(DeviceCounter.last_seq).where(DeviceCounter.device_id == self.store.device_id)
            ).scalar_one()
            conn.rollback()
        return int(seq)

    @staticmethod
    def _check_replayed(cur, table: str) -> None:  # noqa: ANN001
        """A row the central already had must be the same row, column for column.

        ``ON CONFLICT DO NOTHING`` makes a replayed batch harmless, but it would also silently keep the central
        copy when this chair sends a *different* row under the same id: a chart edited outside KetaChart, or a
        damaged central. That is refused (the batch rolls back, the cursor stays) with a message saying so.
        """
        cols = chart_columns(table)
        mine = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c)) for c in cols)
        theirs = sql.SQL(", ").join(sql.SQL("c.{}").format(sql.Identifier(c)) for c in cols)
        cur.execute(sql.SQL(
            "SELECT s.id FROM {} s JOIN {} c ON c.id = s.id WHERE ROW({}) IS DISTINCT FROM ROW({}) LIMIT 3"
        ).format(sql.Identifier(f"stage_{table}"), sql.Identifier(SCHEMA, table), mine, theirs))
        differing = [r[0] for r in cur.fetchall()]
        if differing:
            raise ReplayMismatch(
                f"{table} row(s) {', '.join(differing)} differ from the central copy with the same id: this chart or "
                "the central was changed outside KetaChart. Nothing more was sent; run `ketachart verify` here and "
                "ask IT to compare the central copy."
            )

    def _push_key(self, central_id: str) -> str:
        return f"central:{central_id}:push_seq"

    def _pull_key(self, central_id: str) -> str:
        return f"central:{central_id}:pull_xmin"

    def last_sync_at(self) -> datetime | None:
        value = self._state("last_sync_at")
        return datetime.fromisoformat(value) if value else None

    def pending_count(self) -> int:
        """This chair's rows the current central database has not acknowledged (no network needed)."""
        central_id = self._state("central_id")
        cursor = int(self._state(self._push_key(central_id)) or 0) if central_id else 0
        return max(0, self._last_seq() - cursor)

    @property
    def last_result(self) -> SyncResult | None:
        return self._last

    # --- the pass -------------------------------------------------------------------------------
    def run_once(self, progress: Progress | None = None) -> SyncResult:
        """One full pass. Never raises for central trouble: the result carries the error."""
        with self._lock:
            result = self._run(progress or self.progress)
            self._last = result
            return result

    def _emit(self, progress: Progress | None, phase: str, done: int, total: int) -> None:
        if progress:
            progress(phase, done, total)

    def _run(self, progress: Progress | None) -> SyncResult:
        self._tally = tally = {"pushed": 0, "pulled": 0}
        offset: float | None = None
        self._emit(progress, "connect", 0, 1)
        try:
            conn = connect(self.central)
        except CentralRefused as exc:
            return SyncResult(0, 0, self.pending_count(), str(exc), self.last_sync_at(), refused=True)
        try:
            try:
                meta = read_meta(conn, self.central)
            except CentralRefused as exc:
                return SyncResult(0, 0, self.pending_count(), str(exc), self.last_sync_at(), refused=True)
            central_id = meta["central_id"]
            offset, server_now = self._clock_offset(conn)
            ensure_sync_indexes(self.store.engine)
            self._emit(progress, "connect", 1, 1)
            tally["pulled"] = self._pull(conn, central_id, progress)
            self._record_time(central_id, offset, server_now, tally["pulled"])
            self._push(conn, central_id, progress)
            with self.store._write_lock, self.store.engine.begin() as local:
                self._put_state(local, {"last_sync_at": server_now.isoformat()})
            self._emit(progress, "done", 1, 1)
            return SyncResult(tally["pushed"], tally["pulled"], self.pending_count(), None, server_now, offset)
        except ReplayMismatch as exc:
            self.store.audit("sync-refused", None, {"reason": "replay-mismatch"})
            return SyncResult(tally["pushed"], tally["pulled"], self.pending_count(), str(exc), self.last_sync_at(),
                              offset)
        except (psycopg.Error, OSError) as exc:
            pushed, pulled = tally["pushed"], tally["pulled"]
            message = (
                f"the connection to the central database {self.central.display()} failed during sync "
                f"({redact(_first_line(exc), self.central)}); {pushed} row(s) were pushed and {pulled} pulled "
                "before that, and the rest will follow at the next sync"
            )
            return SyncResult(pushed, pulled, self.pending_count(), message, self.last_sync_at(), offset)
        finally:
            try:
                conn.close()
            except Exception:
                pass

    # --- time -----------------------------------------------------------------------------------
    def _clock_offset(self, conn: psycopg.Connection) -> tuple[float, datetime]:
        before = self.store.clock.now()
        server_now = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        after = self.store.clock.now()
        local_mid = before + (after - before) / 2
        return (server_now - local_mid).total_seconds(), server_now.astimezone(timezone.utc)

    def _record_time(self, central_id: str, offset: float, server_now: datetime, pulled: int) -> None:
        previous = self._state("clock_offset_s")
        changed = previous is None or abs(float(previous) - offset) > OFFSET_AUDIT_THRESHOLD_S
        pending = self.pending_count()
        with self.store._write_lock, self.store.engine.begin() as local:
            self._put_state(local, {
                "clock_offset_s": f"{offset:.3f}",
                "clock_offset_at": server_now.isoformat(),
                "central_id": central_id,
                "central": self.central.display(),
            })
        if changed or pulled or pending:
            self.store.audit(
                "sync",
                f"central:{central_id}",
                {"clock_offset_s": round(offset, 3), "server_time": server_now.isoformat(), "pulled": pulled,
                 "pending": pending},
                author=SYSTEM_AUTHOR,
            )

    # --- pull -----------------------------------------------------------------------------------
    def _pull(self, conn: psycopg.Connection, central_id: str, progress: Progress | None) -> int:
        key = self._pull_key(central_id)
        watermark = self._state(key) or "0"
        fetched: dict[str, list[tuple]] = {}
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        try:
            with conn.transaction():
                # First statement of the transaction: it takes the snapshot the reads below share.
                horizon = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text").fetchone()[0]
                for i, (table, condition) in enumerate(PULL_TABLES):
                    cols = chart_columns(table)
                    query = sql.SQL("SELECT {} FROM {} WHERE txid >= %s::xid8 AND device_id <> %s{} ORDER BY txid, id").format(
                        sql.SQL(", ").join(sql.Identifier(c) for c in cols),
                        sql.Identifier(SCHEMA, table),
                        sql.SQL(f" AND {condition}" if condition else ""),
                    )
                    fetched[table] = conn.execute(query, (watermark, self.store.device_id)).fetchall()
                    self._emit(progress, "pull", i + 1, len(PULL_TABLES))
        finally:
            conn.isolation_level = None
            conn.read_only = None
        inserted = 0
        with self.store._write_lock, self.store.engine.begin() as local:
            local.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
            for table, _ in PULL_TABLES:
                rows = fetched[table]
                if not rows:
                    continue
                cols = chart_columns(table)
                stmt = insert(MODEL_BY_TABLE[table].__table__).prefix_with("OR IGNORE")
                result = local.execute(stmt, [dict(zip(cols, r)) for r in rows])
                inserted += max(0, result.rowcount or 0)
            self._put_state(local, {key: horizon})
        return inserted

    # --- push -----------------------------------------------------------------------------------
    def _read_batch(self, lo: int, hi: int) -> dict[str, list[tuple]]:
        """This device's rows with lo < device_seq <= hi, per table, as stored (SQLite text times, 0/1)."""
        raw = self.store.engine.raw_connection()
        try:
            cur = raw.cursor()
            out: dict[str, list[tuple]] = {}
            for table in CHART_TABLES:
                cols = ", ".join(f'"{c}"' for c in chart_columns(table))
                cur.execute(
                    f"SELECT {cols} FROM {table} WHERE device_id = ? AND device_seq > ? AND device_seq <= ?",
                    (self.store.device_id, lo, hi),
                )
                rows = cur.fetchall()
                if rows:
                    out[table] = rows
            cur.close()
            raw.rollback()
        finally:
            raw.close()
        return out

    def _ensure_staging(self, conn: psycopg.Connection, tables, made: set[str]) -> None:
        """Temporary staging tables (per connection, emptied at each commit), created in one round trip."""
        needed = [t for t in tables if t not in made]
        if not needed:
            return
        statements = [
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} ON COMMIT DELETE ROWS AS SELECT {} FROM {} WITH NO DATA"
            ).format(
                sql.Identifier(f"stage_{t}"),
                sql.SQL(", ").join(sql.Identifier(c) for c in chart_columns(t)),
                sql.Identifier(SCHEMA, t),
            )
            for t in needed
        ]
        with conn.transaction():
            conn.execute(sql.SQL("; ").join(statements))
        made.update(needed)

    def _push(self, conn: psycopg.Connection, central_id: str, progress: Progress | None) -> int:
        key = self._push_key(central_id)
        cursor = int(self._state(key) or 0)
        last = self._last_seq()
        total = max(0, last - cursor)
        pushed = 0
        if total == 0:
            self._emit(progress, "push", 0, 0)
            return 0
        staged: set[str] = set()
        batch_no = 0
        while cursor < last:
            hi = min(cursor + self.batch_size, last)
            batch = self._read_batch(cursor, hi)
            count = sum(len(r) for r in batch.values())
            if count != hi - cursor:
                raise RuntimeError(
                    f"this chair's rows {cursor + 1}..{hi} are incomplete locally ({count} of {hi - cursor} found); "
                    "run `ketachart verify` - the chart file may have been damaged"
                )
            self._ensure_staging(conn, batch, staged)
            info = {"backend_pid": conn.info.backend_pid, "batch": batch_no, "hi": hi}
            with conn.transaction():
                with conn.cursor() as cur:
                    for table, rows in batch.items():
                        cols = chart_columns(table)
                        col_sql = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
                        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
                                sql.Identifier(f"stage_{table}"), col_sql)) as copy:
                            for row in rows:
                                copy.write_row(row)
                    if self.hook:
                        self.hook("batch-staged", info)
                    for table in batch:
                        col_sql = sql.SQL(", ").join(sql.Identifier(c) for c in chart_columns(table))
                        cur.execute(sql.SQL(
                            "INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT (id) DO NOTHING"
                        ).format(sql.Identifier(SCHEMA, table), col_sql, col_sql, sql.Identifier(f"stage_{table}")))
                        self._check_replayed(cur, table)
            # The server has committed this batch; only now may the cursor move.
            if self.hook:
                self.hook("batch-committed", info)
            with self.store._write_lock, self.store.engine.begin() as local:
                self._put_state(local, {key: str(hi)})
            pushed += hi - cursor
            self._tally["pushed"] = pushed
            cursor = hi
            batch_no += 1
            self._emit(progress, "push", pushed, total)
        return pushed

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

Trust (schema 2 of the central; docs/SECURITY.md)
    The login must be an enrolled chair login bound to this chart's device id, or an admin login; anything
    else is refused before a row moves. A chair login never sends users or policy rows (the central refuses
    them): they wait, counted in ``awaiting_admin``, until a pass with an admin login sends them. Pulled users
    and policy rows are taken only with the central's vouch; unvouched ones are left there and named in
    ``ignored``. A row the central refuses is held back locally (``refused``) and the rest goes on.

History cannot fork
    Before pushing, the central's head for this device (its highest device_seq and that row's hash) must be a
    row of this file with the same hash. A file older than the central, or one whose history diverges, stops
    the pass with ``history_conflict`` and stops charting on this chair (``HistoryConflict``) until an admin
    resolves it. After pushing, the central must hold every device_seq up to the cursor (``device_heads``);
    missing rows (a lost acknowledged batch) are found and sent again (``resent``).

Time
    At each pass the server clock is read and the offset to this chair's clock is stored in ``sync_state``
    (``clock_offset_s``) and, when rows moved or the offset changed by more than 30 seconds, in a ``sync``
    audit event. Nothing is ordered by a device clock: push order is ``device_seq``, pull order is ``txid``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import psycopg
from psycopg import sql

from ..store.models import CHART_TABLES
from ..store.repository import SYSTEM_AUTHOR, ChartStore
from .central import ADMIN_TABLES, SCHEMA, chart_columns, connect, read_meta, unvouched, whoami
from .config import CentralConfig, CentralRefused, _first_line, redact

# (table, extra condition) in parent-before-child order.
PULL_TABLES: tuple[tuple[str, str | None], ...] = (
    ("users", None),
    ("policy_versions", None),
    ("patients", None),
    ("patient_links", None),  # an admin's link of two records of one person (vouched, like users)
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


class ForkFound(RuntimeError):
    """This file's history for its device is older than, or diverges from, the central's."""


# Errors the central raises for one row's content or rights (not for the connection): that row is held back.
ROW_REFUSALS = (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.InsufficientPrivilege)


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
    refused_rows  this chair's rows the central refused, held back here: table, id, device_seq, reason
    ignored       users/policy rows on the central without an admin's vouch, not applied here
    awaiting_admin  this chair's users/policy rows that wait for a pass with an admin login
    history_conflict  why this chair may not push (older or diverging file), or None
    resent        rows the central had lost and this pass sent again
    """

    pushed: int
    pulled: int
    pending: int
    error: str | None
    last_sync_at: datetime | None
    clock_offset_s: float | None = None
    refused: bool = False
    refused_rows: tuple = field(default=())
    ignored: tuple = field(default=())
    awaiting_admin: int = 0
    history_conflict: str | None = None
    resent: int = 0

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
            "refused": list(self.refused_rows),
            "ignored": list(self.ignored),
            "awaiting_admin": self.awaiting_admin,
            "history_conflict": self.history_conflict,
            "resent": self.resent,
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
        if int(batch_size) < 1:
            raise ValueError("batch_size must be at least 1")
        self.store = store
        self.ledger = store.sync_ledger
        self.central = central if isinstance(central, CentralConfig) else CentralConfig.resolve(central)
        self.batch_size = int(batch_size)
        self.progress = progress
        self.hook = hook
        self._lock = threading.Lock()
        self._last: SyncResult | None = None

    # --- local bookkeeping ----------------------------------------------------------------------
    def _state(self, key: str) -> str | None:
        return self.ledger.get(key)

    def _last_seq(self) -> int:
        return self.ledger.last_seq()

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

    def held(self) -> list[dict]:
        """Rows the central refused, held back on this chair (for the status line)."""
        return self.ledger.held()

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

    def _result(self, error: str | None, **kw) -> SyncResult:
        tally = self._tally
        return SyncResult(tally["pushed"], tally["pulled"], self.pending_count(), error,
                          kw.pop("last", None) or self.last_sync_at(), kw.pop("offset", None),
                          refused_rows=tuple(self.ledger.held()), ignored=tuple(tally["ignored"]),
                          awaiting_admin=tally["awaiting_admin"], history_conflict=self.store.history_conflict,
                          resent=tally["resent"], **kw)

    def _run(self, progress: Progress | None) -> SyncResult:
        self._tally = tally = {"pushed": 0, "pulled": 0, "ignored": [], "awaiting_admin": 0, "resent": 0}
        offset: float | None = None
        self._emit(progress, "connect", 0, 1)
        try:
            conn = connect(self.central)
        except CentralRefused as exc:
            return self._result(str(exc), refused=True)
        try:
            try:
                meta = read_meta(conn, self.central)
                self.admin = self._identify(conn)
            except CentralRefused as exc:
                return self._result(str(exc), refused=True)
            central_id = meta["central_id"]
            offset, server_now = self._clock_offset(conn)
            self._emit(progress, "connect", 1, 1)
            tally["pulled"] = self._pull(conn, central_id, progress)
            tally["ignored"] = [r for r in unvouched(conn) if r["device_id"] != self.store.device_id]
            self._record_time(central_id, offset, server_now, tally["pulled"])
            if self.store.history_conflict:
                return self._result(self.store.history_conflict, offset=offset)
            self._check_history(conn)
            self.store.seal_readings(force=False)  # readings of finished minutes go up as their blocks
            self._push(conn, central_id, progress)
            self._check_gaps(conn, central_id)
            self.ledger.put({"last_sync_at": server_now.isoformat()})
            self._emit(progress, "done", 1, 1)
            return self._result(None, last=server_now, offset=offset)
        except ForkFound as exc:
            self.ledger.set_conflict(str(exc))
            self.store.audit("sync-refused", None, {"reason": "history-conflict"}, author=SYSTEM_AUTHOR)
            return self._result(self.store.history_conflict, offset=offset)
        except ReplayMismatch as exc:
            self.store.audit("sync-refused", None, {"reason": "replay-mismatch"})
            return self._result(str(exc), offset=offset)
        except (psycopg.Error, OSError) as exc:
            pushed, pulled = tally["pushed"], tally["pulled"]
            message = (
                f"the connection to the central database {self.central.display()} failed during sync "
                f"({redact(_first_line(exc), self.central)}); {pushed} row(s) were pushed and {pulled} pulled "
                "before that, and the rest will follow at the next sync"
            )
            return self._result(message, offset=offset)
        finally:
            try:
                conn.close()
            except Exception:
                pass

    def _identify(self, conn: psycopg.Connection) -> bool:
        """True for an admin login; a chair login must be enrolled for this very device."""
        admin, device = whoami(conn)
        if admin:
            return True
        if device is None:
            raise CentralRefused(
                f"the login {self.central.display()} is not enrolled as a chair. An admin runs "
                "`ketachart central enroll-chair --central URL --name NAME` on this chair. Nothing was changed."
            )
        if device != self.store.device_id:
            raise CentralRefused(
                f"the login {self.central.display()} is enrolled for device {device}, not for this chart's device "
                f"{self.store.device_id}: it may only send that chair's rows. Nothing was changed."
            )
        return False

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
        self.ledger.put({
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
        about: dict[str, list[tuple]] = {}
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        try:
            with conn.transaction():
                # First statement of the transaction: it takes the snapshot the reads below share.
                horizon = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text").fetchone()[0]
                for i, (table, condition) in enumerate(PULL_TABLES):
                    cols = chart_columns(table)
                    if table in ADMIN_TABLES:
                        # Only what an admin login vouched for; a vouch given later brings an older row.
                        vouch_join = sql.SQL("JOIN {} v ON v.tbl = {} AND v.id = t.id").format(
                            sql.Identifier(SCHEMA, "vouches"), sql.Literal(table))
                        since = sql.SQL("(t.txid >= %(w)s::xid8 OR v.txid >= %(w)s::xid8)")
                        vouched_by = sql.SQL("v.vouched_by")
                    else:
                        vouch_join, since, vouched_by = sql.SQL(""), sql.SQL("t.txid >= %(w)s::xid8"), sql.SQL("NULL")
                    query = sql.SQL(
                        "SELECT {cols}, p.row_hash, {vouched_by} FROM {t} t {vouch_join} "
                        "LEFT JOIN {seqs} p ON p.device_id = t.device_id AND p.device_seq = t.device_seq - 1 "
                        "WHERE {since} AND t.device_id <> %(me)s{extra} ORDER BY t.txid, t.id"
                    ).format(
                        cols=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in cols),
                        vouched_by=vouched_by, t=sql.Identifier(SCHEMA, table), vouch_join=vouch_join,
                        seqs=sql.Identifier(SCHEMA, "device_seqs"), since=since,
                        extra=sql.SQL(f" AND t.{condition}" if condition else ""),
                    )
                    rows = conn.execute(query, {"w": watermark, "me": self.store.device_id}).fetchall()
                    n, at = len(cols), cols.index("id")
                    fetched[table] = [r[:n] for r in rows]
                    about[table] = [(r[at], r[n], r[n + 1]) for r in rows]
                    self._emit(progress, "pull", i + 1, len(PULL_TABLES))
        finally:
            conn.isolation_level = None
            conn.read_only = None
        return self.ledger.insert_pulled(fetched, about, {key: horizon})

    # --- history ----------------------------------------------------------------------------------
    def _head(self, conn: psycopg.Connection) -> tuple[int, int, str | None]:
        """(rows the central holds for this device, its highest device_seq, that row's hash)."""
        row = conn.execute(sql.SQL(
            "SELECT h.n, h.max_seq, s.row_hash FROM {} h LEFT JOIN {} s ON s.device_id = h.device_id "
            "AND s.device_seq = h.max_seq WHERE h.device_id = %s").format(
            sql.Identifier(SCHEMA, "device_heads"), sql.Identifier(SCHEMA, "device_seqs")),
            (self.store.device_id,)).fetchone()
        return (0, 0, None) if row is None else (int(row[0]), int(row[1]), row[2])

    def _check_history(self, conn: psycopg.Connection) -> None:
        """The central's newest row of this device must be in this file, unchanged (else: ForkFound)."""
        _, top, top_hash = self._head(conn)
        if top == 0:
            return
        last = self._last_seq()
        if top > last:
            raise ForkFound(
                f"this chart file ends at row {last} but the central already holds row {top} of this chair: the "
                "file is an older copy (put back from a backup?). Pushing it would fork the record")
        mine = self.ledger.row_hash_at(top)
        if mine != top_hash:
            raise ForkFound(
                f"row {top} of this chair differs from the central's copy: this file's history diverges from what "
                "the central holds. Pushing it would fork the record")

    def _check_gaps(self, conn: psycopg.Connection, central_id: str) -> None:
        """After the push: the central must hold every row up to the cursor, except those held back here and
        (for a chair login) users/policy rows waiting for an admin. Missing ones are sent again."""
        cursor = int(self._state(self._push_key(central_id)) or 0)
        admin_rows = self.ledger.own_rows_of(ADMIN_TABLES)
        on_central = set()
        for table in ADMIN_TABLES:
            on_central.update(r[0] for r in conn.execute(sql.SQL("SELECT id FROM {} WHERE device_id = %s").format(
                sql.Identifier(SCHEMA, table)), (self.store.device_id,)))
        waiting = [(t, i, s) for t, i, s in admin_rows if i not in on_central and s <= cursor]
        held = {h["device_seq"] for h in self.ledger.held()}
        if self.admin and waiting:
            self._send_seqs(conn, [s for _, _, s in waiting if s not in held])
            waiting = []
        self._tally["awaiting_admin"] = sum(1 for t, i, s in waiting if not _seed_policy(t, s))
        n, _, _ = self._head(conn)
        excused = held | {s for _, _, s in waiting}
        expected = cursor - len({s for s in excused if s <= cursor})
        if n >= expected:
            return
        missing = [r[0] for r in conn.execute(sql.SQL(
            "SELECT g FROM generate_series(1, %s::bigint) g WHERE NOT EXISTS "
            "(SELECT 1 FROM {} s WHERE s.device_id = %s AND s.device_seq = g)").format(
            sql.Identifier(SCHEMA, "device_seqs")), (cursor, self.store.device_id))]
        missing = [s for s in missing if s not in excused]
        if missing:
            self._tally["resent"] += self._send_seqs(conn, missing)
            self.store.audit("sync-resent", f"central:{central_id}", {"rows": len(missing)}, author=SYSTEM_AUTHOR)

    def _send_seqs(self, conn: psycopg.Connection, seqs: list[int]) -> int:
        batch = self.ledger.read_own_seqs(seqs)
        return self._send(conn, batch, set(), {"backend_pid": conn.info.backend_pid, "batch": -1, "hi": max(seqs)})

    # --- push -----------------------------------------------------------------------------------
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

    def _commit_batch(self, conn: psycopg.Connection, batch: dict[str, list[tuple]], info: dict) -> None:
        """One server transaction: COPY into staging, move with ON CONFLICT (id) DO NOTHING, check replays."""
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

    def _send(self, conn: psycopg.Connection, batch: dict[str, list[tuple]], staged: set[str], info: dict) -> int:
        """Send ``batch``; a row the central refuses is held back (found by halving) and the rest goes on.
        Returns the rows sent or held."""
        if not batch:
            return 0
        self._ensure_staging(conn, batch, staged)
        try:
            self._commit_batch(conn, batch, info)
            return sum(len(r) for r in batch.values())
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "device_seqs_pkey":
                raise ForkFound(
                    "the central already holds other rows under this chair's device_seq numbers: this file's "
                    "history diverges from what the central holds") from None
            refusal = exc
        except ROW_REFUSALS as exc:
            refusal = exc
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise refusal
        items = [(t, r) for t, rows in batch.items() for r in rows]
        if len(items) == 1:
            table, row = items[0]
            cols = chart_columns(table)
            reason = redact(_first_line(refusal), self.central)
            self.ledger.hold([(table, row[cols.index("id")], row[cols.index("device_seq")], reason)])
            return 1
        half = len(items) // 2
        done = 0
        for part in (items[:half], items[half:]):
            sub: dict[str, list[tuple]] = {}
            for t, r in part:
                sub.setdefault(t, []).append(r)
            done += self._send(conn, sub, staged, info)
        return done

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
            batch = self.ledger.read_own(cursor, hi)
            count = sum(len(r) for r in batch.values())
            if count != hi - cursor:
                raise RuntimeError(
                    f"this chair's rows {cursor + 1}..{hi} are incomplete locally ({count} of {hi - cursor} found); "
                    "run `ketachart verify` - the chart file may have been damaged"
                )
            if not self.admin:
                for table in ADMIN_TABLES:  # the central refuses them from a chair login: they wait for an admin
                    batch.pop(table, None)
            info = {"backend_pid": conn.info.backend_pid, "batch": batch_no, "hi": hi}
            self._send(conn, batch, staged, info)
            # The server has committed this batch; only now may the cursor move.
            if self.hook:
                self.hook("batch-committed", info)
            self.ledger.put({key: str(hi)})
            pushed += hi - cursor
            self._tally["pushed"] = pushed
            cursor = hi
            batch_no += 1
            self._emit(progress, "push", pushed, total)
        return pushed


def _seed_policy(table: str, seq: int) -> bool:
    """The clinic defaults every new chart file starts with (its first rows) need no admin."""
    return table == "policy_versions" and seq == 1

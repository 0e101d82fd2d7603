"""The sync ledger: what the sync service reads from and writes to this chart file, under the store's own lock.

The sync package owns no lock of the store and runs no SQL here: it asks for this device's rows by
device_seq, stores pulled rows (never through ``_append``: they keep their device, seq and hash) with what
the central said about them, keeps its cursors in ``sync_state``, holds rows the central refused, and records
a history conflict that stops charting (:class:`~ketachart.store.errors.HistoryConflict`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from sqlalchemy import insert, select

from .models import CHART_TABLES, MODEL_BY_TABLE, DeviceCounter, PulledRow, SyncHeld, SyncState

if TYPE_CHECKING:
    from .repository import ChartStore

CONFLICT_KEY = "history_conflict"


def columns(table: str) -> list[str]:
    return [c.name for c in MODEL_BY_TABLE[table].__table__.columns]


class SyncLedger:
    def __init__(self, store: "ChartStore") -> None:
        self.store = store

    # --- state ----------------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        with self.store.engine.connect() as conn:
            value = conn.execute(select(SyncState.value).where(SyncState.key == key)).scalar()
            conn.rollback()
        return value

    def put(self, values: dict[str, str]) -> None:
        with self.store._write_lock, self.store.engine.begin() as conn:
            self._put(conn, values)

    @staticmethod
    def _put(conn, values: dict[str, str]) -> None:  # noqa: ANN001
        for key, value in values.items():
            conn.exec_driver_sql(
                "INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def conflict(self) -> str | None:
        return self.get(CONFLICT_KEY)

    def set_conflict(self, reason: str) -> None:
        """Stop charting on this chair (every write but the audit trail) until an admin resolves it."""
        self.put({CONFLICT_KEY: reason})
        self.store.history_conflict = reason

    # --- this device's rows ---------------------------------------------------------------------
    def last_seq(self) -> int:
        with self.store.engine.connect() as conn:
            seq = conn.execute(
                select(DeviceCounter.last_seq).where(DeviceCounter.device_id == self.store.device_id)
            ).scalar_one()
            conn.rollback()
        return int(seq)

    def read_own(self, lo: int, hi: int) -> dict[str, list[tuple]]:
        """This device's rows with lo < device_seq <= hi, per table, as stored (SQLite text times, 0/1)."""
        return self._read("device_seq > ? AND device_seq <= ?", (lo, hi))

    def read_own_seqs(self, seqs: Iterable[int]) -> dict[str, list[tuple]]:
        seqs = sorted(set(seqs))
        out: dict[str, list[tuple]] = {}
        for i in range(0, len(seqs), 500):
            part = seqs[i:i + 500]
            got = self._read(f"device_seq IN ({', '.join('?' * len(part))})", tuple(part))
            for table, rows in got.items():
                out.setdefault(table, []).extend(rows)
        return out

    def _read(self, where: str, params: tuple) -> dict[str, list[tuple]]:
        raw = self.store.engine.raw_connection()
        try:
            cur = raw.cursor()
            out: dict[str, list[tuple]] = {}
            for table in CHART_TABLES:
                cols = ", ".join(f'"{c}"' for c in columns(table))
                cur.execute(f"SELECT {cols} FROM {table} WHERE device_id = ? AND {where}",
                            (self.store.device_id, *params))
                rows = cur.fetchall()
                if rows:
                    out[table] = rows
            cur.close()
            raw.rollback()
        finally:
            raw.close()
        return out

    def own_rows_of(self, tables: Iterable[str]) -> list[tuple[str, str, int]]:
        """(table, id, device_seq) of this device's rows in ``tables`` (small tables: users, policy)."""
        out = []
        with self.store.engine.connect() as conn:
            for table in tables:
                t = MODEL_BY_TABLE[table].__table__
                out.extend((table, r[0], r[1]) for r in conn.execute(
                    select(t.c.id, t.c.device_seq).where(t.c.device_id == self.store.device_id)))
            conn.rollback()
        return out

    def row_hash_at(self, seq: int) -> str | None:
        """The stored hash of this device's row ``seq`` (None if the file has no such row)."""
        with self.store.engine.connect() as conn:
            for table in CHART_TABLES:
                h = conn.exec_driver_sql(f"SELECT row_hash FROM {table} WHERE device_id = ? AND device_seq = ?",
                                         (self.store.device_id, seq)).scalar()
                if h is not None:
                    conn.rollback()
                    return h
            conn.rollback()
        return None

    # --- held rows ------------------------------------------------------------------------------
    def hold(self, rows: Iterable[tuple[str, str, int, str]]) -> None:
        rows = [dict(table_name=t, row_id=i, device_seq=s, reason=r) for t, i, s, r in rows]
        if rows:
            with self.store._write_lock, self.store.engine.begin() as conn:
                conn.execute(insert(SyncHeld).prefix_with("OR IGNORE"), rows)

    def held(self) -> list[dict]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(SyncHeld.table_name, SyncHeld.row_id, SyncHeld.device_seq, SyncHeld.reason)
                                .order_by(SyncHeld.device_seq)).all()
            conn.rollback()
        return [{"table": r[0], "id": r[1], "device_seq": r[2], "reason": r[3]} for r in rows]

    # --- pulled rows ----------------------------------------------------------------------------
    def insert_pulled(self, fetched: dict[str, list[tuple]], about: dict[str, list[tuple]],
                      state: dict[str, str]) -> int:
        """Store rows pulled from the central (INSERT OR IGNORE by id) with ``about`` = (id, prev_hash,
        vouched_by) per row, and the new cursor ``state``, in one transaction. Returns rows newly stored."""
        inserted = 0
        with self.store._write_lock, self.store.engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
            for table, rows in fetched.items():
                if not rows:
                    continue
                cols = columns(table)
                stmt = insert(MODEL_BY_TABLE[table].__table__).prefix_with("OR IGNORE")
                result = conn.execute(stmt, [dict(zip(cols, r)) for r in rows])
                inserted += max(0, result.rowcount or 0)
                conn.execute(insert(PulledRow).prefix_with("OR IGNORE"), [
                    dict(table_name=table, row_id=i, prev_hash=p, vouched_by=v) for i, p, v in about[table]])
            self._put(conn, state)
        return inserted

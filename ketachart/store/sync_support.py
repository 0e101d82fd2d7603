"""Small, additive helpers the sync package needs from the store (no change to the write path).

``ensure_sync_indexes`` adds an index on ``(device_id, device_seq)`` to every chart table so the outbox can
read "this device's rows with device_seq in (a, b]" without scanning a table of millions of readings. An index
is not chart data: adding one changes no row, no hash and no trigger, and ``IF NOT EXISTS`` makes it
idempotent. (A later store migration may adopt these indexes; the names are stable.)
"""

from __future__ import annotations

from sqlalchemy import Engine

from .models import CHART_TABLES


def sync_index_name(table: str) -> str:
    return f"ix_{table}_device_seq"


def ensure_sync_indexes(engine: Engine) -> bool:
    """Create the outbox indexes where missing; returns True when at least one was created."""
    with engine.connect() as conn:
        have = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")}
        conn.rollback()
    missing = [t for t in CHART_TABLES if sync_index_name(t) not in have]
    if not missing:
        return False
    with engine.begin() as conn:
        for table in missing:
            conn.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS {sync_index_name(table)} ON {table} (device_id, device_seq)"
            )
    return True

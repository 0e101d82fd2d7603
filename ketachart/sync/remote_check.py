"""``verify`` against the central: this chair's chain head and the users/policy rows it trusts.

A key holder can rewrite a chart file consistently (hashes recomputed, counter lowered), which no check
inside the file can see; the central's copy of this device's chain can: its highest device_seq must be in the
file with the same hash, and every users/policy row of another device in the file must be on the central
with an admin's vouch.
"""

from __future__ import annotations

from psycopg import sql

from ..store.repository import ChartStore
from .central import ADMIN_TABLES, SCHEMA, connect, read_meta
from .config import CentralConfig


def central_problems(store: ChartStore, cfg: CentralConfig) -> list[str]:
    """Problems found by comparing with the central (raises CentralRefused when it cannot be reached)."""
    problems: list[str] = []
    conn = connect(cfg)
    try:
        read_meta(conn, cfg)
        row = conn.execute(sql.SQL(
            "SELECT h.max_seq, s.row_hash FROM {} h JOIN {} s ON s.device_id = h.device_id AND s.device_seq = h.max_seq "
            "WHERE h.device_id = %s").format(sql.Identifier(SCHEMA, "device_heads"), sql.Identifier(SCHEMA, "device_seqs")),
            (store.device_id,)).fetchone()
        last = store.sync_ledger.last_seq()
        if row:
            top, top_hash = int(row[0]), row[1]
            if top > last:
                problems.append(f"the central holds this chair's rows up to {top} but the file ends at {last} - rows "
                                "were removed from the end of the chart")
            elif store.sync_ledger.row_hash_at(top) != top_hash:
                problems.append(f"row {top} of this chair differs from the central's copy - the chart was rewritten")
        for table in ADMIN_TABLES:
            vouched = {r[0]: r[1] for r in conn.execute(sql.SQL(
                "SELECT t.id, t.row_hash FROM {} t JOIN {} v ON v.tbl = %s AND v.id = t.id").format(
                sql.Identifier(SCHEMA, table), sql.Identifier(SCHEMA, "vouches")), (table,))}
            for rid, device, row_hash in store.foreign_rows(table):
                if vouched.get(rid) != row_hash:
                    problems.append(f"{table} row {rid} of device {device} is not on the central with an admin's "
                                    "vouch - it was put into the file by hand")
    finally:
        conn.close()
    return problems

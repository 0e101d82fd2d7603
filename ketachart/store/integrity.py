"""Finding a chart file that was changed outside KetaChart, even by someone holding its key.

- **This device's chain**: gap-free device_seq 1..``device_counter.last_seq``, each row hashed over the one
  before, the first over the genesis that binds the device id (schema 4 on; older files: the legacy empty
  genesis, ``store_meta.chain_genesis``), the counter's last hash equal to the last row's.
- **Every other device's rows** (pulled from the central): each must have been received (``pulled_rows``), and
  is re-hashed over its predecessor (the row before it in the file, or the previous hash the central sent
  with it). Users and policy rows of another device must carry the central's vouch.
- **The sync cursors**: the central acknowledged rows up to the push cursor, so a file ending below it lost
  its tail (the "delete the tail and lower device_counter" edit).
- The **triggers** are checked by their SQL text (in ``open.verify_store``), not by their names.

What a key holder can still rewrite consistently (a whole chain re-hashed) is found by comparing the chain
head with the central's copy: ``ketachart verify`` does that when the central is reachable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from .hashing import GENESIS_LEGACY, chain_hash, genesis_hash
from .models import CHART_MODELS, MODEL_BY_TABLE, DeviceCounter, PulledRow, SyncState

if TYPE_CHECKING:
    from .repository import ChartStore

ADMIN_TABLES = ("users", "policy_versions")


def verify_chains(store: "ChartStore", tail: int | None = None) -> list[str]:
    problems: list[str] = []
    own = store.device_id
    with store.engine.connect() as conn:
        counter = conn.execute(select(DeviceCounter).where(DeviceCounter.device_id == own)).one_or_none()
        if counter is None:
            conn.rollback()
            return [f"this file's device {own} has no counter - store_meta.device_id was changed"]
        first = 1 if tail is None else max(1, counter.last_seq - tail + 1)
        own_rows: list[tuple[int, str, dict]] = []
        foreign: dict[str, list[tuple[int, str, dict]]] = {}
        for model in CHART_MODELS:
            table = model.__table__
            if tail is None:
                stmt = select(table)
            else:
                stmt = select(table).where(table.c.device_id == own, table.c.device_seq >= first - 1)
            for r in conn.execute(stmt):
                row = dict(r._mapping)
                item = (r.device_seq, table.name, row)
                if r.device_id == own:
                    own_rows.append(item)
                else:
                    foreign.setdefault(r.device_id, []).append(item)
        pulled = {(t, i): (p, v) for t, i, p, v in conn.execute(
            select(PulledRow.table_name, PulledRow.row_id, PulledRow.prev_hash, PulledRow.vouched_by))} \
            if tail is None else {}
        cursors = [int(v) for k, v in conn.execute(select(SyncState.key, SyncState.value))
                   if k.endswith(":push_seq") and v.isdigit()]
        conn.rollback()
    problems.extend(_own_chain(store, counter, own_rows, first))
    if cursors and max(cursors) > counter.last_seq:
        problems.append(
            f"the central acknowledged this chair's rows up to {max(cursors)} but the file ends at "
            f"{counter.last_seq} - rows were removed from the end of the chart")
    for device, rows in foreign.items():
        problems.extend(_foreign_chain(device, rows, pulled))
    return problems


def _own_chain(store: "ChartStore", counter, rows: list[tuple[int, str, dict]], first: int) -> list[str]:  # noqa: ANN001
    problems: list[str] = []
    rows.sort(key=lambda t: t[0])
    prev, expected_seq = store.genesis, first
    if rows and first > 1:
        if rows[0][0] == first - 1:
            prev = rows.pop(0)[2]["row_hash"]
        else:
            problems.append(f"device_seq {first - 1} is missing - a row was removed")
    for seq, table_name, row in rows:
        if seq != expected_seq:
            if seq < expected_seq:
                problems.append(f"device_seq {seq} appears twice ({table_name} row {row['id']}) - a row was added")
                continue
            problems.append(f"device_seq {expected_seq} is missing (next found: {seq}) - a row was removed")
            expected_seq = seq
        want = chain_hash(prev, MODEL_BY_TABLE[table_name].__table__, row)
        if want != row["row_hash"]:
            problems.append(f"{table_name} row {row['id']} (seq {seq}) does not match its hash - it was edited")
        prev, expected_seq = row["row_hash"], expected_seq + 1
    if counter.last_seq != expected_seq - 1:
        problems.append(f"the last {counter.last_seq - expected_seq + 1} row(s) are missing")
    elif rows and counter.last_hash != prev:
        problems.append("the device counter's last hash does not match the last row - the chart was rewritten")
    return problems


def _foreign_chain(device: str, rows: list[tuple[int, str, dict]], pulled: dict) -> list[str]:
    problems: list[str] = []
    rows.sort(key=lambda t: t[0])
    prev_seq, prev_hash = None, None
    for seq, table_name, row in rows:
        about = pulled.get((table_name, row["id"]))
        if about is None:
            problems.append(f"{table_name} row {row['id']} of device {device} was not received from the central - "
                            "it was put into the file by hand")
            prev_seq, prev_hash = seq, row["row_hash"]
            continue
        sent_prev, vouched_by = about
        if table_name in ADMIN_TABLES and not vouched_by:
            problems.append(f"{table_name} row {row['id']} of device {device} has no vouch from the central - it is "
                            "ignored")
        if prev_seq is not None and seq == prev_seq + 1:
            candidates = [prev_hash]
        elif sent_prev is not None:
            candidates = [sent_prev]
        elif seq == 1:
            candidates = [genesis_hash(device), GENESIS_LEGACY]
        else:
            candidates = []  # pulled before schema 4 (legacy): cannot be re-hashed here
        table = MODEL_BY_TABLE[table_name].__table__
        if candidates and all(chain_hash(c, table, row) != row["row_hash"] for c in candidates):
            problems.append(f"{table_name} row {row['id']} of device {device} (seq {seq}) does not match its hash - "
                            "it was edited")
        prev_seq, prev_hash = seq, row["row_hash"]
    return problems

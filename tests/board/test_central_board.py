"""The board's central objects: heartbeats, NOTIFY from the insert path, the read-only board role."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import sql

from ketachart.domain.clock import FakeClock
from ketachart.sync.central import SCHEMA, init_central
from ketachart.sync.central_board import BOARD_INDEXES, CHANNEL, HEARTBEAT_UPSERT, HEARTBEATS, NOTIFY_TABLES
from ketachart.sync.config import CentralConfig
from ketachart.sync.live import LivePush
from ketachart.sync.service import SyncService

from .scenario import start_infusion


def _tables(conn) -> list[str]:
    return [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (SCHEMA,))]


def test_board_role_reads_what_the_board_needs_and_writes_nothing(central, board_url):
    with central.admin() as admin:
        tables = _tables(admin)
        first_column = dict(admin.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
            "AND ordinal_position = 1", (SCHEMA,)).fetchall())
    assert HEARTBEATS in tables and "vital_readings" in tables
    with psycopg.connect(board_url, autocommit=True) as board:
        for table in ("sessions", "session_events", "vital_readings", "alerts", "alert_acks", "patients", HEARTBEATS):
            board.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, table)))
        for table in ("users", "audit_events"):  # password hashes and the audit trail are not the board's
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                board.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, table)))
        refused = 0
        for table in tables:
            qt = sql.Identifier(SCHEMA, table)
            for stmt in (sql.SQL("INSERT INTO {} DEFAULT VALUES").format(qt),
                         sql.SQL("UPDATE {} SET {} = NULL").format(qt, sql.Identifier(first_column[table])),
                         sql.SQL("DELETE FROM {}").format(qt),
                         sql.SQL("TRUNCATE {}").format(qt)):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    board.execute(stmt)
                refused += 1
        assert refused == 4 * len(tables)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            board.execute(sql.SQL("CREATE TABLE {} (x int)").format(sql.Identifier(SCHEMA, "board_owned")))


def test_init_is_idempotent_and_creates_the_board_indexes(central):
    init_central(CentralConfig(central.admin_url))  # a second run repairs, never fails
    with central.admin() as admin:
        names = {r[0] for r in admin.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (SCHEMA,))}
        triggers = admin.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'board_notify' AND NOT tgisinternal").fetchone()[0]
    assert set(BOARD_INDEXES) <= names
    assert triggers == len(NOTIFY_TABLES)  # the chart tables, patient_links (issue 13), reading_blocks (issue 17)


def test_a_push_notifies_the_board_once_per_table_with_the_device_id(central, make_chair, chair_url):
    store = make_chair("c1", FakeClock())
    start_infusion(store, "Chair 1", "MRN-1", minutes_of_vitals=30)  # 3,600 readings in one push
    with central.admin() as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        result = SyncService(store, chair_url(store)).run_once()
        assert result.error is None and result.pushed > 30  # the readings go up as 30 per-minute blocks
        notes = list(listener.notifies(timeout=2.0, stop_after=100))
    payloads = [n.payload for n in notes]
    assert set(payloads) == {store.device_id}
    assert len(payloads) <= 10  # one per statement-level trigger per transaction, not one per row


def test_heartbeat_time_is_the_servers_whatever_the_chair_claims(central, make_chair, chair_url):
    chair_clock = FakeClock(datetime(2030, 1, 1, tzinfo=timezone.utc))  # a chair years ahead
    store = make_chair("c1", chair_clock)
    url = chair_url(store, "chair-7")
    live = LivePush(SyncService(store, url), chair_name="chair-7", device_states=lambda: {"monitor": "connected"})
    assert live.heartbeat()
    with psycopg.connect(url, autocommit=True) as chair:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            chair.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(SCHEMA, HEARTBEATS)))
        chair.execute(sql.SQL("UPDATE {} SET heard_at = %s").format(sql.Identifier(SCHEMA, HEARTBEATS)),
                      (datetime(2031, 1, 1, tzinfo=timezone.utc),))
        chair.execute(HEARTBEAT_UPSERT, (store.device_id, "chair-7", "x", "{}", None, chair_clock.now()))
    with central.admin() as admin:
        heard, server_now, name, chair_time = admin.execute(sql.SQL(
            "SELECT heard_at, clock_timestamp(), chair, chair_time FROM {}").format(
            sql.Identifier(SCHEMA, HEARTBEATS))).fetchone()
    assert name == "chair-7" and chair_time == chair_clock.now()
    assert abs(server_now - heard) < timedelta(seconds=30)


def test_an_enrolled_chair_reports_only_its_own_heartbeat(central, make_chair, chair_url):
    if not hasattr(central, "url_for"):
        pytest.skip("needs issue 13's chair enrolment on the central")
    a, b = make_chair("a", FakeClock()), make_chair("b", FakeClock())
    chair_url(b, "chair-b")
    with psycopg.connect(chair_url(a, "chair-a"), autocommit=True) as chair:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            chair.execute(HEARTBEAT_UPSERT, (b.device_id, "chair-b", "x", "{}", None, a.clock.now()))
        chair.execute(HEARTBEAT_UPSERT, (a.device_id, "chair-a", "x", "{}", None, a.clock.now()))

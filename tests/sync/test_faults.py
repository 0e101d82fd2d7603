"""Faults against the real server: killed connections, a restart, replays, concurrent chairs, out-of-order commits.

After each: the central database holds exactly the union of the chairs' rows, every chair holds every other
chair's shared rows exactly once, and nothing local was lost (see helpers.assert_converged).
"""

from __future__ import annotations

import threading
from collections import Counter

import psycopg
import pytest
from psycopg import sql

from ketachart.domain.clock import FakeClock
from ketachart.store.models import Patient, SyncState
from ketachart.sync.central import SCHEMA
from ketachart.sync.service import SyncService

from .helpers import assert_converged, chart_small_session


class SimulatedCrash(Exception):
    """The chair process dying at a chosen point (after the server committed, before the local cursor moved)."""


def _txids(central, table: str) -> dict[str, str]:
    with central.admin() as conn:
        return dict(conn.execute(sql.SQL("SELECT id, txid::text FROM {}").format(sql.Identifier(SCHEMA, table))).fetchall())


def _sync_until_clean(services: list[SyncService], totals: Counter | None = None, rounds: int = 2) -> None:
    for _ in range(rounds):
        for s in services:
            result = s.run_once()
            assert result.error is None, result.error
            if totals is not None:
                totals[s.store.device_id] += result.pulled


def test_connection_killed_mid_batch_then_resumed(central, make_chair):
    chair = make_chair("a")
    chart_small_session(chair, "A", readings=200)
    killed = []

    def kill_during_third_batch(stage: str, info: dict) -> None:
        if stage == "batch-staged" and info["batch"] == 2 and not killed:
            with central.admin() as admin:  # another session ends ours while its transaction is open
                assert admin.execute("SELECT pg_terminate_backend(%s)", (info["backend_pid"],)).fetchone()[0]
            killed.append(info)

    service = SyncService(chair, central.url_for(chair), batch_size=25, hook=kill_during_third_batch)
    pending = service.pending_count()
    result = service.run_once()
    assert killed and result.error and "failed during sync" in result.error
    assert result.pushed == 50  # two whole batches acknowledged; the third was rolled back by the server
    assert sum(central.count(t) for t in ("reading_blocks", "patients", "sessions", "observations",
                                          "session_events", "dose_administrations", "courses", "audit_events",
                                          "policy_versions", "users")) == 50 - 1  # policy v1 waits for an admin
    assert service.pending_count() == pending + 1 - 50  # + the sync audit event written this pass
    service.hook = None
    again = service.run_once()
    assert again.error is None and again.pending == 0
    assert_converged(central, [chair])


def test_crash_after_server_commit_replays_the_same_batch_harmlessly(central, make_chair):
    chair = make_chair("a")
    chart_small_session(chair, "A", readings=120)

    def crash_after_second_commit(stage: str, info: dict) -> None:
        if stage == "batch-committed" and info["batch"] == 1:
            raise SimulatedCrash()

    service = SyncService(chair, central.url_for(chair), batch_size=30, hook=crash_after_second_commit)
    with pytest.raises(SimulatedCrash):
        service.run_once()
    # the server has batches 0 and 1, the chair's cursor only acknowledges batch 0
    assert service.pending_count() == chair_total(chair) - 30
    first_txids = _txids(central, "reading_blocks")
    service.hook = None
    result = service.run_once()
    assert result.error is None and result.pending == 0
    # batch 1 went up again; the server kept the first copy of every row (same transaction ids)
    after = _txids(central, "reading_blocks")
    assert {k: after[k] for k in first_txids} == first_txids
    assert_converged(central, [chair])


def chair_total(chair) -> int:
    with chair.engine.connect() as conn:
        n = conn.exec_driver_sql("SELECT last_seq FROM device_counter WHERE device_id = ?", (chair.device_id,)).scalar_one()
        conn.rollback()
    return n


def test_whole_outbox_replayed_from_scratch_changes_nothing_central(central, make_chair):
    a, b = make_chair("a"), make_chair("b")
    chart_small_session(a, "A", readings=80)
    chart_small_session(b, "B", readings=10)
    sa, sb = SyncService(a, central.url_for(a), batch_size=16), SyncService(b, central.url_for(b))
    totals = Counter()
    _sync_until_clean([sa, sb], totals)
    before = central.all_rows()
    txids = _txids(central, "reading_blocks")
    # forget every acknowledgement and every pull watermark (bookkeeping only), then sync again
    with a.engine.begin() as conn:
        conn.execute(SyncState.__table__.delete().where(SyncState.key.like("central:%")))
    replay = sa.run_once()
    assert replay.error is None and replay.pushed >= 80 and replay.pulled == 0  # nothing stored twice locally
    assert _txids(central, "reading_blocks") == txids
    after = central.all_rows()
    new_audit = set(after["audit_events"]) - set(before["audit_events"])
    assert len(new_audit) <= 1 and {t: r for t, r in after.items() if t != "audit_events"} == {
        t: r for t, r in before.items() if t != "audit_events"}
    _sync_until_clean([sa, sb], totals)
    assert_converged(central, [a, b])


def test_server_restarted_during_sync(central, make_chair, pg_server):
    a, b = make_chair("a"), make_chair("b")
    chart_small_session(a, "A", readings=150)
    chart_small_session(b, "B", readings=20)
    restarted = []

    def restart_after_first_batch(stage: str, info: dict) -> None:
        if stage == "batch-committed" and info["batch"] == 0 and not restarted:
            pg_server.restart()
            restarted.append(True)

    sa = SyncService(a, central.url_for(a), batch_size=40, hook=restart_after_first_batch)
    result = sa.run_once()
    assert restarted
    assert result.error is not None and result.pushed == 40
    sa.hook = None
    sb = SyncService(b, central.url_for(b))
    totals = Counter({a.device_id: result.pulled})
    _sync_until_clean([sa, sb], totals)
    assert_converged(central, [a, b], totals)


def test_ten_chairs_push_at_once_while_others_pull(central, make_chair):
    pushers = [make_chair(f"p{i}") for i in range(10)]
    pullers = [make_chair(f"q{i}") for i in range(3)]
    for i, chair in enumerate(pushers):
        chart_small_session(chair, f"P{i}", readings=150)
    services = {c.device_id: SyncService(c, central.url_for(c), batch_size=20) for c in pushers + pullers}
    totals: Counter = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(pushers) + len(pullers))
    pushing_done = threading.Event()

    def run(service: SyncService, loop: bool) -> None:
        start.wait()
        while True:
            result = service.run_once()
            with lock:
                totals[service.store.device_id] += result.pulled
                if result.error:
                    errors.append(result.error)
            if not loop or pushing_done.is_set():
                return

    push_threads = [threading.Thread(target=run, args=(services[c.device_id], False)) for c in pushers]
    pull_threads = [threading.Thread(target=run, args=(services[c.device_id], True)) for c in pullers]
    for t in push_threads + pull_threads:
        t.start()
    for t in push_threads:
        t.join(60)
    pushing_done.set()
    for t in pull_threads:
        t.join(60)
    assert not errors
    assert all(s.pending_count() <= 1 for s in services.values())  # at most a fresh sync audit event
    _sync_until_clean(list(services.values()), totals)
    assert_converged(central, pushers + pullers, totals)
    assert central.count("reading_blocks") == 10 * 150


def test_pull_does_not_skip_rows_committed_out_of_order(central, make_chair):
    """A transaction that took its id first but commits last is still delivered (the identity-column trap)."""
    a, b, reader = make_chair("a"), make_chair("b"), make_chair("reader")
    chart_small_session(a, "A", readings=3)
    chart_small_session(b, "B", readings=3)
    patient_a = a.rows(Patient)[0]

    slow = psycopg.connect(central.url_for(a))  # not autocommit: holds a transaction open
    try:
        slow_xid = int(slow.execute("SELECT pg_current_xact_id()::text").fetchone()[0])
        cols = list(patient_a)
        slow.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(SCHEMA, "patients"), sql.SQL(", ").join(map(sql.Identifier, cols)),
            sql.SQL(", ").join(sql.Placeholder() * len(cols))), [patient_a[c] for c in cols])
        # b commits later transactions (higher ids) while the slow one is still open
        assert SyncService(b, central.url_for(b)).run_once().error is None
        with central.admin() as admin:
            b_txids = [int(r[0]) for r in admin.execute(sql.SQL("SELECT txid::text FROM {} WHERE device_id = %s").format(
                sql.Identifier(SCHEMA, "patients")), (b.device_id,))]
        assert min(b_txids) > slow_xid
        service = SyncService(reader, central.url_for(reader))
        first = service.run_once()
        assert first.error is None
        assert {p["device_id"] for p in reader.rows(Patient) if p["device_id"] != reader.device_id} == {b.device_id}
        slow.commit()  # the low transaction id commits only now
    finally:
        slow.close()
    second = service.run_once()
    assert second.error is None and second.pulled >= 1
    assert patient_a["id"] in {p["id"] for p in reader.rows(Patient)}
    # a's own push later replays that row harmlessly; everyone converges
    totals = Counter({reader.device_id: first.pulled + second.pulled})
    _sync_until_clean([SyncService(a, central.url_for(a)), SyncService(b, central.url_for(b)), service], totals)
    assert_converged(central, [a, b, reader], totals)


def test_chair_clock_a_day_ahead_under_concurrency_is_ordered_by_server_not_device(central, make_chair):
    ahead = FakeClock()
    ahead.set(ahead.now() + __import__("datetime").timedelta(days=1))
    behind = FakeClock()
    a, b = make_chair("ahead", ahead), make_chair("normal", behind)
    chart_small_session(a, "A", readings=30)
    sa = SyncService(a, central.url_for(a))
    assert sa.run_once().error is None
    # the normal chair writes later in real order, with device times a day *earlier* than the ahead chair's
    chart_small_session(b, "B", readings=30)
    sb = SyncService(b, central.url_for(b))
    totals = Counter()
    _sync_until_clean([sb, sa], totals)
    assert_converged(central, [a, b], None)
    with central.admin() as admin:
        order = admin.execute(sql.SQL(
            "SELECT device_id FROM {} ORDER BY txid, device_seq").format(sql.Identifier(SCHEMA, "sessions"))).fetchall()
    assert [r[0] for r in order] == [a.device_id, b.device_id]

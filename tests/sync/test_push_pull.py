"""Push and pull between chairs through a real central PostgreSQL, the CLI, conflicts, time and credentials."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import timedelta

import psycopg
import pytest
from psycopg import sql

from ketachart.cli import main
from ketachart.demo import write_demo_session
from ketachart.domain.clock import FakeClock
from ketachart.store.models import AuditEvent, Patient, ReadingBlock, Session, SyncState, VitalReading
from ketachart.sync.central import SCHEMA
from ketachart.sync.config import CentralConfig, CentralRefused
from ketachart.sync.central import CENTRAL_SCHEMA_VERSION
from ketachart.sync.service import SyncService

from .helpers import assert_converged, chart_small_session


def _dump(path) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def test_two_chairs_exchange_demo_sessions_through_the_cli(central, make_chair, tmp_path, capsys):
    a, b = make_chair("a"), make_chair("b")
    write_demo_session(a, seed=1)
    write_demo_session(b, seed=2)
    pa, pb = a.path, b.path
    urls = {pa: central.url_for(a), pb: central.url_for(b)}
    a.close(), b.close()

    def sync(path) -> dict:
        code = main(["sync", "--db", str(path), "--central", urls[path], "--unencrypted"])
        out = capsys.readouterr().out.strip().splitlines()
        assert code == 0
        return json.loads(out[-1])

    first_a = sync(pa)
    assert first_a["pulled"] == 0 and first_a["pending"] == 0 and 100 < first_a["pushed"] < 2000  # readings go up as per-minute blocks (issue 17)
    first_b = sync(pb)
    assert first_b["pulled"] > 0 and first_b["pending"] == 0
    second_a = sync(pa)
    assert second_a["pulled"] > 0  # b's patients, sessions, doses ...
    # Everyone is now up to date: another pass moves nothing.
    for path in (pb, pa):
        quiet = sync(path)
        assert (quiet["pushed"], quiet["pulled"], quiet["pending"], quiet["error"]) == (0, 0, 0, None)
    from ketachart.store.repository import ChartStore

    a, b = ChartStore.open(pa), ChartStore.open(pb)
    try:
        assert_converged(central, [a, b])
        # b's readings stayed central; its session and patient are known at a
        assert not [r for r in a.rows(ReadingBlock) if r["device_id"] == b.device_id]
        assert {p["mrn"] for p in a.patients()} == {"DEMO-0001", "DEMO-0002"} == {p["mrn"] for p in b.patients()}
        assert len(a.rows(Session)) == 2
    finally:
        a.close(), b.close()


def test_push_is_idempotent_and_resumes_from_the_cursor(central, make_chair):
    chair = make_chair("a")
    chart_small_session(chair, "A", readings=50)
    service = SyncService(chair, central.url_for(chair), batch_size=7)
    total = service.pending_count()
    assert total > 50
    first = service.run_once()
    # everything, plus the audit event recording this sync (and the server-clock offset)
    assert first.error is None and first.pushed == total + 1 and first.pending == 0
    again = service.run_once()
    assert (again.pushed, again.pulled, again.pending) == (0, 0, 0)
    chart_small_session(chair, "A2", readings=10)
    more = service.pending_count()
    assert service.run_once().pushed == more + 1
    assert central.count("reading_blocks") == 60
    assert_converged(central, [chair])


def test_pulled_rows_keep_their_identity_and_leave_the_local_chain_alone(central, make_chair):
    a, b = make_chair("a"), make_chair("b")
    chart_small_session(a, "A")
    SyncService(a, central.url_for(a)).run_once()
    before = b.verify_chain(), SyncService(b, central.url_for(b)).pending_count()
    with b.engine.connect() as conn:
        counter_before = conn.exec_driver_sql("SELECT * FROM device_counter").fetchall()
    result = SyncService(b, central.url_for(b)).run_once()
    assert result.pulled > 0
    with b.engine.connect() as conn:
        # only b's own counter row: pulled rows do not create or move counters
        assert conn.exec_driver_sql("SELECT device_id FROM device_counter").fetchall() == [(b.device_id,)]
        assert conn.exec_driver_sql("SELECT * FROM device_counter").fetchall()[0][0] == counter_before[0][0]
    assert b.verify_chain() == [] and before[0] == []
    theirs = [p for p in b.rows(Patient) if p["device_id"] == a.device_id]
    original = a.rows(Patient)[0]
    assert theirs == [original]  # device_id, device_seq, row_hash, times: exactly as written at a


def test_patient_edited_on_two_offline_chairs_keeps_both_versions(central, make_chair):
    a, b = make_chair("a", FakeClock()), make_chair("b", FakeClock())
    patient = a.create_patient("MRN-7", "Rivera", "Jordan", "1984-03-12", "female", 70.0)
    SyncService(a, central.url_for(a)).run_once()
    SyncService(b, central.url_for(b)).run_once()
    pid = patient["patient_id"]
    # both chairs go offline and correct the same patient differently
    a.clock.advance(60)
    b.clock.advance(120)
    a.amend(Patient, patient["id"], "new phone number", phone="555-0100")
    b.amend(Patient, patient["id"], "weighed today", weight_kg=72.5)
    for _ in range(2):
        for chair in (a, b):
            assert SyncService(chair, central.url_for(chair)).run_once().error is None
    assert_converged(central, [a, b])
    history_a = a.rows(Patient, patient_id=pid)
    history_b = b.rows(Patient, patient_id=pid)
    assert len(history_a) == 3 and {r["id"] for r in history_a} == {r["id"] for r in history_b}
    assert {r["reason"] for r in history_a} == {None, "new phone number", "weighed today"}
    current_a, current_b = a.patient(pid), b.patient(pid)
    assert current_a == current_b  # deterministic: same current version on every chair
    assert current_a["reason"] == "weighed today"  # the later recorded_at wins


def test_chair_whose_clock_is_a_day_ahead_still_syncs_everything(central, make_chair):
    ahead = FakeClock()
    ahead.set(ahead.now() + timedelta(days=1))
    a, b = make_chair("ahead", ahead), make_chair("b", FakeClock())
    chart_small_session(a, "A", readings=40)
    chart_small_session(b, "B", readings=40)
    sa, sb = SyncService(a, central.url_for(a)), SyncService(b, central.url_for(b))
    ra, rb = sa.run_once(), sb.run_once()
    assert ra.error is None and rb.error is None
    # the real server clock is far from both fake clocks; the ahead chair's offset is a day more negative
    assert ra.clock_offset_s - rb.clock_offset_s == pytest.approx(-86400, abs=5)
    last = sa.run_once()
    assert_converged(central, [a, b])
    with a.engine.connect() as conn:
        stored = conn.execute(
            SyncState.__table__.select().where(SyncState.key == "clock_offset_s")).one().value
    assert float(stored) == pytest.approx(last.clock_offset_s, abs=0.01)
    audits = [json.loads(e["details"]) for e in a.rows(AuditEvent, action="sync")]
    assert audits and audits[0]["clock_offset_s"] == pytest.approx(ra.clock_offset_s, abs=0.01)


@pytest.mark.parametrize("how", ["wrong-password", "unreachable", "no-such-database", "no-schema"])
def test_central_that_refuses_us_exits_2_and_leaves_the_chart_unchanged(central, make_chair, pg_server, capsys, how):
    chair = make_chair("a")
    chart_small_session(chair, "A", readings=5)
    path = chair.path
    own_url = central.url_for(chair)
    chair.close()
    before = _dump(path)
    parts = psycopg.conninfo.conninfo_to_dict(own_url)
    if how == "wrong-password":
        parts["password"] = "not-the-password"
    elif how == "unreachable":
        parts["port"] = "1"
    elif how == "no-such-database":
        parts["dbname"] = "kc_does_not_exist"
    else:
        parts["dbname"] = "postgres"
    url = psycopg.conninfo.make_conninfo(**parts)
    code = main(["sync", "--db", str(path), "--central", url, "--unencrypted", "--connect-timeout", "3"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ketachart: ") and "Nothing was changed locally" in err
    assert parts["password"] not in err
    assert _dump(path) == before


def test_sync_of_a_missing_database_file_is_a_clear_error(central, tmp_path, capsys):
    code = main(["sync", "--db", str(tmp_path / "nope.db"), "--central", central.chair_url, "--unencrypted"])
    assert code == 2 and "no chart database" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()


def test_no_central_configured_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("KETACHART_CENTRAL", raising=False)
    monkeypatch.setenv("KETACHART_CENTRAL_CONFIG", str(tmp_path / "missing.json"))
    with pytest.raises(CentralRefused, match="does not exist"):
        CentralConfig.resolve(None)
    monkeypatch.delenv("KETACHART_CENTRAL_CONFIG")
    monkeypatch.setattr("ketachart.sync.config.default_config_path", lambda: tmp_path / "absent.json")
    with pytest.raises(CentralRefused, match="no central database configured"):
        CentralConfig.resolve(None, config_path=None, env={})


def test_credentials_come_from_a_private_file_and_never_reach_the_chart(central, make_chair, tmp_path, monkeypatch):
    chair = make_chair("a")
    parts = psycopg.conninfo.conninfo_to_dict(central.url_for(chair))
    password = parts.pop("password")
    url_without_password = psycopg.conninfo.make_conninfo(**parts)
    config = tmp_path / "central.json"
    config.write_text(json.dumps({"url": url_without_password, "password": password, "sslmode": "disable"}))
    config.chmod(0o644)
    env = {"KETACHART_CENTRAL_CONFIG": str(config)}
    with pytest.raises(CentralRefused, match="chmod 600"):
        CentralConfig.resolve(None, env=env, use_keyring=False)
    config.chmod(0o600)
    cfg = CentralConfig.resolve(None, env=env, use_keyring=False)
    assert cfg.password == password and password not in repr(cfg) and password not in cfg.display()
    assert cfg.sslmode == "disable"

    pw_file = tmp_path / "pw"
    pw_file.write_text(password + "\n")
    pw_file.chmod(0o600)
    monkeypatch.setenv("KETACHART_CENTRAL_CONFIG", str(tmp_path / "absent-but-unused.json"))
    cfg2 = CentralConfig.resolve(None, env={"KETACHART_CENTRAL": url_without_password,
                                            "KETACHART_CENTRAL_PASSWORD_FILE": str(pw_file)},
                                 config_path=None, use_keyring=False)
    assert cfg2.password == password

    chart_small_session(chair, "A", readings=5)
    result = SyncService(chair, cfg).run_once()
    assert result.error is None and result.pending == 0
    path = chair.path
    chair.close()
    raw = path.read_bytes() + (path.with_name(path.name + "-wal").read_bytes()
                               if path.with_name(path.name + "-wal").exists() else b"")
    assert password.encode() not in raw


def test_tls_settings_are_passed_to_the_server(central, make_chair):
    # The test server has no TLS: sslmode=require must make the connection fail, proving it was applied.
    chair = make_chair("a")
    result = SyncService(chair, CentralConfig.resolve(central.chair_url, sslmode="require", use_keyring=False)).run_once()
    assert result.refused and "SSL" in result.error.upper()
    url = central.chair_url + ("&" if "?" in central.chair_url else "?") + "sslmode=require"
    result = SyncService(chair, CentralConfig.resolve(url, use_keyring=False)).run_once()
    assert result.refused


def test_service_reports_progress_and_pending(central, make_chair):
    chair = make_chair("a")
    chart_small_session(chair, "A", readings=30)
    seen = []
    service = SyncService(chair, central.url_for(chair), batch_size=10, progress=lambda *p: seen.append(p))
    pending = service.pending_count()
    assert pending > 30
    result = service.run_once()
    assert result.ok and result.pending == 0 == service.pending_count()
    assert result.last_sync_at is not None and service.last_result == result
    phases = [p[0] for p in seen]
    assert phases[0] == "connect" and phases[-1] == "done" and "pull" in phases
    pushes = [p for p in seen if p[0] == "push"]
    assert pushes[-1] == ("push", pending + 1, pending + 1) and len(pushes) >= 3  # + the sync audit event
    assert [p[1] for p in pushes] == sorted(p[1] for p in pushes)


def test_central_init_command_and_sync_from_the_environment(pg_server, make_chair, capsys, monkeypatch):
    import uuid

    dbname = "kc_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    try:
        url = pg_server.with_db(pg_server.admin_url, dbname)
        assert main(["central", "init", "--central", url]) == 0
        out = capsys.readouterr().out
        assert f"version {CENTRAL_SCHEMA_VERSION} created" in out and "ketachart_chair" in out
        assert main(["central", "init", "--central", url]) == 0
        assert "up to date" in capsys.readouterr().out
        chair = make_chair("a")
        chart_small_session(chair, "A", readings=5)
        path = chair.path
        chair.close()
        monkeypatch.setenv("KETACHART_CENTRAL", url)
        monkeypatch.delenv("KETACHART_CENTRAL_CONFIG", raising=False)
        monkeypatch.setattr("ketachart.sync.config.default_config_path", lambda: path.with_name("no-config.json"))
        assert main(["sync", "--db", str(path), "--unencrypted"]) == 0
        last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert last["pending"] == 0 and last["pushed"] > 5 and last["error"] is None
    finally:
        with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def test_a_changed_row_under_a_pushed_id_is_refused_not_silently_dropped(central, make_chair, tmp_path):
    """ON CONFLICT DO NOTHING must not hide a chart that now says something else than the central copy."""
    chair = make_chair("a")
    chart_small_session(chair, "A", readings=5)
    assert SyncService(chair, central.url_for(chair)).run_once().error is None
    before = central.count("reading_blocks")
    path = chair.path
    chair.close()
    con = sqlite3.connect(path)  # a hand edit, and a cursor reset so the edited row is sent again
    row_id, original = con.execute("SELECT id, body FROM reading_blocks LIMIT 1").fetchone()
    con.execute("DROP TRIGGER reading_blocks_no_update")
    con.execute("UPDATE reading_blocks SET body = replace(body, '.0', '.5') WHERE id = ?", (row_id,))
    con.execute("DELETE FROM sync_state WHERE key LIKE '%push_seq'")
    con.commit()
    con.close()
    from ketachart.store.repository import ChartStore

    edited = ChartStore.open(path, FakeClock())
    try:
        result = SyncService(edited, central.url_for(edited)).run_once()
        assert result.error and "differ from the central copy" in result.error
        assert central.count("reading_blocks") == before
        with psycopg.connect(central.admin_url) as conn:
            kept = conn.execute(sql.SQL("SELECT body FROM {} WHERE id = %s").format(
                sql.Identifier(SCHEMA, "reading_blocks")), (row_id,)).fetchone()[0]
        assert kept == original  # the central kept the original
    finally:
        edited.close()

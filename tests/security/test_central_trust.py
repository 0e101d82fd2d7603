"""Issue 13 items 1-3 and 6: what one chair's database login can do to the clinic, tried for real."""

from __future__ import annotations

import json
import shutil

import psycopg
import pytest
from psycopg import sql

from ketachart.auth import Accounts
from ketachart.auth.passwords import HashParams, SecretHasher
from ketachart.cli import main
from ketachart.domain.clock import FakeClock
from ketachart.domain.ids import new_id
from ketachart.store.errors import HistoryConflict
from ketachart.store.hashing import chain_hash
from ketachart.store.models import PolicyVersion, User
from ketachart.store.repository import ChartStore
from ketachart.sync.central import SCHEMA
from ketachart.sync.config import CentralConfig
from ketachart.sync.service import SyncService
from tests.sync.helpers import chart_small_session

FAST = SecretHasher(HashParams(time_cost=1, memory_kib=8 * 1024, parallelism=1))


def _insert(conn: psycopg.Connection, table: str, row: dict) -> None:
    cols = list(row)
    conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(SCHEMA, table), sql.SQL(", ").join(map(sql.Identifier, cols)),
        sql.SQL(", ").join(sql.Placeholder() * len(cols))), [row[c] for c in cols])


def _forged(table, device_id: str, seq: int, **values) -> dict:
    from datetime import datetime, timezone

    row = dict(id=new_id(), device_id=device_id, device_seq=seq, author="admin",
               effective_at=datetime(2020, 1, 1, tzinfo=timezone.utc), recorded_at=datetime(2020, 1, 1, tzinfo=timezone.utc),
               late_entry=False, amends=None, reason=None, **values)
    row["row_hash"] = chain_hash("", table.__table__, row)
    return row


def _admin_chair(make_chair, name: str) -> tuple[ChartStore, Accounts]:
    store = make_chair(name)
    acc = Accounts(store, hasher=FAST)
    acc.create_first_admin("admin", "Pat Admin", "real-admin-pin")
    acc.sign_out()
    return store, acc


def test_a_chair_login_cannot_write_clinic_policy(central, make_chair):
    """Attack 1: INSERT policy version 999 (dose cap 9999, HR high 300) as one chair's login."""
    a, b = make_chair("a"), make_chair("b")
    forged = _forged(PolicyVersion, a.device_id, 999, version=999,
                     policy_json=json.dumps({"version": 999, "dose_cap_mg": 9999, "hr_high": 300, "idle_lock_min": 100000}))
    with central.conn_for(a) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _insert(conn, "policy_versions", forged)
    assert SyncService(b, central.url_for(b)).run_once().error is None
    assert b.policy.version == 1 and b.policy.dose_cap_mg != 9999


def test_a_chair_login_cannot_write_users_and_forged_rows_are_ignored_by_every_chair(central, make_chair):
    """Attack 2: a users row for the existing admin with an old time and the attacker's hash."""
    a, acc_a = _admin_chair(make_chair, "a")
    admin_row = next(u for u in a.users() if u["user_id"] == "admin")
    forged = _forged(User, a.device_id, 9999, user_id="admin", display_name="Pat Admin", role="admin",
                     password_hash=FAST.hash("attacker-pin"), active=True)
    with central.conn_for(a) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _insert(conn, "users", forged)
    # Even a row that reaches the central without an admin's vouch (a superuser's slip) is ignored everywhere.
    forged["device_id"] = "chair-attacker"
    with central.admin() as conn:
        conn.execute("SET session_replication_role = replica")  # skip the vouching trigger, as a bypass would
        _insert(conn, "users", forged)
    b = make_chair("b")
    result = SyncService(b, central.url_for(b)).run_once()
    assert result.error is None
    assert [r["id"] for r in result.to_json()["ignored"]] == [forged["id"]]
    assert Accounts(b, hasher=FAST).user("admin") is None  # never vouched: not a user here
    result_a = SyncService(a, central.url_for(a)).run_once()
    assert result_a.error is None
    assert acc_a.sign_in("admin", "real-admin-pin").user_id == "admin"
    assert a.users()[0]["id"] == admin_row["id"]


def test_an_older_row_from_another_device_cannot_win_over_the_current_user(make_chair):
    """`Accounts._row` took the oldest row of a user id from any device: a forged root must not win."""
    a, acc = _admin_chair(make_chair, "a")
    forged = _forged(User, "chair-attacker", 1, user_id="admin", display_name="Pat Admin", role="admin",
                     password_hash=FAST.hash("attacker-pin"), active=True)
    with a.engine.begin() as conn:
        conn.execute(User.__table__.insert(), [forged])
    assert acc.sign_in("admin", "real-admin-pin").user_id == "admin"
    acc.sign_out()
    from ketachart.auth.errors import WrongCredentials
    with pytest.raises(WrongCredentials):
        acc.sign_in("admin", "attacker-pin")


def test_a_chair_login_writes_only_as_its_own_device(central, make_chair):
    a, b = make_chair("a"), make_chair("b")
    chart_small_session(b, "B", readings=2)
    row = b.rows(__import__("ketachart.store.models", fromlist=["Patient"]).Patient)[0]
    with central.conn_for(a) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            _insert(conn, "patients", row)
    # A login enrolled for chair a cannot be used to sync chair b's file either.
    result = SyncService(b, central.url_for(a)).run_once()
    assert result.refused and "enrolled for device" in result.error
    # And a login that was never enrolled is refused before anything moves.
    result = SyncService(b, central.chair_url).run_once()
    assert result.refused and "not enrolled" in result.error


def test_device_seq_is_unique_across_every_table_on_the_central(central, make_chair):
    a = make_chair("a")
    chart_small_session(a, "A", readings=2)
    assert SyncService(a, central.url_for(a)).run_once().error is None
    from ketachart.store.models import Patient
    patient = a.rows(Patient)[0]
    twin = dict(patient, id=new_id(), table="x")
    twin.pop("table")
    with central.conn_for(a) as conn:
        with pytest.raises(psycopg.errors.UniqueViolation):
            _insert(conn, "courses", {**{k: v for k, v in twin.items() if k not in
                                         ("mrn", "family_name", "given_name", "birth_date", "sex", "weight_kg",
                                          "phone")}, "label": "x", "route": "IV"})


def test_enroll_chair_binds_the_login_and_writes_a_private_config(central, make_chair, tmp_path, capsys):
    a = make_chair("a")
    path = a.path
    a.close()
    config = tmp_path / "central.json"
    code = main(["central", "enroll-chair", "--central", central.admin_url, "--name", "chair-7", "--db", str(path),
                 "--unencrypted", "--config", str(config)])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and out["login"] == "kc_chair_chair-7" and config.stat().st_mode & 0o077 == 0
    central.logins.append(out["login"])
    cfg = CentralConfig.resolve(None, env={"KETACHART_CENTRAL_CONFIG": str(config)}, use_keyring=False)
    with ChartStore.open(path, FakeClock()) as again:
        assert SyncService(again, cfg).run_once().error is None
        assert out["device_id"] == again.device_id


def test_admin_changes_reach_other_chairs_only_through_an_admin_login(central, make_chair):
    a, acc = _admin_chair(make_chair, "a")
    b = make_chair("b")
    first = SyncService(a, central.url_for(a)).run_once()
    assert first.error is None and first.awaiting_admin == 1  # the admin's user row
    assert SyncService(b, central.url_for(b)).run_once().error is None
    assert Accounts(b, hasher=FAST).user("admin") is None
    by_admin = SyncService(a, central.admin_url).run_once()  # IT's admin login carries them, vouched
    assert by_admin.error is None and by_admin.awaiting_admin == 0
    assert SyncService(b, central.url_for(b)).run_once().error is None
    assert Accounts(b, hasher=FAST).sign_in("admin", "real-admin-pin").user_id == "admin"


def test_an_older_copy_without_new_charting_is_refused_as_older(central, make_chair, tmp_path):
    a = make_chair("a")
    url = central.url_for(a)
    chart_small_session(a, "A1", readings=3)
    assert SyncService(a, url).run_once().error is None
    path = a.path
    a.close()
    shutil.copy(path, tmp_path / "backup.db")
    with ChartStore.open(path, FakeClock()) as again:
        chart_small_session(again, "A2", readings=30)
        assert SyncService(again, url).run_once().error is None
    shutil.copy(tmp_path / "backup.db", path)
    with ChartStore.open(path, FakeClock()) as old:
        result = SyncService(old, url).run_once()
        assert result.pushed == 0 and "older copy" in result.history_conflict


def test_an_old_copy_of_the_chart_put_back_cannot_fork_the_record(central, make_chair, tmp_path, capsys):
    """Attack 3: restore an older copy after newer charting was synced; it must not push a second history."""
    a = make_chair("a")
    url, device = central.url_for(a), a.device_id
    chart_small_session(a, "A1", readings=10)
    assert SyncService(a, url).run_once().error is None
    path = a.path
    a.close()
    backup = tmp_path / "backup.db"
    shutil.copy(path, backup)
    a = ChartStore.open(path, FakeClock())
    chart_small_session(a, "A2", readings=10)
    assert SyncService(a, url).run_once().error is None
    a.close()
    shutil.copy(backup, path)
    old = ChartStore.open(path, FakeClock())
    chart_small_session(old, "A3", readings=30)  # charted on the old copy before anyone noticed
    old.close()
    with central.admin() as conn:
        before = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, "device_seqs"))).fetchone()[0]
    code = main(["sync", "--db", str(path), "--central", url, "--unencrypted"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 2 and "would fork the record" in out["history_conflict"]
    with central.admin() as conn:
        total = sum(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, t))).fetchone()[0]
                    for t in ("reading_blocks", "patients", "sessions", "observations", "session_events", "courses",
                              "dose_administrations", "audit_events", "policy_versions", "users"))
        distinct = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(SCHEMA, "device_seqs"))).fetchone()[0]
    assert distinct == before == total  # nothing duplicated, nothing new
    old = ChartStore.open(path, FakeClock())
    try:
        with pytest.raises(HistoryConflict, match="charting is stopped"):
            chart_small_session(old, "A4", readings=1)
    finally:
        old.close()
    # The admin keeps the file for investigation and gives the chair's login to a new chart file.
    from ketachart.sync.central import enroll_chair
    fresh = make_chair("a-new")
    login, password = enroll_chair(CentralConfig(central.admin_url), device, fresh.device_id, rebind=True)
    rebound = central.server.with_db(central.admin_url, central.dbname, login, password)
    chart_small_session(fresh, "A5", readings=3)
    assert SyncService(fresh, rebound).run_once().error is None
    assert SyncService(fresh, url).run_once().refused  # the old password went with the old file


def test_a_batch_the_central_lost_after_acknowledging_it_is_sent_again(central, make_chair):
    """Item 6: the central went back in time (crash, restored backup); the chair notices and re-sends."""
    a = make_chair("a")
    chart_small_session(a, "A", readings=40)
    service = SyncService(a, central.url_for(a), batch_size=10)
    assert service.run_once().error is None
    with central.admin() as conn:
        top = conn.execute(sql.SQL("SELECT max_seq FROM {} WHERE device_id = %s").format(
            sql.Identifier(SCHEMA, "device_heads")), (a.device_id,)).fetchone()[0]
        lost = 10
        conn.execute("SET session_replication_role = replica")  # the append-only triggers: a restore, not a chair
        n = 0
        for t in ("reading_blocks", "audit_events", "session_events", "observations"):
            n += conn.execute(sql.SQL("DELETE FROM {} WHERE device_id = %s AND device_seq > %s").format(
                sql.Identifier(SCHEMA, t)), (a.device_id, top - lost)).rowcount
        conn.execute(sql.SQL("DELETE FROM {} WHERE device_id = %s AND device_seq > %s").format(
            sql.Identifier(SCHEMA, "device_seqs")), (a.device_id, top - lost))
        conn.execute(sql.SQL("UPDATE {} SET n = n - %s, max_seq = %s WHERE device_id = %s").format(
            sql.Identifier(SCHEMA, "device_heads")), (n, top - lost, a.device_id))
    chart_small_session(a, "A2", readings=5)
    result = service.run_once()
    assert result.error is None and result.resent == n
    with central.admin() as conn:
        have = {r[0] for r in conn.execute(sql.SQL("SELECT device_seq FROM {} WHERE device_id = %s").format(
            sql.Identifier(SCHEMA, "device_seqs")), (a.device_id,))}
    waiting = {s for t, i, s in a.sync_ledger.own_rows_of(("users", "policy_versions"))}
    cursor = a.sync_ledger.last_seq() - result.pending  # the pass's own last audit row follows next time
    assert have | waiting == set(range(1, cursor + 1))

"""Sign-in, wrong secrets, throttling, lockout that survives a restart, deactivation, hand-over."""

from __future__ import annotations

import json

import pytest

from ketachart.auth import (
    AccountInactive,
    AccountLocked,
    Accounts,
    PermissionDenied,
    TryAgainLater,
    WeakSecret,
    WrongCredentials,
)
from ketachart.auth.accounts import audit_rows
from ketachart.domain.errors import ClinicalInputError
from ketachart.store.models import AuditEvent, Observation, User
from ketachart.store.open import open_store


def actions(store, user_id):
    return [r["action"] for r in store.rows(AuditEvent, target=f"users:{user_id}")]


def test_first_start_creates_the_admin_once(store, hasher):
    acc = Accounts(store, hasher=hasher)
    assert acc.needs_first_admin()
    session = acc.create_first_admin("Admin", "Pat Admin", "admin-pass")
    assert session.user.user_id == "admin" and session.user.role == "admin"
    assert store.author == "admin"
    assert not acc.needs_first_admin()
    with pytest.raises(PermissionDenied):
        acc.create_first_admin("admin2", "Other", "other-pass")
    stored = acc._row("admin")["password_hash"]
    assert stored.startswith("$argon2id$") and "admin-pass" not in stored


def test_sign_in_sets_the_author_and_is_audited(accounts, store):
    session = accounts.sign_in("a.morgan", "2468")
    assert session.user.display_name == "Alex Morgan, RN"
    assert store.author == "a.morgan"
    row = store.observe(None, "note", text="charted")
    assert row["author"] == "a.morgan"
    accounts.sign_out()
    assert store.author == "system"
    assert actions(store, "a.morgan")[-2:] == ["sign-in", "sign-out"]


def test_wrong_password_is_refused_and_counted(accounts, store):
    with pytest.raises(WrongCredentials) as err:
        accounts.sign_in("a.morgan", "9999")
    assert "not recognised" in str(err.value)
    assert accounts.current is None and store.author == "system"
    assert accounts.failure_state("a.morgan").failures == 1
    failed = [r for r in store.rows(AuditEvent, target="users:a.morgan") if r["action"] == "sign-in-failed"]
    assert json.loads(failed[0]["details"]) == {"failures": 1, "purpose": "sign-in"}


def test_unknown_user_gets_the_same_message_and_the_typed_text_is_not_stored(accounts, store):
    with pytest.raises(WrongCredentials) as err:
        accounts.sign_in("Jordan Rivera", "2468")
    assert str(err.value).startswith("User id or PIN/password not recognised.")
    last = store.rows(AuditEvent)[-1]
    assert last["action"] == "sign-in-failed" and last["target"] is None
    assert "Rivera" not in (last["details"] or "")


def test_failures_are_slowed_exponentially_by_the_clock(accounts, clock):
    with pytest.raises(WrongCredentials):
        accounts.sign_in("a.morgan", "0000")
    with pytest.raises(TryAgainLater) as wait:  # immediately again: refused without checking
        accounts.sign_in("a.morgan", "2468")
    assert wait.value.wait_s == pytest.approx(1.0)
    clock.advance(1)
    with pytest.raises(WrongCredentials):
        accounts.sign_in("a.morgan", "0000")
    clock.advance(1)
    with pytest.raises(TryAgainLater) as wait:
        accounts.sign_in("a.morgan", "0000")
    assert wait.value.wait_s == pytest.approx(1.0)  # 2 s after the 2nd failure, 1 s already passed
    clock.advance(1)
    assert accounts.sign_in("a.morgan", "2468").user_id == "a.morgan"
    assert accounts.failure_state("a.morgan").failures == 0


def fail_until_locked(accounts, clock, user="a.morgan"):
    for _ in range(accounts.policy.max_failures - 1):
        with pytest.raises(WrongCredentials):
            accounts.sign_in(user, "0000")
        clock.advance(60)
    with pytest.raises(AccountLocked):
        accounts.sign_in(user, "0000")


def test_locked_out_user_stays_locked_across_a_restart(accounts, store, clock, tmp_path, hasher):
    fail_until_locked(accounts, clock)
    with pytest.raises(AccountLocked) as locked:
        accounts.sign_in("a.morgan", "2468")  # even the right PIN
    assert "locked" in str(locked.value)
    assert "lockout" in actions(store, "a.morgan")
    store.close()
    with open_store(tmp_path / "chart.db", unencrypted=True, clock=clock) as reopened:
        again = Accounts(reopened, hasher=hasher)
        with pytest.raises(AccountLocked):
            again.sign_in("a.morgan", "2468")
        clock.advance(minutes=again.policy.lockout_min)
        assert again.sign_in("a.morgan", "2468").user_id == "a.morgan"


def test_other_users_are_not_affected_and_admin_reset_lifts_the_lock(accounts, clock):
    fail_until_locked(accounts, clock)
    assert accounts.sign_in("s.patel", "1357").user_id == "s.patel"
    accounts.sign_out()
    admin = accounts.sign_in("admin", "admin-pass").user
    accounts.reset_secret(admin, "a.morgan", "8642")
    accounts.sign_out()
    with pytest.raises(WrongCredentials):
        accounts.sign_in("a.morgan", "2468")  # old PIN no longer works
    clock.advance(5)
    assert accounts.sign_in("a.morgan", "8642").user_id == "a.morgan"


def test_deactivated_users_old_sessions_stay_readable(accounts, store):
    accounts.sign_in("a.morgan", "2468")
    note = store.observe(None, "note", text="patient comfortable")
    accounts.sign_out()
    admin = accounts.sign_in("admin", "admin-pass").user
    accounts.deactivate(admin, "a.morgan", "left the clinic")
    accounts.sign_out()
    # the user is marked inactive by an amending row; the original row stays
    history = store.rows(User, user_id="a.morgan")
    assert len(history) == 2 and history[1]["amends"] == history[0]["id"] and history[1]["active"] is False
    assert accounts.user("a.morgan")["active"] is False
    # what they charted is still there, still attributed, with their name
    assert store.get(Observation, note["id"])["author"] == "a.morgan"
    assert accounts.display_name("a.morgan") == "Alex Morgan, RN (inactive)"
    with pytest.raises(AccountInactive):
        accounts.sign_in("a.morgan", "2468")
    # a wrong PIN for an inactive account says nothing about the account
    with pytest.raises(WrongCredentials):
        accounts.sign_in("a.morgan", "1111")


def test_only_admins_manage_users_and_the_last_admin_stays(accounts):
    nurse = accounts.sign_in("a.morgan", "2468").user
    with pytest.raises(PermissionDenied):
        accounts.add_user(nurse, "x.y", "X Y", "nurse", "1234")
    accounts.sign_out()
    admin = accounts.sign_in("admin", "admin-pass").user
    with pytest.raises(PermissionDenied):
        accounts.deactivate(admin, "admin", "oops")
    with pytest.raises(ClinicalInputError):
        accounts.add_user(admin, "a.morgan", "Dup", "nurse", "1234")
    with pytest.raises(ClinicalInputError):
        accounts.add_user(admin, "new.one", "New", "surgeon", "1234")
    with pytest.raises(WeakSecret):
        accounts.add_user(admin, "new.one", "New", "nurse", "12")
    with pytest.raises(WeakSecret):
        accounts.add_user(admin, "new.one", "New", "nurse", "1111")


def test_lock_unlock_by_the_same_user(accounts, store, clock):
    session = accounts.sign_in("a.morgan", "2468")
    accounts.lock("idle")
    assert accounts.locked
    with pytest.raises(WrongCredentials):
        accounts.unlock("1357")  # another nurse's PIN does not unlock this session
    assert accounts.locked
    clock.advance(1)
    assert accounts.unlock("2468") is session
    assert not accounts.locked and store.author == "a.morgan"
    assert actions(store, "a.morgan")[-3:] == ["lock", "sign-in-failed", "unlock"]


def test_switch_user_records_a_hand_over(accounts, store):
    first = accounts.sign_in("a.morgan", "2468")
    accounts.lock("idle")
    second = accounts.hand_over("s.patel", "1357")
    assert second.user_id == "s.patel" and second.session_id != first.session_id
    assert store.author == "s.patel" and not accounts.locked
    hand = [r for r in store.rows(AuditEvent) if r["action"] == "hand-over"][-1]
    assert hand["target"] == "users:s.patel" and hand["author"] == "s.patel"
    assert json.loads(hand["details"])["from"] == "a.morgan"
    assert actions(store, "a.morgan")[-1] == "sign-out"


def test_demo_sign_in_only_on_the_demo_database(accounts, tmp_path):
    with pytest.raises(PermissionDenied):
        accounts.sign_in_demo("a.morgan", demo_db=tmp_path / "demo.db")
    session = accounts.sign_in_demo("a.morgan", demo_db=tmp_path / "chart.db")
    assert session.user_id == "a.morgan"


def test_audit_trail_rows_hold_ids_not_secrets(accounts, store):
    accounts.sign_in("a.morgan", "2468")
    for row in audit_rows(store):
        assert "2468" not in (row["details"] or "")
        assert row["device_id"] == store.device_id


def test_admin_secrets_have_a_minimum_length(store, hasher):
    """A nurse's 4-digit PIN is fine; an admin (users, policy) needs a password of at least 8 characters."""
    from ketachart.auth.passwords import MIN_ADMIN_SECRET_LEN

    acc = Accounts(store, hasher=hasher)
    with pytest.raises(WeakSecret, match=f"at least {MIN_ADMIN_SECRET_LEN} characters"):
        acc.create_first_admin("admin", "Pat Admin", "4321")
    assert acc.needs_first_admin() and acc._row("admin") is None  # nothing written
    admin = acc.create_first_admin("admin", "Pat Admin", "admin-pass").user
    assert acc.add_user(admin, "a.morgan", "Alex Morgan, RN", "nurse", "2468")["role"] == "nurse"
    with pytest.raises(WeakSecret):
        acc.add_user(admin, "b.admin", "Bo Admin", "admin", "1357")
    assert acc._row("b.admin") is None
    with pytest.raises(WeakSecret):
        acc.reset_secret(admin, "admin", "9753")
    with pytest.raises(WeakSecret):
        acc.change_own_secret("admin", "admin-pass", "short1")
    acc.change_own_secret("admin", "admin-pass", "longer-pass")
    acc.sign_out()
    assert acc.sign_in("admin", "longer-pass").user_id == "admin"

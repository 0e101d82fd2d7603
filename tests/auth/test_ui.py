"""Lock screen, idle lock, unlock, switch user, sign-in, re-authentication and admin dialogs (pytest-qt)."""

from __future__ import annotations

import csv

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QLabel, QMainWindow, QVBoxLayout, QWidget

from ketachart.auth import Signatures
from ketachart.demo import NAMES
from ketachart.store.models import AuditEvent, Observation
from ketachart.ui.auth import AdminDialog, LockController, ReauthDialog, SignInDialog
from ketachart.ui.auth.lock_screen import visible_texts

FAMILY, GIVEN, DOB, _ = NAMES[0]


def chair_window(qtbot):
    """A main-window-like chart screen with patient details in labels, title and status bar."""
    win = QMainWindow()
    win.setWindowTitle(f"KetaChart - {FAMILY}, {GIVEN}")
    central = QWidget(win)
    lay = QVBoxLayout(central)
    lay.addWidget(QLabel(f"{FAMILY}, {GIVEN}  DOB {DOB}  MRN DEMO-0000", central))
    lay.addWidget(QLabel("HR 72  SpO2 98  BP 128/76", central))
    win.setCentralWidget(central)
    win.statusBar().showMessage(f"Chart open: {FAMILY}")
    win.resize(1024, 700)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def signed_in(accounts):
    accounts.sign_in("a.morgan", "2468")
    return accounts


@pytest.fixture
def window(qtbot):
    return chair_window(qtbot)


@pytest.fixture
def lock(window, clock, signed_in):
    ctl = LockController(window, clock, signed_in, idle_min=5, tick_ms=10_000)
    yield ctl
    ctl.stop()


def all_text(win):
    return "\n".join(visible_texts(win))


def test_lock_screen_hides_patient_details_but_shows_clocks_and_alert(window, lock):
    assert FAMILY in all_text(window)
    lock.set_clocks_text("Infusing 32:10 - discharge in 1:27:50")
    lock.set_alert(True, "Alert active")
    lock.lock("manual")
    text = all_text(window)
    for needle in (FAMILY, GIVEN, DOB, "DEMO-0000"):
        assert needle not in text
    assert "Screen locked" in text and "Infusing 32:10" in text and "Alert active" in text
    assert lock.screen.alert.isVisible()
    assert lock.screen.geometry() == window.rect()
    assert FAMILY not in window.windowTitle()
    # the clocks and the alert keep updating while locked
    lock.set_clocks_text("Infusing 32:11 - discharge in 1:27:49")
    lock.set_alert(False)
    assert "32:11" in all_text(window) and not lock.screen.alert.isVisible()


def test_idle_lock_after_the_policy_idle_time_with_a_fake_clock(qtbot, window, lock, clock, signed_in):
    assert lock.idle.idle_s == 300
    clock.advance(299)
    assert not lock.idle.check() and not lock.is_locked
    qtbot.mouseMove(window.centralWidget(), QPoint(10, 10))  # activity re-arms the timer
    qtbot.mouseClick(window.centralWidget(), Qt.MouseButton.LeftButton)
    clock.advance(299)
    lock.idle.check()
    assert not lock.is_locked
    with qtbot.waitSignal(lock.locked, timeout=1000):
        clock.advance(1)
        lock.idle.check()
    assert lock.is_locked and signed_in.locked
    assert [r["action"] for r in signed_in.store.rows(AuditEvent, target="users:a.morgan")][-1] == "lock"


def test_idle_time_defaults_to_clinic_policy(window, clock, signed_in):
    ctl = LockController(window, clock, signed_in, tick_ms=10_000)
    assert ctl.idle.idle_s == signed_in.store.policy.idle_lock_min * 60
    ctl.stop()


def test_unlock_by_the_same_user(qtbot, window, lock, clock):
    lock.lock("manual")
    qtbot.keyClicks(lock.screen.secret, "1357")  # another nurse's PIN
    qtbot.mouseClick(lock.screen.unlock_button, Qt.MouseButton.LeftButton)
    assert lock.is_locked and "not recognised" in lock.screen.error.text()
    clock.advance(2)
    with qtbot.waitSignal(lock.unlocked, timeout=1000) as sig:
        qtbot.keyClicks(lock.screen.secret, "2468")
        qtbot.keyClick(lock.screen.secret, Qt.Key.Key_Return)
    assert sig.args[0].user_id == "a.morgan"
    assert not lock.is_locked
    assert FAMILY in all_text(window) and FAMILY in window.windowTitle()


def test_switch_user_records_a_hand_over(qtbot, window, lock, signed_in):
    lock.lock("idle")
    qtbot.mouseClick(lock.screen.switch_button, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(lock.screen.switch_user_id, "s.patel")
    qtbot.keyClicks(lock.screen.switch_secret, "1357")
    with qtbot.waitSignal(lock.user_switched, timeout=1000) as sig:
        qtbot.mouseClick(lock.screen.take_over_button, Qt.MouseButton.LeftButton)
    assert sig.args[0].user_id == "s.patel"
    assert not lock.is_locked and signed_in.store.author == "s.patel"
    assert any(r["action"] == "hand-over" for r in signed_in.store.rows(AuditEvent, target="users:s.patel"))


def test_lockout_message_on_the_lock_screen(qtbot, lock, clock):
    lock.lock("manual")
    for _ in range(5):
        qtbot.keyClicks(lock.screen.secret, "0000")
        qtbot.keyClick(lock.screen.secret, Qt.Key.Key_Return)
        clock.advance(60)
    assert "locked" in lock.screen.error.text()
    qtbot.keyClicks(lock.screen.secret, "2468")
    qtbot.keyClick(lock.screen.secret, Qt.Key.Key_Return)
    assert lock.is_locked and "locked" in lock.screen.error.text()


def test_sign_in_dialog_shows_clear_errors(qtbot, accounts, clock):
    dlg = SignInDialog(accounts)
    qtbot.addWidget(dlg)
    dlg.user_id.setText("a.morgan")
    dlg.secret.setText("0000")
    assert not dlg.submit()
    assert "not recognised" in dlg.error.text() and dlg.secret.text() == ""
    dlg.secret.setText("2468")
    assert not dlg.submit()
    assert "Try again in" in dlg.error.text()
    clock.advance(1)
    dlg.secret.setText("2468")
    assert dlg.submit() and dlg.session.user_id == "a.morgan"


def test_reauth_dialog_shows_printed_name_and_meaning_and_signs(qtbot, signed_in, store, clock):
    note = store.observe(None, "waste", 5.0, text="5 mg wasted")
    sigs = Signatures(store, signed_in)
    dlg = ReauthDialog(sigs, Observation, note["id"], "witnessed", user_id="a.morgan", what="Waste 5 mg")
    qtbot.addWidget(dlg)
    assert dlg.printed_name.text() == "Alex Morgan, RN" and "witnessed" in dlg.meaning_label.text()
    dlg.secret.setText("2468")
    assert not dlg.submit()  # the author cannot witness their own entry
    assert "different person" in dlg.error.text()
    dlg.user_id.setText("s.patel")
    assert dlg.printed_name.text() == "Sam Patel, RN"
    dlg.secret.setText("2468")  # not Sam's PIN
    assert not dlg.submit() and dlg.signature is None
    assert "not recognised" in dlg.error.text()
    clock.advance(1)  # the failed attempt slowed the next one
    dlg.secret.setText("1357")
    assert dlg.submit() and dlg.signature["printed_name"] == "Sam Patel, RN"


def test_admin_dialog_lists_users_and_exports_the_audit_trail(qtbot, accounts, tmp_path):
    admin = accounts.sign_in("admin", "admin-pass").user
    dlg = AdminDialog(accounts, admin)
    qtbot.addWidget(dlg)
    ids = [dlg.users_table.item(i, 0).text() for i in range(dlg.users_table.rowCount())]
    assert ids == ["a.morgan", "admin", "d.cho", "s.patel"]
    assert dlg.audit_table.rowCount() > 0
    dlg.new_id.setText("n.new")
    dlg.new_name.setText("Nia New, RN")
    dlg.new_secret.setText("4826")
    assert dlg.add_user()
    dlg.users_table.selectRow(0)
    dlg.reason.setText("left the clinic")
    assert dlg.deactivate_selected()
    assert accounts.user("a.morgan")["active"] is False
    out = tmp_path / "audit.csv"
    n = dlg.export_csv(out)
    rows = list(csv.DictReader(out.open()))
    assert n == len(rows) and {"user-add", "user-deactivate", "sign-in"} <= {r["action"] for r in rows}
    assert accounts.store.rows(AuditEvent)[-1]["action"] == "export"


def test_admin_dialog_refuses_a_nurse(qtbot, accounts):
    from ketachart.auth import PermissionDenied

    nurse = accounts.sign_in("a.morgan", "2468").user
    with pytest.raises(PermissionDenied):
        AdminDialog(accounts, nurse)

"""Sign-in, idle lock, unlock / switch user, sign-out, admin and e-signatures in the real chair window."""

from __future__ import annotations

import json

import pytest

from ketachart.app import create_main_window
from ketachart.auth import Accounts, PermissionDenied
from ketachart.domain.vocabulary import Kind
from ketachart.store.models import AuditEvent, Checklist, DoseAdministration, Observation, Signature
from ketachart.ui.auth import FirstAdminDialog, SignInDialog
from ketachart.ui.auth.lock_screen import visible_texts
from tests.e2e.test_session_flow import checked_in_session, fill_presession, new_patient, sign_discharge
from tests.ui.helpers import FAST_HASHER, PINS, calm, feed, go, sign, vitals, wait_writer, without_order_requirement

FAMILY = "RIVERA"


def texts(w) -> str:
    return "\n".join(visible_texts(w))


def audit(store, action):
    return [a for a in store.rows(AuditEvent) if a["action"] == action]


@pytest.fixture
def unsigned_window(qtbot, store, clock):
    """The window as the app opens it: nobody signed in yet."""
    store.create_user("admin", "Pat Admin", "admin", FAST_HASHER.hash(PINS["admin"]))  # not a first start
    acc = Accounts(store, hasher=FAST_HASHER)
    acc.sign_in("nurse.a", PINS["nurse.a"])
    new = store.create_patient("MRN-7", "Rivera", "Jordan", "1984-03-12", "female", 80)
    assert new
    acc.sign_out()
    w = create_main_window(store, clock, repaint_ms=50, accounts=acc, idle_min=0)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


def test_sign_in_is_required_before_patient_names_appear(unsigned_window, qtbot, store, clock):
    w = unsigned_window
    dlg = w.auth.dialog
    assert isinstance(dlg, SignInDialog) and dlg.isVisible()
    assert FAMILY not in texts(w).upper() and "MRN-7" not in texts(w)
    assert w.stack.currentWidget() is w.blank
    assert not w.auth.sign_out_button.isVisible()

    dlg.user_id.setText("nurse.a")
    dlg.secret.setText("0000")
    assert not dlg.submit()
    assert "not recognised" in dlg.error.text()
    assert FAMILY not in texts(w).upper()
    assert audit(store, "sign-in-failed")

    clock.advance(2)  # the next try after a wrong PIN waits 1 s
    dlg.secret.setText(PINS["nurse.a"])
    assert dlg.submit()
    assert w.auth.dialog is None and store.author == "nurse.a"
    assert w.stack.currentWidget() is w.patients
    assert FAMILY in texts(w).upper()
    assert "Charting as Ada Nurse, RN" in w.user_label.text()
    assert not w.auth.admin_button.isVisible()  # nurses do not get the admin view
    # the course view of the selected patient is the chart: opening it is audited, with ids only
    opened = audit(store, "open-chart")
    patient = store.patients()[0]
    assert opened and opened[-1]["target"] == f"patients:{patient['patient_id']}"
    assert "Rivera" not in (opened[-1]["details"] or "")

    w.auth.sign_out()
    assert FAMILY not in texts(w).upper() and w.stack.currentWidget() is w.blank
    assert isinstance(w.auth.dialog, SignInDialog) and store.author != "nurse.a"
    assert audit(store, "sign-out")


def test_first_start_creates_the_admin_who_gets_the_admin_view(qtbot, tmp_path, clock):
    from ketachart.store.open import open_store

    store = open_store(tmp_path / "new.db", unencrypted=True, clock=clock)
    acc = Accounts(store, hasher=FAST_HASHER)
    w = create_main_window(store, clock, repaint_ms=50, accounts=acc, idle_min=0)
    qtbot.addWidget(w)
    w.show()
    dlg = w.auth.dialog
    assert isinstance(dlg, FirstAdminDialog)
    dlg.user_id.setText("admin")
    dlg.name.setText("Pat Admin")
    dlg.secret.setText("admin-pass")
    dlg.again.setText("admin-pass")
    assert dlg.submit()
    assert store.author == "admin" and w.stack.currentWidget() is w.patients
    assert w.auth.admin_button.isVisible()
    admin = w.auth.open_admin()
    assert admin is not None and admin.isVisible()
    admin.close()
    w.close()
    store.close()


def test_demo_signs_in_by_itself_only_on_the_demo_database(tmp_path, clock, monkeypatch):
    from ketachart.app import DEMO_NURSE, _demo_sign_in
    from ketachart.store.open import open_store

    monkeypatch.setenv("KETACHART_DATA_DIR", str(tmp_path))
    real = open_store(tmp_path / "chart.db", unencrypted=True, clock=clock)
    with pytest.raises(PermissionDenied):
        _demo_sign_in(real)
    assert real.users() == []  # nothing written to a real chart
    real.close()

    demo = open_store(tmp_path / "demo.db", unencrypted=True, clock=clock)
    acc = _demo_sign_in(demo)
    assert acc.current.user_id == DEMO_NURSE[0] and demo.author == DEMO_NURSE[0]
    assert json.loads(audit(demo, "sign-in")[-1]["details"])["via"] == "demo"
    demo.close()


def test_idle_lock_hides_the_chart_keeps_monitoring_and_alerts_then_unlock_and_switch_user(qtbot, store, clock,
                                                                                           accounts):
    without_order_requirement(store)
    w = create_main_window(store, clock, repaint_ms=50, accounts=accounts, idle_min=0)
    w.c.writer.interval_s = 0.05
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    sid = checked_in_session(w, qtbot)
    w.session.start_infusion()
    # now the policy idle time (5 min) without input
    w.auth.lock.idle.idle_s = 5 * 60
    w.auth.lock.idle.reset()
    go(clock, 6)
    qtbot.waitUntil(lambda: w.auth.is_locked, timeout=3000)
    assert FAMILY not in texts(w).upper() and "MRN-1" not in texts(w)
    assert w.windowTitle() == "KetaChart - locked"

    before = len(store.readings(sid))
    feed(w, qtbot, vitals(clock, 5, spo2=88))  # the monitor goes on; an SpO2 alert fires while locked
    wait_writer(w, qtbot)
    assert len(store.readings(sid)) >= before + 10  # readings still saved
    qtbot.waitUntil(lambda: w.auth.lock.screen.alert.isVisible(), timeout=3000)
    assert "ALERT ACTIVE" in w.auth.lock.screen.alert.text()
    assert "SpO2 88%" in w.auth.lock.screen.alert.text() and "ago" in w.auth.lock.screen.alert.text()  # what, how old
    assert w.sound.active and w.sound.priority == "high"  # and it sounds: a critical alert
    assert "Infusion" in w.auth.lock.screen.clocks.text()
    assert FAMILY not in texts(w).upper()

    screen = w.auth.lock.screen
    screen.secret.setText("0000")
    screen._submit_unlock()
    assert w.auth.is_locked and "not recognised" in screen.error.text()
    clock.advance(2)
    screen.secret.setText(PINS["nurse.a"])
    screen._submit_unlock()
    assert not w.auth.is_locked and audit(store, "unlock")
    assert FAMILY in texts(w).upper()

    w.auth.lock_now()
    assert w.auth.is_locked
    screen.show_switch(True)
    screen.switch_user_id.setText("nurse.b")
    screen.switch_secret.setText(PINS["nurse.b"])
    screen._submit_switch()
    assert not w.auth.is_locked and store.author == "nurse.b"
    hand = audit(store, "hand-over")[-1]
    assert json.loads(hand["details"])["from"] == "nurse.a" and hand["author"] == "nurse.b"
    assert "Ben Okafor, RN" in w.user_label.text()
    w.session.diss_buttons[1].click()
    diss = [o for o in store.rows(Observation, session_id=sid) if o["kind"] == Kind.DISSOCIATION]
    assert diss[-1]["author"] == "nurse.b"
    w.close()


def test_dose_and_waste_are_signed_with_own_pins_and_the_witness_must_differ(window, qtbot, store, clock):
    new_patient(window)
    window.patients.start("IV")
    fill_presession(window)
    p = window.presession
    assert p.submit()
    assert p.sign_dialog.printed_name.text() == "Ada Nurse, RN" and "performed" in p.sign_dialog.meaning_label.text()
    assert sign(p.sign_dialog, PINS["nurse.a"])
    witness = p.sign_dialog
    assert "witnessed" in witness.meaning_label.text()
    assert not sign(witness, PINS["nurse.a"], user_id="nurse.a")  # the performer cannot witness
    assert "different person" in witness.error.text()
    assert store.rows(DoseAdministration) == []  # nothing saved until both signed
    assert not sign(witness, PINS["nurse.a"], user_id="nurse.b")  # nurse.b's id with someone else's PIN
    assert store.rows(DoseAdministration) == []
    clock.advance(2)
    assert sign(witness, PINS["nurse.b"], user_id="nurse.b")
    sid = window.c.session_id
    dose = store.rows(DoseAdministration, session_id=sid)[0]
    waste = [o for o in store.rows(Observation, session_id=sid) if o["kind"] == Kind.WASTE][0]
    (ds,) = store.rows(Signature, target_id=dose["id"])
    (ws,) = store.rows(Signature, target_id=waste["id"])
    assert (ds["user_id"], ds["meaning"], ds["printed_name"]) == ("nurse.a", "performed", "Ada Nurse, RN")
    assert (ws["user_id"], ws["meaning"], ws["printed_name"]) == ("nurse.b", "witnessed", "Ben Okafor, RN")
    assert store.signature_valid(ds) and store.signature_valid(ws)
    window._repaint()
    shown = "\n".join(window.session.entry_list.item(i).text() for i in range(window.session.entry_list.count()))
    assert "SIGNED Ada Nurse, RN (performed" in shown and "SIGNED Ben Okafor, RN (witnessed" in shown


def test_discharge_signature_records_name_meaning_hash_and_amendment_shows(window, qtbot, store, clock):
    sid = checked_in_session(window, qtbot)
    s = window.session
    feed(window, qtbot, vitals(clock, 5))
    s.start_infusion()
    feed(window, qtbot, calm(clock, 40))
    s.open_stop()
    s.dialog.submit()
    window.c.chart_sedation(5)
    window.c.chart_dissociation(0)
    # a signed note, later amended: the timeline says the signed version was amended
    note = window.c.chart_note("Calm, eyes closed")
    window.signatures.sign(Observation, note["id"], user_id="nurse.a", secret=PINS["nurse.a"], meaning="performed")
    window.c.amend_observation(note["id"], "typo", text="Calm, eyes closed, responds to voice")
    window._repaint()
    shown = "\n".join(s.entry_list.item(i).text() for i in range(s.entry_list.count()))
    assert "SIGNED VERSION AMENDED" in shown

    feed(window, qtbot, calm(clock, 85))
    window.show_discharge()
    d = window.discharge
    for cb in d.items.values():
        cb.setChecked(True)
    for cb in d.padss.values():
        cb.setCurrentIndex(1)
    assert d.submit()
    assert d.sign_dialog.printed_name.text() == "Ada Nurse, RN"
    assert not sign(d.sign_dialog, PINS["nurse.b"])  # someone else's PIN for nurse.a: refused
    assert store.rows(Checklist, session_id=sid, kind="discharge") == []
    d.sign_dialog.reject()
    clock.advance(2)
    sign_discharge(window)
    check = store.rows(Checklist, session_id=sid, kind="discharge")[0]
    (sig,) = store.rows(Signature, target_id=check["id"])
    assert sig["printed_name"] == "Ada Nurse, RN" and sig["meaning"] == "performed" and sig["user_id"] == "nurse.a"
    assert sig["content_hash"] and store.signature_valid(sig)
    assert any(a["action"] == "reauth" for a in store.rows(AuditEvent))

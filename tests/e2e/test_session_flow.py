"""A whole chair session through the real window: what is stored and what is shown."""

from __future__ import annotations

from datetime import timedelta

from ketachart.domain.session import SessionState
from ketachart.store.models import Alert, AlertAck, Checklist, DoseAdministration, Observation, RateChange, Signature
from tests.ui.helpers import PINS, calm, feed, go, nibp, sign, signed_in, vitals, wait_writer


def new_patient(window, mrn="MRN-1", weight="80"):
    p = window.patients
    p.open_new_patient()
    p.dialog.set_values(mrn=mrn, family="Rivera", given="Jordan", dob="1984-03-12", sex="female", weight=weight)
    assert p.dialog.submit()
    p.select_mrn(mrn)
    return p.selected()


def fill_presession(window, weight="80"):
    f = window.presession
    f.consent.setChecked(True)
    f.escort_name.setText("Pat Rivera")
    f.escort_phone.setText("555-0142")
    f.no_driving.setChecked(True)
    f.weight.setText(weight)
    f.b_sys.setText("124")
    f.b_dia.setText("78")
    f.b_hr.setText("72")
    f.lot.setText("KET123")
    f.waste_mg.setText("10")
    f.waste_method.setCurrentIndex(1)
    f.waste_witness.setText("nurse.b")
    f.items.answer_all_safe()  # the complete pre-session items (issue 16)


def sign_presession(window):
    """The nurse signs the dose (performed), the witness the waste (witnessed), each with their own PIN."""
    p = window.presession
    assert p.submit(), p.message.text()
    assert sign(p.sign_dialog, PINS["nurse.a"]), p.sign_dialog.error.text()
    assert p.sign_dialog.user_id.text() == "nurse.b"  # the witness named on the form
    assert sign(p.sign_dialog, PINS["nurse.b"]), p.sign_dialog.error.text()
    assert p.sign_dialog is None


def sign_discharge(window, pin=PINS["nurse.a"]):
    d = window.discharge
    assert d.submit(), d.message.text()
    assert sign(d.sign_dialog, pin), d.sign_dialog.error.text()


def checked_in_session(window, qtbot):
    new_patient(window)
    window.patients.start("IV")
    assert window.stack.currentWidget() is window.presession
    fill_presession(window)
    sign_presession(window)
    assert window.stack.currentWidget() is window.session
    return window.c.session_id


def test_whole_session(window, qtbot, store, clock):
    sid = checked_in_session(window, qtbot)
    s = window.session
    dose = store.rows(DoseAdministration, session_id=sid)[0]
    assert dose["dose_mg"] == 40.0 and dose["rate_ml_per_h"] == 60.0 and dose["lot"] == "KET123"
    assert "dose = 80 kg x 0.5 mg/kg = 40.0 mg" in window.presession.steps.text()

    feed(window, qtbot, vitals(clock, 60) + nibp(clock, 126, 80, 95))
    qtbot.waitUntil(lambda: s.tiles["hr"].value.text() == "72")
    assert s.tiles["bp"].value.text() == "126/80"
    assert "mean 95" in s.tiles["bp"].sub.full_text

    qtbot.keyClick(s, "g")  # start (keyboard shortcut)
    assert window.c.state is SessionState.INFUSING
    feed(window, qtbot, calm(clock, 5))
    s.sed_buttons[0].click()  # MOAA/S 5, one tap
    assert "MOAA/S 5 - saved" in s.message.text()
    obs = [o for o in store.rows(Observation, session_id=sid) if o["kind"] == "sedation"]
    assert obs and obs[0]["value"] == 5

    # an SpO2 dip fires an alert with the policy version; the banner stays until acknowledged with an action
    feed(window, qtbot, vitals(clock, 3, spo2=90))
    alerts = store.rows(Alert, session_id=sid)
    assert [a["rule"] for a in alerts] == ["spo2-low"] and alerts[0]["policy_version"] == store.policy.version
    qtbot.waitUntil(lambda: s.banner.isVisible())
    assert window.sound.active
    s.open_ack()
    s.dialog.set_values(action="")
    assert not s.dialog.submit()  # an acknowledgment needs the action taken
    s.dialog.set_values(action="Patient roused, deep breaths; SpO2 back to 97%")
    assert s.dialog.submit()
    acks = store.rows(AlertAck)
    assert acks[0]["alert_id"] == alerts[0]["id"] and acks[0]["author"] == "nurse.a"
    qtbot.waitUntil(lambda: not s.banner.isVisible())
    assert not window.sound.active

    feed(window, qtbot, calm(clock, 10))
    s.open_rate()
    s.dialog.set_values(rate="45", reason="Dissociation 3: reduced by 25%")
    assert s.dialog.submit()
    assert store.rows(RateChange, session_id=sid)[0]["rate_ml_per_h"] == 45

    s.open_nausea()
    s.dialog.pick(6)
    nausea = [o for o in store.rows(Observation, session_id=sid) if o["kind"] == "nausea"][0]
    window._repaint()
    entry = next(e for e in s._entries if e.entry_id == nausea["id"])
    s.open_amend(entry)
    s.dialog.set_values(value="3", reason="Mis-keyed: patient said 3")
    assert s.dialog.submit()
    window._repaint()
    texts = [s.entry_list.item(i).text() for i in range(s.entry_list.count())]
    corrected = next(t for t in texts if "Nausea 3/10" in t)
    assert "CORRECTED" in corrected and "was: Nausea 6/10" in corrected and "Mis-keyed" in corrected
    assert store.get(Observation, nausea["id"])["value"] == 6  # the original stays

    feed(window, qtbot, calm(clock, 25))
    s.open_stop()
    assert s.dialog.submit()
    assert window.c.state is SessionState.RECOVERY
    feed(window, qtbot, vitals(clock, 30))
    wait_writer(window, qtbot)
    assert len(store.readings(sid)) >= 2 * 60 + 2 * 33
    s.sed_buttons[0].click()  # MOAA/S 5 and dissociation none, charted after the infusion
    s.diss_buttons[0].click()

    feed(window, qtbot, calm(clock, 81))  # 121 min after start: the countdown ends and the discharge check is offered
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.discharge, timeout=3000)
    d = window.discharge
    for cb in d.items.values():
        cb.setChecked(True)
    for cb in d.padss.values():
        cb.setCurrentIndex(1)
    assert d.submit()  # valid: the PIN dialog is up, nothing saved yet
    assert not sign(d.sign_dialog, "9999")  # wrong PIN: not signed, nothing saved
    assert "not recognised" in d.sign_dialog.error.text()
    d.sign_dialog.reject()  # no signature: nothing saved
    assert "not signed" in d.message.text()
    assert store.rows(Checklist, session_id=sid, kind="discharge") == []
    assert store.session_state(sid) is SessionState.RECOVERY
    clock.advance(2)  # the next attempt after a wrong PIN waits 1 s (throttling, on the clock)
    sign_discharge(window)
    check = store.rows(Checklist, session_id=sid, kind="discharge")[0]
    assert check["passed"] and check["score"] == 10
    sig = store.rows(Signature, target_id=check["id"])[0]
    assert sig["printed_name"] == "Ada Nurse, RN" and sig["meaning"] == "performed" and sig["user_id"] == "nurse.a"
    assert store.session_state(sid) is SessionState.DISCHARGED
    assert window.stack.currentWidget() is window.patients


def test_bad_input_is_answered_and_nothing_saved(window, qtbot, store, clock):
    pid = new_patient(window)["patient_id"]
    window.patients.start("IV")
    assert window.c.session_id is None  # a pre-session stores nothing until it is saved
    fill_presession(window, weight="seventy")
    assert not window.presession.submit()
    assert "Weight must be a number" in window.presession.message.text()
    window.presession.weight.setText("200")
    window.presession.mg_per_kg.setText("1.0")
    assert not window.presession.submit()
    assert "hard cap" in window.presession.message.text()
    assert "hard cap" in window.presession.steps.text()
    assert store.sessions_for_patient(pid) == [] and store.rows(DoseAdministration) == []
    assert store.rows(Observation) == []

    # letters in a new patient's weight: the dialog stays open with the reason, no patient is written
    window.patients.open_new_patient()
    dlg = window.patients.dialog
    dlg.set_values(mrn="MRN-2", family="Okafor", given="Chidi", dob="1979-11-02", weight="80")
    assert dlg.values()["sex"] == ""  # no silent default: the nurse must choose (issue 12)
    assert not dlg.submit()
    assert "choose the patient's sex" in dlg.error.text()
    dlg.set_values(sex="male", weight="eighty")
    assert not dlg.submit()
    assert "Weight must be a number" in dlg.error.text()
    assert not any(p["mrn"] == "MRN-2" for p in store.patients())


def test_predose_bp_warns_before_start(window, qtbot, store, clock):
    new_patient(window)
    window.patients.start("IV")
    fill_presession(window)
    window.presession.b_sys.setText("152")
    window.presession.b_dia.setText("94")
    assert "152/94" in window.presession.predose.text()
    sign_presession(window)
    s = window.session
    feed(window, qtbot, vitals(clock, 5))  # the monitor streams (no cuff reading): the typed BP is the latest
    s.start_infusion()
    assert window.c.state is SessionState.CHECKED_IN  # not started: the review dialog is up
    assert s.dialog is not None
    s.dialog.set_values(reason="Repeat 138/86, prescriber agreed")
    assert s.dialog.submit()
    assert window.c.state is SessionState.INFUSING
    alert = store.rows(Alert, session_id=window.c.session_id)[0]
    assert alert["rule"] == "predose-bp" and store.rows(AlertAck)[0]["action"].startswith("Started after review")


def test_restart_reopens_the_session_with_data_and_clocks(qtbot, tmp_path, clock):
    from ketachart.app import create_main_window
    from ketachart.store.open import open_store

    from tests.ui.helpers import FAST_HASHER, without_order_requirement

    store = open_store(tmp_path / "c.db", unencrypted=True, clock=clock)
    store.create_user("nurse.a", "Ada Nurse, RN", "nurse", FAST_HASHER.hash(PINS["nurse.a"]))
    store.create_user("nurse.b", "Ben Okafor, RN", "nurse", FAST_HASHER.hash(PINS["nurse.b"]))
    without_order_requirement(store)
    w = create_main_window(store, clock, repaint_ms=50, accounts=signed_in(store), idle_min=0)
    w.c.writer.interval_s = 0.05
    qtbot.addWidget(w)
    w.show()
    sid = checked_in_session(w, qtbot)
    feed(w, qtbot, vitals(clock, 5))
    w.session.start_infusion()
    go(clock, 10)
    w.session.diss_buttons[2].click()
    feed(w, qtbot, vitals(clock, 120) + nibp(clock, 131, 84, 99))
    wait_writer(w, qtbot)
    go(clock, 2)
    w._repaint()
    before = [t.value.text() for t in w.session.clock_tiles]
    w.close()  # the "crash": window and store go away
    store.close()

    store2 = open_store(tmp_path / "c.db", unencrypted=True, clock=clock)
    w2 = create_main_window(store2, clock, repaint_ms=50, accounts=signed_in(store2), idle_min=0)
    qtbot.addWidget(w2)
    w2.show()
    assert w2.c.session_id == sid and w2.stack.currentWidget() is w2.session
    w2._repaint()
    assert [t.value.text() for t in w2.session.clock_tiles] == before
    assert before[0] == "14:00"  # infusion elapsed from the stored start, not from counted ticks
    assert w2.c.live.hr.n >= 120 and w2.session.tiles["bp"].value.text() == "131/84"
    assert any("Dissociation 2/4" in w2.session.entry_list.item(i).text() for i in range(w2.session.entry_list.count()))
    w2.close()
    store2.close()


def test_discharge_override_rules(window, qtbot, store, clock):
    sid = checked_in_session(window, qtbot)
    s = window.session
    feed(window, qtbot, vitals(clock, 5))
    s.start_infusion()
    feed(window, qtbot, calm(clock, 40))
    s.open_stop()
    s.dialog.submit()
    s.sed_buttons[0].click()
    s.diss_buttons[0].click()
    feed(window, qtbot, calm(clock, 20))  # 60 min: early
    window.show_discharge()
    d = window.discharge
    for cb in d.items.values():
        cb.setChecked(True)
    for cb in d.padss.values():
        cb.setCurrentIndex(1)
    d.update_decision()
    assert "Override needed" in d.decision.text() and "60 min since the start" in d.decision.text()
    assert not d.submit()
    assert "override needs a reason" in d.message.text()
    assert store.rows(Checklist, session_id=sid, kind="discharge") == []

    feed(window, qtbot, calm(clock, 65))  # 125 min, but PADSS 8: still an override
    d.padss["ambulation"].setCurrentIndex(3)  # 0 points
    d.update_decision()
    assert "PADSS 8 is below the pass score" in d.decision.text()
    assert not d.items["steady_gait"].isEnabled()  # "unable" to walk: a steady gait cannot be ticked
    assert "PADSS ambulation is 'Unable'" in d.item_notes["steady_gait"].text()
    d.override.setText("Escort will use a wheelchair; prescriber reviewed")
    sign_discharge(window)
    row = store.rows(Checklist, session_id=sid, kind="discharge")[0]
    assert not row["passed"] and row["override_reason"].startswith("Escort") and row["score"] == 8
    assert store.session_state(sid) is SessionState.DISCHARGED


def test_presession_with_a_signature_that_fails_saves_nothing(window, qtbot, store):
    """The form, dose, waste and signatures are one transaction: a failure while signing leaves no trace."""
    from ketachart.domain.errors import ClinicalInputError

    pid = new_patient(window)["patient_id"]
    window.patients.start("IV")
    fill_presession(window)
    form = window.presession.form()
    nurse = window.signatures.verify("nurse.a", PINS["nurse.a"], "performed")
    witness = window.signatures.verify("nurse.b", PINS["nurse.b"], "witnessed")
    note = store.observe(None, "note", text="used up the witness's re-authentication")
    window.signatures.sign_as(Observation, note["id"], witness)  # ... so the waste signature fails, late

    before = {t: len(store.rows(t)) for t in (Observation, DoseAdministration, Checklist, Signature)}
    try:
        window.c.save_presession(form, nurse, witness)
    except ClinicalInputError:
        pass
    else:
        raise AssertionError("the signature failure must reach the caller")
    assert {t: len(store.rows(t)) for t in before} == before
    assert store.sessions_for_patient(pid) == []  # not even the session: it is created with the saved form
    assert store.verify_chain() == []


def test_a_new_policy_version_applies_to_the_open_session_at_once(window, qtbot, store, clock):
    """An admin raises the SpO2 alert limit mid-session: the next reading is judged by the new version."""
    sid = checked_in_session(window, qtbot)
    feed(window, qtbot, vitals(clock, 5, spo2=94))
    assert not [a for a in store.rows(Alert, session_id=sid) if a["rule"] == "spo2-low"]  # 94 % is above 92 %
    store.set_policy(store.policy.changed(spo2_low=95))
    feed(window, qtbot, vitals(clock, 5, spo2=94))
    (alert,) = [a for a in store.rows(Alert, session_id=sid) if a["rule"] == "spo2-low"]
    assert alert["policy_version"] == store.policy.version and "95%" in alert["message"]

"""The nurse's flow through the real window: every session starts clean, one session per chair, nothing lost."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import Qt

from ketachart.domain.session import SessionState
from ketachart.store.models import DoseAdministration, Observation
from tests.e2e.test_session_flow import fill_presession, sign_discharge, sign_presession
from tests.ui.helpers import calm, feed, go, vitals, wait_writer


def add_patient(window, mrn, family, given, weight):
    p = window.patients
    p.open_new_patient()
    p.dialog.set_values(mrn=mrn, family=family, given=given, dob="1980-01-02", sex="female", weight=weight)
    assert p.dialog.submit()
    p.select_mrn(mrn)
    return p.selected()


def discharge_now(window):
    d = window.discharge
    window.show_discharge()
    for cb in d.items.values():
        cb.setChecked(True)
    for cb in d.padss.values():
        cb.setCurrentIndex(1)
    sign_discharge(window)


def test_two_patients_in_a_row_on_one_chair(window, qtbot, store, clock):
    a = add_patient(window, "MRN-A", "Adams", "Ann", "80")
    window.patients.start("IV")
    f = window.presession
    assert f.copy_button.isEnabled() is False  # no earlier session of her own
    fill_presession(window)
    f.meds.setText("sertraline 50 mg")
    f.rems["benzodiazepines"].setChecked(True)
    sign_presession(window)
    sid_a = window.c.session_id
    feed(window, qtbot, vitals(clock, 5))  # the monitor streams: the start gate's condition
    window.session.start_infusion()
    feed(window, qtbot, vitals(clock, 60))

    # a second patient while Adams is infusing: refused with the reason, nothing stored, her vitals go on
    b = add_patient(window, "MRN-B", "Baker", "Bo", "60")
    window.show_patients()
    window.patients.select_patient(b["patient_id"])
    assert window.patients.start("IV") is None
    assert "infusing for ADAMS, Ann" in window.patients.message.text()
    assert store.sessions_for_patient(b["patient_id"]) == []
    assert window.c.session_id == sid_a
    feed(window, qtbot, vitals(clock, 40))  # the 40 s that used to vanish into the other patient's session
    wait_writer(window, qtbot)
    assert len(store.readings(sid_a)) == 2 * 105
    assert all(r["session_id"] == sid_a for r in store.readings(sid_a))

    window.patients.select_patient(a["patient_id"])
    assert window.patients.start("IV") == sid_a  # her own session resumes
    assert window.stack.currentWidget() is window.session
    go(window.c.clock, 40)
    window.session.open_stop()
    window.session.dialog.set_values(outcome="completed")
    assert window.session.dialog.submit()
    window.session.sed_buttons[0].click()  # MOAA/S 5 and no dissociation, charted after the infusion
    window.session.diss_buttons[0].click()
    feed(window, qtbot, calm(clock, 81))  # the monitor keeps streaming until the discharge check
    discharge_now(window)
    assert store.session_state(sid_a) is SessionState.DISCHARGED
    assert window.stack.currentWidget() is window.patients
    assert window.patients.selected()["patient_id"] == a["patient_id"]  # selected by id, not by row

    # Baker's pre-session starts empty except the clinic's defaults
    window.patients.select_patient(b["patient_id"])
    window.patients.start("IV")
    assert window.stack.currentWidget() is f
    pol = store.policy
    assert [w.text() for w in (f.weight, f.b_sys, f.b_dia, f.b_hr, f.b_spo2, f.meds, f.escort_name, f.escort_phone,
                               f.lot, f.waste_mg, f.waste_witness, f.fasting)] == [""] * 12
    assert not any(cb.isChecked() for cb in (f.consent, f.no_driving, *f.rems.values()))
    assert f.waste_method.currentText() == ""
    assert (f.mg_per_kg.text(), f.conc.text(), f.minutes.text()) == (
        f"{pol.mg_per_kg_default:g}", f"{pol.concentration_mg_per_ml_default:g}", str(pol.infusion_min_default))
    assert "Weight" in f.steps.text()  # no dose on someone else's weight
    assert not f.copy_button.isEnabled()
    # leaving an unsaved pre-session stores nothing
    f.cancel()
    assert store.sessions_for_patient(b["patient_id"]) == []
    window.patients.select_patient(b["patient_id"])
    window.patients.start("IV")
    fill_presession(window, weight="60")
    sign_presession(window)
    assert store.rows(DoseAdministration, session_id=window.c.session_id)[0]["dose_mg"] == 30.0


def test_copy_from_last_session_is_explicit_and_dated(window, qtbot, store, clock):
    a = add_patient(window, "MRN-A", "Adams", "Ann", "80")
    window.patients.start("IV")
    fill_presession(window)
    window.presession.meds.setText("sertraline 50 mg")
    window.presession.rems["opioids"].setChecked(True)
    sign_presession(window)
    sid = window.c.session_id
    window.c.cancel_session("patient felt unwell before the start")
    assert store.session_state(sid) is SessionState.ABORTED
    go(clock, 60 * 24 * 7)
    window.show_patients()
    window.patients.select_patient(a["patient_id"])
    window.patients.start("IV")
    f = window.presession
    assert f.meds.text() == "" and not f.rems["opioids"].isChecked() and f.weight.text() == ""
    assert f.copy_button.isEnabled() and "Copy from last session (" in f.copy_button.text()
    f.copy_button.click()
    assert f.meds.text() == "sertraline 50 mg" and f.rems["opioids"].isChecked()
    assert f.escort_name.text() == "Pat Rivera"
    assert f.weight.text() == "" and f.lot.text() == "" and not f.consent.isChecked()  # today's facts stay empty
    assert "copied from the session of" in f.message.text()


def _checked_in(window, qtbot):
    add_patient(window, "MRN-S", "Stone", "Sam", "80")
    window.patients.start("IV")
    fill_presession(window)
    sign_presession(window)
    return window.c.session_id


def _summary_and_fhir(store, sid, clock):
    from ketachart.report.fhir import FhirOptions, build_bundle
    from ketachart.report.model import build_summary

    summary = build_summary(store, sid, now=clock.now())
    fields = {f.label: f for f in summary.dose.fields}
    bundle = build_bundle(store, sid, options=FhirOptions("https://ehr.clinic.example/mrn"))
    ma = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationAdministration"
          and "partOf" not in e["resource"]][0]  # the administration (its running segments are partOf it)
    return fields, ma


def test_early_stop_without_a_pump_charts_the_typed_volume(window, qtbot, store, clock):
    sid = _checked_in(window, qtbot)
    s = window.session
    feed(window, qtbot, vitals(clock, 5))  # the monitor streams: the start gate's condition
    s.start_infusion()
    go(clock, 7 + 52 / 60)
    s.open_stop()
    assert "delivered_ml" in s.dialog.widgets  # no pump: the nurse types it
    s.dialog.set_values(outcome="early", reason="", delivered_ml="7.9")
    assert not s.dialog.submit()
    assert "stopped early" in s.dialog.error.text()
    s.dialog.set_values(outcome="early", reason="patient distressed", delivered_ml="")
    assert not s.dialog.submit()
    assert "type the volume delivered" in s.dialog.error.text()
    s.dialog.set_values(outcome="early", reason="patient distressed", delivered_ml="7.9")
    assert s.dialog.submit()
    assert window.c.state is SessionState.RECOVERY
    (stop,) = [e for e in window.c.view.events if e["event"] == "stop-infusion"]
    assert stop["details"] == {"completed": False, "delivered_ml": 7.9, "delivered_mg": 7.9, "delivered_source": "typed",
                               "reason": "patient distressed"}
    assert "stopped early: 7.9 of 40 mg delivered" in s.message.text()
    fields, ma = _summary_and_fhir(store, sid, clock)
    out = fields["Delivered"]
    assert out.value.startswith("Infusion stopped early: 7.9 of 40 mg") and out.flag
    assert "ordered 40 mg, delivered 7.9 mg" in out.value and "DISCREPANCY 32.1 mg" in out.value
    assert ma["status"] == "stopped" and ma["dosage"]["dose"]["value"] == 7.9
    assert any("DISCREPANCY 32.1 mg" in n["text"] for n in ma["note"])


def test_early_stop_with_a_pump_charts_the_pump_volume(window, qtbot, store, clock):
    from ketachart.domain.codes import Parameter
    from ketachart.domain.readings import Reading

    sid = _checked_in(window, qtbot)
    s = window.session
    feed(window, qtbot, vitals(clock, 5))  # the monitor streams: the start gate's condition
    s.start_infusion()
    go(clock, 10)
    feed(window, qtbot, [Reading(Parameter.PUMP_VI, 9.8, clock.now(), source="device:bbraun")])
    s.open_stop()
    assert "delivered_ml" not in s.dialog.widgets  # the pump's number, not a typed one
    s.dialog.set_values(outcome="early", reason="hypertension 182/104")
    assert s.dialog.submit()
    (stop,) = [e for e in window.c.view.events if e["event"] == "stop-infusion"]
    assert stop["details"]["delivered_ml"] == 9.8 and stop["details"]["delivered_source"] == "pump"
    fields, ma = _summary_and_fhir(store, sid, clock)
    assert "9.8 of 40 mg delivered (9.8 mL, pump volume infused)" in fields["Delivered"].value
    assert ma["dosage"]["dose"]["value"] == 9.8


def test_manual_bp_is_charted_once_and_drawn_hollow(window, qtbot, store, clock):
    from ketachart.report.fhir import FhirOptions, build_bundle

    sid = _checked_in(window, qtbot)
    s = window.session
    window._repaint()
    assert s.tiles["bp"].value.text() == "124/78" and "baseline" in s.tiles["bp"].sub.full_text  # the typed baseline
    assert len(s.plot.manual_sys.data) == 1
    feed(window, qtbot, vitals(clock, 5))  # the monitor streams: the start gate's condition
    s.start_infusion()
    feed(window, qtbot, vitals(clock, 30, hr=72))
    go(clock, 5)
    taken = (clock.now() - timedelta(minutes=3)).astimezone().strftime("%H:%M")
    s.open_vitals()
    s.dialog.set_values(sys="142", dia="88", hr="51", taken_at=taken)
    assert s.dialog.submit()
    feed(window, qtbot, vitals(clock, 2, hr=72))
    wait_writer(window, qtbot)
    window._repaint()
    manual = [o for o in store.rows(Observation, session_id=sid) if o["kind"] == "manual-vitals"]
    assert len(manual) == 2  # the baseline and this one
    assert manual[-1]["effective_at"].astimezone().strftime("%H:%M") == taken
    assert not [r for r in store.readings(sid) if r["source"] == "manual"]  # not also as readings
    assert s.tiles["hr"].value.text() == "72"  # the hand-counted 51 never enters the monitor's HR tile
    assert 51 not in list(window.c.live.hr.arrays()[1])  # ... nor its trace
    assert s.tiles["bp"].value.text() == "142/88" and "manual" in s.tiles["bp"].sub.full_text
    assert len(s.plot.manual_sys.data) == 2 and s.plot.manual_sys.opts["brush"].style() == Qt.BrushStyle.NoBrush
    bundle = build_bundle(store, sid, options=FhirOptions("https://ehr.clinic.example/mrn"))
    bps = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
           and "85354-9" in str(e["resource"].get("code"))]
    assert len([b for b in bps if "142" in str(b)]) == 1  # one FHIR Observation for the one BP


def test_no_false_monitor_silent_at_connect_or_start(window, qtbot, store, clock):
    """A monitor streaming while the session opens and starts is not "silent"; one that connected and then
    sent nothing for the whole quiet period is."""
    from ketachart.hardware.devices import Connection
    from ketachart.store.models import Alert

    c = window.c
    quiet = max(store.policy.monitor_silent_s, 3.0 * c.speed)
    conn = Connection("monitor", "ge", "sim", state="streaming")
    c.devices.connections["monitor"] = conn
    feed(window, qtbot, vitals(clock, 20))  # streaming before anyone's session exists
    sid = _checked_in(window, qtbot)  # the session is created and opened now
    c.tick()
    feed(window, qtbot, vitals(clock, 5))  # the monitor streams: the start gate's condition
    window.session.start_infusion()
    feed(window, qtbot, vitals(clock, 5))
    c.tick()
    clock.advance(quiet - 2)
    c.tick()
    assert not [a for a in store.rows(Alert, session_id=sid) if a["rule"] == "monitor-silent"]
    clock.advance(4)
    c.tick()
    assert [a["rule"] for a in store.rows(Alert, session_id=sid)] == ["monitor-silent"]  # real silence still alerts

    # a second monitor that has just connected and not yet sent: not silent until a quiet period has passed
    c.devices.connections["monitor 2"] = Connection("monitor 2", "philips", "sim", state="streaming")
    feed(window, qtbot, vitals(clock, 2))
    c.tick()
    assert len(store.rows(Alert, session_id=sid)) == 1


def test_stale_text_goes_with_its_screen(window, qtbot, store, clock):
    sid = _checked_in(window, qtbot)
    s = window.session
    window._repaint()
    assert "Pre-session checks and dose" in s.message.text()  # the confirmation of what was just saved stays
    window.show_patients()
    window.patients.select_patient(window.c.view.patient["patient_id"])
    assert window.patients.phase.text() == "No completed session yet"  # not "No sessions yet" above one
    add_patient(window, "MRN-Z", "Adams", "Zoe", "70")  # "Patient Adams, Zoe saved" is said on the chair's line
    window.patients.select_patient(window.c.view.patient["patient_id"])
    window.patients.start("IV")
    window._repaint()
    assert window.stack.currentWidget() is s and window.c.session_id == sid
    assert "Adams" not in s.message.text()  # not about this session


def test_charted_list_names_people_and_shows_the_newest(window, qtbot, store, clock):
    _checked_in(window, qtbot)
    s = window.session
    feed(window, qtbot, vitals(clock, 5))  # the monitor streams: the start gate's condition
    s.start_infusion()
    for i in range(12):
        go(clock, 1)
        s.sed_buttons[0].click()
    window._repaint()
    first = s.entry_list.item(0).text()
    assert "MOAA/S 5" in first and "Ada Nurse, RN" in first and "nurse.a" not in first  # newest first, by name
    assert s.entry_list.verticalScrollBar().value() == 0  # scrolled to the newest
    texts = [s.entry_list.item(i).text() for i in range(s.entry_list.count())]
    assert any("Dose ketamine IV 40 mg" in t for t in texts)


def test_rate_dialog_offers_reductions_and_recomputes_the_time_left(window, qtbot, store, clock):
    from PySide6.QtWidgets import QPushButton

    _checked_in(window, qtbot)
    s = window.session
    feed(window, qtbot, vitals(clock, 5))  # the monitor streams: the start gate's condition
    s.start_infusion()
    go(clock, 10)  # 10 mL of 40 mL run at 60 mL/h
    s.open_rate()
    assert any("Current rate 60 mL/h" in lab.text() for lab in s.dialog.findChildren(type(s.dialog.live_line)))
    minus25 = s.dialog.findChild(QPushButton, "minus25")
    assert minus25 is not None and "45 mL/h" in minus25.text()
    minus25.click()
    assert s.dialog.values()["rate"] == "45"
    assert s.dialog.live_line.text() == "30.0 mL left: about 40 min at 45 mL/h"
    s.dialog.findChild(QPushButton, "minus50").click()
    assert s.dialog.live_line.text() == "30.0 mL left: about 60 min at 30 mL/h"
    s.dialog.set_values(rate="40")  # custom
    assert s.dialog.submit()
    assert "Rate 40 mL/h: 30.0 mL left, about 45 min" in s.message.text()


def _pump(clock, rate, vi, state="pumping", alarm="none"):
    from ketachart.domain.codes import Parameter as P
    from ketachart.domain.readings import Reading

    now, src = clock.now(), "device:bbraun"
    return [Reading(P.PUMP_RATE, rate, now, source=src), Reading(P.PUMP_VI, vi, now, source=src),
            Reading(P.PUMP_VTBI, round(40 - vi, 1), now, source=src),
            Reading(P.PUMP_STATE, 1.0, now, source=src, text=state),
            Reading(P.PUMP_ALARM, 0.0 if alarm == "none" else 1.0, now, source=src, text=alarm)]


def test_the_pump_tile_and_a_rate_the_pump_does_not_run(window, qtbot, store, clock):
    """The pump at the chair: rate, volume infused and to go, state, age; a charted rate the pump does not run
    is marked at once and an alert after the policy's seconds; stale data says so; a pump alarm is an alert
    with its source. Readings come through the bridge from a device thread."""
    from ketachart.store.models import Alert

    sid = _checked_in(window, qtbot)
    s = window.session
    window._repaint()
    assert not s.pump_tile.isVisible()  # no pump connected, nothing reported
    feed(window, qtbot, vitals(clock, 5) + _pump(clock, 60.0, 0.0))
    s.start_infusion()
    for minute in range(1, 4):
        go(clock, 1)
        feed(window, qtbot, vitals(clock, 2) + _pump(clock, 60.0, minute))
        window._repaint()
    t = s.pump_tile
    assert t.isVisible() and t.value.text() == "60" and t.label.full_text == "Pump · pumping"
    assert t.sub.full_text == "mL/h · infused 3 · to go 37 mL · 0 s ago"
    s.open_rate()
    s.dialog.set_values(rate="45", reason="dissociation 3")
    assert s.dialog.submit()
    feed(window, qtbot, vitals(clock, 2) + _pump(clock, 60.0, 3.1))
    window._repaint()
    assert t.label.full_text == "Pump ≠ charted 45" and t.sub.full_text.startswith("mL/h · pumping · ")  # marked at once
    assert not [a for a in store.rows(Alert, session_id=sid) if a["rule"] == "pump-rate-mismatch"]
    for _ in range(7):  # 70 s of the pump still at 60 mL/h
        feed(window, qtbot, vitals(clock, 10) + _pump(clock, 60.0, 3.3))
        window._repaint()
    (alert,) = [a for a in store.rows(Alert, session_id=sid) if a["rule"] == "pump-rate-mismatch"]
    assert "Pump rate 60 mL/h differs from the charted rate 45 mL/h" in alert["message"]
    assert "differs from the charted rate 45 mL/h" in s.banner_text.text() + s.banner_list.text()
    feed(window, qtbot, vitals(clock, 90))  # the pump goes quiet: what it said last is stale
    window._repaint()
    assert t.label.full_text == "Pump · STALE" and "last report 1 min ago" in t.sub.full_text
    feed(window, qtbot, _pump(clock, 0.0, 3.4, state="stopped", alarm="occlusion"))
    window._repaint()
    assert t.label.full_text == "Pump ⚠ Occlusion"
    hint = window.minimumSizeHint()  # the fourth tile keeps the session screen within 1280x800
    assert hint.width() <= 1280 and hint.height() <= 800 and window.width() <= 1280 and window.height() <= 800
    assert any(a["rule"] == "device-alarm:device:bbraun:occlusion" and a["message"] == "Pump bbraun: Occlusion"
               and a["severity"] == "critical" for a in store.rows(Alert, session_id=sid))

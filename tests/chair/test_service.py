"""The chair service driven directly (no Qt): commands, their validation, transactions, signing and alerts."""

from __future__ import annotations

import pytest

from ketachart.auth import AuthError
from ketachart.auth.signatures import Reauthenticated
from ketachart.chair import ChairService
from ketachart.domain.codes import Parameter
from ketachart.domain.errors import ClinicalInputError
from ketachart.domain.readings import Reading
from ketachart.domain.scales import DISCHARGE_ITEMS, PADSS_ITEMS
from ketachart.domain.session import SessionEvent, SessionState
from ketachart.store.models import (
    Alert,
    AlertAck,
    AuditEvent,
    Checklist,
    DoseAdministration,
    Observation,
    SessionEventRow,
    Signature,
)
from tests.chair.conftest import monitor, presession_form
from tests.ui.helpers import PINS

CHECKLIST = {k: True for k, _ in DISCHARGE_ITEMS if k != "min_120"}  # min_120 is computed from the chart
PADSS_PASS = {k: 2 for k, _, _ in PADSS_ITEMS}


def reauths(store) -> int:
    return sum(1 for e in store.rows(AuditEvent) if e["action"] == "reauth")


def new_session(chair) -> str:
    """A new pre-session: nothing is stored until it is saved (returns the patient id)."""
    p = chair.create_patient("MRN-1", "Rivera", "Jordan", "1984-03-12", "female", "80")
    assert chair.start_session(p["patient_id"], "IV") == ""
    return p["patient_id"]


def no_session_stored(store, patient_id) -> bool:
    return store.sessions_for_patient(patient_id) == [] and store.rows(DoseAdministration) == []


def checked_in(chair, store) -> str:
    new_session(chair)
    flow = chair.presession_signing(presession_form())
    assert [s.meaning for s in flow.steps] == ["performed", "witnessed"]
    assert flow.give(chair.signatures.verify("nurse.a", PINS["nurse.a"], "performed")) is None  # waits for the witness
    rows = flow.give(chair.signatures.verify("nurse.b", PINS["nurse.b"], "witnessed"))
    assert flow.done and rows["dose"]["dose_mg"] == 40.0
    return chair.session_id


def to_recovery(chair, clock) -> None:
    """Start with the monitor streaming, stop at 40 min, chart sedation and dissociation resolved, and watch
    calm vitals until 121 min: a session the chart says is ready to go home."""
    monitor(chair, clock)
    assert chair.start_infusion()
    clock.advance(40 * 60)
    chair.stop_infusion("Infusion completed")
    chair.chart_sedation(5)
    chair.chart_dissociation(0)
    monitor(chair, clock, 81)


def test_a_whole_session_through_the_service(chair, store, clock):
    sid = checked_in(chair, store)
    assert chair.state is SessionState.CHECKED_IN
    (dose,) = store.rows(DoseAdministration, session_id=sid)
    assert [(s["user_id"], s["meaning"]) for s in store.rows(Signature, target_id=dose["id"])] == [("nurse.a", "performed")]
    (waste,) = [o for o in store.rows(Observation, session_id=sid) if o["kind"] == "waste"]
    assert [(s["user_id"], s["meaning"]) for s in store.rows(Signature, target_id=waste["id"])] == [("nurse.b", "witnessed")]

    monitor(chair, clock)
    assert chair.start_infusion()
    clock.advance(5 * 60)
    chair.chart_sedation(5)
    chair.pause("patient asked for a break")
    assert chair.state is SessionState.PAUSED
    chair.resume()
    chair.change_rate("45", "Dissociation 3: reduced by 25%")
    clock.advance(35 * 60)
    chair.stop_infusion("Infusion completed")
    assert chair.state is SessionState.RECOVERY
    assert ("saved", ) == tuple({k for k, _ in chair.messages})
    assert chair.messages[-1][1].startswith("Infusion completed: 40 of 40 mg delivered (40 mL, ordered volume) - saved")
    chair.chart_sedation(5)
    chair.chart_dissociation(0)

    monitor(chair, clock, 81)
    offered = []
    chair.on_discharge_due = lambda: offered.append(True)
    chair.tick()
    chair.tick()
    assert offered == [True]  # offered once
    flow = chair.discharge_signing(CHECKLIST, PADSS_PASS, "")
    row = flow.give(chair.signatures.verify("nurse.a", PINS["nurse.a"], "performed"))
    assert row["passed"] and row["score"] == 10
    assert store.session_state(sid) is SessionState.DISCHARGED
    assert [s["meaning"] for s in store.rows(Signature, target_id=row["id"])] == ["performed"]


def test_one_signature_is_one_reauth_audit_row(chair, store, clock):
    new_session(chair)
    before = reauths(store)
    flow = chair.presession_signing(presession_form(waste_mg="", waste_method="", waste_witness=""))
    assert len(flow.steps) == 1  # no waste: the nurse's signature only
    flow.give(chair.signatures.verify("nurse.a", PINS["nurse.a"], "performed"))
    sid = chair.session_id
    assert reauths(store) == before + 1
    assert len(store.rows(Signature)) == 1

    to_recovery(chair, clock)
    before = reauths(store)
    chair.discharge_signing(CHECKLIST, PADSS_PASS, "").give(chair.signatures.verify("nurse.a", PINS["nurse.a"], "performed"))
    assert reauths(store) == before + 1
    assert store.session_state(sid) is SessionState.DISCHARGED


def test_a_failing_discharge_signature_leaves_no_discharge_rows(chair, store, clock):
    """Checklist, signature and discharge event are one transaction: a signature refused inside it (here a
    re-authentication already used) leaves none of them and the session in recovery."""
    sid = checked_in(chair, store)
    to_recovery(chair, clock)
    nurse = chair.signatures.verify("nurse.a", PINS["nurse.a"], "performed")
    note = chair.chart_note("a note signed first, which uses up the re-authentication")
    chair.signatures.sign_as(Observation, note["id"], nurse)
    signatures_before = len(store.rows(Signature))
    with pytest.raises(ClinicalInputError, match="PIN again"):
        chair.discharge(CHECKLIST, PADSS_PASS, "", nurse)
    assert store.rows(Checklist, session_id=sid, kind="discharge") == []
    assert len(store.rows(Signature)) == signatures_before
    assert not [e for e in store.rows(SessionEventRow, session_id=sid) if e["event"] == SessionEvent.DISCHARGE.value]
    assert store.session_state(sid) is SessionState.RECOVERY
    assert store.verify_chain() == []


def test_a_reauthentication_signs_once_and_cannot_be_made_by_hand(chair, store, clock):
    checked_in(chair, store)
    note = chair.chart_note("to sign")
    who = chair.signatures.verify("nurse.a", PINS["nurse.a"], "reviewed")
    forged = Reauthenticated(who.user, "reviewed")  # same person, never verified: signs nothing
    with pytest.raises(ClinicalInputError):
        chair.signatures.sign_as(Observation, note["id"], forged)
    chair.signatures.sign_as(Observation, note["id"], who)
    with pytest.raises(ClinicalInputError):
        chair.signatures.sign_as(Observation, note["id"], who)
    assert [s["meaning"] for s in store.rows(Signature, target_id=note["id"])] == ["reviewed"]


def test_a_wrong_pin_or_a_witness_who_performed_saves_nothing(chair, store, clock):
    pid = new_session(chair)
    flow = chair.presession_signing(presession_form())
    with pytest.raises(AuthError):
        chair.signatures.verify("nurse.a", "0000", "performed")
    clock.advance(60)  # past the throttle after a wrong PIN
    flow.give(chair.signatures.verify("nurse.a", PINS["nurse.a"], "performed"))
    with pytest.raises(AuthError, match="different person"):
        flow.give(chair.signatures.verify("nurse.a", PINS["nurse.a"], "witnessed"))
    assert no_session_stored(store, pid)


@pytest.mark.parametrize("changes, message", [
    ({"consent": False}, "consent"),
    ({"weight_kg": "eighty"}, "Weight"),
    ({"baseline_sys": ""}, "systolic"),
    ({"lot": " "}, "lot number"),
    ({"waste_witness": "nurse.a"}, "someone else"),
    ({"phq9_items": ["1", "2", "", "", "", "", "", "", ""]}, "PHQ-9"),
])
def test_a_bad_presession_form_is_refused_before_anything_is_written(chair, store, changes, message):
    pid = new_session(chair)
    before = len(store.rows(Observation))
    with pytest.raises(ClinicalInputError, match=message):
        chair.presession_signing(presession_form(**changes))
    assert len(store.rows(Observation)) == before and no_session_stored(store, pid)


def test_device_readings_are_charted_and_raise_an_alert_once(chair, store, clock):
    sid = checked_in(chair, store)
    monitor(chair, clock)
    chair.start_infusion()
    changed = []
    chair.on_view_changed = lambda: changed.append(True)
    batch = []
    for spo2 in (97, 90, 89):
        now = clock.advance(1)
        batch += [Reading(Parameter.SPO2, spo2, now, source="device:ge"), Reading(Parameter.HR, 72, now, source="device:ge")]
    chair.feed(batch)
    (alert,) = store.rows(Alert, session_id=sid)
    assert alert["rule"] == "spo2-low" and changed
    assert [a["id"] for a in chair.unacknowledged()] == [alert["id"]]
    chair.acknowledge(alert["id"], "Deep breaths; SpO2 back to 97%")
    assert store.rows(AlertAck)[0]["alert_id"] == alert["id"] and chair.unacknowledged() == []
    chair.writer.stop()  # commits what is queued
    assert len(store.readings(sid)) == 6 + 6  # the monitor's first batch and these


def test_a_reopened_session_remembers_its_active_alert(chair, store, clock):
    """After a relaunch the rules know the alert is still active: the same dip does not alert twice."""
    sid = checked_in(chair, store)
    monitor(chair, clock)
    chair.start_infusion()
    chair.feed([Reading(Parameter.SPO2, 88, clock.advance(1), source="device:ge")])
    chair.writer.stop()
    again = ChairService(store, clock)
    try:
        again.open_session(sid)
        again.feed([Reading(Parameter.SPO2, 87, clock.advance(1), source="device:ge")])
        assert len(store.rows(Alert, session_id=sid)) == 1
    finally:
        again.shutdown()


def test_commands_on_a_finished_session_are_refused(chair, store, clock):
    checked_in(chair, store)
    to_recovery(chair, clock)
    chair.discharge_signing(CHECKLIST, PADSS_PASS, "").give(chair.signatures.verify("nurse.a", PINS["nurse.a"], "performed"))
    with pytest.raises(ClinicalInputError, match="ended"):
        chair.chart_sedation(4)
    with pytest.raises(ClinicalInputError, match="discharged"):
        chair.discharge_signing(CHECKLIST, PADSS_PASS, "")


def test_manual_vitals_are_charted_judged_and_shown(chair, store, clock):
    sid = checked_in(chair, store)
    chair.start_infusion()
    shown = []
    chair.on_readings_charted = shown.extend
    with pytest.raises(ClinicalInputError, match="both systolic and diastolic"):
        chair.chart_manual_vitals(sys_="120")
    chair.chart_manual_vitals(sys_="205", dia="96", spo2="97")  # systolic at or above the once-only limit
    assert sorted(r.parameter.value for r in shown) == ["NIBP_DIA", "NIBP_SYS", "SPO2"]
    assert store.readings(sid) == []  # charted once: the manual-vitals observation, never also as readings
    assert [a["rule"] for a in store.rows(Alert, session_id=sid)] == ["sys-high"]


def test_a_correction_keeps_the_original_and_needs_a_reason(chair, store, clock):
    sid = checked_in(chair, store)
    chair.start_infusion()
    row = chair.chart_nausea(6)
    with pytest.raises(ClinicalInputError, match="reason"):
        chair.amend_observation(row["id"], " ", value=3)
    with pytest.raises(ClinicalInputError):
        chair.amend_observation(row["id"], "mis-keyed", value=11)  # outside the 0-10 scale
    fixed = chair.amend_observation(row["id"], "Mis-keyed: patient said 3", value=3)
    assert fixed["amends"] == row["id"] and fixed["value"] == 3
    assert store.get(Observation, row["id"])["value"] == 6
    assert [o["value"] for o in store.rows(Observation, session_id=sid) if o["kind"] == "nausea"] == [6, 3]
    (waste,) = [o for o in store.rows(Observation, session_id=sid) if o["kind"] == "waste"]
    with pytest.raises(ClinicalInputError, match="cannot be corrected"):  # signed and witnessed: not amendable
        chair.amend_observation(waste["id"], "wrong amount", value=5)

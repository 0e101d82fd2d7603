"""Bedside safety through the chair service: the start gate reads the chart (latest BP, a streaming monitor),
alarms mean what they say, and discharge is computed from the chart (overrides need a reason and, by policy,
a second clinician)."""

from __future__ import annotations

import json

import pytest

from ketachart.auth import AuthError
from ketachart.domain.codes import Parameter as P
from ketachart.domain.errors import ClinicalInputError
from ketachart.domain.readings import Quality, Reading
from ketachart.domain.scales import PADSS_ITEMS
from ketachart.domain.session import SessionState
from ketachart.store.models import Alert, AlertAck, Checklist, Signature
from tests.chair.conftest import monitor, presession_form
from tests.ui.helpers import PINS

TICKS = {"alert_oriented": True, "steady_gait": True, "nausea_minimal": True, "escort_present": True,
         "no_driving": True, "written_instructions": True}
PADSS = {k: 2 for k, _, _ in PADSS_ITEMS}


def checked_in(chair, route="IV", **form) -> str:
    p = chair.create_patient("MRN-7", "Okoro", "Sam", "1979-05-02", "male", "80")
    sid = chair.start_session(p["patient_id"], route)
    if route == "IN":
        form = {"route": "IN", "in_dose_mg": "56", "waste_mg": "", "waste_method": "", "waste_witness": "", **form}
    flow = chair.presession_signing(presession_form(**form))
    for step in flow.steps:
        who = step.user_id or "nurse.b"
        flow.give(chair.signatures.verify(who, PINS[who], step.meaning))
    return chair.session_id  # stored with its pre-session (issue 12)


def rules(store, sid) -> list[str]:
    return [a["rule"] for a in store.rows(Alert, session_id=sid)]


def ticks(chair, clock, seconds: int, make) -> None:
    for _ in range(seconds):
        chair.feed(make(clock.now()))
        chair.tick()
        clock.advance(1)


def calm(now, **v) -> list[Reading]:
    return [Reading(P.HR, v.get("hr", 72), now, source="device:ge"), Reading(P.PR, v.get("pr", 72), now, source="device:ge"),
            Reading(P.SPO2, v.get("spo2", 97), now, source="device:ge", flags=v.get("spo2_flags", frozenset())),
            Reading(P.RR, 14, now, source="device:ge")]


# --- the start gate -------------------------------------------------------------------------------------------

def test_starting_without_a_streaming_monitor_needs_a_reason_and_warns_until_it_streams(chair, store, clock):
    sid = checked_in(chair)
    assert chair.start_needs() == "monitor"
    assert chair.start_infusion() is False and chair.state is SessionState.CHECKED_IN  # nothing saved
    assert chair.start_infusion(without_monitor="  ") is False
    assert chair.start_infusion(without_monitor="monitor in repair; manual vitals every 5 min")
    (alert,) = store.rows(Alert, session_id=sid)
    assert alert["rule"] == "monitoring-missing" and alert["severity"] == "warning"
    assert json.loads(alert["data"]) == {"reason": "monitor in repair; manual vitals every 5 min"}
    clock.advance(60)
    chair.tick()
    assert rules(store, sid) == ["monitoring-missing"]  # one warning for the episode
    monitor(chair, clock)  # the monitor streams: cleared (the alert stays until acknowledged)
    chair.tick()
    clock.advance(45)  # and goes quiet again
    chair.tick()
    assert rules(store, sid).count("monitoring-missing") == 2


def test_the_predose_bp_is_the_latest_before_the_start_from_the_monitor(chair, store, clock):
    sid = checked_in(chair)  # typed baseline 124/78
    assert chair.predose_bp()[:2] == (124.0, 78.0)
    clock.advance(60)
    monitor(chair, clock, bp=(172, 104))  # the monitor's cuff: 172/104 a minute before the start
    assert chair.predose_bp()[:2] == (172.0, 104.0) and chair.predose_bp()[3] == "monitor"
    assert chair.start_needs() == "predose-bp"
    assert "172/104" in chair.baseline_over_limit()
    assert chair.start_infusion() is False
    assert chair.start_infusion(predose_reviewed="repeat 150/92, prescriber agreed")
    (alert,) = store.rows(Alert, session_id=sid)
    assert alert["rule"] == "predose-bp" and json.loads(alert["data"])["source"] == "monitor"
    assert store.rows(AlertAck)[0]["action"].startswith("Started after review")


def test_a_typed_bp_after_the_monitor_one_is_the_latest(chair, store, clock):
    checked_in(chair)
    monitor(chair, clock, bp=(172, 104))
    clock.advance(120)
    chair.chart_manual_vitals("132", "84")
    chair.feed(calm(clock.now()))  # the monitor streams, no new cuff reading: the typed BP is the latest
    assert chair.predose_bp()[:2] == (132.0, 84.0) and chair.start_needs() == ""


# --- alarms that mean what they say --------------------------------------------------------------------------

def started(chair, clock) -> None:
    monitor(chair, clock)
    assert chair.start_infusion()


def test_a_pr_artefact_is_a_signal_quality_warning_not_a_bradycardia(chair, store, clock):
    sid = checked_in(chair)
    started(chair, clock)
    ticks(chair, clock, 20, lambda now: calm(now, pr=45))
    assert rules(store, sid) == ["hr-pr-disagree"]


def test_sensor_off_for_the_policy_seconds_is_no_valid_spo2(chair, store, clock):
    sid = checked_in(chair)
    started(chair, clock)
    off = {"spo2": None, "spo2_flags": frozenset({Quality.SENSOR_OFF})}
    ticks(chair, clock, 29, lambda now: calm(now, **off))
    assert rules(store, sid) == []
    ticks(chair, clock, 5, lambda now: calm(now, **off))
    assert rules(store, sid) == ["no-valid-spo2"]
    (alert,) = store.rows(Alert, session_id=sid)
    assert alert["message"] == "No valid SpO2 for 30 s (sensor-off)"


def test_artefact_flagged_values_never_alarm(chair, store, clock):
    sid = checked_in(chair)
    started(chair, clock)
    ticks(chair, clock, 5, lambda now: calm(now, spo2=84, spo2_flags=frozenset({Quality.ARTIFACT})))
    assert rules(store, sid) == []
    ticks(chair, clock, 1, lambda now: calm(now, spo2=84))
    assert rules(store, sid) == ["spo2-low"]


def test_bp_overdue_beyond_the_grace(chair, store, clock):
    sid = checked_in(chair)
    started(chair, clock)  # BP at the start; next due at 15 min
    for _ in range(19 * 6):
        clock.advance(10)
        chair.feed(calm(clock.now()))
        chair.tick()
    assert "bp-overdue" not in rules(store, sid)
    for _ in range(2 * 6 + 1):
        clock.advance(10)
        chair.feed(calm(clock.now()))
        chair.tick()
    assert rules(store, sid) == ["bp-overdue"]


def test_typed_low_rr_and_pump_alarms(chair, store, clock):
    sid = checked_in(chair)
    started(chair, clock)
    chair.chart_manual_vitals(rr="6")
    chair.feed([Reading(P.PUMP_ALARM, 1, clock.now(), source="device:bbraun/1", text="occlusion")])
    alerts = store.rows(Alert, session_id=sid)
    assert [(a["rule"], a["severity"]) for a in alerts] == [("rr-low", "critical"),
                                                            ("device-alarm:device:bbraun/1:occlusion", "critical")]
    assert alerts[1]["message"] == "Pump bbraun/1: Occlusion"


# --- discharge reads the chart ----------------------------------------------------------------------------------

def to_recovery(chair, clock, minutes_after_stop=81, sedation=5) -> None:
    started(chair, clock)
    clock.advance(40 * 60)
    chair.stop_infusion("Infusion completed")
    chair.chart_sedation(sedation)
    chair.chart_dissociation(0)
    monitor(chair, clock, minutes_after_stop)


def sign_discharge(chair, override="", second=None):
    flow = chair.discharge_signing(TICKS, PADSS, override)
    result = flow.give(chair.signatures.verify("nurse.a", PINS["nurse.a"], "performed"))
    if second is not None:
        assert result is None and len(flow.steps) == 2 and flow.steps[1].meaning == "reviewed"
        result = flow.give(chair.signatures.verify(second, PINS[second], "reviewed"))
    return flow, result


def test_a_session_the_chart_supports_is_discharged_without_override(chair, store, clock):
    sid = checked_in(chair)
    to_recovery(chair, clock)
    r = chair.readiness(TICKS, PADSS)
    assert r.ready, r.blockers
    flow, row = sign_discharge(chair)
    assert len(flow.steps) == 1 and row["passed"] and not row["override_reason"]
    items = json.loads(row["items"])
    assert items["readiness"]["ready"] is True and items["lines"] == r.lines()
    assert store.session_state(sid) is SessionState.DISCHARGED


def test_moaas_2_and_an_open_critical_alert_block_discharge_until_overridden(chair, store, clock):
    sid = checked_in(chair)
    to_recovery(chair, clock)
    chair.chart_sedation(2)
    chair.feed(calm(clock.now(), spo2=85))
    clock.advance(60)
    monitor(chair, clock)
    r = chair.readiness({**TICKS, "alert_oriented": False}, PADSS)
    assert not r.ready
    assert r.criterion("sedation_resolved").chart_says.startswith("MOAA/S 2")
    assert r.criterion("no_open_alerts").chart_says.startswith("1 open alert: SpO2 85%")
    with pytest.raises(ClinicalInputError, match="'Alert and oriented' cannot be ticked as met"):
        chair.discharge_signing(TICKS, PADSS, "family insists")
    ticks_ = {**TICKS, "alert_oriented": False}
    with pytest.raises(ClinicalInputError, match="override needs a reason"):
        chair.discharge_signing(ticks_, PADSS, "")
    flow = chair.discharge_signing(ticks_, PADSS, "transfer to the ED with a nurse")
    row = flow.give(chair.signatures.verify("nurse.a", PINS["nurse.a"], "performed"))
    assert not row["passed"] and row["override_reason"] == "transfer to the ED with a nurse"
    assert "Sedation resolved (MOAA/S 5): MOAA/S 2" in " ".join(json.loads(row["items"])["reasons"])
    assert store.session_state(sid) is SessionState.DISCHARGED


def test_an_early_spravato_override_needs_a_second_clinician(chair, store, clock):
    sid = checked_in(chair, "IN")
    started(chair, clock)
    clock.advance(5 * 60)
    chair.stop_infusion("Administration completed")
    chair.chart_sedation(5)
    chair.chart_dissociation(0)
    monitor(chair, clock, 90)  # 95 min after the dose
    r = chair.readiness(TICKS, PADSS)
    assert r.needs_override and r.second_signature_required
    flow = chair.discharge_signing(TICKS, PADSS, "ride must leave")
    flow.give(chair.signatures.verify("nurse.a", PINS["nurse.a"], "performed"))
    with pytest.raises(AuthError):  # the performer cannot countersign
        flow.give(chair.signatures.verify("nurse.a", PINS["nurse.a"], "reviewed"))
    assert store.session_state(sid) is SessionState.RECOVERY
    clock.advance(60)
    monitor(chair, clock)
    _, row = sign_discharge(chair, "ride must leave", second="nurse.b")
    assert [(s["user_id"], s["meaning"]) for s in store.rows(Signature, target_id=row["id"])] == [
        ("nurse.a", "performed"), ("nurse.b", "reviewed")]
    assert store.rows(Checklist, session_id=sid, kind="discharge")[0]["override_reason"] == "ride must leave"
    assert store.session_state(sid) is SessionState.DISCHARGED


def test_a_contradicted_tick_is_refused(chair, store, clock):
    checked_in(chair)
    to_recovery(chair, clock)
    with pytest.raises(ClinicalInputError, match="'Steady gait' cannot be ticked as met: PADSS ambulation"):
        chair.discharge_signing(TICKS, {**PADSS, "ambulation": 1}, "override")


def test_the_summary_and_the_rems_section_state_the_facts_the_check_computed(chair, store, clock):
    from ketachart.report.model import build_summary

    sid = checked_in(chair, "IN")
    started(chair, clock)
    clock.advance(5 * 60)
    chair.stop_infusion("Administration completed")
    chair.chart_sedation(5)
    chair.chart_dissociation(0)
    monitor(chair, clock, 90)  # 95 min after the dose: early, an override signed by two
    r = chair.readiness(TICKS, PADSS)
    lines = r.lines()
    assert lines[0].startswith("… At least 120 min since the start") and lines[1].startswith("✔")
    sign_discharge(chair, "ride must leave", second="nurse.b")
    clock.advance(3 * 3600)  # printed hours later: the paper says what was signed, not a recomputation
    summary = build_summary(store, sid, clock.now())
    assert list(summary.discharge.facts) == lines
    (section,) = [fields for title, fields in summary.rems if title.startswith("Discharge readiness, computed")]
    assert len(section) == len(lines)
    for line, field in zip(lines, section):
        label, says = line[2:].split(": ", 1)
        assert (field.label, field.value) == (label, f"{line[0]} {says}")
        assert field.flag == (not line.startswith("✔"))  # what was not met is flagged on the form

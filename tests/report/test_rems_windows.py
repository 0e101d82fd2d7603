"""Each REMS field from its moment with its window, on sessions where the 40-minute BP was and was not taken,
and the summary printing the very same figures (issue 16)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from ketachart.domain.clock import FakeClock
from ketachart.domain.codes import Parameter
from ketachart.domain.dosing import intranasal_dose
from ketachart.domain.readings import Reading
from ketachart.domain.session import SessionEvent
from ketachart.domain.vocabulary import Kind
from ketachart.report.model import build_summary
from ketachart.report.settings import ReportSettings
from ketachart.store.open import open_store
from ketachart.store.records import set_rems_enrolment

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)
UTC = ReportSettings(tz_name="UTC", clinic_name="Test clinic")


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "chart.db", unencrypted=True, clock=FakeClock(T0))
    yield s
    s.close()


def _bp(store, sys_, dia, source="device:ge"):
    now = store.clock.now()
    return [Reading(Parameter.NIBP_SYS, sys_, now, source=source), Reading(Parameter.NIBP_DIA, dia, now, source=source)]


def _session(store, *, bp40: bool, dissociation_rechecked: bool = True, last_bp_min: float = 118,
             discharge_min: float = 125, mrn="REMS-1", course=None, last_bp=(128, 82)):
    """An intranasal session: documented baseline 124/79 with a device 126/80 closer to the start, BPs at
    10 min, (41 min), 65 min and ``last_bp_min``, sedation/dissociation charted, discharged at ``discharge_min``."""
    clock = store.clock
    if course is None:
        p = store.create_patient(mrn, "Reyes", "Ana", "1984-07-09", "female")
        course = store.create_course(p["patient_id"], "IN", "Spravato induction")
    sid = store.create_session(course["patient_id"], "IN", course["id"], chair="Chair 2")["id"]
    store.session_event(sid, SessionEvent.CHECK_IN)
    store.observe(sid, Kind.MANUAL_VITALS, data={"NIBP_SYS": 124, "NIBP_DIA": 79, "label": "baseline"})
    clock.advance(60)
    store.record_dose(sid, intranasal_dose(56, store.policy), lot="SPR-1")
    store.add_readings(sid, _bp(store, 126, 80))
    clock.advance(60)
    store.session_event(sid, SessionEvent.START_INFUSION)
    start = clock.now()

    def at(minute):
        clock.advance((start + timedelta(minutes=minute) - clock.now()).total_seconds())

    at(2)
    store.session_event(sid, SessionEvent.STOP_INFUSION)  # administration complete
    at(10)
    store.add_readings(sid, _bp(store, 132, 84))
    store.observe(sid, Kind.DISSOCIATION, 3)
    store.observe(sid, Kind.SEDATION, 4)
    if bp40:
        at(41)
        store.add_readings(sid, _bp(store, 150, 95))
    at(55)
    store.observe(sid, Kind.SEDATION, 5)
    if dissociation_rechecked:
        store.observe(sid, Kind.DISSOCIATION, 0)
    at(65)
    store.add_readings(sid, _bp(store, 138, 88))
    at(last_bp_min)
    store.add_readings(sid, _bp(store, *last_bp))
    at(discharge_min)
    store.save_checklist(sid, "discharge", {"checklist": {}, "padss": {}}, passed=True, score=10)
    store.session_event(sid, SessionEvent.DISCHARGE)
    at(discharge_min + 30)
    return sid, course


def _rems(summary) -> dict:
    return {f.label: f for _, fields in summary.rems for f in fields}


def _rows(summary) -> dict:
    return {r.label: r for r in summary.vitals}


def test_with_the_40_minute_bp_every_field_comes_from_its_moment(store):
    sid, _ = _session(store, bp40=True)
    s = build_summary(store, sid, store.clock.now(), UTC)
    rems = _rems(s)
    # pre-dose: the documented baseline the pre-dose check used, not the nearer device BP
    assert rems["BP before administration"].value == "124/79 mmHg at 14:00"
    assert rems["BP ~40 min after administration"].value == "150/95 mmHg at 14:43"
    assert rems["BP before completion of monitoring"].value == "128/82 mmHg at 16:00"
    assert not any(rems[k].flag for k in ("BP before administration", "BP ~40 min after administration",
                                         "BP before completion of monitoring"))
    assert rems["Vital signs in range before administration"].value.startswith("Yes (BP 124/79")
    assert rems["Vital signs in range before completion of monitoring"].value.startswith("Yes (BP 128/82")
    assert rems["If no 2-hour minimum, ready to leave after (minutes)"].value.startswith("55 ")
    assert rems["Total minutes, first device administration to end of monitoring"].value == "125"
    assert rems["Treatment date"].value == "03/02/2026" and rems["Date of birth"].value == "07/09/1984"
    # the summary prints the same figures at the same moments
    rows = _rows(s)
    assert rows["Baseline (before start)"].bp.startswith("124/79 (manual)")
    assert rows["~40 min after start"].bp.startswith("150/95")
    assert rows["Discharge / last"].bp.startswith("128/82")


def test_without_the_40_minute_bp_the_field_is_not_recorded_and_flagged(store):
    sid, _ = _session(store, bp40=False)
    s = build_summary(store, sid, store.clock.now(), UTC)
    field = _rems(s)["BP ~40 min after administration"]
    # the 10-min and 65-min BPs are outside the policy window (40 +/- 10 min): neither stands in for it
    assert field.value == "not recorded" and field.flag
    assert _rows(s)["~40 min after start"].bp == "no BP" and _rows(s)["~40 min after start"].note == "NOT RECORDED"


def test_the_40_minute_window_comes_from_the_policy(store):
    store.set_policy(store.policy.changed(rems_bp_window_min=30))
    sid, _ = _session(store, bp40=False)
    field = _rems(build_summary(store, sid, store.clock.now(), UTC))["BP ~40 min after administration"]
    assert field.value.startswith("138/88")  # 65 min is within 40 +/- 30; nearer than the 10-min one


def test_no_bp_near_the_end_is_not_recorded_and_in_range_is_not_taken_from_the_pre_dose_bp(store):
    sid, _ = _session(store, bp40=True, last_bp_min=80, discharge_min=125)
    rems = _rems(build_summary(store, sid, store.clock.now(), UTC))
    assert rems["BP before completion of monitoring"].value == "not recorded"
    assert rems["BP before completion of monitoring"].flag
    assert rems["Vital signs in range before completion of monitoring"].value == "not recorded"
    assert rems["Vital signs in range before completion of monitoring"].flag


def test_dissociation_never_recharted_resolved_is_not_ready_to_leave(store):
    sid, _ = _session(store, bp40=True, dissociation_rechecked=False)
    field = _rems(build_summary(store, sid, store.clock.now(), UTC))["If no 2-hour minimum, ready to leave after (minutes)"]
    assert field.value.startswith("not recorded") and "dissociation" in field.value and field.flag


def test_in_range_before_completion_reads_the_completion_bp(store):
    sid, _ = _session(store, bp40=True, last_bp=(162, 101))
    rems = _rems(build_summary(store, sid, store.clock.now(), UTC))
    assert rems["Vital signs in range before administration"].value.startswith("Yes (BP 124/79")
    field = rems["Vital signs in range before completion of monitoring"]
    assert field.value == "No (BP 162/101)" and field.flag


def test_first_treatment_comes_from_the_course_and_enrolment_is_recorded_with_the_patient(store):
    sid1, course = _session(store, bp40=True)
    sid2, _ = _session(store, bp40=True, course=course)
    set_rems_enrolment(store, course["patient_id"], "RP-00012345")
    one, two = (_rems(build_summary(store, s, store.clock.now(), UTC)) for s in (sid1, sid2))
    assert one["First treatment"].value == "Yes" and two["First treatment"].value == "No"
    assert two["REMS patient enrolment id"].value == "RP-00012345" and not two["REMS patient enrolment id"].flag
    set_rems_enrolment(store, course["patient_id"], "RP-00099999", reason="typo in the id")
    assert _rems(build_summary(store, sid2, store.clock.now(), UTC))["REMS patient enrolment id"].value == "RP-00099999"


def test_every_figure_the_rems_form_prints_is_the_one_the_summary_prints(store):
    sid, _ = _session(store, bp40=True)
    s = build_summary(store, sid, store.clock.now(), UTC)
    rems = _rems(s)
    rows = _rows(s)
    pairs = {
        "BP before administration": rows["Baseline (before start)"].bp,
        "BP ~40 min after administration": rows["~40 min after start"].bp,
        "BP before completion of monitoring": rows["Discharge / last"].bp,
    }
    for label, summary_text in pairs.items():
        figure = re.match(r"(\d+/\d+)", rems[label].value).group(1)
        time_ = rems[label].value.rsplit(" at ", 1)[1]
        assert summary_text.startswith(figure) and summary_text.endswith(f"at {time_}"), (label, summary_text)
    dose = {f.label: f.value for f in s.dose.fields}
    assert dose["Lot"] == rems["Lot number"].value
    assert dose["Total dose"].startswith(rems["Dose"].value)

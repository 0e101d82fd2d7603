"""The one vocabulary and the shared vitals rules (validity, NIBP pairing, HR/PR choice, infusion spans)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ketachart.domain.alerts import AlertRules
from ketachart.domain.codes import Parameter
from ketachart.domain.errors import ClinicalInputError
from ketachart.domain.policy import ClinicPolicy
from ketachart.domain.readings import Quality, Reading
from ketachart.domain.vitals import (
    HeartRateChoice,
    group_nibp,
    infusion_spans,
    nibp_pairs,
    reading_from_row,
    usable,
    usable_value,
)
from ketachart.domain.vocabulary import OBSERVATION_KINDS, Kind, describe, event_text, plot_mark

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_every_kind_has_one_row_and_scored_kinds_validate_their_range():
    assert set(OBSERVATION_KINDS) == set(Kind.ALL)
    for k in OBSERVATION_KINDS.values():
        if k.validate is not None:
            lo, hi = k.value_range
            assert k.validate(lo) == lo and k.validate(hi) == hi
            with pytest.raises(ClinicalInputError):
                k.validate(hi + 1)


def test_an_observation_reads_the_same_as_phrase_and_as_sentence():
    text = describe(Kind.NAUSEA, 6, None, {"vomiting": False})
    assert (text.label, text.phrase, text.sentence) == ("Nausea", "6/10 (moderate), no vomiting",
                                                        "Nausea 6/10 (moderate), no vomiting")
    phq = describe(Kind.PHQ9, 13, None, {"items": [2, 2, 2, 2, 1, 1, 1, 1, 1]})
    assert phq.flag and "ITEM 9 = 1" in phq.sentence
    assert plot_mark(Kind.DISSOCIATION, 3) == "D3" and plot_mark(Kind.INTERVENTION, 4) == "Rx"
    assert plot_mark(Kind.PRECHECK, None) is None


def test_session_events_read_the_same_for_screen_and_paper():
    assert event_text("pause", {"reason": "Patient asked for a break"}) == "Infusion PAUSED - Patient asked for a break"
    assert event_text("start-infusion", {"rate_ml_per_h": 52.5}) == "Infusion STARTED at 52.5 mL/h"
    assert event_text("start-infusion", {}, route="IN") == "Administration STARTED"


def test_artefact_and_invalid_readings_are_not_usable_in_either_shape():
    hr = Reading(Parameter.HR, 190, T0, flags=frozenset({Quality.ARTIFACT}))
    assert not usable(hr) and hr.value == 190  # charted as the device said, never used as a number
    assert usable(Reading(Parameter.HR, 70, T0, flags=frozenset({Quality.QUESTIONABLE})))
    assert usable_value(190, "artifact") is None and usable_value(190, "") == 190.0
    assert usable_value(190, {Quality.ARTIFACT}) is None and usable_value(None, "") is None


def test_an_artefact_never_raises_an_alert():
    rules = AlertRules(ClinicPolicy())
    assert rules.feed(Reading(Parameter.SPO2, 85, T0, flags=frozenset({Quality.ARTIFACT}))) == []
    assert [f.rule for f in rules.feed(Reading(Parameter.SPO2, 85, at(1)))] == ["spo2-low"]


def test_stored_rows_become_readings_with_their_flags():
    r = reading_from_row({"parameter": "HR", "value": 190.0, "effective_at": "2026-01-05T09:00:00",
                          "flags": "artifact,bogus", "source": "device:ge", "unit": "/min", "text": None})
    assert r.flags == {Quality.ARTIFACT} and r.source == "device:ge" and r.host_time.tzinfo is not None
    assert not usable(r)


def test_nibp_values_within_5_s_are_one_measurement():
    rows = [(Parameter.NIBP_SYS, at(0), 150), (Parameter.NIBP_DIA, at(4), 95), (Parameter.NIBP_MEAN, at(4.5), 113),
            (Parameter.NIBP_SYS, at(300), 140), (Parameter.NIBP_DIA, at(306), 90)]
    groups = group_nibp(rows, at=lambda r: r[1], parameter=lambda r: r[0])
    pairs = nibp_pairs(groups, value=lambda r: r[2])
    assert [(p.sys, p.dia, p.mean) for p in pairs] == [(150, 95, 113)]  # the 6 s apart pair is two measurements
    assert len(groups) == 3


def test_pulse_rate_only_while_there_is_no_ecg():
    choice = HeartRateChoice()
    took = [choice.accept(p, ok) for p, ok in ((Parameter.PR, True), (Parameter.HR, False), (Parameter.PR, True),
                                                (Parameter.HR, True), (Parameter.PR, True))]
    assert took == [True, True, True, True, False]


def test_infusion_spans_with_pause_and_abort():
    events = [("check-in", at(0)), ("start-infusion", at(300)), ("pause", at(600)), ("resume", at(720)),
              ("abort", at(900))]
    spans = infusion_spans(events)
    assert [(s.start, s.end, s.paused) for s in spans] == [
        (at(300), at(600), False), (at(600), at(720), True), (at(720), at(900), False)]
    open_ = infusion_spans(events[:3])
    assert [(s.start, s.end, s.paused) for s in open_] == [(at(300), at(600), False), (at(600), None, True)]


def test_infusion_timing_needs_no_policy_and_agrees_with_the_clocks():
    from ketachart.domain.session import SessionEvent as E
    from ketachart.domain.timeline import StateChange, compute_clocks, infusion_timing

    changes = [StateChange(E.CHECK_IN, at(0)), StateChange(E.START_INFUSION, at(300)), StateChange(E.PAUSE, at(900)),
               StateChange(E.RESUME, at(1020))]
    timing = infusion_timing(changes, at(1500), planned_minutes=40)
    assert timing.infusion_elapsed == timedelta(minutes=18) and timing.paused_for == timedelta(minutes=2)
    for policy in (ClinicPolicy(), ClinicPolicy(discharge_min_after_start=150, nibp_interval_min=10)):
        clocks = compute_clocks(changes, at(1500), policy, planned_minutes=40)
        assert (clocks.infusion_elapsed, clocks.paused_for, clocks.infusion_remaining) == (
            timing.infusion_elapsed, timing.paused_for, timing.infusion_remaining)
        assert clocks.discharge_due_at == at(300) + timedelta(minutes=policy.discharge_min_after_start)


def test_course_phase_and_next_due():
    from ketachart.domain.course import course_phase

    week3 = course_phase(T0, T0 + timedelta(days=14), "IN", T0 + timedelta(days=15))
    assert week3.phase == "Induction, week 3 of 4 (twice a week)" and week3.next_due == T0 + timedelta(days=17)
    late = course_phase(T0, T0 + timedelta(days=70), "IV", T0 + timedelta(days=120))
    assert late.phase == "Maintenance (monthly or as needed)" and late.overdue

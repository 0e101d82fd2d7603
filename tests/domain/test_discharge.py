"""Discharge readiness reads the chart: each criterion is blocked while the chart contradicts it and passes
once the chart shows it resolved; discharging anyway is an override with a reason (and a second signature
where policy says so)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ketachart.domain.discharge import (
    ChartedScore,
    DischargeChart,
    Finding,
    OpenAlert,
    assess_discharge,
    check_discharge,
    scores_from,
)
from ketachart.domain.errors import ClinicalInputError
from ketachart.domain.policy import DEFAULT_POLICY
from ketachart.domain.readings import Quality, Reading
from ketachart.domain.codes import Parameter as P
from ketachart.domain.vocabulary import Kind
from ketachart.domain.session import SessionEvent as E
from ketachart.domain.timeline import StateChange

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
ALL_TICKED = {"alert_oriented": True, "steady_gait": True, "nausea_minimal": True, "escort_present": True,
              "no_driving": True, "written_instructions": True}
PADSS_FULL = {"vital_signs": 2, "activity": 2, "nausea_vomiting": 2, "pain": 2, "ambulation": 2}


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def vitals(until: float = 140, hr=P.HR, **override) -> list[Reading]:
    """A calm monitor: HR/SpO2/RR every 30 s, NIBP every 5 min, from 5 min before the start."""
    out = []
    t = -5.0
    while t <= until:
        out += [Reading(hr, override.get("hr", 72), m(t)), Reading(P.SPO2, override.get("spo2", 97), m(t)),
                Reading(P.RR, override.get("rr", 14), m(t))]
        if t % 5 == 0:
            out += [Reading(P.NIBP_SYS, override.get("sys", 122), m(t)), Reading(P.NIBP_DIA, override.get("dia", 78), m(t))]
        t += 0.5
    return out


def chart(route="IV", changes=None, scores=(), readings=None, alerts=(), baseline=(120, 76)) -> DischargeChart:
    if changes is None:
        changes = [(E.CHECK_IN, -10), (E.START_INFUSION, 0), (E.STOP_INFUSION, 40)]
    return DischargeChart(
        route=route,
        changes=tuple(StateChange(e, m(t)) for e, t in changes),
        scores=tuple(scores) or (ChartedScore(Kind.SEDATION, 4, m(30)), ChartedScore(Kind.SEDATION, 5, m(60)),
                                 ChartedScore(Kind.DISSOCIATION, 3, m(35)), ChartedScore(Kind.DISSOCIATION, 0, m(75))),
        readings=tuple(vitals() if readings is None else readings),
        open_alerts=tuple(alerts),
        baseline_bp=baseline,
    )


def assess(c: DischargeChart, at: float = 125, ticked=None, padss=None, policy=DEFAULT_POLICY):
    return assess_discharge(c, m(at), policy, ALL_TICKED if ticked is None else ticked,
                            PADSS_FULL if padss is None else padss)


def with_scores(*extra: ChartedScore) -> list[ChartedScore]:
    return list(chart().scores) + list(extra)


def test_a_calm_session_is_ready_and_says_why():
    r = assess(chart())
    assert r.ready and not r.needs_override and not r.blockers
    assert r.criterion("sedation_resolved").chart_says == "MOAA/S 5 at min 60"
    assert r.criterion("sedation_resolved").since == m(60)
    assert r.criterion("dissociation_resolved").since == m(75)
    assert r.criterion("min_120").chart_says == "125 min since the start"
    assert r.criterion("vitals_ok").chart_says == "HR 72, SpO2 97 %, BP 122/78 at min 125, RR 14"
    assert r.padss_total == 10 and r.clinically_ready_since == m(75)
    assert all(line.startswith("✔ ") for line in r.lines())
    check_discharge(r, "")  # nothing to override


def test_the_reproduced_case_moaas_2_five_minutes_ago_and_an_open_critical_alert_is_not_met():
    c = chart(scores=with_scores(ChartedScore(Kind.SEDATION, 2, m(120))),
              alerts=[OpenAlert("spo2-low", "critical", "SpO2 85%", m(118))])
    r = assess(c)
    assert not r.ready and r.needs_override
    assert r.criterion("sedation_resolved").finding is Finding.CONTRADICTED
    assert r.criterion("sedation_resolved").chart_says == "MOAA/S 2 at min 120"
    assert r.criterion("no_open_alerts").chart_says == "1 open alert: SpO2 85% (critical, 7 min old)"
    assert r.criterion("alert_oriented").finding is Finding.CONTRADICTED  # a MOAA/S 2 patient is not "alert"
    assert "alert_oriented" in r.refused_ticks
    with pytest.raises(ClinicalInputError, match="'Alert and oriented' cannot be ticked as met: MOAA/S 2"):
        check_discharge(r, "family insists")
    r = assess(c, ticked={**ALL_TICKED, "alert_oriented": False})
    with pytest.raises(ClinicalInputError, match="override needs a reason: Sedation resolved"):
        check_discharge(r, "  ")
    check_discharge(r, "transferred to the ED with a nurse escort")  # an override with its reason


# --- time ---------------------------------------------------------------------------------------------------

def test_time_since_start_blocks_until_the_policy_minimum():
    r = assess(chart(), at=110)
    c = r.criterion("min_120")
    assert c.finding is Finding.NOT_YET and c.since == m(120) and "110 min since the start" in c.chart_says
    assert assess(chart(), at=120).criterion("min_120").met


def test_time_since_the_end_counts_from_the_stop_and_pauses_shorten_nothing():
    changes = [(E.CHECK_IN, -10), (E.START_INFUSION, 0), (E.PAUSE, 20), (E.RESUME, 65), (E.STOP_INFUSION, 100)]
    c = chart(changes=changes, scores=[ChartedScore(Kind.SEDATION, 5, m(105)),
                                       ChartedScore(Kind.DISSOCIATION, 0, m(105))])
    r = assess(c, at=125)
    end = r.criterion("since_end")
    assert end.finding is Finding.NOT_YET and end.since == m(130)
    assert end.chart_says == "25 min since it ended at min 100"
    assert r.criterion("min_120").met  # the start is the first start; the pause does not move it
    assert not r.ready
    assert assess(c, at=130).criterion("since_end").met and assess(c, at=130).ready


def test_a_session_still_running_has_not_ended():
    c = chart(changes=[(E.CHECK_IN, -10), (E.START_INFUSION, 0), (E.PAUSE, 30)])
    r = assess(c, at=125)
    assert r.criterion("since_end").finding is Finding.NOT_YET
    assert r.criterion("since_end").chart_says == "administration has not ended"


# --- sedation and dissociation ------------------------------------------------------------------------------

def test_sedation_needs_a_5_charted_after_the_last_lower_score():
    c = chart(scores=with_scores(ChartedScore(Kind.SEDATION, 3, m(110))))
    s = assess(c).criterion("sedation_resolved")
    assert s.finding is Finding.CONTRADICTED and s.chart_says == "MOAA/S 3 at min 110"
    c = chart(scores=with_scores(ChartedScore(Kind.SEDATION, 3, m(110)), ChartedScore(Kind.SEDATION, 5, m(114)),
                                 ChartedScore(Kind.SEDATION, 5, m(122))))
    s = assess(c).criterion("sedation_resolved")
    assert s.met and s.since == m(114) and s.chart_says == "MOAA/S 5 at min 122; since min 114"


def test_a_sedation_score_from_before_the_end_does_not_count():
    c = chart(scores=[ChartedScore(Kind.SEDATION, 5, m(35)), ChartedScore(Kind.DISSOCIATION, 0, m(75))])
    s = assess(c).criterion("sedation_resolved")
    assert s.finding is Finding.NOT_CHARTED
    assert s.chart_says == "no MOAA/S charted since administration ended (last: MOAA/S 5 at min 35)"


def test_dissociation_resolves_per_policy():
    c = chart(scores=with_scores(ChartedScore(Kind.DISSOCIATION, 1, m(118))))
    assert assess(c).criterion("dissociation_resolved").finding is Finding.CONTRADICTED
    lenient = DEFAULT_POLICY.changed(dissociation_resolved_max=1)
    d = assess(c, policy=lenient).criterion("dissociation_resolved")
    assert d.met and d.since == m(75)  # 0 at 75 and 1 at 118 are both "resolved" under this policy
    assert d.label == "Dissociation resolved (1/4 or less)"
    c = chart(scores=with_scores(ChartedScore(Kind.DISSOCIATION, 2, m(110)), ChartedScore(Kind.DISSOCIATION, 0, m(119))))
    assert assess(c).criterion("dissociation_resolved").since == m(119)


def test_no_dissociation_charted_is_not_resolved():
    c = chart(scores=[ChartedScore(Kind.SEDATION, 5, m(100))])
    d = assess(c).criterion("dissociation_resolved")
    assert d.finding is Finding.NOT_CHARTED and d.chart_says == "no dissociation charted since administration ended"


# --- alerts -------------------------------------------------------------------------------------------------

def test_open_alerts_block_until_acknowledged():
    alerts = [OpenAlert("spo2-low", "critical", "SpO2 85%", m(112)), OpenAlert("bp-overdue", "warning", "BP overdue", m(120))]
    c = assess(chart(alerts=alerts)).criterion("no_open_alerts")
    assert c.finding is Finding.CONTRADICTED
    assert c.chart_says == "2 open alerts: SpO2 85% (critical, 13 min old); BP overdue (warning, 5 min old)"
    assert assess(chart(alerts=[])).criterion("no_open_alerts").met


# --- vitals -------------------------------------------------------------------------------------------------

def test_a_low_spo2_in_the_window_blocks_until_it_leaves_the_window():
    readings = vitals() + [Reading(P.SPO2, 85, m(115))]
    v = assess(chart(readings=readings), at=125).criterion("vitals_ok")
    assert v.finding is Finding.CONTRADICTED and v.chart_says == "SpO2 85 at min 115 (limit above 92 %)"
    v = assess(chart(readings=readings), at=131).criterion("vitals_ok")
    assert v.met and v.since == m(115.5)  # the first reading after the dip


def test_artefact_and_sensor_off_values_never_decide():
    readings = vitals() + [Reading(P.SPO2, 84, m(120), flags=frozenset({Quality.ARTIFACT})),
                           Reading(P.SPO2, None, m(121), flags=frozenset({Quality.SENSOR_OFF})),
                           Reading(P.HR, 30, m(122), flags=frozenset({Quality.ARTIFACT}))]
    assert assess(chart(readings=readings)).criterion("vitals_ok").met


def test_every_vital_must_be_charted_in_the_window():
    readings = [r for r in vitals() if r.parameter is not P.RR]
    v = assess(chart(readings=readings)).criterion("vitals_ok")
    assert v.finding is Finding.NOT_CHARTED and v.chart_says == "no valid RR in the last 15 min"
    late_bp = [r for r in vitals() if not (r.parameter in (P.NIBP_SYS, P.NIBP_DIA) and r.host_time > m(100))]
    v = assess(chart(readings=late_bp)).criterion("vitals_ok")
    assert v.chart_says == "no valid systolic, diastolic in the last 15 min"
    typed = late_bp + [Reading(P.NIBP_SYS, 124, m(122), source="manual", flags=frozenset({Quality.MANUAL})),
                       Reading(P.NIBP_DIA, 80, m(122), source="manual", flags=frozenset({Quality.MANUAL}))]
    assert assess(chart(readings=typed)).criterion("vitals_ok").met  # a typed BP counts


def test_low_rr_blocks():
    readings = vitals() + [Reading(P.RR, 6, m(119))]
    v = assess(chart(readings=readings)).criterion("vitals_ok")
    assert v.finding is Finding.CONTRADICTED and "RR 6 at min 119 (limit 8/min or more)" in v.chart_says


def test_heart_rate_from_ecg_when_present_pulse_rate_only_without_it():
    readings = vitals() + [Reading(P.PR, 45, m(120))]  # an oximeter PR artefact while ECG says 72
    assert assess(chart(readings=readings)).criterion("vitals_ok").met
    no_ecg = vitals(hr=P.PR) + [Reading(P.PR, 45, m(120))]
    v = assess(chart(readings=no_ecg)).criterion("vitals_ok")
    assert v.finding is Finding.CONTRADICTED and "HR 45 at min 120" in v.chart_says
    v = assess(chart(readings=vitals(hr=P.PR))).criterion("vitals_ok")
    assert v.met and v.chart_says.startswith("PR 72")


def test_bp_far_from_baseline_blocks():
    v = assess(chart(readings=vitals(sys=160, dia=95))).criterion("vitals_ok")
    assert v.finding is Finding.CONTRADICTED
    assert v.chart_says == "BP 160/95 is 33 % from baseline 120/76 (limit 20 %)"
    assert assess(chart(readings=vitals(sys=135, dia=85))).criterion("vitals_ok").met  # 12.5 % / 11.8 %


# --- the nurse's ticks and the PADSS ------------------------------------------------------------------------

def test_ambulation_with_assistance_cannot_pass_steady_gait():
    padss = {**PADSS_FULL, "ambulation": 1}
    r = assess(chart(), padss=padss)
    g = r.criterion("steady_gait")
    assert g.finding is Finding.CONTRADICTED and not g.tickable
    assert g.chart_says == "PADSS ambulation is 'With assistance'"
    assert r.refused_ticks == ("steady_gait",)
    with pytest.raises(ClinicalInputError, match="'Steady gait' cannot be ticked as met"):
        check_discharge(r, "override")
    r = assess(chart(), padss=PADSS_FULL)
    assert r.criterion("steady_gait").met and r.ready


def test_an_unticked_item_is_not_met_but_can_be_ticked():
    r = assess(chart(), ticked={**ALL_TICKED, "escort_present": False})
    e = r.criterion("escort_present")
    assert e.finding is Finding.UNTICKED and e.tickable and not r.ready
    assert "Escort present: not ticked" in r.blockers


def test_charted_nausea_contradicts_nausea_minimal_until_it_settles():
    c = chart(scores=with_scores(ChartedScore(Kind.NAUSEA, 6, m(110))))
    r = assess(c, padss={**PADSS_FULL, "nausea_vomiting": 1})
    n = r.criterion("nausea_minimal")
    assert n.finding is Finding.CONTRADICTED and n.chart_says == "nausea 6 at min 110"
    c = chart(scores=with_scores(ChartedScore(Kind.NAUSEA, 6, m(110)), ChartedScore(Kind.NAUSEA, 1, m(118))))
    r = assess(c)
    assert r.criterion("nausea_minimal").met and r.criterion("nausea_minimal").chart_says == "ticked (nausea 1 at min 118)"
    vomit = chart(scores=with_scores(ChartedScore(Kind.NAUSEA, 2, m(118), vomiting=True)))
    assert assess(vomit).criterion("nausea_minimal").finding is Finding.CONTRADICTED


def test_padss_below_pass_blocks():
    r = assess(chart(), padss={**PADSS_FULL, "pain": 0, "vital_signs": 1}, ticked=ALL_TICKED)
    p = r.criterion("padss")
    assert p.finding is Finding.CONTRADICTED and p.chart_says == "PADSS 7 is below the pass score of 9"
    assert not r.ready
    assert assess(chart(), padss={**PADSS_FULL, "pain": 1}).criterion("padss").met  # 9 passes


def test_padss_cannot_claim_more_than_the_chart_shows():
    r = assess(chart(readings=vitals(sys=150, dia=80)), padss=PADSS_FULL)  # 25 % above baseline: scores 1
    p = r.criterion("padss")
    assert p.finding is Finding.CONTRADICTED
    assert "vital signs scored 2 but BP 150/80 against baseline 120/76 scores 1" in p.chart_says
    c = chart(scores=with_scores(ChartedScore(Kind.NAUSEA, 5, m(100)), ChartedScore(Kind.NAUSEA, 3, m(110))))
    assert assess(c).criterion("padss").met  # 3 is mild: 2 is supported
    c = chart(scores=with_scores(ChartedScore(Kind.NAUSEA, 5, m(118))))
    assert "nausea/vomiting scored 2 but nausea 5" in assess(c).criterion("padss").chart_says


def test_padss_not_fully_scored_is_not_yet():
    p = assess(chart(), padss={**PADSS_FULL, "pain": None}).criterion("padss")
    assert p.finding is Finding.NOT_YET and p.chart_says == "PADSS 8/10 so far: score every item"


# --- overrides ----------------------------------------------------------------------------------------------

def spravato(at_end: float = 5) -> DischargeChart:
    return chart(route="IN", changes=[(E.CHECK_IN, -10), (E.START_INFUSION, 0), (E.STOP_INFUSION, at_end)],
                 scores=[ChartedScore(Kind.SEDATION, 5, m(60)), ChartedScore(Kind.DISSOCIATION, 0, m(60))])


def test_an_override_before_120_min_after_a_spravato_dose_needs_a_second_signature():
    r = assess(spravato(), at=100)
    assert r.needs_override and r.second_signature_required
    with pytest.raises(ClinicalInputError, match="needs a reason"):
        check_discharge(r, "", "a.morgan", "s.patel")
    with pytest.raises(ClinicalInputError, match="second clinician's signature \\(before 120 minutes after a Spravato dose\\)"):
        check_discharge(r, "ride leaving", "a.morgan")
    with pytest.raises(ClinicalInputError, match="another clinician"):
        check_discharge(r, "ride leaving", "a.morgan", "a.morgan")
    check_discharge(r, "ride leaving", "a.morgan", "s.patel")


def test_the_policy_decides_who_must_cosign():
    off = DEFAULT_POLICY.changed(override_cosign_early_spravato=False)
    r = assess(spravato(), at=100, policy=off)
    assert r.needs_override and not r.second_signature_required
    check_discharge(r, "ride leaving", "a.morgan")
    late = assess(spravato(), at=125, ticked={**ALL_TICKED, "written_instructions": False})
    assert late.needs_override and not late.second_signature_required  # after 120 min: one signature
    iv = assess(chart(), at=110)
    assert iv.needs_override and not iv.second_signature_required
    every = DEFAULT_POLICY.changed(override_cosign_all=True)
    iv = assess(chart(), at=110, policy=every)
    assert iv.second_signature_required
    with pytest.raises(ClinicalInputError, match="by clinic policy"):
        check_discharge(iv, "reason", "a.morgan")


def test_the_record_keeps_what_the_chart_said():
    r = assess(chart(scores=with_scores(ChartedScore(Kind.SEDATION, 2, m(120)))))
    rec = r.to_record()
    assert rec["ready"] is False and rec["policy_version"] == 1 and rec["padss_total"] == 10
    assert rec["criteria"]["sedation_resolved"] == {"finding": "contradicted", "chart_says": "MOAA/S 2 at min 120",
                                                    "since": None}
    assert rec["criteria"]["min_120"]["since"] == m(120).isoformat()
    assert r.lines()[2] == "✖ Sedation resolved (MOAA/S 5): MOAA/S 2 at min 120"


def test_scores_from_chart_entries():
    entries = [(Kind.SEDATION, 5.0, m(60), {}), (Kind.NOTE, None, m(61), {}), (Kind.NAUSEA, 4.0, m(62), {"vomiting": True})]
    assert scores_from(entries) == (ChartedScore(Kind.SEDATION, 5.0, m(60)),
                                    ChartedScore(Kind.NAUSEA, 4.0, m(62), vomiting=True))

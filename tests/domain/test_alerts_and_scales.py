from datetime import timedelta

import pytest

from ketachart.domain.alerts import AlertRules
from ketachart.domain.codes import Parameter
from ketachart.domain.errors import ClinicalInputError
from ketachart.domain.policy import DEFAULT_POLICY as P
from ketachart.domain.readings import Quality, Reading
from ketachart.domain.scales import evaluate_discharge, phq9, vital_signs_padss


def r(param, value, t, **kw):
    return Reading(param, value, t, **kw)


def test_systolic_twice_over_180_alerts_once_per_episode(clock):
    rules, t = AlertRules(P), clock.now()
    assert rules.feed(r(Parameter.NIBP_SYS, 182, t)) == []
    found = rules.feed(r(Parameter.NIBP_SYS, 185, t + timedelta(minutes=5)))
    assert [f.rule for f in found] == ["sys-high"] and found[0].policy_version == P.version
    assert rules.feed(r(Parameter.NIBP_SYS, 186, t + timedelta(minutes=10))) == []
    rules.feed(r(Parameter.NIBP_SYS, 140, t + timedelta(minutes=15)))
    assert [f.rule for f in rules.feed(r(Parameter.NIBP_SYS, 201, t + timedelta(minutes=20)))] == ["sys-high"]


def test_hr_high_only_when_sustained(clock):
    rules, t = AlertRules(P), clock.now()
    assert rules.feed(r(Parameter.HR, 125, t)) == []
    assert rules.feed(r(Parameter.HR, 125, t + timedelta(minutes=4))) == []
    assert [f.rule for f in rules.feed(r(Parameter.HR, 126, t + timedelta(minutes=5)))] == ["hr-high"]


def test_spo2_low_and_invalid_values_never_alert(clock):
    rules, t = AlertRules(P), clock.now()
    assert rules.feed(r(Parameter.SPO2, 80, t, flags={Quality.SENSOR_OFF})) == []
    assert [f.rule for f in rules.feed(r(Parameter.SPO2, 92, t))] == ["spo2-low"]


def test_invalid_marked_value_is_never_a_number(clock):
    reading = Reading(Parameter.HR, 75, clock.now(), flags={Quality.INVALID})
    assert reading.value is None and not reading.is_valid


def test_phq9_item9_flag_and_bands():
    assert phq9([0] * 8 + [1]).self_harm_flag
    assert phq9([3] * 9).band == "severe"
    with pytest.raises(ClinicalInputError):
        phq9([4] * 9)


def test_padss_vital_signs_bands():
    assert vital_signs_padss(130, 120) == 2 and vital_signs_padss(160, 120) == 1 and vital_signs_padss(200, 120) == 0


def test_early_discharge_needs_override():
    padss = {k: 2 for k in ("vital_signs", "activity", "nausea_vomiting", "pain", "ambulation")}
    items = {k: True for k in ("sedation_resolved", "dissociation_resolved", "vitals_ok", "alert_oriented",
                               "steady_gait", "nausea_minimal", "escort_present", "no_driving", "written_instructions")}
    early = evaluate_discharge(100, items, padss, min_minutes=120, padss_pass=9)
    assert early.needs_override and "100 of 120" in early.reasons[0]
    assert evaluate_discharge(125, items, padss, min_minutes=120, padss_pass=9).passed


def test_naive_device_time_is_our_mistake_and_refused(clock):
    from datetime import datetime

    with pytest.raises(ValueError, match="device_time"):
        Reading(Parameter.HR, 70, clock.now(), device_time=datetime(2024, 1, 1, 10, 0))


def test_cadss6_labels_use_the_clinics_wording_when_entered():
    from ketachart.domain.policy import ClinicPolicy
    from ketachart.domain.scales import cadss6_labels

    assert cadss6_labels() == [(1, "Item 1"), (2, "Item 2"), (6, "Item 6"), (7, "Item 7"), (15, "Item 15"), (22, "Item 22")]
    wording = tuple(f"clinic text {n}" for n in range(6))
    assert cadss6_labels(wording)[5] == (22, "22. clinic text 5")
    with pytest.raises(ClinicalInputError, match="six items"):
        ClinicPolicy(cadss6_item_text=("only one",))
    policy = ClinicPolicy(cadss6_item_text=wording)
    assert ClinicPolicy.from_json(policy.to_json()).cadss6_item_text == wording


def test_absent_modules_are_not_charted_but_missing_measurements_are(clock):
    absent = Reading(Parameter.ETCO2, None, clock.now(), flags={Quality.UNAVAILABLE})
    off = Reading(Parameter.SPO2, None, clock.now(), flags={Quality.SENSOR_OFF})
    assert not absent.worth_charting and off.worth_charting
    assert Reading(Parameter.HR, 70, clock.now()).worth_charting

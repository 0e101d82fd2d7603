"""One plausibility table: sentinels and impossible values are never numbers (issue 14)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ketachart.domain.codes import Parameter
from ketachart.domain.plausibility import PLAUSIBLE, is_plausible, screen
from ketachart.domain.readings import Quality, Reading

T = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("param,value", [
    (Parameter.HR, -999), (Parameter.HR, -100), (Parameter.SPO2, -99.9), (Parameter.TEMP, 384.5),
    (Parameter.SPO2, 0), (Parameter.NIBP_SYS, 999), (Parameter.RR, -1), (Parameter.PUMP_DOSE_RATE, -1),
])
def test_sentinels_are_not_numbers(param, value):
    r = screen(Reading(param, value, T))
    assert r.value is None and r.flags == {Quality.INVALID, Quality.OUT_OF_RANGE} and not r.is_valid


@pytest.mark.parametrize("param,value", [
    (Parameter.HR, 45), (Parameter.HR, 180), (Parameter.SPO2, 85), (Parameter.RR, 0), (Parameter.ETCO2, 0),
    (Parameter.TEMP, 36.8), (Parameter.NIBP_SYS, 172), (Parameter.NIBP_DIA, 104),
])
def test_real_values_pass_unchanged(param, value):
    r = Reading(param, value, T, flags={Quality.APNEA} if value == 0 else ())
    assert screen(r) is r


def test_flags_are_kept_and_enumerations_are_not_checked():
    r = screen(Reading(Parameter.HR, 400, T, flags={Quality.ARTIFACT}))
    assert r.flags == {Quality.ARTIFACT, Quality.INVALID, Quality.OUT_OF_RANGE}
    state = Reading(Parameter.PUMP_STATE, 1.0, T, text="pumping")
    assert screen(state) is state and Parameter.PUMP_STATE not in PLAUSIBLE


def test_a_value_in_another_unit_is_left_to_its_codec():
    r = Reading(Parameter.TEMP, 98.6, T, unit="[degF]")
    assert screen(r) is r
    assert not is_plausible(Parameter.HR, float("nan"))

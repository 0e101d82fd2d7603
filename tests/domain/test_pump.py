"""The pump at the chair: the charted rate against the pump's, with the policy's seconds (fake clock)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ketachart.domain.clock import FakeClock
from ketachart.domain.errors import ClinicalInputError
from ketachart.domain.policy import BOUNDS, DEFAULT_POLICY, ClinicPolicy
from ketachart.domain.pump import PumpRateWatch, PumpReport, rates_agree


def report(clock, rate, state="pumping", age_s=0.0):
    return PumpReport(rate, 10.0, 25.0, state, (), clock.now() - timedelta(seconds=age_s))


def run(watch, clock, seconds, charted, rate, state="pumping"):
    found = []
    for _ in range(seconds):
        found += watch.check(clock.now(), charted, report(clock, rate, state))
        clock.advance(1)
    return found


def test_a_mismatch_longer_than_the_policy_seconds_is_one_warning_until_the_rates_agree():
    clock, policy = FakeClock(), DEFAULT_POLICY
    watch = PumpRateWatch(policy)
    assert run(watch, clock, policy.pump_rate_mismatch_s, 60.0, 45.0) == []  # not yet the policy's N s
    (found,) = run(watch, clock, 5, 60.0, 45.0)  # then once, not once a second
    assert found.rule == "pump-rate-mismatch" and found.severity == "warning"
    assert "Pump rate 45 mL/h differs from the charted rate 60 mL/h for 60 s" in found.message
    assert found.policy_version == policy.version and found.data["source"] == "device:bbraun"
    assert run(watch, clock, 3, 60.0, 60.2) == []  # agreeing (within 0.5 mL/h) ends the episode
    assert len(run(watch, clock, 62, 60.0, 30.0)) == 1  # a new episode is a new alert


def test_paused_on_the_chart_while_the_pump_runs_and_a_stopped_pump_while_infusing():
    clock = FakeClock()
    watch = PumpRateWatch(DEFAULT_POLICY)
    (paused,) = run(watch, clock, 62, 0.0, 60.0)
    assert "charted rate paused (0 mL/h)" in paused.message
    watch = PumpRateWatch(DEFAULT_POLICY)
    (stopped,) = run(watch, clock, 62, 60.0, 60.0, state="stopped")  # a stopped pump delivers nothing
    assert stopped.message.startswith("Pump rate stopped differs")


def test_no_judgement_without_a_charted_rate_or_a_fresh_pump_report():
    clock = FakeClock()
    watch = PumpRateWatch(DEFAULT_POLICY)
    assert run(watch, clock, 120, None, 45.0) == []  # not infusing (or intranasal): nothing to compare
    for _ in range(120):  # a pump that stopped reporting: its tile says stale, the rate is not compared
        assert watch.check(clock.now(), 60.0, report(clock, 45.0, age_s=61)) == []
        clock.advance(1)
    assert watch.check(clock.now(), 60.0, None) == []


def test_the_seconds_are_policy_with_a_bound_and_a_restart_keeps_one_alert_per_episode():
    assert DEFAULT_POLICY.pump_rate_mismatch_s == 60 and BOUNDS["pump_rate_mismatch_s"].source
    with pytest.raises(ClinicalInputError, match="pump_rate_mismatch_s 5 is outside the safe range 15-300 s"):
        ClinicPolicy(pump_rate_mismatch_s=5)
    clock = FakeClock()
    watch = PumpRateWatch(ClinicPolicy(pump_rate_mismatch_s=15))
    assert len(run(watch, clock, 17, 60.0, 45.0)) == 1
    again = PumpRateWatch(ClinicPolicy(pump_rate_mismatch_s=15))
    again.mark_active("pump-rate-mismatch")  # its alert is stored and unacknowledged
    assert run(again, clock, 30, 60.0, 45.0) == []
    assert rates_agree(60.0, 62.9) and not rates_agree(60.0, 63.1) and rates_agree(4.0, 4.5)

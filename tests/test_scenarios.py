"""`ketachart scenario-check`: every alarm scenario fires exactly its alarms, at their minute, and no others."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from ketachart import scenarios
from ketachart.cli import main
from ketachart.domain.policy import DEFAULT_POLICY

NAMES = ("sensor-off", "pr-artifact", "tachycardia", "hypertensive-predose", "apnea", "desaturation")


def test_every_scenario_prints_one_json_line_and_all_are_ok(capsys):
    assert main(["scenario-check"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["scenario"] for line in lines] == list(NAMES)
    for line in lines:
        assert set(line) == {"scenario", "expected", "fired", "ok"}
        assert line["ok"] is True and line["fired"] == line["expected"]
    by = {line["scenario"]: line["fired"] for line in lines}
    assert by["pr-artifact"] == [{"rule": "hr-pr-disagree", "minute": 25}]  # never hr-low
    assert by["sensor-off"] == [{"rule": "no-valid-spo2", "minute": 20}]  # and no HR alarm: ECG stayed
    assert by["tachycardia"] == [{"rule": "hr-high", "minute": 35}]  # 5 min after it began, by the ECG
    assert by["hypertensive-predose"] == [{"rule": "predose-bp", "minute": 0}]
    assert by["apnea"] == [{"rule": "apnea", "minute": 15}]
    assert by["desaturation"] == [{"rule": "spo2-low", "minute": 45}]


def test_a_scenario_that_differs_exits_non_zero(capsys, monkeypatch):
    changed = dict(scenarios.SCENARIOS)
    changed["apnea"] = replace(changed["apnea"], expected=(("apnea", 14),))
    monkeypatch.setattr(scenarios, "SCENARIOS", changed)
    assert main(["scenario-check", "--scenario", "apnea"]) == 1
    line = json.loads(capsys.readouterr().out)
    assert line == {"scenario": "apnea", "expected": [{"rule": "apnea", "minute": 14}],
                    "fired": [{"rule": "apnea", "minute": 15}], "ok": False}


def test_an_unknown_scenario_is_refused(capsys):
    assert main(["scenario-check", "--scenario", "nope"]) == 2
    assert "no scenario 'nope'" in capsys.readouterr().err


def test_the_policy_in_force_moves_the_alarms():
    # a clinic with a 7-minute sustained-tachycardia rule: the same readings alarm 2 minutes later
    late = scenarios.run_scenario("tachycardia", DEFAULT_POLICY.changed(hr_high_sustained_min=7))
    assert late.fired == [{"rule": "hr-high", "minute": 37}]
    lenient = scenarios.run_scenario("desaturation", DEFAULT_POLICY.changed(spo2_low=84))
    assert lenient.fired == [] and not lenient.ok


@pytest.mark.parametrize("name", NAMES)
def test_each_finding_carries_the_policy_version(name):
    result = scenarios.run_scenario(name, DEFAULT_POLICY.changed(late_entry_after_min=20))
    assert result.findings and all(f.policy_version == 2 for f in result.findings)


@pytest.mark.parametrize("name", NAMES)
def test_the_small_table_and_the_simulators_tell_the_same_story(name):
    assert scenarios.run_scenario(name, readings=scenarios.table_readings(name)).ok


@pytest.mark.parametrize("name", NAMES)
def test_each_issue_scenario_is_a_simulator_option_exactly_as_named(name, capsys):
    from ketachart.cli import build_parser
    from ketachart.hardware import cli as devices_cli
    from ketachart.hardware.sim.catalog import sim_for

    args = build_parser().parse_args(["sim", "ge", "--scenario", name])
    assert args.func is devices_cli.cmd_sim and (args.protocol, args.scenario) == ("ge", name)
    assert sim_for(args.protocol, scenario=args.scenario).patient.name == name  # the GE sim plays it
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(["sim", "ge", "--scenario", name.upper()])
    assert refused.value.code == 2  # exactly the issue's spelling
    capsys.readouterr()

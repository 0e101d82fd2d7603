"""Simulator scenarios (issue 11): the decoded GE stream shows each event at its minute, and not elsewhere.

Sim and codec talk in memory on the sim clock (no real time passes). Which alarms fire is the alarm
logic's concern; here only what the devices say is checked.
"""

from __future__ import annotations

import pytest

from ketachart.domain.codes import Parameter
from ketachart.domain.readings import Quality
from ketachart.hardware.sim.base import SCENARIOS, use_demo_scenario
from ketachart.hardware.sim.catalog import sim_for
from ketachart.hardware.sim.ge_dri import SIM_EPOCH
from ketachart.hardware.sim.scenarios import EVENTS

from .devtools import readings, run_pair


def decoded(name: str, start: float, end: float) -> dict[Parameter, list[tuple[float, object]]]:
    """Readings per parameter as (sim second, reading), from a GE sim playing ``name``."""
    _, events = run_pair("ge", sim_for("ge", scenario=name, seed=4), start, end, step=1.0)
    out: dict[Parameter, list] = {}
    for r in readings(events):
        out.setdefault(r.parameter, []).append((r.device_time.timestamp() - SIM_EPOCH, r))
    return out


def split(rows, event):
    inside = [r for t, r in rows if event.active(t)]
    outside = [r for t, r in rows if not event.active(t)]
    return inside, outside


def test_every_event_scenario_is_offered():
    assert set(EVENTS) <= set(SCENARIOS)
    assert set(EVENTS) == {"sensor-off", "pr-artifact", "tachycardia", "hypertensive-predose", "apnea",
                           "desaturation"}


def test_sensor_off_for_90_s_at_minute_20():
    e = EVENTS["sensor-off"]
    assert (e.start_s, e.end_s - e.start_s) == (20 * 60, 90)
    got = decoded("sensor-off", e.start_s - 120, e.end_s + 120)
    for param in (Parameter.SPO2, Parameter.PR):
        inside, outside = split(got[param], e)
        assert len(inside) >= 8 and all(r.value is None and Quality.SENSOR_OFF in r.flags for r in inside)
        assert outside and all(r.is_valid for r in outside)
    assert all(r.is_valid for _, r in got[Parameter.HR])  # ECG carries on


def test_pr_artifact_45_for_10_s_while_ecg_hr_stays_70():
    e = EVENTS["pr-artifact"]
    got = decoded("pr-artifact", e.start_s - 50, e.end_s + 50)
    inside, outside = split(got[Parameter.PR], e)
    assert inside and all(r.value == 45 for r in inside)
    assert outside and all(r.value == 70 for r in outside)
    assert {r.value for _, r in got[Parameter.HR]} == {70.0}


def test_tachycardia_hr_125_for_8_minutes():
    e = EVENTS["tachycardia"]
    assert (e.start_s, e.end_s - e.start_s) == (30 * 60, 8 * 60)
    got = decoded("tachycardia", e.start_s - 120, e.end_s + 120)
    inside, outside = split(got[Parameter.HR], e)
    assert len(inside) >= 45 and all(r.value == 125 for r in inside)
    assert outside and all(r.value < 100 for r in outside)
    assert all(r.value == 118 for r in split(got[Parameter.PR], e)[0])


def test_hypertensive_predose_bp_one_minute_before_the_start():
    got = decoded("hypertensive-predose", -300, 60)
    sys_ = [(t, r.value) for t, r in got[Parameter.NIBP_SYS]]
    dia = [(t, r.value) for t, r in got[Parameter.NIBP_DIA]]
    (t, value), = [(t, v) for t, v in sys_ if v == 172]
    assert -60 <= t < -50 and (t, 104.0) in dia
    assert all(v < 150 for _, v in sys_ if v != 172)


def test_apnea_flags_for_40_s():
    e = EVENTS["apnea"]
    assert (e.start_s, e.end_s - e.start_s) == (15 * 60, 40)
    got = decoded("apnea", e.start_s - 60, e.end_s + 60)
    for param in (Parameter.RR, Parameter.ETCO2):
        inside, outside = split(got[param], e)
        assert len(inside) >= 3 and all(r.value == 0 and Quality.APNEA in r.flags for r in inside)
        assert outside and all(Quality.APNEA not in r.flags and r.value > 0 for r in outside)


def test_desaturation_to_85_at_minute_45():
    e = EVENTS["desaturation"]
    got = decoded("desaturation", e.start_s - 60, e.end_s + 60)
    inside, outside = split(got[Parameter.SPO2], e)
    assert min(r.value for r in inside) == 85
    assert all(r.value >= 94 for r in outside)
    low = [t for t, r in got[Parameter.SPO2] if r.value is not None and r.value < 90]
    assert low and min(low) >= e.start_s and max(low) < e.end_s


def test_masimo_plays_sensor_off_too():
    e = EVENTS["sensor-off"]
    _, events = run_pair("masimo", sim_for("masimo", scenario="sensor-off"), e.start_s - 5, e.start_s + 5)
    assert any(Quality.SENSOR_OFF in r.flags for r in readings(events))


def test_demo_scenario_choice(monkeypatch):
    monkeypatch.setenv("KETACHART_DEMO_SCENARIO", "")  # restored (unset) after the test
    assert sim_for("ge").scenario == "ketamine"
    assert not use_demo_scenario("no-such-thing")
    assert use_demo_scenario("apnea")
    assert sim_for("ge").scenario == "apnea"  # the demo's ketamine devices now play it
    assert sim_for("ge", scenario="baseline").scenario == "baseline"


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_every_scenario_runs_on_every_protocol(name):
    for protocol in ("ge", "philips", "masimo", "hl7", "bbraun"):
        e = EVENTS[name]
        _, events = run_pair(protocol, sim_for(protocol, scenario=name), e.start_s - 20, e.start_s + 20, step=0.5)
        assert readings(events)

"""Alarm scenarios that prove the alarms mean what they say (``ketachart scenario-check``).

Each scenario is a session's monitor readings, second by second from 5 minutes before the start of
administration (minute 0), with one thing going wrong, and the alarms that must fire (rule and session
minute) and no others. :func:`run_scenario` feeds the readings through the real domain alert rules
(:class:`~ketachart.domain.alerts.AlertRules` and :class:`~ketachart.domain.signal_alarms.SignalWatch`) on a
fake clock, as the chair does, and reports what fired. No Qt, no devices, no sleeping.

The readings are the simulated patient's of the same scenario (``hardware/sim/scenarios.py``, what
``ketachart sim ge --scenario NAME`` plays), as the monitor reports them: ECG HR and oximeter pulse, SpO2 (or
sensor-off), RR and etCO2 (apnea flagged), NIBP at the cuff's times. :func:`table_readings` keeps the small
table the check used before the simulators had scenarios; :func:`run_scenario` takes any source of readings.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Iterator

from .domain.alerts import AlertFinding, AlertRules
from .domain.clock import FakeClock
from .domain.codes import Parameter as P
from .domain.policy import DEFAULT_POLICY, ClinicPolicy
from .domain.readings import Quality, Reading
from .domain.session import SessionEvent
from .domain.signal_alarms import SignalWatch, clinically_usable
from .domain.timeline import StateChange, compute_clocks

START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)  # minute 0: the start of administration
BEFORE_S = 300  # the monitor streams from 5 minutes before the start


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    expected: tuple[tuple[str, int], ...]  # (rule, session minute) of every alarm that must fire
    minutes: int = 50  # how long after the start the scenario runs


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("sensor-off", "SpO2 probe off for 90 s at minute 20 (ECG HR stays)", (("no-valid-spo2", 20),)),
    Scenario("pr-artifact", "PR drops to 45 for 10 s at minute 25 while ECG HR stays 70",
             (("hr-pr-disagree", 25),)),
    Scenario("tachycardia", "ECG HR 125 with PR 118 for 8 minutes from minute 30", (("hr-high", 35),)),
    Scenario("hypertensive-predose", "BP 172/104 one minute before the start", (("predose-bp", 0),)),
    Scenario("apnea", "CO2 apnea flags for 40 s at minute 15", (("apnea", 15),)),
    Scenario("desaturation", "SpO2 falls to 85 % at minute 45 (30 s down, 60 s at 85 %, 30 s back)",
             (("spo2-low", 45),)),
)}
# The same events, at the same times, as the simulators' scenarios of the same names (hardware/sim).


def _calm(t: int) -> dict:
    """A calm patient at second ``t``: HR about 72 (PR the same), SpO2 97, RR 14, BP 124/78."""
    wobble = round(2 * math.sin(t / 37))
    return {"hr": 72 + wobble, "pr": 72 + wobble, "spo2": 97.0, "rr": 14.0, "etco2": 38.0, "bp": (124.0, 78.0)}


def _perturb(name: str, t: int, v: dict) -> dict:
    """What goes wrong in scenario ``name`` at second ``t`` after the start."""
    if name == "sensor-off" and 20 * 60 <= t < 20 * 60 + 90:
        v["spo2"] = v["pr"] = "sensor-off"
    elif name == "pr-artifact" and 24 * 60 <= t < 26 * 60 + 10:
        v["hr"] = 70
        v["pr"] = 45 if 25 * 60 <= t < 25 * 60 + 10 else 70
    elif name == "tachycardia" and 30 * 60 <= t < 38 * 60:
        v["hr"], v["pr"] = 125, 118
    elif name == "hypertensive-predose" and t == -60:
        v["bp"] = (172.0, 104.0)
    elif name == "apnea" and 15 * 60 <= t < 15 * 60 + 40:
        v["rr"] = v["etco2"] = "apnea"
    elif name == "desaturation" and 45 * 60 <= t < 47 * 60:
        into, left = t - 45 * 60, 47 * 60 - t
        depth = min(1.0, into / 30.0, left / 30.0)  # 30 s down, hold, 30 s back up
        v["spo2"] = float(round(v["spo2"] - depth * (v["spo2"] - 85)))
    return v


def sim_readings(name: str) -> Iterator[tuple[int, Callable[[datetime], list[Reading]]]]:
    """(second from the start, readings at that time) of the simulators' scenario ``name``."""
    from .hardware.sim.scenarios import ScenarioPatient

    patient = ScenarioPatient(name)
    end = SCENARIOS[name].minutes * 60
    cuff = {int(t) for t in patient.nibp_times(-BEFORE_S, end + 1)}
    src = "device:ge"
    for t in range(-BEFORE_S, end + 1):
        def at(now: datetime, t=t) -> list[Reading]:
            v = patient.vitals_at(t)
            out = [Reading(P.HR, v.hr, now, source=src)]
            if patient.probe_off(t):
                off = frozenset({Quality.SENSOR_OFF})
                out += [Reading(P.PR, None, now, flags=off, source=src), Reading(P.SPO2, None, now, flags=off, source=src)]
            else:
                out += [Reading(P.PR, v.pulse, now, source=src), Reading(P.SPO2, v.spo2, now, source=src)]
            if t % 5 == 0:
                apnea = frozenset({Quality.APNEA}) if patient.apnea(t) else frozenset()
                out += [Reading(P.RR, v.rr, now, flags=apnea, source=src),
                        Reading(P.ETCO2, v.etco2, now, flags=apnea, source=src)]
            if t in cuff:
                bp = patient.nibp_at(t)
                out += [Reading(P.NIBP_SYS, bp.sys, now, source=src), Reading(P.NIBP_DIA, bp.dia, now, source=src)]
            return out

        yield t, at


def table_readings(name: str) -> Iterator[tuple[int, Callable[[datetime], list[Reading]]]]:
    """(second from the start, readings at that time) for scenario ``name``, from the table above."""
    scenario = SCENARIOS[name]
    src = "device:ge"
    for t in range(-BEFORE_S, scenario.minutes * 60 + 1):
        v = _perturb(name, t, _calm(t))
        bp_now = t % 300 == 0 or (name == "hypertensive-predose" and t == -60)

        def at(now: datetime, v=v, t=t, bp_now=bp_now) -> list[Reading]:
            out = []
            for param, key in ((P.HR, "hr"), (P.PR, "pr"), (P.SPO2, "spo2")):
                value = v[key]
                if value == "sensor-off":
                    out.append(Reading(param, None, now, flags=frozenset({Quality.SENSOR_OFF}), source=src))
                else:
                    out.append(Reading(param, value, now, source=src))
            if t % 5 == 0:
                for param, key in ((P.RR, "rr"), (P.ETCO2, "etco2")):
                    if v[key] == "apnea":
                        out.append(Reading(param, None, now, text="apnea", source=src))
                    else:
                        out.append(Reading(param, v[key], now, source=src))
            if bp_now:
                out += [Reading(P.NIBP_SYS, v["bp"][0], now, source=src), Reading(P.NIBP_DIA, v["bp"][1], now, source=src)]
            return out

        yield t, at


@dataclass(frozen=True)
class ScenarioResult:
    scenario: str
    expected: list[dict]
    fired: list[dict]
    findings: tuple[AlertFinding, ...]

    @property
    def ok(self) -> bool:
        return self.fired == self.expected

    def json_line(self) -> str:
        return json.dumps({"scenario": self.scenario, "expected": self.expected, "fired": self.fired, "ok": self.ok})


def _minute(at: datetime) -> int:
    return math.floor((at - START).total_seconds() / 60)


def run_scenario(name: str, policy: ClinicPolicy = DEFAULT_POLICY,
                 readings: Iterable[tuple[int, Callable[[datetime], list[Reading]]]] | None = None) -> ScenarioResult:
    """Play scenario ``name`` through the alert rules on a fake clock; report what fired, and when."""
    scenario = SCENARIOS[name]
    clock = FakeClock(START - timedelta(seconds=BEFORE_S))
    rules, watch = AlertRules(policy), SignalWatch(policy)
    findings: list[AlertFinding] = []
    last_bp: tuple[float, float] | None = None
    last_nibp_at: datetime | None = None
    pending_sys: float | None = None
    started = False
    for t, make in (readings if readings is not None else sim_readings(name)):
        target = START + timedelta(seconds=t)
        if target > clock.now():
            clock.advance((target - clock.now()).total_seconds())
        now = clock.now()
        if t >= 0 and not started:  # the start gate: the latest BP before the start, from the monitor
            started = True
            watch.start(now)
            if last_bp is not None:
                findings += rules.predose_bp(last_bp[0], last_bp[1], now)
        for r in make(now):
            findings += watch.feed(r)
            if r.parameter in (P.HR, P.PR):
                if watch.heart_rate_source(r):
                    findings += rules.feed(r)
            elif clinically_usable(r):
                findings += rules.feed(r)
            if clinically_usable(r) and r.parameter is P.NIBP_SYS:
                pending_sys = r.value
            if clinically_usable(r) and r.parameter is P.NIBP_DIA and pending_sys is not None:
                last_bp, last_nibp_at, pending_sys = (pending_sys, r.value), now, None
        if started:
            changes = [StateChange(SessionEvent.CHECK_IN, START - timedelta(minutes=10)),
                       StateChange(SessionEvent.START_INFUSION, START)]
            due = compute_clocks(changes, now, policy, None, last_nibp_at).next_bp_due_at
            findings += watch.tick(now, streaming=True, next_bp_due_at=due)
    expected = [{"rule": rule, "minute": minute} for rule, minute in scenario.expected]
    fired = [{"rule": f.rule, "minute": _minute(f.at)} for f in sorted(findings, key=lambda f: f.at)]
    return ScenarioResult(name, expected, fired, tuple(findings))


def scenario_check(names: Iterable[str] | None = None, out: Callable[[str], None] = print) -> int:
    """Run scenarios, print one JSON line each; 0 when every one fired exactly what it should, else 1."""
    ok = True
    for name in names or SCENARIOS:
        result = run_scenario(name)
        out(result.json_line())
        ok = ok and result.ok
    return 0 if ok else 1

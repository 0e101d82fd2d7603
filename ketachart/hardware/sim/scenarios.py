"""Clinical scenarios the simulated devices play (issue 11): what the monitor says, and when.

Each scenario is one event on the sim clock (seconds from the start of administration; negative before it)
on top of the ``ketamine`` patient. The devices only say it: which alarms should fire is the alarm logic's
business (``scenario-check``), which reads ``EVENTS`` for the minute to expect.

- ``sensor-off``: the SpO2 probe is off for 90 s at minute 20 (no SpO2 or pulse, flagged sensor-off);
- ``pr-artifact``: the oximeter's pulse rate drops to 45 for 10 s at minute 25 while ECG HR stays 70;
- ``tachycardia``: HR 125 (oximeter pulse 118) for 8 minutes from minute 30;
- ``hypertensive-predose``: a cuff reading of 172/104 one minute before the start;
- ``apnea``: the CO2 module reports apnea for 40 s at minute 15 (RR 0, etCO2 0, apnea flags);
- ``desaturation``: SpO2 falls to 85 % at minute 45 (30 s down, 60 s at 85 %, 30 s back).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .physiology import Nibp, Patient, Vitals


@dataclass(frozen=True)
class Event:
    """When a scenario's event happens on the sim clock, and what it is."""

    start_s: float
    end_s: float
    what: str

    def active(self, t: float) -> bool:
        return self.start_s <= t < self.end_s


EVENTS: dict[str, Event] = {
    "sensor-off": Event(20 * 60, 20 * 60 + 90, "SpO2 probe off for 90 s"),
    "pr-artifact": Event(25 * 60, 25 * 60 + 10, "oximeter pulse 45 for 10 s while ECG HR stays 70"),
    "tachycardia": Event(30 * 60, 38 * 60, "HR 125 (oximeter pulse 118) for 8 minutes"),
    "hypertensive-predose": Event(-60, -60 + 1, "NIBP 172/104 one minute before the start"),
    "apnea": Event(15 * 60, 15 * 60 + 40, "CO2 apnea for 40 s"),
    "desaturation": Event(45 * 60, 47 * 60, "SpO2 falls to 85 % and recovers"),
}
STEADY_HR = 70  # pr-artifact: ECG HR around the artefact
PREDOSE_BP = (172, 104)
DESAT_FLOOR = 85


class ScenarioPatient(Patient):
    """The ketamine patient with one scripted event (a pure function of time, like its parent)."""

    def __init__(self, name: str, seed: int = 1, hypertensive: bool = False) -> None:
        super().__init__(seed=seed, scenario="ketamine", hypertensive=hypertensive)
        self.name = name
        self.event = EVENTS[name]

    def vitals_at(self, t_s: float) -> Vitals:
        v = super().vitals_at(t_s)
        e = self.event
        if self.name == "pr-artifact" and e.start_s - 60 <= t_s < e.end_s + 60:
            v = replace(v, hr=STEADY_HR, pr=45 if e.active(t_s) else STEADY_HR)
        elif self.name == "tachycardia" and e.active(t_s):
            v = replace(v, hr=125, pr=118)
        elif self.name == "apnea" and e.active(t_s):
            v = replace(v, rr=0, etco2=0)
        elif self.name == "desaturation" and e.active(t_s):
            into, left = t_s - e.start_s, e.end_s - t_s
            depth = min(1.0, into / 30.0, left / 30.0)  # 30 s down, hold, 30 s back up
            v = replace(v, spo2=round(v.spo2 - depth * (v.spo2 - DESAT_FLOOR)))
        return v

    def nibp_at(self, t_s: float) -> Nibp:
        if self.name == "hypertensive-predose" and t_s == self.event.start_s:
            sys, dia = PREDOSE_BP
            return Nibp(sys, dia, round(dia + (sys - dia) / 3.0), round(self.vitals_at(t_s).hr))
        return super().nibp_at(t_s)

    def nibp_times(self, start_s: float, end_s: float) -> list[float]:
        times = super().nibp_times(start_s, end_s)
        at = self.event.start_s
        if self.name == "hypertensive-predose" and start_s <= at < end_s:
            # the pre-dose cuff reading, alone: no other cycle close enough to hide it
            times = sorted([x for x in times if abs(x - at) > 120] + [at])
        return times

    def probe_off(self, t_s: float) -> bool:
        return self.name == "sensor-off" and self.event.active(t_s)

    def apnea(self, t_s: float) -> bool:
        return self.name == "apnea" and self.event.active(t_s)

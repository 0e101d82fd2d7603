"""Deterministic patient physiology for simulators and the demo session.

Seconds are counted from the start of the infusion (negative before it). Scenarios:

- ``baseline``: HR about 75, SpO2 97-99, BP about 122/78;
- ``ketamine``: adds a BP rise that peaks about 40 min after the start (mean about +16/+11 mmHg; with
  ``hypertensive=True`` the peak goes over 180/110) and a small HR rise, fading over the next hour.

Pure functions of (seed, time): the same seed gives the same patient, so tests can assert values.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Vitals:
    hr: float
    spo2: float
    rr: float
    temp: float
    etco2: float
    pi: float
    pr: float | None = None  # the oximeter's pulse rate when it differs from the ECG HR (scenarios)

    @property
    def pulse(self) -> float:
        return self.hr if self.pr is None else self.pr


@dataclass(frozen=True)
class Nibp:
    sys: float
    dia: float
    mean: float
    pulse: float


def _bump(t_min: float, peak_min: float = 40.0, rise: float = 25.0, fall: float = 45.0) -> float:
    """0..1 shape of the ketamine haemodynamic response: rises from the start, peaks near 40 min."""
    if t_min <= 0:
        return 0.0
    if t_min <= peak_min:
        return math.sin(0.5 * math.pi * min(1.0, t_min / peak_min)) ** 2 if rise else 1.0
    return math.exp(-((t_min - peak_min) / fall) ** 2)


class Patient:
    """A simulated patient. ``scenario`` is 'baseline' or 'ketamine' (others behave like 'ketamine')."""

    def __init__(self, seed: int = 1, scenario: str = "ketamine", hypertensive: bool = False) -> None:
        self.seed = seed
        self.scenario = scenario
        rng = random.Random(seed)
        self.base_hr = 70 + rng.uniform(-6, 8)
        self.base_sys = 118 + rng.uniform(-6, 10)
        self.base_dia = 76 + rng.uniform(-4, 6)
        self.base_spo2 = 97.5 + rng.uniform(0, 1.2)
        self.rise_sys = 16.0 if not hypertensive else 70.0
        self.rise_dia = 11.0 if not hypertensive else 38.0
        self.rise_hr = 8.0
        self.nibp_interval_s = 180 + rng.randint(0, 120)  # every 3-5 min

    def _effect(self, t_s: float) -> float:
        if self.scenario == "baseline":
            return 0.0
        return _bump(t_s / 60.0)

    def _noise(self, t_s: float, salt: int, amplitude: float) -> float:
        # Smooth, deterministic wobble: a few incommensurate sines, seeded.
        phase = (self.seed * 7919 + salt * 104729) % 1000
        return amplitude * (
            0.6 * math.sin(t_s / 37.0 + phase) + 0.3 * math.sin(t_s / 11.3 + 2 * phase) + 0.1 * math.sin(t_s / 3.1)
        )

    def vitals_at(self, t_s: float) -> Vitals:
        e = self._effect(t_s)
        hr = self.base_hr + self.rise_hr * e + self._noise(t_s, 1, 2.5)
        spo2 = min(100.0, self.base_spo2 + self._noise(t_s, 2, 0.7))
        rr = 14 + self._noise(t_s, 3, 1.5)
        temp = 36.7 + self._noise(t_s, 4, 0.1)
        etco2 = 37 + self._noise(t_s, 5, 2.0)
        pi = 2.5 + self._noise(t_s, 6, 0.6)
        return Vitals(round(hr), round(spo2), round(rr), round(temp, 1), round(etco2), round(pi, 2))

    def nibp_at(self, t_s: float) -> Nibp:
        e = self._effect(t_s)
        sys = self.base_sys + self.rise_sys * e + self._noise(t_s, 7, 4.0)
        dia = self.base_dia + self.rise_dia * e + self._noise(t_s, 8, 3.0)
        mean = dia + (sys - dia) / 3.0
        return Nibp(round(sys), round(dia), round(mean), round(self.vitals_at(t_s).hr))

    def probe_off(self, t_s: float) -> bool:
        """Whether the SpO2 probe is off the finger (scenarios)."""
        return False

    def apnea(self, t_s: float) -> bool:
        """Whether the CO2 module reports apnea (scenarios)."""
        return False

    def nibp_times(self, start_s: float, end_s: float) -> list[float]:
        """When the monitor's NIBP cuff cycles (every 3-5 min, plus one at 40 min after start)."""
        times, t, k = [], start_s, 0
        rng = random.Random(self.seed * 31)
        while t < end_s:
            times.append(t)
            k += 1
            t += self.nibp_interval_s + rng.randint(-20, 20)
        if start_s <= 2400 < end_s and all(abs(x - 2400) > 60 for x in times):
            times.append(2400.0)
        return sorted(times)

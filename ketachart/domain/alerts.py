"""Alert rules from clinic policy (CLINICAL.md section 2).

:class:`AlertRules` is fed readings in time order and returns findings. It remembers only what the rules
need (recent BP, when HR first went high), so it can be rebuilt after a restart by replaying the session's
stored readings. Every finding carries the policy version that produced it. A rule that has fired stays
quiet until its condition clears, so one episode is one alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from .codes import Parameter
from .policy import ClinicPolicy
from .readings import Reading
from .vitals import usable


@dataclass(frozen=True)
class AlertFinding:
    rule: str  # sys-high, dia-high, hr-high, hr-low, spo2-low, monitor-silent, predose-bp
    severity: str  # warning, critical
    message: str
    at: datetime
    policy_version: int
    data: dict = field(default_factory=dict)


def raise_once(active: set[str], rule: str, condition: bool, finding: Callable[[], AlertFinding]) -> list[AlertFinding]:
    """The edge rule every alarm follows: raised once when its condition starts, re-armed when it clears
    (``active`` holds the rules raised and not yet cleared)."""
    if not condition:
        active.discard(rule)
        return []
    if rule in active:
        return []
    active.add(rule)
    return [finding()]


@dataclass
class AlertRules:
    policy: ClinicPolicy
    _last_sys: tuple[datetime, float] | None = None
    _last_dia: tuple[datetime, float] | None = None
    _hr_high_since: datetime | None = None
    _active: set[str] = field(default_factory=set)

    def feed(self, reading: Reading) -> list[AlertFinding]:
        if not usable(reading):  # the one validity rule: an artefact never raises (or clears) an alert
            return []
        p, v, t = reading.parameter, reading.value, reading.host_time
        if p is Parameter.NIBP_SYS:
            return self._bp("sys-high", "Systolic", v, t, self.policy.sys_high_repeat, self.policy.sys_high_once, "_last_sys")
        if p is Parameter.NIBP_DIA:
            return self._bp("dia-high", "Diastolic", v, t, self.policy.dia_high_repeat, self.policy.dia_high_once, "_last_dia")
        if p in (Parameter.HR, Parameter.PR):
            return self._hr(v, t)
        if p is Parameter.SPO2:
            return self._edge("spo2-low", v <= self.policy.spo2_low, t, "critical",
                              f"SpO2 {v:.0f}% (alert at {self.policy.spo2_low}% or below)", {"value": v})
        return []

    def mark_active(self, rule: str) -> None:
        """After a restart: a stored, still-unacknowledged alert's rule stays quiet until its condition clears."""
        self._active.add(rule)

    def monitor_silent(self, silent: bool, at: datetime, device: str = "monitor") -> list[AlertFinding]:
        return self._edge("monitor-silent", silent, at, "warning",
                          f"No reading from the {device} for {self.policy.monitor_silent_s} s", {"device": device})

    def predose_bp(self, sys: float, dia: float, at: datetime) -> list[AlertFinding]:
        """Before starting: BP at or over the pre-dose limit warns (does not block)."""
        if sys >= self.policy.predose_sys_warn or dia >= self.policy.predose_dia_warn:
            return [self._finding("predose-bp", "warning",
                                  f"Pre-dose BP {sys:.0f}/{dia:.0f} is at or above {self.policy.predose_sys_warn}/"
                                  f"{self.policy.predose_dia_warn}: review before starting", at, {"sys": sys, "dia": dia})]
        return []

    # --- rules ----------------------------------------------------------------------------------
    def _bp(self, rule, label, value, t, repeat_limit, once_limit, slot) -> list[AlertFinding]:
        last = getattr(self, slot)
        setattr(self, slot, (t, value))
        if value >= once_limit:
            return self._edge(rule, True, t, "critical", f"{label} BP {value:.0f} mmHg (alert at {once_limit} once)",
                              {"value": value})
        window = timedelta(minutes=self.policy.repeat_window_min + 1)
        repeated = value >= repeat_limit and last is not None and last[1] >= repeat_limit and t - last[0] <= window * 3
        if repeated:
            return self._edge(rule, True, t, "critical",
                              f"{label} BP {last[1]:.0f} then {value:.0f} mmHg (alert at {repeat_limit} twice)",
                              {"value": value, "previous": last[1]})
        if value < repeat_limit:
            self._active.discard(rule)
        return []

    def _hr(self, value, t) -> list[AlertFinding]:
        out = self._edge("hr-low", value < self.policy.hr_low, t, "critical",
                         f"Heart rate {value:.0f}/min (alert below {self.policy.hr_low})", {"value": value})
        if value > self.policy.hr_high:
            if self._hr_high_since is None:
                self._hr_high_since = t
            sustained = t - self._hr_high_since >= timedelta(minutes=self.policy.hr_high_sustained_min)
            if sustained:
                out += self._edge("hr-high", True, t, "warning",
                                  f"Heart rate over {self.policy.hr_high}/min for {self.policy.hr_high_sustained_min} min "
                                  f"(now {value:.0f})", {"value": value})
        else:
            self._hr_high_since = None
            self._active.discard("hr-high")
        return out

    def _edge(self, rule, condition, t, severity, message, data) -> list[AlertFinding]:
        return raise_once(self._active, rule, condition, lambda: self._finding(rule, severity, message, t, data))

    def _finding(self, rule, severity, message, t, data) -> AlertFinding:
        return AlertFinding(rule, severity, message, t, self.policy.version, data)

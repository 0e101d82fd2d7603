"""The pump at the chair (issue 12): what the connected pump reports, beside what is charted.

:class:`PumpReport` is the pump's latest values (rate, volume infused, volume to be infused, state, alarms and
when it said them); :class:`PumpRateWatch` compares the pump's rate with the charted rate and raises one alert
per episode when they disagree for longer than the policy's ``pump_rate_mismatch_s``. Pump alarms (occlusion,
air, empty ...) are :class:`~.signal_alarms.SignalWatch`'s. No Qt; time is the caller's clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .alerts import AlertFinding
from .policy import ClinicPolicy

# Two rates "agree" within the larger of these (docs/CLINICAL.md "The pump at the chair"): a pump displays and
# reports 0.1 mL/h steps and the charted rate is rounded to 0.1 mL/h by the rate dialog.
RATE_TOLERANCE_ML_H = 0.5
RATE_TOLERANCE_FRACTION = 0.05
PUMP_FRESH_S = 60.0  # a pump report older than this is stale: shown as such, never compared or charted as "now"
STOPPED_STATES = frozenset({"stopped", "off"})


@dataclass(frozen=True)
class PumpReport:
    """The pump's latest report of each value (None: never reported); ``at`` is its newest report's time."""

    rate_ml_h: float | None = None
    volume_infused_ml: float | None = None
    vtbi_ml: float | None = None
    state: str | None = None  # pumping, stopped, bolus, off
    alarms: tuple[str, ...] = ()
    at: datetime | None = None
    rate_at: datetime | None = None

    def age_s(self, now: datetime) -> float | None:
        return None if self.at is None else max(0.0, (now - self.at).total_seconds())

    def fresh(self, now: datetime, fresh_s: float = PUMP_FRESH_S) -> bool:
        age = self.age_s(now)
        return age is not None and age <= fresh_s

    @property
    def delivering_rate(self) -> float | None:
        """The rate the drug flows at: 0 while the pump says it is stopped, else its rate (None: unknown)."""
        if self.state in STOPPED_STATES:
            return 0.0
        return self.rate_ml_h


def rates_agree(charted_ml_h: float, pump_ml_h: float) -> bool:
    return abs(charted_ml_h - pump_ml_h) <= max(RATE_TOLERANCE_ML_H, RATE_TOLERANCE_FRACTION * max(charted_ml_h, 0.0))


@dataclass
class PumpRateWatch:
    """The charted rate against the pump's, while the infusion runs or is paused (paused: the pump should be
    stopped). A disagreement lasting ``policy.pump_rate_mismatch_s`` is one warning until they agree again."""

    policy: ClinicPolicy
    RULE = "pump-rate-mismatch"
    _since: datetime | None = None
    _active: bool = False
    _extra: dict = field(default_factory=dict)

    def mark_active(self, rule: str) -> None:
        """After a restart: a stored, unacknowledged mismatch alert stays the one alert of its episode."""
        if rule == self.RULE:
            self._active = True

    def check(self, now: datetime, charted_ml_h: float | None, report: PumpReport | None,
              fresh_s: float = PUMP_FRESH_S) -> list[AlertFinding]:
        """``charted_ml_h``: the rate the chart says runs now (0 while paused; None: not judged, e.g. before the
        start, after the stop, or an intranasal session). A stale or silent pump is not compared (its tile
        says stale; the link says silent)."""
        pump = report.delivering_rate if report is not None and report.fresh(now, fresh_s) else None
        if charted_ml_h is None or pump is None or rates_agree(charted_ml_h, pump):
            self._since = None
            self._active = False
            return []
        if self._since is None:
            self._since = now
        if self._active or now - self._since < timedelta(seconds=self.policy.pump_rate_mismatch_s):
            return []
        self._active = True
        charted = "paused (0 mL/h)" if charted_ml_h == 0 else f"{charted_ml_h:g} mL/h"
        pumping = "stopped" if pump == 0 else f"{pump:g} mL/h"
        message = (f"Pump rate {pumping} differs from the charted rate {charted} for "
                   f"{self.policy.pump_rate_mismatch_s} s: check the pump and the chart")
        return [AlertFinding(self.RULE, "warning", message, now, self.policy.version,
                             {"source": "device:bbraun", "pump_ml_h": pump, "charted_ml_h": charted_ml_h,
                              "since": self._since.isoformat()})]

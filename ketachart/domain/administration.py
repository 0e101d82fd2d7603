"""What was given, as it really happened: the end of an administration and the controlled-substance balance.

The stop of an IV infusion is charted with whether it ran to completion or was stopped early (with the
reason) and the amount delivered: the pump's volume infused when a pump is connected, else what the nurse
typed (a completed infusion with neither is the ordered volume). Ordered, delivered and wasted amounts are
then reconciled: whatever was drawn up and neither delivered nor wasted is a discrepancy to resolve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Below this the balance is rounding (pump volumes to 0.1 mL of up to 10 mg/mL): docs/CLINICAL.md, "Delivered".
BALANCE_TOLERANCE_MG = 0.5


@dataclass(frozen=True)
class AdministrationEnd:
    """The charted end of an administration (the data of the stop-infusion event)."""

    completed: bool
    delivered_ml: float | None
    delivered_mg: float | None
    delivered_source: str  # pump | typed | ordered
    reason: str = ""

    def as_data(self) -> dict:
        return {"completed": self.completed, "delivered_ml": self.delivered_ml, "delivered_mg": self.delivered_mg,
                "delivered_source": self.delivered_source}

    @classmethod
    def from_data(cls, data: dict) -> "AdministrationEnd | None":
        if "completed" not in (data or {}):
            return None  # charted before the delivered amount was asked for
        return cls(bool(data["completed"]), data.get("delivered_ml"), data.get("delivered_mg"),
                   data.get("delivered_source", ""), data.get("reason", ""))


@dataclass(frozen=True)
class Balance:
    ordered_mg: float
    delivered_mg: float | None
    wasted_after_mg: float  # waste charted after the start (the undelivered remainder)

    @property
    def unaccounted_mg(self) -> float | None:
        """Drawn up but neither delivered nor wasted (None while nothing delivered is known)."""
        if self.delivered_mg is None:
            return None
        return round(self.ordered_mg - self.delivered_mg - self.wasted_after_mg, 2)

    @property
    def discrepancy(self) -> bool:
        u = self.unaccounted_mg
        return u is not None and abs(u) > BALANCE_TOLERANCE_MG

    def text(self) -> str:
        if self.delivered_mg is None:
            return f"ordered {self.ordered_mg:g} mg; delivered not recorded"
        out = f"ordered {self.ordered_mg:g} mg, delivered {self.delivered_mg:g} mg"
        if self.wasted_after_mg:
            out += f", remainder wasted {self.wasted_after_mg:g} mg"
        if self.discrepancy:
            out += f" - DISCREPANCY {self.unaccounted_mg:g} mg not accounted for (waste it with a witness)"
        return out


def end_text(end: AdministrationEnd, ordered_mg: float) -> str:
    """One line for the chart, the summary and the messages ("Infusion stopped early: 9.8 of 40 mg ...")."""
    what = "Infusion completed" if end.completed else "Infusion stopped early"
    if end.delivered_mg is None:
        return what
    src = {"pump": "pump volume infused", "typed": "volume typed", "ordered": "ordered volume"}.get(end.delivered_source, "")
    return f"{what}: {end.delivered_mg:g} of {ordered_mg:g} mg delivered ({end.delivered_ml:g} mL, {src})"


def volume_infused_ml(spans, start_rate: float, rate_changes: list[tuple[datetime, float]], now: datetime) -> float:
    """mL run in so far: each running span (``InfusionSpan``s, pauses excluded) at the rate in force, which
    starts at ``start_rate`` and changes at each ``(at, rate)``."""
    changes = sorted(rate_changes)
    total = 0.0
    for span in spans:
        if span.paused:
            continue
        t, end = span.start, span.end or now
        while t < end:
            rate = start_rate
            for at, r in changes:
                if at <= t:
                    rate = r
            nxt = min([at for at, _ in changes if t < at < end] or [end])
            total += rate * (nxt - t).total_seconds() / 3600.0
            t = nxt
    return total


def remaining_minutes(volume_ml: float, infused_ml: float, rate_ml_per_h: float) -> tuple[float, float]:
    """(remaining mL, minutes to run it at ``rate_ml_per_h``): the time left follows the volume left."""
    left = max(0.0, volume_ml - infused_ml)
    return left, (left / rate_ml_per_h * 60.0 if rate_ml_per_h > 0 else float("inf"))

"""The moments of a monitored session that the summary and the Spravato REMS form both print, each read from
the chart with its time window (docs/CLINICAL.md, "REMS monitoring form"):

- pre-dose BP: the documented baseline (the BP the pre-dose check used), else the latest BP before the start
  of administration (flagged as not documented);
- ~40 min BP: the BP nearest to 40 min after the first device, within ``rems_bp_window_min`` either side;
- BP before completion: the last BP after the start and at or before the end of monitoring, no earlier than
  ``rems_completion_bp_window_min`` before that end;
- ready to leave: only when sedation AND dissociation are charted resolved after their last unresolved value
  (a dissociation 3/4 never re-charted is not resolved).

One function, so the summary's Baseline, the REMS BPs and "vital signs in range" cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from .vitals import NibpPair

SEDATION_RESOLVED = 5  # MOAA/S 5: responds readily to name in a normal tone
DISSOCIATION_RESOLVED = 0  # clinician global 0: none


@dataclass(frozen=True)
class MonitoringPoints:
    started: datetime | None
    end: datetime | None  # discharge (or abort), else "now" while monitoring goes on
    ended: bool  # the end is a charted discharge/abort
    predose: NibpPair | None
    predose_documented: bool  # the nurse's baseline entry, not only a device reading
    at40_target: datetime | None
    at40: NibpPair | None
    completion: NibpPair | None
    sedation_resolved_at: datetime | None
    dissociation_resolved_at: datetime | None

    @property
    def ready_at(self) -> datetime | None:
        """When both sedation and dissociation were charted resolved (None: not determinable)."""
        if self.sedation_resolved_at is None or self.dissociation_resolved_at is None:
            return None
        return max(self.sedation_resolved_at, self.dissociation_resolved_at)

    @property
    def total_minutes(self) -> float | None:
        if self.started is None or self.end is None:
            return None
        return (self.end - self.started).total_seconds() / 60


def bp_figure(bp: NibpPair | None) -> str:
    """The BP as both papers print it: "124/79"."""
    return "" if bp is None else f"{bp.sys:.0f}/{bp.dia:.0f}"


def bp_in_range(bp: NibpPair | None, sys_limit: float, dia_limit: float) -> bool | None:
    """Below the clinic's pre-dose limits (policy ``predose_sys_warn``/``predose_dia_warn``); None: no BP."""
    if bp is None:
        return None
    return bp.sys < sys_limit and bp.dia < dia_limit


def resolved_at(values: Iterable[tuple[datetime, float]], resolved: float, since: datetime | None) -> datetime | None:
    """When a scale was charted resolved after its last unresolved value (values in time order, from ``since``).
    None when the last charted value is unresolved, or nothing was charted since the start."""
    found: datetime | None = None
    for at, value in values:
        if since is not None and at < since:
            continue
        if value == resolved:
            if found is None:
                found = at
        else:
            found = None
    return found


def monitoring_points(*, documented_baseline: list[NibpPair], bps: list[NibpPair], started: datetime | None,
                      ended_at: datetime | None, now: datetime, bp_window_min: float,
                      completion_window_min: float, sedation: list[tuple[datetime, float]],
                      dissociation: list[tuple[datetime, float]]) -> MonitoringPoints:
    """Read the moments from the chart. ``bps``: every usable BP (device and typed) in time order;
    ``documented_baseline``: the nurse's pre-dose baseline entries; scales as (time, value) in time order."""
    end = ended_at or (now if started else None)
    slack = timedelta(seconds=5)  # a cuff value stamped at the tap of "start" still counts as before it
    base = [b for b in documented_baseline if started is None or b.at <= started + slack]
    predose, documented = (base[-1], True) if base else (None, False)
    if predose is None and started is not None:
        before = [b for b in bps if b.at <= started + slack]
        predose = before[-1] if before else None
    at40_target = started + timedelta(minutes=40) if started else None
    at40 = None
    if at40_target is not None:
        window = timedelta(minutes=bp_window_min)
        near = [b for b in bps if abs(b.at - at40_target) <= window and b.at > started + slack]
        at40 = min(near, key=lambda b: abs((b.at - at40_target).total_seconds())) if near else None
    completion = None
    if started is not None and end is not None:
        lo = end - timedelta(minutes=completion_window_min)
        after = [b for b in bps if started + slack < b.at <= end + slack and b.at >= lo]
        completion = after[-1] if after else None
    return MonitoringPoints(
        started=started, end=end, ended=ended_at is not None, predose=predose, predose_documented=documented,
        at40_target=at40_target, at40=at40, completion=completion,
        sedation_resolved_at=resolved_at(sedation, SEDATION_RESOLVED, started),
        dissociation_resolved_at=resolved_at(dissociation, DISSOCIATION_RESOLVED, started),
    )

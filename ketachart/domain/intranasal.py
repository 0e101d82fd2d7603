"""Intranasal esketamine (Spravato) is its own route: devices, not an infusion (issue 12).

Each 28 mg device is charted with its time; the label asks for 5 minutes between devices, so the next device is
prompted ("Device 2 due at 10:05"). After the last device the administration is complete, and the BP about
40 minutes after the dose (the label's post-dose BP; policy ``nibp_at_min_after_start``) is a due item until a
BP is charted within ``rems_bp_window_min`` of it. No Qt; the caller passes what is charted and "now".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .policy import ClinicPolicy

MG_PER_DEVICE = 28  # Spravato label: one nasal spray device delivers 28 mg (two sprays)
DEVICE_SPACING_MIN = 5  # Spravato label: wait 5 minutes between devices


def devices_for(dose_mg: float) -> int:
    """Whole devices in a dose (56 mg: 2, 84 mg: 3)."""
    return max(1, int(round(float(dose_mg) / MG_PER_DEVICE)))


@dataclass(frozen=True)
class NasalSchedule:
    """Where an intranasal administration stands now."""

    devices_planned: int
    given: tuple[datetime, ...]  # each device's charted time, in order
    next_device: int | None  # the device to give next (None: all given, or not started)
    next_device_due_at: datetime | None
    bp40_due_at: datetime | None  # the post-dose BP (None before the first device)
    bp40_taken_at: datetime | None  # the BP charted within the window around it

    @property
    def all_given(self) -> bool:
        return len(self.given) >= self.devices_planned

    def device_due(self, now: datetime) -> bool:
        return self.next_device_due_at is not None and now >= self.next_device_due_at

    def bp40_due(self, now: datetime) -> bool:
        return self.bp40_due_at is not None and self.bp40_taken_at is None and now >= self.bp40_due_at


def nasal_schedule(devices_planned: int, given: list[datetime], bp_times: list[datetime],
                   policy: ClinicPolicy) -> NasalSchedule:
    """The schedule from the charted devices (times) and the charted BPs (monitor or typed)."""
    given_t = tuple(sorted(given))
    nxt = due = bp40 = taken = None
    if given_t and len(given_t) < devices_planned:
        nxt, due = len(given_t) + 1, given_t[-1] + timedelta(minutes=DEVICE_SPACING_MIN)
    if given_t:
        bp40 = given_t[0] + timedelta(minutes=policy.nibp_at_min_after_start)
        window = timedelta(minutes=policy.rems_bp_window_min)
        near = [t for t in bp_times if abs(t - bp40) <= window]
        taken = min(near, key=lambda t: abs(t - bp40)) if near else None
    return NasalSchedule(devices_planned, given_t, nxt, due, bp40, taken)

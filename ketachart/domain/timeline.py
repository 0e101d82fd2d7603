"""The clocks a session lives by, computed from stored timestamps (never from counted ticks).

Given the session's state-change times, the planned infusion length, the last NIBP time and "now", this
says how long the infusion has run (pauses excluded), how long is left, when the next BP is due and when the
2-hour discharge check is due. A restart recomputes the same numbers from the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .policy import ClinicPolicy
from .session import SessionEvent, SessionState, next_state


@dataclass(frozen=True)
class StateChange:
    event: SessionEvent
    at: datetime


@dataclass(frozen=True)
class SessionClocks:
    state: SessionState
    infusion_started_at: datetime | None
    infusion_stopped_at: datetime | None
    infusion_elapsed: timedelta  # running time, pauses excluded
    infusion_remaining: timedelta | None  # None when not planned/started
    paused_for: timedelta  # total paused time so far
    next_bp_due_at: datetime | None
    bp_overdue: bool
    discharge_due_at: datetime | None  # start of administration + policy minutes
    discharge_remaining: timedelta | None
    discharged_at: datetime | None


def compute_clocks(
    changes: list[StateChange],
    now: datetime,
    policy: ClinicPolicy,
    planned_minutes: int | None = None,
    last_nibp_at: datetime | None = None,
) -> SessionClocks:
    state = SessionState.PLANNED
    started = stopped = discharged = None
    paused_at: datetime | None = None
    paused_total = timedelta(0)
    for change in sorted((c for c in changes if c.at <= now), key=lambda c: c.at):
        state = next_state(state, change.event)
        if change.event is SessionEvent.START_INFUSION:
            started = change.at
        elif change.event is SessionEvent.PAUSE:
            paused_at = change.at
        elif change.event is SessionEvent.RESUME and paused_at is not None:
            paused_total += change.at - paused_at
            paused_at = None
        elif change.event is SessionEvent.STOP_INFUSION:
            if paused_at is not None:
                paused_total += change.at - paused_at
                paused_at = None
            stopped = change.at
        elif change.event in (SessionEvent.DISCHARGE, SessionEvent.ABORT):
            discharged = change.at
    end = stopped or (paused_at if paused_at else None) or discharged or now
    ongoing_pause = (now - paused_at) if paused_at is not None and stopped is None else timedelta(0)
    elapsed = max(timedelta(0), (end - started) - paused_total) if started else timedelta(0)
    remaining = None
    if planned_minutes and started and stopped is None:
        remaining = max(timedelta(0), timedelta(minutes=planned_minutes) - elapsed)
    discharge_due = started + timedelta(minutes=policy.discharge_min_after_start) if started else None
    discharge_remaining = max(timedelta(0), discharge_due - now) if discharge_due and not discharged else None

    next_bp = None
    overdue = False
    if started and not state.is_final:
        interval = timedelta(minutes=policy.nibp_interval_min)
        base = max(last_nibp_at, started) if last_nibp_at else started
        next_bp = base + interval
        at40 = started + timedelta(minutes=policy.nibp_at_min_after_start)
        if (last_nibp_at is None or last_nibp_at < at40 - timedelta(minutes=2)) and at40 < next_bp:
            next_bp = at40  # the BP at 40 minutes, when the rise usually peaks
        overdue = now > next_bp
    return SessionClocks(
        state=state,
        infusion_started_at=started,
        infusion_stopped_at=stopped,
        infusion_elapsed=elapsed,
        infusion_remaining=remaining,
        paused_for=paused_total + ongoing_pause,
        next_bp_due_at=next_bp,
        bp_overdue=overdue,
        discharge_due_at=discharge_due,
        discharge_remaining=discharge_remaining,
        discharged_at=discharged,
    )


def format_duration(delta: timedelta | None) -> str:
    """``1:05:09`` / ``12:04``; what the clocks show."""
    if delta is None:
        return "--:--"
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{h}:{m:02d}:{s:02d}" if h else f"{sign}{m:02d}:{s:02d}"

"""The clocks a session lives by, computed from stored timestamps (never from counted ticks).

:func:`infusion_timing` needs no policy: from the state-change times, the planned infusion length and "now" it
says how long the infusion has run (pauses excluded) and how long is left. :func:`compute_clocks` adds what
clinic policy makes due: the next BP and the discharge check. A restart recomputes the same numbers from the
same rows.
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
class InfusionTiming:
    """What happened when, needing no policy: the printed summary's running time and the clocks' base."""

    state: SessionState
    infusion_started_at: datetime | None
    infusion_stopped_at: datetime | None
    infusion_elapsed: timedelta  # running time, pauses excluded
    infusion_remaining: timedelta | None  # None when not planned/started
    paused_for: timedelta  # total paused time so far
    discharged_at: datetime | None


@dataclass(frozen=True)
class SessionClocks(InfusionTiming):
    """The timing plus what clinic policy makes due: the next BP and the discharge check."""

    next_bp_due_at: datetime | None = None
    bp_overdue: bool = False
    discharge_due_at: datetime | None = None  # start of administration + policy minutes
    discharge_remaining: timedelta | None = None


def infusion_timing(changes: list[StateChange], now: datetime, planned_minutes: int | None = None) -> InfusionTiming:
    """Elapsed, remaining and paused time from the stored state changes up to ``now`` (pauses excluded)."""
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
    return InfusionTiming(state, started, stopped, elapsed, remaining, paused_total + ongoing_pause, discharged)


def compute_clocks(
    changes: list[StateChange],
    now: datetime,
    policy: ClinicPolicy,
    planned_minutes: int | None = None,
    last_nibp_at: datetime | None = None,
) -> SessionClocks:
    """The timing plus the due times clinic policy sets (next BP, the BP at 40 minutes, discharge check)."""
    timing = infusion_timing(changes, now, planned_minutes)
    started, state = timing.infusion_started_at, timing.state
    discharge_due = started + timedelta(minutes=policy.discharge_min_after_start) if started else None
    discharge_remaining = (max(timedelta(0), discharge_due - now) if discharge_due and not timing.discharged_at
                           else None)
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
        **{f: getattr(timing, f) for f in InfusionTiming.__dataclass_fields__},
        next_bp_due_at=next_bp,
        bp_overdue=overdue,
        discharge_due_at=discharge_due,
        discharge_remaining=discharge_remaining,
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

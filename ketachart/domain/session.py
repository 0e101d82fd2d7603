"""The session state machine: planned -> checked-in -> infusing <-> paused -> recovery -> discharged.

``aborted`` can be reached from any state that is not final. The state of a session is never stored as a
mutable column: it is the fold of its append-only state-change rows over :func:`next_state`.
"""

from __future__ import annotations

from enum import Enum

from .errors import IllegalTransition


class SessionState(str, Enum):
    PLANNED = "planned"
    CHECKED_IN = "checked-in"
    INFUSING = "infusing"
    PAUSED = "paused"
    RECOVERY = "recovery"
    DISCHARGED = "discharged"
    ABORTED = "aborted"

    @property
    def is_final(self) -> bool:
        return self in (SessionState.DISCHARGED, SessionState.ABORTED)


class SessionEvent(str, Enum):
    CHECK_IN = "check-in"
    START_INFUSION = "start-infusion"
    PAUSE = "pause"
    RESUME = "resume"
    STOP_INFUSION = "stop-infusion"
    DISCHARGE = "discharge"
    ABORT = "abort"


S, E = SessionState, SessionEvent
TRANSITIONS: dict[tuple[SessionState, SessionEvent], SessionState] = {
    (S.PLANNED, E.CHECK_IN): S.CHECKED_IN,
    (S.CHECKED_IN, E.START_INFUSION): S.INFUSING,
    (S.INFUSING, E.PAUSE): S.PAUSED,
    (S.PAUSED, E.RESUME): S.INFUSING,
    (S.INFUSING, E.STOP_INFUSION): S.RECOVERY,
    (S.PAUSED, E.STOP_INFUSION): S.RECOVERY,
    (S.RECOVERY, E.DISCHARGE): S.DISCHARGED,
}


def next_state(state: SessionState, event: SessionEvent) -> SessionState:
    """The state after ``event``; raises :class:`IllegalTransition` with a message a nurse can read."""
    state, event = SessionState(state), SessionEvent(event)
    if event is E.ABORT and not state.is_final:
        return S.ABORTED
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        allowed = sorted(e.value for (s, e) in TRANSITIONS if s is state)
        if not state.is_final:
            allowed.append(E.ABORT.value)
        hint = f"from {state.value} you can: {', '.join(allowed)}" if allowed else f"the session is {state.value}"
        raise IllegalTransition(f"cannot {event.value} a session that is {state.value} ({hint})") from None


def fold_states(events: list[SessionEvent]) -> SessionState:
    state = S.PLANNED
    for event in events:
        state = next_state(state, event)
    return state

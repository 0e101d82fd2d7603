from datetime import timedelta

import pytest

from ketachart.domain.errors import IllegalTransition
from ketachart.domain.policy import DEFAULT_POLICY as P
from ketachart.domain.session import SessionEvent as E, SessionState as S, fold_states, next_state
from ketachart.domain.timeline import StateChange, compute_clocks, format_duration


def test_happy_path_and_pause():
    assert fold_states([E.CHECK_IN, E.START_INFUSION, E.PAUSE, E.RESUME, E.STOP_INFUSION, E.DISCHARGE]) is S.DISCHARGED


@pytest.mark.parametrize("state, event", [(S.PLANNED, E.START_INFUSION), (S.RECOVERY, E.PAUSE), (S.DISCHARGED, E.ABORT)])
def test_illegal_transitions_raise_a_readable_error(state, event):
    with pytest.raises(IllegalTransition, match=f"cannot {event.value}"):
        next_state(state, event)


def test_abort_from_any_open_state():
    assert next_state(S.INFUSING, E.ABORT) is S.ABORTED


def test_clocks_exclude_pauses_and_count_to_discharge(clock):
    t0 = clock.now()
    changes = [
        StateChange(E.CHECK_IN, t0 - timedelta(minutes=10)),
        StateChange(E.START_INFUSION, t0),
        StateChange(E.PAUSE, t0 + timedelta(minutes=10)),
        StateChange(E.RESUME, t0 + timedelta(minutes=15)),
    ]
    now = t0 + timedelta(minutes=30)
    c = compute_clocks(changes, now, P, planned_minutes=40, last_nibp_at=t0 + timedelta(minutes=28))
    assert c.state is S.INFUSING
    assert c.infusion_elapsed == timedelta(minutes=25)
    assert c.infusion_remaining == timedelta(minutes=15)
    assert c.discharge_due_at == t0 + timedelta(minutes=120)
    assert c.discharge_remaining == timedelta(minutes=90)
    assert c.next_bp_due_at == t0 + timedelta(minutes=40)  # the 40-minute BP comes before +15 min
    assert not c.bp_overdue
    later = compute_clocks(changes, t0 + timedelta(minutes=41), P, 40, t0 + timedelta(minutes=28))
    assert later.bp_overdue


def test_clocks_ignore_changes_after_now(clock):
    t0 = clock.now()
    changes = [StateChange(E.CHECK_IN, t0), StateChange(E.START_INFUSION, t0 + timedelta(minutes=5))]
    assert compute_clocks(changes, t0 + timedelta(minutes=1), P).state is S.CHECKED_IN


def test_format_duration():
    assert format_duration(timedelta(minutes=5, seconds=3)) == "05:03"
    assert format_duration(timedelta(hours=1, minutes=2, seconds=3)) == "1:02:03"
    assert format_duration(None) == "--:--"

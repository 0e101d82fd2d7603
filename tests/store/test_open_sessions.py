"""Which sessions a relaunch reopens: one query for all, the same answer as folding each session's events."""

from __future__ import annotations

from datetime import timedelta

from ketachart.domain.dosing import iv_dose
from ketachart.domain.session import SessionEvent
from ketachart.store.models import Session, SessionEventRow


def _by_session_state(store):
    """The rule as it was: each of this chair's sessions whose own events do not end in a final state."""
    return [s["id"] for s in store.rows(Session, device_id=store.device_id) if not store.session_state(s["id"]).is_final]


def test_open_sessions_are_the_unfinished_ones_with_amendments_folded(store, clock):
    ids = {}
    for name in ("planned", "checked-in", "infusing", "discharged", "aborted", "amended"):
        p = store.create_patient(f"MRN-{name}", "Doe", name, "1980-02-03", "female", 70)
        ids[name] = store.create_session(p["patient_id"], "IV")["id"]
        clock.advance(60)
    for name in ("checked-in", "infusing", "discharged", "aborted", "amended"):
        store.session_event(ids[name], SessionEvent.CHECK_IN)
    clock.advance(300)
    for name in ("infusing", "discharged", "amended"):
        store.record_dose(ids[name], iv_dose(70, 0.5, 1, 40, store.policy), lot="L1")
        store.session_event(ids[name], SessionEvent.START_INFUSION)
    store.session_event(ids["aborted"], SessionEvent.ABORT, reason="patient declined")
    for event in (SessionEvent.STOP_INFUSION, SessionEvent.DISCHARGE):
        store.session_event(ids["discharged"], event)
    start = next(e for e in store.session_events(ids["amended"]) if e["event"] == SessionEvent.START_INFUSION.value)
    store.amend(SessionEventRow, start["id"], "started a minute earlier",
                effective_at=start["effective_at"] - timedelta(minutes=1))  # still after its check-in
    assert len(store.rows(SessionEventRow, session_id=ids["amended"])) > len(store.session_events(ids["amended"]))

    open_ids = [s["id"] for s in store.open_sessions()]
    assert open_ids == _by_session_state(store)
    assert set(open_ids) == {ids["planned"], ids["checked-in"], ids["infusing"], ids["amended"]}

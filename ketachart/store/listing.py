"""Read-only listings of the chart for the command line (``ketachart sessions``): no writes, no SQL elsewhere.

A session's status is the fold of its (current) session events, as everywhere else; the patient shown is
the current version of the demographics; amended session rows show their latest version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from ..domain.session import SessionEvent, SessionState, next_state
from .models import Session, SessionEventRow


@dataclass(frozen=True)
class SessionListing:
    id: str
    patient_id: str
    mrn: str
    patient_name: str
    started: datetime  # the session row's effective time (UTC-aware)
    route: str  # IV (ketamine) or IN (esketamine)
    status: str  # SessionState value: planned, checked-in, infusing, paused, recovery, discharged, aborted
    chair: str | None


def list_sessions(store, *, mrn: str | None = None, since: date | None = None,
                  tz: tzinfo | None = None) -> list[SessionListing]:
    """Sessions of the chart, oldest first; ``mrn`` keeps one patient's, ``since`` those on or after that local date.

    ``tz`` is the zone the local date is taken in (default: this computer's).
    """
    from .patient_links import link_map

    patients = {p["patient_id"]: p for p in store.patients()}
    links = link_map(store)  # a record an admin linked into another lists as that patient
    wanted = None
    if mrn is not None:
        wanted = {pid for pid, p in patients.items() if p["mrn"].strip().casefold() == mrn.strip().casefold()}
    events: dict[str, list[dict]] = {}
    for ev in store.current(store.rows(SessionEventRow)):
        events.setdefault(ev["session_id"], []).append(ev)
    result = []
    for row in store.current(store.rows(Session)):
        pid = links.get(row["patient_id"], row["patient_id"])
        if wanted is not None and pid not in wanted:
            continue
        started = row["effective_at"]
        if since is not None and started.astimezone(tz).date() < since:
            continue
        state = SessionState.PLANNED
        for ev in events.get(row["id"], []):
            state = next_state(state, SessionEvent(ev["event"]))
        p = patients.get(pid, {})
        result.append(SessionListing(
            id=row["id"], patient_id=pid, mrn=p.get("mrn", "?"),
            patient_name=f"{p.get('family_name', '?')}, {p.get('given_name', '?')}", started=started,
            route=row["route"], status=state.value, chair=row.get("chair"),
        ))
    return sorted(result, key=lambda s: (s.started, s.id))


def has_patient_with_mrn(store, mrn: str) -> bool:
    return any(p["mrn"].strip().casefold() == mrn.strip().casefold() for p in store.patients())

"""Read models: the current picture of a session, folded from its append-only rows.

The chair screen, the printed summary and the exports all read a session through :func:`session_view`, so
they agree on what "current" means: amended entries show their latest version, originals remain available
(``Entry.history``), late entries and signatures are labelled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from ..domain.administration import AdministrationEnd, Balance
from ..domain.session import SessionEvent, SessionState
from ..domain.timeline import InfusionTiming, SessionClocks, StateChange, compute_clocks, infusion_timing
from ..domain.vitals import InfusionSpan, infusion_spans
from .models import (
    Alert,
    AlertAck,
    Checklist,
    Course,
    DoseAdministration,
    Observation,
    RateChange,
    Session,
    SessionEventRow,
    Signature,
)
from .repository import ChartStore


def _json(text: str | None) -> dict:
    return json.loads(text) if text else {}


def data_of(row: dict) -> dict:
    """An observation version's ``data`` decoded (for the versions in ``Entry.history``)."""
    return _json(row.get("data"))


@dataclass
class Entry:
    """One charted item in its current version, with the versions it replaced (oldest first)."""

    row: dict
    history: list[dict] = field(default_factory=list)
    signatures: list[dict] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.row["id"]

    @property
    def amended(self) -> bool:
        return bool(self.history)

    @property
    def data(self) -> dict:
        return _json(self.row.get("data"))

    @property
    def original_reason(self) -> str:
        """The reason given with the first version (an amendment's own reason says why it was corrected)."""
        return ((self.history[0] if self.history else self.row).get("reason")) or ""

    @property
    def items(self) -> dict:
        """A checklist's items, decoded."""
        return _json(self.row.get("items"))

    @property
    def signed_version_amended(self) -> bool:
        """A signature exists on an older version than the current one."""
        signed_ids = {s["target_id"] for s in self.signatures}
        return bool(signed_ids) and self.row["id"] not in signed_ids


def fold_entries(rows: list[dict], signatures: list[dict] | None = None) -> list[Entry]:
    """Group amendment chains; each chain becomes one Entry whose ``row`` is the latest version."""
    by_id = {r["id"]: r for r in rows}
    superseded = {r["amends"] for r in rows if r.get("amends")}
    sigs_by_target: dict[str, list[dict]] = {}
    for s in signatures or []:
        sigs_by_target.setdefault(s["target_id"], []).append(s)
    entries = []
    for row in rows:
        if row["id"] in superseded:
            continue
        history, cursor = [], row
        while cursor.get("amends") and cursor["amends"] in by_id:
            cursor = by_id[cursor["amends"]]
            history.insert(0, cursor)
        chain_ids = [h["id"] for h in history] + [row["id"]]
        sigs = [s for cid in chain_ids for s in sigs_by_target.get(cid, [])]
        entries.append(Entry(row, history, sigs))
    entries.sort(key=lambda e: (e.row["effective_at"], e.row["device_seq"]))
    return entries


@dataclass
class AlertView:
    row: dict
    acks: list[dict]

    @property
    def acknowledged(self) -> bool:
        return bool(self.acks)


@dataclass
class SessionView:
    session: dict
    patient: dict
    course: dict | None
    state: SessionState
    events: list[dict]
    dose: Entry | None
    rate_changes: list[Entry]
    observations: list[Entry]
    alerts: list[AlertView]
    checklists: list[Entry]
    signatures: list[dict]
    session_number: int  # in the course (1-based)
    planned_minutes: int | None

    @property
    def id(self) -> str:
        return self.session["id"]

    def event_time(self, event: SessionEvent) -> datetime | None:
        times = [e["effective_at"] for e in self.events if e["event"] == event.value]
        return times[0] if times else None

    @property
    def infusion_started_at(self) -> datetime | None:
        return self.event_time(SessionEvent.START_INFUSION)

    @property
    def infusion_stopped_at(self) -> datetime | None:
        return self.event_time(SessionEvent.STOP_INFUSION)

    def _changes(self) -> list[StateChange]:
        return [StateChange(SessionEvent(e["event"]), e["effective_at"]) for e in self.events]

    def clocks(self, now: datetime, policy, last_nibp_at: datetime | None = None) -> SessionClocks:
        return compute_clocks(self._changes(), now, policy, self.planned_minutes, last_nibp_at)

    def timing(self, now: datetime) -> InfusionTiming:
        """Running and paused time, no policy needed (the printed summary)."""
        return infusion_timing(self._changes(), now, self.planned_minutes)

    def infusion_spans(self) -> list[InfusionSpan]:
        """Running and paused spans by the one rule (:func:`ketachart.domain.vitals.infusion_spans`)."""
        return infusion_spans((e["event"], e["effective_at"]) for e in self.events)

    def observations_of(self, kind: str) -> list[Entry]:
        return [o for o in self.observations if o.row["kind"] == kind]

    def checklist(self, kind: str) -> Entry | None:
        found = [c for c in self.checklists if c.row["kind"] == kind]
        return found[-1] if found else None

    @property
    def in_progress(self) -> bool:
        return not self.state.is_final

    @property
    def administration_end(self) -> AdministrationEnd | None:
        """The stop's outcome and delivered amount, as charted (None before the stop, or on older charts)."""
        stops = [e for e in self.events if e["event"] == SessionEvent.STOP_INFUSION.value]
        return AdministrationEnd.from_data(stops[-1]["details"]) if stops else None

    def balance(self) -> Balance | None:
        """Ordered, delivered and wasted after the start (the undelivered remainder): the one reconciliation
        the screen, the summary and FHIR show."""
        if self.dose is None:
            return None
        end = self.administration_end
        prepared = self.dose.row["effective_at"]  # waste charted with the dose is the vial's excess, not the remainder
        wasted = sum(float(w.data.get("amount_mg", w.row["value"]) or 0) for w in self.observations_of("waste")
                     if w.row["effective_at"] > prepared)
        return Balance(float(self.dose.row["dose_mg"]), end.delivered_mg if end else None, wasted)


def session_view(store: ChartStore, session_id: str) -> SessionView:
    session = store.get(Session, session_id)
    patient = store.patient(session["patient_id"])
    course = store.get(Course, session["course_id"]) if session["course_id"] else None
    session_sigs = []
    events = [{**e, "details": _json(e.get("data"))} for e in store.session_events(session_id)]  # JSON decoded
    entries = {model: store.rows(model, session_id=session_id)
               for model in (DoseAdministration, RateChange, Observation, Checklist)}
    # Only the signatures and acknowledgments of this session's rows (not the whole chart's: a year-old chart
    # has thousands), in the same order as the chart's.
    targets = [r["id"] for rows in entries.values() for r in rows]
    signatures = store.rows(Signature, target_id=targets) if targets else []
    doses, rates, observations, checklists = (fold_entries(rows, signatures) for rows in entries.values())
    alert_rows = store.rows(Alert, session_id=session_id)
    acks = store.rows(AlertAck, alert_id=[a["id"] for a in alert_rows]) if alert_rows else []
    alerts = [AlertView(a, [k for k in acks if k["alert_id"] == a["id"]]) for a in alert_rows]
    for group in (doses, observations, checklists, rates):
        for entry in group:
            session_sigs.extend(entry.signatures)
    number = 1
    if course:
        siblings = [s for s in store.rows(Session, course_id=course["id"])]
        siblings.sort(key=lambda s: s["effective_at"])
        number = 1 + [s["id"] for s in siblings].index(session_id)
    dose = doses[-1] if doses else None
    return SessionView(
        session=session,
        patient=patient,
        course=course,
        state=store.session_state(session_id),
        events=events,
        dose=dose,
        rate_changes=rates,
        observations=observations,
        alerts=alerts,
        checklists=checklists,
        signatures=sorted(session_sigs, key=lambda s: s["effective_at"]),
        session_number=number,
        planned_minutes=dose.row["minutes"] if dose else None,
    )

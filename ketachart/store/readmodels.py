"""Read models for the printed summary, the exports and the screen's course view, with times parsed and JSON
decoded, so nothing outside the store runs SQL or names an ORM class (a session's entries: :mod:`.views`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from .errors import NotFound
from .fingerprint import record_fingerprint
from .models import Observation, Session, StoreMeta
from .repository import ChartStore
from .session_readings import StoredReading, session_readings

__all__ = ["SessionRecord", "StoredReading", "observation_versions", "session_exists", "session_record", "store_meta"]
from .views import data_of


@dataclass(frozen=True)
class SessionRecord:
    readings: list[StoredReading]  # in time order
    fingerprint: str  # SHA-256 hex of the whole session record (:mod:`.fingerprint`)
    row_count: int


def session_record(store: ChartStore, session_id: str) -> SessionRecord:
    """The session's readings and its record fingerprint, reading the readings once."""
    read = session_readings(store, session_id)
    fingerprint, count = record_fingerprint(store, session_id, read)
    return SessionRecord(read.readings, fingerprint, count)


def store_meta(store: ChartStore, keys: tuple[str, ...]) -> dict[str, str]:
    """The chart's ``store_meta`` values for ``keys`` (clinic settings kept in the chart file)."""
    with store.engine.connect() as conn:
        return dict(conn.execute(select(StoreMeta.key, StoreMeta.value).where(StoreMeta.key.in_(keys))).all())


def observation_versions(store: ChartStore, *, session_id: str | None = None, patient_id: str | None = None,
                         kind: str | None = None) -> list[dict]:
    """Every stored version of a session's or patient's observations (originals and amendments), in time
    order, each with its ``data`` JSON decoded as ``details``."""
    if patient_id:  # the person's scores on every record an admin linked with this one (issue 13)
        from .patient_links import patient_ids_of

        ids = patient_ids_of(store, patient_id)
        if len(ids) > 1:
            rest = {k: v for k, v in (("session_id", session_id), ("kind", kind)) if v}
            rows = [o for pid in ids for o in store.rows(Observation, patient_id=pid, **rest)]
            return [{**o, "details": data_of(o)} for o in sorted(rows, key=lambda o: (o["effective_at"], o["device_seq"]))]
    filters = {k: v for k, v in (("session_id", session_id), ("patient_id", patient_id), ("kind", kind)) if v}
    return [{**o, "details": data_of(o)} for o in store.rows(Observation, **filters)]


def session_exists(store: ChartStore, session_id: str) -> bool:
    try:
        store.get(Session, session_id)
    except NotFound:
        return False
    return True

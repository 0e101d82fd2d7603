"""Read models for the printed summary, the exports and the screen's course view, with times parsed and JSON
decoded, so nothing outside the store runs SQL or names an ORM class (a session's entries: :mod:`.views`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NamedTuple

from sqlalchemy import select

from ..domain.codes import Parameter
from ..domain.vitals import usable_value
from .errors import NotFound
from .fingerprint import reading_rows, record_fingerprint
from .models import Observation, Session, StoreMeta
from .repository import ChartStore
from .views import data_of


def _aware(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    dt = datetime.fromisoformat(str(value))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


class StoredReading(NamedTuple):
    """One charted reading as stored; ``value`` is what the device said, ``usable`` the number a view may use
    (None for an invalid, sensor-off or artefact reading: :func:`ketachart.domain.vitals.usable_value`)."""

    id: str
    parameter: str
    value: float | None
    usable: float | None
    unit: str
    at: datetime  # effective time (UTC)
    flags: str  # as stored: comma-separated Quality values
    source: str
    device_seq: int | None  # None for readings stored in blocks (schema 6 on): their order is the block's

    @property
    def param(self) -> Parameter | None:
        try:
            return Parameter(self.parameter)
        except ValueError:
            return None


@dataclass(frozen=True)
class SessionRecord:
    readings: list[StoredReading]  # in time order
    fingerprint: str  # SHA-256 hex of the whole session record (:mod:`.fingerprint`)
    row_count: int


def session_record(store: ChartStore, session_id: str) -> SessionRecord:
    """The session's readings and its record fingerprint, reading the readings once."""
    raw = reading_rows(store, session_id)
    new, parse, utc = StoredReading._make, datetime.fromisoformat, timezone.utc  # ~30,000 rows in a long session
    readings = []
    for r in raw:
        at, flags, value = r["effective_at"], r["flags"], r["value"]
        at = _aware(at) if not isinstance(at, str) else parse(at)
        if at.tzinfo is None:
            at = at.replace(tzinfo=utc)  # SQLite keeps UTC times as naive ISO text
        readings.append(new((r["id"], r["parameter"], value, usable_value(value, flags) if flags else value,
                             r["unit"], at, flags or "", r["source"], r["device_seq"])))
    readings.sort(key=lambda r: (r.at, r.device_seq or 0))  # stable: block readings keep their charted order
    fingerprint, count = record_fingerprint(store, session_id, raw)
    return SessionRecord(readings, fingerprint, count)


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

"""The record fingerprint: one SHA-256 over every chart row that belongs to a session (an integrity concern,
so it lives with the store; the summary prints it and the exports audit it).

It covers the canonical content (:func:`ketachart.store.hashing.canonical_content`) of the patient's
demographic rows, the course, the session, its state changes, readings, observations, dose, rate changes,
alerts and their acknowledgments, checklists and the signatures on any of those rows, ordered by (table, id),
as a JSON array. Readings enter as their ``vital_readings``-shaped form whether stored as such rows (files before
schema 6) or in reading blocks (``device_seq`` null, id ``<device>-j<journal seq>-<i>``), so sealing a minute
into a block never changes the fingerprint. Audit rows are not part of it, so printing (which is audited) does not change it; any new or
amended entry does.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Table, select

from . import models as m
from .errors import NotFound
from .hashing import canonical_content
from .repository import ChartStore
from .session_readings import SessionReadings, session_readings


def raw_rows(store: ChartStore, table: Table, where_col: str, values: list[str]) -> list[dict]:
    """Rows as stored, without ORM conversion (fast for the ~30,000 readings of a long session; on SQLite the
    times stay ISO text)."""
    if not values:
        return []
    cols = [c.name for c in table.columns]
    out: list[dict] = []
    with store.engine.connect() as conn:
        for i in range(0, len(values), 500):
            chunk = values[i:i + 500]
            if store.engine.dialect.name == "sqlite":
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT {', '.join(cols)} FROM {table.name} WHERE {where_col} IN ({marks})"
                rows = conn.exec_driver_sql(sql, tuple(chunk)).fetchall()
            else:
                rows = conn.execute(select(*table.columns).where(table.c[where_col].in_(chunk))).fetchall()
            out.extend(dict(zip(cols, r)) for r in rows)
    return out


def reading_rows(store: ChartStore, session_id: str) -> list[dict]:
    """The session's readings: ``vital_readings`` rows of files before schema 6 as stored, then the readings of
    its blocks and of the unsealed journal (``device_seq`` None; the same dicts whether sealed or not, so
    sealing a minute never changes the fingerprint)."""
    out = raw_rows(store, m.VitalReading.__table__, "session_id", [session_id])
    with store.engine.connect() as conn:
        out.extend(store._block_readings(conn.connection.driver_connection, session_id))
        conn.rollback()
    return out


def record_rows(store: ChartStore, session_id: str, readings: list[dict] | None = None) -> list[tuple[str, dict]]:
    """Every chart row that belongs to the session, as (table name, raw row), in fingerprint order (the
    definition; :func:`record_fingerprint` computes the same without a dict per reading)."""
    readings = readings if readings is not None else reading_rows(store, session_id)
    groups = _other_rows(store, session_id, [r["id"] for r in readings])
    groups["vital_readings"] = readings
    return [(name, row) for name in sorted(groups) for row in sorted(groups[name], key=_by_id)]


def _other_rows(store: ChartStore, session_id: str, reading_ids: list[str],
                readings: SessionReadings | None = None) -> dict[str, list[dict]]:
    """The session's rows by table but its readings (whose ids a signature may cite: ``reading_ids``, or those
    of ``readings``)."""
    session = raw_rows(store, m.Session.__table__, "id", [session_id])
    if not session:
        raise NotFound(f"no session {session_id}")
    s = session[0]
    groups: dict[str, list[dict]] = {"sessions": session}
    groups["patients"] = raw_rows(store, m.Patient.__table__, "patient_id", [s["patient_id"]])
    groups["courses"] = raw_rows(store, m.Course.__table__, "id", [s["course_id"]] if s["course_id"] else [])
    for model in (m.SessionEventRow, m.Observation, m.DoseAdministration, m.RateChange, m.Alert, m.Checklist):
        groups[model.__tablename__] = raw_rows(store, model.__table__, "session_id", [session_id])
    groups["alert_acks"] = raw_rows(store, m.AlertAck.__table__, "alert_id", [a["id"] for a in groups["alerts"]])
    targets = [r["id"] for rows in groups.values() for r in rows]
    if readings is None or store.engine.dialect.name != "sqlite":
        groups["signatures"] = raw_rows(store, m.Signature.__table__, "target_id", targets + reading_ids)
        return groups
    # ~34,000 reading ids in a 4-hour session, nearly all "<device>-j<seq>-<i>": one indexed range of target ids
    # per device prefix (SQLite compares text bytewise), then exact membership, not 70 IN lists of 500.
    found = {r["id"]: r for r in raw_rows(store, m.Signature.__table__, "target_id", targets + readings.row_ids)}
    ids = {rid for rid, _ in readings.texts}
    cols = [c.name for c in m.Signature.__table__.columns]
    with store.engine.connect() as conn:
        for prefix in sorted(readings.prefixes):
            sql = f"SELECT {', '.join(cols)} FROM signatures WHERE target_id >= ? AND target_id < ?"
            for row in conn.exec_driver_sql(sql, (prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1))).fetchall():
                sig = dict(zip(cols, row))
                if sig["target_id"] in ids:
                    found[sig["id"]] = sig
        conn.rollback()
    groups["signatures"] = list(found.values())
    return groups


def record_fingerprint(store: ChartStore, session_id: str,
                       readings: SessionReadings | None = None) -> tuple[str, int]:
    """(SHA-256 hex, number of rows) of the JSON array of :func:`record_rows`' canonical contents (``readings``:
    the session's, when the caller has read them already). Readings enter by their canonical texts from
    :func:`~.session_readings.session_readings`, byte for byte canonical_content's, so the value is the same."""
    readings = readings or session_readings(store, session_id)
    texts = sorted(readings.texts, key=_first)
    groups: dict[str, list] = _other_rows(store, session_id, [rid for rid, _ in texts], readings)
    groups["vital_readings"] = texts
    tables = {name: m.MODEL_BY_TABLE[name].__table__ for name in m.MODEL_BY_TABLE}
    parts: list[str] = []
    for name in sorted(groups):
        if name == "vital_readings":
            parts.extend(text for _, text in texts)
        else:
            parts.extend(canonical_content(tables[name], row) for row in sorted(groups[name], key=_by_id))
    text = "[" + ",".join(parts) + "]"
    return hashlib.sha256(text.encode()).hexdigest(), len(parts)


def _first(pair: tuple[str, str]) -> str:
    return pair[0]


def _by_id(row: dict) -> str:
    return row["id"]

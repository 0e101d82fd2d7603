"""Tables of the chart.

Every *chart* table (``ChartRow`` subclasses) is append-only: a row is never updated or deleted, a
correction is a new row whose ``amends`` points at the row it corrects, with a ``reason``. Each chart row
carries:

- ``id``            UUIDv7 (time-ordered, unique across chairs)
- ``device_id``     the chair/computer that wrote it
- ``device_seq``    per device, gap-free, assigned in the row's own transaction (the sync cursor)
- ``author``        user id of whoever charted it
- ``effective_at``  when it happened; ``recorded_at`` when it was written (never backdated)
- ``late_entry``    recorded more than the policy's late-entry interval after it happened
- ``amends``/``reason`` for corrections
- ``row_hash``      SHA-256 over the previous row hash of the same device and this row's content: a hash chain
                    that reveals hand-edits of the file

Bookkeeping tables (``store_meta``, ``device_counter``, ``journal_head``, ``sync_state``, ``pulled_rows``,
``sync_held``) are not chart data and may change. ``reading_journal`` is append-only like a chart table but has a
chain of its own and stays local (see :class:`ReadingBlock`).
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (which stores text) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the chart; use aware UTC times")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


# Each column type of the chart tables: its kind in the row hash (store/hashing.py: t time, b bool, f float,
# i int, s text; the hash chain depends on these codes) and its type on the central PostgreSQL
# (sync/central.py). The first match counts.
COLUMN_TYPES: tuple[tuple[type | tuple[type, ...], str, str], ...] = (
    (UTCDateTime, "t", "timestamptz"),
    (Boolean, "b", "boolean"),
    (Float, "f", "double precision"),
    (Integer, "i", "bigint"),
    ((String, Text), "s", "text"),
)


def column_type(coltype: object) -> tuple[str, str] | None:
    """(hash kind, PostgreSQL type) of a column type, or None for a type no chart column has."""
    for types, kind, pg_type in COLUMN_TYPES:
        if isinstance(coltype, types):
            return kind, pg_type
    return None


class Base(DeclarativeBase):
    pass


class ChartRow:
    """Columns every append-only chart row has (see module docstring)."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64))
    device_seq: Mapped[int] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String(64))
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    late_entry: Mapped[bool] = mapped_column(Boolean, default=False)
    amends: Mapped[str | None] = mapped_column(String(36), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    row_hash: Mapped[str] = mapped_column(String(64))


class User(ChartRow, Base):
    """A person who may sign in. A change (new PIN, deactivation) is a new row amending the previous one."""

    __tablename__ = "users"
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    display_name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))  # nurse, charge-nurse, prescriber, admin
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PolicyVersion(ChartRow, Base):
    __tablename__ = "policy_versions"
    version: Mapped[int] = mapped_column(Integer, index=True)
    policy_json: Mapped[str] = mapped_column(Text)


class Patient(ChartRow, Base):
    """Demographics. ``patient_id`` is stable; each edit is a new row (``amends`` the one it corrects)."""

    __tablename__ = "patients"
    patient_id: Mapped[str] = mapped_column(String(36), index=True)
    mrn: Mapped[str] = mapped_column(String(64), index=True)
    family_name: Mapped[str] = mapped_column(Text)
    given_name: Mapped[str] = mapped_column(Text)
    birth_date: Mapped[str] = mapped_column(String(10))  # ISO date
    sex: Mapped[str] = mapped_column(String(16))
    weight_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    phone: Mapped[str | None] = mapped_column(Text, nullable=True)


class Course(ChartRow, Base):
    __tablename__ = "courses"
    patient_id: Mapped[str] = mapped_column(String(36), index=True)
    label: Mapped[str] = mapped_column(Text)
    route: Mapped[str] = mapped_column(String(8))  # IV or IN


class Session(ChartRow, Base):
    """One chair session. Its state is the fold of its ``session_events``."""

    __tablename__ = "sessions"
    patient_id: Mapped[str] = mapped_column(String(36), index=True)
    course_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    route: Mapped[str] = mapped_column(String(8))
    chair: Mapped[str | None] = mapped_column(Text, nullable=True)
    policy_version: Mapped[int] = mapped_column(Integer)


class SessionEventRow(ChartRow, Base):
    """A state change: check-in, start-infusion, pause, resume, stop-infusion, discharge, abort."""

    __tablename__ = "session_events"
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    data: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON


class VitalReading(ChartRow, Base):
    __tablename__ = "vital_readings"
    session_id: Mapped[str | None] = mapped_column(ForeignKey("sessions.id"), nullable=True)
    parameter: Mapped[str] = mapped_column(String(24))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str] = mapped_column(String(32))
    flags: Mapped[str] = mapped_column(Text, default="")  # comma-separated Quality values
    device_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_vital_session_time", "session_id", "effective_at"),)


class ReadingBlock(ChartRow, Base):
    """Device and manual readings of one session, sealed per minute into one chained row (schema 6 on; issue 17).

    ``body`` holds every reading exactly (value, flags, unit, source, text, device time, the time each was
    recorded and by whom) in the compact JSON of :mod:`ketachart.store.reading_blocks`; ``journal_from`` ..
    ``journal_to`` cite the write-ahead journal rows (``reading_journal``) that made each reading durable the
    moment it arrived. Older files keep their ``vital_readings`` rows as they were, readable beside blocks.
    """

    __tablename__ = "reading_blocks"
    session_id: Mapped[str | None] = mapped_column(ForeignKey("sessions.id"), nullable=True)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)  # effective time of the newest reading in the block
    count: Mapped[int] = mapped_column(Integer)
    journal_from: Mapped[int] = mapped_column(Integer)
    journal_to: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_reading_blocks_session_time", "session_id", "effective_at"),)


class Observation(ChartRow, Base):
    """Dissociation, nausea, sedation, CADSS-6, PHQ-9, note, intervention, manual vitals, pre-check items, waste."""

    __tablename__ = "observations"
    session_id: Mapped[str | None] = mapped_column(ForeignKey("sessions.id"), nullable=True, index=True)
    patient_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON

    __table_args__ = (Index("ix_observations_session_kind", "session_id", "kind"),)


class DoseAdministration(ChartRow, Base):
    __tablename__ = "dose_administrations"
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    drug: Mapped[str] = mapped_column(String(32))
    route: Mapped[str] = mapped_column(String(8))
    weight_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    mg_per_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    concentration_mg_per_ml: Mapped[float | None] = mapped_column(Float, nullable=True)
    dose_mg: Mapped[float] = mapped_column(Float)
    volume_ml: Mapped[float | None] = mapped_column(Float, nullable=True)
    minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rate_ml_per_h: Mapped[float | None] = mapped_column(Float, nullable=True)
    lot: Mapped[str | None] = mapped_column(Text, nullable=True)
    prepared_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    policy_version: Mapped[int] = mapped_column(Integer)


class RateChange(ChartRow, Base):
    __tablename__ = "rate_changes"
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    rate_ml_per_h: Mapped[float] = mapped_column(Float)


class Alert(ChartRow, Base):
    __tablename__ = "alerts"
    session_id: Mapped[str | None] = mapped_column(ForeignKey("sessions.id"), nullable=True, index=True)
    rule: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    policy_version: Mapped[int] = mapped_column(Integer)
    data: Mapped[str | None] = mapped_column(Text, nullable=True)


class AlertAck(ChartRow, Base):
    __tablename__ = "alert_acks"
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), index=True)
    action: Mapped[str] = mapped_column(Text)


class Checklist(ChartRow, Base):
    """A pre-session or discharge check: items (JSON), score, whether it passed, any override reason."""

    __tablename__ = "checklists"
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # pre-session, discharge
    items: Mapped[str] = mapped_column(Text)  # JSON
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    passed: Mapped[bool] = mapped_column(Boolean)
    override_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    policy_version: Mapped[int] = mapped_column(Integer)


class Signature(ChartRow, Base):
    """Printed name, time and meaning, bound to a hash of exactly the content signed."""

    __tablename__ = "signatures"
    target_table: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(36), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    printed_name: Mapped[str] = mapped_column(Text)
    meaning: Mapped[str] = mapped_column(String(16))  # performed, reviewed, witnessed
    content_hash: Mapped[str] = mapped_column(String(64))


class AuditEvent(ChartRow, Base):
    """Who did what from which device: create, amend, sign, print, export, sync, open chart, sign-in."""

    __tablename__ = "audit_events"
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(80), nullable=True)
    details: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON, never patient data


class PatientLink(ChartRow, Base):
    """An admin's word that two patient records are one person: ``merged_id`` reads as ``kept_id`` everywhere,
    while both records and everything charted on them stay. Unlinking is a new row amending the link with
    ``active`` false (a re-link amends that one again), each with a reason. Clinic-wide like users and policy:
    only an admin login brings it to the central, and chairs apply pulled links only with the central's vouch."""

    __tablename__ = "patient_links"
    kept_id: Mapped[str] = mapped_column(String(36), index=True)
    merged_id: Mapped[str] = mapped_column(String(36), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


CHART_MODELS: tuple[type, ...] = (
    User,
    PolicyVersion,
    Patient,
    Course,
    Session,
    SessionEventRow,
    VitalReading,
    ReadingBlock,
    Observation,
    DoseAdministration,
    RateChange,
    Alert,
    AlertAck,
    Checklist,
    Signature,
    AuditEvent,
    PatientLink,
)
CHART_TABLES: tuple[str, ...] = tuple(m.__tablename__ for m in CHART_MODELS)
MODEL_BY_TABLE = {m.__tablename__: m for m in CHART_MODELS}


class StoreMeta(Base):
    """Key/value facts about this file: its device id, when it was created. Not chart data."""

    __tablename__ = "store_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class DeviceCounter(Base):
    """Next device_seq and the last row hash for a device writing here. Not chart data."""

    __tablename__ = "device_counter"
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default="")


class SyncState(Base):
    """Sync cursors (pushed device_seq, pull watermark). Bookkeeping, may change."""

    __tablename__ = "sync_state"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class PulledRow(Base):
    """One row received from the central: the hash of its device's previous row (so ``verify`` can re-hash it
    although that row was not pulled) and, for users and policy rows, who vouched for it on the central."""

    __tablename__ = "pulled_rows"
    table_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    row_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    vouched_by: Mapped[str | None] = mapped_column(Text, nullable=True)


class ReadingJournal(Base):
    """The write-ahead journal of readings (schema 6 on): one append-only row per committed batch of a session's
    readings (session and author are in its kinds, :class:`ReadingKind`), chained by a binary SHA-256 over the previous journal row. Local to this file: never synced; each
    minute its rows are sealed into a ``reading_blocks`` row that cites them. Triggers forbid UPDATE/DELETE."""

    __tablename__ = "reading_journal"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class ReadingKind(Base):
    """(session, author, parameter, unit, source, flags) of readings, numbered once per file so a journal row names
    them by number. Each is defined by a journal row of its own (``journal_seq``), which the chain covers;
    append-only."""

    __tablename__ = "reading_kinds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    author: Mapped[str] = mapped_column(String(64))
    parameter: Mapped[str] = mapped_column(String(24))
    unit: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))
    flags: Mapped[str] = mapped_column(Text)
    journal_seq: Mapped[int] = mapped_column(Integer)


class JournalHead(Base):
    """The newest journal row of this file (seq and binary hash): ``verify`` finds a removed journal tail by it."""

    __tablename__ = "journal_head"
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[bytes] = mapped_column(LargeBinary)


class SyncHeld(Base):
    """This chair's rows the central refused: kept here (never lost), named in sync's result, not re-sent."""

    __tablename__ = "sync_held"
    table_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    row_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_seq: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)

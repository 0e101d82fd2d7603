"""The one API the rest of the app uses to read and write the chart.

Writes go through :meth:`ChartStore._append`: one transaction assigns each new row its ``device_seq``
(gap-free), ``recorded_at`` (from the clock, never backdated), the late-entry flag and its place in the
hash chain, inserts it, and commits. With WAL and ``synchronous=FULL`` a returned row is on disk.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Sequence

from sqlalchemy import Engine, event, insert, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session as OrmSession

from ..domain.clock import Clock, SystemClock, utc
from ..domain.dosing import IntranasalDose, IvDose
from ..domain.errors import ClinicalInputError
from ..domain.ids import new_id
from ..domain.policy import DEFAULT_POLICY, ClinicPolicy
from ..domain.readings import Reading
from ..domain.vocabulary import Kind
from ..domain.session import SessionEvent, SessionState, next_state
from . import db as dbmod
from . import reading_blocks as blocks
from .errors import HistoryConflict, ImmutableRecordError, NotFound, raise_storage_error
from .text_rules import check_text
from .hashing import GENESIS_LEGACY, chain_hash, content_hash, genesis_hash
from .models import (
    CHART_MODELS,
    MODEL_BY_TABLE,
    Alert,
    AlertAck,
    AuditEvent,
    ChartRow,
    Checklist,
    Course,
    DeviceCounter,
    DoseAdministration,
    JournalHead,
    Observation,
    Patient,
    PolicyVersion,
    PulledRow,
    RateChange,
    ReadingBlock,
    Session,
    SessionEventRow,
    Signature,
    StoreMeta,
    User,
    VitalReading,
)

SYSTEM_AUTHOR = "system"
USER_ROLES = ("nurse", "charge-nurse", "prescriber", "admin")  # what auth's roles may be (auth sits above the store)
VERSIONED = (Patient, User, PolicyVersion)  # entities whose versions are folded into "the current one"


def latest_versions(rows: Iterable[dict], key: str) -> dict[str, dict]:
    """The current version of each entity (``key`` = patient_id, user_id): the tip of its amendment chain.

    Versions are ordered causally, not by wall clock: an edit names the version it corrects (``amends``), so
    its depth in the chain is a logical clock a chair's wrong clock cannot move. Concurrent edits (two tips at
    the same depth) fall back to (recorded_at, device_id, device_seq), deterministic on every chair.
    """
    rows = list(rows)
    by_id = {r["id"]: r for r in rows}
    depth: dict[str, int] = {}

    def depth_of(r: dict) -> int:
        d, seen, cur = 0, set(), r
        while cur is not None and cur["id"] not in seen:
            if cur["id"] in depth:
                d += depth[cur["id"]]
                break
            seen.add(cur["id"])
            d += 1
            cur = by_id.get(cur["amends"]) if cur["amends"] else None
        depth[r["id"]] = d
        return d

    best: dict[str, tuple] = {}
    for r in rows:
        rank = (depth_of(r), r["recorded_at"], r["device_id"], r["device_seq"])
        k = r[key]
        if k not in best or rank > best[k][0]:
            best[k] = (rank, r)
    return {k: v[1] for k, v in best.items()}


@event.listens_for(OrmSession, "before_flush")
def _refuse_chart_changes(session: OrmSession, _ctx, _instances) -> None:
    """ORM guard: a committed chart object may not be modified or deleted through the ORM."""
    for obj in session.deleted:
        if isinstance(obj, ChartRow):
            raise ImmutableRecordError(f"{type(obj).__tablename__} rows cannot be deleted; amend instead")
    for obj in session.dirty:
        if isinstance(obj, ChartRow) and session.is_modified(obj):
            raise ImmutableRecordError(f"{type(obj).__tablename__} rows cannot be changed; amend instead")


def row_dict(obj: Any) -> dict:
    """A chart object's columns as a plain dict."""
    return {c.name: getattr(obj, c.key) for c in obj.__table__.columns}


@dataclass(frozen=True)
class OpenOptions:
    holder: str = "KetaChart"
    lock: bool = True
    create: bool = True


class ChartStore:
    """The chart database of this chair."""

    def __init__(self, engine: Engine, path: Path, clock: Clock, lock: dbmod.InstanceLock | None) -> None:
        self.engine = engine
        self.path = path
        self.clock = clock
        self._lock_file = lock
        self._write_lock = threading.RLock()
        self._atomic = threading.local()
        self.author = SYSTEM_AUTHOR
        with engine.connect() as conn:
            meta = dict(conn.execute(select(StoreMeta.key, StoreMeta.value)).all())
        self.device_id: str = meta["device_id"]
        self.created_at: str = meta.get("created_at", "")
        self.genesis: str = genesis_hash(self.device_id) if meta.get("chain_genesis") == "device" else GENESIS_LEGACY
        self._policy: ClinicPolicy | None = None
        from .sync_ledger import SyncLedger

        self.sync_ledger = SyncLedger(self)
        self.history_conflict: str | None = self.sync_ledger.conflict()

    # --- opening and closing ------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | Path,
        clock: Clock | None = None,
        *,
        holder: str = "KetaChart",
        lock: bool = True,
        create: bool = True,
        connect=None,
        connect_ro=None,
        dbapi=None,
    ) -> "ChartStore":
        """Open (or create) a chart file. Refuses, without touching the file, anything it cannot trust.

        ``connect``/``connect_ro`` let the encryption layer supply keyed SQLCipher connections; ``dbapi`` is
        their DB-API module (so SQLAlchemy recognises and wraps its errors).
        """
        path = Path(path).expanduser().resolve()
        clock = clock or SystemClock()
        if not create and not path.exists():
            raise NotFound(f"no database at {path}")
        version = dbmod.check_file(path, connect_ro)
        path.parent.mkdir(parents=True, exist_ok=True)
        instance_lock = dbmod.InstanceLock.acquire(path, holder) if lock else None
        try:
            engine = dbmod.make_engine(path, (lambda: connect(path)) if connect else None, module=dbapi)
            dbmod.create_or_migrate(engine, version)
            with engine.begin() as conn:
                has_device = conn.execute(select(StoreMeta.value).where(StoreMeta.key == "device_id")).first()
                if not has_device:
                    device_id = "chair-" + new_id()[-12:]
                    conn.execute(
                        insert(StoreMeta),
                        [
                            {"key": "device_id", "value": device_id},
                            {"key": "created_at", "value": clock.now().isoformat()},
                        ],
                    )
                    conn.execute(insert(StoreMeta).values(key="chain_genesis", value="device"))
                    conn.execute(insert(DeviceCounter).values(device_id=device_id, last_seq=0,
                                                              last_hash=genesis_hash(device_id)))
                    conn.execute(insert(JournalHead).values(device_id=device_id, last_seq=0,
                                                            last_hash=blocks.journal_genesis(device_id)))
            store = cls(engine, path, clock, instance_lock)
        except BaseException:
            if instance_lock:
                instance_lock.release()
            raise
        if store.latest_policy_row() is None:
            store.set_policy(DEFAULT_POLICY, author=SYSTEM_AUTHOR)
        return store

    def share_write_lock(self, other: "ChartStore") -> None:
        """Serialise this store's writes with ``other``'s: two store objects on one file in one process (e.g.
        a background writer with its own connection) must never assign ``device_seq`` at the same time."""
        if other.device_id != self.device_id:
            raise ValueError("only stores of the same chart file can share a write lock")
        self._write_lock = other._write_lock

    def close(self) -> None:
        self.engine.dispose()
        if self._lock_file:
            self._lock_file.release()
            self._lock_file = None

    def __enter__(self) -> "ChartStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the one write path ---------------------------------------------------------------------
    @contextmanager
    def atomic(self):
        """Group several writes into one transaction: all of them are on disk, or none.

        For what a nurse saves as one thing (the pre-session form with its dose, waste and signatures): a crash
        or a refused signature half-way leaves nothing behind. Reads on this thread inside the block see the
        block's own rows (a signature needs the row it signs). Nested blocks join the outer one.
        """
        if getattr(self._atomic, "conn", None) is not None:
            yield
            return
        with self._write_lock, self.engine.begin() as conn:
            self._atomic.conn = conn
            try:
                yield
            except BaseException:
                self._policy = None  # a policy set inside the block was rolled back: reload from the file
                raise
            finally:
                self._atomic.conn = None

    def _bind(self):
        """The connection of this thread's open ``atomic`` block, else the engine."""
        return getattr(self._atomic, "conn", None) or self.engine

    @contextmanager
    def _write_transaction(self):
        conn = getattr(self._atomic, "conn", None)
        if conn is not None:
            yield conn
            return
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    def _append(self, model: type, rows: Sequence[dict], *, author: str | None = None) -> list[dict]:
        """Insert new chart rows durably; returns them as stored (ids, seqs, times, hashes)."""
        if model not in CHART_MODELS:
            raise TypeError(f"{model} is not a chart table")
        if not rows:
            return []
        if self.history_conflict and model is not AuditEvent:
            raise HistoryConflict(self.history_conflict)
        for values in rows:
            check_text(values)
        table = model.__table__
        now = self.clock.now()
        late_after = timedelta(minutes=self.policy.late_entry_after_min) if self._policy else timedelta(minutes=15)
        with self._write_transaction() as conn:
            counter = conn.execute(
                select(DeviceCounter.last_seq, DeviceCounter.last_hash).where(DeviceCounter.device_id == self.device_id)
            ).one()
            seq, prev = counter.last_seq, counter.last_hash
            stored = []
            for values in rows:
                row = dict(values)
                effective = utc(row.get("effective_at") or now)
                if effective > now + timedelta(minutes=2):
                    raise ClinicalInputError("an entry cannot be charted in the future; check the time")
                seq += 1
                row.update(
                    id=row.get("id") or new_id(),
                    device_id=self.device_id,
                    device_seq=seq,
                    author=row.get("author") or author or self.author,
                    effective_at=effective,
                    recorded_at=now,
                    late_entry=(now - effective) > late_after,
                )
                row.setdefault("amends", None)
                row.setdefault("reason", None)
                prev = chain_hash(prev, table, row)
                row["row_hash"] = prev
                stored.append(row)
            try:
                conn.execute(insert(table), stored)
                conn.execute(
                    update(DeviceCounter).where(DeviceCounter.device_id == self.device_id).values(last_seq=seq,
                                                                                                 last_hash=prev)
                )
            except OperationalError as exc:
                raise_storage_error(exc, self.path)
        return stored

    def append(self, model: type, *, author: str | None = None, **values: Any) -> dict:
        return self._append(model, [values], author=author)[0]

    def amend(self, model: type, original_id: str, reason: str, **changes: Any) -> dict:
        """A correction: a new row with the changes that points at ``original_id``, which stays readable."""
        if not reason or not reason.strip():
            raise ClinicalInputError("a correction needs a reason")
        original = self.get(model, original_id)
        newer = self.rows(model, amends=original_id)
        if newer:
            raise ClinicalInputError("that entry was already corrected; amend the latest version instead")
        keep = {
            k: v
            for k, v in original.items()
            if k not in {"id", "device_id", "device_seq", "author", "recorded_at", "late_entry", "amends", "reason", "row_hash"}
        }
        unknown = set(changes) - set(keep)
        if unknown:
            raise TypeError(f"unknown fields for {model.__tablename__}: {', '.join(sorted(unknown))}")
        now = self.clock.now()
        if model in VERSIONED or keep.get("effective_at") is None or utc(keep["effective_at"]) > now:
            # A new version of a person or of the policy happens now; a correction never lands in the future
            # (a chair whose clock ran ahead must not block corrections elsewhere).
            keep["effective_at"] = now
        keep.update(changes)
        row = self.append(model, amends=original_id, reason=reason.strip(), **keep)
        self.audit("amend", f"{model.__tablename__}:{original_id}", {"new": row["id"]})
        return row

    # --- reads ----------------------------------------------------------------------------------
    def get(self, model: type, row_id: str) -> dict:
        with OrmSession(self._bind()) as s:
            obj = s.get(model, row_id)
            if obj is None:
                raise NotFound(f"no {model.__tablename__} row {row_id}")
            return row_dict(obj)

    def rows(self, model: type, order_by: str = "device_seq", **filters: Any) -> list[dict]:
        # A Core select of the table: the same dicts (values through the same column types) as ORM objects
        # would give, at a fifth of the cost (the patient list, every session view).
        table = model.__table__
        stmt = select(table)
        for key, value in filters.items():  # a list or tuple: any of its values
            stmt = stmt.where(table.c[key].in_(value) if isinstance(value, (list, tuple)) else table.c[key] == value)
        stmt = stmt.order_by(table.c.effective_at, table.c[order_by])
        with self._reading() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    @contextmanager
    def _reading(self):
        """A connection to read with: this thread's open ``atomic`` block (which sees its own writes), else a
        fresh one, rolled back after."""
        inside = getattr(self._atomic, "conn", None)
        if inside is not None:
            yield inside
            return
        with self.engine.connect() as conn:
            try:
                yield conn
            finally:
                conn.rollback()

    @staticmethod
    def current(rows: Iterable[dict]) -> list[dict]:
        """Fold amendments: the latest version of each entry, originals hidden (but still in ``rows``)."""
        rows = list(rows)
        superseded = {r["amends"] for r in rows if r["amends"]}
        return [r for r in rows if r["id"] not in superseded]

    # --- policy ---------------------------------------------------------------------------------
    def _trusted(self, model: type):
        """Rows of ``model`` this chair may act on: its own, or pulled with the central's vouch. A users or
        policy row from another device that no admin login vouched for (forged in the file, or pulled from a
        central that did not vouch for it) is ignored here and reported by ``verify``."""
        vouched = select(PulledRow.row_id).where(PulledRow.table_name == model.__tablename__,
                                                 PulledRow.vouched_by.is_not(None))
        return (model.device_id == self.device_id) | model.id.in_(vouched)

    def latest_policy_row(self) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(PolicyVersion.version, PolicyVersion.policy_json).where(self._trusted(PolicyVersion))
                .order_by(PolicyVersion.version.desc()).limit(1)
            ).first()
        return dict(row._mapping) if row else None

    @property
    def policy(self) -> ClinicPolicy:
        if self._policy is None:
            row = self.latest_policy_row()
            self._policy = ClinicPolicy.from_json(row["policy_json"]) if row else DEFAULT_POLICY
        return self._policy

    def set_policy(self, policy: ClinicPolicy, author: str | None = None) -> None:
        current = self.latest_policy_row()
        if current and policy.version <= current["version"]:
            raise ClinicalInputError(f"policy version must be above {current['version']}")
        self.append(PolicyVersion, author=author, version=policy.version, policy_json=policy.to_json())
        self._policy = policy

    # --- people ---------------------------------------------------------------------------------
    def create_patient(
        self, mrn: str, family_name: str, given_name: str, birth_date: str, sex: str, weight_kg: float | None = None,
        phone: str | None = None,
    ) -> dict:
        mrn = (mrn or "").strip()
        if not mrn:
            raise ClinicalInputError("MRN is required")
        if not (family_name or "").strip():
            raise ClinicalInputError("family name is required")
        try:
            born = datetime.strptime(birth_date, "%Y-%m-%d").date()
        except (TypeError, ValueError):
            raise ClinicalInputError("date of birth must be YYYY-MM-DD") from None
        if born > self.clock.now().date():
            raise ClinicalInputError(f"date of birth {birth_date} is in the future; check it")
        if any(p["mrn"] == mrn for p in self.patients()):
            raise ClinicalInputError(f"a patient with MRN {mrn} already exists")
        if weight_kg is not None:
            from ..domain.dosing import check_weight

            weight_kg = check_weight(weight_kg, self.policy)
        row = self.append(
            Patient, patient_id=new_id(), mrn=mrn, family_name=family_name.strip(), given_name=(given_name or "").strip(),
            birth_date=birth_date, sex=sex, weight_kg=weight_kg, phone=phone,
        )
        self.audit("create", f"patients:{row['patient_id']}")
        return row

    def patients(self, search: str | None = None) -> list[dict]:
        """Current version of each patient (see :func:`latest_versions`: causal order, not wall clocks).

        Two offline chairs editing the same patient both keep their rows; the ordering is deterministic. Two
        patients with the same MRN (registered on two chairs offline) are both kept, each naming the other in
        ``possible_duplicate_of`` so an admin can review them. A record an admin linked into another is not
        listed: the kept one names it in ``merged_ids`` (:mod:`ketachart.store.patient_links`).
        """
        from .patient_links import link_map

        links = link_map(self)
        result = [p for p in self.patient_records() if p["patient_id"] not in links]
        for p in result:
            p["merged_ids"] = sorted(m for m, k in links.items() if k == p["patient_id"])
        by_mrn: dict[str, list[str]] = {}
        for p in result:
            by_mrn.setdefault(p["mrn"].strip().lower(), []).append(p["patient_id"])
        for p in result:
            others = [i for i in by_mrn[p["mrn"].strip().lower()] if i != p["patient_id"]]
            p["possible_duplicate_of"] = sorted(others)
        if search:
            needle = search.strip().lower()
            result = [
                p for p in result
                if needle in p["mrn"].lower() or needle in f"{p['given_name']} {p['family_name']}".lower()
                or needle in f"{p['family_name']}, {p['given_name']}".lower()
            ]
        return sorted(result, key=lambda p: (p["family_name"].lower(), p["given_name"].lower()))

    def patient_records(self) -> list[dict]:
        """The current version of every patient record, linked (merged) ones included: for the admin's link."""
        return list(latest_versions(self.rows(Patient), "patient_id").values())

    def patient(self, patient_id: str) -> dict:
        """The patient ``patient_id`` reads as: a record an admin linked into another gives that one. The same
        dict :meth:`patients` lists, reading only this record and the records sharing its MRN (every session
        view asks: it must not cost more as the clinic's patient list grows)."""
        from .patient_links import link_map

        links = link_map(self)
        patient_id = links.get(patient_id, patient_id)
        current = latest_versions(self.rows(Patient, patient_id=patient_id), "patient_id").get(patient_id)
        if current is None or patient_id in links:
            raise NotFound(f"no patient {patient_id}")
        current["merged_ids"] = sorted(m for m, k in links.items() if k == patient_id)
        mrn = current["mrn"].strip().lower()
        with self._reading() as conn:  # any version with the same MRN names a candidate; its current one decides
            named = {pid for pid, other in conn.execute(select(Patient.patient_id, Patient.mrn))
                     if pid != patient_id and pid not in links and other.strip().lower() == mrn}
        others = latest_versions(self.rows(Patient, patient_id=sorted(named)), "patient_id") if named else {}
        current["possible_duplicate_of"] = sorted(pid for pid, p in others.items() if p["mrn"].strip().lower() == mrn)
        return current

    def create_course(self, patient_id: str, route: str = "IV", label: str = "Ketamine course") -> dict:
        self.patient(patient_id)
        return self.append(Course, patient_id=patient_id, route=route, label=label)

    # --- sessions -------------------------------------------------------------------------------
    def create_session(self, patient_id: str, route: str = "IV", course_id: str | None = None, chair: str | None = None) -> dict:
        if route not in ("IV", "IN"):
            raise ClinicalInputError("route must be IV (ketamine) or IN (esketamine)")
        self.patient(patient_id)
        row = self.append(
            Session, patient_id=patient_id, route=route, course_id=course_id, chair=chair, policy_version=self.policy.version
        )
        self.audit("create", f"sessions:{row['id']}")
        return row

    def session_events(self, session_id: str) -> list[dict]:
        return self.current(self.rows(SessionEventRow, session_id=session_id))

    def session_state(self, session_id: str) -> SessionState:
        state = SessionState.PLANNED
        for ev in self.session_events(session_id):
            state = next_state(state, SessionEvent(ev["event"]))
        return state

    def session_event(
        self, session_id: str, event: SessionEvent | str, *, effective_at: datetime | None = None,
        reason: str | None = None, data: dict | None = None,
    ) -> dict:
        """Move a session through its state machine; an illegal move raises and saves nothing."""
        event = SessionEvent(event)
        next_state(self.session_state(session_id), event)  # validates
        if event in (SessionEvent.PAUSE, SessionEvent.ABORT) and not (reason or "").strip():
            raise ClinicalInputError(f"{event.value} needs a reason")
        payload = dict(data or {})
        if reason:
            payload["reason"] = reason.strip()
        row = self.append(
            SessionEventRow, session_id=session_id, event=event.value, effective_at=effective_at,
            data=json.dumps(payload, sort_keys=True) if payload else None,
        )
        if event in (SessionEvent.DISCHARGE, SessionEvent.ABORT):
            self.seal_readings()  # a finished session's last minute goes to the central with the rest
        return row

    def open_sessions(self) -> list[dict]:
        """This chair's sessions not yet discharged or aborted (what a relaunch after a crash reopens).

        Sessions pulled from other chairs are theirs to finish, so they are left out. Every start asks, so the
        events of all of them come in one query (not one per session: a year-old chart has hundreds), folded
        per session exactly as :meth:`session_state` folds them."""
        sessions = self.rows(Session, device_id=self.device_id)
        if not sessions:
            return []
        mine = select(Session.id).where(Session.device_id == self.device_id)
        stmt = (select(SessionEventRow.id, SessionEventRow.session_id, SessionEventRow.event, SessionEventRow.amends)
                .where(SessionEventRow.session_id.in_(mine))
                .order_by(SessionEventRow.effective_at, SessionEventRow.device_seq))
        events: dict[str, list[dict]] = {}
        with OrmSession(self._bind()) as s:
            for row in s.execute(stmt):
                events.setdefault(row.session_id, []).append(
                    {"id": row.id, "event": row.event, "amends": row.amends})
        out = []
        for session in sessions:
            state = SessionState.PLANNED
            for ev in self.current(events.get(session["id"], ())):
                state = next_state(state, SessionEvent(ev["event"]))
            if not state.is_final:
                out.append(session)
        return out

    def sessions_for_patient(self, patient_id: str) -> list[dict]:
        """The person's sessions, on every record linked with this one (issue 13)."""
        from .patient_links import patient_ids_of

        ids = patient_ids_of(self, patient_id)
        if len(ids) == 1:
            return self.rows(Session, patient_id=patient_id)
        return sorted((s for pid in ids for s in self.rows(Session, patient_id=pid)),
                      key=lambda s: (s["effective_at"], s["device_seq"]))

    # --- clinical entries ---------------------------------------------------------------------
    def record_dose(
        self, session_id: str, dose: IvDose | IntranasalDose, *, lot: str | None = None, prepared_by: str | None = None,
        effective_at: datetime | None = None,
    ) -> dict:
        common = dict(session_id=session_id, drug=dose.drug, route=dose.route, dose_mg=dose.dose_mg, lot=lot,
                      prepared_by=prepared_by, policy_version=dose.policy_version, effective_at=effective_at)
        if isinstance(dose, IvDose):
            common.update(weight_kg=dose.weight_kg, mg_per_kg=dose.mg_per_kg,
                          concentration_mg_per_ml=dose.concentration_mg_per_ml, volume_ml=dose.volume_ml,
                          minutes=dose.minutes, rate_ml_per_h=dose.rate_ml_per_h)
        return self.append(DoseAdministration, **common)

    def change_rate(self, session_id: str, rate_ml_per_h: float, reason: str, effective_at: datetime | None = None) -> dict:
        if not (reason or "").strip():
            raise ClinicalInputError("a rate change needs a reason")
        try:
            rate = float(rate_ml_per_h)
        except (TypeError, ValueError):
            raise ClinicalInputError("rate must be a number in mL/h") from None
        if not (0 < rate <= 1000):
            raise ClinicalInputError(f"rate {rate:g} mL/h is not plausible")
        if self.session_state(session_id) not in (SessionState.INFUSING, SessionState.PAUSED):
            raise ClinicalInputError("the rate can only be changed while the infusion is running or paused")
        return self.append(RateChange, session_id=session_id, rate_ml_per_h=rate, reason=reason.strip(),
                           effective_at=effective_at)

    def observe(
        self, session_id: str | None, kind: str, value: float | None = None, *, text: str | None = None,
        data: dict | None = None, effective_at: datetime | None = None, patient_id: str | None = None,
    ) -> dict:
        if kind not in Kind.ALL:
            raise ClinicalInputError(f"unknown observation kind {kind!r}")
        if kind == Kind.NOTE and not (text or "").strip():
            raise ClinicalInputError("a note cannot be empty")
        return self.append(
            Observation, session_id=session_id, patient_id=patient_id, kind=kind, value=value, text=text,
            data=json.dumps(data, sort_keys=True) if data is not None else None, effective_at=effective_at,
        )

    def add_readings(self, session_id: str | None, readings: Sequence[Reading]) -> int:
        """Store a batch of device or manual readings durably: one journal row in one transaction (which first
        seals the journal's finished minutes into blocks, :mod:`.reading_blocks`). Returns the readings stored."""
        if not readings:
            return 0
        if self.history_conflict:
            raise HistoryConflict(self.history_conflict)
        rows = [
            dict(session_id=session_id, parameter=r.parameter.value, value=r.value, unit=r.unit, text=r.text,
                 source=r.source, flags=",".join(sorted(f.value for f in r.flags)), device_time=r.device_time,
                 effective_at=r.host_time)
            for r in readings
        ]
        for values in rows:
            check_text(values)
        now = self.clock.now()
        late_after = timedelta(minutes=self.policy.late_entry_after_min) if self._policy else timedelta(minutes=15)
        author = self.author
        for row in rows:
            effective = utc(row["effective_at"])
            if effective > now + timedelta(minutes=2):
                raise ClinicalInputError("an entry cannot be charted in the future; check the time")
            row.update(effective_at=effective, recorded_at=now, author=author, late_entry=(now - effective) > late_after)
        with self.atomic():
            conn = self._atomic.conn
            self._seal(conn, now, force=False)
            raw = conn.connection.driver_connection
            head = raw.execute("SELECT last_seq, last_hash FROM journal_head WHERE device_id = ?",
                               (self.device_id,)).fetchone()
            seq, prev = head
            kinds = self._kinds(raw)
            kind_ids = {kind: k for k, kind in kinds.items()}
            written = []
            for row in rows:  # a kind never seen in this file is defined by a journal row of its own first
                row["session_id"] = session_id
                kind = blocks.journal_kind_of(row)
                if kind not in kind_ids:
                    seq += 1
                    kind_ids[kind] = k = len(kind_ids)
                    body = blocks.kind_body(k, kind)
                    prev = blocks.journal_hash(prev, seq, body)
                    written.append((seq, body, prev))
                    raw.execute("INSERT INTO reading_kinds (id, session_id, author, parameter, unit, source, flags, "
                                "journal_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (k, *kind, seq))
                    self._kind_cache = None
            seq += 1
            body = blocks.encode_journal(rows, kind_ids)
            prev = blocks.journal_hash(prev, seq, body)
            written.append((seq, body, prev))
            try:
                raw.executemany("INSERT INTO reading_journal (seq, body, hash) VALUES (?, ?, ?)", written)
                raw.execute("UPDATE journal_head SET last_seq = ?, last_hash = ? WHERE device_id = ?",
                            (seq, prev, self.device_id))
            except sqlite3.OperationalError as exc:
                raise_storage_error(exc, self.path)
        return len(rows)

    def _kinds(self, raw) -> dict[int, tuple]:  # noqa: ANN001
        """id -> (session, author, parameter, unit, source, flags) of every reading kind in the file. Cached: the
        table only grows, so the cache is right while it has as many kinds as the table (a rolled-back write
        that added one leaves the cache one longer, and it is read again)."""
        count = raw.execute("SELECT count(*) FROM reading_kinds").fetchone()[0]
        cache = getattr(self, "_kind_cache", None)
        if cache is None or len(cache) != count:
            cache = {r[0]: tuple(r[1:]) for r in raw.execute(
                "SELECT id, session_id, author, parameter, unit, source, flags FROM reading_kinds")}
            self._kind_cache = cache
        return cache

    def _sealed_to(self, raw) -> int:  # noqa: ANN001
        """The last journal seq sealed into a block (blocks are sealed in journal order)."""
        row = raw.execute("SELECT journal_to FROM reading_blocks WHERE device_id = ? ORDER BY device_seq DESC LIMIT 1",
                          (self.device_id,)).fetchone()
        return row[0] if row else 0

    def _seal(self, conn, now: datetime, force: bool) -> int:  # noqa: ANN001
        """Seal the unsealed journal rows into one block per session, when the minute the oldest of them was
        recorded in is over (or ``force``). Runs inside the caller's write transaction. Returns blocks made."""
        raw = conn.connection.driver_connection
        sealed_to = self._sealed_to(raw)
        tail = raw.execute("SELECT seq, body FROM reading_journal WHERE seq > ? ORDER BY seq", (sealed_to,)).fetchall()
        if not tail:
            return 0
        last = tail[-1][0]
        tail = [t for t in tail if not blocks.is_kind_body(t[1])]
        if not tail:
            return 0  # only kind definitions: they are sealed with the next readings
        if not force:
            recorded = blocks.journal_recorded_at(tail[0][1])
            if recorded.replace(second=0, microsecond=0) == utc(now).replace(second=0, microsecond=0):
                return 0
        kinds = self._kinds(raw)
        heads = [blocks.journal_head(body) for _, body in tail]
        if any(head is None for head in heads):
            rows = self._seal_v1(tail, kinds, sealed_to + 1, last)
        else:  # version 2: the journal rows verbatim, per session (see reading_blocks)
            by_session: dict[str | None, list] = {}
            for (seq, body), (ids, n) in zip(tail, heads):
                entry = by_session.setdefault(kinds[ids[0]][0], [[], set(), 0, []])
                entry[0].append((seq, body))
                entry[1].update(ids)
                entry[2] += n
                entry[3].extend(blocks.journal_bounds(body))
            rows = [dict(session_id=sid, effective_at=min(times), last_at=max(times), count=n,
                         journal_from=sealed_to + 1, journal_to=last,
                         body=blocks.block_body(",".join(blocks.kind_entry(k, kinds[k]) for k in sorted(ids)),
                                                 journal))
                    for sid, (journal, ids, n, times) in by_session.items()]
        self._append(ReadingBlock, rows, author=SYSTEM_AUTHOR)
        return len(rows)

    def _seal_v1(self, tail: list, kinds: dict, journal_from: int, journal_to: int) -> list[dict]:
        """Blocks in the first body format, for a tail holding journal rows written before version 2 (once, when
        a file from before is first written to): such rows name no kinds of their own to rebuild a block from."""
        by_session: dict[str | None, list[dict]] = {}
        for seq, body in tail:
            readings = blocks.decode_journal(body, seq, kinds, self.device_id)
            by_session.setdefault(readings[0]["session_id"], []).extend(readings)
        rows = []
        for sid, readings in by_session.items():
            first_at, last_at = blocks.bounds_of(readings)
            rows.append(dict(session_id=sid, effective_at=first_at, last_at=last_at, count=len(readings),
                             journal_from=journal_from, journal_to=journal_to, body=blocks.encode(readings)))
        return rows

    def seal_readings(self, force: bool = True) -> int:
        """Seal the journal's unsealed readings into blocks now (discharge, sync, open, close); returns blocks made."""
        if self.history_conflict:
            return 0
        with self.atomic():
            return self._seal(self._atomic.conn, self.clock.now(), force)

    def readings(self, session_id: str, parameter: str | None = None) -> list[dict]:
        """Every reading of the session in time order: rows of files before schema 6, sealed blocks, and the
        journal's not yet sealed rows, all as ``vital_readings``-shaped dicts."""
        stmt = select(VitalReading.__table__).where(VitalReading.session_id == session_id)
        if parameter:
            stmt = stmt.where(VitalReading.parameter == parameter)
        stmt = stmt.order_by(VitalReading.effective_at, VitalReading.device_seq)
        with self.engine.connect() as conn:
            out = [dict(r._mapping) for r in conn.execute(stmt)]
            out.extend(self._block_readings(conn.connection.driver_connection, session_id))
            conn.rollback()
        if parameter:
            out = [r for r in out if r["parameter"] == parameter]
        out.sort(key=lambda r: r["effective_at"])  # stable: a block's own order breaks ties
        return out

    def unsealed_latest(self, session_id: str) -> dict[str, list]:
        """parameter -> [value, flags, effective_at ISO] of the newest reading of each parameter the journal holds
        for the session but no block yet (the clinic board shows these before the minute is sealed)."""
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            tail = raw.execute("SELECT seq, body FROM reading_journal WHERE seq > ? ORDER BY seq",
                               (self._sealed_to(raw),)).fetchall()
            kinds = self._kinds(raw) if tail else {}
            conn.rollback()
        out: dict[str, list] = {}
        for seq, body in tail:
            if blocks.is_kind_body(body):
                continue
            for r in blocks.decode_journal(body, seq, kinds, self.device_id):
                if r["session_id"] == session_id:
                    out[r["parameter"]] = [r["value"], r["flags"], r["effective_at"].isoformat()]
        return out

    def _block_readings(self, raw, session_id: str) -> list[dict]:  # noqa: ANN001
        """The session's readings in blocks and in the unsealed journal (one read snapshot: the caller's)."""
        out: list[dict] = []
        for device, body in raw.execute(
                "SELECT device_id, body FROM reading_blocks WHERE session_id = ? ORDER BY device_seq",
                (session_id,)):
            out.extend(blocks.decode(body, device, session_id))
        out.extend(self._unsealed_readings(raw, session_id))
        return out

    def _unsealed_readings(self, raw, session_id: str) -> list[dict]:  # noqa: ANN001
        """The session's readings in journal rows not sealed into a block yet (the caller's read snapshot)."""
        out: list[dict] = []
        tail = raw.execute("SELECT seq, body FROM reading_journal WHERE seq > ? ORDER BY seq",
                           (self._sealed_to(raw),)).fetchall()
        if tail:  # less than a minute, normally: decoded whole, this session's rows kept
            kinds = self._kinds(raw)
            for seq, body in tail:
                if not blocks.is_kind_body(body):
                    readings = blocks.decode_journal(body, seq, kinds, self.device_id)
                    if readings[0]["session_id"] == session_id:
                        out.extend(readings)
        return out

    def raise_alert(self, session_id: str | None, rule: str, severity: str, message: str, data: dict | None = None,
                    effective_at: datetime | None = None) -> dict:
        return self.append(Alert, session_id=session_id, rule=rule, severity=severity, message=message,
                           policy_version=self.policy.version, effective_at=effective_at,
                           data=json.dumps(data, sort_keys=True) if data else None)

    def acknowledge_alert(self, alert_id: str, action: str) -> dict:
        if not (action or "").strip():
            raise ClinicalInputError("say what was done when acknowledging an alert")
        self.get(Alert, alert_id)
        return self.append(AlertAck, alert_id=alert_id, action=action.strip())

    def unacknowledged_alerts(self, session_id: str) -> list[dict]:
        acked = {a["alert_id"] for a in self.rows(AlertAck)}
        return [a for a in self.rows(Alert, session_id=session_id) if a["id"] not in acked]

    def save_checklist(self, session_id: str, kind: str, items: dict, *, passed: bool, score: int | None = None,
                       override_reason: str | None = None, effective_at: datetime | None = None) -> dict:
        if not passed and not (override_reason or "").strip():
            raise ClinicalInputError(f"the {kind} check did not pass; an override needs a reason")
        return self.append(Checklist, session_id=session_id, kind=kind, items=json.dumps(items, sort_keys=True),
                           score=score, passed=passed, override_reason=override_reason, policy_version=self.policy.version,
                           effective_at=effective_at)

    def sign(self, model: type, target_id: str, *, user_id: str, printed_name: str, meaning: str) -> dict:
        """Bind a signature to a hash of exactly the row signed. Identity checks belong to the caller."""
        if meaning not in ("performed", "reviewed", "witnessed"):
            raise ClinicalInputError("signature meaning must be performed, reviewed or witnessed")
        target = self.get(model, target_id)
        row = self.append(Signature, target_table=model.__tablename__, target_id=target_id, user_id=user_id,
                          printed_name=printed_name, meaning=meaning, author=user_id,
                          content_hash=content_hash(model.__table__, target))
        self.audit("sign", f"{model.__tablename__}:{target_id}", {"meaning": meaning}, author=user_id)
        return row

    def signature_valid(self, signature: dict) -> bool:
        model = MODEL_BY_TABLE[signature["target_table"]]
        target = self.get(model, signature["target_id"])
        return content_hash(model.__table__, target) == signature["content_hash"]

    def audit(self, action: str, target: str | None = None, details: dict | None = None, author: str | None = None) -> dict:
        """Audit trail entry. ``details`` must never contain patient data (ids only)."""
        return self.append(AuditEvent, action=action, target=target, author=author,
                           details=json.dumps(details, sort_keys=True) if details else None)

    def create_user(self, user_id: str, display_name: str, role: str, password_hash: str | None = None) -> dict:
        if role not in USER_ROLES:
            raise ClinicalInputError(f"role must be one of: {', '.join(USER_ROLES)}")
        if any(u["user_id"] == user_id for u in self.users()):
            raise ClinicalInputError(f"user {user_id} already exists")
        return self.append(User, user_id=user_id, display_name=display_name, role=role,
                           password_hash=password_hash, active=True)

    def users(self) -> list[dict]:
        """The current version of each user this chair trusts (own rows, or vouched by the central)."""
        stmt = select(User).where(self._trusted(User)).order_by(User.effective_at, User.device_seq)
        with OrmSession(self._bind()) as s:
            rows = [row_dict(o) for o in s.scalars(stmt)]
        latest = latest_versions(rows, "user_id")
        return [r for r in rows if latest.get(r["user_id"]) is r]

    def foreign_rows(self, table: str) -> list[tuple[str, str, str]]:
        """(id, device_id, row_hash) of every row of ``table`` written by another device."""
        t = MODEL_BY_TABLE[table].__table__
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                select(t.c.id, t.c.device_id, t.c.row_hash).where(t.c.device_id != self.device_id))]

    def possible_duplicates(self) -> list[list[str]]:
        """Groups of patient ids sharing an MRN (for an admin to review and link)."""
        seen, out = set(), []
        for p in self.patients():
            if p["possible_duplicate_of"] and p["patient_id"] not in seen:
                group = sorted([p["patient_id"], *p["possible_duplicate_of"]])
                seen.update(group)
                out.append(group)
        return out

    # --- reads for accounts and the admin views (no SQL outside the store) ------------------------
    def audit_events_for(self, target: str, actions: Sequence[str]) -> list[tuple[datetime, str]]:
        """(effective_at, action) of the audit events on ``target`` with one of ``actions``, in time order."""
        stmt = (select(AuditEvent.effective_at, AuditEvent.action)
                .where(AuditEvent.target == target, AuditEvent.action.in_(tuple(actions)))
                .order_by(AuditEvent.effective_at, AuditEvent.device_seq))
        with self.engine.connect() as conn:
            return [(utc(r.effective_at), r.action) for r in conn.execute(stmt)]

    def audit_trail(self, limit: int | None = None) -> list[dict]:
        """The audit trail, newest first."""
        stmt = select(AuditEvent.__table__).order_by(AuditEvent.recorded_at.desc(), AuditEvent.device_seq.desc())
        if limit:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def policy_versions(self) -> list[tuple[int, datetime, str]]:
        """(version, recorded_at, author) of every trusted policy version, newest first."""
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                select(PolicyVersion.version, PolicyVersion.recorded_at, PolicyVersion.author)
                .where(self._trusted(PolicyVersion)).order_by(PolicyVersion.version.desc()))]

    def audit_details(self, action: str) -> list[tuple[str | None, str | None]]:
        """(target, details JSON) of every audit event with ``action``, oldest first."""
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                select(AuditEvent.target, AuditEvent.details).where(AuditEvent.action == action)
                .order_by(AuditEvent.recorded_at, AuditEvent.device_seq))]

    # --- integrity ------------------------------------------------------------------------------
    def verify_chain(self, tail: int | None = None, stats: dict | None = None) -> list[str]:
        """Re-hash the chains in this file; problems (empty when the file is as written). ``tail=N`` checks
        only this device's newest N rows (every open); without it every device's chain, pulled rows too (see
        :mod:`ketachart.store.integrity`)."""
        from .integrity import verify_chains

        return verify_chains(self, tail=tail, stats=stats)

    def integrity_check(self) -> tuple[bool, str]:
        return dbmod.integrity_ok(self.engine)

    def execute_raw(self, sql: str) -> None:
        """For tests and admin tools: run raw SQL (the triggers still apply)."""
        with self.engine.begin() as conn:
            conn.execute(text(sql))

"""The audit records in the chart: clinic identity (versioned, admin-managed), the patient's REMS enrolment id,
REMS form submission, the controlled-substance order, product and vial reconciliation, the discharge handout
given. Each is an append-only ``observations`` row of a :class:`~ketachart.domain.records.RecordKind` (so it
syncs, hashes and signs like any chart row, with no schema change); a change is a new version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from ..domain.errors import ClinicalInputError
from ..domain.records import CLINIC_KEYS, Order, Product, Reconciliation, RecordKind, check_clinic_setting
from .models import Observation, Session
from .repository import ChartStore


def _data(row: dict) -> dict:
    return json.loads(row["data"]) if row.get("data") else {}


def _current(store: ChartStore, **filters) -> list[dict]:
    return store.current(store.rows(Observation, **filters))


# --- clinic identity ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicVersion:
    version: int
    settings: dict[str, str]
    reason: str
    author: str
    at: datetime


def clinic_history(store: ChartStore) -> list[ClinicVersion]:
    """Every version of the clinic settings, oldest first."""
    out = []
    for row in store.rows(Observation, kind=RecordKind.CLINIC_SETTINGS):
        d = _data(row)
        out.append(ClinicVersion(int(d.get("version", 0)), dict(d.get("settings") or {}), d.get("reason", ""),
                                 row["author"], row["effective_at"]))
    return sorted(out, key=lambda v: v.version)


def clinic_settings(store: ChartStore) -> dict[str, str]:
    """The current clinic settings (empty when none were set)."""
    history = clinic_history(store)
    return dict(history[-1].settings) if history else {}


def set_clinic_settings(store: ChartStore, changes: dict[str, str], *, reason: str, author: str) -> ClinicVersion:
    """A new version of the clinic settings with ``changes`` applied; nothing is written when a value is bad."""
    if not (reason or "").strip():
        raise ClinicalInputError("a change of clinic settings needs a reason")
    if not changes:
        raise ClinicalInputError("give at least one KEY=VALUE")
    history = clinic_history(store)
    settings = dict(history[-1].settings) if history else {}
    for key, value in changes.items():
        settings[key] = check_clinic_setting(key, value)
    version = (history[-1].version if history else 0) + 1
    settings = {k: settings[k] for k in CLINIC_KEYS if k in settings}
    row = store.append(Observation, author=author, session_id=None, patient_id=None, kind=RecordKind.CLINIC_SETTINGS,
                       value=None, text=None,
                       data=json.dumps({"version": version, "settings": settings, "reason": reason.strip()},
                                       sort_keys=True))
    store.audit("clinic-settings", f"observations:{row['id']}", {"version": version, "keys": sorted(changes)},
                author=author)
    return ClinicVersion(version, settings, reason.strip(), author, row["effective_at"])


# --- the patient's REMS enrolment ---------------------------------------------------------------


def rems_enrolment(store: ChartStore, patient_id: str) -> str | None:
    rows = _current(store, kind=RecordKind.REMS_ENROLMENT, patient_id=patient_id)
    return rows[-1]["text"] if rows else None


def set_rems_enrolment(store: ChartStore, patient_id: str, enrolment_id: str, reason: str | None = None) -> dict:
    """Record (or correct, with a reason) the patient's Spravato REMS enrolment id: a versioned patient field."""
    enrolment_id = (enrolment_id or "").strip()
    if not enrolment_id or len(enrolment_id) > 40:
        raise ClinicalInputError("the REMS enrolment id is required (at most 40 characters)")
    store.patient(patient_id)
    rows = _current(store, kind=RecordKind.REMS_ENROLMENT, patient_id=patient_id)
    if rows:
        if rows[-1]["text"] == enrolment_id:
            return rows[-1]
        return store.amend(Observation, rows[-1]["id"], reason or "REMS enrolment id corrected", text=enrolment_id)
    return store.observe(None, RecordKind.REMS_ENROLMENT, text=enrolment_id, patient_id=patient_id)


# --- REMS form submission ---------------------------------------------------------------------


def rems_submission(store: ChartStore, session_id: str) -> dict | None:
    rows = _current(store, kind=RecordKind.REMS_SUBMITTED, session_id=session_id)
    return rows[-1] if rows else None


def mark_rems_submitted(store: ChartStore, session_id: str, *, by: str, printed_name: str, note: str = "") -> dict:
    """Chart that the REMS form was submitted: who and when (the row's author and time)."""
    if rems_submission(store, session_id) is not None:
        raise ClinicalInputError("the REMS form of this session is already marked submitted")
    session = store.get(Session, session_id)
    if session["route"] != "IN":
        raise ClinicalInputError("only intranasal esketamine sessions have a REMS monitoring form")
    if not store.session_state(session_id).is_final:
        raise ClinicalInputError("the session is still in progress; submit its REMS form after discharge")
    text = f"by {printed_name}" + (f" - {note.strip()}" if note.strip() else "")
    row = store.append(Observation, author=by, session_id=session_id, kind=RecordKind.REMS_SUBMITTED,
                       text=text, data=json.dumps({"by": by, "note": note.strip()}, sort_keys=True))
    store.audit("rems-submitted", f"sessions:{session_id}", author=by)
    return row


def in_sessions(store: ChartStore) -> list[dict]:
    return store.rows(Session, route="IN")


def all_sessions(store: ChartStore) -> list[dict]:
    """Every session row (the controlled-substance log reads them by date)."""
    return store.rows(Session)


# --- controlled substance ------------------------------------------------------------------------


def record_order(store: ChartStore, session_id: str | None, order: Order, *, prescriber: str, printed_name: str,
                 patient_id: str | None = None, sign: bool = True) -> dict:
    """The prescriber's order (caller checks the role and identity): with ``patient_id`` and no session, the
    standing order for the patient's course of ``order.route`` (it supersedes the one before). ``sign=False``
    when the caller signs it in its own transaction (the chair's pre-session signing flow)."""
    data = {"drug": order.drug, "route": order.route, "dose_mg": order.dose_mg, "mg_per_kg": order.mg_per_kg,
            "minutes": order.minutes, "prescriber": prescriber}
    scope = " (standing order for the course)" if session_id is None else ""
    with store.atomic():
        row = store.append(Observation, author=prescriber, session_id=session_id, kind=RecordKind.CS_ORDER,
                           patient_id=patient_id, text=f"{order.words()}; signed by {printed_name}{scope}",
                           data=json.dumps(data, sort_keys=True))
        if sign:
            store.sign(Observation, row["id"], user_id=prescriber, printed_name=printed_name, meaning="performed")
    return row


def standing_order(store: ChartStore, patient_id: str, route: str) -> dict | None:
    """The order in force for the patient's course of ``route``: the latest standing order signed for it."""
    rows = [r for r in _current(store, kind=RecordKind.CS_ORDER, patient_id=patient_id)
            if r["session_id"] is None and _data(r).get("route") == route]
    return rows[-1] if rows else None


def order_of(store: ChartStore, session_id: str) -> dict | None:
    """The order a session's dose was prepared under: the one its preparation record cites (a standing order
    for the course), else an order signed for the session itself."""
    prep = product_of(store, session_id)
    cited = _data(prep).get("order_id") if prep else None
    if cited:
        return store.get(Observation, cited)
    rows = _current(store, kind=RecordKind.CS_ORDER, session_id=session_id)
    return rows[-1] if rows else None


NO_ORDER = "NO ORDER"


def order_text(row: dict | None) -> str:
    """The order as the summary and the cs-log print it (one truth): its words and who signed, or NO ORDER."""
    return row["text"] if row else NO_ORDER


def record_product(store: ChartStore, session_id: str, product: Product) -> dict:
    data = {"strength_mg_per_ml": product.strength_mg_per_ml, "vial_ml": product.vial_ml, "lot": product.lot,
            "expiry": product.expiry.isoformat(), "vial_mg": product.vial_mg}
    return store.observe(session_id, RecordKind.CS_PRODUCT, text=product.words(), data=data)


def product_of(store: ChartStore, session_id: str) -> dict | None:
    rows = _current(store, kind=RecordKind.CS_PRODUCT, session_id=session_id)
    return rows[-1] if rows else None


def record_reconciliation(store: ChartStore, session_id: str, rec: Reconciliation, *, signed_by: str | None = None,
                          printed_name: str | None = None, note: str = "") -> dict:
    """The vial's reconciliation; a discrepancy must be explained and signed."""
    if not rec.reconciled and (not signed_by or not note.strip()):
        raise ClinicalInputError(f"the vial does not reconcile ({rec.discrepancy_mg:+g} mg): "
                                 "say what happened and sign the discrepancy")
    data = {"vial_mg": rec.vial_mg, "delivered_mg": rec.delivered_mg, "waste_mg": rec.waste_mg,
            "remaining_mg": rec.remaining_mg, "discrepancy_mg": rec.discrepancy_mg, "reconciled": rec.reconciled,
            "note": note.strip()}
    text = rec.words() + (f" - {note.strip()}" if note.strip() else "")
    with store.atomic():
        row = store.observe(session_id, RecordKind.CS_RECONCILE, text=text, data=data)
        if signed_by:
            store.sign(Observation, row["id"], user_id=signed_by, printed_name=printed_name or signed_by,
                       meaning="reviewed")
    return row


def reconciliation_of(store: ChartStore, session_id: str) -> dict | None:
    rows = _current(store, kind=RecordKind.CS_RECONCILE, session_id=session_id)
    return rows[-1] if rows else None


# --- discharge handout ------------------------------------------------------------------------------


def record_handout(store: ChartStore, session_id: str, version: int, text_hash: str) -> dict:
    return store.observe(session_id, RecordKind.HANDOUT_GIVEN, text=f"clinic instructions version {version}",
                         data={"version": version, "text_hash": text_hash})


def data_of_row(row: dict | None) -> dict:
    return _data(row) if row else {}

"""Chair-service commands for the records an audit reads (issue 16), Qt-free:

- the prescriber's order (only a user with the prescriber role signs it) before any dose can be prepared: a
  standing order for the patient's course (signed beforehand, or at the chair as the first signature of the
  pre-session), which every pre-session of the course cites; a dose that differs from it is refused;
- preparing the dose: order present and matching, the required pre-session items answered, the product's lot
  not expired; the dose and its preparation record (product, lot, the order it cites) in one transaction;
- the vial reconciliation after the session (a discrepancy explained and signed);
- the discharge handout given, with the instructions' version.

Every refusal raises :class:`ClinicalInputError` naming what is missing, and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..domain.clock import utc
from ..domain.dosing import IntranasalDose, IvDose
from ..domain.errors import ClinicalInputError
from ..domain.records import (
    ITEM_BY_KEY,
    NO,
    NOT_ASKED,
    YES,
    Order,
    Product,
    RecordKind,
    check_order,
    check_presession_answers,
    check_product,
    instruction_lines,
    order_mismatch,
    reconcile,
)
from ..domain.vocabulary import Kind
from ..store.models import Session
from ..store.records import (
    clinic_history,
    clinic_settings,
    order_of,
    product_of,
    record_handout,
    record_order,
    record_reconciliation,
    standing_order,
)
from ..store.repository import ChartStore
from ..store.views import session_view


@dataclass(frozen=True)
class Signer:
    """Someone whose secret was just checked (the auth layer's SignedInUser has these fields)."""

    user_id: str
    display_name: str
    role: str


class RecordsCommands:
    """The records commands of one chair; reads its clock and author from the store."""

    def __init__(self, store: ChartStore) -> None:
        self.store = store

    # --- helpers -----------------------------------------------------------------------------------
    def today(self) -> date:
        """Today in the clinic's zone (an expiry date is a calendar day where the clinic is)."""
        tz = clinic_settings(self.store).get("clinic_tz")
        now = self.store.clock.now()
        try:
            return now.astimezone(ZoneInfo(tz)).date() if tz else now.astimezone().date()
        except (ZoneInfoNotFoundError, ValueError):
            return now.astimezone().date()

    def _session(self, session_id: str) -> dict:
        return self.store.get(Session, session_id)

    # --- pre-session items ---------------------------------------------------------------------------
    def record_presession_items(self, session_id: str, answers: dict[str, str]) -> list[dict]:
        """Chart each item's answer (Yes / No / Not asked); an item left unticked is not charted at all."""
        rows = []
        for key, answer in answers.items():
            if key not in ITEM_BY_KEY:
                raise ClinicalInputError(f"unknown pre-session item {key!r}")
            if answer not in (YES, NO, NOT_ASKED):
                raise ClinicalInputError(f"{ITEM_BY_KEY[key].question}: answer Yes, No or Not asked")
        with self.store.atomic():
            for key, answer in answers.items():
                rows.append(self.store.observe(session_id, Kind.PRECHECK, data={"item": key, "answer": answer}))
        return rows

    def presession_answers(self, session_id: str) -> dict[str, str]:
        view = session_view(self.store, session_id)
        out: dict[str, str] = {}
        for o in view.observations_of(Kind.PRECHECK):
            key = o.data.get("item")
            if key in ITEM_BY_KEY:
                out[key] = o.data.get("answer")
        return out

    def check_presession(self, session_id: str) -> None:
        """Refuse dosing until the policy's required items are answered, naming them."""
        session = self._session(session_id)
        patient = self.store.patient(session["patient_id"])
        check_presession_answers(self.presession_answers(session_id), session["route"], patient.get("sex"),
                                 tuple(self.store.policy.presession_required))

    # --- the order ----------------------------------------------------------------------------------------
    @staticmethod
    def _prescriber(prescriber: Signer) -> None:
        if prescriber.role != "prescriber":
            raise ClinicalInputError(f"{prescriber.display_name} is not a prescriber; a prescriber signs the order")

    def sign_order(self, session_id: str, prescriber: Signer, *, drug: str, dose_mg: object = None,
                   mg_per_kg: object = None, minutes: object = None) -> dict:
        """An order for one stored session (before its dose is prepared through ``prepare_dose``)."""
        self._prescriber(prescriber)
        session = self._session(session_id)
        order = check_order(drug, session["route"], dose_mg, mg_per_kg, minutes)
        if order_of(self.store, session_id) is not None:
            raise ClinicalInputError("this session already has a signed order")
        return record_order(self.store, session_id, order, prescriber=prescriber.user_id,
                            printed_name=prescriber.display_name)

    def sign_standing_order(self, patient_id: str, route: str, prescriber: Signer, *, drug: str,
                            dose_mg: object = None, mg_per_kg: object = None, minutes: object = None) -> dict:
        """The standing order for the patient's course of ``route``: every pre-session of the course cites it
        until a prescriber signs a new one."""
        self._prescriber(prescriber)
        self.store.patient(patient_id)
        order = check_order(drug, route, dose_mg, mg_per_kg, minutes)
        return record_order(self.store, None, order, prescriber=prescriber.user_id,
                            printed_name=prescriber.display_name, patient_id=patient_id)

    def order_in_force(self, patient_id: str, route: str) -> dict | None:
        return standing_order(self.store, patient_id, route)

    # --- preparing the dose -------------------------------------------------------------------------------
    def check_product(self, strength_mg_per_ml: object, vial_ml: object, lot: str, expiry: str | date) -> Product:
        return check_product(strength_mg_per_ml, vial_ml, lot, expiry, self.today())

    def check_can_prepare(self, session_id: str, dose: IvDose | IntranasalDose) -> dict:
        """Order signed and matching the dose, required pre-session items answered. Returns the order row."""
        order = self.check_order_matches(session_id, dose)
        self.check_presession(session_id)
        return order

    def check_order_matches(self, session_id: str, dose: IvDose | IntranasalDose) -> dict:
        """The session's signed order (its own, else the standing order of the patient's course), matching the
        dose's drug, route, amount and duration (or ClinicalInputError)."""
        order = order_of(self.store, session_id)
        if order is None:
            session = self._session(session_id)
            order = standing_order(self.store, session["patient_id"], session["route"])
        if order is None:
            raise ClinicalInputError("no signed order for this session: a prescriber signs the order before the "
                                     "dose is prepared")
        check_dose_against(order, dose)
        return order

    def prepare_dose(self, session_id: str, dose: IvDose | IntranasalDose, product: Product, *,
                     prepared_by: str | None = None, effective_at: datetime | None = None) -> dict:
        """The dose and its preparation record (product, lot, expiry, the order it cites), in one transaction."""
        order = self.check_can_prepare(session_id, dose)
        if product.expiry < self.today():
            raise ClinicalInputError(f"lot {product.lot} expired on {product.expiry.isoformat()}: do not use it")
        if dose.dose_mg > product.vial_mg + 1e-9 and dose.route == "IV":
            raise ClinicalInputError(f"the dose {dose.dose_mg:g} mg is more than the vial holds ({product.vial_mg:g} mg)")
        with self.store.atomic():
            dose_row = self.store.record_dose(session_id, dose, lot=product.lot,
                                              prepared_by=prepared_by or self.store.author, effective_at=effective_at)
            data = {"strength_mg_per_ml": product.strength_mg_per_ml, "vial_ml": product.vial_ml, "lot": product.lot,
                    "expiry": product.expiry.isoformat(), "vial_mg": product.vial_mg, "order_id": order["id"],
                    "dose_id": dose_row["id"]}
            self.store.observe(session_id, RecordKind.CS_PRODUCT,
                               text=f"{product.words()}; dose {dose.dose_mg:g} mg per order {order['id'][-8:]}",
                               data=data, effective_at=effective_at)
        return dose_row

    # --- after the session ---------------------------------------------------------------------------------
    def reconcile_vial(self, session_id: str, *, delivered_mg: float, remaining_mg: float = 0.0,
                       signer: Signer | None = None, note: str = "") -> dict:
        """vial = delivered + waste + remaining, from the product record and the charted waste; a discrepancy
        needs a note and a signature."""
        product = product_of(self.store, session_id)
        if product is None:
            raise ClinicalInputError("no product (vial, lot) recorded for this session")
        vial_mg = float(json.loads(product["data"])["vial_mg"])
        view = session_view(self.store, session_id)
        waste = sum(float(w.data.get("amount_mg", w.row["value"]) or 0) for w in view.observations_of(Kind.WASTE))
        rec = reconcile(vial_mg, delivered_mg, waste, remaining_mg)
        return record_reconciliation(self.store, session_id, rec, signed_by=signer.user_id if signer else None,
                                     printed_name=signer.display_name if signer else None, note=note)

    def handout(self) -> tuple[int, tuple[str, ...]]:
        """The clinic's discharge instructions in force: (clinic settings version, lines)."""
        history = clinic_history(self.store)
        version = history[-1].version if history else 0
        return version, instruction_lines(clinic_settings(self.store).get("discharge_instructions"))

    def give_handout(self, session_id: str) -> dict:
        """Chart that the discharge instructions were given, with their version and a hash of their text."""
        version, lines = self.handout()
        digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
        return record_handout(self.store, session_id, version, digest)




# --- the chair's pre-session save (ChairService calls these two; they keep its hunks small) ------------------


def order_in_force_words(store: ChartStore, patient_id: str, route: str) -> str:
    """What the pre-session screen says of the order it will cite ('' when the course has none)."""
    row = standing_order(store, patient_id, route)
    if row is None:
        return ""
    d = json.loads(row["data"])
    who = next((u["display_name"] for u in store.users() if u["user_id"] == d.get("prescriber")), d.get("prescriber"))
    return (f"{Order.from_data(d).words()}, signed by {who} on {utc(row['effective_at']).astimezone():%d %b %Y} "
            "(standing order for this course)")


def check_dose_against(order_row: dict, dose: IvDose | IntranasalDose) -> None:
    """Refuse a dose that differs from the signed order, saying how and what to do."""
    why = order_mismatch(Order.from_data(json.loads(order_row["data"])), dose.drug, dose.route, dose.dose_mg,
                         getattr(dose, "mg_per_kg", None), getattr(dose, "minutes", None))
    if why:
        raise ClinicalInputError(f"{why}: prepare the ordered dose, or a prescriber signs a new order")


def order_from_dose(dose: IvDose | IntranasalDose) -> Order:
    """The order a prescriber signs at the chair: exactly the dose on the pre-session screen (IV in mg/kg with
    its duration, intranasal in mg)."""
    if isinstance(dose, IvDose):
        return check_order(dose.drug, "IV", mg_per_kg=dose.mg_per_kg, minutes=dose.minutes)
    return check_order(dose.drug, "IN", dose_mg=dose.dose_mg)


def check_presession_records(store: ChartStore, session_id: str, items: dict[str, str], dose: IvDose | IntranasalDose,
                             lot: str = "", strength: str = "", vial_ml: str = "", expiry: str = "",
                             planned: tuple[dict, str] | None = None, new_order: bool = False) -> dict:
    """Before the pre-session save writes anything: the required items answered (typed now or charted before),
    the prescriber's signed order when the policy asks for one (and the dose matching it), the product's lot not
    expired. ``new_order``: a prescriber signs the dose on screen as the course's new standing order in this
    save. Returns what :func:`write_presession_records` writes. Raises ClinicalInputError naming the gap."""
    rc = RecordsCommands(store)
    for key, answer in items.items():
        if key not in ITEM_BY_KEY:
            raise ClinicalInputError(f"unknown pre-session item {key!r}")
        if answer not in (YES, NO, NOT_ASKED, None):
            raise ClinicalInputError(f"{ITEM_BY_KEY[key].question}: answer Yes, No or Not asked")
    typed = {k: v for k, v in items.items() if v is not None}
    if session_id is None:  # a pre-session not stored yet (``planned`` = (patient, route)): only what is typed now
        patient, route = planned
        answers, order = typed, None
    else:
        answers = {**rc.presession_answers(session_id), **typed}
        session = rc._session(session_id)
        patient, route = store.patient(session["patient_id"]), session["route"]
        order = order_of(store, session_id)
    check_presession_answers(answers, route, patient.get("sex"), tuple(store.policy.presession_required))
    signing = order_from_dose(dose) if new_order else None
    if signing is None:
        order = order or standing_order(store, patient["patient_id"], route)
        if order is not None:
            check_dose_against(order, dose)
        elif store.policy.order_required_before_dose:
            raise ClinicalInputError("no signed order for this course: a prescriber signs the order before the "
                                     "dose is prepared (at the chair, as the first signature of the pre-session)")
    product = None
    if any(str(x).strip() for x in (strength, vial_ml, expiry)):
        product = rc.check_product(strength, vial_ml, lot, expiry)
    return {"items": {k: v for k, v in items.items() if v is not None}, "order": None if signing else order,
            "new_order": signing, "patient_id": patient["patient_id"], "product": product}


def write_presession_order(store: ChartStore, checked: dict, prescriber) -> dict | None:  # noqa: ANN001
    """Inside the pre-session transaction, before the dose: the order the prescriber signs now (``prescriber``
    from ``Signatures.verify``; the caller signs the row with it), which the preparation record then cites."""
    if checked.get("new_order") is None:
        return None
    if prescriber is None:
        raise ClinicalInputError("the new order needs the prescriber's signature")
    if prescriber.user.role != "prescriber":
        raise ClinicalInputError(f"{prescriber.printed_name} is not a prescriber; a prescriber signs the order")
    checked["order"] = record_order(store, None, checked["new_order"], prescriber=prescriber.user_id,
                                    printed_name=prescriber.printed_name, patient_id=checked["patient_id"],
                                    sign=False)
    return checked["order"]


def write_presession_records(store: ChartStore, session_id: str, checked: dict, dose_row: dict) -> list[dict]:
    """Inside the pre-session transaction: the item answers and the preparation record citing the order."""
    product, order = checked["product"], checked["order"]
    rows = []
    rows += [store.observe(session_id, Kind.PRECHECK, data={"item": k, "answer": v})
             for k, v in checked["items"].items()]
    if product is not None or order is not None:
        data = {"lot": dose_row.get("lot"), "order_id": order["id"] if order else None, "dose_id": dose_row["id"]}
        text = f"lot {dose_row.get('lot')}"
        if product is not None:
            data.update(strength_mg_per_ml=product.strength_mg_per_ml, vial_ml=product.vial_ml,
                        expiry=product.expiry.isoformat(), vial_mg=product.vial_mg)
            text = Product(product.strength_mg_per_ml, product.vial_ml, dose_row.get("lot") or "", product.expiry).words()
        if order is not None:
            text += f"; dose {dose_row['dose_mg']:g} mg per order {order['id'][-8:]}"
        rows.append(store.observe(session_id, RecordKind.CS_PRODUCT, text=text, data=data))
    return rows

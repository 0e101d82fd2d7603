"""Records an audit reads: the REMS submission window, the controlled-substance order, product and vial
reconciliation, the complete pre-session items, discharge instructions and the clinic's identity.

Pure rules and words (no store, no Qt). The store keeps each of these as an append-only chart row of the kinds
below (docs/DECISIONS.md, "Records that survive an audit").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .errors import ClinicalInputError


class RecordKind:
    """Observation kinds of the records (``observations.kind``)."""

    REMS_SUBMITTED = "rems-submitted"  # session: data {"by", "note"}
    REMS_ENROLMENT = "rems-enrolment"  # patient (no session): text = the patient's REMS enrolment id
    # the prescriber's standing order for the patient's course (patient, no session), or an older per-session
    # order (session): data {"drug", "dose_mg" | "mg_per_kg", "route", "minutes", "prescriber"}
    CS_ORDER = "cs-order"
    CS_PRODUCT = "cs-product"  # session: data {"strength_mg_per_ml", "vial_ml", "lot", "expiry"}
    CS_RECONCILE = "cs-reconcile"  # session: data {"vial_mg", "delivered_mg", "waste_mg", "remaining_mg", ...}
    HANDOUT_GIVEN = "handout-given"  # session: data {"version", "text_hash"}
    CLINIC_SETTINGS = "clinic-settings"  # clinic (no session, no patient): data {"version", "settings", "reason"}

    SESSION = (REMS_SUBMITTED, CS_ORDER, CS_PRODUCT, CS_RECONCILE, HANDOUT_GIVEN)
    ALL = SESSION + (REMS_ENROLMENT, CLINIC_SETTINGS)


# --- Spravato REMS ----------------------------------------------------------------------------------

REMS_SUBMIT_DAYS = 7  # the monitoring form is due within 7 days of the session (Spravato REMS)


def rems_days_left(session_day: date, today: date) -> int:
    """Days left to submit the form (negative: overdue)."""
    return (session_day + timedelta(days=REMS_SUBMIT_DAYS) - today).days


def us_date(value: date | datetime | str | None) -> str:
    """MM/DD/YYYY, as the REMS form asks; an ISO date string is accepted."""
    if value is None or value == "":
        return "not recorded"
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    return value.strftime("%m/%d/%Y")


# --- controlled substance -------------------------------------------------------------------------

CS_DRUGS = ("ketamine", "esketamine")
RECONCILE_TOLERANCE_MG = 0.1  # rounding of typed amounts; anything more is a discrepancy


def _positive(value: object, what: str, upper: float) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ClinicalInputError(f"{what} must be a number") from None
    if not math.isfinite(v) or v <= 0 or v > upper:
        raise ClinicalInputError(f"{what} {value} is not plausible (above 0, at most {upper:g})")
    return v


@dataclass(frozen=True)
class Order:
    """What the prescriber signed: drug, dose in mg or mg/kg, route, duration."""

    drug: str
    route: str
    dose_mg: float | None
    mg_per_kg: float | None
    minutes: int | None

    def words(self) -> str:
        amount = f"{self.dose_mg:g} mg" if self.dose_mg else f"{self.mg_per_kg:g} mg/kg"
        return f"{self.drug} {amount} {self.route}" + (f" over {self.minutes} min" if self.minutes else "")


    @classmethod
    def from_data(cls, d: dict) -> "Order":
        """The order as charted (a ``cs-order`` row's data)."""
        return cls(d["drug"], d["route"], d.get("dose_mg"), d.get("mg_per_kg"), d.get("minutes"))


def order_mismatch(order: Order, drug: str, route: str, dose_mg: float, mg_per_kg: float | None,
                   minutes: float | None) -> str:
    """Why a prepared dose differs from the signed order ('' when it matches): drug, route, amount (mg, or
    mg/kg) and, for an order with a duration, the infusion length. A different dose needs a new order."""
    if order.drug != drug or order.route != route:
        return f"the dose ({drug} {route}) does not match the order ({order.drug} {order.route})"
    if order.dose_mg is not None and abs(dose_mg - order.dose_mg) > 0.05:
        return f"the dose {dose_mg:g} mg differs from the ordered {order.dose_mg:g} mg"
    if order.mg_per_kg is not None and (mg_per_kg is None or abs(mg_per_kg - order.mg_per_kg) > 1e-6):
        given = f"{mg_per_kg:g} mg/kg" if mg_per_kg is not None else f"{dose_mg:g} mg"
        return f"the dose {given} differs from the ordered {order.mg_per_kg:g} mg/kg"
    if order.minutes and minutes is not None and abs(float(minutes) - order.minutes) > 1e-6:
        return f"the duration {float(minutes):g} min differs from the ordered {order.minutes} min"
    return ""


def check_order(drug: str, route: str, dose_mg: object = None, mg_per_kg: object = None,
                minutes: object = None) -> Order:
    drug = (drug or "").strip().lower()
    if drug not in CS_DRUGS:
        raise ClinicalInputError(f"the order's drug must be one of {', '.join(CS_DRUGS)}")
    if route not in ("IV", "IN"):
        raise ClinicalInputError("the order's route must be IV or IN")
    if (dose_mg in (None, "")) == (mg_per_kg in (None, "")):
        raise ClinicalInputError("the order needs a dose in mg or in mg/kg (one of them)")
    mg = _positive(dose_mg, "ordered dose (mg)", 300) if dose_mg not in (None, "") else None
    per_kg = _positive(mg_per_kg, "ordered dose (mg/kg)", 2) if mg_per_kg not in (None, "") else None
    mins = None
    if minutes not in (None, ""):
        mins = int(_positive(minutes, "ordered duration (min)", 240))
    elif route == "IV":
        raise ClinicalInputError("an IV order needs its duration (minutes)")
    return Order(drug, route, mg, per_kg, mins)


@dataclass(frozen=True)
class Product:
    strength_mg_per_ml: float
    vial_ml: float
    lot: str
    expiry: date

    @property
    def vial_mg(self) -> float:
        return round(self.strength_mg_per_ml * self.vial_ml, 3)

    def words(self) -> str:
        return (f"{self.strength_mg_per_ml:g} mg/mL x {self.vial_ml:g} mL ({self.vial_mg:g} mg), lot {self.lot}, "
                f"exp {self.expiry.isoformat()}")


def check_product(strength_mg_per_ml: object, vial_ml: object, lot: str, expiry: str | date, today: date) -> Product:
    """The vial's strength and size, lot and expiry; an expired lot (expiry before today) is refused."""
    strength = _positive(strength_mg_per_ml, "vial strength (mg/mL)", 500)
    size = _positive(vial_ml, "vial size (mL)", 100)
    lot = (lot or "").strip()
    if not lot:
        raise ClinicalInputError("the lot number is required")
    if isinstance(expiry, str):
        try:
            expiry = date.fromisoformat(expiry.strip())
        except ValueError:
            raise ClinicalInputError("expiry must be a date YYYY-MM-DD") from None
    if expiry < today:
        raise ClinicalInputError(f"lot {lot} expired on {expiry.isoformat()}: do not use it")
    return Product(strength, size, lot, expiry)


@dataclass(frozen=True)
class Reconciliation:
    vial_mg: float
    delivered_mg: float
    waste_mg: float
    remaining_mg: float
    discrepancy_mg: float  # vial - (delivered + waste + remaining); 0 when it reconciles

    @property
    def reconciled(self) -> bool:
        return abs(self.discrepancy_mg) <= RECONCILE_TOLERANCE_MG

    def words(self) -> str:
        text = (f"vial {self.vial_mg:g} mg = delivered {self.delivered_mg:g} + waste {self.waste_mg:g}"
                f" + remaining {self.remaining_mg:g}")
        return text + (": reconciled" if self.reconciled else f": DISCREPANCY {self.discrepancy_mg:+g} mg")


def reconcile(vial_mg: float, delivered_mg: float, waste_mg: float, remaining_mg: float = 0.0) -> Reconciliation:
    for v, what in ((vial_mg, "vial"), (delivered_mg, "delivered"), (waste_mg, "waste"), (remaining_mg, "remaining")):
        if v is None or not math.isfinite(float(v)) or float(v) < 0:
            raise ClinicalInputError(f"the {what} amount must be a number of mg, zero or more")
    d = round(float(vial_mg) - float(delivered_mg) - float(waste_mg) - float(remaining_mg), 3)
    return Reconciliation(float(vial_mg), float(delivered_mg), float(waste_mg), float(remaining_mg), d)


# --- complete pre-session items ----------------------------------------------------------------

YES, NO, NOT_ASKED = "yes", "no", "not-asked"
ANSWERS = {YES: "Yes", NO: "No", NOT_ASKED: "Not asked"}


@dataclass(frozen=True)
class PresessionItem:
    key: str
    question: str
    routes: tuple[str, ...] = ("IV", "IN")
    applies_to_sex: tuple[str, ...] = ()  # empty: everyone
    safe_answer: str = NO  # the answer that lets dosing go ahead without a review


PRESESSION_ITEMS: tuple[PresessionItem, ...] = (
    PresessionItem("pregnant_or_breastfeeding", "Pregnant or breastfeeding", applies_to_sex=("female", "F", "other")),
    PresessionItem("allergies", "Allergies (drug or other)"),
    PresessionItem("alcohol_substance_24h", "Alcohol or substance use in the last 24 h"),
    PresessionItem("psychosis_mania_history", "History of psychosis or mania"),
    PresessionItem("aneurysmal_vascular_disease", "Aneurysmal vascular disease (label contraindication)"),
    PresessionItem("arteriovenous_malformation", "Arteriovenous malformation (label contraindication)"),
    PresessionItem("intracerebral_haemorrhage", "History of intracerebral haemorrhage (label contraindication)"),
    PresessionItem("identity_two_identifiers", "Identity checked with two identifiers", safe_answer=YES),
    PresessionItem("fasting_food_2h", "No food in the last 2 h", routes=("IN",), safe_answer=YES),
    PresessionItem("fasting_liquids_30min", "No liquids in the last 30 min", routes=("IN",), safe_answer=YES),
    PresessionItem("fasting_iv_policy", "Fasting as clinic policy asks for IV", routes=("IV",), safe_answer=YES),
)
ITEM_BY_KEY = {i.key: i for i in PRESESSION_ITEMS}
DEFAULT_REQUIRED = tuple(i.key for i in PRESESSION_ITEMS)


def items_for(route: str, sex: str | None) -> list[PresessionItem]:
    return [i for i in PRESESSION_ITEMS if route in i.routes and (not i.applies_to_sex or (sex or "") in i.applies_to_sex)]


def unanswered_required(answers: dict[str, str | None], route: str, sex: str | None,
                        required: tuple[str, ...] = DEFAULT_REQUIRED) -> list[PresessionItem]:
    """Required items not answered Yes or No ("Not asked" and unticked are not answers)."""
    return [i for i in items_for(route, sex) if i.key in required and answers.get(i.key) not in (YES, NO)]


def check_presession_answers(answers: dict[str, str | None], route: str, sex: str | None,
                             required: tuple[str, ...] = DEFAULT_REQUIRED) -> None:
    """Refuse dosing while a required item is unanswered, naming it."""
    for key, value in answers.items():
        if value is not None and value not in ANSWERS:
            raise ClinicalInputError(f"{ITEM_BY_KEY[key].question if key in ITEM_BY_KEY else key}: answer Yes, No or Not asked")
    missing = unanswered_required(answers, route, sex, required)
    if missing:
        raise ClinicalInputError("before dosing, answer: " + "; ".join(i.question for i in missing))


# --- discharge instructions -------------------------------------------------------------------

DEFAULT_DISCHARGE_INSTRUCTIONS = (
    "Do not drive, cycle or operate machinery until the next day, after a restful sleep.",
    "Go home with your escort; do not travel alone. Your escort should stay with you for the rest of the day.",
    "Do not drink alcohol or take sleeping tablets or other sedating medicines today unless your prescriber said so.",
    "Do not make important decisions or sign legal documents today.",
    "If you feel confused, very drowsy, short of breath, have chest pain or thoughts of harming yourself, "
    "call the clinic or emergency services (911).",
)


# --- clinic identity ---------------------------------------------------------------------------

CLINIC_KEYS = ("clinic_name", "clinic_address", "clinic_phone", "clinic_email", "clinic_tz", "mrn_system",
               "after_hours_phone", "discharge_instructions")
CLINIC_KEY_LABELS = {
    "clinic_name": "Clinic name", "clinic_address": "Address", "clinic_phone": "Phone", "clinic_email": "Email",
    "clinic_tz": "Time zone (IANA)", "mrn_system": "MRN system (URI)", "after_hours_phone": "After-hours phone",
    "discharge_instructions": "Discharge instructions (one per line, or separated by ' | ')",
}


def instruction_lines(text: str | None) -> tuple[str, ...]:
    """The clinic's discharge instructions as lines; the defaults when the clinic has set none."""
    if not (text or "").strip():
        return DEFAULT_DISCHARGE_INSTRUCTIONS
    parts = [p.strip() for chunk in text.splitlines() for p in chunk.split(" | ")]
    return tuple(p for p in parts if p)


def check_clinic_setting(key: str, value: str) -> str:
    if key not in CLINIC_KEYS:
        raise ClinicalInputError(f"unknown clinic setting {key!r}; known: {', '.join(CLINIC_KEYS)}")
    value = (value or "").strip()
    if key == "clinic_name" and not value:
        raise ClinicalInputError("the clinic name cannot be empty")
    if key == "clinic_tz" and value:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ClinicalInputError(f"{value!r} is not an IANA time zone (e.g. America/New_York)") from None
    limit = 3000 if key == "discharge_instructions" else 300
    if len(value) > limit:
        raise ClinicalInputError(f"{key} is too long ({limit} characters at most)")
    return value

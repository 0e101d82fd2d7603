"""The one clinical vocabulary: observation kinds and session events, as the screen, paper and exports say them.

Every place that names, marks, codes or words an observation or a session event reads it here, so the chair
screen, the printed summary, the REMS form, FHIR and CSV cannot drift apart (docs/CLINICAL.md).

An :class:`ObservationKind` row says: the code stored in the chart, the label a nurse reads, the short mark on
the plot, how a value is validated and its range, the unit, the local FHIR concept and any LOINC code, whether
a nurse may amend it, and how a charted version reads as words (:func:`describe`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .codes import PHQ9_TOTAL_LOINC
from .scales import (
    DISSOCIATION_LABELS,
    MOAAS_LABELS,
    dissociation,
    moaas,
    nausea,
    nausea_band,
    phq9,
    whole_number_in,
)
from .records import ANSWERS, ITEM_BY_KEY, RecordKind
from .session import SessionEvent


class Kind:
    """Observation kinds as stored in the chart (``observations.kind``)."""

    DISSOCIATION = "dissociation"  # clinician global 0-4
    NAUSEA = "nausea"  # 0-10, data: {"vomiting": bool}
    SEDATION = "sedation"  # MOAA/S 0-5
    CADSS6 = "cadss6"  # data: {"items": {"1": 0..4, ...}}, value = total 0-24
    PHQ9 = "phq9"  # data: {"items": [9 x 0..3]}, value = total 0-27
    BPRS = "bprs-positive"
    NOTE = "note"
    INTERVENTION = "intervention"  # data: {"drug", "dose", "unit", "route"}
    MANUAL_VITALS = "manual-vitals"  # data: {"HR":.., "SPO2":.., "NIBP_SYS":.., "NIBP_DIA":.., "label": ..}
    PRECHECK = "precheck"  # data: {"item": .., "answer": ..}
    WASTE = "waste"  # data: {"amount_mg", "method", "witness"}

    ALL = (
        DISSOCIATION, NAUSEA, SEDATION, CADSS6, PHQ9, BPRS, NOTE, INTERVENTION, MANUAL_VITALS, PRECHECK, WASTE,
    ) + RecordKind.ALL  # the audit records (domain/records.py)


# --- how a charted value reads ---------------------------------------------------------------------


def _g(value: object) -> str:
    if value is None:
        return "-"
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


def _int(value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def yes_no(value: object) -> str:
    """A pre-check answer in words."""
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    if value is None:
        return "not recorded"
    if isinstance(value, str) and value in ANSWERS:
        return ANSWERS[value]  # Yes / No / Not asked of the complete pre-session items
    return str(value)


PRECHECK_LABELS = {
    "consent_on_file": "Consent on file",
    "fasting_hours": "Fasting (hours)",
    "current_meds": "Current medications",
    "rems_benzodiazepines": "Benzodiazepines",
    "rems_sedative_hypnotics": "Non-benzodiazepine sedative hypnotics",
    "rems_psychostimulants": "Psychostimulants",
    "rems_maois": "MAOIs",
    "rems_opioids": "Opioids",
    "escort_name": "Escort / ride home",
    "escort_phone": "Escort phone",
    "no_driving_acknowledged": "No driving until tomorrow acknowledged",
    "weight_kg": "Weight today (kg)",
}


PRECHECK_LABELS.update({i.key: i.question for i in ITEM_BY_KEY.values()})  # the complete pre-session items


def precheck_label(item: str | None) -> str:
    return PRECHECK_LABELS.get(item or "", (item or "").replace("_", " "))


def _dissociation(value, text, data) -> tuple[str, bool]:
    v = _int(value)
    return f"{v}/4 ({DISSOCIATION_LABELS.get(v, '?')})", False


def _nausea(value, text, data) -> tuple[str, bool]:
    if value is None:
        return "-", False
    vom = data.get("vomiting")
    extra = ", VOMITING" if vom else (", no vomiting" if vom is False else "")
    return f"{_int(value)}/10 ({nausea_band(int(value))}){extra}", False


def _sedation(value, text, data) -> tuple[str, bool]:
    v = _int(value)
    return f"MOAA/S {v} - {MOAAS_LABELS.get(v, '?')}", False


def _cadss6(value, text, data) -> tuple[str, bool]:
    items = data.get("items") or {}
    detail = ", ".join(f"#{k}={items[k]}" for k in sorted(items, key=lambda s: int(s)))
    return f"total {_int(value)}/24" + (f" ({detail})" if detail else ""), False


def _phq9(value, text, data) -> tuple[str, bool]:
    items = data.get("items")
    if items and len(items) == 9:
        res = phq9(items)
        flag = res.self_harm_flag
        return (f"total {res.total}/27 ({res.band})"
                + (f" - ITEM 9 = {items[8]}: SELF-HARM THOUGHTS, ACT PER PROTOCOL" if flag else "")), flag
    return f"total {_int(value)}/27", False


def _score(value, text, data) -> tuple[str, bool]:
    return _g(value), False


def _free_text(value, text, data) -> tuple[str, bool]:
    return text or "", False


def _intervention(value, text, data) -> tuple[str, bool]:
    if text:
        return text, False
    return " ".join(str(data.get(k, "")) for k in ("drug", "dose", "unit", "route") if data.get(k) is not None).strip(), False


MANUAL_VITAL_PARTS = (("HR", "HR", ""), ("SPO2", "SpO2", " %"), ("RR", "RR", ""), ("TEMP", "Temp", " Cel"))


def _manual_vitals(value, text, data) -> tuple[str, bool]:
    parts = []
    if data.get("NIBP_SYS") is not None:
        parts.append(f"BP {_g(data['NIBP_SYS'])}/{_g(data.get('NIBP_DIA'))}")
    for key, label, unit in MANUAL_VITAL_PARTS:
        if data.get(key) is not None:
            parts.append(f"{label} {_g(data[key])}{unit}")
    words = ", ".join(parts)
    if data.get("label"):
        words += f" ({data['label']})"
    return words, False


def _waste(value, text, data) -> tuple[str, bool]:
    return f"{_g(data.get('amount_mg', value))} mg, {data.get('method', '')}", False


def _precheck(value, text, data) -> tuple[str, bool]:
    return f"{precheck_label(data.get('item'))}: {yes_no(data.get('answer'))}", False


def _record(value, text, data) -> tuple[str, bool]:
    """An audit record in words (REMS submitted, CS order/product/reconciliation, handout given)."""
    return text or "", False


def _whole(lo: int, hi: int, what: str) -> Callable[[object], int]:
    def check(value: object) -> int:
        return whole_number_in(value, lo, hi, what)

    return check


@dataclass(frozen=True)
class ObservationKind:
    """One kind of charted observation and everything the screen, paper and exports need to know about it."""

    code: str  # as stored in the chart
    label: str  # what a nurse reads: column heading, picker title, timeline kind
    mark: str | None  # short mark on the plot; scored kinds add the value ("D3"), others show it as is ("Rx")
    mark_with_value: bool
    validate: Callable[[object], int] | None  # the value a nurse typed -> the value to store (or ClinicalInputError)
    value_range: tuple[int, int] | None
    unit: str  # UCUM unit of ``value``: "{score}" for scales, "" where the value is not a score
    concept: tuple[str, str] | None  # (code, display) in the local FHIR CodeSystem; None: not an Observation
    loinc: str | None
    amendable: bool  # a nurse may correct it (a new version with a reason)
    words: Callable[[float | None, str | None, dict], tuple[str, bool]]  # -> (phrase, needs a visible flag)
    sentence: str = "{label} {phrase}"  # how the phrase reads as one line (screen entries, FHIR narrative, CSV)


def _record_kind(code: str, label: str) -> ObservationKind:
    """An audit record (REMS, controlled substance, handout, settings): its text as charted, never amended."""
    return ObservationKind(code, label, None, False, None, None, "", None, None, False, _record,
                           sentence="{label}: {phrase}")


OBSERVATION_KINDS: dict[str, ObservationKind] = {k.code: k for k in (
    ObservationKind(Kind.DISSOCIATION, "Dissociation", "D", True, dissociation, (0, 4), "{score}",
                    ("dissociation", "Dissociation, clinician global rating 0-4"), None, True, _dissociation),
    ObservationKind(Kind.NAUSEA, "Nausea", "N", True, nausea, (0, 10), "{score}",
                    ("nausea", "Nausea numeric rating 0-10"), None, True, _nausea),
    ObservationKind(Kind.SEDATION, "Sedation", "S", True, moaas, (0, 5), "{score}",
                    ("moaas", "Sedation, MOAA/S 0-5"), None, True, _sedation, sentence="{phrase}"),
    ObservationKind(Kind.CADSS6, "CADSS-6", "C", True, _whole(0, 24, "CADSS-6 total"), (0, 24), "{score}",
                    ("cadss6-total", "CADSS-6 total 0-24 (CADSS items 1, 2, 6, 7, 15, 22)"), None, True, _cadss6),
    ObservationKind(Kind.PHQ9, "PHQ-9", None, False, _whole(0, 27, "PHQ-9 total"), (0, 27), "{score}",
                    ("phq9-total", "PHQ-9 total 0-27"), PHQ9_TOTAL_LOINC, False, _phq9),
    ObservationKind(Kind.BPRS, "BPRS positive", "B", True, _whole(4, 28, "BPRS positive total"), (4, 28), "{score}",
                    ("bprs-positive", "BPRS positive subscale"), None, False, _score),
    ObservationKind(Kind.NOTE, "Note", "n", False, None, None, "",
                    ("note", "Nursing note"), None, True, _free_text, sentence="{label}: {phrase}"),
    ObservationKind(Kind.INTERVENTION, "Intervention", "Rx", False, None, None, "",
                    ("intervention", "Intervention given"), None, True, _intervention, sentence="{label}: {phrase}"),
    ObservationKind(Kind.MANUAL_VITALS, "Manual vitals", None, False, None, None, "",
                    None, None, True, _manual_vitals, sentence="{label}: {phrase}"),
    ObservationKind(Kind.PRECHECK, "Pre-check", None, False, None, None, "",
                    None, None, False, _precheck, sentence="{label} - {phrase}"),
    ObservationKind(Kind.WASTE, "Waste", None, False, None, None, "",
                    None, None, False, _waste),
    _record_kind(RecordKind.REMS_SUBMITTED, "REMS form submitted"),
    _record_kind(RecordKind.CS_ORDER, "Order"),
    _record_kind(RecordKind.CS_PRODUCT, "Product"),
    _record_kind(RecordKind.CS_RECONCILE, "Vial reconciliation"),
    _record_kind(RecordKind.HANDOUT_GIVEN, "Discharge instructions given"),
    _record_kind(RecordKind.REMS_ENROLMENT, "REMS enrolment id"),
    _record_kind(RecordKind.CLINIC_SETTINGS, "Clinic settings"),
)}

# Local concepts the charted observations carry besides their own (FHIR components).
EXTRA_CONCEPTS = (("vomiting", "Vomiting (yes/no)"), ("phq9-item9", "PHQ-9 item 9 (thoughts of self-harm)"))


def kind_of(code: str) -> ObservationKind | None:
    return OBSERVATION_KINDS.get(code)


@dataclass(frozen=True)
class ObservationText:
    """One charted version in words: ``label`` (the kind), ``phrase`` (what was charted), ``flag`` (show it
    highlighted: PHQ-9 item 9), ``sentence`` (label and phrase as one line)."""

    label: str
    phrase: str
    flag: bool
    sentence: str


def describe(kind: str, value: float | None, text: str | None, data: dict | None) -> ObservationText:
    """How one observation version reads, on screen, on paper and in the exports alike."""
    k = OBSERVATION_KINDS.get(kind)
    if k is None:
        phrase = text or ("" if value is None else _g(value))
        return ObservationText(kind, phrase, False, f"{kind} {phrase}".strip())
    phrase, flag = k.words(value, text, data or {})
    return ObservationText(k.label, phrase, flag, k.sentence.format(label=k.label, phrase=phrase).strip())


def plot_mark(kind: str, value: float | None) -> str | None:
    """The short mark of an observation on the plot ("D3", "Rx"), or None when it has none."""
    k = OBSERVATION_KINDS.get(kind)
    if k is None or k.mark is None:
        return None
    if k.mark_with_value:
        return None if value is None else f"{k.mark}{value:g}"
    return k.mark


AMENDABLE_KINDS = frozenset(k.code for k in OBSERVATION_KINDS.values() if k.amendable)
SCORE_KINDS = frozenset(k.code for k in OBSERVATION_KINDS.values() if k.unit == "{score}")


# --- session events ---------------------------------------------------------------------------------

EVENT_LABELS = {
    SessionEvent.CHECK_IN: "Checked in",
    SessionEvent.START_INFUSION: "Infusion STARTED",
    SessionEvent.PAUSE: "Infusion PAUSED",
    SessionEvent.RESUME: "Infusion resumed",
    SessionEvent.STOP_INFUSION: "Infusion STOPPED",
    SessionEvent.DISCHARGE: "DISCHARGED",
    SessionEvent.ABORT: "Session ENDED (aborted)",
}
# Intranasal esketamine is administered, not infused.
EVENT_LABELS_IN = {
    **EVENT_LABELS,
    SessionEvent.START_INFUSION: "Administration STARTED",
    SessionEvent.STOP_INFUSION: "Administration complete",
}


def event_label(event: str | SessionEvent, route: str = "IV") -> str:
    try:
        ev = SessionEvent(event)
    except ValueError:
        return str(event)
    return (EVENT_LABELS_IN if route == "IN" else EVENT_LABELS)[ev]


def event_text(event: str | SessionEvent, data: dict | None, route: str = "IV") -> str:
    """A session event as one line: label, the rate or volume it carried, the reason given."""
    data = data or {}
    text = event_label(event, route)
    if data.get("rate_ml_per_h"):
        text += f" at {data['rate_ml_per_h']:g} mL/h"
    if data.get("volume_ml") and data.get("delivered_mg") is None:
        text += f", {data['volume_ml']:g} mL given"
    if "completed" in data:
        text += " (completed)" if data["completed"] else " EARLY"
    if data.get("delivered_mg") is not None:
        text += f", {data['delivered_mg']:g} mg delivered ({data.get('delivered_ml', 0):g} mL"
        text += {"pump": ", pump", "typed": ", typed", "ordered": ""}.get(data.get("delivered_source", ""), "") + ")"
    if data.get("reason"):
        text += f" - {data['reason']}"
    return text


def rate_change_text(rate_ml_per_h: float, reason: str | None) -> str:
    return f"Rate changed to {rate_ml_per_h:g} mL/h" + (f" - {reason}" if reason else "")


TABLE_LABELS = {
    "dose_administrations": "Dose administration",
    "observations": "Observation",
    "checklists": "Checklist",
    "rate_changes": "Rate change",
    "session_events": "Session event",
    "alerts": "Alert",
}


# --- routes and drugs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteWords:
    """How a session's route reads on paper and in FHIR."""

    title: str  # summary title and FHIR encounter type: "<title> session"
    session: str  # the session's route in words
    dose_route: str  # the dose's route in words
    procedure: str  # what was done, for the FHIR Procedure
    snomed: tuple[str, str]  # SNOMED CT route of administration (code, display)


ROUTES = {
    "IV": RouteWords("Ketamine infusion", "IV ketamine infusion", "Intravenous infusion",
                     "IV ketamine infusion with monitoring", ("47625008", "Intravenous route")),
    "IN": RouteWords("Esketamine (Spravato) intranasal", "Intranasal esketamine (Spravato)", "Intranasal",
                     "Intranasal esketamine administration with monitoring", ("46713006", "Nasal route")),
}
DRUG_LABELS = {"ketamine": "Ketamine (Schedule III)", "esketamine": "Esketamine - Spravato (Schedule III)"}


def route_words(route: str) -> RouteWords:
    return ROUTES.get(route, ROUTES["IV"])


def drug_of(route: str) -> str:
    """The drug a route gives: IV ketamine, intranasal esketamine."""
    return "esketamine" if route == "IN" else "ketamine"


def dose_words(route: str, dose_mg: float) -> str:
    """A dose as a nurse says it: "ketamine IV 40 mg", "esketamine (Spravato) intranasal 84 mg (3 devices)"."""
    if route == "IN":
        return f"esketamine (Spravato) intranasal {dose_mg:g} mg ({int(dose_mg // 28)} devices)"
    return f"ketamine IV {dose_mg:g} mg"

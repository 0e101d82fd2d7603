"""A session as a FHIR R4 transaction Bundle (pure: dicts in, dicts out; no Qt, no network).

What is in it (CLINICAL.md section 6):

- ``Patient``, ``Encounter`` (class AMB, the session's period), ``Procedure`` (the chair session).
- ``MedicationAdministration``: one *parent* for the dose as ordered and given (effectivePeriod from the start
  of administration to the stop; dosage route, total dose and the starting rate; lot in a contained
  Medication's batch; waste and the pump-reported volume in notes). **Rate changes**: each running segment of
  an IV infusion (from the start, from every rate change, from every resume after a pause) is a *child*
  MedicationAdministration ``partOf`` the parent, with its own effectivePeriod and ``dosage.rateQuantity``
  and the reason for the change in ``note``; a pause is the gap between two children.
- ``Observation`` in the vital-signs profile for every stored reading that has a LOINC code (HR, pulse rate,
  SpO2, RR, temperature, weight; ETCO2 as a ``procedure`` observation), coded with LOINC and IEEE 11073 MDC
  (``urn:iso:std:iso:11073:10101``), UCUM units; non-invasive BP as one 85354-9 panel per measurement with
  systolic/diastolic (and mean) components. **Every stored reading is exported, not a downsampled series**:
  the export is a copy of the record, and a receiver that wants less can aggregate; a 4-hour session is
  about 30,000 Observations. A reading that is not usable by the one validity rule
  (:func:`ketachart.domain.vitals.usable_value`: invalid, sensor off, artefact ...) carries
  ``dataAbsentReason`` and its flags, and any number the device sent stays readable in its note: a receiver
  never plots a value the chart itself leaves out. NIBP values are grouped into panels by the same 5 s rule
  as the screen and the summary. Pump readings (rate, volume infused) have no LOINC code: they are not exported as
  Observations; the last pump-reported volume is a note on the MedicationAdministration.
- Charted scales (dissociation, nausea, MOAA/S sedation, CADSS-6, BPRS) as ``survey`` Observations coded in
  the local CodeSystem :data:`LOCAL_CODESYSTEM` (included in the bundle); PHQ-9 total also coded LOINC
  44261-6. Notes and interventions as local-coded observations with a string value. Manual vitals as
  vital-signs Observations (method: manual). Each charted observation carries, as its narrative, the line the
  chair screen shows for it (:func:`ketachart.domain.vocabulary.describe`).

Ids are the record ids (UUIDv7, 36 characters, valid FHIR ids): for an amended entry, the id of its first
version, so a correction updates the same resource (status ``amended``). Derived resources add a short
suffix (``-bp``, ``-proc`` ...). Entries are ``PUT Type/id``: exporting again updates, never duplicates.

For an EHR to take it as it is (issue 18): every entry has a ``fullUrl`` (``urn:uuid:``) and references name
those. The ``Patient`` is a conditional update by the MRN in the clinic's MRN system (:class:`FhirOptions`,
from :class:`~ketachart.report.settings.ReportSettings`; no system, no export), so the EHR's own patient is
updated, never a copy made. Staff are ``Practitioner`` entries (conditional update by staff id) referenced
from performers, and each signature is a ``Provenance`` (ASTM E1762 signature type) on what was signed.
``max_entries`` splits into standalone bundles (:func:`build_bundles`); ``vitals="per-minute"`` sends one
Observation per parameter per minute (:func:`_minute_observations`). A dose not yet given is not exported.
"""

from __future__ import annotations

import copy
import json
import re
import statistics
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html import escape
from urllib.parse import quote

from ..domain.administration import end_text
from ..domain.codes import BP_PANEL_LOINC, BP_PANEL_MDC, Parameter
from ..domain.errors import ClinicalInputError
from ..domain.session import SessionEvent
from ..domain.vitals import NIBP_PARTS, group_nibp, running_spans
from ..domain.vocabulary import (
    EXTRA_CONCEPTS,
    MANUAL_VITAL_PARTS,
    OBSERVATION_KINDS,
    ROUTES,
    Kind,
    describe,
    route_words,
)
from ..store.readmodels import StoredReading, session_record
from ..store.records import order_of, order_text
from ..store.repository import SYSTEM_AUTHOR, ChartStore
from ..store.views import Entry, SessionView, session_view
from .settings import ReportSettings

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
VITAL_SIGNS_PROFILE = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
BP_PROFILE = "http://hl7.org/fhir/StructureDefinition/bp"
LOCAL_CODESYSTEM = "https://ketachart.org/fhir/CodeSystem/session-observations"
LOCAL_CODESYSTEM_ID = "ketachart-session-observations"
MRN_SYSTEM = "urn:ketachart:mrn"  # the old placeholder: refused as a clinic's MRN system (it names no clinic)
URI_SYSTEM = "urn:ietf:rfc:3986"  # identifier whose value is the resource's own URN (globally unique record ids)
PROVENANCE_AGENT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
ASTM_SIGNATURE = "urn:iso-astm:E1762-95:2013"
# signature meaning -> (ASTM E1762 signature type, display, provenance agent role)
SIGNATURE_TYPES = {
    "performed": ("1.2.840.10065.1.12.1.1", "Author's Signature", "author"),
    "reviewed": ("1.2.840.10065.1.12.1.5", "Verification Signature", "verifier"),
    "witnessed": ("1.2.840.10065.1.12.1.9", "Event Witness Signature", "attester"),
}
MINUTE_CONCEPTS = (("minute-minimum", "Lowest usable reading in the minute"),
                   ("minute-maximum", "Highest usable reading in the minute"))
VITALS_MODES = ("all", "per-minute")
_NS = uuid.UUID("6b1c5f0e-3d0a-5b8e-9c57-6b6574616368")  # KetaChart's namespace for derived resource URNs
_ABSOLUTE_URI = re.compile(r"^(https?://[^\s/|]+(/[^\s|]*)?|urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:[^\s|]+)$")


# Vital-signs profile codes: SpO2 needs 2708-6 besides the pulse-oximetry 59408-5.
EXTRA_LOINC = {Parameter.SPO2: [("2708-6", "Oxygen saturation in Arterial blood")]}
VITAL_SIGNS = {Parameter.HR, Parameter.PR, Parameter.SPO2, Parameter.RR, Parameter.TEMP, Parameter.WEIGHT}
# Charted kinds exported as local-coded Observations (pre-checks and waste live on the MedicationAdministration).
LOCAL_CONCEPTS = {code: k.concept for code, k in OBSERVATION_KINDS.items() if k.concept}
XHTML = "http://www.w3.org/1999/xhtml"


def _iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _quantity(value: float, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _codings(param: Parameter) -> list[dict]:
    out = []
    for code, display in EXTRA_LOINC.get(param, []):
        out.append({"system": LOINC, "code": code, "display": display})
    if param.loinc:
        out.append({"system": LOINC, "code": param.loinc, "display": param.label})
    if param.mdc:
        out.append({"system": MDC, "code": str(param.mdc), "display": param.info.mdc_ref})
    return out


def _category(code: str) -> list[dict]:
    return [{"coding": [{"system": OBS_CATEGORY, "code": code}]}]


def _entry(resource: dict) -> dict:
    """A ``PUT Type/id`` entry; its ``fullUrl`` is the urn:uuid every reference in the bundle uses."""
    return {"fullUrl": full_url(resource["resourceType"], resource["id"]), "resource": resource,
            "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}}


def full_url(kind: str, rid: str) -> str:
    """``urn:uuid:`` of the record id when it is a UUID (the chart's ids are), else a stable UUIDv5 of it."""
    try:
        return f"urn:uuid:{uuid.UUID(rid)}" if len(rid) == 36 else f"urn:uuid:{uuid.uuid5(_NS, f'{kind}/{rid}')}"
    except ValueError:
        return f"urn:uuid:{uuid.uuid5(_NS, f'{kind}/{rid}')}"


def _search(system: str, value: str) -> str:
    return f"identifier={quote(system, safe=':/')}|{quote(value, safe='')}"


def _origin_id(entry: Entry) -> str:
    return entry.history[0]["id"] if entry.history else entry.row["id"]


def _absent(flags: str, value: float | None = None, unit: str = "") -> dict:
    """Why a reading has no usable number; a number the device sent anyway (an artefact) stays in the text."""
    names = {f for f in (flags or "").split(",") if f}
    code = "not-performed" if names & {"sensor-off", "unavailable", "calibrating"} else "error"
    text = "device flags: " + (", ".join(sorted(names)) or "none")
    if value is not None:
        text += f"; device value {value:g} {unit}".rstrip()
    return {"coding": [{"system": DATA_ABSENT, "code": code}], "text": text}


def _narrative(sentence: str) -> dict:
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{escape(sentence)}</div>'}


class ExportRefused(ClinicalInputError):
    """An export the receiving EHR could not take as it is (e.g. the clinic's MRN system is not set)."""


@dataclass(frozen=True)
class FhirOptions:
    """What the receiving EHR needs: how it names MRNs and staff, how dense vitals may be, how big a bundle."""

    mrn_system: str
    staff_system: str = ""
    vitals: str = "all"  # "all" (every stored reading) or "per-minute" (median and range per parameter)
    max_entries: int | None = None  # split into several standalone transaction bundles of at most this many

    @classmethod
    def resolve(cls, store: ChartStore | None = None, settings: ReportSettings | None = None, **kw) -> "FhirOptions":
        """From the clinic settings (:class:`ReportSettings`); refuses what an EHR could not match patients by."""
        settings = settings or ReportSettings.resolve(store)
        system = (settings.mrn_system or "").strip()
        if not system:
            raise ExportRefused(
                "the clinic's MRN system is not set, so the EHR could not match the patient: an admin sets it "
                "(clinic setting mrn_system, or KETACHART_MRN_SYSTEM), e.g. the URI the EHR uses "
                "for this clinic's medical record numbers")
        for name, value in (("MRN system", system), ("staff system", settings.staff_system or "")):
            if value and (value == MRN_SYSTEM or not _ABSOLUTE_URI.match(value)):
                raise ExportRefused(f"the clinic's {name} {value!r} is not an absolute URI of the clinic's own "
                                    "(http(s)://... or urn:...); ask an admin to correct it")
        staff = (settings.staff_system or "").strip() or (
            system.rstrip("/") + "/staff" if system.startswith(("http://", "https://")) else system + ":staff")
        vitals = kw.get("vitals") or "all"
        if vitals not in VITALS_MODES:
            raise ExportRefused(f"--vitals must be one of {', '.join(VITALS_MODES)}")
        max_entries = kw.get("max_entries")
        if max_entries is not None and int(max_entries) < 1:
            raise ExportRefused("--max-entries must be a positive number")
        return cls(system, staff, vitals, int(max_entries) if max_entries is not None else None)


def build_bundle(store: ChartStore, session_id: str, *, view: SessionView | None = None,
                 readings: list[StoredReading] | None = None, options: FhirOptions | None = None) -> dict:
    """The transaction Bundle for one session, as a JSON-ready dict (one bundle, whatever ``max_entries``)."""
    options = options or FhirOptions.resolve(store)
    bundles = build_bundles(store, session_id, view=view, readings=readings,
                            options=FhirOptions(options.mrn_system, options.staff_system, options.vitals, None))
    return bundles[0]


def build_bundles(store: ChartStore, session_id: str, *, view: SessionView | None = None,
                  readings: list[StoredReading] | None = None, options: FhirOptions | None = None) -> list[dict]:
    """The session as transaction bundles of at most ``options.max_entries`` entries, each standing alone.

    Every bundle repeats the context its entries reference (the local CodeSystem, the Patient as a conditional
    update by MRN, the staff as Practitioners by staff id, the Encounter): a receiver may load them in any order
    or load one again. A reference to an entry that went into another bundle becomes a conditional reference by
    that entry's identifier (``Type?identifier=system|value``).
    """
    options = options or FhirOptions.resolve(store)
    view = view or session_view(store, session_id)
    readings = readings if readings is not None else session_record(store, session_id).readings
    context, content = _resources(store, session_id, view, readings, options)
    _identify_referenced(context + content)
    if options.max_entries is None:
        chunks = [content]
    else:
        room = options.max_entries - len(context)
        if room < 1:
            raise ExportRefused(f"--max-entries {options.max_entries} leaves no room: every bundle of this session "
                                f"repeats {len(context)} context entries (patient, staff, encounter); use at least "
                                f"{len(context) + 1}")
        chunks = [content[i:i + room] for i in range(0, len(content), room)] or [[]]
    conditional = {e["fullUrl"]: _conditional_ref(e["resource"]) for e in context + content}
    return [_standalone(context + chunk, conditional) for chunk in chunks]


def _conditional_ref(resource: dict) -> str | None:
    ident = (resource.get("identifier") or [None])[0]
    if not ident:
        return None
    return f"{resource['resourceType']}?{_search(ident['system'], ident['value'])}"


def _references(node):
    """Every ``{"reference": ...}`` dict inside a resource (contained ``#`` references excluded)."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str) and not node["reference"].startswith("#"):
            yield node
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def _identify_referenced(entries: list[dict]) -> None:
    """Give every entry something references to it can name when it lands in another bundle: the
    resource's own URN as an RFC 3986 identifier (the Patient and the staff have theirs: MRN, staff id)."""
    referenced = {ref["reference"] for e in entries for ref in _references(e["resource"])}
    for e in entries:
        if e["fullUrl"] in referenced and not e["resource"].get("identifier"):
            e["resource"]["identifier"] = [{"system": URI_SYSTEM, "value": e["fullUrl"]}]


def _standalone(entries: list[dict], conditional: dict[str, str | None]) -> dict:
    entries = copy.deepcopy(entries)
    here = {e["fullUrl"] for e in entries}
    for e in entries:
        for ref in _references(e["resource"]):
            if ref["reference"].startswith("urn:uuid:") and ref["reference"] not in here:
                target = conditional.get(ref["reference"])
                if target is None:
                    raise AssertionError(f"reference {ref['reference']} has no identifier to resolve it by")
                ref["reference"] = target
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _practitioner_entry(user_id: str, name: str, options: FhirOptions) -> dict:
    resource = {"resourceType": "Practitioner",
                "identifier": [{"system": options.staff_system, "value": user_id}],
                "name": [{"text": name}]}
    url = f"urn:uuid:{uuid.uuid5(_NS, f'Practitioner|{options.staff_system}|{user_id}')}"
    return {"fullUrl": url, "resource": resource,
            "request": {"method": "PUT", "url": f"Practitioner?{_search(options.staff_system, user_id)}"}}


def _resources(store: ChartStore, session_id: str, view: SessionView, readings: list[StoredReading],
               options: FhirOptions) -> tuple[list[dict], list[dict]]:
    """(context entries every bundle repeats, content entries) of one session."""
    p = view.patient
    patient_key = f"Patient|{options.mrn_system}|{p['mrn']}"
    patient_url = f"urn:uuid:{uuid.uuid5(_NS, patient_key)}"
    subject = {"reference": patient_url}
    encounter_url = full_url("Encounter", session_id)
    encounter = {"reference": encounter_url}
    users = {u["user_id"]: u["display_name"] for u in store.users()}
    staff: dict[str, dict] = {}

    def who(user_id: str | None) -> dict | None:
        """A reference to the staff member's Practitioner (None for the system and devices)."""
        if not user_id or user_id == SYSTEM_AUTHOR:
            return None
        if user_id not in staff:
            staff[user_id] = _practitioner_entry(user_id, users.get(user_id, user_id), options)
        return {"reference": staff[user_id]["fullUrl"], "display": users.get(user_id, user_id)}

    codesystem = _entry({
        "resourceType": "CodeSystem", "id": LOCAL_CODESYSTEM_ID, "url": LOCAL_CODESYSTEM,
        "name": "KetaChartSessionObservations", "title": "KetaChart chair-side observations",
        "status": "active", "content": "complete",
        "concept": [{"code": c, "display": d}
                    for c, d in list(LOCAL_CONCEPTS.values()) + list(EXTRA_CONCEPTS) + list(MINUTE_CONCEPTS)],
    })
    patient = {
        "fullUrl": patient_url,
        "resource": {
            "resourceType": "Patient",
            "identifier": [{"use": "usual", "system": options.mrn_system, "value": p["mrn"]}],
            "name": [{"family": p["family_name"], "given": [p["given_name"]] if p["given_name"] else []}],
            "gender": p["sex"] if p["sex"] in ("male", "female", "other", "unknown") else "unknown",
            "birthDate": p["birth_date"],
        },
        "request": {"method": "PUT", "url": f"Patient?{_search(options.mrn_system, p['mrn'])}"},
    }

    final = view.state.is_final
    started = view.infusion_started_at or (view.dose.row["effective_at"] if view.dose else None)
    stopped = view.infusion_stopped_at
    ended = view.event_time(SessionEvent.DISCHARGE) or view.event_time(SessionEvent.ABORT)
    aborted = view.event_time(SessionEvent.ABORT) is not None
    arrived = view.event_time(SessionEvent.CHECK_IN) or view.session["effective_at"]
    period = {"start": _iso(arrived)}
    if ended:
        period["end"] = _iso(ended)
    enc = _entry({
        "resourceType": "Encounter", "id": session_id,
        "identifier": [{"system": URI_SYSTEM, "value": f"urn:uuid:{session_id}"}],
        "status": ("cancelled" if aborted else "finished") if final else (
            "planned" if view.event_time(SessionEvent.CHECK_IN) is None else "in-progress"),
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "subject": subject, "period": period,
        "type": [{"text": f"{route_words(view.session['route']).title} session"}],
    })
    content: list[dict] = [_entry({
        "resourceType": "Procedure", "id": f"{session_id}-proc",
        "status": ("stopped" if aborted else "completed") if final else (
            "preparation" if view.state.value in ("planned", "checked-in") else "in-progress"),
        "code": {"text": route_words(view.session["route"]).procedure},
        "subject": subject, "encounter": encounter, "performedPeriod": period,
    })]
    signed: dict[str, list[str]] = {}  # any version id of a signed row -> fullUrls of what it became

    def mark(entry_obj: Entry | None, urls: list[str]) -> None:
        if entry_obj is not None and urls:
            for version in [*entry_obj.history, entry_obj.row]:
                signed.setdefault(version["id"], []).extend(urls)

    if view.dose:
        meds = _medication(view, users, subject, encounter, started, stopped, readings, final, who,
                           order_text(order_of(store, session_id)))
        content += meds
        mark(view.dose, [meds[0]["fullUrl"]])
        for waste in view.observations_of(Kind.WASTE):
            mark(waste, [meds[0]["fullUrl"]])
        for rc in view.rate_changes:
            mark(rc, [meds[0]["fullUrl"]])

    if options.vitals == "per-minute":
        content += _minute_observations(session_id, readings, subject, encounter, final)
    else:
        content += _vital_observations(readings, subject, encounter, final)
    charted = _charted_observations(view, subject, encounter, users, who)
    for o in view.observations:
        mark(o, [e["fullUrl"] for e in charted if e["resource"]["id"].startswith(_origin_id(o))])
    content += charted
    for c in view.checklists:
        mark(c, [encounter_url])  # the discharge and pre-session checks are signed for the whole encounter
    content += _provenances(view, signed, who)
    context = [codesystem, patient, *staff.values(), enc]
    return context, content


def _provenances(view: SessionView, signed: dict[str, list[str]], who) -> list[dict]:
    """One Provenance per signature: who signed what, when, and in what role (ASTM E1762 signature types)."""
    out = []
    for sig in view.signatures:
        targets = signed.get(sig["target_id"])
        signer = who(sig["user_id"])
        if not targets or signer is None:
            continue
        code, display, agent_role = SIGNATURE_TYPES.get(sig["meaning"], SIGNATURE_TYPES["performed"])
        out.append(_entry({
            "resourceType": "Provenance", "id": sig["id"],
            "target": [{"reference": t} for t in dict.fromkeys(targets)],
            "recorded": _iso(sig["recorded_at"]).replace("Z", "+00:00"),
            "agent": [{"type": {"coding": [{"system": PROVENANCE_AGENT, "code": agent_role}]}, "who": signer}],
            "signature": [{"type": [{"system": ASTM_SIGNATURE, "code": code, "display": display}],
                           "when": _iso(sig["effective_at"]).replace("Z", "+00:00"), "who": signer}],
        }))
    return out


def _medication(view, users, subject, encounter, started, stopped, readings, final, who, order: str = "") -> list[dict]:
    d = view.dose.row
    ma_id = _origin_id(view.dose)
    route_code, route_display = ROUTES[d["route"]].snomed if d["route"] in ROUTES else ("", d["route"])
    strength = f" {d['concentration_mg_per_ml']:g} mg/mL" if d.get("concentration_mg_per_ml") else ""
    medication = {"resourceType": "Medication", "id": "med", "code": {"text": f"{d['drug']}{strength}"}}
    if d.get("lot"):
        medication["batch"] = {"lotNumber": d["lot"]}
    dosage = {
        "route": {"coding": [{"system": SNOMED, "code": route_code, "display": route_display}], "text": d["route"]},
        "dose": _quantity(d["dose_mg"], "mg"),
    }
    if d.get("rate_ml_per_h"):
        dosage["rateQuantity"] = _quantity(d["rate_ml_per_h"], "mL/h")
    notes = [f"prescriber's order: {order}"] if order else []  # the words the summary and the cs-log print
    if d.get("mg_per_kg"):
        notes.append(f"{d['mg_per_kg']:g} mg/kg x {d['weight_kg']:g} kg; volume {d['volume_ml']:g} mL over {d['minutes']} min")
    for w in view.observations_of(Kind.WASTE):
        data = w.data
        notes.append(f"waste {data.get('amount_mg', w.row['value'])} mg, {data.get('method', '')}, witness "
                     f"{users.get(data.get('witness'), data.get('witness') or 'none')}")
    pump = [r for r in readings if r.parameter == Parameter.PUMP_VI.value and r.usable is not None]
    if pump:
        notes.append(f"pump-reported volume infused {pump[-1].usable:g} mL at {_iso(pump[-1].at)}")
    end, balance = view.administration_end, view.balance()
    if end is not None and end.delivered_mg is not None:
        notes.append(end_text(end, d["dose_mg"]) + (f" - {end.reason}" if end.reason else ""))
        notes.append(balance.text())
        dosage["dose"] = _quantity(end.delivered_mg, "mg")  # what was given; the ordered amount is in the note
    if view.dose.amended:
        notes.append(f"amended: {d.get('reason') or ''}")
    began = view.infusion_started_at  # administration (IV infusion or first IN device) really started
    aborted_at = view.event_time(SessionEvent.ABORT)
    if began is None and aborted_at is None:
        return []  # prepared, not given yet: nothing administered to tell the EHR (the summary shows the plan)
    effective = {"start": _iso(started)} if started else {"start": _iso(d["effective_at"])}
    if stopped or aborted_at:
        effective["end"] = _iso(stopped or aborted_at)
    if began is None:
        status = "not-done"  # the session ended before the dose was given
    elif stopped:
        status = "stopped" if end is not None and not end.completed else "completed"  # an early stop
    elif aborted_at:
        status = "stopped"
    else:
        status = "on-hold" if view.state.value == "paused" else "in-progress"
    performers = []
    for user_id in dict.fromkeys(u for u in (d["author"], d.get("prepared_by")) if u):
        actor = who(user_id)
        if actor is not None:
            performers.append({"actor": actor})
    parent = {
        "resourceType": "MedicationAdministration", "id": ma_id, "contained": [medication],
        "status": status,
        "medicationReference": {"reference": "#med"},
        "subject": subject, "context": encounter,
        "effectivePeriod": effective,
        "performer": performers,
        "dosage": dosage,
    }
    if status == "not-done":
        parent["statusReason"] = [{"text": "session ended before the dose was given"}]
    if notes:
        parent["note"] = [{"text": n} for n in notes]
    if not performers:
        del parent["performer"]
    out = [_entry(parent)]
    if d["route"] != "IV":
        return out
    # running segments: each running span of the infusion (the one rule), split at every rate change
    segments = []
    events_at = {(e["effective_at"], e["event"]): e for e in view.events}
    rate = d.get("rate_ml_per_h")
    start_event = events_at.get((started, SessionEvent.START_INFUSION.value)) if started else None
    if start_event:
        rate = start_event["details"].get("rate_ml_per_h", rate)
    changes = [(rc.row["effective_at"], rc) for rc in view.rate_changes]
    for span in running_spans(view.infusion_spans()):
        for at, rc in changes:  # rate changes while paused set the rate the infusion resumes at
            if at < span.start:
                rate = rc.row["rate_ml_per_h"]
        opener = events_at.get((span.start, SessionEvent.START_INFUSION.value))
        if opener is not None:
            seg = {"id": opener["id"], "start": span.start, "rate": rate, "note": "start of infusion"}
        else:
            opener = events_at.get((span.start, SessionEvent.RESUME.value)) or {"id": f"{ma_id}-{len(segments)}"}
            seg = {"id": opener["id"], "start": span.start, "rate": rate, "note": "resumed after pause"}
        for at, rc in changes:
            if span.start <= at and (span.end is None or at < span.end):
                segments.append({**seg, "end": at})
                rate = rc.row["rate_ml_per_h"]
                seg = {"id": _origin_id(rc), "start": at, "rate": rate, "note": rc.original_reason}
        pause = events_at.get((span.end, SessionEvent.PAUSE.value)) if span.end else None
        if pause is not None:
            seg["note"] += f"; paused: {pause['details'].get('reason', '')}"
        segments.append({**seg, "end": span.end})
        changes = [(at, rc) for at, rc in changes if span.end is not None and at >= span.end]
    for seg in segments:
        period = {"start": _iso(seg["start"])}
        if seg["end"]:
            period["end"] = _iso(seg["end"])
        child = {
            "resourceType": "MedicationAdministration", "id": f"{seg['id']}-rate",
            "status": ("stopped" if seg["end"] == aborted_at else "completed") if seg["end"] else status,
            "medicationReference": {"reference": "#med"}, "contained": [medication],
            "partOf": [{"reference": full_url("MedicationAdministration", ma_id)}],
            "subject": subject, "context": encounter, "effectivePeriod": period,
            "dosage": {"route": dosage["route"], "rateQuantity": _quantity(seg["rate"], "mL/h")},
        }
        if seg["note"]:
            child["note"] = [{"text": seg["note"]}]
        out.append(_entry(child))
    return out


def _vital_obs(oid: str, param: Parameter, when: datetime, subject, encounter, status: str) -> dict:
    vital = param in VITAL_SIGNS
    return {
        "resourceType": "Observation", "id": oid,
        "meta": {"profile": [VITAL_SIGNS_PROFILE]} if vital else {},
        "status": status,
        "category": _category("vital-signs" if vital else "procedure"),
        "code": {"coding": _codings(param), "text": param.label},
        "subject": subject, "encounter": encounter, "effectiveDateTime": _iso(when),
    }


def _bp_obs(oid: str, when: datetime, parts: dict[str, tuple], subject, encounter, status: str) -> dict:
    """One NIBP panel; ``parts``: {"sys"|"dia"|"mean": (usable value or None, flags[, device value])}."""
    obs = {
        "resourceType": "Observation", "id": oid,
        "meta": {"profile": [VITAL_SIGNS_PROFILE, BP_PROFILE]},
        "status": status, "category": _category("vital-signs"),
        "code": {"coding": [{"system": LOINC, "code": BP_PANEL_LOINC, "display": "Blood pressure panel"},
                            {"system": MDC, "code": str(BP_PANEL_MDC), "display": "MDC_PRESS_BLD_NONINV"}],
                 "text": "Non-invasive blood pressure"},
        "subject": subject, "encounter": encounter, "effectiveDateTime": _iso(when), "component": [],
    }
    for param, key in NIBP_PARTS.items():
        if key not in parts:
            if key == "mean":
                continue
            comp = {"code": {"coding": _codings(param)}, "dataAbsentReason": {"coding": [
                {"system": DATA_ABSENT, "code": "unknown"}]}}
        else:
            value, flags, *sent = parts[key]
            comp = {"code": {"coding": _codings(param), "text": param.label}}
            if value is None:
                comp["dataAbsentReason"] = _absent(flags, sent[0] if sent else None, param.unit)
            else:
                comp["valueQuantity"] = _quantity(value, param.unit)
        obs["component"].append(comp)
    return obs


def _vital_observations(readings: list[StoredReading], subject, encounter, final: bool) -> list[dict]:
    out = []
    for r in readings:
        param = r.param
        if param is None or param in NIBP_PARTS:
            continue
        if not param.loinc:
            continue  # pump and other uncoded device values: see the module docstring
        obs = _vital_obs(r.id, param, r.at, subject, encounter, "final")
        if r.usable is None:
            obs["dataAbsentReason"] = _absent(r.flags, r.value, param.unit)
        else:
            obs["valueQuantity"] = _quantity(r.usable, param.unit)
        notes = [f"source {r.source}"]
        if r.flags:
            notes.append(f"flags {r.flags}")
        obs["note"] = [{"text": "; ".join(notes)}]
        if not obs["meta"]:
            del obs["meta"]
        out.append(_entry(obs))
    nibp = (r for r in readings if r.parameter.startswith("NIBP_") and r.param is not None)
    return out + _nibp_panels(nibp, subject, encounter)


def _nibp_panels(nibp, subject, encounter) -> list[dict]:
    out = []
    for g in group_nibp(nibp, at=lambda r: r.at, parameter=lambda r: r.param):
        parts = {key: (r.usable, r.flags, r.value) for key, r in g["parts"].items()}
        first = g["parts"].get("sys") or next(iter(g["parts"].values()))
        obs = _bp_obs(first.id, g["at"], parts, subject, encounter, "final")
        obs["note"] = [{"text": f"source {first.source}"}]
        out.append(_entry(obs))
    return out


def minute_of(at: datetime) -> datetime:
    at = at.astimezone(timezone.utc)
    return at.replace(second=0, microsecond=0)


def _minute_observations(session_id: str, readings: list[StoredReading], subject, encounter,
                         final: bool) -> list[dict]:
    """``--vitals per-minute``: one Observation per coded parameter per clock minute (UTC) for EHRs that refuse
    1 Hz data: the median of the minute's usable readings (the one validity rule) as the value, the lowest and
    highest as components, the count in the note. NIBP stays one panel per measurement (it is not continuous).
    A minute with readings but none usable carries ``dataAbsentReason``. Ids are stable (session, parameter,
    minute): exporting again, even mid-session, updates the same minute."""
    groups: dict[tuple[Parameter, datetime], list[StoredReading]] = {}
    for r in readings:
        param = r.param
        if param is None or param in NIBP_PARTS or not param.loinc:
            continue
        groups.setdefault((param, minute_of(r.at)), []).append(r)
    last = max((r.at for r in readings), default=None)
    out = []
    for (param, minute), group in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0].value)):
        oid = f"{session_id}-{param.value.lower().replace('_', '-')}-{minute:%Y%m%d%H%M}"
        end = minute + timedelta(minutes=1)
        # the minute still being charted is preliminary until the session ends or the minute is over
        status = "preliminary" if (not final and last is not None and last < end) else "final"
        obs = _vital_obs(oid, param, minute, subject, encounter, status)
        del obs["effectiveDateTime"]
        obs["effectivePeriod"] = {"start": _iso(minute), "end": _iso(end)}
        usable = [r.usable for r in group if r.usable is not None]
        sources = sorted({r.source for r in group})
        note = f"median of {len(usable)} usable of {len(group)} readings in the minute; source {', '.join(sources)}"
        if usable:
            obs["valueQuantity"] = _quantity(_round(statistics.median(usable)), param.unit)
            obs["component"] = [
                {"code": {"coding": [{"system": LOCAL_CODESYSTEM, "code": code, "display": display}],
                          "text": display},
                 "valueQuantity": _quantity(value, param.unit)}
                for (code, display), value in zip(MINUTE_CONCEPTS, (min(usable), max(usable)))]
        else:
            flags = ",".join(sorted({f for r in group for f in r.flags.split(",") if f}))
            obs["dataAbsentReason"] = _absent(flags)
        obs["method"] = {"text": "median of the minute's device readings"}
        obs["note"] = [{"text": note}]
        if not obs["meta"]:
            del obs["meta"]
        out.append(_entry(obs))
    nibp = (r for r in readings if r.parameter.startswith("NIBP_") and r.param is not None)
    out += _nibp_panels(nibp, subject, encounter)
    return out


def _round(value: float) -> float:
    return round(float(value), 2)


def _charted_observations(view: SessionView, subject, encounter, users, who) -> list[dict]:
    out = []
    for o in view.observations:
        row, kind = o.row, o.row["kind"]
        oid = _origin_id(o)
        status = "amended" if o.amended else "final"
        notes = []
        if o.amended:
            notes.append(f"amended {_iso(row['recorded_at'])}: {row.get('reason') or ''}; earlier value(s): "
                         + ", ".join(f"{h['value']:g}" if h["value"] is not None else (h["text"] or "-") for h in o.history))
        if row["late_entry"]:
            notes.append(f"late entry, recorded {_iso(row['recorded_at'])}")
        performer = [who(row["author"]) or {"display": users.get(row["author"], row["author"])}]
        words = describe(kind, row["value"], row["text"], o.data)
        if kind == Kind.MANUAL_VITALS:
            d = o.data
            if d.get("NIBP_SYS") is not None or d.get("NIBP_DIA") is not None:
                parts = {}
                if d.get("NIBP_SYS") is not None:
                    parts["sys"] = (float(d["NIBP_SYS"]), "")
                if d.get("NIBP_DIA") is not None:
                    parts["dia"] = (float(d["NIBP_DIA"]), "")
                obs = _bp_obs(f"{oid}-bp", row["effective_at"], parts, subject, encounter, status)
                obs.update(text=_narrative(words.sentence), method={"text": "manual"}, performer=performer)
                if notes:
                    obs["note"] = [{"text": n} for n in notes]
                out.append(_entry(obs))
            for key, _, _ in MANUAL_VITAL_PARTS:
                if d.get(key) is not None:
                    param = Parameter(key)
                    obs = _vital_obs(f"{oid}-{key.lower()}", param, row["effective_at"], subject, encounter, status)
                    obs.update(text=_narrative(words.sentence), valueQuantity=_quantity(float(d[key]), param.unit),
                               method={"text": "manual"}, performer=performer)
                    if notes:
                        obs["note"] = [{"text": n} for n in notes]
                    out.append(_entry(obs))
            continue
        if kind not in LOCAL_CONCEPTS:
            continue  # pre-checks and waste live in the summary and on the MedicationAdministration
        code, display = LOCAL_CONCEPTS[kind]
        coding = [{"system": LOCAL_CODESYSTEM, "code": code, "display": display}]
        if OBSERVATION_KINDS[kind].loinc:
            coding.insert(0, {"system": LOINC, "code": OBSERVATION_KINDS[kind].loinc, "display": f"{OBSERVATION_KINDS[kind].label} total score"})
        obs = {
            "resourceType": "Observation", "id": oid, "text": _narrative(words.sentence), "status": status,
            "category": _category("survey"), "code": {"coding": coding, "text": display},
            "subject": subject, "encounter": encounter, "effectiveDateTime": _iso(row["effective_at"]),
            "issued": _iso(row["recorded_at"]).replace("Z", "+00:00"), "performer": performer,
        }
        if kind in (Kind.NOTE, Kind.INTERVENTION):
            obs["category"] = _category("exam") if kind == Kind.NOTE else _category("procedure")
            obs["valueString"] = row["text"] or json.dumps(o.data, sort_keys=True)
        elif row["value"] is not None:
            obs["valueQuantity"] = _quantity(row["value"], OBSERVATION_KINDS[kind].unit or "1")
        else:
            obs["dataAbsentReason"] = {"coding": [{"system": DATA_ABSENT, "code": "unknown"}]}
        comps = []
        if kind == Kind.NAUSEA and "vomiting" in o.data:
            comps.append({"code": {"coding": [{"system": LOCAL_CODESYSTEM, "code": "vomiting"}]},
                          "valueBoolean": bool(o.data["vomiting"])})
        if kind == Kind.PHQ9 and isinstance(o.data.get("items"), list) and len(o.data["items"]) == 9:
            comps.append({"code": {"coding": [{"system": LOCAL_CODESYSTEM, "code": "phq9-item9"}]},
                          "valueInteger": int(o.data["items"][8])})
        if comps:
            obs["component"] = comps
        if notes:
            obs["note"] = [{"text": n} for n in notes]
        out.append(_entry(obs))
    return out


def bundle_json(bundle: dict) -> str:
    return json.dumps(bundle, separators=(",", ":"), ensure_ascii=False)

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
suffix (``-bp``, ``-proc`` ...). Every entry is ``PUT Type/id``: exporting again updates, never duplicates.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from html import escape

from ..domain.codes import BP_PANEL_LOINC, BP_PANEL_MDC, Parameter
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
from ..store.repository import ChartStore
from ..store.views import Entry, SessionView, session_view

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
MRN_SYSTEM = "urn:ketachart:mrn"


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
    return {"resource": resource, "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}}


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


def build_bundle(store: ChartStore, session_id: str, *, view: SessionView | None = None,
                 readings: list[StoredReading] | None = None) -> dict:
    """The transaction Bundle for one session, as a JSON-ready dict."""
    view = view or session_view(store, session_id)
    readings = readings if readings is not None else session_record(store, session_id).readings
    p = view.patient
    pid = p["patient_id"]
    subject = {"reference": f"Patient/{pid}"}
    encounter = {"reference": f"Encounter/{session_id}"}
    users = {u["user_id"]: u["display_name"] for u in store.users()}
    entries: list[dict] = []

    entries.append(_entry({
        "resourceType": "CodeSystem", "id": LOCAL_CODESYSTEM_ID, "url": LOCAL_CODESYSTEM,
        "name": "KetaChartSessionObservations", "title": "KetaChart chair-side observations",
        "status": "active", "content": "complete",
        "concept": [{"code": c, "display": d} for c, d in list(LOCAL_CONCEPTS.values()) + list(EXTRA_CONCEPTS)],
    }))

    entries.append(_entry({
        "resourceType": "Patient", "id": pid,
        "identifier": [{"use": "usual", "system": MRN_SYSTEM, "value": p["mrn"]}],
        "name": [{"family": p["family_name"], "given": [p["given_name"]] if p["given_name"] else []}],
        "gender": p["sex"] if p["sex"] in ("male", "female", "other", "unknown") else "unknown",
        "birthDate": p["birth_date"],
    }))

    final = view.state.is_final
    started = view.infusion_started_at or (view.dose.row["effective_at"] if view.dose else None)
    stopped = view.infusion_stopped_at
    ended = view.event_time(SessionEvent.DISCHARGE) or view.event_time(SessionEvent.ABORT)
    aborted = view.event_time(SessionEvent.ABORT) is not None
    arrived = view.event_time(SessionEvent.CHECK_IN) or view.session["effective_at"]
    period = {"start": _iso(arrived)}
    if ended:
        period["end"] = _iso(ended)
    entries.append(_entry({
        "resourceType": "Encounter", "id": session_id,
        "status": ("cancelled" if aborted else "finished") if final else "in-progress",
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "subject": subject, "period": period,
        "type": [{"text": f"{route_words(view.session['route']).title} session"}],
    }))
    entries.append(_entry({
        "resourceType": "Procedure", "id": f"{session_id}-proc",
        "status": ("stopped" if aborted else "completed") if final else "in-progress",
        "code": {"text": route_words(view.session["route"]).procedure},
        "subject": subject, "encounter": encounter, "performedPeriod": period,
    }))

    if view.dose:
        entries += _medication(view, users, subject, encounter, started, stopped, readings, final)

    entries += _vital_observations(readings, subject, encounter, final)
    entries += _charted_observations(view, subject, encounter, users)
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _medication(view, users, subject, encounter, started, stopped, readings, final) -> list[dict]:
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
    notes = []
    if d.get("mg_per_kg"):
        notes.append(f"{d['mg_per_kg']:g} mg/kg x {d['weight_kg']:g} kg; volume {d['volume_ml']:g} mL over {d['minutes']} min")
    for w in view.observations_of(Kind.WASTE):
        data = w.data
        notes.append(f"waste {data.get('amount_mg', w.row['value'])} mg, {data.get('method', '')}, witness "
                     f"{users.get(data.get('witness'), data.get('witness') or 'none')}")
    pump = [r for r in readings if r.parameter == Parameter.PUMP_VI.value and r.usable is not None]
    if pump:
        notes.append(f"pump-reported volume infused {pump[-1].usable:g} mL at {_iso(pump[-1].at)}")
    if view.dose.amended:
        notes.append(f"amended: {d.get('reason') or ''}")
    effective = {"start": _iso(started)} if started else {"start": _iso(d["effective_at"])}
    if stopped:
        effective["end"] = _iso(stopped)
    parent = {
        "resourceType": "MedicationAdministration", "id": ma_id, "contained": [medication],
        "status": ("stopped" if view.event_time(SessionEvent.ABORT) else "completed")
        if (stopped or (d["route"] == "IN" and final)) else "in-progress",
        "medicationReference": {"reference": "#med"},
        "subject": subject, "context": encounter,
        "effectivePeriod": effective,
        "performer": [{"actor": {"display": users.get(d["author"], d["author"])}}],
        "dosage": dosage,
    }
    if notes:
        parent["note"] = [{"text": n} for n in notes]
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
            "status": "completed" if seg["end"] else "in-progress",
            "medicationReference": {"reference": "#med"}, "contained": [medication],
            "partOf": [{"reference": f"MedicationAdministration/{ma_id}"}],
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
    for g in group_nibp(nibp, at=lambda r: r.at, parameter=lambda r: r.param):
        parts = {key: (r.usable, r.flags, r.value) for key, r in g["parts"].items()}
        first = g["parts"].get("sys") or next(iter(g["parts"].values()))
        obs = _bp_obs(first.id, g["at"], parts, subject, encounter, "final")
        obs["note"] = [{"text": f"source {first.source}"}]
        out.append(_entry(obs))
    return out


def _charted_observations(view: SessionView, subject, encounter, users) -> list[dict]:
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
        performer = [{"display": users.get(row["author"], row["author"])}]
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

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
  about 30,000 Observations. A reading the device flagged invalid (no number) carries ``dataAbsentReason``
  and its flags. Pump readings (rate, volume infused) have no LOINC code: they are not exported as
  Observations; the last pump-reported volume is a note on the MedicationAdministration.
- Charted scales (dissociation, nausea, MOAA/S sedation, CADSS-6, BPRS) as ``survey`` Observations coded in
  the local CodeSystem :data:`LOCAL_CODESYSTEM` (included in the bundle); PHQ-9 total also coded LOINC
  44261-6. Notes and interventions as local-coded observations with a string value. Manual vitals as
  vital-signs Observations (method: manual).

Ids are the record ids (UUIDv7, 36 characters, valid FHIR ids): for an amended entry, the id of its first
version, so a correction updates the same resource (status ``amended``). Derived resources add a short
suffix (``-bp``, ``-proc`` ...). Every entry is ``PUT Type/id``: exporting again updates, never duplicates.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from ..domain.codes import BP_PANEL_LOINC, BP_PANEL_MDC, PHQ9_TOTAL_LOINC, Parameter
from ..domain.scales import Kind
from ..domain.session import SessionEvent
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

ROUTES = {"IV": ("47625008", "Intravenous route"), "IN": ("46713006", "Nasal route")}

# Vital-signs profile codes: SpO2 needs 2708-6 besides the pulse-oximetry 59408-5.
EXTRA_LOINC = {Parameter.SPO2: [("2708-6", "Oxygen saturation in Arterial blood")]}
VITAL_SIGNS = {Parameter.HR, Parameter.PR, Parameter.SPO2, Parameter.RR, Parameter.TEMP, Parameter.WEIGHT}
BP_PARTS = {Parameter.NIBP_SYS: "sys", Parameter.NIBP_DIA: "dia", Parameter.NIBP_MEAN: "mean"}

LOCAL_CONCEPTS = {
    Kind.DISSOCIATION: ("dissociation", "Dissociation, clinician global rating 0-4"),
    Kind.NAUSEA: ("nausea", "Nausea numeric rating 0-10"),
    Kind.SEDATION: ("moaas", "Sedation, MOAA/S 0-5"),
    Kind.CADSS6: ("cadss6-total", "CADSS-6 total 0-24 (CADSS items 1, 2, 6, 7, 15, 22)"),
    Kind.PHQ9: ("phq9-total", "PHQ-9 total 0-27"),
    Kind.BPRS: ("bprs-positive", "BPRS positive subscale"),
    Kind.NOTE: ("note", "Nursing note"),
    Kind.INTERVENTION: ("intervention", "Intervention given"),
}
EXTRA_CONCEPTS = [("vomiting", "Vomiting (yes/no)"), ("phq9-item9", "PHQ-9 item 9 (thoughts of self-harm)")]


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


def _absent(flags: str) -> dict:
    names = {f for f in (flags or "").split(",") if f}
    code = "not-performed" if names & {"sensor-off", "unavailable", "calibrating"} else "error"
    return {"coding": [{"system": DATA_ABSENT, "code": code}], "text": "device flags: " + (", ".join(sorted(names)) or "none")}


def build_bundle(store: ChartStore, session_id: str, *, view: SessionView | None = None,
                 readings: list[dict] | None = None) -> dict:
    """The transaction Bundle for one session, as a JSON-ready dict."""
    view = view or session_view(store, session_id)
    readings = readings if readings is not None else store.readings(session_id)
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
        "concept": [{"code": c, "display": d} for c, d in list(LOCAL_CONCEPTS.values()) + EXTRA_CONCEPTS],
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
        "type": [{"text": "Ketamine infusion session" if view.session["route"] == "IV" else
                  "Esketamine intranasal session"}],
    }))
    entries.append(_entry({
        "resourceType": "Procedure", "id": f"{session_id}-proc",
        "status": ("stopped" if aborted else "completed") if final else "in-progress",
        "code": {"text": "IV ketamine infusion with monitoring" if view.session["route"] == "IV"
                 else "Intranasal esketamine administration with monitoring"},
        "subject": subject, "encounter": encounter, "performedPeriod": period,
    }))

    if view.dose:
        entries += _medication(view, users, subject, encounter, started, stopped, readings)

    entries += _vital_observations(readings, subject, encounter, final)
    entries += _charted_observations(view, subject, encounter, users)
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _medication(view, users, subject, encounter, started, stopped, readings) -> list[dict]:
    d = view.dose.row
    ma_id = _origin_id(view.dose)
    route_code, route_display = ROUTES.get(d["route"], ("", d["route"]))
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
    pump = [r for r in readings if r["parameter"] == Parameter.PUMP_VI.value and r["value"] is not None]
    if pump:
        notes.append(f"pump-reported volume infused {pump[-1]['value']:g} mL at {_iso(pump[-1]['effective_at'])}")
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
    # running segments: start / rate change / resume -> next pause / rate change / stop
    marks = []
    for e in view.events:
        marks.append((e["effective_at"], e["device_seq"], "event", e))
    for rc in view.rate_changes:
        marks.append((rc.row["effective_at"], rc.row["device_seq"], "rate", rc))
    marks.sort(key=lambda m: (m[0], m[1]))
    rate = d.get("rate_ml_per_h")
    open_seg = None
    segments = []
    for at, _, kind, item in marks:
        if kind == "rate":
            if open_seg:
                segments.append({**open_seg, "end": at})
            rate = item.row["rate_ml_per_h"]
            open_seg = {"id": _origin_id(item), "start": at, "rate": rate, "note": item.row.get("reason") or ""}
            continue
        ev = item["event"]
        data = json.loads(item["data"]) if item.get("data") else {}
        if ev == SessionEvent.START_INFUSION.value:
            rate = data.get("rate_ml_per_h", rate)
            open_seg = {"id": item["id"], "start": at, "rate": rate, "note": "start of infusion"}
        elif ev == SessionEvent.RESUME.value:
            open_seg = {"id": item["id"], "start": at, "rate": rate, "note": "resumed after pause"}
        elif ev in (SessionEvent.PAUSE.value, SessionEvent.STOP_INFUSION.value, SessionEvent.ABORT.value) and open_seg:
            end_note = f"; paused: {data.get('reason', '')}" if ev == SessionEvent.PAUSE.value else ""
            segments.append({**open_seg, "end": at, "note": open_seg["note"] + end_note})
            open_seg = None
    if open_seg:
        segments.append({**open_seg, "end": None})
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


def _bp_obs(oid: str, when: datetime, parts: dict[str, tuple[float | None, str]], subject, encounter,
            status: str) -> dict:
    obs = {
        "resourceType": "Observation", "id": oid,
        "meta": {"profile": [VITAL_SIGNS_PROFILE, BP_PROFILE]},
        "status": status, "category": _category("vital-signs"),
        "code": {"coding": [{"system": LOINC, "code": BP_PANEL_LOINC, "display": "Blood pressure panel"},
                            {"system": MDC, "code": str(BP_PANEL_MDC), "display": "MDC_PRESS_BLD_NONINV"}],
                 "text": "Non-invasive blood pressure"},
        "subject": subject, "encounter": encounter, "effectiveDateTime": _iso(when), "component": [],
    }
    for key, param in (("sys", Parameter.NIBP_SYS), ("dia", Parameter.NIBP_DIA), ("mean", Parameter.NIBP_MEAN)):
        if key not in parts:
            if key == "mean":
                continue
            comp = {"code": {"coding": _codings(param)}, "dataAbsentReason": {"coding": [
                {"system": DATA_ABSENT, "code": "unknown"}]}}
        else:
            value, flags = parts[key]
            comp = {"code": {"coding": _codings(param), "text": param.label}}
            if value is None:
                comp["dataAbsentReason"] = _absent(flags)
            else:
                comp["valueQuantity"] = _quantity(value, param.unit)
        obs["component"].append(comp)
    return obs


def _vital_observations(readings: list[dict], subject, encounter, final: bool) -> list[dict]:
    out = []
    bp_groups: list[dict] = []  # readings of one NIBP measurement (same time within 2 s)
    for r in readings:
        try:
            param = Parameter(r["parameter"])
        except ValueError:
            continue
        if param in BP_PARTS:
            group = bp_groups[-1] if bp_groups else None
            if (group is None or abs((r["effective_at"] - group["at"]).total_seconds()) > 2
                    or BP_PARTS[param] in group["parts"]):
                group = {"at": r["effective_at"], "id": r["id"], "parts": {}, "source": r["source"]}
                bp_groups.append(group)
            group["parts"][BP_PARTS[param]] = (r["value"], r["flags"])
            if param is Parameter.NIBP_SYS:
                group["id"] = r["id"]
            continue
        if not param.loinc:
            continue  # pump and other uncoded device values: see the module docstring
        obs = _vital_obs(r["id"], param, r["effective_at"], subject, encounter, "final")
        if r["value"] is None:
            obs["dataAbsentReason"] = _absent(r["flags"])
        else:
            obs["valueQuantity"] = _quantity(r["value"], param.unit)
        notes = [f"source {r['source']}"]
        if r["flags"]:
            notes.append(f"flags {r['flags']}")
        obs["note"] = [{"text": "; ".join(notes)}]
        if not obs["meta"]:
            del obs["meta"]
        out.append(_entry(obs))
    for g in bp_groups:
        obs = _bp_obs(g["id"], g["at"], g["parts"], subject, encounter, "final")
        obs["note"] = [{"text": f"source {g['source']}"}]
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
        if kind == Kind.MANUAL_VITALS:
            d = o.data
            if d.get("NIBP_SYS") is not None or d.get("NIBP_DIA") is not None:
                parts = {}
                if d.get("NIBP_SYS") is not None:
                    parts["sys"] = (float(d["NIBP_SYS"]), "")
                if d.get("NIBP_DIA") is not None:
                    parts["dia"] = (float(d["NIBP_DIA"]), "")
                obs = _bp_obs(f"{oid}-bp", row["effective_at"], parts, subject, encounter, status)
                obs.update(method={"text": "manual"}, performer=performer)
                if notes:
                    obs["note"] = [{"text": n} for n in notes]
                out.append(_entry(obs))
            for key, param in (("HR", Parameter.HR), ("SPO2", Parameter.SPO2), ("RR", Parameter.RR),
                               ("TEMP", Parameter.TEMP)):
                if d.get(key) is not None:
                    obs = _vital_obs(f"{oid}-{key.lower()}", param, row["effective_at"], subject, encounter, status)
                    obs.update(valueQuantity=_quantity(float(d[key]), param.unit), method={"text": "manual"},
                               performer=performer)
                    if notes:
                        obs["note"] = [{"text": n} for n in notes]
                    out.append(_entry(obs))
            continue
        if kind not in LOCAL_CONCEPTS:
            continue  # pre-checks and waste live in the summary and on the MedicationAdministration
        code, display = LOCAL_CONCEPTS[kind]
        coding = [{"system": LOCAL_CODESYSTEM, "code": code, "display": display}]
        if kind == Kind.PHQ9:
            coding.insert(0, {"system": LOINC, "code": PHQ9_TOTAL_LOINC, "display": "PHQ-9 total score"})
        obs = {
            "resourceType": "Observation", "id": oid, "status": status,
            "category": _category("survey"), "code": {"coding": coding, "text": display},
            "subject": subject, "encounter": encounter, "effectiveDateTime": _iso(row["effective_at"]),
            "issued": _iso(row["recorded_at"]).replace("Z", "+00:00"), "performer": performer,
        }
        if kind in (Kind.NOTE, Kind.INTERVENTION):
            obs["category"] = _category("exam") if kind == Kind.NOTE else _category("procedure")
            obs["valueString"] = row["text"] or json.dumps(o.data, sort_keys=True)
        elif row["value"] is not None:
            obs["valueQuantity"] = _quantity(row["value"], "{score}")
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

"""Every export works for every session state and route (issue 18): the printed summary (PDF), FHIR (whole,
split and per-minute) and CSV (plain and for spreadsheets) over routes IV and intranasal x states planned, in
progress, paused, recovery, discharged and aborted. Each session is built through the store's own API on a
FakeClock, the way the chair charts it: patient, session, pre-session check, signed dose and waste, device
readings, observations, pause/resume, rate change, stop, discharge check, discharge or abort."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from fhir.resources.R4B.bundle import Bundle

from ketachart.domain.clock import FakeClock
from ketachart.domain.codes import Parameter
from ketachart.domain.dosing import intranasal_dose, iv_dose
from ketachart.domain.readings import Quality, Reading
from ketachart.domain.scales import DISCHARGE_ITEMS, PADSS_ITEMS, Kind
from ketachart.domain.session import SessionEvent, SessionState
from ketachart.report.cli import write_export
from ketachart.report.csv_export import write_csv
from ketachart.report.fhir import FhirOptions, build_bundles
from ketachart.report.model import build_summary
from ketachart.report.render import render_pdf
from ketachart.store.models import Checklist, DoseAdministration, Observation
from ketachart.store.open import open_store

pytestmark = pytest.mark.usefixtures("qapp")
SYSTEM = "https://ehr.clinic.example/fhir/sid/mrn"
ROUTES = ("IV", "IN")
STATES = ("planned", "in progress", "paused", "recovery", "discharged", "aborted")
EXPECTED = {"planned": SessionState.PLANNED, "in progress": SessionState.INFUSING, "paused": SessionState.PAUSED,
            "recovery": SessionState.RECOVERY, "discharged": SessionState.DISCHARGED, "aborted": SessionState.ABORTED}
START = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def chart(tmp_path_factory):
    store = open_store(tmp_path_factory.mktemp("matrix") / "chart.db", unencrypted=True, clock=FakeClock(START))
    store.create_user("nurse.a", "Avery Nurse", "nurse")
    store.create_user("nurse.b", "Blake Witness", "nurse")
    yield store
    store.close()


def _vitals(store, sid, minutes: int) -> None:
    """``minutes`` of 1 Hz HR and SpO2 (one artefact, one sensor-off) and an NIBP, charted as they happen."""
    clock = store.clock
    for _ in range(minutes):
        batch = []
        for s in range(60):
            at = clock.now() + timedelta(seconds=s)
            flags = frozenset({Quality.ARTIFACT}) if s == 17 else frozenset()
            batch.append(Reading(Parameter.HR, 72 + s % 5, at, flags=flags, source="device:ge"))
            batch.append(Reading(Parameter.SPO2, None if s == 40 else 97, at,
                                 flags=frozenset({Quality.SENSOR_OFF}) if s == 40 else frozenset(), source="device:ge"))
        batch += [Reading(Parameter.NIBP_SYS, 128, clock.now(), source="device:ge"),
                  Reading(Parameter.NIBP_DIA, 82, clock.now(), source="device:ge")]
        clock.advance(60)
        store.add_readings(sid, batch)


def build_session(store, route: str, state: str) -> str:
    """One session of ``route`` brought to ``state`` through the store's API."""
    clock = store.clock
    clock.advance(6 * 3600)  # each session on its own afternoon
    store.author = "nurse.a"
    patient = store.create_patient(f"M-{route}-{STATES.index(state)}", "Nguyễn", "Thảo", "1980-02-29", "female", 70)
    sid = store.create_session(patient["patient_id"], route)["id"]
    if state == "planned":
        return sid
    store.session_event(sid, SessionEvent.CHECK_IN)
    store.save_checklist(sid, "pre-session", {"consent": True, "npo": True}, passed=True)
    dose = iv_dose(70, 0.5, 10, 40, store.policy) if route == "IV" else intranasal_dose(56, store.policy)
    row = store.record_dose(sid, dose, lot="LOT-1", prepared_by="nurse.a")
    store.sign(DoseAdministration, row["id"], user_id="nurse.a", printed_name="Avery Nurse", meaning="performed")
    if route == "IV":
        waste = store.observe(sid, Kind.WASTE, value=15, data={"amount_mg": 15, "method": "sharps", "witness": "nurse.b"})
        store.sign(Observation, waste["id"], user_id="nurse.b", printed_name="Blake Witness", meaning="witnessed")
    _vitals(store, sid, 2)
    store.session_event(sid, SessionEvent.START_INFUSION,
                        data={"rate_ml_per_h": dose.rate_ml_per_h} if route == "IV" else None)
    _vitals(store, sid, 3)
    store.observe(sid, Kind.DISSOCIATION, value=2)
    store.observe(sid, Kind.NOTE, text="Comfortable; music on")
    if state == "in progress":
        return sid
    if state == "aborted":
        store.session_event(sid, SessionEvent.ABORT, reason="patient asked to stop")
        return sid
    store.session_event(sid, SessionEvent.PAUSE, reason="nausea")
    _vitals(store, sid, 2)
    if state == "paused":
        return sid
    store.session_event(sid, SessionEvent.RESUME)
    if route == "IV":
        store.change_rate(sid, 40, "dissociation 3: slowed")
    _vitals(store, sid, 3)
    store.session_event(sid, SessionEvent.STOP_INFUSION)
    _vitals(store, sid, 2)
    if state == "recovery":
        return sid
    check = store.save_checklist(sid, "discharge", {"checklist": {k: True for k, _ in DISCHARGE_ITEMS},
                                                    "padss": {k: 2 for k, _, _ in PADSS_ITEMS}},
                                 score=10, passed=False, override_reason="matrix test: early discharge reviewed")
    store.sign(Checklist, check["id"], user_id="nurse.a", printed_name="Avery Nurse", meaning="performed")
    store.session_event(sid, SessionEvent.DISCHARGE)
    return sid


@pytest.fixture(scope="module")
def sessions(chart):
    return {(route, state): build_session(chart, route, state) for route in ROUTES for state in STATES}


def _references_resolve(bundles: list[dict]) -> None:
    answer = set()
    for b in bundles:
        for e in b["entry"]:
            for ident in e["resource"].get("identifier", []):
                answer.add(f"{e['resource']['resourceType']}?identifier={quote(ident['system'], safe=':/')}|"
                           f"{quote(ident['value'], safe='')}")
    for b in bundles:
        Bundle.model_validate(b)
        urls = {e["fullUrl"] for e in b["entry"]}
        text = json.dumps(b)
        for e in b["entry"]:
            stack = [e["resource"]]
            while stack:
                node = stack.pop()
                if isinstance(node, dict):
                    ref = node.get("reference")
                    if isinstance(ref, str) and not ref.startswith("#"):
                        assert ref in urls or ref in answer, ref
                    stack.extend(node.values())
                elif isinstance(node, list):
                    stack.extend(node)
        assert "urn:ketachart:mrn" not in text


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("route", ROUTES)
def test_report_fhir_and_csv_for_every_route_and_state(chart, sessions, route, state, tmp_path, monkeypatch):
    monkeypatch.setenv("KETACHART_CLINIC_MRN_SYSTEM", SYSTEM)
    store, sid = chart, sessions[(route, state)]
    assert store.session_state(sid) is EXPECTED[state]

    # the printed summary
    summary = build_summary(store, sid, store.clock.now())
    assert summary.in_progress == (state not in ("discharged", "aborted"))
    pages = render_pdf(summary, tmp_path / "s.pdf")
    assert pages >= 1 and (tmp_path / "s.pdf").read_bytes()[:5] == b"%PDF-"

    # FHIR: whole, split in bundles of 12, and per minute
    (whole,) = build_bundles(store, sid, options=FhirOptions.resolve(store))
    _references_resolve([whole])
    kinds = [e["resource"]["resourceType"] for e in whole["entry"]]
    encounter = next(e["resource"] for e in whole["entry"] if e["resource"]["resourceType"] == "Encounter")
    assert encounter["status"] == {"planned": "planned", "discharged": "finished", "aborted": "cancelled"}.get(
        state, "in-progress")
    meds = [e["resource"] for e in whole["entry"] if e["resource"]["resourceType"] == "MedicationAdministration"]
    parent = [m for m in meds if "partOf" not in m]
    if state == "planned":
        assert not meds and "Observation" not in kinds
    else:
        assert [m["status"] for m in parent] == [{"in progress": "in-progress", "paused": "on-hold",
                                                   "aborted": "stopped"}.get(state, "completed")]
        assert "Practitioner" in kinds and "Provenance" in kinds
    split = build_bundles(store, sid, options=FhirOptions.resolve(store, max_entries=12))
    assert all(len(b["entry"]) <= 12 for b in split)
    _references_resolve(split)
    assert {e["fullUrl"] for b in split for e in b["entry"]} == {e["fullUrl"] for e in whole["entry"]}
    minute = build_bundles(store, sid, options=FhirOptions.resolve(store, vitals="per-minute"))
    _references_resolve(minute)

    # CSV, plain and for a spreadsheet, and the command's writer
    plain, excel = io.StringIO(), io.StringIO()
    n = write_csv(store, sid, plain)
    assert write_csv(store, sid, excel, excel=True) == n == len(list(csv.DictReader(io.StringIO(plain.getvalue()))))
    assert n == len(store.readings(sid)) + len(store.rows(Observation, session_id=sid))
    written = write_export(store, sid, "fhir", tmp_path / "f.json", max_entries=40, vitals="per-minute")
    assert written.files >= 1 and all(p.exists() for p in written.paths)
    assert write_export(store, sid, "csv", tmp_path / "f.csv", excel=True).count == n

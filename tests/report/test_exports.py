"""FHIR R4 and CSV exports and the report/export commands, on a real demo session in a real chart file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle  # fhir.resources 8 ships R5 by default; R4B is its R4-line model

from ketachart.cli import main
from ketachart.report.csv_export import COLUMNS, write_csv
from ketachart.report.fhir import LOCAL_CODESYSTEM, MDC, FhirOptions, build_bundle
from ketachart.store.models import AuditEvent, Observation
from ketachart.store.views import session_view

# The report command paints with Qt; with the pytest-qt QApplication present it does not create its own
# QGuiApplication (which would make later widget tests in the same process abort).
pytestmark = pytest.mark.usefixtures("qapp")
CLINIC = FhirOptions("https://ehr.clinic.example/fhir/mrn")


@pytest.fixture(autouse=True)
def mrn_system(monkeypatch):
    monkeypatch.setenv("KETACHART_MRN_SYSTEM", CLINIC.mrn_system)


@pytest.fixture(scope="module")
def bundle(demo):
    store, sid = demo
    return build_bundle(store, sid, options=CLINIC)


def _resources(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_bundle_validates_as_a_fhir_transaction(bundle):
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "transaction"
    assert all(e["request"]["method"] == "PUT" for e in bundle["entry"])
    assert all(e["request"]["url"] == f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]
               if e["resource"]["resourceType"] not in ("Patient", "Practitioner"))
    (enc,) = _resources(bundle, "Encounter")
    assert enc["class"]["code"] == "AMB" and enc["status"] == "finished"
    assert len(_resources(bundle, "Patient")) == len(_resources(bundle, "Procedure")) == 1


def test_blood_pressure_is_one_panel_with_components_matching_the_readings(demo, bundle):
    store, sid = demo
    sys_readings = store.readings(sid, "NIBP_SYS")
    dia = {r["effective_at"]: r["value"] for r in store.readings(sid, "NIBP_DIA")}
    panels = {o["id"]: o for o in _resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == "85354-9"}
    device_panels = [o for o in panels.values() if "method" not in o]
    assert len(device_panels) == len(sys_readings)
    for r in sys_readings:
        obs = panels[r["id"]]
        comps = {c["code"]["coding"][0]["code"]: c for c in obs["component"]}
        assert comps["8480-6"]["valueQuantity"]["value"] == r["value"]
        assert comps["8462-4"]["valueQuantity"]["value"] == dia[r["effective_at"]]
        assert comps["8480-6"]["valueQuantity"]["code"] == "mm[Hg]"
        assert {"system": MDC, "code": "150021", "display": "MDC_PRESS_BLD_NONINV_SYS"} in comps["8480-6"]["code"]["coding"]
        assert obs["category"][0]["coding"][0]["code"] == "vital-signs"


def test_every_reading_is_exported_and_invalid_ones_carry_data_absent_reason(demo, bundle):
    store, sid = demo
    obs = {o["id"]: o for o in _resources(bundle, "Observation")}
    hr = store.readings(sid, "HR")
    assert all(r["id"] in obs for r in hr)
    sample = obs[hr[100]["id"]]
    assert sample["valueQuantity"] == {"value": hr[100]["value"], "unit": "/min", "system": "http://unitsofmeasure.org",
                                       "code": "/min"}
    assert {c["system"] for c in sample["code"]["coding"]} == {"http://loinc.org", MDC}
    spo2 = store.readings(sid, "SPO2")
    blanked = [r for r in spo2 if r["value"] is None]
    assert blanked
    absent = obs[blanked[0]["id"]]
    assert "valueQuantity" not in absent and absent["dataAbsentReason"]["coding"][0]["code"] == "not-performed"
    assert "2708-6" in [c["code"] for c in absent["code"]["coding"]]


def test_dose_rate_changes_and_scales_round_trip(demo, bundle):
    store, sid = demo
    view = session_view(store, sid)
    mas = _resources(bundle, "MedicationAdministration")
    parent = next(m for m in mas if "partOf" not in m)
    end = view.administration_end  # the dose given is what was delivered (the ordered amount is in a note)
    assert parent["dosage"]["dose"]["value"] == (end.delivered_mg if end else view.dose.row["dose_mg"])
    assert any(f"ordered {view.dose.row['dose_mg']:g} mg" in n["text"] for n in parent["note"])
    assert parent["contained"][0]["batch"]["lotNumber"] == view.dose.row["lot"]
    assert parent["dosage"]["route"]["coding"][0]["code"] == "47625008"
    children = sorted((m for m in mas if "partOf" in m), key=lambda m: m["effectivePeriod"]["start"])
    assert [c["dosage"]["rateQuantity"]["value"] for c in children] == [
        view.dose.row["rate_ml_per_h"], view.rate_changes[0].row["rate_ml_per_h"]]
    assert "Strong dissociation" in children[1]["note"][0]["text"]
    surveys = [o for o in _resources(bundle, "Observation") if o["category"][0]["coding"][0]["code"] == "survey"]
    phq = next(o for o in surveys if o["code"]["coding"][0]["code"] == "44261-6")
    assert phq["valueQuantity"]["value"] == 19  # first session of the demo course
    nausea = next(o for o in surveys if o["status"] == "amended")
    assert nausea["valueQuantity"]["value"] == 3 and "6" in nausea["note"][0]["text"]
    assert all(any(c["system"] == LOCAL_CODESYSTEM for c in o["code"]["coding"]) for o in surveys)
    assert _resources(bundle, "CodeSystem")[0]["url"] == LOCAL_CODESYSTEM


def test_re_export_gives_identical_ids(demo, bundle):
    store, sid = demo
    again = build_bundle(store, sid, options=CLINIC)
    assert [e["request"]["url"] for e in again["entry"]] == [e["request"]["url"] for e in bundle["entry"]]
    assert len({e["request"]["url"] for e in bundle["entry"]}) == len(bundle["entry"])


def test_csv_round_trips_readings_and_observations(demo, tmp_path):
    store, sid = demo
    path = tmp_path / "session.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        count = write_csv(store, sid, fh)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == COLUMNS
        data = list(reader)
    readings = store.readings(sid)
    observations = store.rows(Observation, session_id=sid)
    assert count == len(data) == len(readings) + len(observations)
    by_id = {row["id"]: row for row in data}
    for r in readings[::97]:
        row = by_id[r["id"]]
        assert row["parameter"] == r["parameter"] and row["unit"] == r["unit"]
        assert (float(row["value"]) if row["value"] else None) == r["value"]
        assert row["effective_at"] == r["effective_at"].isoformat(timespec="milliseconds")
    amended = [row for row in data if row["record"] == "observation" and row["amends"]]
    assert amended and by_id[amended[0]["amends"]]["current"] == "0" and amended[0]["reason"]


def test_cli_report_and_exports(demo, tmp_path, capsys):
    store, sid = demo
    pdf, fhir, table = tmp_path / "s.pdf", tmp_path / "s.json", tmp_path / "s.csv"
    before = len(store.rows(AuditEvent))
    assert main(["report", "--db", str(store.path), "--unencrypted", "--session", sid, "-o", str(pdf),
                 "--paper", "letter"]) == 0
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert main(["export", "--db", str(store.path), "--unencrypted", "--session", sid, "--format", "fhir",
                 "-o", str(fhir)]) == 0
    assert json.loads(fhir.read_text())["type"] == "transaction"
    assert main(["export", "--db", str(store.path), "--unencrypted", "--session", sid, "--format", "csv",
                 "-o", str(table)]) == 0
    audits = store.rows(AuditEvent)[before:]
    assert [a["action"] for a in audits] == ["print", "export", "export"]
    assert all(a["target"] == f"sessions:{sid}" for a in audits)
    assert "RIVERA" not in json.dumps([a["details"] for a in audits]) and "DEMO-0000" not in str(audits)


@pytest.mark.parametrize("argv", [["report", "-o", "x.pdf"], ["export", "--format", "csv", "-o", "x.csv"]])
def test_unknown_session_exits_2_with_a_clear_message(demo, tmp_path, capsys, argv):
    store, _ = demo
    argv = [argv[0], "--db", str(store.path), "--unencrypted", "--session", "no-such-session"] + [
        str(tmp_path / a) if a.startswith("x.") else a for a in argv[1:]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no session no-such-session" in err
    assert not list(tmp_path.iterdir())

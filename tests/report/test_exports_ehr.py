"""Exports an EHR takes as they are (issue 18): FHIR fullUrls, the Patient by the clinic's MRN system, staff as
Practitioners, split bundles that stand alone, per-minute vitals; CSV for spreadsheets. On a real demo chart."""

from __future__ import annotations

import csv
import io
import json
import statistics
from urllib.parse import quote
from datetime import datetime, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle

from ketachart.cli import main
from ketachart.domain.codes import Parameter
from ketachart.report.csv_export import COLUMNS, EXCEL_COLUMNS, write_csv
from ketachart.report.fhir import (
    MRN_SYSTEM,
    ExportRefused,
    FhirOptions,
    build_bundle,
    build_bundles,
    minute_of,
)
from ketachart.report.settings import ReportSettings
from ketachart.store.models import AuditEvent, Observation, Signature
from ketachart.store.readmodels import session_record
from ketachart.store.views import session_view

pytestmark = pytest.mark.usefixtures("qapp")
SYSTEM = "https://ehr.clinic.example/fhir/sid/mrn"
CLINIC = FhirOptions(SYSTEM, SYSTEM + "/staff")


@pytest.fixture(autouse=True)
def clinic(monkeypatch):
    monkeypatch.setenv("KETACHART_MRN_SYSTEM", SYSTEM)
    monkeypatch.setenv("KETACHART_TZ", "America/Chicago")


def resources(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def references(node):
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node["reference"]
        for v in node.values():
            yield from references(v)
    elif isinstance(node, list):
        for v in node:
            yield from references(v)


def identifiers(bundles) -> set[str]:
    """Every conditional reference some entry of these bundles answers to."""
    out = set()
    for b in bundles:
        for e in b["entry"]:
            r = e["resource"]
            for ident in r.get("identifier", []):
                out.add(f"{r['resourceType']}?identifier={quote(ident['system'], safe=':/')}|"
                        f"{quote(ident['value'], safe='')}")
    return out


def assert_standalone(bundle, answerable: set[str]) -> None:
    """Valid R4 transaction; every reference is in the bundle, contained, or a conditional reference that one of
    the exported entries answers to; every entry has a unique fullUrl."""
    Bundle.model_validate(bundle)
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert all(u.startswith("urn:uuid:") for u in urls) and len(set(urls)) == len(urls)
    for e in bundle["entry"]:
        for ref in references(e["resource"]):
            assert ref.startswith("#") or ref in urls or ref in answerable, ref


@pytest.fixture(scope="module")
def bundle(demo):
    store, sid = demo
    return build_bundle(store, sid, options=CLINIC)


def test_every_entry_has_a_full_url_and_every_reference_resolves_inside(bundle):
    assert_standalone(bundle, set())
    assert not any("?" in ref for e in bundle["entry"] for ref in references(e["resource"]))


def test_patient_is_a_conditional_update_by_the_clinics_mrn(demo, bundle):
    store, sid = demo
    (entry,) = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    mrn = session_view(store, sid).patient["mrn"]
    assert entry["request"] == {"method": "PUT", "url": f"Patient?identifier={SYSTEM}|{mrn}"}
    assert entry["resource"]["identifier"][0] == {"use": "usual", "system": SYSTEM, "value": mrn}
    assert "id" not in entry["resource"]  # the EHR keeps its own id for the patient it matched
    assert MRN_SYSTEM not in json.dumps(bundle)
    subjects = {r["subject"]["reference"] for r in resources(bundle, "Observation")}
    assert subjects == {entry["fullUrl"]}


def test_no_mrn_system_means_no_export_and_a_clear_message(demo, monkeypatch, tmp_path, capsys):
    store, sid = demo
    monkeypatch.delenv("KETACHART_MRN_SYSTEM")
    with pytest.raises(ExportRefused, match="MRN system is not set"):
        build_bundle(store, sid)
    for bad in (MRN_SYSTEM, "mrn", "https://"):
        with pytest.raises(ExportRefused, match="absolute URI"):
            FhirOptions.resolve(settings=ReportSettings(mrn_system=bad))
    out = tmp_path / "s.json"
    assert main(["export", "--db", str(store.path), "--unencrypted", "--session", sid, "--format", "fhir",
                 "-o", str(out)]) == 2
    assert "mrn_system" in capsys.readouterr().err and not out.exists()
    monkeypatch.setenv("KETACHART_MRN_SYSTEM", "urn:oid:2.16.840.1.113883.3.999.1")
    assert FhirOptions.resolve(store).staff_system == "urn:oid:2.16.840.1.113883.3.999.1:staff"


def test_staff_are_practitioners_referenced_from_performers_and_signatures(demo, bundle):
    store, sid = demo
    practitioners = {e["fullUrl"]: e for e in bundle["entry"] if e["resource"]["resourceType"] == "Practitioner"}
    by_user = {e["resource"]["identifier"][0]["value"]: url for url, e in practitioners.items()}
    names = {u["user_id"]: u["display_name"] for u in store.users()}
    for url, e in practitioners.items():
        ident = e["resource"]["identifier"][0]
        assert ident["system"] == CLINIC.staff_system
        assert e["request"]["url"] == f"Practitioner?identifier={CLINIC.staff_system}|{ident['value']}"
        assert e["resource"]["name"][0]["text"] == names[ident["value"]]
    (parent,) = [m for m in resources(bundle, "MedicationAdministration") if "partOf" not in m]
    dose = session_view(store, sid).dose.row
    assert [p["actor"]["reference"] for p in parent["performer"]] == [by_user[dose["author"]]] + (
        [by_user[dose["prepared_by"]]] if dose["prepared_by"] != dose["author"] else [])
    charted = [o for o in resources(bundle, "Observation") if "performer" in o]
    assert charted and all(p["reference"] in practitioners for o in charted for p in o["performer"])
    # one Provenance per signature, signed by the Practitioner, on the resource the signed row became
    sigs = [s for s in store.rows(Signature) if s["target_id"] in {dose["id"]} | {
        o["id"] for o in store.rows(Observation, session_id=sid)} | {c.row["id"] for c in session_view(store, sid).checklists}]
    provs = {p["id"]: p for p in resources(bundle, "Provenance")}
    assert set(provs) == {s["id"] for s in sigs}
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    for s in sigs:
        p = provs[s["id"]]
        assert p["signature"][0]["who"]["reference"] == by_user[s["user_id"]]
        assert p["agent"][0]["who"]["reference"] == by_user[s["user_id"]]
        targets = [by_url[t["reference"]]["resourceType"] for t in p["target"]]
        expected = {"dose_administrations": "MedicationAdministration", "observations": "MedicationAdministration",
                    "checklists": "Encounter"}[s["target_table"]]
        assert targets == [expected]  # the waste observation is signed on the administration it is part of
    witnessed = [p for p in provs.values() if p["agent"][0]["type"]["coding"][0]["code"] == "attester"]
    assert len(witnessed) == 1


@pytest.mark.parametrize("max_entries", [40, 997])
def test_max_entries_splits_into_standalone_bundles(demo, bundle, max_entries):
    store, sid = demo
    split = build_bundles(store, sid, options=FhirOptions(SYSTEM, CLINIC.staff_system, "all", max_entries))
    context = sum(1 for e in bundle["entry"]
                  if e["resource"]["resourceType"] in ("CodeSystem", "Patient", "Practitioner", "Encounter"))
    assert len(split) == -(-(len(bundle["entry"]) - context) // (max_entries - context)) > 1
    answerable = identifiers(split)
    cross = 0
    for b in split:
        assert len(b["entry"]) <= max_entries
        assert_standalone(b, answerable)
        cross += sum(1 for e in b["entry"] for r in references(e["resource"]) if "?" in r)
        # each bundle carries the patient (by MRN), the encounter and the staff its entries name
        assert len(resources(b, "Patient")) == len(resources(b, "Encounter")) == 1
    assert cross > 0  # some references did cross bundles, and resolved through identifiers
    # together they are the unsplit export, each content entry exactly once
    whole = {e["fullUrl"] for e in bundle["entry"]}
    seen = [e["fullUrl"] for b in split for e in b["entry"]
            if e["resource"]["resourceType"] not in ("CodeSystem", "Patient", "Practitioner", "Encounter")]
    assert len(seen) == len(set(seen)) and set(seen) | {e["fullUrl"] for e in split[0]["entry"]} == whole


def test_max_entries_too_small_for_the_context_is_refused(demo):
    store, sid = demo
    with pytest.raises(ExportRefused, match="at least"):
        build_bundles(store, sid, options=FhirOptions(SYSTEM, CLINIC.staff_system, "all", 3))


def test_per_minute_vitals_are_the_median_with_the_range(demo):
    store, sid = demo
    b = build_bundle(store, sid, options=FhirOptions(SYSTEM, CLINIC.staff_system, "per-minute"))
    assert_standalone(b, set())
    readings = session_record(store, sid).readings
    hr = [r for r in readings if r.parameter == "HR"]
    minutes = {}
    for r in hr:
        minutes.setdefault(minute_of(r.at), []).append(r)
    obs = [o for o in resources(b, "Observation") if o.get("effectivePeriod")
           and any(c["code"] == Parameter.HR.loinc for c in o["code"]["coding"])]
    assert len(obs) == len(minutes)
    for o in obs:
        start = minute_of(datetime.fromisoformat(o["effectivePeriod"]["start"]))
        usable = [r.usable for r in minutes[start] if r.usable is not None]
        if not usable:
            assert "dataAbsentReason" in o
            continue
        assert o["valueQuantity"]["value"] == round(statistics.median(usable), 2)
        low, high = (c["valueQuantity"]["value"] for c in o["component"])
        assert (low, high) == (min(usable), max(usable))
    # far fewer resources than the 1 Hz export, and the NIBP panels are all still there
    full = build_bundle(store, sid, options=CLINIC)
    assert len(b["entry"]) * 10 < len(full["entry"])
    bp = lambda x: [o["id"] for o in resources(x, "Observation") if o["code"]["coding"][0]["code"] == "85354-9"]
    assert bp(b) == bp(full)


def test_excel_csv_has_bom_local_times_and_who_on_every_row(demo, tmp_path):
    store, sid = demo
    zone, _ = ReportSettings.resolve(store).zone()
    path = tmp_path / "s.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        count = write_csv(store, sid, fh, zone, excel=True)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    data = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(data) == count and list(data[0]) == EXCEL_COLUMNS
    view = session_view(store, sid)
    for row in data:
        assert row["patient_mrn"] == view.patient["mrn"] and row["session_id"] == sid
        assert row["patient_name"].startswith(view.patient["family_name"])
    first = store.readings(sid)[0]
    row = next(r for r in data if r["id"] == first["id"])
    local = first["effective_at"].astimezone(zone)
    assert row["effective_at"] == local.strftime("%Y-%m-%d %H:%M:%S") and row["utc_offset"] == "-06:00"


def test_excel_csv_defuses_formulas_in_text(demo, tmp_path):
    store, sid = demo
    store.observe(sid, "note", text="=HYPERLINK(\"http://x\")", effective_at=store.clock.now() - timedelta(hours=5))
    buf = io.StringIO()
    write_csv(store, sid, buf, excel=True)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert any(r["text"] == "'=HYPERLINK(\"http://x\")" for r in rows)
    assert not any(v.startswith(("=", "+", "@")) for r in rows for k, v in r.items() if k in ("text", "display"))
    plain = io.StringIO()
    write_csv(store, sid, plain)
    assert any(r["text"].startswith("=") for r in csv.DictReader(io.StringIO(plain.getvalue())))
    assert list(csv.DictReader(io.StringIO(plain.getvalue())).fieldnames) == COLUMNS


def test_cli_split_per_minute_and_excel(demo, tmp_path, capsys):
    store, sid = demo
    base = ["export", "--db", str(store.path), "--unencrypted", "--session", sid]
    before = len(store.rows(AuditEvent))
    assert main(base + ["--format", "fhir", "--max-entries", "200", "--vitals", "per-minute",
                        "-o", str(tmp_path / "s.json")]) == 0
    files = sorted(tmp_path.glob("s-*.json"))
    assert len(files) >= 2 and files[0].name == "s-001.json"
    split = [json.loads(f.read_text()) for f in files]
    for b in split:
        assert_standalone(b, identifiers(split))
    assert main(base + ["--format", "csv", "--excel", "-o", str(tmp_path / "s.csv")]) == 0
    assert (tmp_path / "s.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    audits = [json.loads(a["details"]) for a in store.rows(AuditEvent)[before:] if a["action"] == "export"]
    assert audits[0]["files"] == len(files) and audits[0]["vitals"] == "per-minute"
    for wrong in (["--format", "csv", "--max-entries", "5"], ["--format", "fhir", "--excel"],
                  ["--format", "fhir", "--max-entries", "0"]):
        assert main(base + wrong + ["-o", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()

"""The printed summary: what a nurse and a surveyor read on the paper, checked in the PDF's own text."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from ketachart.domain.dosing import intranasal_dose, iv_dose
from ketachart.domain.codes import Parameter
from ketachart.domain.readings import Reading
from ketachart.domain.vocabulary import Kind
from ketachart.domain.session import SessionEvent
from ketachart.report.model import build_summary
from ketachart.store.fingerprint import record_rows
from ketachart.report.render import render_pdf
from ketachart.store.hashing import canonical_content
from ketachart.store.models import MODEL_BY_TABLE, AuditEvent
from ketachart.store.views import session_view

from .conftest import PRINTED_AT

pytestmark = pytest.mark.usefixtures("qapp")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "summary-page1.png"


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout


def pdf_pages(path: Path) -> int:
    out = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
    return int(next(line.split()[-1] for line in out.splitlines() if line.startswith("Pages:")))


@pytest.fixture(scope="module")
def demo_pdf(demo, tmp_path_factory):
    store, sid = demo
    summary = build_summary(store, sid, PRINTED_AT)
    path = tmp_path_factory.mktemp("pdf") / "summary.pdf"
    pages = render_pdf(summary, path)
    return summary, path, pages


def test_pdf_holds_the_key_fields_and_numbers_of_the_session(demo, demo_pdf):
    store, sid = demo
    summary, path, pages = demo_pdf
    view = session_view(store, sid)
    text = pdf_text(path)
    flat = " ".join(text.split())
    dose = view.dose.row
    for expected in (
        "RIVERA, Jordan", "DEMO-0000", "1984-03-12", "Chair 2", "No. 1",
        f"{dose['dose_mg']:.1f} mg", dose["lot"], f"{dose['weight_kg']:g} kg", "1 mg/mL",
        "Rate changed to", "Strong dissociation (3/4)",  # every rate change with its reason
        "witness Sam Patel, RN",  # waste and witness
        "Pump-reported", "last pump reading",
        "SpO2 91% (alert at 92% or below)", "Patient roused",  # the alert and its acknowledgment
        "PADSS 10/10", "PASSED",
        "LATE ENTRY", "AMENDED", "Original: 6/10",  # late entry and correction, original readable
        "Alex Morgan, RN", "performed", "witnessed", "content verified",
        summary.fingerprint_short, summary.fingerprint,
        f"Page 1 of {pages}", f"Page {pages} of {pages}",
        "Baseline", "~40 min after start", "End of infusion", "Minimum", "Maximum",
    ):
        assert expected in flat, expected
    assert "IN PROGRESS" not in flat
    assert "All times Etc/UTC (UTC+00:00)" in flat  # the time zone is named
    assert "Record fingerprint" in flat  # no ligatures: the printed words can be searched


def test_summary_fits_on_three_pages_and_carries_the_fingerprint_in_metadata(demo_pdf):
    summary, path, pages = demo_pdf
    assert pages == pdf_pages(path) == 3
    meta = subprocess.run(["pdfinfo", "-meta", str(path)], check=True, capture_output=True, text=True).stdout
    assert f"sha256:{summary.fingerprint}" in meta


def test_page_one_renders_to_png(demo_pdf, tmp_path):
    _, path, _ = demo_pdf
    subprocess.run(["pdftoppm", "-r", "110", "-f", "1", "-l", "1", "-png", "-singlefile", str(path),
                    str(tmp_path / "page1")], check=True)
    png = tmp_path / "page1.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    if os.environ.get("KETACHART_UPDATE_SCREENSHOTS"):  # refresh the README's picture on request only
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, SCREENSHOT)


def test_letter_paper(demo, tmp_path):
    store, sid = demo
    path = tmp_path / "letter.pdf"
    render_pdf(build_summary(store, sid, PRINTED_AT), path, paper="letter")
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
    assert "612 x 792 pts (letter)" in info


def test_fingerprint_is_the_hash_of_the_canonical_rows_and_ignores_printing(demo):
    store, sid = demo
    rows = record_rows(store, sid)
    readings = {r["id"]: r for r in store.readings(sid)}  # in reading blocks (schema 5): read back one by one
    expected_text = "[" + ",".join(
        canonical_content(MODEL_BY_TABLE[name].__table__, readings[row["id"]] if name == "vital_readings"
                          else store.get(MODEL_BY_TABLE[name], row["id"]))
        for name, row in rows
    ) + "]"
    summary = build_summary(store, sid, PRINTED_AT)
    assert summary.fingerprint == hashlib.sha256(expected_text.encode()).hexdigest()
    store.audit("print", f"sessions:{sid}", {"format": "pdf"})
    assert build_summary(store, sid, PRINTED_AT).fingerprint == summary.fingerprint


def _patient(store, mrn: str, route: str):
    p = store.create_patient(mrn, "Okafor", "Chidi", "1979-11-02", "male", 80.0)
    course = store.create_course(p["patient_id"], route, "test course")
    return p, store.create_session(p["patient_id"], route, course["id"], chair="Chair 1")


def test_unfinished_session_prints_in_progress(demo, tmp_path):
    store, _ = demo
    clock = store.clock
    _, session = _patient(store, "TEST-IP", "IV")
    sid = session["id"]
    store.session_event(sid, SessionEvent.CHECK_IN)
    store.record_dose(sid, iv_dose(80, 0.5, 1, 40, store.policy), lot="LOT-IP-1")
    clock.advance(60)
    store.session_event(sid, SessionEvent.START_INFUSION, data={"rate_ml_per_h": 60.0})
    clock.advance(300)
    store.add_readings(sid, [Reading(Parameter.HR, 70, clock.now())])
    summary = build_summary(store, sid, clock.now())
    assert summary.in_progress
    path = tmp_path / "ip.pdf"
    pages = render_pdf(summary, path)
    flat = " ".join(pdf_text(path).split())
    assert "IN PROGRESS - not a final record" in flat
    assert flat.count("IN PROGRESS") >= pages  # on every page, not only the first
    assert "LOT-IP-1" in flat and "still running" in flat


def test_intranasal_session_shows_the_rems_monitoring_form(demo, tmp_path):
    store, _ = demo
    clock = store.clock
    _, session = _patient(store, "TEST-IN", "IN")
    sid = session["id"]
    store.session_event(sid, SessionEvent.CHECK_IN)
    for item, answer in (("rems_benzodiazepines", True), ("rems_sedative_hypnotics", False),
                         ("rems_psychostimulants", False), ("rems_maois", False)):
        store.observe(sid, Kind.PRECHECK, data={"item": item, "answer": answer})
    store.add_readings(sid, [Reading(Parameter.NIBP_SYS, 128, clock.now()), Reading(Parameter.NIBP_DIA, 82, clock.now())])
    store.record_dose(sid, intranasal_dose(56, store.policy), lot="SPR-5566")
    clock.advance(120)
    store.session_event(sid, SessionEvent.START_INFUSION)
    clock.advance(40 * 60)
    store.add_readings(sid, [Reading(Parameter.NIBP_SYS, 150, clock.now()), Reading(Parameter.NIBP_DIA, 95, clock.now())])
    store.observe(sid, Kind.SEDATION, 4)
    store.observe(sid, Kind.DISSOCIATION, 2)
    clock.advance(20 * 60)
    store.observe(sid, Kind.SEDATION, 5)
    store.observe(sid, Kind.DISSOCIATION, 0)
    store.session_event(sid, SessionEvent.STOP_INFUSION)
    clock.advance(65 * 60)
    store.add_readings(sid, [Reading(Parameter.NIBP_SYS, 126, clock.now()), Reading(Parameter.NIBP_DIA, 80, clock.now())])
    store.save_checklist(sid, "discharge", {"checklist": {}, "padss": {}}, passed=False, score=7,
                         override_reason="Patient insisted on leaving; escort present, prescriber informed")
    store.session_event(sid, SessionEvent.DISCHARGE)
    summary = build_summary(store, sid, clock.now())
    path = tmp_path / "in.pdf"
    render_pdf(summary, path)
    flat = " ".join(pdf_text(path).split())
    for expected in ("Spravato REMS patient monitoring form", "First treatment", "Benzodiazepines",
                     "Non-benzodiazepine sedative hypnotics", "Psychostimulants", "MAOIs", "Monitoring HCP name",
                     "Setting name", "56 mg", "SPR-5566",
                     "Total minutes, first device administration to end of monitoring",
                     "If no 2-hour minimum, ready to leave after (minutes)", "128/82 mmHg", "150/95 mmHg",
                     "126/80 mmHg", "Yes (lowest MOAA/S 4)", "Yes (highest 2/4)", "Respiratory depression",
                     "DISCHARGE OVERRIDE", "Patient insisted on leaving"):
        assert expected in flat, expected
    rems = dict((f.label, f.value) for _, fields in summary.rems for f in fields)
    assert rems["Total minutes, first device administration to end of monitoring"] == "125"
    assert rems["Benzodiazepines"] == "Yes" and rems["MAOIs"] == "No"
    assert rems["First treatment"] == "Yes" and rems["Dose"] == "56 mg" and rems["Lot number"] == "SPR-5566"
    assert rems["BP before administration"].startswith("128/82")
    assert rems["BP ~40 min after administration"].startswith("150/95")
    assert rems["BP before completion of monitoring"].startswith("126/80")
    assert rems["If no 2-hour minimum, ready to leave after (minutes)"].startswith("60 ")
    shutil.copyfile(path, tmp_path.parent / "in-session.pdf")
    assert summary.discharge.override and not summary.discharge.passed


def test_iv_session_has_no_rems_form(demo_pdf):
    summary, path, _ = demo_pdf
    assert summary.rems is None
    assert "REMS patient monitoring" not in pdf_text(path)

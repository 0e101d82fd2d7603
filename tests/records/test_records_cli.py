"""``ketachart rems``, ``cs-log``, ``clinic`` and ``handout`` on a real chart: a week of demo IV sessions and an
intranasal session, run as a user would run them (a subprocess). Renders are saved for docs/screenshots."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ketachart.chair.records import RecordsCommands, Signer
from ketachart.demo import DEMO_NURSE, write_demo_session
from ketachart.domain.clock import FakeClock
from ketachart.domain.codes import Parameter
from ketachart.domain.dosing import intranasal_dose
from ketachart.domain.readings import Reading
from ketachart.domain.records import ITEM_BY_KEY, NO, YES
from ketachart.domain.session import SessionEvent
from ketachart.domain.vocabulary import Kind
from ketachart.store.models import Observation
from ketachart.store.open import open_store
from ketachart.store.records import set_rems_enrolment

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def run(db, *args, stdin=""):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "KETACHART_KEYRING": "0"}
    env.pop("KETACHART_DB_KEY", None)
    return subprocess.run([sys.executable, "-m", "ketachart.cli", *args, "--db", str(db), "--unencrypted"],
                          input=stdin, capture_output=True, text=True, env=env, timeout=180)


def pdf_text(path: Path) -> str:
    return " ".join(subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                                   text=True).stdout.split())


def _in_session(store) -> str:
    clock = store.clock
    p = store.create_patient("SPR-0007", "Reyes", "Ana", "1984-07-09", "female")
    course = store.create_course(p["patient_id"], "IN", "Spravato induction")
    set_rems_enrolment(store, p["patient_id"], "RP-00012345")
    sid = store.create_session(p["patient_id"], "IN", course["id"], chair="Chair 2")["id"]
    rc = RecordsCommands(store)
    store.author = DEMO_NURSE[0]
    store.session_event(sid, SessionEvent.CHECK_IN)
    rc.record_presession_items(sid, {k: (YES if i.safe_answer == YES else NO) for k, i in ITEM_BY_KEY.items()
                                     if "IN" in i.routes})
    for item in ("rems_benzodiazepines", "rems_sedative_hypnotics", "rems_psychostimulants", "rems_maois"):
        store.observe(sid, Kind.PRECHECK, data={"item": item, "answer": False})
    store.observe(sid, Kind.PRECHECK, data={"item": "escort_name", "answer": "Luis Reyes"})
    store.observe(sid, Kind.MANUAL_VITALS, data={"NIBP_SYS": 124, "NIBP_DIA": 79, "label": "baseline"})
    rc.sign_order(sid, Signer("d.cho", "Dana Cho, MD", "prescriber"), drug="esketamine", dose_mg=56)
    rc.prepare_dose(sid, intranasal_dose(56, store.policy),
                    rc.check_product(140, 0.4, "SPR-5566", "2027-06-30"), prepared_by=DEMO_NURSE[0])
    clock.advance(60)
    store.session_event(sid, SessionEvent.START_INFUSION)
    start = clock.now()

    def at(minute):
        clock.advance((start + timedelta(minutes=minute) - clock.now()).total_seconds())

    def bp(s, d):
        now = clock.now()
        store.add_readings(sid, [Reading(Parameter.NIBP_SYS, s, now, source="device:ge"),
                                 Reading(Parameter.NIBP_DIA, d, now, source="device:ge")])

    at(5)
    store.session_event(sid, SessionEvent.STOP_INFUSION)
    at(20)
    store.observe(sid, Kind.DISSOCIATION, 2)
    store.observe(sid, Kind.SEDATION, 4)
    at(41)
    bp(146, 92)
    at(70)
    store.observe(sid, Kind.DISSOCIATION, 0)
    store.observe(sid, Kind.SEDATION, 5)
    at(115)
    bp(128, 80)
    at(122)
    store.save_checklist(sid, "discharge", {"checklist": {}, "padss": {}}, passed=True, score=10)
    store.session_event(sid, SessionEvent.DISCHARGE)
    return sid


@pytest.fixture(scope="module")
def chart(tmp_path_factory):
    path = tmp_path_factory.mktemp("records-cli") / "chart.db"
    r = run(path, "users", "add", "admin.a", "--name", "Ada Admin", "--role", "admin", stdin="admin-4321\nadmin-4321\n")
    assert r.returncode == 0, r.stderr
    r = run(path, "users", "add", "nurse.b", "--name", "Bo Nurse, RN", "--role", "nurse", "--as", "admin.a",
            stdin="admin-4321\n1357\n1357\n")
    assert r.returncode == 0, r.stderr
    r = run(path, "users", "add", "dr.c", "--name", "Dana Cho, MD", "--role", "prescriber", "--as", "admin.a",
            stdin="admin-4321\n9753\n9753\n")
    assert r.returncode == 0, r.stderr
    store = open_store(path, unencrypted=True, clock=FakeClock(datetime(2026, 1, 8, 14, 0, tzinfo=timezone.utc)))
    try:
        demo = [write_demo_session(store, seed=s) for s in range(7)]  # Mon 5 Jan .. Sun 11 Jan 2026, 09:00
        in_sid = _in_session(store)
    finally:
        store.close()
    return path, demo, in_sid


def test_cs_log_over_a_week_of_demo_sessions(chart, tmp_path):
    db, demo, in_sid = chart
    r = run(db, "cs-log", "--from", "2026-01-05", "--to", "2026-01-11")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    admin = [x for x in rows if x["entry"] == "administration"]
    waste = [x for x in rows if x["entry"] == "waste"]
    assert {x["session_id"] for x in admin} == set(demo) | {in_sid}
    assert len(waste) == 7  # one witnessed waste per demo IV session
    for x in admin:
        assert x["lot"] and x["prepared_by"] and x["administered_by"] and x["reconciliation"]
    spravato = next(x for x in admin if x["session_id"] == in_sid)
    assert spravato["lot"] == "SPR-5566" and spravato["order"].startswith("esketamine 56 mg IN")
    assert spravato["delivered_mg"] == "56" and "Dana Cho, MD" in spravato["order"]
    assert spravato["reconciliation"] == "reconciled (from the chart)" and spravato["flag"] == "0"
    # the demo IV sessions stop early (pump volume at stop) with no end waste: the log says so
    iv = [x for x in admin if x["session_id"] in demo]
    assert all("DISCREPANCY" in x["reconciliation"] and x["flag"] == "1" for x in iv)
    # every demo dose was prepared under the course's standing order, which the log names
    assert all(x["order"].startswith("ketamine 0.5 mg/kg IV over 40 min") and "Dana Cho, MD" in x["order"] for x in iv)
    for x in waste:
        assert x["witness"] == "Sam Patel, RN"
    # a narrower period holds only its days
    r = run(db, "cs-log", "--from", "2026-01-06", "--to", "2026-01-06")
    assert len([x for x in csv.DictReader(io.StringIO(r.stdout)) if x["entry"] == "administration"]) == 1
    out = tmp_path / "cs-log.pdf"
    r = run(db, "cs-log", "--from", "2026-01-05", "--to", "2026-01-11", "-o", str(out))
    assert r.returncode == 0, r.stderr
    text = pdf_text(out)
    assert "Controlled-substance log" in text and "SPR-5566" in text and "KET02400" in text
    shutil.copyfile(out, tmp_path.parent / "cs-log.pdf")


@pytest.mark.parametrize("args, words", [
    (("--from", "2026-02-30", "--to", "2026-03-01"), "--from must be a date"),
    (("--from", "2026-03-02", "--to", "2026-03-01"), "--to is before --from"),
    (("--from", "2026-03-01", "--to", "2026-03-02", "-o", "x.txt"), ".csv or .pdf"),
])
def test_cs_log_bad_input_is_one_line_and_exit_2(chart, args, words):
    db, _, _ = chart
    r = run(db, "cs-log", *args)
    assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_rems_form_page_due_list_and_submission(chart, tmp_path):
    db, demo, sid = chart
    out = tmp_path / "rems.pdf"
    r = run(db, "rems", "--session", sid, "-o", str(out))
    assert r.returncode == 0, r.stderr
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True).stdout
    assert next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")) == "1"  # one page
    text = pdf_text(out)
    for expected in ("SPRAVATO REMS - Patient Monitoring Form", "RP-00012345", "07/09/1984", "01/08/2026",
                     "124/79 mmHg", "146/92 mmHg", "128/80 mmHg", "SPR-5566", "56 mg", "First treatment"):
        assert expected in text, expected
    assert "Monitoring HCP name Alex Morgan, RN" in text  # who started it, not the prescriber who signed the order
    shutil.copyfile(out, tmp_path.parent / "rems.pdf")
    # an IV session has no REMS form
    r = run(db, "rems", "--session", demo[0], "-o", str(tmp_path / "iv.pdf"))
    assert r.returncode == 2 and "intranasal" in r.stderr and not (tmp_path / "iv.pdf").exists()
    # due: the Spravato session, with days left of the 7-day window (overdue by now: it was in January 2026)
    r = run(db, "rems", "--due")
    assert r.returncode == 0 and sid in r.stdout and "01/08/2026" in r.stdout
    assert not any(d in r.stdout for d in demo)
    # marking it submitted is charted with who; a wrong PIN changes nothing
    r = run(db, "rems", "--session", sid, "--mark-submitted", "--as", "nurse.b", stdin="0000\n")
    assert r.returncode == 2
    assert sid in run(db, "rems", "--due").stdout
    r = run(db, "rems", "--session", sid, "--mark-submitted", "--as", "nurse.b", "--note", "portal #A-778",
            stdin="1357\n")
    assert r.returncode == 0, r.stderr
    assert "Bo Nurse, RN" in r.stdout
    assert run(db, "rems", "--due").stdout.strip() == "no REMS forms due"
    r = run(db, "rems", "--session", sid, "--mark-submitted", "--as", "nurse.b", stdin="1357\n")
    assert r.returncode == 2 and "already marked submitted" in r.stderr


def test_clinic_settings_are_versioned_admin_managed_and_printed(chart, tmp_path):
    db, _, sid = chart
    r = run(db, "clinic", "set", "clinic_name=Lakeside Mood Clinic", "clinic_phone=+1 555 0100",
            "clinic_address=12 Lake Rd, Madison WI", "clinic_tz=America/Chicago", "--reason", "opening",
            "--as", "nurse.b", stdin="1357\n")
    assert r.returncode == 2  # a nurse may not
    r = run(db, "clinic", "set", "clinic_tz=Mars/Olympus", "--reason", "x", "--as", "admin.a", stdin="admin-4321\n")
    assert r.returncode == 2 and "IANA" in r.stderr
    r = run(db, "clinic", "set", "clinic_name=Lakeside Mood Clinic", "clinic_phone=+1 555 0100",
            "clinic_address=12 Lake Rd, Madison WI", "clinic_tz=America/Chicago", "after_hours_phone=+1 555 0199",
            "--reason", "opening", "--as", "admin.a", stdin="admin-4321\n")
    assert r.returncode == 0, r.stderr
    r = run(db, "clinic", "set", "clinic_phone=+1 555 0111", "--reason", "new line", "--as", "admin.a", stdin="admin-4321\n")
    assert r.returncode == 0, r.stderr
    shown = run(db, "clinic", "show").stdout
    assert "clinic_phone=+1 555 0111" in shown and "clinic_name=Lakeside Mood Clinic" in shown and "version 2" in shown
    history = run(db, "clinic", "show", "--history").stdout
    assert "version 1" in history and "+1 555 0100" in history and "new line" in history
    # the REMS form and the handout read the clinic from the database; times in the clinic's zone
    out = tmp_path / "rems2.pdf"
    assert run(db, "rems", "--session", sid, "-o", str(out)).returncode == 0
    text = pdf_text(out)
    assert "Lakeside Mood Clinic" in text and "+1 555 0111" in text and "America/Chicago" in text
    hand = tmp_path / "handout.pdf"
    r = run(db, "handout", "--session", sid, "-o", str(hand), "--given")
    assert r.returncode == 0, r.stderr
    text = pdf_text(hand)
    assert "Do not drive" in text and "Luis Reyes" in text and "+1 555 0199" in text and "version 2" in text
    shutil.copyfile(hand, tmp_path.parent / "handout.pdf")
    store = open_store(db, unencrypted=True, lock=False)
    try:
        given = [o for o in store.rows(Observation, session_id=sid) if o["kind"] == "handout-given"]
    finally:
        store.close()
    assert len(given) == 1 and '"version": 2' in given[0]["data"]


def test_screenshots_of_the_records(chart, tmp_path, tmp_path_factory):
    """Render the REMS page, the cs-log and the handout to PNG (docs/screenshots is refreshed on request only,
    with KETACHART_UPDATE_SCREENSHOTS=1, as for the summary's picture)."""
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm not installed")
    base = Path(tmp_path_factory.getbasetemp())
    found = {name: next(base.rglob(name), None) for name in ("rems.pdf", "cs-log.pdf", "handout.pdf")}
    if not all(found.values()):
        pytest.skip("run with the other tests of this module")
    for name, pdf in found.items():
        stem = tmp_path / ("records-" + name.replace(".pdf", ""))
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", "-f", "1", "-l", "1", str(pdf), str(stem)],
                       check=True)
        png = stem.with_suffix(".png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        if os.environ.get("KETACHART_UPDATE_SCREENSHOTS"):
            SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(png, SHOTS / png.name)


def test_a_prescriber_signs_an_order_and_a_vial_is_reconciled_from_the_command_line(chart):
    db, demo, in_sid = chart
    store = open_store(db, unencrypted=True)
    try:
        p = store.create_patient("ORD-1", "Park", "Min", "1970-05-05", "male", 80.0)
        sid = store.create_session(p["patient_id"], "IV")["id"]
    finally:
        store.close()
    args = ("order", "--session", sid, "--drug", "ketamine", "--mg-per-kg", "0.5", "--minutes", "40")
    r = run(db, *args, "--as", "nurse.b", stdin="1357\n")
    assert r.returncode == 2 and "not a prescriber" in r.stderr
    r = run(db, "order", "--session", sid, "--drug", "ketamine", "--mg-per-kg", "0.5", "--as", "dr.c", stdin="9753\n")
    assert r.returncode == 2 and "duration" in r.stderr
    r = run(db, *args, "--as", "dr.c", stdin="9753\n")
    assert r.returncode == 0, r.stderr
    assert "ketamine 0.5 mg/kg IV over 40 min; signed by Dana Cho, MD" in r.stdout
    # the Spravato session's two devices reconcile; a discrepancy needs a note
    r = run(db, "cs-reconcile", "--session", in_sid, "--delivered", "28", "--as", "nurse.b", stdin="1357\n")
    assert r.returncode == 2 and "does not reconcile (+28 mg)" in r.stderr
    r = run(db, "cs-reconcile", "--session", in_sid, "--delivered", "56", "--as", "nurse.b", stdin="1357\n")
    assert r.returncode == 0, r.stderr
    assert "vial 56 mg = delivered 56 + waste 0 + remaining 0: reconciled" in r.stdout
    r = run(db, "cs-log", "--from", "2026-01-08", "--to", "2026-01-08")
    row = next(x for x in csv.DictReader(io.StringIO(r.stdout)) if x["session_id"] == in_sid)
    assert row["reconciliation"] == "reconciled"


def test_a_prescriber_signs_the_standing_order_of_a_course_from_the_command_line(chart):
    """The order every pre-session of the patient's IV course cites (issue 16), signed before the first one."""
    from ketachart.chair.records import order_in_force_words
    from ketachart.store.records import standing_order

    db, _demo, _ = chart
    store = open_store(db, unencrypted=True)
    try:
        pid = store.create_patient("ORD-2", "Park", "Jae", "1971-06-06", "male", 82.0)["patient_id"]
    finally:
        store.close()
    args = ("order", "--mrn", "ORD-2", "--drug", "ketamine", "--mg-per-kg", "0.5", "--minutes", "40")
    r = run(db, *args, "--as", "nurse.b", stdin="1357\n")
    assert r.returncode == 2 and "not a prescriber" in r.stderr
    r = run(db, "order", "--mrn", "NOPE-9", *args[3:], "--as", "dr.c", stdin="9753\n")
    assert r.returncode == 2 and "no patient with MRN NOPE-9" in r.stderr
    r = run(db, "order", "--mrn", "ORD-2", "--session", "x", *args[3:], "--as", "dr.c", stdin="9753\n")
    assert r.returncode == 2  # one or the other
    r = run(db, *args, "--as", "dr.c", stdin="9753\n")
    assert r.returncode == 0, r.stderr
    assert "ketamine 0.5 mg/kg IV over 40 min; signed by Dana Cho, MD (standing order for the course)" in r.stdout
    store = open_store(db, unencrypted=True)
    try:
        assert standing_order(store, pid, "IN") is None and standing_order(store, pid, "IV")["author"] == "dr.c"
        assert order_in_force_words(store, pid, "IV").startswith("ketamine 0.5 mg/kg IV over 40 min, signed by Dana Cho")
    finally:
        store.close()


def test_the_rems_enrolment_id_is_recorded_with_the_patient(chart):
    db, demo, _ = chart
    r = run(db, "rems", "--mrn", "DEMO-0001", "--enrolment-id", "RP-55", "--as", "nurse.b", stdin="1357\n")
    assert r.returncode == 0, r.stderr
    r = run(db, "rems", "--mrn", "DEMO-0001", "--enrolment-id", "RP-56", "--as", "nurse.b", stdin="1357\n")
    assert r.returncode == 2 and "--reason" in r.stderr
    r = run(db, "rems", "--mrn", "DEMO-0001", "--enrolment-id", "RP-56", "--reason", "typo", "--as", "nurse.b",
            stdin="1357\n")
    assert r.returncode == 0, r.stderr
    store = open_store(db, unencrypted=True, lock=False)
    try:
        from ketachart.store.records import rems_enrolment

        pid = next(p["patient_id"] for p in store.patients() if p["mrn"] == "DEMO-0001")
        assert rems_enrolment(store, pid) == "RP-56"
        versions = [o for o in store.rows(Observation, patient_id=pid) if o["kind"] == "rems-enrolment"]
        assert [v["text"] for v in versions] == ["RP-55", "RP-56"] and versions[1]["reason"] == "typo"
        assert versions[0]["author"] == "nurse.b"
    finally:
        store.close()
    r = run(db, "rems", "--mrn", "NOPE", "--enrolment-id", "RP-1", "--as", "nurse.b", stdin="1357\n")
    assert r.returncode == 2 and "no patient with MRN NOPE" in r.stderr

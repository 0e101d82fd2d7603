"""Patients come in without typing (issue 18): ``ketachart patients import`` from CSV and HL7 ADT^A04/A08 on a
listening port, both through the store's patient API, versioned, with bad input refused and nothing changed."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timezone
from threading import Thread

import pytest

from ketachart.cli import main
from ketachart.domain.clock import FakeClock
from ketachart.hardware.codecs.hl7_adt import AdtRefused, Authority, decode_adt
from ketachart.patients_adt import AdtHandler, AdtServer
from ketachart.patients_import import import_csv, read_csv
from ketachart.store.models import AuditEvent, Patient
from ketachart.store.open import open_store

SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.1"
AUTHORITY = Authority(SYSTEM, "NORTHCLINIC")


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "chart.db", unencrypted=True, clock=FakeClock(datetime(2026, 4, 1, 9, tzinfo=timezone.utc)))
    yield s
    s.close()


def write(tmp_path, text: str, name: str = "p.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


GOOD = ("MRN,Last name,First name,DOB,Gender,Weight (kg),Phone,Referrer\n"
        "A-100,Okafor,Chidi,1979-11-02,M,82.5,555-0100,Dr X\n"
        "A-101,\"García, Núñez\",Lucía,19900514,female,,,\n")


def test_import_creates_then_versions_patients_and_flags_duplicates(store, tmp_path):
    plan = import_csv(store, write(tmp_path, GOOD))
    assert (plan.count("create"), plan.count("update")) == (2, 0)
    assert plan.ignored_columns == ["Referrer"]
    by_mrn = {p["mrn"]: p for p in store.patients()}
    assert by_mrn["A-101"]["family_name"] == "García, Núñez" and by_mrn["A-101"]["birth_date"] == "1990-05-14"
    assert by_mrn["A-100"]["sex"] == "male" and by_mrn["A-100"]["weight_kg"] == 82.5
    # the same MRN again with a new phone: a new version of that patient, the old one kept
    again = write(tmp_path, "mrn;family name;given name;birth date;sex;phone\n"
                            "A-100;Okafor;Chidi;1979-11-02;M;555-0199\nA-101;García, Núñez;Lucía;1990-05-14;F;\n", "b.csv")
    plan = import_csv(store, again)
    assert (plan.count("update"), plan.count("unchanged")) == (1, 1)
    assert any("A-100" in line and "duplicate MRN" in line and "phone" in line for line in plan.lines())
    versions = [r for r in store.rows(Patient) if r["mrn"] == "A-100"]
    assert len(versions) == 2 and versions[1]["amends"] == versions[0]["id"]
    assert "CSV import b.csv" in versions[1]["reason"]
    assert {p["mrn"]: p for p in store.patients()}["A-100"]["phone"] == "555-0199"
    audits = [json.loads(a["details"]) for a in store.rows(AuditEvent) if a["action"] == "import-patients"]
    assert audits[-1] == {"source": "CSV", "created": 0, "updated": 1}
    assert "Okafor" not in json.dumps(audits)


@pytest.mark.parametrize("text, message", [
    ("MRN,Last name,DOB,Sex\nA-1,Lee,03/04/1980,F\n", "must be YYYY-MM-DD"),
    ("MRN,Last name,DOB,Sex\nA-1,Lee,1980-03-04,F\nA-1,Lee,1980-03-04,F\n", "duplicate MRN in the file"),
    ("MRN,Last name,DOB,Sex\nA-1,Le\x07e,1980-03-04,F\n", "control character"),
    ("MRN,Last name,DOB,Sex\nA-1,,1980-03-04,F\n", "family name is missing"),
    ("MRN,Last name,DOB,Sex\nA-1,Lee,1980-03-04,X\n", "must be M, F, O or U"),
    ("MRN,Last name,DOB,Sex\nA-1,Lee,2090-03-04,F\n", "not plausible"),
    ("MRN,Last name,DOB,Sex,Weight\nA-1,Lee,1980-03-04,F,900\n", "Weight"),
    ("Patient,Surname,Born\nA-1,Lee,1980-03-04\n", "no column for"),
    ("MRN,Last name,DOB,Sex\nA 1;DROP,Lee,1980-03-04,F\n", "not a record number"),
])
def test_bad_file_exits_2_lists_the_problem_and_changes_nothing(store, tmp_path, capsys, text, message):
    header, _, rows = text.partition("\n")
    path = write(tmp_path, f"{header}\nOK-1,Good,1970-01-01,F{',70' if 'Weight' in header else ''}\n{rows}")
    store.close()  # the command opens the chart itself
    argv = ["patients", "import", str(path), "--db", str(store.path), "--unencrypted"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "nothing was imported" in err
    with open_store(store.path, unencrypted=True) as s:
        assert s.rows(Patient) == []  # not even the good first row


def test_not_utf8_and_dry_run_and_map(store, tmp_path, capsys):
    latin = write(tmp_path, "MRN,Last name,DOB,Sex\nA-1,Müller,1980-03-04,F\n", encoding="latin-1")
    store.close()
    base = ["--db", str(store.path), "--unencrypted"]
    assert main(["patients", "import", str(latin)] + base) == 2
    assert "not UTF-8" in capsys.readouterr().err
    odd = write(tmp_path, "Pt Number,Surname,Born,Sex\nA-1,Lee,1980-03-04,F\n", "odd.csv")
    assert main(["patients", "import", str(odd), "--map", "Pt Number=mrn", "--map", "Born=birth_date", "--dry-run"]
                + base) == 0
    out = capsys.readouterr().out
    assert "A-1: new patient" in out and "nothing was written" in out
    with open_store(store.path, unencrypted=True) as s:
        assert s.patients() == []
    assert main(["patients", "import", str(odd), "--map", "Pt Number=mrn", "--map", "Born=birth_date"] + base) == 0
    with open_store(store.path, unencrypted=True) as s:
        assert [p["mrn"] for p in s.patients()] == ["A-1"]
    assert main(["patients", "import", str(odd), "--map", "Pt Number=nonsense"] + base) == 2


def test_an_mrn_the_chart_holds_twice_is_not_updated(store, tmp_path):
    store.create_patient("D-1", "One", "A", "1980-01-01", "female")
    # two chairs registered the same MRN offline: both patients arrive in the chart
    store.append(Patient, patient_id="p-other", mrn="D-1", family_name="Two", given_name="B",
                 birth_date="1981-01-01", sex="male", weight_kg=None, phone=None)
    from ketachart.patients_import import ImportRefused

    with pytest.raises(ImportRefused, match="belongs to 2 patients"):
        import_csv(store, write(tmp_path, "MRN,Last name,DOB,Sex\nD-1,One,1980-01-01,F\n"))
    assert len(store.rows(Patient)) == 2


# --- HL7 ADT --------------------------------------------------------------------------------------------------


def adt(trigger="A04", pid3=f"H-7^^^NORTHCLINIC&{SYSTEM}&ISO^MR", name="Ito^Haruto", dob="19850704", sex="M",
        control="MSG0001", phone="555-0142") -> str:
    return "\r".join([
        f"MSH|^~\\&|EHR|NORTH|KETACHART|CHAIR|20260401090000||ADT^{trigger}^ADT_A01|{control}|P|2.5",
        f"EVN|{trigger}|20260401090000",
        f"PID|1||{pid3}||{name}||{dob}|{sex}|||1 Main St^^Springfield||{phone}",
    ]) + "\r"


def test_adt_decoder_takes_this_clinics_mrn_and_refuses_others():
    ev = decode_adt(adt(pid3=f"X9^^^OTHER&urn:oid:1.2.3&ISO^MR~H-7^^^NORTHCLINIC&{SYSTEM}&ISO^MR"), AUTHORITY)
    assert (ev.trigger, ev.mrn, ev.family_name, ev.given_name, ev.birth_date, ev.sex) == (
        "A04", "H-7", "Ito", "Haruto", "1985-07-04", "M")
    assert decode_adt(adt(pid3="H-8^^^NORTHCLINIC^MR"), AUTHORITY).mrn == "H-8"  # namespace only
    assert decode_adt(adt(name="O\\S\\Brien^Ann"), AUTHORITY).family_name == "O^Brien"
    for message, why in [
        (adt(pid3="X9^^^OTHER&urn:oid:1.2.3&ISO^MR"), "another clinic"),
        (adt(pid3="H-7"), "another clinic"),
        (adt(pid3=f"H-7^^^NORTHCLINIC&{SYSTEM}&ISO^PI"), "another clinic"),
        (adt(name="Ito\x00^Haruto"), "control character"),
        (adt(name="Ito\\X0D\\^Haruto"), "escape sequence"),
        (adt(trigger="A03"), "only ADT.A04 and ADT.A08"),
        (adt(dob="1985-07-04"), "YYYYMMDD"),
        ("garbage", "not an HL7 message"),
    ]:
        with pytest.raises(AdtRefused, match=why):
            decode_adt(message, AUTHORITY)


def _send(port: int, message: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"\x0b" + message.encode() + b"\x1c\x0d")
        data = b""
        while not data.endswith(b"\x1c\x0d"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.strip(b"\x0b\x1c\x0d").decode()


def test_adt_on_a_listening_port_creates_and_updates_demographics(store):
    server = AdtServer(AdtHandler(store, AUTHORITY), "127.0.0.1", 0)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ack = _send(server.port, adt())
        assert "MSA|AA|MSG0001|created" in ack
        (p,) = store.patients()
        assert (p["mrn"], p["family_name"], p["birth_date"], p["sex"], p["phone"]) == (
            "H-7", "Ito", "1985-07-04", "male", "555-0142")
        # A08 with a new name and no date of birth: the name changes, the birth date stays
        ack = _send(server.port, adt("A08", name="Ito-Sato^Haruto", dob="", control="MSG0002"))
        assert "MSA|AA|MSG0002|updated" in ack
        (p,) = store.patients()
        assert (p["family_name"], p["birth_date"]) == ("Ito-Sato", "1985-07-04")
        versions = [r for r in store.rows(Patient) if r["mrn"] == "H-7"]
        assert len(versions) == 2 and "HL7 ADT^A08 MSG0002" in versions[1]["reason"]
        assert "MSA|AA|MSG0003|unchanged" in _send(server.port, adt("A08", name="Ito-Sato^Haruto", control="MSG0003"))
        # refused: another clinic's MRN, control characters, not ADT; nothing written
        rows = len(store.rows(Patient))
        assert "MSA|AE|MSG0004|" in _send(server.port, adt(pid3="H-7^^^OTHER&urn:oid:9.9&ISO^MR", control="MSG0004",
                                                          name="Evil^Eve"))
        assert "MSA|AE|MSG0005|" in _send(server.port, adt("A08", name="Ito\x1b[2J^H", control="MSG0005"))
        assert "MSA|AR|MSG0006|" in _send(server.port, adt("A03", control="MSG0006"))
        assert "MSA|AE|MSG0007|" in _send(server.port, adt(control="MSG0007", pid3=f"N-1^^^NORTHCLINIC&{SYSTEM}&ISO^MR",
                                                          dob=""))  # a new patient needs a birth date
        assert len(store.rows(Patient)) == rows and store.patients()[0]["family_name"] == "Ito-Sato"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_listen_refuses_to_start_without_the_clinics_mrn_system(store, capsys, monkeypatch):
    monkeypatch.delenv("KETACHART_MRN_SYSTEM", raising=False)
    store.close()
    assert main(["patients", "listen", "--port", "0", "--db", str(store.path), "--unencrypted"]) == 2
    assert "MRN system is not set" in capsys.readouterr().err


def test_the_import_and_adt_paths_never_import_qt():
    import subprocess
    import sys

    code = ("import sys, ketachart.patients_import, ketachart.patients_adt, ketachart.hardware.codecs.hl7_adt; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')]; sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0

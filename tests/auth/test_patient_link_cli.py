"""`ketachart patients duplicates|link|unlink`: admins only, with their PIN; bad input exits 2 and writes nothing."""

from __future__ import annotations

import io

import pytest

from ketachart.cli import main
from ketachart.domain.ids import new_id
from ketachart.store.models import Patient, PatientLink
from ketachart.store.open import open_store


@pytest.fixture
def chart(tmp_path, hasher, monkeypatch):
    """A chart with an admin (admin / admin-pass), a nurse and the same person registered twice."""
    from ketachart.auth import Accounts

    path = tmp_path / "chart.db"
    with open_store(path, unencrypted=True) as store:
        acc = Accounts(store, hasher=hasher)
        acc.create_first_admin("admin", "Pat Admin", "admin-pass")
        acc.add_user(acc.current.user, "a.morgan", "Alex Morgan, RN", "nurse", "2468")
        acc.sign_out()
        kept = store.create_patient("MRN-9", "Doe", "Jane", "1980-02-03", "female")["patient_id"]
        merged = store.append(Patient, patient_id=new_id(), mrn="MRN-9", family_name="Doe", given_name="Jane",
                              birth_date="1980-02-03", sex="female")["patient_id"]
    return path, kept, merged


def _run(monkeypatch, path, *args, pin="admin-pass"):
    monkeypatch.setattr("sys.stdin", io.StringIO(pin + "\n"))
    return main(["patients", *args, "--db", str(path), "--unencrypted"])


def _links(path):
    with open_store(path, unencrypted=True, lock=False) as store:
        return store.rows(PatientLink), [p["patient_id"] for p in store.patients()]


def test_admin_links_and_unlinks_from_the_command_line(chart, monkeypatch, capsys):
    path, kept, merged = chart
    assert _run(monkeypatch, path, "duplicates", "--as", "admin") == 0
    out = capsys.readouterr().out
    assert "possible duplicate, MRN MRN-9" in out and kept in out and merged in out
    assert _run(monkeypatch, path, "link", "--keep", kept, "--merge", merged, "--reason", "registered twice",
                "--as", "admin") == 0
    rows, people = _links(path)
    assert people == [kept] and rows[0]["author"] == "admin" and rows[0]["reason"] == "registered twice"
    assert _run(monkeypatch, path, "duplicates", "--as", "admin") == 0
    out = capsys.readouterr().out
    assert "no possible duplicates" in out and f"linked: {merged} reads as {kept}" in out
    assert _run(monkeypatch, path, "unlink", "--merge", merged, "--reason", "twins", "--as", "admin") == 0
    rows, people = _links(path)
    assert sorted(people) == sorted([kept, merged]) and len(rows) == 2


@pytest.mark.parametrize("who, pin, args, message", [
    ("a.morgan", "2468", ["--keep", "K", "--merge", "M"], "Only an admin"),
    ("admin", "wrong-pin", ["--keep", "K", "--merge", "M"], "not recognised"),
    ("admin", "admin-pass", ["--keep", "K", "--merge", "K"], "itself"),
    ("admin", "admin-pass", ["--keep", "K", "--merge", "no-such-id"], "no patient record"),
    ("admin", "admin-pass", ["--keep", "K", "--merge", "M", "--reason", " "], "needs a reason"),
    ("admin", "admin-pass", ["--keep", "K", "--merge", "M", "--reason", "bad\x00text"], "control"),
])
def test_bad_links_exit_2_with_a_message_and_write_nothing(chart, monkeypatch, capsys, who, pin, args, message):
    path, kept, merged = chart
    args = [{"K": kept, "M": merged}.get(a, a) for a in args]
    if "--reason" not in args:
        args += ["--reason", "duplicate"]
    assert _run(monkeypatch, path, "link", *args, "--as", who, pin=pin) == 2
    assert message in capsys.readouterr().err
    rows, people = _links(path)
    assert rows == [] and sorted(people) == sorted([kept, merged])

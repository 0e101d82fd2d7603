"""Issue 13 items 5, 7 and 8: one bad row never stops sync, order without wall clocks, clean errors."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from ketachart.cli import main
from ketachart.domain.clock import FakeClock
from ketachart.domain.errors import ClinicalInputError
from ketachart.store.errors import StorageProblem
from ketachart.store.models import Patient
from ketachart.store.repository import ChartStore
from ketachart.sync.service import SyncService
from tests.sync.helpers import chart_small_session


def test_a_control_character_is_refused_at_entry_with_a_clear_message(make_chair):
    a = make_chair("a")
    with pytest.raises(ClinicalInputError, match=r"family name contains a control character \(U\+0000\)"):
        a.create_patient("MRN-1", "Doe\x00", "Jane", "1980-01-01", "female")
    assert a.rows(Patient) == []
    a.observe(None, "note", text="two\nlines\tok")  # line breaks and tabs stay allowed in notes


def test_a_row_the_central_refuses_is_held_back_and_the_rest_continues(central, make_chair, monkeypatch, capsys):
    """Attack 5: a NUL (from a file written before the entry check) used to stop that chair's sync for good."""
    a = make_chair("a")
    url = central.url_for(a)
    monkeypatch.setattr("ketachart.store.repository.check_text", lambda values: None)
    bad = a.create_patient("MRN-NUL", "Doe\x00", "Jane", "1980-01-01", "female")
    monkeypatch.undo()
    chart_small_session(a, "A", readings=10)
    result = SyncService(a, url, batch_size=7).run_once()
    assert result.error is None and result.pending == 0
    assert [r["id"] for r in result.to_json()["refused"]] == [bad["id"]]
    assert central.count("reading_blocks") == 10 and central.count("patients") == 1
    path = a.path
    a.close()
    code = main(["sync", "--db", str(path), "--central", url, "--unencrypted"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and out["refused"][0]["id"] == bad["id"] and out["pending"] == 0


def test_a_chair_a_day_ahead_cannot_hide_newer_edits_or_block_amendments(central, make_chair):
    """Attack 7: versions ordered by the amendment chain, not by wall clocks; an amendment is charted at now."""
    ahead = make_chair("ahead", FakeClock())
    ahead.clock.advance(24 * 3600)
    b = make_chair("b")
    p = ahead.create_patient("MRN-7", "Doe", "Jane", "1980-01-01", "female")
    assert SyncService(ahead, central.url_for(ahead)).run_once().error is None
    assert SyncService(b, central.url_for(b)).run_once().error is None
    original = b.rows(Patient, patient_id=p["patient_id"])[0]
    b.amend(Patient, original["id"], "name misspelt", family_name="Dough")  # was refused as "in the future"
    assert b.patient(p["patient_id"])["family_name"] == "Dough"
    assert SyncService(b, central.url_for(b)).run_once().error is None
    assert SyncService(ahead, central.url_for(ahead)).run_once().error is None
    assert ahead.patient(p["patient_id"])["family_name"] == "Dough"


def test_the_same_mrn_on_two_chairs_is_flagged_as_a_possible_duplicate(central, make_chair):
    a, b = make_chair("a"), make_chair("b")
    pa = a.create_patient("MRN-9", "Doe", "Jane", "1980-01-01", "female")
    pb = b.create_patient("MRN-9", "Doe", "Jayne", "1980-01-01", "female")
    for s in (a, b, a):
        assert SyncService(s, central.url_for(s)).run_once().error is None
    assert a.possible_duplicates() == [sorted([pa["patient_id"], pb["patient_id"]])]
    assert a.patient(pa["patient_id"])["possible_duplicate_of"] == [pb["patient_id"]]


def test_a_birth_date_in_the_future_is_refused(make_chair):
    a = make_chair("a")
    with pytest.raises(ClinicalInputError, match="in the future"):
        a.create_patient("MRN-1", "Doe", "Jane", "2099-01-01", "female")


@pytest.mark.parametrize("size", ["0", "-5"])
def test_sync_batch_size_must_be_positive(size, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["sync", "--db", str(tmp_path / "x.db"), "--central", "postgresql://x@127.0.0.1:1/x", "--batch-size", size])
    assert exit_.value.code == 2 and "must be 1 or more" in capsys.readouterr().err


def test_disk_full_is_a_clear_error_and_saves_nothing(tmp_path):
    store = ChartStore.open(tmp_path / "chart.db", FakeClock())
    try:
        p = store.create_patient("MRN-1", "Doe", "Jane", "1980-01-01", "female")
        sid = store.create_session(p["patient_id"])["id"]
        before = store.sync_ledger.last_seq()
        from sqlalchemy import event

        @event.listens_for(store.engine, "connect")
        def _tiny(dbapi_con, _record):  # noqa: ANN001 - the "disk" holds no more pages than the file has now
            pages = dbapi_con.execute("PRAGMA page_count").fetchone()[0]
            dbapi_con.execute(f"PRAGMA max_page_count = {pages}")

        store.engine.dispose()
        with pytest.raises(StorageProblem, match="is full: nothing was saved"):
            store.observe(sid, "note", text="x" * 200_000)
        assert store.sync_ledger.last_seq() == before
    finally:
        store.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_a_read_only_location_is_named_as_such(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    ChartStore.open(folder / "chart.db", FakeClock()).close()
    folder.chmod(0o555)
    try:
        from ketachart.store.errors import DatabaseRefused
        from ketachart.store.open import open_store

        with pytest.raises(DatabaseRefused, match="read-only location"):
            open_store(folder / "chart.db", unencrypted=True)
    finally:
        folder.chmod(0o755)


def test_selftest_reports_a_damaged_file_instead_of_dying(tmp_path, capsys):
    path = tmp_path / "chart.db"
    store = ChartStore.open(path, FakeClock())
    chart_small_session(store, "A", readings=400)
    store.close()
    data = bytearray(path.read_bytes())
    page = len(data) // 4096 * 8 // 10  # garbage over the b-tree header of one page of readings
    data[page * 4096:page * 4096 + 16] = bytes((page * 37 + i * 11) % 256 for i in range(16))
    path.write_bytes(bytes(data))
    code = main(["selftest", "--db", str(path), "--unencrypted"])  # used to raise (DatabaseError, MemoryError)
    out = capsys.readouterr().out
    assert code == 1 and "FAIL database integrity: the chart file is damaged" in out

"""The record is sacred: SQLite itself and the ORM refuse changes; corrections are amendments."""

import sqlite3

import pytest
from sqlalchemy.orm import Session as OrmSession

from ketachart.domain.errors import ClinicalInputError
from ketachart.store.errors import ImmutableRecordError
from ketachart.store.db import APPEND_ONLY_TABLES
from ketachart.store.models import Observation, Patient
from ketachart.store.views import session_view


def test_sqlite_refuses_update_and_delete_on_every_chart_table(store, session):
    from ketachart.demo import write_demo_session

    write_demo_session(store, seed=3, monitoring_minutes=125)  # puts rows in every chart table
    store.observe(session["id"], "note", text="calm")
    from ketachart.domain.ids import new_id
    from ketachart.store.patient_links import link_patients  # the one chart table the demo does not fill

    twin = store.append(Patient, patient_id=new_id(), mrn="MRN-100", family_name="Doe", given_name="Jane",
                        birth_date="1980-02-03", sex="female")
    link_patients(store, session["patient_id"], twin["patient_id"], "registered twice", author="admin")
    con = sqlite3.connect(store.path)
    # vital_readings only holds rows of files from before schema 6: put one in as such a file would have it.
    con.execute("INSERT INTO vital_readings (id, device_id, device_seq, author, effective_at, recorded_at, late_entry, "
                "row_hash, parameter, unit, source, flags) VALUES ('old', 'chair-old', 1, 'n', '2026-01-05 08:50:00.000000', "
                "'2026-01-05 08:50:00.000000', 0, 'h', 'HR', '/min', 'device:ge', '')")
    con.commit()
    for table in APPEND_ONLY_TABLES:
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0, table
        column = {"reading_journal": "body", "reading_kinds": "flags"}.get(table, "author")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute(f"UPDATE {table} SET {column} = 'x'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute(f"DELETE FROM {table}")
    con.close()
    assert store.rows(Observation, session_id=session["id"])[0]["text"] == "calm"


def test_orm_guard_refuses_dirty_and_deleted_objects(store, session):
    row = store.observe(session["id"], "dissociation", 2)
    with OrmSession(store.engine) as s:
        obj = s.get(Observation, row["id"])
        obj.value = 4
        with pytest.raises(ImmutableRecordError):
            s.flush()
    with OrmSession(store.engine) as s:
        s.delete(s.get(Observation, row["id"]))
        with pytest.raises(ImmutableRecordError):
            s.flush()
    assert store.get(Observation, row["id"])["value"] == 2


def test_amendment_keeps_original_readable_and_needs_reason(store, session):
    original = store.observe(session["id"], "nausea", 6, data={"vomiting": False})
    with pytest.raises(ClinicalInputError, match="reason"):
        store.amend(Observation, original["id"], "  ", value=3)
    fixed = store.amend(Observation, original["id"], "mis-keyed", value=3)
    assert fixed["amends"] == original["id"] and fixed["reason"] == "mis-keyed"
    assert store.get(Observation, original["id"])["value"] == 6
    view = session_view(store, session["id"])
    (entry,) = view.observations_of("nausea")
    assert entry.row["value"] == 3 and entry.history[0]["value"] == 6
    with pytest.raises(ClinicalInputError, match="already corrected"):
        store.amend(Observation, original["id"], "again", value=2)


def test_every_row_gets_gap_free_device_seq_and_two_times(store, session, clock):
    before = clock.now()
    clock.advance(minutes=30)
    late = store.observe(session["id"], "note", text="seen earlier", effective_at=before)
    on_time = store.observe(session["id"], "note", text="now")
    assert late["late_entry"] is True and on_time["late_entry"] is False
    assert late["recorded_at"] == clock.now() and late["effective_at"] == before
    seqs = sorted(r["device_seq"] for t in (Patient, Observation) for r in store.rows(t))
    assert on_time["device_seq"] == late["device_seq"] + 1
    assert len(set(seqs)) == len(seqs)
    assert store.verify_chain() == []


def test_future_entries_are_refused(store, session, clock):
    from datetime import timedelta

    with pytest.raises(ClinicalInputError, match="future"):
        store.observe(session["id"], "note", text="x", effective_at=clock.now() + timedelta(hours=1))
    assert store.rows(Observation) == []


def test_hand_edit_breaks_the_hash_chain(store, session):
    store.observe(session["id"], "dissociation", 1)
    store.close()
    con = sqlite3.connect(store.path)
    con.execute("DROP TRIGGER observations_no_update")
    con.execute("UPDATE observations SET value = 0")
    con.commit()
    con.close()
    from ketachart.store.repository import ChartStore

    reopened = ChartStore.open(store.path, store.clock)
    problems = reopened.verify_chain()
    reopened.close()
    assert any("edited" in p for p in problems)


def test_tail_check_is_anchored_and_full_check_sees_old_edits(store, session):
    for i in range(30):
        store.observe(session["id"], "dissociation", i % 5)
    assert store.verify_chain(tail=10) == [] and store.verify_chain() == []
    con = sqlite3.connect(store.path)
    con.execute("DROP TRIGGER observations_no_update")
    first = con.execute("SELECT id FROM observations ORDER BY device_seq LIMIT 1").fetchone()[0]
    last = con.execute("SELECT id FROM observations ORDER BY device_seq DESC LIMIT 1").fetchone()[0]
    con.execute("UPDATE observations SET value = 4 WHERE id = ?", (first,))
    con.commit()
    assert store.verify_chain(tail=10) == []  # an old edit is outside the tail checked at open ...
    assert any(first in p for p in store.verify_chain())  # ... and the full check (selftest, verify) finds it
    con.execute("UPDATE observations SET value = 0 WHERE id = ?", (last,))
    con.commit()
    con.close()
    assert any(last in p for p in store.verify_chain(tail=10))


def test_atomic_block_is_all_or_nothing_and_sees_its_own_rows(store, session):
    from ketachart.store.models import Signature

    before = len(store.rows(Observation))
    with pytest.raises(ClinicalInputError):
        with store.atomic():
            row = store.observe(session["id"], "precheck", data={"item": "consent_on_file", "answer": True})
            assert store.get(Observation, row["id"])["kind"] == "precheck"  # visible inside the block
            store.sign(Observation, row["id"], user_id="nurse.a", printed_name="A", meaning="performed")
            store.observe(session["id"], "note", text="  ")  # refused: the whole block rolls back
    assert len(store.rows(Observation)) == before and store.rows(Signature) == []
    assert store.verify_chain() == []  # no gap in device_seq: the sequence rolled back too
    with store.atomic():
        row = store.observe(session["id"], "note", text="one")
        store.sign(Observation, row["id"], user_id="nurse.a", printed_name="A", meaning="performed")
    assert len(store.rows(Observation)) == before + 1 and len(store.rows(Signature)) == 1
    assert store.verify_chain() == []


def test_a_policy_change_rolled_back_is_not_left_in_force(store):
    new = store.policy.changed(dose_cap_mg=120)
    with pytest.raises(RuntimeError):
        with store.atomic():
            store.set_policy(new)
            assert store.policy.dose_cap_mg == 120
            raise RuntimeError("the audit write failed")
    assert store.policy.version == 1 and store.policy.dose_cap_mg != 120

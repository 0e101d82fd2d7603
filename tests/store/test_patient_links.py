"""Issue 13: a second record with an existing MRN is flagged; an admin links it (an amendment, nothing deleted)
and every read shows one patient; unlinking is a further amendment."""

from __future__ import annotations

import pytest

from ketachart.domain.errors import ClinicalInputError
from ketachart.domain.ids import new_id
from ketachart.store.listing import list_sessions
from ketachart.store.errors import NotFound
from ketachart.store.models import Patient, PatientLink, Session
from ketachart.store.patient_links import describe_links, link_patients, unlink_patients
from ketachart.store.views import session_view


def _second_record(store, mrn="MRN-100", given="Jane"):
    """What a pull brings when another chair registered the same person offline: same MRN, another id."""
    return store.append(Patient, patient_id=new_id(), mrn=mrn, family_name="Doe", given_name=given,
                        birth_date="1980-02-03", sex="female", weight_kg=70.0, phone=None)


def test_link_shows_one_patient_everywhere_and_keeps_every_row(store, patient, clock):
    other = _second_record(store)
    keep, merge = patient["patient_id"], other["patient_id"]
    s_keep = store.create_session(keep, "IV")
    s_merge = store.create_session(merge, "IV")
    assert store.possible_duplicates() == [sorted([keep, merge])]

    row = link_patients(store, keep, merge, "same person registered on chair 2 offline", author="admin")

    assert row["amends"] is None and row["active"] and row["author"] == "admin"
    people = store.patients()
    assert [p["patient_id"] for p in people] == [keep]
    assert people[0]["merged_ids"] == [merge] and people[0]["possible_duplicate_of"] == []
    assert store.possible_duplicates() == []
    assert store.patient(merge)["patient_id"] == keep
    assert {s["id"] for s in store.sessions_for_patient(keep)} == {s_keep["id"], s_merge["id"]}
    assert {s["id"] for s in store.sessions_for_patient(merge)} == {s_keep["id"], s_merge["id"]}
    assert session_view(store, s_merge["id"]).patient["patient_id"] == keep
    listed = list_sessions(store, mrn="MRN-100")
    assert {(s.id, s.patient_id) for s in listed} == {(s_keep["id"], keep), (s_merge["id"], keep)}
    # nothing deleted: both records, both sessions, the link in the audit trail
    assert {p["patient_id"] for p in store.patient_records()} == {keep, merge}
    assert store.get(Session, s_merge["id"])["patient_id"] == merge
    assert ("patients:" + merge, "patient-link") in {(e["target"], e["action"]) for e in store.audit_trail()}
    assert describe_links(store)[0]["reason"] == "same person registered on chair 2 offline"
    assert store.verify_chain() == []


def test_unlink_and_relink_are_further_amendments(store, patient):
    other = _second_record(store)
    keep, merge = patient["patient_id"], other["patient_id"]
    first = link_patients(store, keep, merge, "duplicate", author="admin")
    second = unlink_patients(store, merge, "not the same person: twins", author="admin")
    assert second["amends"] == first["id"] and not second["active"]
    assert {p["patient_id"] for p in store.patients()} == {keep, merge}
    assert store.possible_duplicates() == [sorted([keep, merge])]
    assert store.patient(merge)["patient_id"] == merge
    third = link_patients(store, keep, merge, "checked again: same person", author="admin")
    assert third["amends"] == second["id"]
    assert [p["patient_id"] for p in store.patients()] == [keep]
    assert len(store.rows(PatientLink)) == 3


@pytest.mark.parametrize("case, message", [
    ("self", "itself"), ("unknown", "no patient record"), ("reason", "needs a reason"),
    ("twice", "already linked"), ("keep-merged", "is itself linked"),
])
def test_bad_links_are_refused_and_change_nothing(store, patient, case, message):
    other = _second_record(store)
    third = _second_record(store, given="Janet")
    keep, merge = patient["patient_id"], other["patient_id"]
    if case in ("twice", "keep-merged"):
        link_patients(store, keep, merge, "duplicate", author="admin")
    before = store.sync_ledger.last_seq()
    args = {
        "self": (keep, keep, "x"), "unknown": (keep, "nope", "x"), "reason": (keep, merge, "  "),
        "twice": (third["patient_id"], merge, "x"), "keep-merged": (merge, third["patient_id"], "x"),
    }[case]
    with pytest.raises(ClinicalInputError, match=message):
        link_patients(store, *args, author="admin")
    assert store.sync_ledger.last_seq() == before


def test_unlinking_a_record_that_is_not_linked_is_refused(store, patient):
    with pytest.raises(ClinicalInputError, match="not linked"):
        unlink_patients(store, patient["patient_id"], "why", author="admin")


def test_link_rows_are_append_only(store, patient):
    other = _second_record(store)
    row = link_patients(store, patient["patient_id"], other["patient_id"], "duplicate", author="admin")
    with pytest.raises(Exception, match="append-only"):
        store.execute_raw(f"UPDATE patient_links SET active = 0 WHERE id = '{row['id']}'")


def test_the_fhir_patient_of_a_linked_record_is_the_kept_patient(store, patient):
    """A duplicate registered with a mistyped MRN: after the link its sessions export as the kept patient."""
    from ketachart.report.fhir import FhirOptions, build_bundle

    options = FhirOptions("https://ehr.clinic.example/fhir/sid/mrn", "https://ehr.clinic.example/fhir/sid/staff")
    typo = _second_record(store, mrn="MRN-1OO")
    s_keep = store.create_session(patient["patient_id"], "IV")
    s_typo = store.create_session(typo["patient_id"], "IV")

    def patient_entry(sid):
        (entry,) = [e for e in build_bundle(store, sid, options=options)["entry"]
                    if e["resource"]["resourceType"] == "Patient"]
        return entry

    assert patient_entry(s_typo["id"])["resource"]["identifier"][0]["value"] == "MRN-1OO"
    link_patients(store, patient["patient_id"], typo["patient_id"], "MRN mistyped at registration", author="admin")
    linked = patient_entry(s_typo["id"])
    assert linked["resource"]["identifier"][0]["value"] == "MRN-100"
    assert linked["fullUrl"] == patient_entry(s_keep["id"])["fullUrl"]


def test_one_patient_reads_as_the_list_shows_it(store, patient):
    """``patient()`` reads one record and those sharing its MRN (issue 17: it must not read the whole list), and
    gives what ``patients()`` lists: duplicates by MRN (case and spaces aside), a corrected MRN, links."""
    keep = patient["patient_id"]
    twin = _second_record(store, mrn=" mrn-100 ")  # the same MRN, typed otherwise
    moved = _second_record(store, mrn="MRN-100", given="June")
    store.amend(Patient, moved["id"], "MRN mistyped", mrn="MRN-200")  # its current MRN differs: no duplicate
    merged = _second_record(store, given="Janet")
    link_patients(store, keep, merged["patient_id"], "same person", author="admin")
    store.create_patient("MRN-300", "Roe", "Ann", "1990-01-01", "female")

    def same_as_list() -> None:
        for p in store.patients():
            assert store.patient(p["patient_id"]) == p

    same_as_list()
    shown = store.patient(keep)
    assert shown["possible_duplicate_of"] == [twin["patient_id"]] and shown["merged_ids"] == [merged["patient_id"]]
    assert store.patient(merged["patient_id"]) == shown  # a linked record reads as the kept one
    with store.atomic():  # inside a transaction, its own new rows count
        late = _second_record(store, mrn="MRN-100", given="Jo")
        assert late["patient_id"] in store.patient(keep)["possible_duplicate_of"]
        same_as_list()
    with pytest.raises(NotFound):
        store.patient(new_id())

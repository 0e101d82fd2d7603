"""store/listing.py: sessions with their status, filtered by patient and local date (a real SQLite chart)."""

from __future__ import annotations

from datetime import date, datetime, timezone

from ketachart.domain.clock import FakeClock
from ketachart.store.listing import has_patient_with_mrn, list_sessions
from ketachart.store.open import open_store


def test_status_patient_and_date_filters(tmp_path):
    clock = FakeClock(datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc))
    with open_store(tmp_path / "c.db", unencrypted=True, clock=clock, holder="test") as store:
        a = store.create_patient(mrn="MRN-1", family_name="Ames", given_name="Ann", birth_date="1980-01-01", sex="female")
        b = store.create_patient(mrn="MRN-2", family_name="Byrd", given_name="Bo", birth_date="1970-01-01", sex="male")
        s1 = store.create_session(a["patient_id"], route="IV")
        store.session_event(s1["id"], "check-in")
        store.session_event(s1["id"], "start-infusion")
        clock.advance(days=2)
        s2 = store.create_session(b["patient_id"], route="IN")
        store.session_event(s2["id"], "check-in")
        store.session_event(s2["id"], "abort", reason="patient unwell")
        rows = list_sessions(store, tz=timezone.utc)
        assert [(r.id, r.mrn, r.patient_name, r.route, r.status) for r in rows] == [
            (s1["id"], "MRN-1", "Ames, Ann", "IV", "infusing"),
            (s2["id"], "MRN-2", "Byrd, Bo", "IN", "aborted"),
        ]
        assert [r.id for r in list_sessions(store, mrn="mrn-2")] == [s2["id"]]
        assert [r.id for r in list_sessions(store, since=date(2026, 3, 2), tz=timezone.utc)] == [s2["id"]]
        assert list_sessions(store, since=date(2026, 3, 4), tz=timezone.utc) == []
        assert has_patient_with_mrn(store, "MRN-1") and not has_patient_with_mrn(store, "MRN-3")

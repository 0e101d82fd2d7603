"""Clinic identity in the database: versioned, with a reason; the summary, the REMS form and the exports read
it (issue 16)."""

from __future__ import annotations

import pytest

from ketachart.demo import write_demo_session
from ketachart.domain.errors import ClinicalInputError
from ketachart.report.csv_export import rows as csv_rows
from ketachart.report.fhir import build_bundle
from ketachart.report.model import build_summary
from ketachart.report.settings import ReportSettings
from ketachart.store.records import clinic_history, clinic_settings, set_clinic_settings


def test_each_change_is_a_new_version_with_its_reason(store):
    set_clinic_settings(store, {"clinic_name": "Lakeside Mood Clinic", "clinic_tz": "America/Chicago"},
                        reason="opening", author="admin")
    set_clinic_settings(store, {"clinic_phone": "+1 555 0100"}, reason="phone line", author="admin")
    history = clinic_history(store)
    assert [v.version for v in history] == [1, 2] and history[1].reason == "phone line"
    assert clinic_settings(store) == {"clinic_name": "Lakeside Mood Clinic", "clinic_phone": "+1 555 0100",
                                      "clinic_tz": "America/Chicago"}
    assert history[0].settings == {"clinic_name": "Lakeside Mood Clinic", "clinic_tz": "America/Chicago"}


@pytest.mark.parametrize("changes, reason, words", [
    ({"clinic_tz": "Europe/Nowhere"}, "x", "IANA"),
    ({"colour": "blue"}, "x", "unknown clinic setting"),
    ({"clinic_name": " "}, "x", "cannot be empty"),
    ({"clinic_phone": "1"}, " ", "needs a reason"),
])
def test_bad_settings_change_nothing(store, changes, reason, words):
    with pytest.raises(ClinicalInputError, match=words):
        set_clinic_settings(store, changes, reason=reason, author="admin")
    assert clinic_history(store) == []


def test_summary_and_exports_read_the_clinic_from_the_database(store, monkeypatch):
    monkeypatch.delenv("KETACHART_CLINIC_NAME", raising=False)
    monkeypatch.setenv("KETACHART_TZ", "UTC")
    sid = write_demo_session(store, seed=3)
    set_clinic_settings(store, {"clinic_name": "Lakeside Mood Clinic", "clinic_address": "12 Lake Rd",
                                "clinic_tz": "America/Chicago", "mrn_system": "urn:oid:2.16.840.1.113883.19.5"},
                        reason="opening", author="admin")
    settings = ReportSettings.resolve(store)
    assert settings.clinic_name == "Lakeside Mood Clinic" and settings.tz_name == "America/Chicago"
    summary = build_summary(store, sid, store.clock.now())
    assert summary.clinic_name == "Lakeside Mood Clinic" and "America/Chicago" in summary.tz_label
    patient = next(e["resource"] for e in build_bundle(store, sid)["entry"] if e["resource"]["resourceType"] == "Patient")
    assert patient["identifier"][0]["system"] == "urn:oid:2.16.840.1.113883.19.5"
    zone, _ = settings.zone()
    first = next(r for r in csv_rows(store, sid, zone) if r["record"] == "reading")
    assert first["effective_at"].endswith("-06:00")  # Chicago in January

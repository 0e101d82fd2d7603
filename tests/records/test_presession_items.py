"""The complete pre-session: every item Yes / No / Not asked (unticked is not "No"); the policy's required
items must be answered before a dose can be prepared, and the refusal names them."""

from __future__ import annotations

import pytest

from ketachart.domain.dosing import intranasal_dose
from ketachart.domain.errors import ClinicalInputError
from ketachart.domain.records import NO, NOT_ASKED, YES, items_for, unanswered_required
from ketachart.domain.session import SessionEvent
from ketachart.domain.vocabulary import describe, Kind
from ketachart.report.model import build_summary
from ketachart.report.settings import ReportSettings
from ketachart.store.views import session_view

from .conftest import PRESCRIBER


def _in_session(store, records, sex="female"):
    p = store.create_patient("PRE-1", "Reyes", "Ana", "1984-07-09", sex)
    sid = store.create_session(p["patient_id"], "IN")["id"]
    store.session_event(sid, SessionEvent.CHECK_IN)
    records.sign_order(sid, PRESCRIBER, drug="esketamine", dose_mg=56)
    return sid


def _device(records):
    return records.check_product(strength_mg_per_ml=140, vial_ml=0.2, lot="SPR-1", expiry="2027-06-30")


def test_items_follow_route_and_sex():
    keys_in = [i.key for i in items_for("IN", "female")]
    assert "pregnant_or_breastfeeding" in keys_in and "fasting_food_2h" in keys_in and "fasting_iv_policy" not in keys_in
    keys_iv_m = [i.key for i in items_for("IV", "male")]
    assert "pregnant_or_breastfeeding" not in keys_iv_m and "fasting_iv_policy" in keys_iv_m
    for key in ("aneurysmal_vascular_disease", "arteriovenous_malformation", "intracerebral_haemorrhage",
                "psychosis_mania_history", "alcohol_substance_24h", "allergies", "identity_two_identifiers"):
        assert key in keys_in and key in keys_iv_m


def test_not_asked_and_unticked_are_not_answers():
    answers = {"allergies": NO, "identity_two_identifiers": NOT_ASKED}
    missing = {i.key for i in unanswered_required(answers, "IV", "male")}
    assert "allergies" not in missing
    assert "identity_two_identifiers" in missing  # "Not asked" is not an answer
    assert "psychosis_mania_history" in missing  # unticked is not "No"


def test_dosing_is_refused_until_the_required_items_are_answered_naming_them(store, records):
    sid = _in_session(store, records)
    records.record_presession_items(sid, {"allergies": NO, "identity_two_identifiers": NOT_ASKED})
    with pytest.raises(ClinicalInputError) as err:
        records.prepare_dose(sid, intranasal_dose(56, store.policy), _device(records))
    text = str(err.value)
    assert "Identity checked with two identifiers" in text and "Pregnant or breastfeeding" in text
    assert "No food in the last 2 h" in text and "Allergies" not in text
    assert session_view(store, sid).dose is None
    records.record_presession_items(sid, {
        "pregnant_or_breastfeeding": NO, "alcohol_substance_24h": NO, "psychosis_mania_history": NO,
        "aneurysmal_vascular_disease": NO, "arteriovenous_malformation": NO, "intracerebral_haemorrhage": NO,
        "identity_two_identifiers": YES, "fasting_food_2h": YES, "fasting_liquids_30min": YES})
    records.prepare_dose(sid, intranasal_dose(56, store.policy), _device(records))
    assert session_view(store, sid).dose is not None


def test_the_policy_says_which_items_are_required(store, records):
    store.set_policy(store.policy.changed(presession_required=("identity_two_identifiers",)))
    sid = _in_session(store, records)
    with pytest.raises(ClinicalInputError, match="Identity checked with two identifiers"):
        records.prepare_dose(sid, intranasal_dose(56, store.policy), _device(records))
    records.record_presession_items(sid, {"identity_two_identifiers": YES})
    records.prepare_dose(sid, intranasal_dose(56, store.policy), _device(records))


def test_an_unknown_item_in_the_policy_is_refused(store):
    with pytest.raises(ClinicalInputError, match="unknown pre-session item"):
        store.policy.changed(presession_required=("not_an_item",))


def test_answers_read_the_same_on_screen_and_paper(store, records):
    sid = _in_session(store, records)
    records.record_presession_items(sid, {"allergies": YES, "psychosis_mania_history": NOT_ASKED})
    words = [describe(Kind.PRECHECK, None, None, o.data).phrase for o in session_view(store, sid).observations_of(Kind.PRECHECK)]
    assert words == ["Allergies (drug or other): Yes", "History of psychosis or mania: Not asked"]
    summary = build_summary(store, sid, store.clock.now(), ReportSettings(tz_name="UTC"))
    paper = {f.label: f.value for f in summary.prechecks}
    assert paper["Allergies (drug or other)"] == "Yes" and paper["History of psychosis or mania"] == "Not asked"

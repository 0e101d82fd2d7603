"""The chair's pre-session save and the records of issue 16: required items refuse a dose (naming the item)
before any PIN is asked, an expired lot is refused, the policy's order requirement, the preparation record
citing the order."""

from __future__ import annotations

import json

import pytest

from ketachart.auth import PermissionDenied
from ketachart.chair.records import RecordsCommands, Signer
from ketachart.domain.errors import ClinicalInputError
from ketachart.domain.records import NOT_ASKED, RecordKind
from ketachart.report.cs_log import cs_log_rows
from ketachart.report.fhir import FhirOptions, build_bundle
from ketachart.report.model import build_summary
from ketachart.report.settings import LocalClock, ReportSettings
from ketachart.store.models import DoseAdministration, Observation, Session
from ketachart.store.records import order_of
from ketachart.store.views import session_view
from tests.ui.helpers import FAST_HASHER, PINS

from .conftest import ALL_ITEMS_ANSWERED, presession_form


def _session(chair) -> None:
    """A pre-session being filled in: nothing is stored until it is saved (issue 12)."""
    p = chair.create_patient("MRN-16", "Rivera", "Jordan", "1984-03-12", "female", "80")
    chair.start_session(p["patient_id"], "IV")


def _nothing_stored(store) -> bool:
    from ketachart.store.models import Session

    return store.rows(Session) == []


def _save(chair, form):
    flow = chair.presession_signing(form)
    flow.give(chair.signatures.verify("nurse.a", PINS["nurse.a"], "performed"))
    return flow.give(chair.signatures.verify("nurse.b", PINS["nurse.b"], "witnessed"))


def test_an_unanswered_required_item_refuses_the_dose_naming_it(chair, store):
    _session(chair)
    items = {**ALL_ITEMS_ANSWERED, "psychosis_mania_history": NOT_ASKED}
    items.pop("identity_two_identifiers")
    with pytest.raises(ClinicalInputError) as err:
        chair.presession_signing(presession_form(items=items))
    assert "History of psychosis or mania" in str(err.value) and "two identifiers" in str(err.value)
    assert _nothing_stored(store)


def test_answers_are_charted_with_the_dose(chair, store):
    _session(chair)
    _save(chair, presession_form())
    sid = chair.session_id
    answers = {o.data["item"]: o.data["answer"] for o in session_view(store, sid).observations_of("precheck")}
    assert answers["identity_two_identifiers"] == "yes" and answers["aneurysmal_vascular_disease"] == "no"


def test_an_expired_lot_is_refused_at_the_chair(chair, store, clock):
    _session(chair)
    expired = (clock.now().date().replace(day=1)).isoformat() if clock.now().day > 1 else "2000-01-01"
    with pytest.raises(ClinicalInputError, match="expired"):
        chair.presession_signing(presession_form(vial_strength_mg_per_ml="10", vial_ml="5", expiry=expired))
    assert _nothing_stored(store)
    rows = _save(chair, presession_form(vial_strength_mg_per_ml="10", vial_ml="5", expiry="2099-12-31"))
    sid = chair.session_id
    prep = [o for o in store.rows(Observation, session_id=sid) if o["kind"] == RecordKind.CS_PRODUCT]
    assert len(prep) == 1 and json.loads(prep[0]["data"])["dose_id"] == rows["dose"]["id"]
    assert json.loads(prep[0]["data"])["vial_mg"] == 50


PRESCRIBER_PIN = "9753"


def _prescriber(store) -> None:
    store.create_user("dr.c", "Dana Cho, MD", "prescriber", FAST_HASHER.hash(PRESCRIBER_PIN))


def _prep(store, sid) -> dict:
    prep = [o for o in store.rows(Observation, session_id=sid) if o["kind"] == RecordKind.CS_PRODUCT]
    assert len(prep) == 1
    return prep[0]


def test_the_policy_can_require_a_signed_order_and_the_dose_cites_it(chair, store):
    """The order is a step of the pre-session: the prescriber signs the dose on screen as the course's standing
    order (first signature, same transaction as check-in and dose); the preparation record cites it."""
    store.set_policy(store.policy.changed(order_required_before_dose=True))
    _prescriber(store)
    _session(chair)
    with pytest.raises(ClinicalInputError, match="no signed order"):
        chair.presession_signing(presession_form())
    assert _nothing_stored(store)
    flow = chair.presession_signing(presession_form(order_prescriber="dr.c"))
    assert flow.step.role == "prescriber" and "ketamine 0.5 mg/kg IV over 40 min" in flow.step.what
    with pytest.raises(PermissionDenied, match="not a prescriber"):  # a nurse cannot sign the order
        flow.give(chair.signatures.verify("nurse.b", PINS["nurse.b"], "performed"))
    assert flow.give(chair.signatures.verify("dr.c", PRESCRIBER_PIN, "performed")) is None
    assert _nothing_stored(store)  # nothing is written until the last signature
    flow.give(chair.signatures.verify("nurse.a", PINS["nurse.a"], "performed"))
    rows = flow.give(chair.signatures.verify("nurse.b", PINS["nurse.b"], "witnessed"))
    sid = chair.session_id
    prep = _prep(store, sid)
    data = json.loads(prep["data"])
    assert data["order_id"] and data["dose_id"] == rows["dose"]["id"] and "per order" in prep["text"]
    order = store.get(Observation, data["order_id"])
    assert order["kind"] == RecordKind.CS_ORDER and order["session_id"] is None  # the course's standing order
    assert order["patient_id"] == store.rows(Session)[0]["patient_id"] and order["author"] == "dr.c"
    assert json.loads(order["data"]) == {"drug": "ketamine", "route": "IV", "dose_mg": None, "mg_per_kg": 0.5,
                                         "minutes": 40, "prescriber": "dr.c"}
    sigs = chair.signatures.signatures_on(Observation, order["id"])
    assert [(s["user_id"], s["meaning"]) for s in sigs] == [("dr.c", "performed")]
    assert order_of(store, sid)["id"] == order["id"]
    assert order["device_seq"] < store.get(DoseAdministration, rows["dose"]["id"])["device_seq"]  # order first
    # one truth: the summary and the controlled-substance log cite the same order in the same words
    summary = build_summary(store, sid, now=store.clock.now())
    on_paper = next(f for f in summary.dose.fields if f.label == "Order")
    settings = ReportSettings.resolve(store)
    day = store.clock.now().date()
    (logged,) = [r for r in cs_log_rows(store, day, day, LocalClock(settings.zone()[0])) if r.entry == "administration"]
    assert on_paper.value == logged.order == order["text"] and not on_paper.flag
    assert on_paper.value.startswith("ketamine 0.5 mg/kg IV over 40 min; signed by Dana Cho, MD")
    assert chair.start_infusion(without_monitor="monitor being replaced; manual BP every 5 min")
    bundle = build_bundle(store, sid, options=FhirOptions("https://clinic.example/mrn"))
    admins = [e["resource"] for e in bundle["entry"]
              if e["resource"]["resourceType"] == "MedicationAdministration" and "partOf" not in e["resource"]]
    assert admins and f"prescriber's order: {order['text']}" in [n["text"] for n in admins[0]["note"]]


def test_a_standing_order_is_cited_without_the_prescriber_and_a_different_dose_is_refused(chair, store):
    _prescriber(store)
    p = chair.create_patient("MRN-17", "Rivera", "Jordan", "1984-03-12", "female", "80")
    RecordsCommands(store).sign_standing_order(p["patient_id"], "IV", Signer("dr.c", "Dana Cho, MD", "prescriber"),
                                               drug="ketamine", mg_per_kg=0.5, minutes=40)
    chair.start_session(p["patient_id"], "IV")
    with pytest.raises(ClinicalInputError, match="0.6 mg/kg differs from the ordered 0.5 mg/kg.*new order"):
        chair.presession_signing(presession_form(mg_per_kg="0.6"))
    with pytest.raises(ClinicalInputError, match="duration 45 min differs from the ordered 40 min"):
        chair.presession_signing(presession_form(minutes="45"))
    assert _nothing_stored(store)
    flow = chair.presession_signing(presession_form())
    assert flow.step.meaning == "performed" and flow.step.role == ""  # the nurse signs first: no new order
    flow.give(chair.signatures.verify("nurse.a", PINS["nurse.a"], "performed"))
    flow.give(chair.signatures.verify("nurse.b", PINS["nurse.b"], "witnessed"))
    order = RecordsCommands(store).order_in_force(p["patient_id"], "IV")
    assert json.loads(_prep(store, chair.session_id)["data"])["order_id"] == order["id"]


def test_a_nurse_cannot_sign_a_standing_order(store):
    p = store.create_patient("MRN-18", "Rivera", "Jordan", "1984-03-12", "female", 80)
    with pytest.raises(ClinicalInputError, match="not a prescriber"):
        RecordsCommands(store).sign_standing_order(p["patient_id"], "IV", Signer("nurse.a", "Ada Nurse, RN", "nurse"),
                                                   drug="ketamine", mg_per_kg=0.5, minutes=40)
    assert RecordsCommands(store).order_in_force(p["patient_id"], "IV") is None


def test_a_real_clinic_requires_the_order_by_default():
    from ketachart.domain.policy import ClinicPolicy

    assert ClinicPolicy().order_required_before_dose is True

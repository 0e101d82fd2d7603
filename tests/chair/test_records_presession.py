"""The chair's pre-session save and the records of issue 16: required items refuse a dose (naming the item)
before any PIN is asked, an expired lot is refused, the policy's order requirement, the preparation record
citing the order."""

from __future__ import annotations

import json

import pytest

from ketachart.chair.records import RecordsCommands, Signer
from ketachart.domain.errors import ClinicalInputError
from ketachart.domain.records import NOT_ASKED, RecordKind
from ketachart.store.models import Observation
from ketachart.store.views import session_view
from tests.ui.helpers import PINS

from .conftest import ALL_ITEMS_ANSWERED, presession_form


def _session(chair) -> str:
    p = chair.create_patient("MRN-16", "Rivera", "Jordan", "1984-03-12", "female", "80")
    return chair.start_session(p["patient_id"], "IV")


def _save(chair, form):
    flow = chair.presession_signing(form)
    flow.give(chair.signatures.verify("nurse.a", PINS["nurse.a"], "performed"))
    return flow.give(chair.signatures.verify("nurse.b", PINS["nurse.b"], "witnessed"))


def test_an_unanswered_required_item_refuses_the_dose_naming_it(chair, store):
    sid = _session(chair)
    items = {**ALL_ITEMS_ANSWERED, "psychosis_mania_history": NOT_ASKED}
    items.pop("identity_two_identifiers")
    with pytest.raises(ClinicalInputError) as err:
        chair.presession_signing(presession_form(items=items))
    assert "History of psychosis or mania" in str(err.value) and "two identifiers" in str(err.value)
    assert session_view(store, sid).dose is None


def test_answers_are_charted_with_the_dose(chair, store):
    sid = _session(chair)
    _save(chair, presession_form())
    answers = {o.data["item"]: o.data["answer"] for o in session_view(store, sid).observations_of("precheck")}
    assert answers["identity_two_identifiers"] == "yes" and answers["aneurysmal_vascular_disease"] == "no"


def test_an_expired_lot_is_refused_at_the_chair(chair, store, clock):
    sid = _session(chair)
    expired = (clock.now().date().replace(day=1)).isoformat() if clock.now().day > 1 else "2000-01-01"
    with pytest.raises(ClinicalInputError, match="expired"):
        chair.presession_signing(presession_form(vial_strength_mg_per_ml="10", vial_ml="5", expiry=expired))
    assert session_view(store, sid).dose is None
    rows = _save(chair, presession_form(vial_strength_mg_per_ml="10", vial_ml="5", expiry="2099-12-31"))
    prep = [o for o in store.rows(Observation, session_id=sid) if o["kind"] == RecordKind.CS_PRODUCT]
    assert len(prep) == 1 and json.loads(prep[0]["data"])["dose_id"] == rows["dose"]["id"]
    assert json.loads(prep[0]["data"])["vial_mg"] == 50


def test_the_policy_can_require_a_signed_order_and_the_dose_cites_it(chair, store):
    store.set_policy(store.policy.changed(order_required_before_dose=True))
    sid = _session(chair)
    with pytest.raises(ClinicalInputError, match="no signed order"):
        chair.presession_signing(presession_form())
    RecordsCommands(store).sign_order(sid, Signer("dr.c", "Dana Cho, MD", "prescriber"), drug="ketamine",
                                      mg_per_kg=0.5, minutes=40)
    rows = _save(chair, presession_form())
    prep = [o for o in store.rows(Observation, session_id=sid) if o["kind"] == RecordKind.CS_PRODUCT]
    data = json.loads(prep[0]["data"])
    assert data["order_id"] and data["dose_id"] == rows["dose"]["id"] and "per order" in prep[0]["text"]

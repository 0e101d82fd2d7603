"""The controlled-substance record: the prescriber's order before preparing, the product (an expired lot is
refused), and the vial reconciling (complete, early stop, discrepancy)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from ketachart.domain.dosing import intranasal_dose, iv_dose
from ketachart.domain.errors import ClinicalInputError
from ketachart.domain.records import YES, NO, ITEM_BY_KEY, RecordKind, reconcile
from ketachart.domain.session import SessionEvent
from ketachart.domain.vocabulary import Kind
from ketachart.store.models import Observation, Signature
from ketachart.store.records import order_of, product_of, reconciliation_of
from ketachart.store.views import session_view

from .conftest import NURSE, PRESCRIBER, WITNESS

ALL_ANSWERED = {k: (YES if i.safe_answer == YES else NO) for k, i in ITEM_BY_KEY.items()}


def _iv_session(store, records, *, order=True, answers=ALL_ANSWERED):
    p = store.create_patient("CS-1", "Nguyen", "Lan", "1975-02-03", "female", 70.0)
    sid = store.create_session(p["patient_id"], "IV")["id"]
    store.session_event(sid, SessionEvent.CHECK_IN)
    if answers:
        records.record_presession_items(sid, {k: v for k, v in answers.items() if "fasting_" not in k
                                              or k == "fasting_iv_policy"})
    if order:
        records.sign_order(sid, PRESCRIBER, drug="ketamine", mg_per_kg=0.5, minutes=40)
    return sid


def _dose(store):
    return iv_dose(70.0, 0.5, 1.0, 40, store.policy)  # 35 mg in 35 mL


def _product(records, **kw):
    args = dict(strength_mg_per_ml=10, vial_ml=5, lot="KET-778", expiry="2027-01-31")  # 50 mg vial
    args.update(kw)
    return records.check_product(**args)


def test_a_prescriber_signs_the_order_and_the_prepared_dose_cites_it(store, records):
    sid = _iv_session(store, records)
    order = order_of(store, sid)
    sigs = [s for s in store.rows(Signature)
            if s["target_id"] == order["id"]]
    assert [(s["user_id"], s["printed_name"]) for s in sigs] == [("d.cho", "Dana Cho, MD")]
    assert store.signature_valid(sigs[0])
    dose_row = records.prepare_dose(sid, _dose(store), _product(records))
    prep = json.loads(product_of(store, sid)["data"])
    assert prep["order_id"] == order["id"] and prep["dose_id"] == dose_row["id"] and prep["lot"] == "KET-778"
    assert dose_row["lot"] == "KET-778"


def test_a_nurse_cannot_sign_the_order_and_no_dose_is_prepared_without_one(store, records):
    sid = _iv_session(store, records, order=False)
    with pytest.raises(ClinicalInputError, match="not a prescriber"):
        records.sign_order(sid, NURSE, drug="ketamine", mg_per_kg=0.5, minutes=40)
    with pytest.raises(ClinicalInputError, match="no signed order"):
        records.prepare_dose(sid, _dose(store), _product(records))
    assert session_view(store, sid).dose is None


def test_an_order_needs_its_dose_and_duration(store, records):
    sid = _iv_session(store, records, order=False)
    with pytest.raises(ClinicalInputError, match="mg or in mg/kg"):
        records.sign_order(sid, PRESCRIBER, drug="ketamine", minutes=40)
    with pytest.raises(ClinicalInputError, match="duration"):
        records.sign_order(sid, PRESCRIBER, drug="ketamine", dose_mg=35)
    assert order_of(store, sid) is None


def test_a_dose_different_from_the_order_is_refused(store, records):
    sid = _iv_session(store, records)
    with pytest.raises(ClinicalInputError, match="differs from the ordered 0.5 mg/kg"):
        records.prepare_dose(sid, iv_dose(70.0, 0.6, 1.0, 40, store.policy), _product(records))


def test_an_expired_lot_is_refused(store, records):
    sid = _iv_session(store, records)
    with pytest.raises(ClinicalInputError, match="KET-OLD expired on 2026-04-05"):
        _product(records, lot="KET-OLD", expiry="2026-04-05")  # the clock says 2026-04-06
    assert _product(records, expiry="2026-04-06").expiry == date(2026, 4, 6)  # good through its expiry day
    assert session_view(store, sid).dose is None and product_of(store, sid) is None


def _run_and_stop(store, sid, delivered_ml=None):
    store.session_event(sid, SessionEvent.START_INFUSION)
    store.clock.advance(40 * 60)
    store.session_event(sid, SessionEvent.STOP_INFUSION,
                        data={"volume_ml": delivered_ml} if delivered_ml is not None else None)


def _waste(store, sid, mg):
    return store.observe(sid, Kind.WASTE, value=mg, data={"amount_mg": mg, "method": "sharps", "witness": WITNESS.user_id})


def test_reconcile_complete_infusion(store, records):
    sid = _iv_session(store, records)
    records.prepare_dose(sid, _dose(store), _product(records))
    _waste(store, sid, 15.0)  # 50 mg vial - 35 mg drawn up
    _run_and_stop(store, sid, 35.0)
    row = records.reconcile_vial(sid, delivered_mg=35.0)
    data = json.loads(row["data"])
    assert data["reconciled"] and data["discrepancy_mg"] == 0
    assert "reconciled" in row["text"]


def test_reconcile_early_stop_with_the_rest_wasted(store, records):
    sid = _iv_session(store, records)
    records.prepare_dose(sid, _dose(store), _product(records))
    _waste(store, sid, 15.0)
    _run_and_stop(store, sid, 22.5)  # stopped early: 22.5 mL of 35 delivered
    _waste(store, sid, 12.5)  # what was left in the syringe, wasted with a witness
    assert json.loads(records.reconcile_vial(sid, delivered_mg=22.5)["data"])["reconciled"]


def test_a_discrepancy_is_refused_until_explained_and_signed(store, records):
    sid = _iv_session(store, records)
    records.prepare_dose(sid, _dose(store), _product(records))
    _waste(store, sid, 15.0)
    _run_and_stop(store, sid, 22.5)  # the 12.5 mg left were never wasted
    with pytest.raises(ClinicalInputError, match=r"does not reconcile \(\+12.5 mg\)"):
        records.reconcile_vial(sid, delivered_mg=22.5)
    assert reconciliation_of(store, sid) is None
    row = records.reconcile_vial(sid, delivered_mg=22.5, signer=WITNESS,
                                 note="syringe discarded in the bin before witnessing; reported to the charge nurse")
    data = json.loads(row["data"])
    assert not data["reconciled"] and data["discrepancy_mg"] == 12.5 and "DISCREPANCY +12.5 mg" in row["text"]
    sig = [s for s in store.rows(Signature)
           if s["target_id"] == row["id"]]
    assert sig and sig[0]["user_id"] == WITNESS.user_id


def test_the_reconciliation_rule():
    assert reconcile(100, 50, 50).reconciled
    assert reconcile(100, 49.95, 50).reconciled  # typed rounding
    assert not reconcile(100, 49, 50).reconciled and reconcile(100, 49, 50).discrepancy_mg == 1
    assert reconcile(100, 40, 40, 20).reconciled  # a vial with some left
    with pytest.raises(ClinicalInputError):
        reconcile(100, -1, 50)


def test_intranasal_order_and_product(store, records):
    p = store.create_patient("CS-IN", "Reyes", "Ana", "1984-07-09", "female")
    sid = store.create_session(p["patient_id"], "IN")["id"]
    store.session_event(sid, SessionEvent.CHECK_IN)
    records.record_presession_items(sid, {k: v for k, v in ALL_ANSWERED.items() if k != "fasting_iv_policy"})
    records.sign_order(sid, PRESCRIBER, drug="esketamine", dose_mg=56)
    device = records.check_product(strength_mg_per_ml=140, vial_ml=0.2, lot="SPR-22", expiry="2027-06-30")
    with pytest.raises(ClinicalInputError, match="differs from the ordered 56 mg"):
        records.prepare_dose(sid, intranasal_dose(84, store.policy), device)
    records.prepare_dose(sid, intranasal_dose(56, store.policy), device)
    rows = store.rows(Observation, session_id=sid, kind=RecordKind.CS_PRODUCT)
    assert len(rows) == 1 and "SPR-22" in rows[0]["text"]

"""The prescriber's order as a step of the pre-session, through the real window (issue 16): with the policy
requiring it, no dose without a signed order; the prescriber signs the dose on screen as the course's order
(first signature, own PIN, a nurse cannot); the dose cites it; the next pre-session of the course cites the
order in force without the prescriber and refuses a dose that differs from it."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QLabel

from ketachart.domain.records import RecordKind
from ketachart.store.models import Observation, Session
from tests.e2e.test_session_flow import fill_presession, new_patient
from tests.ui.helpers import FAST_HASHER, PINS, sign

PRESCRIBER_PIN = "9753"


def _prep(store, sid) -> dict:
    (prep,) = [o for o in store.rows(Observation, session_id=sid) if o["kind"] == RecordKind.CS_PRODUCT]
    return json.loads(prep["data"])


def test_the_prescriber_signs_the_order_in_the_pre_session_and_the_next_one_cites_it(window, qtbot, store, clock):
    store.set_policy(store.policy.changed(order_required_before_dose=True))  # what a new clinic's chart says
    store.create_user("dr.c", "Dana Cho, MD", "prescriber", FAST_HASHER.hash(PRESCRIBER_PIN))
    new_patient(window)
    window.patients.start("IV")
    p = window.presession
    assert window.stack.currentWidget() is p
    assert "No signed order for this course: a prescriber must sign one" in p.order_status.text()
    assert not p.order_prescriber.isEnabled()
    fill_presession(window)
    assert not p.submit() and "no signed order" in p.message.text()  # refused before any PIN is asked
    assert p.sign_dialog is None and store.rows(Session) == []

    p.new_order.setChecked(True)
    assert p.order_prescriber.isEnabled() and "New order" in p.order_status.text()
    assert not p.submit() and "prescriber's user id" in p.message.text()
    p.order_prescriber.setText("dr.c")
    assert p.submit(), p.message.text()
    dlg = p.sign_dialog
    what = dlg.findChild(QLabel, "what").text()
    assert dlg.user_id.text() == "dr.c" and "ketamine 0.5 mg/kg IV over 40 min" in what
    assert not sign(dlg, PINS["nurse.a"], "nurse.a")  # a nurse cannot sign the order
    assert "not a prescriber" in dlg.error.text() and p.sign_dialog is dlg
    assert sign(dlg, PRESCRIBER_PIN, "dr.c"), dlg.error.text()
    assert store.rows(Session) == []  # nothing is written before the last signature
    assert sign(p.sign_dialog, PINS["nurse.a"], "nurse.a"), p.sign_dialog.error.text()
    assert sign(p.sign_dialog, PINS["nurse.b"]), p.sign_dialog.error.text()
    assert p.sign_dialog is None and window.stack.currentWidget() is window.session
    first = window.c.session_id
    order_id = _prep(store, first)["order_id"]
    order = store.get(Observation, order_id)
    assert order["kind"] == RecordKind.CS_ORDER and order["author"] == "dr.c" and order["session_id"] is None

    # the session ends before it starts; the next pre-session of the course cites the order in force
    window.c.cancel_session("patient unwell today")
    window.show_patients()
    window.patients.select_mrn("MRN-1")
    window.patients.start("IV")
    assert window.stack.currentWidget() is p
    assert p.order_status.text().startswith("Order in force: ketamine 0.5 mg/kg IV over 40 min, signed by Dana Cho, MD")
    assert not p.new_order.isChecked() and p.order_prescriber.text() == ""  # nothing carried over
    fill_presession(window)
    p.mg_per_kg.setText("0.6")
    assert not p.submit() and "differs from the ordered 0.5 mg/kg" in p.message.text()
    p.mg_per_kg.setText("0.5")
    assert p.submit(), p.message.text()
    assert p.sign_dialog.user_id.text() == "nurse.a"  # no prescriber step: the order in force is cited
    assert sign(p.sign_dialog, PINS["nurse.a"]), p.sign_dialog.error.text()
    assert sign(p.sign_dialog, PINS["nurse.b"]), p.sign_dialog.error.text()
    second = window.c.session_id
    assert second != first and _prep(store, second)["order_id"] == order_id

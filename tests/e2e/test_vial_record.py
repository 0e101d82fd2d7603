"""The vial on the pre-session screen: its record is charted with the dose, and an expired lot is refused."""

from __future__ import annotations

import json
from datetime import timedelta

from ketachart.domain.records import RecordKind
from ketachart.store.models import DoseAdministration, Observation, Session
from tests.e2e.test_session_flow import fill_presession, new_patient, sign_presession


def _vial(window, clock, expiry_days: int) -> None:
    p = window.presession
    p.vial_strength.setText("50")
    p.vial_ml.setText("1")
    p.expiry.setText((clock.now() + timedelta(days=expiry_days)).date().isoformat())


def test_the_vial_is_charted_with_the_dose(window, store, clock):
    new_patient(window)
    window.patients.start("IV")
    fill_presession(window)
    _vial(window, clock, 200)
    sign_presession(window)
    sid = window.c.session_id
    dose = store.rows(DoseAdministration, session_id=sid)[0]
    product = [o for o in store.rows(Observation, session_id=sid) if o["kind"] == RecordKind.CS_PRODUCT]
    assert len(product) == 1
    data = json.loads(product[0]["data"])
    assert data["vial_mg"] == 50 and data["lot"] == "KET123" and data["dose_id"] == dose["id"]
    assert "50 mg/mL x 1 mL (50 mg), lot KET123" in product[0]["text"]


def test_an_expired_lot_is_refused_and_nothing_is_saved(window, store, clock):
    new_patient(window)
    window.patients.start("IV")
    fill_presession(window)
    _vial(window, clock, -1)
    sessions = len(store.rows(Session))
    assert not window.presession.submit()
    assert "expired" in window.presession.message.text()
    assert window.presession.sign_dialog is None  # refused before anyone is asked to sign
    assert len(store.rows(Session)) == sessions and not store.rows(DoseAdministration)
    window.presession.expiry.setText((clock.now() + timedelta(days=30)).date().isoformat())
    sign_presession(window)  # corrected, it saves
    assert len(store.rows(DoseAdministration)) == 1


def test_the_dose_calculation_shows_every_line_at_1280x800(window, qtbot, store, clock):
    """The calculation box in the narrow Dose column keeps the height its wrapped lines need (it was cut)."""
    from PySide6.QtCore import Qt

    window.resize(1280, 800)
    new_patient(window)
    window.patients.start("IV")
    fill_presession(window)
    p = window.presession
    for _ in range(3):
        qtbot.wait(10)
    steps = p.steps
    assert "pump rate" in steps.text()
    inner = steps.contentsRect().width() - 2 * steps.PADDING
    needed = steps.fontMetrics().boundingRect(0, 0, inner, 10_000, Qt.TextFlag.TextWordWrap, steps.text()).height()
    assert steps.height() >= needed + 2 * steps.PADDING

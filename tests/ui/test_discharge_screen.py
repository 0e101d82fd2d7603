"""The discharge screen shows what the chart says about each criterion and since when; a tick the chart
contradicts cannot be ticked; an override needs a reason (and, by policy, a second clinician's signature); the
printed summary and the REMS section state the same computed facts in the same words."""

from __future__ import annotations

from ketachart.domain.session import SessionState
from ketachart.report.model import build_summary
from ketachart.store.models import Checklist, Signature
from tests.e2e.test_session_flow import fill_presession, new_patient, sign_presession
from tests.ui.helpers import PINS, calm, feed, sign, vitals


def to_recovery(window, qtbot, clock, route="IV", minutes_after_stop=81, infusion_min=40):
    new_patient(window)
    window.patients.start(route)
    fill_presession(window)
    sign_presession(window)
    s = window.session
    feed(window, qtbot, vitals(clock, 5))
    s.start_infusion()
    assert window.c.state is SessionState.INFUSING
    feed(window, qtbot, calm(clock, infusion_min))
    s.open_stop()
    assert s.dialog.submit()
    s.sed_buttons[0].click()  # MOAA/S 5
    s.diss_buttons[0].click()  # dissociation none
    feed(window, qtbot, calm(clock, minutes_after_stop))
    return window.c.session_id


def fill(d, padss_index=1):
    for cb in d.items.values():
        if cb.isEnabled():
            cb.setChecked(True)
    for cb in d.padss.values():
        cb.setCurrentIndex(padss_index)
    d.update_decision()


def test_the_screen_shows_what_the_chart_says_and_the_summary_says_the_same(window, qtbot, store, clock):
    sid = to_recovery(window, qtbot, clock)
    window.c.chart_sedation(2)  # five minutes before the check: MOAA/S 2 ...
    feed(window, qtbot, vitals(clock, 3, spo2=85))  # ... and a critical SpO2 alert nobody acknowledged
    feed(window, qtbot, calm(clock, 5))
    window.show_discharge()
    d = window.discharge
    fill(d)
    r = d.readiness
    assert not r.ready
    assert d.criteria["sedation_resolved"].text().startswith("✖ Sedation resolved (MOAA/S 5): MOAA/S 2 at min")
    assert d.criteria["no_open_alerts"].text().startswith("✖ No open alerts: 1 open alert: SpO2 85%")
    assert d.criteria["min_120"].text().startswith("✔ At least 120 min since the start: 1")
    assert d.criteria["vitals_ok"].text().startswith("✖ Vitals in limits for 15 min")  # the dip is inside the 15-minute window
    box = d.items["alert_oriented"]
    assert not box.isEnabled() and not box.isChecked()  # MOAA/S 2 contradicts "alert and oriented"
    assert d.item_notes["alert_oriented"].text().startswith("The chart says: MOAA/S 2")
    assert "Override needed" in d.decision.text()
    assert not d.submit() and "override needs a reason" in d.message.text()
    assert store.rows(Checklist, session_id=sid, kind="discharge") == []

    shown = [label.text() for label in d.criteria.values()]
    d.override.setText("Transferred to the ED with a nurse")
    assert d.submit()
    assert sign(d.sign_dialog, PINS["nurse.a"]), d.sign_dialog.error.text()
    qtbot.waitUntil(lambda: store.session_state(sid) is SessionState.DISCHARGED)
    row = store.rows(Checklist, session_id=sid, kind="discharge")[0]
    assert not row["passed"] and row["override_reason"] == "Transferred to the ED with a nurse"

    summary = build_summary(store, sid, clock.now())
    facts = list(summary.discharge.facts)
    assert facts == r.lines()  # one function: the screen's assessment is what the paper prints
    assert [f for f in facts if f in shown] == shown  # every chart criterion the screen showed, word for word
    assert any(f.startswith("✖ Sedation resolved (MOAA/S 5): MOAA/S 2") for f in facts)


def test_a_calm_chart_needs_no_override(window, qtbot, store, clock):
    sid = to_recovery(window, qtbot, clock)
    window.show_discharge()
    d = window.discharge
    fill(d)
    assert d.readiness.ready and d.decision.text() == "✔ Discharge criteria met."
    assert all(label.text().startswith("✔") for label in d.criteria.values())
    assert d.submit()
    assert sign(d.sign_dialog, PINS["nurse.a"])
    row = store.rows(Checklist, session_id=sid, kind="discharge")[0]
    assert row["passed"] and not row["override_reason"]


def test_an_early_override_needs_a_second_clinician_when_policy_says_so(window, qtbot, store, clock):
    store.set_policy(store.policy.changed(override_cosign_all=True))
    sid = to_recovery(window, qtbot, clock, minutes_after_stop=30)  # 70 min: early
    window.show_discharge()
    d = window.discharge
    fill(d)
    assert "A second clinician countersigns this override" in d.decision.text()
    d.override.setText("Prescriber reviewed; escort waiting")
    assert d.submit()
    assert sign(d.sign_dialog, PINS["nurse.a"])
    assert store.session_state(sid) is SessionState.RECOVERY  # nothing saved before the second signature
    dlg = d.sign_dialog
    assert dlg is not None and dlg.meaning == "reviewed"
    assert not sign(dlg, PINS["nurse.a"], user_id="nurse.a")  # the performer cannot countersign
    assert sign(d.sign_dialog, PINS["nurse.b"], user_id="nurse.b")
    qtbot.waitUntil(lambda: store.session_state(sid) is SessionState.DISCHARGED)
    row = store.rows(Checklist, session_id=sid, kind="discharge")[0]
    assert [(s["user_id"], s["meaning"]) for s in store.rows(Signature, target_id=row["id"])] == [
        ("nurse.a", "performed"), ("nurse.b", "reviewed")]

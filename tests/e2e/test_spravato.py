"""A Spravato (intranasal esketamine) session from check-in to discharge through the real window: its own route,
devices charted with their times and prompted 5 minutes apart, the post-dose BP a due item, esketamine named on
every screen, signature and the summary. Fake clock; the monitor streams through the bridge from a thread."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QLabel

from ketachart.domain.session import SessionState
from ketachart.store.models import Observation, RateChange
from tests.e2e.test_nurse_flow import add_patient, discharge_now
from tests.ui.helpers import PINS, calm, feed, go, sign, vitals


def _texts(widget) -> str:
    return " | ".join(lab.text() for lab in widget.findChildren(QLabel))


def _fits(window) -> None:
    hint = window.minimumSizeHint()
    assert window.width() <= 1280 and window.height() <= 800 and hint.width() <= 1280 and hint.height() <= 800, hint


def test_a_spravato_session_from_check_in_to_discharge(window, qtbot, store, clock):
    add_patient(window, "MRN-E", "Ellis", "Eve", "70")
    window.patients.start("IN")
    p = window.presession
    p.consent.setChecked(True)
    p.escort_name.setText("Pat Ellis")
    p.escort_phone.setText("555-0199")
    p.no_driving.setChecked(True)
    p.weight.setText("70")
    p.b_sys.setText("124")
    p.b_dia.setText("78")
    p.items.answer_all_safe()
    p.in_dose.setCurrentIndex(0)  # 56 mg: two devices
    p.lot.setText("ESK0001")
    assert p.submit(), p.message.text()
    what = _texts(p.sign_dialog)
    assert "esketamine (Spravato) intranasal 56 mg (2 devices)" in what and "ketamine IN" not in what
    assert sign(p.sign_dialog, PINS["nurse.a"]), p.sign_dialog.error.text()
    s = window.session
    assert window.stack.currentWidget() is s
    window._repaint()
    # its own route: no infusion tile, rate, pause or pump; start is device 1; "End administration", never "Stop"
    assert "esketamine" in s.patient_label.full_text and "ketamine IN" not in s.patient_label.full_text
    assert not s.rate_button.isVisible() and not s.pause_button.isVisible() and not s.pump_tile.isVisible()
    assert s.start_button.text() == "▶ Start: device 1 [G]" and s.stop_button.text() == "■ End administration [Q]"
    assert s.clock_tiles[0].label.full_text == "Spravato" and "2 devices, 5 min apart" in s.clock_tiles[0].sub.full_text
    assert "Infusion" not in _texts(s)

    feed(window, qtbot, calm(clock, 2))  # the monitor streams (the start gate's condition)
    s.start_button.click()
    assert window.c.state is SessionState.INFUSING
    t0 = clock.now()
    due = (t0.astimezone()).strftime("%H:%M")
    assert "Administration started: device 1 of 2; device 2 due at" in s.message.text()
    window._repaint()
    assert s.plot._versions and dict(s.plot._versions)["infusion"] == ()  # no infusion shading
    assert s.device_button.isVisible() and s.device_button.text() == "Device 2 given [G]"
    assert not s.start_button.isVisible()
    tile = s.clock_tiles[0]
    assert tile.label.full_text == "Device 2 of 2" and tile.value.text() == "in 5 min"
    assert f"device 1 at {due}" in tile.sub.text()
    assert any("Spravato device 1 of 2 (28 mg esketamine)" in s.entry_list.item(i).text()
               for i in range(s.entry_list.count()))

    feed(window, qtbot, calm(clock, 5))  # 5 minutes on: device 2 is due
    window._repaint()
    assert tile.value.text() == "DUE"
    qtbot.keyClick(s, "g")  # [G]: the next device
    assert window.c.state is SessionState.RECOVERY  # the last device completes the administration
    assert "Device 2 of 2: administration complete" in s.message.text()
    (stop,) = [e for e in window.c.view.events if e["event"] == "stop-infusion"]
    assert stop["details"] == {"completed": True, "devices_given": 2, "devices_planned": 2}
    window._repaint()
    assert not s.device_button.isVisible() and not s.stop_button.isEnabled()
    assert tile.label.text() == "Post-dose BP" and tile.value.text() == "in 35 min"
    _fits(window)

    feed(window, qtbot, vitals(clock, 36 * 60, step=30))  # no BP taken: at 40 min the post-dose BP is due
    window._repaint()
    assert tile.label.text() == "Post-dose BP" and tile.value.text() == "DUE"
    s.open_vitals()
    s.dialog.set_values(sys="132", dia="84")
    assert s.dialog.submit()
    window._repaint()
    assert tile.value.text() == "done"
    while window.c.unacknowledged():  # the BP-overdue warning of those minutes without a BP
        s.open_ack()
        s.dialog.set_values(action="BP taken by hand")
        assert s.dialog.submit()

    s.sed_buttons[0].click()
    s.diss_buttons[0].click()
    feed(window, qtbot, calm(clock, 81))
    window.show_discharge()
    title = window.discharge.title.text()
    assert "esketamine (Spravato) intranasal 56 mg" in title and "ketamine IN" not in title
    _fits(window)
    d = window.discharge
    for cb in d.items.values():
        cb.setChecked(True)
    for cb in d.padss.values():
        cb.setCurrentIndex(1)
    assert d.submit(), d.message.text()
    what = _texts(d.sign_dialog)
    assert "esketamine (Spravato) intranasal 56 mg" in what and "ketamine IN" not in what
    assert sign(d.sign_dialog, PINS["nurse.a"]), d.sign_dialog.error.text()
    sid = store.rows(Observation, kind="nasal-device")[0]["session_id"]
    assert store.session_state(sid) is SessionState.DISCHARGED and store.rows(RateChange) == []

    from ketachart.report.model import build_summary

    devices = store.rows(Observation, kind="nasal-device")
    assert [json.loads(o["data"]) for o in devices] == [{"device": 1, "of": 2, "mg": 28}, {"device": 2, "of": 2, "mg": 28}]
    summary = build_summary(store, sid, now=clock.now())
    assert "Esketamine" in summary.dose.drug
    text = json.dumps(summary, default=lambda o: getattr(o, "__dict__", str(o)))
    assert "ketamine IN" not in text and "Infusion STOPPED" not in text and "Administration complete" in text

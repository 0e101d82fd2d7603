"""Touch only (issue 12): a whole session charted with a finger. Every step below is a mouse click on a widget
(qtbot.mouseClick), never a key event and never a setText; each tapped target is at least 44 px both ways.

Sign-in by name and PIN pad, a new patient typed on the dialog's keypad, the pre-session by keypads and tap
rows, the start with a monitor streaming through the bridge, observations (scores, nausea with vomiting,
CADSS-6, a quick-pick note and intervention, manual vitals), stop, the discharge check and its signature.
"""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QAbstractButton, QApplication, QCheckBox, QComboBox, QPushButton, QWidget

from ketachart.auth import Accounts
from ketachart.domain.records import YES
from ketachart.domain.vocabulary import Kind
from ketachart.domain.session import SessionState
from ketachart.store.models import Observation
from ketachart.ui.touch import MIN_TARGET
from tests.ui.helpers import FAST_HASHER, PINS, calm, feed, open_window, vitals

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class Finger:
    """Taps widgets as a finger would: only visible, enabled targets of at least 44 x 44 px."""

    def __init__(self, qtbot) -> None:
        self.qtbot = qtbot
        self.taps = 0
        self.smallest = 10_000

    def tap(self, w: QWidget, pos: QPoint | None = None, *, height: int | None = None) -> None:
        assert w.isVisible(), f"tapped an invisible widget: {w!r} {getattr(w, 'text', lambda: '')()}"
        assert w.isEnabled(), f"tapped a disabled widget: {getattr(w, 'text', lambda: '')()}"
        h = w.height() if height is None else height
        assert h >= MIN_TARGET and w.width() >= MIN_TARGET, (
            f"target {getattr(w, 'text', lambda: w.objectName())()!r} is {w.width()}x{h} px, under {MIN_TARGET}")
        self.smallest = min(self.smallest, h, w.width())
        self.taps += 1
        self.qtbot.mouseClick(w, Qt.MouseButton.LeftButton, pos=pos or w.rect().center())

    def check(self, box: QCheckBox) -> None:
        """A check box is tapped on its box (its label is part of the target too)."""
        before = box.isChecked()
        self.tap(box, QPoint(16, box.height() // 2))
        assert box.isChecked() != before

    def type(self, pad, text: str) -> None:
        for ch in text:
            for key in pad.keys_for(ch):
                self.tap(key)

    def fill(self, pad, field, text: str) -> None:
        """Tap the field (the keypad comes to it), type on the keypad, check what landed."""
        self.tap(field)
        assert pad.isVisible() and pad.target is field
        self.type(pad, text)
        assert field.text() == text

    def pick(self, combo: QComboBox, value) -> None:
        """A drop-down: one tap opens its list, one tap on a (44 px) row picks."""
        hints = QApplication.styleHints()
        interval = hints.mouseDoubleClickInterval()
        hints.setMouseDoubleClickInterval(1)  # the list ignores a release this soon after it opened (a finger is slower)
        try:
            self.tap(combo)
            view = combo.view()
            self.qtbot.waitUntil(view.isVisible, timeout=2000)
            self.qtbot.wait(20)
        finally:
            hints.setMouseDoubleClickInterval(interval)
        rect = view.visualRect(combo.model().index(combo.findData(value), 0))
        assert rect.height() >= MIN_TARGET, f"drop-down row is {rect.height()} px"
        self.taps += 1
        self.qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        self.qtbot.waitUntil(lambda: combo.currentData() == value, timeout=2000)


def labelled(root: QWidget, text: str) -> QPushButton:
    found = [b for b in root.findChildren(QAbstractButton) if b.text().startswith(text) and b.isVisible()]
    assert found, f"no visible button {text!r}"
    return found[0]


@pytest.fixture
def touch_window(qtbot, store, clock):
    store.create_user("admin", "Pat Admin", "admin", FAST_HASHER.hash(PINS["admin"]))  # not a first start
    store.create_user("dr.c", "Dana Cho, MD", "prescriber", FAST_HASHER.hash("8642"))
    store.set_policy(store.policy.changed(order_required_before_dose=True))  # a new clinic's chart: an order first
    acc = Accounts(store, hasher=FAST_HASHER)  # nobody signed in: the app opens on its sign-in dialog
    w = open_window(qtbot, store, clock, acc)
    yield w
    w.close()


def test_a_whole_session_by_touch_alone(touch_window, qtbot, store, clock, monkeypatch):
    w = touch_window
    finger = Finger(qtbot)
    monkeypatch.setattr(qtbot, "keyClick", None)  # no key events in this test: using one fails it
    monkeypatch.setattr(qtbot, "keyClicks", None)

    # sign in: tap your name, the PIN on the pad
    dlg = w.auth.dialog
    assert dlg is not None
    finger.tap(dlg.users.buttons["nurse.a"])
    for d in PINS["nurse.a"]:
        finger.tap(dlg.pin_pad.keys[d])
    finger.tap(dlg.pin_pad.ok)
    qtbot.waitUntil(lambda: w.auth.current is not None and w.stack.currentWidget() is w.patients, timeout=3000)

    # a new patient, typed on the dialog's keypad; sex is tapped (there is no default)
    finger.tap(labelled(w.patients, "New patient"))
    nd = w.patients.dialog
    pad = nd.keypad
    assert pad.isVisible()  # the form asks for a number (weight): the keypad is there from the start
    for key, text in (("mrn", "T-100"), ("family", "Touch"), ("given", "Tess"), ("dob", "1985-06-15"),
                      ("weight", "70")):
        finger.fill(pad, nd.widgets[key], text)
    assert nd.values()["sex"] == ""
    finger.tap(nd.widgets["sex"].buttons[0])
    assert nd.values()["sex"] == "female"
    finger.tap(nd.submit_button)
    assert nd.result() == nd.DialogCode.Accepted, nd.error.text()
    patient = w.patients.selected()
    assert (patient["mrn"], patient["family_name"], patient["sex"]) == ("T-100", "Touch", "female")

    # pre-session: check boxes, keypads (digits and letters), the items and PHQ-9 tap rows
    feed(w, qtbot, vitals(clock, 5))  # the monitor streams through the bridge from here on
    finger.tap(w.patients.iv_button)
    f = w.presession
    assert w.stack.currentWidget() is f
    finger.check(f.consent)
    finger.check(f.no_driving)
    pad = f.keypad
    for field, text in ((f.fasting, "8"), (f.escort_name, "Pat Rivera"), (f.escort_phone, "5550142"),
                        (f.weight, "70"), (f.b_sys, "124"), (f.b_dia, "78"), (f.b_hr, "72"), (f.b_spo2, "98"),
                        (f.waste_mg, "0"), (f.lot, "KET123")):
        finger.fill(pad, field, text)
        finger.tap(pad.keys["Done"])
        assert not pad.isVisible()
    finger.check(f.new_order)  # the prescriber at the chair signs the dose as the course's order
    finger.fill(pad, f.order_prescriber, "dr.c")
    finger.tap(pad.keys["Done"])
    for item in f.items._items:
        finger.tap(f.items.buttons[item.key][YES if item.safe_answer == YES else "no"])
    for row, score in zip(f.phq, (1, 1, 0, 2, 0, 1, 0, 0, 0)):
        finger.tap(row.buttons[score])
    assert "Total 5/27" in f.phq_total.text()
    assert "35" in f.steps.text()  # 0.5 mg/kg of 70 kg
    finger.tap(f.submit_button)
    for pin in ("8642", PINS["nurse.a"]):  # the prescriber's order, then the nurse's dose
        sd = f.sign_dialog
        assert sd is not None, f.message.text()
        for d in pin:
            finger.tap(sd.pin_pad.keys[d])
        finger.tap(sd.pin_pad.ok)
        assert sd.error.text() == "", sd.error.text()
    qtbot.waitUntil(lambda: w.stack.currentWidget() is w.session, timeout=3000)
    sid = w.c.session_id
    assert store.rows(Observation, session_id=sid, kind=Kind.PHQ9)

    # the session: start with the monitor streaming, then chart by tapping
    s = w.session
    feed(w, qtbot, vitals(clock, 10))
    finger.tap(s.start_button)
    assert w.c.state is SessionState.INFUSING, s.message.text()
    feed(w, qtbot, vitals(clock, 60))
    finger.tap(s.sed_buttons[1])
    finger.tap(s.diss_buttons[2])
    finger.tap(s.quick["nausea"])  # nausea 3 with vomiting: two taps
    finger.tap(s.dialog.check_buttons[3])
    finger.tap(s.quick["cadss"])
    cadss = s.dialog
    for i, row in enumerate(r for r in cadss.widgets.values()):
        finger.tap(row.buttons[i % 3])
    finger.tap(cadss.submit_button)
    assert s.dialog is None
    finger.tap(s.quick["note"])
    finger.tap(s.dialog.pick_buttons["patient resting"])
    finger.tap(s.dialog.submit_button)
    finger.tap(s.quick["intervention"])
    finger.tap(s.dialog.pick_buttons["ondansetron 4 mg IV"])
    finger.tap(s.dialog.submit_button)
    finger.tap(s.quick["vitals"])
    vd = s.dialog
    for key, text in (("sys", "132"), ("dia", "84"), ("rr", "14")):
        finger.fill(vd.keypad, vd.widgets[key], text)
    finger.tap(vd.submit_button)
    assert s.dialog is None, vd.error.text()
    feed(w, qtbot, calm(clock, 38))  # the monitor goes on streaming, NIBP every 5 min
    finger.tap(s.stop_button)
    finger.tap(s.dialog.submit_button)  # completed as ordered (the default); no pump: the ordered volume ran
    assert w.c.state is SessionState.RECOVERY, s.message.text()
    finger.tap(s.sed_buttons[0])  # MOAA/S 5 and no dissociation, after the infusion
    finger.tap(s.diss_buttons[0])
    finger.tap(s.quick["nausea"])  # settled: nausea 0, one tap in the picker
    finger.tap(s.dialog.buttons[0])
    feed(w, qtbot, calm(clock, 81))

    # discharge: the checklist, the PADSS, then the signature on the PIN pad
    w._repaint()
    if w.stack.currentWidget() is s:  # at 2 h the window may have opened the discharge check itself
        finger.tap(s.discharge_button)
    d = w.discharge
    assert w.stack.currentWidget() is d
    for box in d.items.values():
        if box.isEnabled() and not box.isChecked():  # a disabled box is decided by the chart
            finger.check(box)
    for combo in d.padss.values():
        finger.pick(combo, 2)
    finger.tap(d.sign_button)
    sd = d.sign_dialog
    assert sd is not None, d.message.text()
    for dgt in PINS["nurse.a"]:
        finger.tap(sd.pin_pad.keys[dgt])
    finger.tap(sd.pin_pad.ok)
    qtbot.waitUntil(lambda: store.session_state(sid) is SessionState.DISCHARGED, timeout=3000)

    kinds = [o["kind"] for o in store.rows(Observation, session_id=sid)]
    for kind in (Kind.SEDATION, Kind.DISSOCIATION, Kind.NAUSEA, Kind.CADSS6, Kind.NOTE, Kind.INTERVENTION):
        assert kind in kinds, kind
    nausea = [o for o in store.rows(Observation, session_id=sid) if o["kind"] == Kind.NAUSEA][0]
    data = json.loads(nausea["data"]) if isinstance(nausea["data"], str) else nausea["data"]
    assert nausea["value"] == 3 and data["vomiting"] is True
    note = next(o for o in store.rows(Observation, session_id=sid) if o["kind"] == Kind.NOTE)
    assert note["text"] == "patient resting"
    iv = next(o for o in store.rows(Observation, session_id=sid) if o["kind"] == Kind.INTERVENTION)
    assert iv["text"] == "ondansetron 4 mg IV"
    assert finger.taps > 100 and finger.smallest >= MIN_TARGET

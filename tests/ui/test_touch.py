"""Touch widgets (issue 12): PIN pad, keypad, tap rows, quick-picks, the nausea picker, the lock screen by taps."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QPlainTextEdit

from ketachart.domain.errors import ClinicalInputError
from ketachart.domain.policy import DEFAULT_POLICY, parse_intervention_pick
from ketachart.ui.screens.common import Field, FormDialog, ScorePicker, intervention_picks, note_picks
from ketachart.ui.touch import MIN_TARGET, Keypad, PinPad, TapChoice
from tests.ui.helpers import PINS


def tap(qtbot, w) -> None:
    assert w.isVisible() and w.height() >= MIN_TARGET and w.width() >= MIN_TARGET, (w.width(), w.height())
    qtbot.mouseClick(w, Qt.MouseButton.LeftButton, pos=w.rect().center())


def test_pin_pad_types_deletes_clears_and_submits(qtbot):
    field = QLineEdit()
    pad = PinPad(field)
    qtbot.addWidget(pad)
    qtbot.addWidget(field)
    pad.show()
    submitted = []
    pad.submitted.connect(lambda: submitted.append(field.text()))
    for k in ("1", "3", "5", "⌫", "7", "9"):
        tap(qtbot, pad.keys[k])
    assert field.text() == "1379"
    tap(qtbot, pad.ok)
    assert submitted == ["1379"]
    tap(qtbot, pad.keys["Clear"])
    assert field.text() == ""


def test_keypad_types_digits_letters_and_capitals_by_its_keys(qtbot):
    pad = Keypad()
    qtbot.addWidget(pad)
    name, weight, note = QLineEdit(), QLineEdit(), QPlainTextEdit()
    for w in (name, weight, note):
        qtbot.addWidget(w)
        w.show()
    pad.set_fields([weight, name, note], text_fields=[name, note])
    pad.show()
    pad.set_target(weight)
    assert pad.pages.currentIndex() == 0  # a number: digits first
    pad.type_text("72.5")
    assert weight.text() == "72.5"
    tap(qtbot, pad.keys["Next"])
    assert pad.target is name and pad.pages.currentIndex() == 1  # a name: letters, capital first
    pad.type_text("Ann O'Neil-Smith 2")
    assert name.text() == "Ann O'Neil-Smith 2"
    pad.keys["letter:⌫"].click()
    assert name.text() == "Ann O'Neil-Smith "
    pad.set_target(note)
    pad.type_text("Calm")
    assert note.toPlainText() == "Calm"
    assert not pad.keys["Next"].isEnabled()  # the last field


def test_tap_choice_answers_like_the_combo_it_replaces_and_a_second_tap_takes_it_back(qtbot):
    row = TapChoice([("", "-")] + [(v, str(v)) for v in range(5)], name="Item 1")
    qtbot.addWidget(row)
    row.show()
    seen = []
    row.currentIndexChanged.connect(seen.append)
    assert row.currentData() == "" and len(row.buttons) == 5  # unanswered; "-" is not a button
    tap(qtbot, row.buttons[3])
    assert row.currentData() == 3 and row.currentIndex() == 4
    tap(qtbot, row.buttons[1])
    assert row.currentData() == 1 and [b.isChecked() for b in row.buttons] == [False, True, False, False, False]
    tap(qtbot, row.buttons[1])
    assert row.currentData() == "" and seen == [4, 2, 0]
    row.setCurrentIndex(row.findData(0))
    assert row.currentData() == 0  # 0 is an answer, different from unanswered


def test_form_keypad_is_there_for_numbers_and_comes_on_a_tap_for_words(qtbot):
    numbers = FormDialog(None, "Manual vitals", [Field("sys", "Systolic"), Field("dia", "Diastolic")], lambda v: None)
    qtbot.addWidget(numbers)
    numbers.show()
    assert numbers.keypad.isVisible() and numbers.keypad.target is numbers.widgets["sys"]
    numbers.keypad.type_text("128")
    tap(qtbot, numbers.widgets["dia"])
    numbers.keypad.type_text("84")
    assert numbers.values() == {"sys": "128", "dia": "84"}
    assert numbers.width() >= 560 + numbers.keypad.width() - 200  # the form is not squeezed by the keypad

    words = FormDialog(None, "Pause infusion", [Field("reason", "Reason")], lambda v: None)
    qtbot.addWidget(words)
    words.show()
    assert not words.keypad.isVisible()
    tap(qtbot, words.widgets["reason"])
    assert words.keypad.isVisible() and words.keypad.pages.currentIndex() == 1
    words.keypad.type_text("Nausea")
    assert words.values()["reason"] == "Nausea"
    tap(qtbot, words.keypad.keys["Done"])
    assert not words.keypad.isVisible()


def test_quick_picks_fill_the_dialog_from_policy(qtbot):
    fields = [Field("drug", "Drug"), Field("dose", "Dose"),
              Field("unit", "Unit", "combo", "mg", [("mg", "mg"), ("L/min", "L/min"), ("", "-")]),
              Field("route", "Route", "combo", "IV", [("IV", "IV"), ("PO", "PO"), ("nasal", "nasal"), ("", "-")])]
    dlg = FormDialog(None, "Intervention", fields, lambda v: None, picks=intervention_picks(DEFAULT_POLICY))
    qtbot.addWidget(dlg)
    dlg.show()
    tap(qtbot, dlg.pick_buttons["oxygen 2 L/min nasal"])
    assert dlg.values() == {"drug": "oxygen", "dose": "2", "unit": "L/min", "route": "nasal"}
    tap(qtbot, dlg.pick_buttons["reassurance given"])
    assert dlg.values() == {"drug": "reassurance given", "dose": "", "unit": "", "route": ""}
    assert note_picks(DEFAULT_POLICY)[0] == ("patient resting", {"text": "patient resting"})
    for b in dlg.pick_buttons.values():
        assert b.width() >= b.sizeHint().width()  # the whole words show


def test_intervention_picks_are_read_and_policed():
    assert parse_intervention_pick("ondansetron 4 mg IV") == ("ondansetron", "4", "mg", "IV")
    assert parse_intervention_pick("fentanyl 25 mcg IV") == ("fentanyl", "25", "mcg", "IV")
    for bad in ("4 mg IV", "ondansetron 4 IV", "ondansetron four mg IV", "x 0 mg IV", ""):
        with pytest.raises(ClinicalInputError):
            parse_intervention_pick(bad)
    for change in ({"intervention_picks": ("ondansetron 4 tablets IV",)}, {"note_picks": ("x" * 41,)},
                   {"note_picks": tuple(f"note {i}" for i in range(13))},
                   {"note_picks": ("resting", "Resting")}):
        with pytest.raises(ClinicalInputError):
            DEFAULT_POLICY.changed(**change)
    assert DEFAULT_POLICY.changed(note_picks=()).note_picks == ()  # no quick-picks is a clinic's choice


def test_nausea_with_vomiting_is_one_tap_in_the_picker(qtbot):
    charted = []
    picker = ScorePicker(None, "Nausea 0-10", [(v, str(v)) for v in range(11)],
                         lambda v, vom: charted.append((v, vom)), check="Vomiting [V]")
    qtbot.addWidget(picker)
    picker.show()
    tap(qtbot, picker.check_buttons[6])
    assert charted == [(6, True)]


def test_lock_screen_unlocks_and_hands_over_by_taps(window, qtbot, store):
    w = window
    w.auth.lock_now()
    scr = w.auth.lock.screen
    assert scr.isVisible() and scr.pin_pad.isVisible()
    for d in PINS["nurse.a"]:
        tap(qtbot, scr.pin_pad.keys[d])
    tap(qtbot, scr.pin_pad.ok)
    assert not w.auth.is_locked and w.auth.current.user_id == "nurse.a"

    w.auth.lock_now()
    tap(qtbot, scr.switch_button)
    assert scr.users.isVisible() and scr.pin_pad.ok.text() == "Take over"
    tap(qtbot, scr.users.buttons["nurse.b"])
    for d in PINS["nurse.b"]:
        tap(qtbot, scr.pin_pad.keys[d])
    tap(qtbot, scr.pin_pad.ok)
    assert not w.auth.is_locked and w.auth.current.user_id == "nurse.b"

"""Accessible, comfortable screens (issue 18): names and descriptions on every interactive widget of every
screen and dialog, Tab in reading order, the theme remembered and able to follow the OS, text at 125 % and
150 % without clipping, and the chair screen's single keys wherever its focus is, listed in a help overlay."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QLineEdit, QWidget

from ketachart.domain.session import SessionState
from ketachart.ui.accessibility import UiPrefs, focus_chain, reading_rows, unnamed
from tests.e2e.test_session_flow import checked_in_session, new_patient
from tests.ui.helpers import feed, go, nibp, vitals


def settle(qtbot) -> None:
    QApplication.processEvents()
    qtbot.wait(5)
    QApplication.processEvents()


def check_screen(root: QWidget, qtbot) -> None:
    settle(qtbot)
    missing = unnamed(root)
    assert not missing, f"{type(root).__name__}: no accessible name/description on {missing}"
    chain = focus_chain(root)
    assert chain, f"{type(root).__name__}: nothing to Tab to"
    assert chain == reading_rows(root, chain), f"{type(root).__name__}: Tab does not follow reading order"


def screens_and_dialogs(window, qtbot, store, clock):
    """Every screen of the chair, each with the dialogs it opens, as a nurse reaches them."""
    window.show_patients()
    yield window.patients
    window.patients.open_new_patient()
    yield window.patients.dialog
    window.patients.dialog.reject()
    sid = checked_in_session(window, qtbot)
    assert sid
    window.show_presession()
    yield window.presession
    window.show_session()
    s = window.session
    feed(window, qtbot, vitals(clock, 30) + nibp(clock, 126, 80))
    yield s
    for opener in (s.open_note, s.open_nausea, s.open_dissociation, s.open_vitals, s.open_intervention, s.open_cadss):
        opener()
        yield s.dialog
        s.dialog.reject()
    s.start_infusion()
    go(clock, 40)
    s.c.attempt(s.c.stop_infusion, "completed")
    assert window.c.state is SessionState.RECOVERY
    window.show_discharge()
    yield window.discharge


def test_every_interactive_widget_is_named_and_tab_follows_reading_order(window, qtbot, store, clock):
    seen = 0
    for root in screens_and_dialogs(window, qtbot, store, clock):
        if root.isWindow() and not root.isVisible():
            root.show()
        check_screen(root, qtbot)
        seen += 1
    assert seen >= 10


def test_a_widget_without_a_name_is_found(qtbot):
    """The check itself can fail: a button showing only a symbol, with no tooltip, has no name to give."""
    from ketachart.ui.accessibility import name_widgets

    w = QWidget()
    qtbot.addWidget(w)
    from PySide6.QtWidgets import QPushButton

    b = QPushButton("◐", w)
    b.setObjectName("")
    w.show()
    name_widgets(w)
    assert unnamed(w)
    b.setToolTip("Dark / light theme")
    name_widgets(w)
    assert not unnamed(w) and b.accessibleName() == "Dark / light theme"


def test_theme_is_remembered_and_can_follow_the_os(window, qtbot, store, monkeypatch):
    prefs = UiPrefs.for_chart(store.path)
    assert prefs.theme == "dark" and window.palette_.name == "dark"
    window.toggle_theme()
    assert window.palette_.name == "light" and UiPrefs.for_chart(store.path).theme == "light"
    monkeypatch.setattr("ketachart.ui.accessibility.system_theme", lambda: "dark")
    window.toggle_theme()
    assert UiPrefs.for_chart(store.path).theme == "system" and window.palette_.name == "dark"
    monkeypatch.setattr("ketachart.ui.accessibility.system_theme", lambda: "light")
    window.a11y._os_changed()  # the OS switched to light while following it
    assert window.palette_.name == "light"
    window.toggle_theme()
    assert UiPrefs.for_chart(store.path).theme == "dark" and window.palette_.name == "dark"


def test_a_new_window_opens_in_the_remembered_theme(qtbot, store, clock, accounts):
    from ketachart.app import create_main_window

    UiPrefs.for_chart(store.path).theme = "light"
    w = create_main_window(store, clock, accounts=accounts, idle_min=0)
    qtbot.addWidget(w)
    assert w.palette_.name == "light"
    w.close()


def clipped(root: QWidget) -> list[str]:
    """Visible labels and buttons whose text needs more room than they got (one line, no wrap, no elision)."""
    out = []
    for w in root.findChildren(QWidget):
        if not w.isVisibleTo(root) or w.width() <= 1:
            continue
        if isinstance(w, QAbstractButton) and w.text():
            need = w.fontMetrics().horizontalAdvance(w.text().replace("&", ""))
            if need > w.width() - 4 or w.fontMetrics().height() > w.height():
                out.append(f"button {w.text()!r} {w.width()}x{w.height()} needs {need}")
        elif isinstance(w, QLabel) and w.text() and not w.wordWrap() and w.textFormat() != Qt.TextFormat.RichText \
                and "\n" not in w.text() and not hasattr(w, "full_text"):
            need = w.fontMetrics().horizontalAdvance(w.text())
            if need > w.contentsRect().width() + 1:
                out.append(f"label {w.text()!r} {w.width()} needs {need}")
    return out


@pytest.mark.parametrize("percent", ["125", "150"])
def test_text_size_follows_the_setting_without_clipping(window, qtbot, store, clock, percent):
    window.resize(1920, 1080)  # a common clinic laptop/tablet screen
    window.a11y.set_text_scale(percent)
    settle(qtbot)
    assert UiPrefs.for_chart(store.path).text_scale == percent
    window.show_patients()
    settle(qtbot)
    assert window.patients.search.font().pixelSize() == round(17 * int(percent) / 100)
    problems = {"patients": clipped(window.patients)}
    new_patient(window)
    window.patients.start("IV")
    settle(qtbot)
    problems["presession"] = clipped(window.presession)
    from tests.e2e.test_session_flow import fill_presession, sign_presession

    fill_presession(window)
    sign_presession(window)
    feed(window, qtbot, vitals(clock, 30) + nibp(clock, 126, 80))
    window.show_session()
    settle(qtbot)
    problems["session"] = clipped(window.session)
    window.session.start_infusion()
    go(clock, 40)
    window.c.attempt(window.c.stop_infusion, "completed")
    window.show_discharge()
    settle(qtbot)
    problems["discharge"] = clipped(window.discharge)
    assert not any(problems.values()), problems


def test_text_size_can_follow_the_os(window, qtbot, store):
    prefs = UiPrefs.for_chart(store.path)
    assert prefs.text_scale == "system"
    app = QApplication.instance()
    font = app.font()
    try:
        bigger = app.font()
        bigger.setPointSizeF(12.5)
        app.setFont(bigger)
        assert window.a11y.text_scale == 1.25
        bigger.setPointSizeF(30)
        app.setFont(bigger)
        assert window.a11y.text_scale == 1.5  # capped: beyond, the OS display scaling enlarges everything
    finally:
        app.setFont(font)
    with pytest.raises(ValueError):
        prefs.text_scale = "200"


def test_single_keys_work_wherever_the_chair_screen_has_focus_and_are_listed(window, qtbot, store, clock):
    checked_in_session(window, qtbot)
    s = window.session
    window.show_session()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    feed(window, qtbot, vitals(clock, 5))  # the monitor streams: the start gate's condition
    s.entry_list.setFocus()  # a list would swallow letters for its own type-ahead
    settle(qtbot)
    qtbot.keyClick(s.entry_list, "g")
    assert window.c.state is SessionState.INFUSING
    s.pause_button.setFocus()
    qtbot.keyClick(s.pause_button, "p")  # from a button: the pause dialog asks the reason
    dialog = s.dialog
    assert dialog.isVisible() and "Pause" in dialog.windowTitle()
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=5000)
    field = dialog.findChildren(QLineEdit)[0]
    field.setFocus()
    qtbot.keyClicks(field, "Quiet room")  # letters typed in a dialog are text, never chair commands
    assert field.text() == "Quiet room" and s.dialog is dialog and window.c.state is SessionState.INFUSING
    assert dialog.submit()
    assert window.c.state is SessionState.PAUSED
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    help_ = window.a11y.keys.help
    qtbot.keyClick(s.entry_list, Qt.Key.Key_F1)
    assert help_.isVisible()
    listed = help_.text.text()
    for key in s.keys:
        assert f"\n{key}    " in "\n" + listed
    assert "Pause / resume" in listed and "Acknowledge" in listed
    qtbot.keyClick(help_, Qt.Key.Key_Escape)
    assert not help_.isVisible()

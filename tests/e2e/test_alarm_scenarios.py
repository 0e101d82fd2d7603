"""Each alarm scenario drives the real app (the window, its chair service, the bridge) on the fake clock:
which alarms fire, at which session minute, and which do not. The readings are the simulators' scenarios
(hardware/sim/scenarios.py), the same ``ketachart scenario-check`` plays through the bare alert rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtWidgets import QLabel

from ketachart.domain.clock import utc
from ketachart.domain.session import SessionState
from ketachart.scenarios import BEFORE_S, SCENARIOS, sim_readings
from ketachart.store.models import Alert
from tests.ui.helpers import feed
from tests.ui.test_chair_screen import infusing

CHUNK_S = 30  # readings reach the app in 30-second batches; the chair's once-a-second rules run after each


def play(window, qtbot, clock, name: str):
    sid = infusing(window, window.c.store, clock, start=False)
    s = window.session
    start = clock.now() + timedelta(seconds=BEFORE_S)
    batch = []
    for t, make in sim_readings(name):
        target = start + timedelta(seconds=t)
        if target > clock.now():
            clock.advance((target - clock.now()).total_seconds())
        if t == 0:  # minute 0: the nurse presses Start (the gate reads the latest BP before it)
            if batch:
                feed(window, qtbot, batch)
                batch = []
            s.start_infusion()
            if s.dialog is not None and s.dialog.windowTitle() == "Pre-dose blood pressure":
                s.dialog.set_values(reason="Reviewed with the prescriber: proceed")
                assert s.dialog.submit()
            assert window.c.state is SessionState.INFUSING
        batch += make(clock.now())
        if t % CHUNK_S == CHUNK_S - 1:
            feed(window, qtbot, batch)
            batch = []
            window.c.tick()
    if batch:
        feed(window, qtbot, batch)
    fired = sorted((utc(a["effective_at"]), a["rule"]) for a in window.c.store.rows(Alert, session_id=sid))
    return [{"rule": rule, "minute": int((at - start).total_seconds() // 60)} for at, rule in fired]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_in_the_app(window, qtbot, clock, name):
    fired = play(window, qtbot, clock, name)
    expected = [{"rule": rule, "minute": minute} for rule, minute in SCENARIOS[name].expected]
    assert fired == expected
    window._repaint()
    s, open_ = window.session, window.c.unacknowledged()
    assert s.banner.isVisible() == bool(open_) == window.sound.active  # an open alert shows and sounds
    if open_:  # the banner's Acknowledge opens the alert the banner shows
        s.open_ack()
        shown = s.banner_text.text()
        intro = " ".join(label.text() for label in s.dialog.findChildren(QLabel))
        assert any(a["message"] in shown and a["message"] in intro for a in open_)
        s.dialog.set_values(action="Checked the patient")
        assert s.dialog.submit()
        window._repaint()
        assert not window.c.unacknowledged() and not s.banner.isVisible() and not window.sound.active

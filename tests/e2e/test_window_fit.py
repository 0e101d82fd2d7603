"""The window never grows past a 1280x800 screen: a whole autoplay session, checked at every step."""

from __future__ import annotations

from ketachart.store.models import Observation
from ketachart.ui.autoplay import Autoplay
from tests.ui.helpers import PINS, feed


class _Autoplay(Autoplay):
    def _sign(self, dialog, user_id: str) -> None:  # the test users have their own PINs
        self.pin = PINS[user_id]
        super()._sign(dialog, user_id)


def _visible_in_window(window, widget) -> bool:
    if not widget.isVisible() or widget.visibleRegion().isEmpty():
        return False
    top_left = widget.mapTo(window, widget.rect().topLeft())
    bottom_right = widget.mapTo(window, widget.rect().bottomRight())
    return window.rect().contains(top_left) and window.rect().contains(bottom_right)


def monitor_batch(window, qtbot, clock, step: int) -> None:
    """One batch of a calm monitor (HR, SpO2, RR; an NIBP every 20th 15-s step, i.e. every 5 min)."""
    from ketachart.domain.codes import Parameter as P
    from ketachart.domain.readings import Reading

    now = clock.now()
    batch = [Reading(P.HR, 74, now, source="device:ge"), Reading(P.SPO2, 97, now, source="device:ge"),
             Reading(P.RR, 14, now, source="device:ge")]
    if step % 20 == 0:
        batch += [Reading(P.NIBP_SYS, 124, now, source="device:ge"), Reading(P.NIBP_DIA, 78, now, source="device:ge")]
    feed(window, qtbot, batch)


def test_a_whole_autoplay_session_fits_1280x800(window, qtbot, store, clock):
    window.resize(1280, 800)
    play = _Autoplay(window, clock, ("nurse.a", ""), ("nurse.b", ""))
    sizes = set()
    steps = 0
    long = ("the chair says something long enough to wrap onto two or three lines at this width: " * 4).strip()
    while not play.finished and steps < 2000:
        monitor_batch(window, qtbot, clock, steps)
        play.step()
        if steps % 7 == 0:  # long messages, as a refused command or a device problem would give
            window.c.message.emit(long, "error")
            window.session.message.show_message(long, "error")
            window.presession.message.show_message(long, "error")
            window.patients.message.show_message(long, "error")
        if steps % 5 == 0:  # a two-line status (the vitals writer's error) in the status bar
            window.c.vitals_error = "vitals not saved: disk I/O error\nretrying every 5 s; " + long * 3
        window._repaint()
        qtbot.wait(1)
        steps += 1
        size = (window.width(), window.height())
        sizes.add(size)
        assert size[0] <= 1280 and size[1] <= 800, (size, play.log[-3:])
        hint = window.minimumSizeHint()  # what the window would grow to on a real screen
        assert hint.width() <= 1280 and hint.height() <= 800, (hint, play.log[-3:])
        for b in (window.auth.lock_button, window.auth.sign_out_button):
            assert _visible_in_window(window, b), (b.text(), play.log[-3:])
        clock.advance(15)
    assert play.finished, play.log[-5:]
    from ketachart.domain.session import SessionState

    assert store.session_state(_last_session(store)) is SessionState.DISCHARGED  # the chart read itself ready


def _last_session(store) -> str:
    from ketachart.store.models import DoseAdministration

    return store.rows(DoseAdministration)[-1]["session_id"]


def test_a_spravato_autoplay_session_from_check_in_to_discharge(window, qtbot, store, clock):
    """``--autoplay --route in``: an intranasal esketamine session, devices charted with their times, no
    infusion rate, esketamine named on the screen and the summary, discharged."""
    from ketachart.domain.session import SessionState
    from ketachart.report.model import build_summary
    from ketachart.store.models import DoseAdministration, RateChange

    play = _Autoplay(window, clock, ("nurse.a", ""), ("nurse.b", ""), route="in")
    steps = 0
    while not play.finished and steps < 2000:
        monitor_batch(window, qtbot, clock, steps)  # the monitor streams, as the demo's simulators do
        play.step()
        window._repaint()
        qtbot.wait(1)
        steps += 1
        if window.stack.currentWidget() is window.session and window.c.view is not None:
            assert not window.session.rate_button.isEnabled()
            assert "esketamine" in window.session.patient_label.full_text
        clock.advance(15)
    assert play.finished, play.log[-5:]
    (dose,) = store.rows(DoseAdministration)
    sid = dose["session_id"]
    assert dose["route"] == "IN" and dose["drug"] == "esketamine" and dose["dose_mg"] == 56
    assert store.session_state(sid) is SessionState.DISCHARGED and store.rows(RateChange) == []
    summary = build_summary(store, sid, now=clock.now())
    assert "Esketamine" in summary.dose.drug
    notes = [o["text"] for o in store.rows(Observation) if o["kind"] == "note"]
    assert any("Device 1 of 2" in n for n in notes) and any("Device 2 of 2" in n for n in notes)

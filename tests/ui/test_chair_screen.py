"""The chair screen's remaining paths, driven through the real window with qtbot and the FakeClock.

Pause/resume (clocks exclude the pause), rate change and its correction, the device panel (busy / missing
port), the CADSS-6 form, the light theme, a key for every quick entry, plot markers with details on tap,
a long patient header, the link's quiet time on an accelerated clock, and relaunch after a crash.
"""

from __future__ import annotations

import os
import pty
from datetime import timedelta

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor

from ketachart.domain.dosing import iv_dose
from ketachart.domain.session import SessionEvent, SessionState
from ketachart.store.models import Observation, RateChange, SessionEventRow
from ketachart.ui.viewmodels import local as vm_local
from tests.ui.helpers import feed, go, nibp, vitals, wait_writer


def infusing(window, store, clock, family="Rivera", given="Jordan", start=True):
    p = store.create_patient("CH-1", family, given, "1984-03-12", "female", 80)
    sid = store.create_session(p["patient_id"], "IV")["id"]
    store.session_event(sid, SessionEvent.CHECK_IN)
    store.record_dose(sid, iv_dose(80, 0.5, 1, 40, store.policy), lot="KET1")
    if start:
        store.session_event(sid, SessionEvent.START_INFUSION)
    window.c.open_session(sid)
    window.show_session()
    return sid


def clock_values(window):
    window._repaint()
    return [t.value.text() for t in window.session.clock_tiles]


def entry_texts(window):
    s = window.session
    return [s.entry_list.item(i).text() for i in range(s.entry_list.count())]


def test_pause_needs_a_reason_resume_and_the_clock_excludes_the_pause(window, qtbot, store, clock):
    sid = infusing(window, store, clock)
    s = window.session
    go(clock, 10)
    qtbot.keyClick(s, "p")
    assert s.dialog is not None and s.dialog.windowTitle() == "Pause infusion"
    s.dialog.set_values(reason="")
    assert not s.dialog.submit() and "needs a reason" in s.dialog.error.text()
    assert window.c.state is SessionState.INFUSING  # nothing saved
    s.dialog.set_values(reason="Patient asked for a break")
    assert s.dialog.submit()
    assert window.c.state is SessionState.PAUSED
    window._repaint()
    assert s.pause_button.text() == "Resume [P]" and "PAUSED" in s.clock_tiles[0].sub.full_text
    go(clock, 5)
    paused = clock_values(window)[0]
    qtbot.keyClick(s, "p")  # resume: no dialog
    assert window.c.state is SessionState.INFUSING
    go(clock, 5)
    assert paused == "10:00" and clock_values(window)[0] == "15:00"  # 10 + 5 running, the 5 paused excluded
    events = [e["event"] for e in store.rows(SessionEventRow, session_id=sid)]
    assert events[-2:] == ["pause", "resume"]
    assert any("Infusion PAUSED - Patient asked for a break" in t for t in entry_texts(window))


def test_rate_change_bad_input_then_saved_then_corrected(window, qtbot, store, clock):
    sid = infusing(window, store, clock)
    s = window.session
    go(clock, 12)
    qtbot.keyClick(s, "r")
    s.dialog.set_values(rate="fast", reason="Dissociation 3")
    assert not s.dialog.submit() and "must be a number" in s.dialog.error.text()
    s.dialog.set_values(rate="45", reason="")
    assert not s.dialog.submit() and "needs a reason" in s.dialog.error.text()
    assert store.rows(RateChange, session_id=sid) == []
    s.dialog.set_values(rate="54", reason="Dissociation 3: reduced by 10%")
    assert s.dialog.submit()
    assert "Rate 54 mL/h: 28.0 mL left, about 31 min - saved" in s.message.text()
    (rc,) = store.rows(RateChange, session_id=sid)
    window._repaint()
    entry = next(e for e in s._entries if e.entry_id == rc["id"])
    assert entry.amendable and any("Rate changed to 54 mL/h" in str(m) for m in s.plot.events.data["data"])
    s.open_amend(entry)  # mis-keyed: 45 was meant
    s.dialog.set_values(rate="45", reason="")
    assert not s.dialog.submit()
    s.dialog.set_values(rate="45", reason="Mis-keyed; pump was set to 45")
    assert s.dialog.submit()
    window._repaint()
    text = next(t for t in entry_texts(window) if "Rate changed to 45 mL/h" in t)
    assert "CORRECTED" in text and "was: rate 54 mL/h" in text and "Mis-keyed" in text
    assert "Dissociation 3: reduced by 10%" in text  # the clinical reason stays with the corrected rate
    assert store.get(RateChange, rc["id"])["rate_ml_per_h"] == 54  # the original stays


def test_session_events_are_not_corrected_in_place(window, qtbot, store, clock):
    infusing(window, store, clock)
    s = window.session
    window._repaint()
    start = next(e for e in s._entries if e.table == "session_events" and "STARTED" in e.text)
    s.open_amend(start)
    assert s.dialog is None and "add a note" in s.amend_hint.text()


def test_correct_with_nothing_selected_says_so_without_reflowing(window, qtbot, store, clock):
    """The Charted list: at least 8 entries in view at 1280x800, the newest at the top, people by display name;
    Correct with nothing selected says so on a line that is always there (no widget moves)."""
    infusing(window, store, clock)
    s = window.session
    feed(window, qtbot, vitals(clock, 5))  # the monitor streams again
    for a in window.c.unacknowledged():  # (the banner, while an alert is open, takes its own lines above)
        window.c.acknowledge(a["id"], "monitor reconnected")
    for v in (0, 1, 2, 1, 0, 1, 2, 1, 0, 1):
        s.diss_buttons[v].click()
        feed(window, qtbot, vitals(clock, 30, step=10))
    window._repaint()
    assert not s.banner.isVisible()
    qtbot.wait(10)
    lst = s.entry_list
    height = lst.viewport().height()
    shown = [i for i in range(lst.count())
             if 0 <= lst.visualItemRect(lst.item(i)).top() and lst.visualItemRect(lst.item(i)).bottom() < height]
    assert len(shown) >= 8, len(shown)
    assert lst.item(0).text().startswith(vm_local(clock.now() - timedelta(seconds=30))) and shown[0] == 0
    assert lst.item(0).text().endswith("Dissociation 1/4 (Mild)  · Ada Nurse, RN")
    assert "Ada Nurse, RN" in lst.item(0).text() and "nurse.a" not in lst.item(0).text()
    lst.setCurrentItem(None)
    before = {w: w.geometry() for w in (lst, s.plot, s.amend_button, s.message, *s.tiles.values())}
    s.open_amend()
    assert s.dialog is None and s.amend_hint.text() == "Select an entry in the list first"
    window._repaint()
    qtbot.wait(10)
    assert {w: w.geometry() for w in before} == before


def test_device_panel_refuses_a_missing_or_busy_port_and_changes_nothing(window, qtbot):
    import serial

    s = window.session
    devices = window.c.devices
    master, slave = pty.openpty()
    free_path = os.ttyname(slave)
    busy_master, busy_slave = pty.openpty()
    holder = serial.Serial(os.ttyname(busy_slave), exclusive=True)  # another program has it
    try:
        s.open_device_panel()
        s.dialog.set_values(protocol="masimo", other="/dev/ketachart-no-such-port")
        assert not s.dialog.submit()
        assert "port not found" in s.dialog.error.text() and "Nothing was changed" in s.dialog.error.text()
        assert devices.connections == {}
        s.dialog.set_values(other=os.ttyname(busy_slave))
        assert not s.dialog.submit() and "port busy" in s.dialog.error.text()
        assert devices.connections == {}
        s.dialog.set_values(other=free_path)
        assert s.dialog.submit()
        conn = devices.connections["monitor"]
        assert conn.protocol == "masimo" and conn.port_url == free_path
        # a bad port for the same role keeps the monitor that is connected
        s.open_device_panel()
        s.dialog.set_values(protocol="ge", other="/dev/ketachart-no-such-port")
        assert not s.dialog.submit()
        assert devices.connections["monitor"] is conn and conn.protocol == "masimo"
        s.dialog.reject()
    finally:
        devices.stop_all()
        holder.close()
        for fd in (master, slave, busy_master, busy_slave):
            os.close(fd)


def test_cadss6_form_numbers_total_and_missing_items(window, qtbot, store, clock):
    sid = infusing(window, store, clock)
    s = window.session
    qtbot.keyClick(s, "c")
    dlg = s.dialog
    form = dlg.form_box.layout()
    labels = [form.itemAt(i, form.ItemRole.LabelRole) for i in range(6)]
    assert [lab.widget().text() for lab in labels] == [f"Item {i}" for i in (1, 2, 6, 7, 15, 22)]
    assert dlg.live_line.text().startswith("Total 0 / 24") and "6 items still to score" in dlg.live_line.text()
    dlg.set_values(**{"1": 2, "2": 1, "6": 0, "7": 3, "15": 1})
    assert dlg.live_line.text() == "Total 7 / 24  (1 item still to score)"
    assert not dlg.submit()  # item 22 missing: nothing saved
    assert not [o for o in store.rows(Observation, session_id=sid) if o["kind"] == "cadss6"]
    dlg.set_values(**{"22": 4})
    assert dlg.live_line.text() == "Total 11 / 24"
    assert dlg.submit()
    (obs,) = [o for o in store.rows(Observation, session_id=sid) if o["kind"] == "cadss6"]
    assert obs["value"] == 11 and "CADSS-6 total 11 - saved" in s.message.text()


def _brightness(widget) -> float:
    img = widget.grab().toImage()
    total = n = 0
    for x in range(4, img.width() - 4, 3):
        for y in range(4, img.height() - 4, 3):
            total += QColor(img.pixel(x, y)).lightnessF()
            n += 1
    return total / n


def test_light_theme_toggle_and_disabled_buttons_recede(window, qtbot, store, clock):
    infusing(window, store, clock, start=False)
    s = window.session
    toggle = next(b for b in s.findChildren(type(s.start_button)) if b.text() == "◐")
    toggle.click()
    assert window.palette_.name == "light"
    window._repaint()
    assert s.plot.glw.backgroundBrush().color().name() == "#ffffff"
    assert s.start_button.isEnabled() and not s.stop_button.isEnabled()
    enabled, disabled = s.quick["note"], s.stop_button
    # in the light theme a disabled button must not stand out more than an enabled one: flatter, greyer
    assert _brightness(disabled) < _brightness(enabled)
    toggle.click()
    assert window.palette_.name == "dark" and s.plot.glw.backgroundBrush().color().name() == "#0b0e12"


@pytest.mark.parametrize("key,title", [("d", "Dissociation"), ("s", "Sedation"), ("n", "Nausea"), ("c", "CADSS-6"),
                                       ("t", "Note"), ("i", "Intervention"), ("v", "Manual vitals")])
def test_every_quick_entry_has_a_key(window, qtbot, store, clock, key, title):
    infusing(window, store, clock)
    s = window.session
    qtbot.keyClick(s, key)
    assert s.dialog is not None and s.dialog.windowTitle().startswith(title)
    s.dialog.reject()


def test_keys_for_infusion_commands_and_tooltips(window, qtbot, store, clock):
    infusing(window, store, clock, start=False)
    s = window.session
    feed(window, qtbot, vitals(clock, 5))  # a monitor streaming: the start needs no confirmation
    qtbot.keyClick(s, "g")
    assert window.c.state is SessionState.INFUSING
    for key, title in (("p", "Pause infusion"), ("r", "Change infusion rate"), ("q", "Stop infusion")):
        qtbot.keyClick(s, key)
        assert s.dialog.windowTitle() == title
        s.dialog.reject()
    for b in list(s.quick.values()) + [s.start_button, s.pause_button, s.rate_button, s.stop_button, s.discharge_button]:
        assert "(key " in b.toolTip()
    assert all(b.minimumHeight() >= 44 for b in s.diss_buttons + s.sed_buttons)


def test_markers_show_their_details_on_tap_and_hover(window, qtbot, store, clock):
    infusing(window, store, clock)
    s = window.session
    feed(window, qtbot, vitals(clock, 120) + nibp(clock, 128, 82, 97))
    s.diss_buttons[2].click()
    feed(window, qtbot, vitals(clock, 180, step=10))
    feed(window, qtbot, vitals(clock, 3, spo2=89))  # an SpO2 alert, 3 min later
    window._repaint()
    qtbot.waitUntil(lambda: len(s.plot.alerts.data) == 1)
    entry = next(p for p in s.plot.events.points() if "Dissociation 2" in p.data())
    assert "Dissociation 2" in s.plot._tip(entry.pos().x(), entry.pos().y(), entry.data())  # the hover tip
    # a real tap on the marker
    vb = s.plot.top.getViewBox()
    s.plot.set_window(15 * 60)
    window._repaint()
    scene_pt = vb.mapViewToScene(QPointF(entry.pos().x(), entry.pos().y()))
    pos = s.plot.glw.mapFromScene(scene_pt)
    qtbot.mousePress(s.plot.glw.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseRelease(s.plot.glw.viewport(), Qt.MouseButton.LeftButton, pos=pos, delay=10)
    qtbot.waitUntil(lambda: s.popover.isVisible() and "Dissociation 2" in s.popover.text.text())
    marker = s.plot.glw.viewport().mapToGlobal(pos)  # the popover sits beside the marker, not somewhere else
    box = s.popover.frameGeometry()
    assert abs(box.center().y() - marker.y()) <= box.height() and min(abs(box.left() - marker.x()),
                                                                         abs(box.right() - marker.x())) <= 20
    alert = s.plot.alerts.points()[0]
    assert "ALERT" in alert.data() and "SpO2" in alert.data()


def test_infusion_shading_is_visible(window, qtbot, store, clock):
    from ketachart.ui.theme import DARK, LIGHT

    infusing(window, store, clock)
    go(clock, 5)
    window._repaint()
    assert window.session.plot.infusion_regions
    assert DARK.infusion_fill[3] >= 80 and LIGHT.infusion_fill[3] >= 50  # clearly visible, lines still on top


def test_long_patient_header_is_elided_with_the_full_text_in_the_tooltip(window, qtbot, store, clock):
    infusing(window, store, clock, family="Featherstonehaugh-Montgomery-Abernathy", given="Maria-Magdalena Josefina")
    window._repaint()
    label = window.session.patient_label
    full = label.toolTip()
    assert full.startswith("FEATHERSTONEHAUGH-MONTGOMERY-ABERNATHY, Maria-Magdalena Josefina · MRN CH-1 · session 1")
    assert "40 mg" in full
    assert label.text().endswith("…") and label.fontMetrics().horizontalAdvance(label.text()) <= label.width()


def test_numerics_say_high_and_low_in_words(window, qtbot, store, clock):
    infusing(window, store, clock)
    s = window.session
    feed(window, qtbot, vitals(clock, 5, hr=135, spo2=88) + nibp(clock, 186, 112))
    window._repaint()
    assert "HIGH" in s.tiles["hr"].cue.text() and "LOW" in s.tiles["spo2"].cue.text()
    assert "HIGH" in s.tiles["bp"].cue.text()
    feed(window, qtbot, vitals(clock, 5, hr=38, spo2=97))
    window._repaint()
    assert "LOW" in s.tiles["hr"].cue.text() and s.tiles["spo2"].cue.text() == ""


def test_link_quiet_time_is_never_shorter_than_a_few_real_round_trips():
    from ketachart.domain.clock import FakeClock, SystemClock
    from ketachart.hardware.codecs import codec_for
    from ketachart.hardware.link import TRANSPORT_FLOOR_S, DeviceLink
    from ketachart.ui.clock import ScaledClock

    pump = codec_for("bbraun")
    real = DeviceLink("bbraun", "/dev/null", lambda r: None, clock=SystemClock())
    assert real.quiet_time(pump) == pump.link_hint.quiet_time_s == 15.0  # real devices: unchanged
    assert DeviceLink("bbraun", "/dev/null", lambda r: None, clock=FakeClock()).quiet_time(pump) == 15.0
    fast = DeviceLink("bbraun", "/dev/null", lambda r: None, clock=ScaledClock(240))
    assert fast.quiet_time(pump) == TRANSPORT_FLOOR_S * 240  # x240: ~2 real seconds, not 15/240 s


def test_demo_pump_at_high_speed_streams_without_flapping(qtbot):
    """The demo pump at x240 answers each poll after a real round trip; it must stay 'streaming'."""
    from ketachart.ui.clock import ScaledClock
    from ketachart.hardware.devices import DeviceManager

    class Bridge:
        def __init__(self):
            self.states, self.readings = [], 0

        def submit(self, _r):
            self.readings += 1

        def submit_state(self, name, state):
            self.states.append(state)

    bridge = Bridge()
    m = DeviceManager(bridge, ScaledClock(240))
    try:
        (conn,) = m.connect_demo(monitor="", pump="bbraun")
        qtbot.waitUntil(lambda: conn.state == "streaming" and conn.link.readings >= 40, timeout=15000)
        assert "silent" not in bridge.states, bridge.states
    finally:
        m.stop_all()


def test_relaunch_after_a_crash_keeps_session_readings_observations_and_clocks(qtbot, tmp_path, clock):
    """No closeEvent, no shutdown, no store.close(): the process 'dies' (its file lock goes with it)."""
    from ketachart.app import create_main_window
    from ketachart.store.open import open_store

    from tests.ui.helpers import FAST_HASHER, PINS, signed_in

    path = tmp_path / "crash.db"
    store = open_store(path, unencrypted=True, clock=clock)
    store.create_user("nurse.a", "Ada Nurse, RN", "nurse", FAST_HASHER.hash(PINS["nurse.a"]))
    w = create_main_window(store, clock, repaint_ms=50, accounts=signed_in(store), idle_min=0)
    w.c.writer.interval_s = 0.05
    w.show()
    sid = infusing(w, store, clock)
    go(clock, 10)
    w.session.diss_buttons[3].click()
    w.c.attempt(w.c.pause, "Nausea, paused")
    go(clock, 4)
    w.c.attempt(w.c.resume)
    feed(w, qtbot, vitals(clock, 90) + nibp(clock, 133, 85, 101))
    wait_writer(w, qtbot)
    before = clock_values(w)
    stored = len(store.readings(sid))
    # the crash: timers and threads stop dead, nothing is flushed or closed; the OS drops the file lock
    w.timer.stop()
    w.c.writer.store = None  # anything still queued in memory is lost with the process
    store._lock_file.release()
    w.hide()

    store2 = open_store(path, unencrypted=True, clock=clock)  # the stale lock file does not block the relaunch
    try:
        w2 = create_main_window(store2, clock, repaint_ms=50, accounts=signed_in(store2), idle_min=0)
        qtbot.addWidget(w2)
        w2.show()
        assert w2.c.session_id == sid and w2.stack.currentWidget() is w2.session
        assert w2.c.state is SessionState.INFUSING
        assert clock_values(w2) == before and before[0] == "11:30"  # 10 + 1.5 running; the 4 min pause excluded
        assert len(store2.readings(sid)) == stored >= 180
        assert w2.c.live.hr.n >= 90 and w2.session.tiles["bp"].value.text() == "133/85"
        texts = entry_texts(w2)
        assert any("Dissociation 3/4" in t for t in texts) and any("PAUSED - Nausea, paused" in t for t in texts)
        go(clock, 1)
        assert clock_values(w2)[0] == "12:30"  # the clock keeps running from the stored start
        w2.close()
    finally:
        store2.close()
        w.c.writer._stop.set()
        w.c.writer._wake.set()
        w.deleteLater()


def test_the_controller_adds_no_command_of_its_own():
    """Every command a screen reaches through the controller is the chair service's own."""
    from ketachart.chair import ChairService
    from ketachart.ui.controller import COMMANDS

    assert sorted(n for n in COMMANDS if not hasattr(ChairService, n)) == []

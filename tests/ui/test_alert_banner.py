"""The banner and its Acknowledge button agree; every open alert is listed with its age; the sound's priority
follows the most urgent open alert; a chair without audio says so on screen."""

from __future__ import annotations

from ketachart.domain.codes import Parameter
from ketachart.domain.readings import Reading
from ketachart.store.models import AlertAck
from tests.ui.helpers import feed, go, vitals
from tests.ui.test_chair_screen import infusing


def test_the_banner_shows_the_most_urgent_alert_and_acknowledge_opens_that_one(window, qtbot, store, clock):
    sid = infusing(window, store, clock)
    feed(window, qtbot, vitals(clock, 5))
    feed(window, qtbot, [Reading(Parameter.PUMP_ALARM, 1, clock.now(), source="device:bbraun/1",
                                 text="syringe-empty-pre-alarm")])  # a warning first ...
    go(clock, 2)
    feed(window, qtbot, vitals(clock, 3, spo2=86))  # ... then a critical SpO2 alert
    window._repaint()
    s = window.session
    assert window.sound.active and window.sound.priority == "high"
    assert s.banner_text.text().startswith("⚠ ALERT") and "SpO2 86%" in s.banner_text.text()
    assert "(+1 more below)" in s.banner_text.text()
    assert s.banner_list.text().startswith("⚠ WARNING") and "Pump bbraun/1: Syringe nearly empty" in s.banner_list.text()
    assert "2 min ago" in s.banner_list.text()  # its age
    s.open_ack()
    assert "SpO2 86%" in " ".join(w.text() for w in s.dialog.findChildren(type(s.banner_text)))
    s.dialog.set_values(action="Repositioned, deep breaths: 97%")
    assert s.dialog.submit()
    (ack,) = store.rows(AlertAck)
    acked = [a for a in store.unacknowledged_alerts(sid)]
    assert [a["rule"] for a in acked] == ["device-alarm:device:bbraun/1:syringe-empty-pre-alarm"]
    assert ack["alert_id"] != acked[0]["id"]  # the SpO2 alert was acknowledged, the one the banner showed
    window._repaint()
    assert "Syringe nearly empty" in s.banner_text.text() and not s.banner_list.isVisible()
    assert window.sound.priority == "medium"  # only a warning is open now


def test_the_main_window_says_when_the_alarm_cannot_be_heard(window):
    status = window.sound_status
    assert status.sound is window.sound and status.parent() is not None
    assert status in window.statusBar().findChildren(type(status))
    expected = "" if window.sound.available else "⚠ alarm sound unavailable"  # this CI machine has no audio device
    assert status.text() == expected and status.isVisible() == bool(expected)


def test_typed_rr_is_shown_and_alarmed_and_artefacts_are_questionable(window, qtbot, store, clock):
    from ketachart.domain.readings import Quality

    sid = infusing(window, store, clock)
    feed(window, qtbot, vitals(clock, 5))
    s = window.session
    s.open_vitals()
    s.dialog.set_values(rr="6")
    assert s.dialog.submit()
    window._repaint()
    assert s.tiles["rr"].value.text() == "6" and "LOW" in s.tiles["rr"].cue.text()
    assert [a["rule"] for a in store.unacknowledged_alerts(sid)] == ["rr-low"]
    feed(window, qtbot, [Reading(Parameter.SPO2, 84, clock.advance(1), source="device:ge",
                                 flags=frozenset({Quality.ARTIFACT}))])
    window._repaint()
    assert s.tiles["spo2"].value.text() == "84?" and "QUESTIONABLE" in s.tiles["spo2"].cue.text()  # never "84 LOW"
    assert [a["rule"] for a in store.unacknowledged_alerts(sid)] == ["rr-low"]  # and no SpO2 alarm


def test_the_bp_tile_uses_the_predose_limit_before_the_start(window, qtbot, store, clock):
    infusing(window, store, clock, start=False)
    feed(window, qtbot, vitals(clock, 2) + [Reading(Parameter.NIBP_SYS, 150, clock.now(), source="device:ge"),
                                            Reading(Parameter.NIBP_DIA, 92, clock.now(), source="device:ge")])
    window._repaint()
    tile = window.session.tiles["bp"]
    assert tile.value.text() == "150/92" and "PRE-DOSE HIGH" in tile.cue.text()  # 140/90 before the start
    assert window.c.start_needs() == "predose-bp"


def test_a_monitor_technical_alarm_shows_with_its_source_and_the_lock_screen_lists_every_open_alert(
        window, qtbot, store, clock):
    from ketachart.hardware.codecs.base import CodecTime, ReadingEvent
    from ketachart.hardware.codecs.ge_dri import GeDriCodec, Group
    from tests.hardware.test_ge_dri import basic_frame

    infusing(window, store, clock)
    feed(window, qtbot, vitals(clock, 5))
    codec = GeDriCodec()
    codec.receive_data(basic_frame(ecg=Group(0x0B | 0x3800, 0x0271, {"hr": 72})), CodecTime(clock.now(), 0.0))
    feed(window, qtbot, [e.reading for e in codec.events() if isinstance(e, ReadingEvent)])  # ECG leads off
    go(clock, 3)
    feed(window, qtbot, vitals(clock, 3, spo2=86))  # then a critical SpO2 alert
    window._repaint()
    s = window.session
    assert "SpO2 86%" in s.banner_text.text() and "(+1 more below)" in s.banner_text.text()
    assert s.banner_list.text().startswith("⚠ WARNING") and "Monitor ge: ECG leads off" in s.banner_list.text()
    assert "3 min ago" in s.banner_list.text()
    window.auth.lock_now()
    assert window.auth.is_locked
    window._repaint()
    shown = window.auth.lock.screen.alert.text().splitlines()
    assert shown[0].startswith("⚠ ALERT ACTIVE")
    lines = shown[1:]
    assert len(lines) == 2 and "SpO2 86%" in lines[0] and "s ago" in lines[0]  # critical first, with its age
    assert "Monitor ge: ECG leads off" in lines[1] and "3 min ago" in lines[1]
    assert window.sound.active and window.sound.priority == "high"

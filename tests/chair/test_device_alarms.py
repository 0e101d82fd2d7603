"""Device alarms reach the chart: a monitor's technical alarm, decoded from its own bytes, becomes an alert with
its source at the chair (real chart file, FakeClock); it stays one alert while the monitor repeats it."""

from __future__ import annotations

import json

from ketachart.domain.codes import Parameter as P
from ketachart.hardware.codecs.base import CodecTime, ReadingEvent
from ketachart.hardware.codecs.ge_dri import GeDriCodec, Group
from ketachart.store.models import Alert
from tests.chair.test_safety import checked_in, started
from tests.hardware.test_ge_dri import basic_frame

LEADS_OFF = 0x0B | (1 << 11) | (1 << 12) | (1 << 13)


def test_ge_leads_off_from_the_wire_is_an_alert_with_its_source(chair, store, clock):
    sid = checked_in(chair)
    started(chair, clock)
    codec = GeDriCodec()

    def record(ecg_status: int) -> None:
        clock.advance(5)
        codec.receive_data(basic_frame(ecg=Group(ecg_status, 0x0271, {"hr": 72})), CodecTime(clock.now(), 0.0))
        chair.feed([e.reading for e in codec.events() if isinstance(e, ReadingEvent)])

    record(0x0B)
    for _ in range(4):
        record(LEADS_OFF)
    record(0x0B)
    alerts = [a for a in store.rows(Alert, session_id=sid) if a["rule"].startswith("device-alarm")]
    assert [(a["rule"], a["severity"], a["message"]) for a in alerts] == [
        ("device-alarm:device:ge:ecg-leads-off", "warning", "Monitor ge: ECG leads off")]
    assert json.loads(alerts[0]["data"])["source"] == "device:ge"
    assert chair.unacknowledged()[-1]["rule"] == "device-alarm:device:ge:ecg-leads-off"  # until acknowledged
    chair.writer.stop()  # commits what it holds: what the monitor said is on the chart, when it said it
    said = [(r["text"], r["source"]) for r in store.readings(sid) if r["parameter"] == P.MONITOR_ALARM.value]
    assert said == [("ecg-leads-off", "device:ge")] * 4 + [("none", "device:ge")]


def test_after_a_restart_the_chart_remembers_an_ongoing_technical_alarm(chair, store, clock, signatures):
    from ketachart.chair import ChairService

    sid = checked_in(chair)
    started(chair, clock)
    codec = GeDriCodec()

    def record(into, ecg_status: int) -> None:
        clock.advance(5)
        codec.receive_data(basic_frame(ecg=Group(ecg_status, 0x0271, {"hr": 72})), CodecTime(clock.now(), 0.0))
        into.feed([e.reading for e in codec.events() if isinstance(e, ReadingEvent)])

    record(chair, LEADS_OFF)
    chair.writer.stop()  # the app closes (the chart has what the monitor said)
    again = ChairService(store, clock, writer_interval_s=0.01)
    again.signatures = signatures
    try:
        again.open_session(sid)
        record(again, LEADS_OFF)  # still off after the restart: the same episode, no second alert
        record(again, 0x0B)
        record(again, LEADS_OFF)  # off again: a new episode
        leads = [a for a in store.rows(Alert, session_id=sid) if a["rule"] == "device-alarm:device:ge:ecg-leads-off"]
        assert len(leads) == 2
    finally:
        again.shutdown()

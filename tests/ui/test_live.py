"""The live path: bridge hand-off from device threads, ring buffers with gaps, the real simulator and link."""

from __future__ import annotations

import math
import threading
from datetime import timedelta

import numpy as np

from ketachart.domain.codes import Parameter
from ketachart.domain.readings import Quality, Reading
from ketachart.ui.clock import ScaledClock
from ketachart.ui.livedata import LiveData, Trace
from ketachart.ui.plot import infusion_spans


def test_gaps_are_drawn_as_gaps():
    t = Trace(capacity=100, gap_s=30)
    for s in (0, 1, 2, 60, 61):
        t.append(1000.0 + s, 70)
    ts, vs = t.arrays()
    assert len(ts) == 6 and math.isnan(vs[3])  # a NaN point between 1002 and 1060 breaks the line
    t.extend(np.array([2000.0, 2001.0, 2100.0]), np.array([1.0, 2.0, 3.0]))
    assert np.isnan(t.arrays()[1]).sum() >= 2


def test_ring_buffer_drops_the_oldest():
    t = Trace(capacity=50, gap_s=10)
    for s in range(200):
        t.append(float(s), 1.0)
    assert t.n <= 50 and t.arrays()[0][-1] == 199.0


def test_invalid_reading_shows_no_number(clock):
    live = LiveData()
    live.feed([Reading(Parameter.SPO2, 97, clock.now()),
               Reading(Parameter.SPO2, None, clock.advance(1), flags=frozenset({Quality.SENSOR_OFF}))])
    assert live.latest[Parameter.SPO2].value is None and math.isnan(live.spo2.arrays()[1][-1])


def test_bridge_delivers_thread_readings_on_the_gui_thread(qtbot, window, clock):
    seen = []
    window.c.bridge.add_listener(lambda batch: seen.append((threading.current_thread() is threading.main_thread(), len(batch))))
    threads = [threading.Thread(target=lambda: [window.c.bridge.submit(Reading(Parameter.HR, 70, clock.now()))
                                                for _ in range(100)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    qtbot.waitUntil(lambda: sum(n for _, n in seen) == 400)
    assert all(on_gui for on_gui, _ in seen) and len(seen) < 400  # coalesced hand-offs


def test_scaled_clock_runs_faster():
    c = ScaledClock(600)
    a, m = c.now(), c.monotonic()
    import time

    time.sleep(0.01)  # a real pause is the point of this one test (10 ms)
    assert (c.now() - a) >= timedelta(seconds=5) and c.monotonic() - m >= 5


def test_infusion_spans_with_pause(clock):
    class V:
        events = [{"event": e, "effective_at": clock.now() + timedelta(minutes=m)}
                  for e, m in (("check-in", 0), ("start-infusion", 5), ("pause", 10), ("resume", 12), ("stop-infusion", 45))]

    spans = infusion_spans(V, clock.now())
    assert [(round((b - spans[0][0]) / 60), p) for _, b, p in spans] == [(5, False), (7, True), (40, False)]


def infusing_session(store) -> str:
    from ketachart.domain.dosing import iv_dose
    from ketachart.domain.session import SessionEvent

    p = store.create_patient("SIM-1", "Sim", "Pat", "1980-01-01", "female", 70)
    sid = store.create_session(p["patient_id"], "IV")["id"]
    store.session_event(sid, SessionEvent.CHECK_IN)
    store.record_dose(sid, iv_dose(70, 0.5, 1, 40, store.policy), lot="L")
    store.session_event(sid, SessionEvent.START_INFUSION)
    return sid


def stepper(qtbot, clock):
    """``advance_until(cond)``: move the FakeClock in steps, letting the link and GUI threads catch up."""

    def advance_until(cond, step=2.0, limit=400):
        for _ in range(limit):
            if cond():
                return True
            clock.advance(step)
            qtbot.wait(5)
        return cond()

    return advance_until


def test_simulated_monitor_through_the_real_link(qtbot, window, store, clock):
    """GE simulator on a pty -> DeviceLink -> bridge -> plot + vitals writer; then the monitor goes silent."""
    from ketachart.store.models import Alert

    sid = infusing_session(store)
    window.c.open_session(sid)
    (conn,) = window.c.devices.connect_demo(monitor="ge", pump="")
    advance_until = stepper(qtbot, clock)

    assert advance_until(lambda: window.c.live.hr.n > 3), conn.state
    assert window.c.live.latest[Parameter.HR].source == "device:ge"
    window.c.writer.flush_soon()
    qtbot.waitUntil(lambda: len(store.readings(sid)) > 0, timeout=5000)
    conn.server.set_silent(True)
    assert advance_until(lambda: (window.c.tick() or True) and bool(store.rows(Alert, session_id=sid)), step=5.0)
    alert = store.rows(Alert, session_id=sid)[0]
    assert alert["rule"] == "monitor-silent" and alert["policy_version"] == store.policy.version


def test_pulled_monitor_cable_loses_nothing_and_readings_resume(qtbot, window, store, clock):
    """The cable is pulled mid-infusion: the chair says LOST, "monitor silent" fires after the policy's quiet
    time on the app's clock (not before), every reading and entry charted so far stays, and after the replug
    readings flow and are stored again."""
    from ketachart.domain.clock import utc
    from ketachart.store.models import Alert, Observation

    c = window.c
    sid = infusing_session(store)
    c.open_session(sid)
    window.show_session()
    (conn,) = c.devices.connect_demo(monitor="ge", pump="")
    conn.link.backoff = (0.05,)  # reopen attempts in tens of ms (real time, inside the link thread)
    advance_until = stepper(qtbot, clock)
    assert advance_until(lambda: conn.state == "streaming" and c.live.hr.n > 3), conn.state
    entry = c.chart_dissociation(2)

    def stored_device_readings() -> int:
        return sum(1 for r in store.readings(sid) if r["source"].startswith("device:"))

    def all_delivered_are_stored() -> bool:  # every reading the bridge handed over is in the file
        c.writer.flush_soon()
        return c.writer.pending == 0 and stored_device_readings() == c.bridge.delivered

    conn.server.unplug()
    assert advance_until(lambda: conn.state == "lost", step=0.5), conn.state
    qtbot.waitUntil(all_delivered_are_stored, timeout=5000)
    before_unplug = stored_device_readings()
    last = c.live.last_reading_at[conn.source]
    window.session.render_live()
    assert "LOST - reconnecting" in window.session.device_label.text()

    quiet = max(store.policy.monitor_silent_s, 3.0 * c.speed)
    clock.advance(max(0.0, quiet - 1 - (clock.now() - last).total_seconds()))
    c.tick()
    assert not store.rows(Alert, session_id=sid), "monitor-silent raised before the quiet time"
    clock.advance(2)
    c.tick()
    (alert,) = store.rows(Alert, session_id=sid)
    assert alert["rule"] == "monitor-silent" and utc(alert["effective_at"]) > last
    assert any(a["rule"] == "monitor-silent" for a in c.unacknowledged())
    window.session.render_banner()
    assert "No reading from the" in window.session.banner_text.text()

    # nothing charted before the pull was lost
    assert stored_device_readings() == before_unplug > 0
    assert store.get(Observation, entry["id"])["value"] == 2

    conn.server.replug()
    replugged_at = clock.now()
    assert advance_until(lambda: conn.state == "streaming" and c.live.last_reading_at[conn.source] > replugged_at), \
        conn.state
    qtbot.waitUntil(all_delivered_are_stored, timeout=5000)
    after = [r for r in store.readings(sid) if r["source"] == conn.source and utc(r["effective_at"]) > replugged_at]
    assert after and stored_device_readings() > before_unplug
    window.session.render_live()
    assert "streaming" in window.session.device_label.text()


def test_vitals_writer_retries_only_what_was_not_committed(qtbot, clock, tmp_path, monkeypatch):
    """Two sessions in one batch, the second commit fails: the retry must not store the first session's readings
    twice, and the saved trace (ids and counts only) records each commit after it returned."""
    import json

    from ketachart.chair.saved_trace import trace_vitals_committed
    from ketachart.store.vitals_writer import VitalsWriter

    trace = tmp_path / "saved.jsonl"
    monkeypatch.setenv("KETACHART_SAVED_TRACE", str(trace))

    class FlakyStore:
        def __init__(self) -> None:
            self.stored: list[tuple[str, float]] = []
            self.fail_b = 1

        def add_readings(self, sid, readings):
            if sid == "b" and self.fail_b:
                self.fail_b -= 1
                raise OSError("disk busy")
            self.stored += [(sid, r.value) for r in readings]
            return len(readings)

    store = FlakyStore()
    writer = VitalsWriter(store, interval_s=0.01, on_committed=trace_vitals_committed)  # as the chair wires it
    try:
        writer.submit("a", [Reading(Parameter.HR, 70, clock.now()), Reading(Parameter.HR, 71, clock.now())])
        writer.submit("b", [Reading(Parameter.HR, 80, clock.now())])
        writer.flush_soon()
        qtbot.waitUntil(lambda: writer.pending == 0 and writer.committed == 3 and not writer.error, timeout=5000)
    finally:
        writer.stop()
    assert sorted(store.stored) == [("a", 70), ("a", 71), ("b", 80)]
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert lines == [{"kind": "vitals", "session": "a", "rows": 2, "committed": 2},
                     {"kind": "vitals", "session": "b", "rows": 1, "committed": 3}]

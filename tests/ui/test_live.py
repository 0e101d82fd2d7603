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


def test_simulated_monitor_through_the_real_link(qtbot, window, store, clock):
    """GE simulator on a pty -> DeviceLink -> bridge -> plot + vitals writer; then the monitor goes silent."""
    from ketachart.domain.dosing import iv_dose
    from ketachart.domain.session import SessionEvent
    from ketachart.store.models import Alert

    p = store.create_patient("SIM-1", "Sim", "Pat", "1980-01-01", "female", 70)
    sid = store.create_session(p["patient_id"], "IV")["id"]
    store.session_event(sid, SessionEvent.CHECK_IN)
    store.record_dose(sid, iv_dose(70, 0.5, 1, 40, store.policy), lot="L")
    store.session_event(sid, SessionEvent.START_INFUSION)
    window.c.open_session(sid)
    (conn,) = window.c.devices.connect_demo(monitor="ge", pump="")

    def advance_until(cond, step=2.0, limit=400):
        for _ in range(limit):
            if cond():
                return True
            clock.advance(step)
            qtbot.wait(5)
        return cond()

    assert advance_until(lambda: window.c.live.hr.n > 3), conn.state
    assert window.c.live.latest[Parameter.HR].source == "device:ge"
    window.c.writer.flush_soon()
    qtbot.waitUntil(lambda: len(store.readings(sid)) > 0, timeout=5000)
    conn.server.set_silent(True)
    assert advance_until(lambda: (window.c.tick() or True) and bool(store.rows(Alert, session_id=sid)), step=5.0)
    alert = store.rows(Alert, session_id=sid)[0]
    assert alert["rule"] == "monitor-silent" and alert["policy_version"] == store.policy.version

"""Live push and the change listener against the real PostgreSQL (conditions waited for with a deadline)."""

from __future__ import annotations

import threading
import time

from ketachart.board.listen import BoardListener
from ketachart.domain.clock import FakeClock
from ketachart.domain.vocabulary import Kind
from ketachart.sync.live import LivePush
from ketachart.sync.service import SyncService

from .scenario import start_infusion, vitals


def _wait(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_push_is_due_on_the_interval_and_at_once_on_an_alert_or_observation(central, make_chair, chair_url):
    store = make_chair("a", FakeClock())
    sid = start_infusion(store, "Chair 1", "MRN-1", minutes_of_vitals=1)
    ticks = Ticks()
    live = LivePush(SyncService(store, chair_url(store)), monotonic=ticks)
    assert live.due()  # never pushed yet
    live.pass_once()
    assert live.heartbeats == 1 and live.last_result.pushed > 0
    assert not live.due()
    vitals(store, sid, 3)  # readings alone wait for the interval (5 s, clinic policy)
    assert not live.due()
    ticks.t += 4.9
    assert not live.due()
    ticks.t += 0.2
    assert live.due()
    live.pass_once()
    store.observe(sid, Kind.NOTE, text="patient anxious")
    assert live.due()  # an observation goes at once
    live.pass_once()
    store.raise_alert(sid, "spo2-low", "high", "SpO2 89 below 92")
    assert live.due()
    live.pass_once()
    assert live.last_result.pending == 0 and not live.due()


def test_offline_chair_keeps_charting_and_catches_up(central, make_chair, chair_url):
    store = make_chair("a", FakeClock())
    sid = start_infusion(store, "Chair 1", "MRN-1", minutes_of_vitals=1)
    offline = LivePush(SyncService(store, "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"))
    result = offline.pass_once()
    assert result.error and result.pending > 0 and offline.heartbeats == 0
    store.observe(sid, Kind.NOTE, text="charted while the central was away")
    online = LivePush(SyncService(store, chair_url(store)))
    assert online.pass_once().pending == 0 and online.heartbeats == 1


def test_listener_hears_the_chairs_that_changed(central, make_chair, chair_url):
    heard: list[set[str]] = []
    lock = threading.Lock()

    def on_change(ids):
        with lock:
            heard.append(set(ids))

    listener = BoardListener(central.admin_url, on_change).start()
    try:
        assert listener.connected.wait(10)
        store = make_chair("a", FakeClock())
        start_infusion(store, "Chair 1", "MRN-1", minutes_of_vitals=1)
        LivePush(SyncService(store, chair_url(store))).pass_once()
        assert _wait(lambda: any(store.device_id in h for h in heard))
    finally:
        listener.stop()
    assert not listener.thread.is_alive()

"""Sync in the chair app: the status bar shows rows pending, "Sync now" sends them (worker thread), the
central database has them, and a central that cannot be reached shows its error without blocking."""

from __future__ import annotations

from ketachart.app import create_main_window
from ketachart.store.open import open_store
from ketachart.sync import CentralConfig, SyncService
from ketachart.ui.sync_status import SyncStatus
from tests.e2e.test_session_flow import checked_in_session
from tests.ui.helpers import FAST_HASHER, PINS, signed_in, without_order_requirement


def chair(qtbot, tmp_path, clock):
    store = open_store(tmp_path / "chair.db", unencrypted=True, clock=clock)
    store.create_user("nurse.a", "Ada Nurse, RN", "nurse", FAST_HASHER.hash(PINS["nurse.a"]))
    store.create_user("nurse.b", "Ben Okafor, RN", "nurse", FAST_HASHER.hash(PINS["nurse.b"]))
    without_order_requirement(store)  # these tests are about sync; the order step: tests/e2e/test_presession_order.py
    w = create_main_window(store, clock, repaint_ms=50, accounts=signed_in(store), idle_min=0)
    qtbot.addWidget(w)
    w.show()
    return store, w


def test_sync_now_sends_the_pending_rows_and_the_status_bar_says_so(central, qtbot, tmp_path, clock):
    store, w = chair(qtbot, tmp_path, clock)
    sid = checked_in_session(w, qtbot)
    sync = SyncStatus(w, SyncService(store, CentralConfig(central.url_for(store))), start_now=False)
    try:
        assert "last never" in sync.label.text()
        pending = int(sync.label.text().split("·")[1].split()[0])
        assert pending > 0
        sync.sync_now()
        assert sync.running and sync.progress is not None  # returned at once; the pass runs in a worker
        qtbot.waitUntil(lambda: sync.passes == 1, timeout=30_000)
        assert sync.last.error is None and sync.last.pushed >= pending
        text = sync.label.text()
        assert "·  0 pending" in text and "last never" not in text
        assert sync.button.isEnabled() and sync.progress is None
        assert sid in central.ids("sessions")
        assert central.ids("dose_administrations", device_id=store.device_id)
    finally:
        sync.stop()
        w.close()
        store.close()


def test_an_unreachable_central_is_shown_as_an_error(qtbot, tmp_path, clock):
    store, w = chair(qtbot, tmp_path, clock)
    cfg = CentralConfig("postgresql://nobody@127.0.0.1:1/none", connect_timeout=2)
    sync = SyncStatus(w, SyncService(store, cfg), start_now=False)
    try:
        sync.start_pass()
        qtbot.waitUntil(lambda: sync.passes == 1, timeout=30_000)
        assert sync.last.error and "⚠" in sync.label.text()
        assert sync.last.error in sync.label.toolTip()
        assert sync.label.objectName() == "error"
    finally:
        sync.stop()
        w.close()
        store.close()

"""The chair app with a central configured pushes live for the board: a session checked in at the chair shows
up on the central with the chair's heartbeat, without waiting for the 60-s background sync."""

from __future__ import annotations

import argparse

import psycopg

from ketachart.app import _install_sync
from tests.sync.test_app_sync import chair
from tests.e2e.test_session_flow import checked_in_session


def test_the_app_pushes_at_once_on_a_session_event_and_beats(central, qtbot, tmp_path, clock, chair_url):
    store, w = chair(qtbot, tmp_path, clock)
    sync = _install_sync(w, store, argparse.Namespace(central=chair_url(store), demo=False))
    try:
        assert sync is not None and sync.live.thread.is_alive()
        sid = checked_in_session(w, qtbot)

        def on_central() -> bool:
            with psycopg.connect(central.admin_url, autocommit=True) as conn:
                beat = conn.execute("SELECT session_id, device_states FROM ketachart.chair_heartbeats "
                                    "WHERE device_id = %s", (store.device_id,)).fetchone()
            return beat is not None and beat[0] == sid

        qtbot.waitUntil(on_central, timeout=20_000)
        assert sid in central.ids("sessions")
    finally:
        sync.live.stop()
        sync.stop()
        w.close()
        store.close()

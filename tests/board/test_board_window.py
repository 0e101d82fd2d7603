"""The board window offscreen: NOTIFY refresh through the listener thread, alert colour and sound until the
chair acknowledges, stale tiles, tap opens the read-only chart."""

from __future__ import annotations

import re

from PySide6.QtCore import QPointF, Qt

from ketachart.board.listen import BoardListener
from ketachart.board.model import BoardModel
from ketachart.board.queries import BoardSource
from ketachart.domain.clock import FakeClock
from ketachart.sync.live import LivePush
from ketachart.sync.service import SyncService
from ketachart.ui.board.chart import SessionChartDialog
from ketachart.ui.board.window import BoardWindow
from ketachart.ui.theme import DARK

from .scenario import start_infusion


def test_board_follows_the_chairs_live_and_never_acknowledges(qtbot, central, board_url, make_chair, chair_url):
    a = make_chair("a", FakeClock())
    sid = start_infusion(a, "Chair 1", "MRN-1", minutes_of_vitals=5)
    live = LivePush(SyncService(a, chair_url(a, "chair-1")), chair_name="chair-1")
    live.pass_once()
    clock = FakeClock()
    source = BoardSource.connect(board_url)
    opened: list[str] = []
    window = BoardWindow(BoardModel(source, clock), palette=DARK, listener_factory=lambda cb: BoardListener(board_url, cb).start(), chart_opener=opened.append,
                         poll_s=3600)
    qtbot.addWidget(window)
    window.resize(1280, 720)
    window.start()
    window.show()
    assert window.listener.connected.wait(10)
    tile = window.tiles[a.device_id]
    assert "Chair 1 | INFUSING" in tile.summary() and "ALERT" not in tile.summary()
    assert not window.sound.active

    a.raise_alert(sid, "spo2-low", "high", "SpO2 89 below 92")
    live.pass_once()  # the chair pushes at once on an alert; the central notifies the board
    qtbot.waitUntil(lambda: "ALERT SpO2 89 below 92" in window.tiles[a.device_id].summary(), timeout=10000)
    assert window.sound.active and window.sound.played >= 1
    with central.admin() as conn:  # the board wrote nothing: no acknowledgement anywhere
        assert conn.execute("SELECT count(*) FROM ketachart.alert_acks").fetchone()[0] == 0

    qtbot.mouseClick(window.tiles[a.device_id], Qt.MouseButton.LeftButton, pos=QPointF(20, 20).toPoint())
    assert opened == [sid]
    dialog = SessionChartDialog(source.session_chart(sid), "Chair 1")
    qtbot.addWidget(dialog)
    texts = [dialog.table.item(r, 2).text() for r in range(dialog.table.rowCount())]
    assert any("SpO2 89 below 92 (not acknowledged)" in t for t in texts)
    assert len(dialog.plot.getPlotItem().listDataItems()) == 4  # HR, SpO2, BP sys, BP dia

    open_alert = a.unacknowledged_alerts(sid)[0]
    a.acknowledge_alert(open_alert["id"], "Oxygen on, SpO2 back to 96")
    live.pass_once()
    qtbot.waitUntil(lambda: "ALERT" not in window.tiles[a.device_id].summary(), timeout=10000)
    assert not window.sound.active

    clock.advance(31)  # the chair falls silent (no heartbeat for 31 s by the board's clock)
    window.render()
    assert re.search(r"STALE - last heard 3\d s ago", window.tiles[a.device_id].summary())
    window.stop()
    source.close()

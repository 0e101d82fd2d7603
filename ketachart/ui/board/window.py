"""The clinic board window: a full-screen grid of chair tiles, refreshed when the central says a chair changed.

- The NOTIFY listener runs on its own thread (``ketachart.board.listen``); it hands the changed device ids to
  the GUI thread through a queued signal, where the model re-reads only those chairs.
- A slow fallback poll (``poll_s``, default 30 s) re-reads everything, in case the notification connection
  dropped without the listener noticing.
- A one-second timer recomputes the tiles from what was read (clocks and ages move) without a query.
- The sound repeats while any chair has an unacknowledged alert; the board never acknowledges.
- Tapping a tile opens that session's read-only chart.
"""

from __future__ import annotations

import logging
import math

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from ...board.model import BoardModel
from ..sound import AlertSound
from ..theme import DARK, Palette
from .tile import ChairTileWidget

log = logging.getLogger(__name__)

POLL_S = 30.0
TICK_MS = 1000


class _Hop(QObject):
    changed = Signal(object)  # set of device ids, emitted from the listener thread


class BoardWindow(QWidget):
    """The grid. ``model`` is a :class:`BoardModel`; ``listener_factory(on_change)`` starts a listener."""

    refreshed = Signal(object)  # set of device ids read

    def __init__(self, model: BoardModel, *, listener_factory=None, palette: Palette = DARK, poll_s: float = POLL_S,
                 chart_opener=None, sound: AlertSound | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.palette_ = palette
        self.chart_opener = chart_opener
        self.setWindowTitle("KetaChart - clinic board")
        self.setStyleSheet(f"background: {palette.bg}; color: {palette.text};")
        self.tiles: dict[str, ChairTileWidget] = {}
        self.error: str | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        self.banner = QLabel("")
        self.banner.setStyleSheet(f"color: {palette.alarm}; font-size: 22px; font-weight: bold;")
        self.banner.hide()
        outer.addWidget(self.banner)
        self.grid = QGridLayout()
        self.grid.setSpacing(8)
        outer.addLayout(self.grid, 1)
        self.sound = sound or AlertSound(self)
        self.hop = _Hop()
        self.hop.changed.connect(self.on_changed, Qt.ConnectionType.QueuedConnection)
        self.listener = listener_factory(self.hop.changed.emit) if listener_factory else None
        self.poll = QTimer(self)
        self.poll.setInterval(int(poll_s * 1000))
        self.poll.timeout.connect(lambda: self.refresh(None))
        self.ticker = QTimer(self)
        self.ticker.setInterval(TICK_MS)
        self.ticker.timeout.connect(self.render)
        self.blink = False

    def start(self) -> "BoardWindow":
        self.refresh(None)
        self.poll.start()
        self.ticker.start()
        return self

    def stop(self) -> None:
        self.poll.stop()
        self.ticker.stop()
        self.sound.set_active(False)
        if self.listener is not None:
            self.listener.stop()

    def closeEvent(self, event) -> None:  # noqa: N802
        self.stop()
        super().closeEvent(event)

    # --- refresh ----------------------------------------------------------------------------------
    def on_changed(self, device_ids) -> None:
        self.refresh(set(device_ids))

    def refresh(self, device_ids) -> None:
        try:
            read = self.model.refresh(device_ids)
            self.error = None
        except Exception as exc:  # the central is away: say so on the board, keep the last picture, try again
            log.warning("board refresh failed: %s", type(exc).__name__)
            self.error = "Central database unreachable - tiles may be out of date; retrying"
            read = set()
            self._reconnect()
        self.render()
        self.refreshed.emit(read)

    def _reconnect(self) -> None:
        reconnect = getattr(self.model.source, "reconnect", None)
        if reconnect is not None:
            try:
                reconnect()
            except Exception:
                pass

    def _columns(self, n: int) -> int:
        if n <= 1:
            return 1
        aspect = max(0.5, self.width() / max(1, self.height())) if self.height() > 0 else 16 / 9
        return max(1, min(n, round(math.sqrt(n * aspect * 0.75))))

    def render(self) -> None:
        tiles = self.model.tiles()
        self.blink = not self.blink
        ids = [t.device_id for t in tiles]
        if list(self.tiles) != ids:
            for w in self.tiles.values():
                w.setParent(None)
                w.deleteLater()
            self.tiles = {}
            cols = self._columns(len(ids))
            for i, device_id in enumerate(ids):
                w = ChairTileWidget(self.palette_, self)
                w.tapped.connect(self._open_chart)
                self.grid.addWidget(w, i // cols, i % cols)
                self.tiles[device_id] = w
        for t in tiles:
            w = self.tiles[t.device_id]
            w.blink = self.blink and t.alerting
            w.set_tile(t)
            if t.alerting:
                w.update()
        self.banner.setText(self.error or "")
        self.banner.setVisible(bool(self.error))
        self.sound.set_active(any(t.alerting for t in tiles))

    def _open_chart(self, device_id: str, session_id: str) -> None:
        if session_id and self.chart_opener is not None:
            self.chart_opener(session_id)

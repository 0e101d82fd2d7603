"""Idle detection: an application-wide event filter notes user input; a QTimer compares with the clock.

Time comes from the injected Clock's ``monotonic()``, so tests advance a FakeClock and call
:meth:`IdleWatcher.check` (or let the timer tick) without waiting for real minutes.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication

from ...domain.clock import Clock

ACTIVITY = {
    QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease, QEvent.Type.MouseMove, QEvent.Type.KeyPress,
    QEvent.Type.Wheel, QEvent.Type.TouchBegin, QEvent.Type.TouchUpdate, QEvent.Type.TabletPress,
}


class IdleWatcher(QObject):
    """Emits ``idle`` once when no input arrived for ``idle_s`` seconds; :meth:`reset` re-arms it."""

    idle = Signal()

    def __init__(self, clock: Clock, idle_s: float, *, tick_ms: int = 1000, watch: QObject | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.clock = clock
        self.idle_s = float(idle_s)
        self._last = clock.monotonic()
        self._fired = False
        self._paused = False
        self._watched = watch or QApplication.instance()
        if self._watched is not None:
            self._watched.installEventFilter(self)
        self.timer = QTimer(self)
        self.timer.setInterval(tick_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() in ACTIVITY:
            self._last = self.clock.monotonic()
        return False

    def idle_for(self) -> float:
        return self.clock.monotonic() - self._last

    def check(self) -> bool:
        if self._paused or self._fired or self.idle_s <= 0:
            return False
        if self.idle_for() >= self.idle_s:
            self._fired = True
            self.idle.emit()
            return True
        return False

    def reset(self) -> None:
        self._last = self.clock.monotonic()
        self._fired = False

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self.reset()

    def stop(self) -> None:
        self.timer.stop()
        if self._watched is not None:
            self._watched.removeEventFilter(self)
            self._watched = None

"""LockController: the one object the main window needs for auto-lock, unlock and switch user.

    lock = LockController(window, clock, accounts, on_locked=hide_patient_popups, on_unlocked=refresh_author)

- locks after ``idle_min`` minutes without input (default: the clinic policy's ``idle_lock_min``), or when
  :meth:`lock` is called; locking covers the whole window with :class:`LockScreen`, hides the window's
  own children (so nothing behind it can be grabbed or read out) and replaces the window title;
- :meth:`set_clocks_text` and :meth:`set_alert` keep the lock screen's clocks and alert indicator current
  (call them from the same timer that updates the chair screen; monitoring and alert sounds are untouched);
- unlock needs the same user's secret; "Switch user" signs another user in and records a hand-over.
  ``on_unlocked(session)`` gets the (possibly new) :class:`AuthSession`; the ``unlocked`` and
  ``user_switched`` signals carry it too.
"""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QWidget

from ...auth import Accounts, AuthError, AuthSession
from ...domain.clock import Clock
from .idle import IdleWatcher
from .lock_screen import LockScreen

log = logging.getLogger(__name__)
LOCKED_TITLE = "KetaChart - locked"


class LockController(QObject):
    locked = Signal()
    unlocked = Signal(object)  # AuthSession
    user_switched = Signal(object)  # AuthSession (after a hand-over)

    def __init__(self, window: QWidget, clock: Clock, auth: Accounts,
                 on_locked: Callable[[], None] | None = None,
                 on_unlocked: Callable[[AuthSession], None] | None = None,
                 *, idle_min: float | None = None, tick_ms: int = 1000) -> None:
        super().__init__(window)
        self.window = window
        self.clock = clock
        self.auth = auth
        self.on_locked = on_locked
        self.on_unlocked = on_unlocked
        minutes = idle_min if idle_min is not None else auth.store.policy.idle_lock_min
        self.screen = LockScreen(window)
        self.idle = IdleWatcher(clock, minutes * 60.0, tick_ms=tick_ms, parent=self)
        self.idle.idle.connect(lambda: self.lock("idle"))
        self.screen.unlock_requested.connect(self.unlock)
        self.screen.switch_requested.connect(self.switch_user)
        self._hidden: list[QWidget] = []
        self._title = ""

    @property
    def is_locked(self) -> bool:
        return self.screen.isVisible()

    def set_clocks_text(self, text: str) -> None:
        self.screen.set_clocks_text(text)

    def set_alert(self, active: bool, text: str = "Alert active") -> None:
        self.screen.set_alert(active, text)

    def lock(self, reason: str = "manual") -> None:
        if self.is_locked:
            return
        self.auth.lock(reason)
        self._title = self.window.windowTitle()
        self.window.setWindowTitle(LOCKED_TITLE)
        self._hidden = [
            w for w in self.window.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)
            if w is not self.screen and w.isVisible() and not w.isWindow()
        ]
        for w in self._hidden:
            w.hide()
        current = self.auth.current
        self.screen.set_user(current.user.display_name if current else "")
        self.screen.clear_inputs()
        self.screen.cover()
        self.idle.pause()
        log.info("screen locked (%s)", reason)
        self.locked.emit()
        if self.on_locked:
            self.on_locked()

    def unlock(self, secret: str) -> bool:
        try:
            session = self.auth.unlock(secret)
        except AuthError as exc:
            self.screen.set_error(str(exc))
            return False
        self._reveal(session)
        return True

    def switch_user(self, user_id: str, secret: str) -> bool:
        previous = self.auth.current
        try:
            session = self.auth.hand_over(user_id, secret)
        except AuthError as exc:
            self.screen.set_error(str(exc))
            return False
        self._reveal(session)
        if previous is None or previous.session_id != session.session_id:
            self.user_switched.emit(session)
        return True

    def _reveal(self, session: AuthSession) -> None:
        self.screen.hide()
        self.screen.clear_inputs()
        for w in self._hidden:
            w.show()
        self._hidden = []
        self.window.setWindowTitle(self._title)
        self.idle.resume()
        log.info("screen unlocked by %s", session.user_id)
        self.unlocked.emit(session)
        if self.on_unlocked:
            self.on_unlocked(session)

    def stop(self) -> None:
        self.idle.stop()


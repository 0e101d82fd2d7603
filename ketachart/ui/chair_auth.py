"""Who is at the chair: sign-in before any patient data, idle lock, unlock / switch user, sign-out, admin.

The main window owns one :class:`ChairAuth`. Until someone is signed in the window shows only its blank page
(no patient list, no session), and the sign-in dialog - or, on a first start, the dialog that creates the
clinic's admin - is open. After sign-in a :class:`~ketachart.ui.auth.LockController` covers the window after
the policy's idle time; the window's repaint timer keeps feeding it the clocks' text and whether an alert is
active (:meth:`feed`), so a locked chair still shows - and sounds - an alert while monitoring goes on.

Dialogs a screen had open when the chair locked (an entry form, the print progress, the admin view) are hidden
with it; they come back when the same user unlocks and are closed when another user takes over.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QDialog, QPushButton, QWidget

from ..auth import Accounts, AuthSession
from .auth import AdminDialog, FirstAdminDialog, LockController, SignInDialog

log = logging.getLogger(__name__)

ALERT_LOCKED_TEXT = "⚠ ALERT ACTIVE - unlock to see and acknowledge it"


def _owned_by(widget: QWidget, window: QWidget) -> bool:
    w = widget.parentWidget()
    while w is not None:
        if w is window:
            return True
        w = w.parentWidget()
    return False


class ChairAuth(QObject):
    signed_in = Signal(object)  # AuthSession (sign-in, first admin, hand-over)
    signed_out = Signal()

    def __init__(self, window, accounts: Accounts, clock, *, idle_min: float | None = None,
                 tick_ms: int = 1000) -> None:
        super().__init__(window)
        self.w = window
        self.accounts = accounts
        self.clock = clock
        self.idle_min = idle_min
        self.tick_ms = tick_ms
        self.lock: LockController | None = None
        self.dialog: QDialog | None = None  # the sign-in / first-admin dialog while it is open
        self.admin_dialog: AdminDialog | None = None
        self._hidden_dialogs: list[QDialog] = []
        self._closing = False
        bar = window.statusBar()
        self.admin_button = QPushButton("Admin…")
        self.admin_button.setToolTip("Users, PIN resets and the audit trail (admins only)")
        self.lock_button = QPushButton("Lock")
        self.lock_button.setToolTip("Cover the screen now; monitoring and alerts go on")
        self.sign_out_button = QPushButton("Sign out")
        for b in (self.admin_button, self.lock_button, self.sign_out_button):
            b.setMinimumHeight(40)
            bar.addPermanentWidget(b)
        self.admin_button.clicked.connect(lambda _=False: self.open_admin())
        self.lock_button.clicked.connect(lambda _=False: self.lock_now())
        self.sign_out_button.clicked.connect(lambda _=False: self.sign_out())
        self._show_buttons()

    # --- state ----------------------------------------------------------------------------------
    @property
    def current(self) -> AuthSession | None:
        return self.accounts.current

    @property
    def is_locked(self) -> bool:
        return self.lock is not None and self.lock.is_locked

    def display_name(self) -> str:
        return self.current.user.display_name if self.current else ""

    def _show_buttons(self) -> None:
        cur = self.current
        self.admin_button.setVisible(bool(cur and cur.user.can("manage-users")))
        self.lock_button.setVisible(cur is not None)
        self.sign_out_button.setVisible(cur is not None)

    # --- sign-in --------------------------------------------------------------------------------
    def start(self) -> None:
        """Called once the window is built: carry on with a signed-in user, else ask for one."""
        if self.current is not None:
            self._after_sign_in(self.current)
        else:
            self.ask()

    def ask(self) -> None:
        """Show the sign-in dialog (the first-admin dialog when no admin exists yet). Non-blocking."""
        if self._closing or self.dialog is not None:
            return
        self.w.show_blank()
        first = self.accounts.needs_first_admin()
        dlg = FirstAdminDialog(self.accounts, self.w) if first else SignInDialog(self.accounts, self.w)
        from .signing import DIALOG_STYLE

        for child in dlg.findChildren(QPushButton):
            child.setMinimumHeight(48)
        dlg.setStyleSheet(DIALOG_STYLE)
        dlg.setMinimumWidth(520)
        self.dialog = dlg
        dlg.accepted.connect(lambda d=dlg: self._dialog_done(d, True))
        dlg.rejected.connect(lambda d=dlg: self._dialog_done(d, False))
        dlg.open()

    def _dialog_done(self, dlg: QDialog, accepted: bool) -> None:
        if self.dialog is dlg:
            self.dialog = None
        dlg.deleteLater()
        if accepted and dlg.session is not None:
            self._after_sign_in(dlg.session)
        elif not self._closing:
            QTimer.singleShot(0, self.ask)  # nobody gets past the sign-in by closing it

    def _after_sign_in(self, session: AuthSession) -> None:
        if self.lock is None:
            self.lock = LockController(self.w, self.clock, self.accounts, on_locked=self._on_locked,
                                       on_unlocked=self._on_unlocked, idle_min=self.idle_min, tick_ms=self.tick_ms)
            self.lock.user_switched.connect(self._on_switched)
            scr = self.lock.screen  # readable from across the room: the alert and who is signed in
            scr.alert.setStyleSheet("background: #c0262d; color: white; font-weight: bold; font-size: 26px; "
                                    "padding: 16px; border-radius: 6px;")
            scr.user_line.setStyleSheet("font-size: 20px;")
            scr.error.setStyleSheet("color: #ffb4a8; font-size: 20px; font-weight: bold;")
        else:
            self.lock.idle.resume()
        self._show_buttons()
        self.w.on_signed_in(session)
        self.signed_in.emit(session)

    # --- lock / unlock / switch -------------------------------------------------------------------
    def lock_now(self) -> None:
        if self.lock is not None and self.current is not None:
            self.lock.lock("manual")

    def _on_locked(self) -> None:
        self._locked_by = self.current.user_id if self.current else None
        self._hidden_dialogs = [
            d for d in QApplication.topLevelWidgets()
            if isinstance(d, QDialog) and d.isVisible() and _owned_by(d, self.w)
        ]
        for d in self._hidden_dialogs:
            d.hide()

    def _on_unlocked(self, session: AuthSession) -> None:
        dialogs, self._hidden_dialogs = self._hidden_dialogs, []
        if session.user_id != self._locked_by:  # someone else took over: the previous user's forms go
            for d in dialogs:
                d.reject()
            if self.admin_dialog is not None:
                self.admin_dialog.close()
                self.admin_dialog = None
        else:
            for d in dialogs:
                d.show()
        self._show_buttons()
        self.w.on_unlocked(session)

    _locked_by: str | None = None

    def _on_switched(self, session: AuthSession) -> None:
        self._show_buttons()
        self.w.on_signed_in(session, reopen=False)
        self.signed_in.emit(session)

    # --- sign-out and admin ----------------------------------------------------------------------
    def sign_out(self) -> None:
        """End this user's stretch: the chart is hidden and the sign-in dialog comes back. Monitoring,
        the writing of device readings and the alert sound go on."""
        if self.current is None:
            return
        for d in [d for d in QApplication.topLevelWidgets()
                  if isinstance(d, QDialog) and d.isVisible() and _owned_by(d, self.w) and d is not self.dialog]:
            d.reject()
        self.admin_dialog = None
        self.accounts.sign_out()
        if self.lock is not None:
            self.lock.idle.pause()
        self._show_buttons()
        self.w.on_signed_out()
        self.signed_out.emit()
        self.ask()

    def open_admin(self) -> AdminDialog | None:
        cur = self.current
        if cur is None or not cur.user.can("manage-users"):
            return None
        self.admin_dialog = AdminDialog(self.accounts, cur.user, self.w)
        self.admin_dialog.open()
        return self.admin_dialog

    # --- fed by the window's repaint timer ---------------------------------------------------------
    def feed(self, clocks_text: str, alert_active: bool, alert_lines: list[str] | None = None) -> None:
        """While locked: the clocks and every open alert (what and how old; never who the patient is)."""
        if self.lock is None:
            return
        self.lock.set_clocks_text(clocks_text)
        text = "\n".join([ALERT_LOCKED_TEXT, *(alert_lines or [])])
        self.lock.set_alert(alert_active, text)

    def shutdown(self) -> None:
        self._closing = True
        if self.dialog is not None:
            self.dialog.close()
        if self.lock is not None:
            self.lock.stop()

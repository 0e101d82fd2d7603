"""E-signatures for entries that are written only once they are signed (discharge check, dose, waste).

The chair service says which signatures an entry needs (:class:`~ketachart.chair.SigningFlow`); this module
only asks for them. :class:`SignFirstDialog` is the re-authentication dialog
(:class:`~ketachart.ui.auth.ReauthDialog`: user id, printed name, meaning, PIN) for a step of such a flow.
"Sign" checks the signer's own PIN once (``Signatures.verify``: throttled, audited) and hands what that
returns to the flow; with the last signature the flow writes the entry and signs it, in one transaction. A
wrong PIN, a locked account or a witness who is the performer saves nothing and keeps the dialog open with
the reason. Opened with ``open()`` so monitoring goes on while someone types a PIN.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QDialog

from ..auth import PermissionDenied, Signatures
from ..auth.signatures import WITNESS_MUST_DIFFER
from ..chair import SignatureStep, SigningFlow
from .auth import ReauthDialog

# Sign-in and signature dialogs are used at arm's length in a dimmed room: large text, a light error colour
# that reads on the dark theme.
DIALOG_STYLE = ("QLabel, QLineEdit, QPushButton { font-size: 18px; } "
                "#signInError, #reauthError { color: #ffb4a8; font-weight: bold; } #what { font-weight: bold; }")


class SignFirstDialog(ReauthDialog):
    """One step of a signing flow: the PIN is verified once, then ``flow.give`` writes or waits for the next."""

    def __init__(self, signatures: Signatures, flow: SigningFlow, step: SignatureStep, parent=None) -> None:  # noqa: ANN001
        super().__init__(signatures, None, "", step.meaning, user_id=step.user_id, what=step.what, parent=parent)
        self.flow = flow
        self.not_user = step.not_user.strip().lower()
        self.result = None
        self.setWindowTitle(step.title)
        self.setMinimumWidth(560)
        self.setStyleSheet(DIALOG_STYLE)
        if step.what:
            first = self.layout().itemAt(0).widget()
            first.setObjectName("what")
            first.setWordWrap(True)
        for w in (self.user_id, self.secret):
            w.setMinimumHeight(48)

    def sign_with(self, user_id: str, secret: str) -> None:
        if self.not_user and user_id == self.not_user:
            raise PermissionDenied(WITNESS_MUST_DIFFER)
        self.result = self.flow.give(self.signatures.verify(user_id, secret, self.meaning))


class SigningRun:
    """Asks for a flow's signatures one dialog at a time. ``dialog`` is the open one (tests and autoplay fill
    it); ``on_done()`` once saved, ``on_cancelled(text)`` when a signer cancels (nothing saved then)."""

    def __init__(self, parent, signatures: Signatures, flow: SigningFlow, on_done: Callable[[], None],
                 on_cancelled: Callable[[str], None]) -> None:
        self.parent = parent
        self.signatures = signatures
        self.flow = flow
        self.on_done = on_done
        self.on_cancelled = on_cancelled
        self.dialog: SignFirstDialog | None = None

    def start(self) -> "SigningRun":
        self._next()
        return self

    def _next(self) -> None:
        step = self.flow.step
        if step is None:
            self.dialog = None
            self.on_done()
            return
        dlg = SignFirstDialog(self.signatures, self.flow, step, parent=self.parent)
        self.dialog = dlg

        def finished(result: int, d=dlg, s=step) -> None:
            if self.dialog is d:
                self.dialog = None
            d.deleteLater()
            if result == QDialog.DialogCode.Accepted:
                self._next()
            else:
                self.flow.cancel()
                self.on_cancelled(s.cancelled)

        dlg.finished.connect(finished)
        dlg.open()

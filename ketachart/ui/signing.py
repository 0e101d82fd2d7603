"""E-signatures for entries that are written only once they are signed (discharge check, dose, waste).

:class:`SignFirstDialog` is the re-authentication dialog (:class:`~ketachart.ui.auth.ReauthDialog`: user id,
printed name, meaning, PIN) for an entry that does not exist yet. "Sign" first checks the signer's own PIN
(``Accounts.verify_for_signature``: throttled, audited); only then does ``action(user_id, secret)`` write the
entry and sign it through :class:`~ketachart.auth.Signatures` (which hashes exactly the row written). A wrong
PIN, a locked account or a witness who is the performer saves nothing and keeps the dialog open with the
reason. Opened with ``open()`` so monitoring goes on while someone types a PIN.
"""

from __future__ import annotations

from typing import Callable

from ..auth import AuthError, PermissionDenied, Signatures
from ..domain.errors import ClinicalInputError
from ..store.errors import NotFound
from .auth import ReauthDialog

# Sign-in and signature dialogs are used at arm's length in a dimmed room: large text, a light error colour
# that reads on the dark theme.
DIALOG_STYLE = ("QLabel, QLineEdit, QPushButton { font-size: 18px; } "
                "#signInError, #reauthError { color: #ffb4a8; font-weight: bold; } #what { font-weight: bold; }")

WITNESS_MUST_DIFFER = "A witness must be a different person from the one who performed it."


class SignFirstDialog(ReauthDialog):
    """``action(user_id, secret)`` runs after the PIN was verified; what it returns is ``result``."""

    def __init__(self, signatures: Signatures, model: type, meaning: str, action: Callable[[str, str], object], *,
                 user_id: str = "", what: str = "", not_user: str = "", parent=None) -> None:  # noqa: ANN001
        super().__init__(signatures, model, "", meaning, user_id=user_id, what=what, parent=parent)
        self.action = action
        self.not_user = (not_user or "").strip().lower()
        self.result = None
        self.setMinimumWidth(560)
        self.setStyleSheet(DIALOG_STYLE)
        if what:
            first = self.layout().itemAt(0).widget()
            first.setObjectName("what")
            first.setWordWrap(True)
        for w in (self.user_id, self.secret):
            w.setMinimumHeight(48)

    def submit(self) -> bool:
        secret = self.secret.text()
        self.secret.clear()
        user_id = self.user_id.text().strip().lower()
        try:
            if self.not_user and user_id == self.not_user:
                raise PermissionDenied(WITNESS_MUST_DIFFER)
            self.signatures.accounts.verify_for_signature(user_id, secret)
            self.result = self.action(user_id, secret)
        except (AuthError, ClinicalInputError, NotFound) as exc:
            self.error.setText(str(exc))
            self.secret.setFocus()
            return False
        self.error.setText("")
        self.accept()
        return True

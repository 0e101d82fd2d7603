"""Re-authentication for an electronic signature: shows the printed name and meaning, asks for the secret.

    dlg = ReauthDialog(signatures, DoseAdministration, dose_id, "performed", user_id=current_user,
                       what="Ketamine 35 mg IV over 40 min")
    if dlg.exec(): row = dlg.signature

For a witness, pass the witness's user id (or let them type it): they sign with their own credentials.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout

from ...auth import Signatures
from ...chair import SIGNING_ERRORS
from .fields import error_line, secret_field
from .sign_in import submit_secret

MEANING_TEXT = {
    "performed": "I performed this",
    "reviewed": "I reviewed this",
    "witnessed": "I witnessed this",
}


class ReauthDialog(QDialog):
    def __init__(self, signatures: Signatures, model: type, target_id: str, meaning: str, *, user_id: str = "",
                 what: str = "", parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self.signatures = signatures
        self.model = model
        self.target_id = target_id
        self.meaning = meaning
        self.signature: dict | None = None
        self.setWindowTitle("Sign - KetaChart")
        layout = QVBoxLayout(self)
        if what:
            layout.addWidget(QLabel(what, self))
        form = QFormLayout()
        self.user_id = QLineEdit(user_id, self)
        self.user_id.setMinimumHeight(44)
        self.printed_name = QLabel("", self)
        self.printed_name.setObjectName("printedName")
        self.meaning_label = QLabel(f"{meaning} - {MEANING_TEXT.get(meaning, meaning)}", self)
        self.meaning_label.setObjectName("meaning")
        self.secret = secret_field(self)
        form.addRow("User id", self.user_id)
        form.addRow("Printed name", self.printed_name)
        form.addRow("Meaning", self.meaning_label)
        form.addRow("PIN or password", self.secret)
        layout.addLayout(form)
        self.error = error_line(self, "reauthError")
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Sign")
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.user_id.textChanged.connect(self._show_name)
        self._show_name(user_id)
        (self.secret if user_id else self.user_id).setFocus()

    def _show_name(self, user_id: str) -> None:
        row = self.signatures.accounts.user(user_id) if user_id.strip() else None
        self.printed_name.setText(row["display_name"] if row and row["active"] else "")

    def submit(self) -> bool:
        """Sign with the PIN typed (then cleared); a refusal stays in the dialog with its reason."""
        return submit_secret(self, lambda secret: self.sign_with(self.user_id.text().strip().lower(), secret),
                             SIGNING_ERRORS)

    def sign_with(self, user_id: str, secret: str) -> None:
        self.signature = self.signatures.sign(self.model, self.target_id, user_id=user_id, secret=secret,
                                              meaning=self.meaning)

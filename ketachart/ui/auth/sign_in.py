"""Sign-in dialog (user id + PIN/password) and the first-start admin dialog."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QFormLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout

from ...auth import Accounts, AuthError, AuthSession
from ...domain.errors import ClinicalInputError
from .fields import error_line, secret_field, tall_button


def submit_secret(dialog: QDialog, action, errors: tuple = (AuthError,)) -> bool:
    """Run ``action(secret)`` with the secret typed in ``dialog.secret`` (cleared at once): accept on success,
    else show the reason in ``dialog.error`` and stay open for another try."""
    secret = dialog.secret.text()
    dialog.secret.clear()
    try:
        action(secret)
    except errors as exc:
        dialog.error.setText(str(exc))
        dialog.secret.setFocus()
        return False
    dialog.error.setText("")
    dialog.accept()
    return True


class SignInDialog(QDialog):
    """Calls ``accounts.sign_in``; on success ``session`` is set and the dialog accepts.

    Errors (wrong secret, throttled, locked out, inactive) are shown in ``error`` and the PIN is cleared.
    """

    def __init__(self, accounts: Accounts, parent=None, *, user_id: str = "") -> None:  # noqa: ANN001
        super().__init__(parent)
        self.accounts = accounts
        self.session: AuthSession | None = None
        self.setWindowTitle("Sign in - KetaChart")
        self.setModal(True)
        form = QFormLayout()
        self.user_id = QLineEdit(user_id, self)
        self.user_id.setMinimumHeight(44)
        self.secret = secret_field(self)
        form.addRow("User id", self.user_id)
        form.addRow("PIN or password", self.secret)
        self.error = error_line(self, "signInError")
        self.error.setStyleSheet("color: #ff8a80; font-weight: bold;")  # readable on the dim-room theme
        self.button = tall_button("Sign in", self)
        self.button.setDefault(True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.button)
        self.button.clicked.connect(self.submit)
        self.secret.returnPressed.connect(self.submit)
        (self.secret if user_id else self.user_id).setFocus()

    def submit(self) -> bool:
        def sign_in(secret: str) -> None:
            self.session = self.accounts.sign_in(self.user_id.text(), secret)

        return submit_secret(self, sign_in)


class FirstAdminDialog(QDialog):
    """First start (``accounts.needs_first_admin()``): create the clinic's admin account and sign in."""

    def __init__(self, accounts: Accounts, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self.accounts = accounts
        self.session: AuthSession | None = None
        self.setWindowTitle("Create the admin account - KetaChart")
        form = QFormLayout()
        self.user_id = QLineEdit(self)
        self.name = QLineEdit(self)
        self.secret = secret_field(self, height=None)
        self.again = secret_field(self, height=None)
        form.addRow("Admin user id", self.user_id)
        form.addRow("Printed name", self.name)
        form.addRow("Password", self.secret)
        form.addRow("Password again", self.again)
        self.error = error_line(self)
        self.button = QPushButton("Create admin", self)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("No admin exists yet. The admin adds nurses and prescribers.", self))
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.button)
        self.button.clicked.connect(self.submit)

    def submit(self) -> bool:
        if self.secret.text() != self.again.text():
            self.error.setText("The two passwords differ.")
            return False
        try:
            self.session = self.accounts.create_first_admin(self.user_id.text(), self.name.text(), self.secret.text())
        except (AuthError, ClinicalInputError) as exc:
            self.error.setText(str(exc))
            return False
        self.accept()
        return True

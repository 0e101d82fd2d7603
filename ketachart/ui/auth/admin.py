"""Admin dialog: the users (add, deactivate, reset PIN), the clinic policy (:mod:`.policy_page`) and the audit
trail with CSV export."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...auth import Accounts, SignedInUser
from ...auth.accounts import ROLES, audit_rows
from ...auth.audit_export import export_audit_csv
from .fields import error_line, record_table, run_action, secret_field
from .policy_page import PolicyPage

USER_COLUMNS = ("User id", "Printed name", "Role", "Active", "PIN set")
AUDIT_COLUMNS = ("Recorded (UTC)", "Who", "Action", "Target", "Device", "Details")


class AdminDialog(QDialog):
    """Needs an admin ``actor`` (refused otherwise). Shows at most ``audit_limit`` newest audit events."""

    def __init__(self, accounts: Accounts, actor: SignedInUser, parent=None, *, audit_limit: int = 2000) -> None:  # noqa: ANN001
        super().__init__(parent)
        accounts.require(actor, "manage-users")
        self.accounts = accounts
        self.actor = actor
        self.audit_limit = audit_limit
        self.setWindowTitle("Admin - KetaChart")
        self.resize(1100, 760)
        self.tabs = tabs = QTabWidget(self)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        self.message = error_line(self, "adminMessage")
        layout.addWidget(self.message)

        users = QWidget(tabs)
        ul = QVBoxLayout(users)
        self.users_table = record_table(USER_COLUMNS, users, select_rows=True)
        ul.addWidget(self.users_table)
        form = QFormLayout()
        self.new_id = QLineEdit(users)
        self.new_name = QLineEdit(users)
        self.new_role = QComboBox(users)
        self.new_role.addItems(ROLES)
        self.new_secret = secret_field(users, height=None)
        form.addRow("User id", self.new_id)
        form.addRow("Printed name", self.new_name)
        form.addRow("Role", self.new_role)
        form.addRow("PIN / password", self.new_secret)
        ul.addLayout(form)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add user", users)
        self.reset_button = QPushButton("Set new PIN for selected", users)
        self.deactivate_button = QPushButton("Deactivate selected", users)
        self.role_button = QPushButton("Give selected the role above", users)
        self.reason = QLineEdit(users)
        self.reason.setPlaceholderText("Reason (for deactivation or a new role)")
        for w in (self.add_button, self.reset_button, self.reason, self.deactivate_button, self.role_button):
            buttons.addWidget(w)
        ul.addLayout(buttons)
        tabs.addTab(users, "Users")

        self.policy_page: PolicyPage | None = None
        if actor.can("manage-policy"):
            self.policy_page = PolicyPage(accounts, actor, tabs)
            self.policy_page.policy_changed.connect(lambda _v: self.refresh())
            tabs.addTab(self.policy_page, "Clinic policy")

        self.patients_page = None
        if actor.can("link-patients"):  # possible duplicates and the admin's links (issue 13)
            from .patient_links_page import PatientLinksPage

            self.patients_page = PatientLinksPage(accounts, actor, tabs)
            tabs.addTab(self.patients_page, "Patient records")

        audit = QWidget(tabs)
        al = QVBoxLayout(audit)
        self.audit_table = record_table(AUDIT_COLUMNS, audit)
        al.addWidget(self.audit_table)
        self.export_button = QPushButton("Export CSV...", audit)
        al.addWidget(self.export_button)
        tabs.addTab(audit, "Audit trail")

        self.add_button.clicked.connect(self.add_user)
        self.reset_button.clicked.connect(self.reset_selected)
        self.deactivate_button.clicked.connect(self.deactivate_selected)
        self.role_button.clicked.connect(lambda _=False: self.set_role_selected())
        self.export_button.clicked.connect(lambda: self.export_csv())
        self.refresh()

    def refresh(self) -> None:
        users = self.accounts.users()
        self.users_table.setRowCount(len(users))
        for i, u in enumerate(users):
            values = (u["user_id"], u["display_name"], u["role"], "yes" if u["active"] else "no",
                      "yes" if u["has_secret"] else "no")
            for j, v in enumerate(values):
                self.users_table.setItem(i, j, QTableWidgetItem(v))
        rows = audit_rows(self.accounts.store, self.audit_limit)
        self.audit_table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            values = (f"{r['recorded_at']:%Y-%m-%d %H:%M:%S}", r["author"], r["action"], r["target"] or "",
                      r["device_id"], r["details"] or "")
            for j, v in enumerate(values):
                self.audit_table.setItem(i, j, QTableWidgetItem(v))

    def _selected_user(self) -> str | None:
        row = self.users_table.currentRow()
        item = self.users_table.item(row, 0) if row >= 0 else None
        return item.text() if item else None

    def _run(self, fn, done: str) -> bool:  # noqa: ANN001
        ok = run_action(self.message, fn, done)
        if ok:
            self.refresh()
        return ok

    def add_user(self) -> bool:
        secret = self.new_secret.text()
        self.new_secret.clear()
        ok = self._run(lambda: self.accounts.add_user(self.actor, self.new_id.text(), self.new_name.text(),
                                                       self.new_role.currentText(), secret),
                       f"Added {self.new_id.text().strip().lower()}.")
        if ok:
            self.new_id.clear()
            self.new_name.clear()
        return ok

    def reset_selected(self) -> bool:
        uid = self._selected_user()
        secret = self.new_secret.text()
        self.new_secret.clear()
        if not uid:
            self.message.setText("Select a user first.")
            return False
        return self._run(lambda: self.accounts.reset_secret(self.actor, uid, secret), f"New PIN set for {uid}.")

    def deactivate_selected(self) -> bool:
        uid = self._selected_user()
        if not uid:
            self.message.setText("Select a user first.")
            return False
        if not self.reason.text().strip():
            self.message.setText("Give a reason for the deactivation.")
            return False
        return self._run(lambda: self.accounts.deactivate(self.actor, uid, self.reason.text()),
                         f"{uid} deactivated; their charting stays readable.")

    def set_role_selected(self) -> bool:
        uid = self._selected_user()
        role = self.new_role.currentText()
        if not uid:
            self.message.setText("Select a user first.")
            return False
        secret = self.new_secret.text() or None  # a new admin's password (the PIN / password field)
        return self._run(lambda: self.accounts.set_role(self.actor, uid, role, self.reason.text(), secret),
                         f"{uid} is now {role}.")

    def export_csv(self, path: Path | str | None = None) -> int | None:
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(self, "Export audit trail", "audit.csv", "CSV (*.csv)")
            if not chosen:
                return None
            path = chosen
        count: list[int] = []
        ok = self._run(lambda: count.append(export_audit_csv(self.accounts, self.actor, Path(path))),
                       f"Exported the audit trail to {path}.")
        return count[0] if ok else None

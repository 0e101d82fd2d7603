"""The admin dialog's "Clinic policy" page: every setting of the policy in force, grouped, editable; saving
asks the admin's PIN again and records a new version; and the history of versions (who, when, what, why).

Saving goes through :func:`ketachart.auth.policy_admin.change_policy`, the same code path as
``ketachart policy set``: values are parsed and validated (``ClinicPolicy`` rules) before the PIN is asked,
and a bad value, a missing reason or a wrong PIN saves nothing.
"""

from __future__ import annotations

import json

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...auth import Accounts, AuthError, SignedInUser
from ...auth.policy_admin import (
    CADSS_FIELD,
    LABELS,
    POLICY_GROUPS,
    PolicyChange,
    change_policy,
    check_policy_change,
    policy_history,
    policy_value_text,
)
from ...domain.errors import ClinicalInputError
from ...domain.scales import CADSS6_ITEMS
from ...errors import UserError
from .fields import error_line, secret_field

HISTORY_COLUMNS = ("Version", "Recorded (UTC)", "Who", "Changed", "Reason")
REFUSED = (AuthError, ClinicalInputError, UserError)

# Larger text and a light error colour that reads on the dark theme (the same as the signature dialogs).
PAGE_STYLE = ("#policyMessage, #policyPinError { font-size: 18px; font-weight: bold; } "
              "#policyMessage[kind=error], #policyPinError { color: #ffb4a8; } "
              "#policyMessage[kind=ok] { color: #8fe0b0; } #policyVersion { font-size: 20px; font-weight: bold; }")


class PolicyPinDialog(QDialog):
    """Asks the signed-in admin's own PIN again; ``submit()`` records the change or shows why not."""

    def __init__(self, page: "PolicyPage", keys: tuple[str, ...]) -> None:
        super().__init__(page)
        self.page = page
        self.result: PolicyChange | None = None
        self.setWindowTitle("Confirm policy change - KetaChart")
        self.setMinimumWidth(560)
        self.setStyleSheet("QLabel, QLineEdit, QPushButton { font-size: 18px; } " + PAGE_STYLE)
        layout = QVBoxLayout(self)
        what = QLabel(f"New clinic policy version {page.accounts.store.policy.version + 1}: "
                      + ", ".join(LABELS.get(k, k) for k in keys), self)
        what.setWordWrap(True)
        what.setObjectName("what")
        layout.addWidget(what)
        form = QFormLayout()
        self.printed_name = QLabel(f"{page.actor.display_name} ({page.actor.user_id})", self)
        self.secret = secret_field(self, height=48)
        form.addRow("Admin", self.printed_name)
        form.addRow("Your PIN or password", self.secret)
        layout.addLayout(form)
        self.error = error_line(self, "policyPinError")
        layout.addWidget(self.error)
        row = QHBoxLayout()
        self.cancel_button = QPushButton("Cancel", self)
        self.save_button = QPushButton("Save new version", self)
        self.save_button.setObjectName("primary")
        self.save_button.setDefault(True)
        for b in (self.cancel_button, self.save_button):
            b.setMinimumHeight(48)
        row.addStretch(1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.save_button)
        layout.addLayout(row)
        self.cancel_button.clicked.connect(self.reject)
        self.save_button.clicked.connect(lambda _=False: self.submit())
        self.secret.returnPressed.connect(self.submit)
        self.secret.setFocus()

    def submit(self) -> bool:
        secret = self.secret.text()
        self.secret.clear()
        try:
            self.result = self.page.record(secret)
        except REFUSED as exc:
            self.error.setText(str(exc))
            self.secret.setFocus()
            return False
        self.accept()
        return True


class PolicyPage(QWidget):
    """Needs an actor who may ``manage-policy`` (refused otherwise). ``policy_changed(version)`` after a save."""

    policy_changed = Signal(int)

    def __init__(self, accounts: Accounts, actor: SignedInUser, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        accounts.require(actor, "manage-policy")
        self.accounts = accounts
        self.actor = actor
        self.pin_dialog: PolicyPinDialog | None = None
        self._pending: tuple[list[str], str] | None = None
        self.setStyleSheet(PAGE_STYLE)
        outer = QVBoxLayout(self)
        self.version_label = QLabel("", self)
        self.version_label.setObjectName("policyVersion")
        outer.addWidget(self.version_label)

        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        body = QWidget(scroll)
        body.setObjectName("screen")  # the theme's background, not the platform's light grey
        grid = QGridLayout(body)
        grid.setContentsMargins(4, 8, 12, 8)
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(12)
        self.fields: dict[str, QLineEdit] = {}
        boxes = [self._group(body, title, entries) for title, entries in POLICY_GROUPS]
        self.cadss_fields: list[QLineEdit] = []
        cadss = QGroupBox("CADSS-6 item wording (the clinic's licensed text; all six, or all empty)", body)
        cf = QFormLayout(cadss)
        for n in CADSS6_ITEMS:
            edit = QLineEdit(cadss)
            edit.setMinimumHeight(44)
            edit.setPlaceholderText(f"empty: the form shows \"Item {n}\"")
            edit.setObjectName(f"cadss_{n}")
            cf.addRow(f"Item {n}", edit)
            self.cadss_fields.append(edit)
        # two columns: dose limits | monitoring, alerts | discharge + sign-in; CADSS wording across the bottom
        grid.addWidget(boxes[0], 0, 0)
        grid.addWidget(boxes[1], 0, 1)
        grid.addWidget(boxes[2], 1, 0)
        side = QVBoxLayout()
        side.addWidget(boxes[3])
        side.addWidget(boxes[4])
        side.addStretch(1)
        grid.addLayout(side, 1, 1)
        grid.addWidget(cadss, 2, 0, 1, 2)
        scroll.setWidget(body)
        outer.addWidget(scroll, 3)

        row = QHBoxLayout()
        self.reason = QLineEdit(self)
        self.reason.setMinimumHeight(44)
        self.reason.setPlaceholderText("Reason for the change (required, kept in the audit trail)")
        self.discard_button = QPushButton("Discard edits", self)
        self.save_button = QPushButton("Save as new version…", self)
        self.save_button.setObjectName("primary")
        for b in (self.discard_button, self.save_button):
            b.setMinimumHeight(44)
        row.addWidget(self.reason, 1)
        row.addWidget(self.discard_button)
        row.addWidget(self.save_button)
        outer.addLayout(row)
        self.message = QLabel("", self)
        self.message.setObjectName("policyMessage")
        self.message.setWordWrap(True)
        outer.addWidget(self.message)

        outer.addWidget(QLabel("Policy history", self))
        self.history_table = QTableWidget(0, len(HISTORY_COLUMNS), self)
        self.history_table.setHorizontalHeaderLabels(HISTORY_COLUMNS)
        self.history_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.history_table.verticalHeader().setVisible(False)
        header = self.history_table.horizontalHeader()
        for col in range(len(HISTORY_COLUMNS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(HISTORY_COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.history_table.setWordWrap(True)
        self.history_table.setMaximumHeight(220)
        outer.addWidget(self.history_table, 1)

        self.discard_button.clicked.connect(lambda _=False: self.load())
        self.save_button.clicked.connect(lambda _=False: self.save())
        self.load()

    def _group(self, parent: QWidget, title: str, entries) -> QGroupBox:  # noqa: ANN001
        box = QGroupBox(title, parent)
        form = QFormLayout(box)
        for key, label in entries:
            edit = QLineEdit(box)
            edit.setObjectName(key)
            edit.setMinimumHeight(44)
            edit.setMinimumWidth(110)
            edit.setToolTip(key)
            form.addRow(label, edit)
            self.fields[key] = edit
        return box

    # --- showing --------------------------------------------------------------------------------------
    def load(self) -> None:
        """Show the policy in force (discarding edits) and its history."""
        policy = self.accounts.store.policy
        for key, edit in self.fields.items():
            edit.setText(policy_value_text(policy, key))
        wording = list(policy.cadss6_item_text) or [""] * len(CADSS6_ITEMS)
        for edit, text in zip(self.cadss_fields, wording):
            edit.setText(text)
        history = policy_history(self.accounts.store)
        newest = history[0] if history else None
        when = f", recorded {newest.recorded_at:%Y-%m-%d %H:%M} UTC by {newest.author}" if newest else ""
        self.version_label.setText(f"Clinic policy in force: version {policy.version}{when}")
        self.history_table.setRowCount(len(history))
        for i, h in enumerate(history):
            values = (str(h.version), f"{h.recorded_at:%Y-%m-%d %H:%M}", h.author, ", ".join(h.keys), h.reason)
            for j, v in enumerate(values):
                self.history_table.setItem(i, j, QTableWidgetItem(v))

    def _say(self, text: str, kind: str) -> None:
        self.message.setText(text[:1].upper() + text[1:])
        self.message.setProperty("kind", kind)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)

    # --- saving ---------------------------------------------------------------------------------------
    def changes(self) -> list[str]:
        """``KEY=VALUE`` for every field whose text differs from the policy in force."""
        policy = self.accounts.store.policy
        out = [f"{key}={edit.text().strip()}" for key, edit in self.fields.items()
               if edit.text().strip() != policy_value_text(policy, key)]
        wording = [e.text().strip() for e in self.cadss_fields]
        text = json.dumps(wording if any(wording) else [], ensure_ascii=False)
        if text != policy_value_text(policy, CADSS_FIELD):
            out.append(f"{CADSS_FIELD}={text}")
        return out

    def save(self) -> PolicyPinDialog | None:
        """Validate the edits; if they pass, open the PIN dialog (``pin_dialog``). Nothing is saved here."""
        changes, reason = self.changes(), self.reason.text().strip()
        try:
            _new, keys = check_policy_change(self.accounts.store.policy, changes, reason)
        except REFUSED as exc:
            self._say(str(exc), "error")
            return None
        self._pending = (changes, reason)
        self._say("", "")
        self.pin_dialog = PolicyPinDialog(self, keys)
        self.pin_dialog.finished.connect(self._pin_closed)
        self.pin_dialog.open()
        return self.pin_dialog

    def record(self, secret: str) -> PolicyChange:
        """Called by the PIN dialog: re-authenticate the admin and record the pending change (one code path)."""
        if self._pending is None:
            raise UserError("nothing to save")
        changes, reason = self._pending
        done = change_policy(
            self.accounts, changes, reason,
            lambda: self.accounts.verify_for_signature(self.actor.user_id, secret, purpose="policy-change"))
        self._pending = None
        self.reason.clear()
        self.load()
        self._say(f"Clinic policy version {done.policy.version} is now in force "
                  f"({', '.join(LABELS.get(k, k) for k in done.keys)}).", "ok")
        self.policy_changed.emit(done.policy.version)
        return done

    def _pin_closed(self, _result: int) -> None:
        dialog = self.pin_dialog
        self.pin_dialog = None
        if dialog is not None and dialog.result is None:
            self._say("Not saved: the PIN was not confirmed.", "error")
        if dialog is not None:
            dialog.deleteLater()


__all__ = ["PolicyPage", "PolicyPinDialog"]

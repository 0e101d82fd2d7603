"""The widgets every auth dialog builds alike: a PIN box, the line that explains a refusal, a tall button,
a read-only table of records."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QLabel, QLineEdit, QPushButton, QTableWidget, QWidget

TOUCH_HEIGHT = 44  # a gloved finger's target at the chair


def secret_field(parent: QWidget, *, height: int | None = TOUCH_HEIGHT, placeholder: str = "") -> QLineEdit:
    """A PIN or password box: never echoed on screen."""
    field = QLineEdit(parent)
    field.setEchoMode(QLineEdit.EchoMode.Password)
    if placeholder:
        field.setPlaceholderText(placeholder)
    if height:
        field.setMinimumHeight(height)
    return field


def error_line(parent: QWidget, name: str = "") -> QLabel:
    """Where a refused secret or a bad entry is explained; ``name`` lets tests and style sheets find it."""
    label = QLabel("", parent)
    if name:
        label.setObjectName(name)
    label.setWordWrap(True)
    return label


def tall_button(text: str, parent: QWidget, height: int = TOUCH_HEIGHT) -> QPushButton:
    button = QPushButton(text, parent)
    button.setMinimumHeight(height)
    return button


def record_table(columns: tuple[str, ...], parent: QWidget, *, select_rows: bool = False) -> QTableWidget:
    """A read-only table of what the chart holds (users, audit, policy history, patient records): never edited
    in place, every change goes through the page's own reasoned action."""
    table = QTableWidget(0, len(columns), parent)
    table.setHorizontalHeaderLabels(columns)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    if select_rows:
        table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    return table


def run_action(message: QLabel, action: Callable[[], object], done: str) -> bool:
    """An admin action: a refusal (wrong PIN, no permission, bad input) is said on ``message`` and changes
    nothing; otherwise ``done`` is said there. True when it went through."""
    from ...auth import AuthError
    from ...domain.errors import ClinicalInputError

    try:
        action()
    except (AuthError, ClinicalInputError) as exc:
        message.setText(str(exc))
        return False
    message.setText(done)
    return True

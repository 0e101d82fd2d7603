"""The widgets every auth dialog builds alike: a PIN box, the line that explains a refusal, a tall button."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QLineEdit, QPushButton, QWidget

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

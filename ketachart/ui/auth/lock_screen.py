"""The privacy lock screen: covers the window, shows no patient details, keeps clocks and alerts visible.

It shows only what the caller passes in (the clocks' text, whether an alert is active, the signed-in
user's name) and emits the PIN typed; it does not check anything itself.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from .fields import secret_field, tall_button


class LockScreen(QWidget):
    unlock_requested = Signal(str)  # secret of the signed-in user
    switch_requested = Signal(str, str)  # user id, secret of the new user

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("lockScreen")
        self.setAutoFillBackground(True)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(
            "#lockScreen { background: #10141a; } QLabel { color: #e8edf2; } "
            "#alertIndicator { background: #c0262d; color: white; font-weight: bold; padding: 12px; border-radius: 6px; }"
        )
        outer = QVBoxLayout(self)
        outer.setContentsMargins(48, 48, 48, 48)
        self.title = QLabel("Screen locked", self)
        self.title.setStyleSheet("font-size: 28px; font-weight: bold;")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.clocks = QLabel("", self)
        self.clocks.setObjectName("lockClocks")
        self.clocks.setStyleSheet("font-size: 40px;")
        self.clocks.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.alert = QLabel("", self)
        self.alert.setObjectName("alertIndicator")
        self.alert.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.alert.hide()
        self.user_line = QLabel("", self)
        self.user_line.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.title)
        outer.addWidget(self.clocks)
        outer.addWidget(self.alert)
        outer.addStretch(1)
        outer.addWidget(self.user_line)

        self.pages = QStackedWidget(self)
        # page 0: unlock by the same user
        unlock = QWidget(self.pages)
        row = QHBoxLayout(unlock)
        self.secret = secret_field(unlock, placeholder="PIN or password")
        self.unlock_button = tall_button("Unlock", unlock)
        self.switch_button = tall_button("Switch user", unlock)
        row.addWidget(self.secret, 2)
        row.addWidget(self.unlock_button)
        row.addWidget(self.switch_button)
        # page 1: switch user (hand-over)
        switch = QWidget(self.pages)
        row2 = QHBoxLayout(switch)
        self.switch_user_id = QLineEdit(switch)
        self.switch_user_id.setPlaceholderText("User id")
        self.switch_user_id.setMinimumHeight(44)
        self.switch_secret = secret_field(switch, placeholder="PIN or password")
        self.take_over_button = tall_button("Take over", switch)
        self.back_button = tall_button("Back", switch)
        for w in (self.switch_user_id, self.switch_secret, self.take_over_button, self.back_button):
            row2.addWidget(w)
        self.pages.addWidget(unlock)
        self.pages.addWidget(switch)
        outer.addWidget(self.pages)
        self.error = QLabel("", self)
        self.error.setObjectName("lockError")
        self.error.setStyleSheet("color: #ffb4a8; font-size: 16px;")
        self.error.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.error)

        self.unlock_button.clicked.connect(self._submit_unlock)
        self.secret.returnPressed.connect(self._submit_unlock)
        self.switch_button.clicked.connect(lambda: self.show_switch(True))
        self.back_button.clicked.connect(lambda: self.show_switch(False))
        self.take_over_button.clicked.connect(self._submit_switch)
        self.switch_secret.returnPressed.connect(self._submit_switch)
        parent.installEventFilter(self)
        self.hide()

    # --- what the caller shows -------------------------------------------------------------------
    def set_user(self, display_name: str) -> None:
        self.user_line.setText(f"Signed in: {display_name}. Enter your PIN to unlock." if display_name else "")

    def set_clocks_text(self, text: str) -> None:
        self.clocks.setText(text)

    def set_alert(self, active: bool, text: str = "Alert active") -> None:
        self.alert.setText(text if active else "")
        self.alert.setVisible(active)

    def set_error(self, message: str) -> None:
        self.error.setText(message)

    def show_switch(self, on: bool) -> None:
        self.pages.setCurrentIndex(1 if on else 0)
        self.set_error("")
        (self.switch_user_id if on else self.secret).setFocus()

    def clear_inputs(self) -> None:
        for field in (self.secret, self.switch_user_id, self.switch_secret):
            field.clear()
        self.set_error("")
        self.pages.setCurrentIndex(0)

    def cover(self) -> None:
        parent = self.parentWidget()
        self.setGeometry(parent.rect())
        self.raise_()
        self.show()
        self.secret.setFocus()

    # --- internals ------------------------------------------------------------------------------
    def _submit_unlock(self) -> None:
        secret = self.secret.text()
        self.secret.clear()
        self.unlock_requested.emit(secret)

    def _submit_switch(self) -> None:
        user_id, secret = self.switch_user_id.text(), self.switch_secret.text()
        self.switch_secret.clear()
        self.switch_requested.emit(user_id, secret)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if obj is self.parentWidget() and event.type() == QEvent.Type.Resize and self.isVisible():
            self.setGeometry(self.parentWidget().rect())
        return False


def visible_texts(widget: QWidget) -> list[str]:
    """Every text a person (or a screen reader) could see in ``widget``'s visible tree."""
    out: list[str] = []
    if not widget.isVisible():
        return out
    for getter in ("text", "windowTitle", "placeholderText", "toolTip", "accessibleName", "title"):
        fn = getattr(widget, getter, None)
        if callable(fn):
            try:
                value = fn()
            except TypeError:
                continue
            if isinstance(value, str) and value:
                out.append(value)
    for child in widget.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly):
        out.extend(visible_texts(child))
    return out


__all__ = ["LockScreen", "visible_texts"]

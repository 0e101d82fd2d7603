"""Small building blocks shared by the screens: big buttons, the "saved"/error line and one form dialog.

Dialogs are opened with ``open()`` (never ``exec()``): no nested event loop, so live vitals keep flowing
while a nurse types a note, and tests and the autoplay drive the same dialogs without blocking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...chair import USER_ERRORS
from ...domain.policy import parse_intervention_pick
from ..touch import Keypad, TapChoice, keypad_for_fields

# Form fields whose key names a number: a tap on them opens the dialog's keypad on its digits page (issue 12,
# touch). Any other line or text field opens it on the letters page when tapped.
FORM_WIDTH = 560  # a form dialog without its keypad
FORM_WITH_KEYPAD = 400  # ... and the form's part beside the keypad
NUMERIC_KEYS = frozenset({"sys", "dia", "hr", "spo2", "rr", "rate", "delivered_ml", "dose", "weight", "taken_at",
                          "when", "value", "volume_ml", "fasting_hours", "waste_mg"})


def button(text: str, slot: Callable | None = None, *, name: str = "", shortcut: str = "", tip: str = "",
           parent: QWidget | None = None) -> QPushButton:
    b = QPushButton(text, parent)
    b.setMinimumHeight(48)
    if name:
        b.setObjectName(name)
    if slot is not None:
        b.clicked.connect(lambda _=False: slot())
    if shortcut:
        b.setToolTip(f"{tip or text} (key {shortcut})")
    elif tip:
        b.setToolTip(tip)
    return b


def screen_layout(screen: QWidget, title: str, action: str, slot: Callable) -> tuple[QVBoxLayout, QLabel]:
    """The frame every full-page form shares: margins, a title on the left, one way out on the right."""
    screen.setObjectName("screen")
    root = QVBoxLayout(screen)
    root.setContentsMargins(10, 8, 10, 8)
    head = QHBoxLayout()
    label = QLabel(title)
    label.setObjectName("title")
    head.addWidget(label, 1)
    head.addWidget(button(action, slot))
    root.addLayout(head)
    return root, label


def shortcut(widget: QWidget, key: str, slot: Callable) -> QShortcut:
    sc = QShortcut(QKeySequence(key), widget)
    sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    sc.activated.connect(slot)
    return sc


class ElidedLabel(QLabel):
    """One line that ends in "…" when it does not fit; the whole text is in the tooltip (hover or long-press)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.full_text = ""
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self.full_text = text
        self._elide()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = self.contentsRect().width()
        shown = self.fontMetrics().elidedText(self.full_text, Qt.TextElideMode.ElideRight, width) if width > 20 else self.full_text
        if shown != self.text():
            self.setText(shown)
        self.setToolTip(self.full_text if shown != self.full_text else "")

    def changeEvent(self, event) -> None:  # noqa: N802 - the font changes with the stylesheet (window width)
        super().changeEvent(event)
        if event.type() in (event.Type.FontChange, event.Type.StyleChange):
            self._elide()


class WrappedLabel(QLabel):
    """A word-wrapped label that keeps the height its text needs at its width: inside a form in a scroll area
    Qt sizes a wrapped label for another width and cut the dose calculation's last line."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)

    PADDING = 8  # the theme's padding of such boxes (QLabel#steps); Qt's heightForWidth leaves it out

    def _fit(self) -> None:
        inner = self.contentsRect().width() - 2 * self.PADDING
        if inner > 0:
            text = self.fontMetrics().boundingRect(0, 0, inner, 10_000, Qt.TextFlag.TextWordWrap, self.text())
            self.setMinimumHeight(text.height() + 2 * self.PADDING + 4)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self._fit()

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802
        super().resizeEvent(event)
        self._fit()


class MessageLine(QLabel):
    """Shows "... saved 10:42:03" only after the store returned, or the reason nothing was saved."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.kind = ""

    def show_message(self, text: str, kind: str) -> None:
        self.kind = kind
        self.setObjectName({"saved": "saved", "error": "error"}.get(kind, "muted"))
        prefix = {"saved": "✔ ", "error": "✖ Not saved: "}.get(kind, "")
        self.setText(prefix + text)
        self.style().unpolish(self)
        self.style().polish(self)


def note_picks(policy) -> list[tuple[str, dict]]:  # noqa: ANN001
    """The clinic's note quick-picks: a tap writes the words into the note (the nurse may add to them)."""
    return [(text, {"text": text}) for text in policy.note_picks]


def intervention_picks(policy) -> list[tuple[str, dict]]:  # noqa: ANN001
    """The clinic's intervention quick-picks ("ondansetron 4 mg IV"): a tap fills drug, dose, unit and route."""
    out = []
    for text in policy.intervention_picks:
        try:
            drug, dose, unit, route = parse_intervention_pick(text)
        except USER_ERRORS:  # an old stored version may hold one today's rules refuse: it is not offered
            continue
        out.append((text, {"drug": drug, "dose": dose, "unit": unit, "route": route}))
    return out


@dataclass
class Field:
    key: str
    label: str
    kind: str = "line"  # line, combo, check, text
    default: object = ""
    options: list = field(default_factory=list)  # combo / taps: [(value, label)]
    placeholder: str = ""
    keypad: str = ""  # "digits", "letters" or "none"; empty: digits when the key is in NUMERIC_KEYS, else letters


class _FormBox(QWidget):
    """Holds a form at least ``floor`` px wide, and wider when its rows need it (a fixed minimum width would
    let the layout cut a row's words instead)."""

    def __init__(self, floor: int) -> None:
        super().__init__()
        self.floor = floor

    def set_floor(self, floor: int) -> None:
        self.floor = floor
        self.updateGeometry()

    def minimumSizeHint(self):  # noqa: N802, ANN201
        hint = super().minimumSizeHint()
        hint.setWidth(max(hint.width(), self.floor))
        return hint

    def sizeHint(self):  # noqa: N802, ANN201
        hint = super().sizeHint()
        hint.setWidth(max(hint.width(), self.floor))
        return hint


class FormDialog(QDialog):
    """A small form. ``on_submit(values)`` charts; a user error keeps the dialog open with the message.

    Touch: a "taps" field is a row of big buttons (:class:`~ketachart.ui.touch.TapChoice`); tapping a line or
    text field points the dialog's keypad at it (shown from the start when the form asks for a number);
    ``picks`` are quick-picks, (label, values) whose tap fills those values in."""

    def __init__(self, parent: QWidget | None, title: str, fields: list[Field], on_submit: Callable[[dict], object],
                 *, submit_text: str = "Save", intro: str = "", live: Callable[[dict], str] | None = None,
                 picks: list[tuple[str, dict]] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(True)
        self.on_submit = on_submit
        self.widgets: dict[str, QWidget] = {}
        layout = QVBoxLayout(self)
        head = QLabel(title)
        head.setObjectName("title")
        layout.addWidget(head)
        if intro:
            lab = QLabel(intro)
            lab.setWordWrap(True)
            layout.addWidget(lab)
        self.pick_buttons: dict[str, QPushButton] = {}
        if picks:
            grid = QGridLayout()
            grid.setSpacing(6)
            for i, (label, values) in enumerate(picks):
                b = button(label, lambda v=values: self.set_values(**v), name="quickPick")
                b.setAutoDefault(False)
                self.pick_buttons[label] = b
                grid.addWidget(b, i // 2, i % 2)
            layout.addLayout(grid)
        form = QFormLayout()
        form.setVerticalSpacing(10)
        typed: list[tuple[Field, QWidget]] = []
        for f in fields:
            if f.kind == "taps":
                w = TapChoice(f.options, name=f.label)
                if f.default not in ("", None):
                    w.setCurrentIndex(w.findData(f.default))
            elif f.kind == "combo":
                w = QComboBox()
                for value, label in f.options:
                    w.addItem(label, value)
                if f.default not in ("", None):
                    idx = w.findData(f.default)
                    w.setCurrentIndex(max(0, idx))
            elif f.kind == "check":
                w = QCheckBox(f.label)
                w.setChecked(bool(f.default))
            elif f.kind == "text":
                w = QPlainTextEdit(str(f.default or ""))
                w.setPlaceholderText(f.placeholder)
                w.setMinimumHeight(100)
                typed.append((f, w))
            else:
                w = QLineEdit(str(f.default or ""))
                w.setPlaceholderText(f.placeholder)
                w.returnPressed.connect(self.submit)
                typed.append((f, w))
            w.setAccessibleName(f.label)
            self.widgets[f.key] = w
            form.addRow("" if f.kind == "check" else f.label, w)
        self.keypad = self._keypad(typed)
        # the form's own width is held by its box; the dialog then sizes itself from what it holds (tap rows and
        # quick-picks show their whole words) and grows by the keypad when that is shown
        self.form_box = _FormBox(FORM_WIDTH - 24)
        self.form_box.setLayout(form)
        form.setContentsMargins(0, 0, 0, 0)
        if self.keypad is not None:
            body = QHBoxLayout()
            body.addWidget(self.form_box, 1)
            body.addWidget(self.keypad, 0, Qt.AlignmentFlag.AlignTop)
            layout.addLayout(body)
        else:
            layout.addWidget(self.form_box)
        self.live_line = None
        if live is not None:  # e.g. the CADSS-6 total, recomputed as the items are picked
            self.live_line = QLabel()
            self.live_line.setObjectName("title")
            layout.addWidget(self.live_line)
            update = lambda *_: self.live_line.setText(live(self.values()))  # noqa: E731
            for w in self.widgets.values():
                for sig in ("currentIndexChanged", "textChanged", "toggled"):
                    if hasattr(w, sig):
                        getattr(w, sig).connect(update)
                        break
            update()
        self.error = MessageLine()
        layout.addWidget(self.error)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(button("Cancel", self.reject))
        self.submit_button = button(submit_text, self.submit, name="primary")
        self.submit_button.setDefault(True)
        row.addWidget(self.submit_button)
        layout.addLayout(row)
        if self.keypad is not None:
            self._show_keypad(not self.keypad.isHidden())  # now that the whole form is laid out

    def _keypad(self, typed: list[tuple[Field, QWidget]]) -> Keypad | None:
        """One keypad beside the form: visible at once when a number is asked for, else on the first tap."""
        modes = [(f.keypad or ("digits" if f.key in NUMERIC_KEYS else "letters"), w) for f, w in typed]
        modes = [(m, w) for m, w in modes if m != "none"]
        if not modes:
            return None
        pad = Keypad(self)
        keypad_for_fields(pad, [w for _, w in modes], [w for m, w in modes if m == "letters"],
                          on_tap=lambda _w: self._show_keypad(True))
        pad.done.connect(lambda: self._show_keypad(False))
        pad.page_changed.connect(lambda: self._show_keypad(True) if pad.isVisible() else None)
        numeric = [w for m, w in modes if m == "digits"]
        if numeric:
            pad.set_target(numeric[0])
        self.keypad = pad
        self._show_keypad(bool(numeric))
        return pad

    def _show_keypad(self, on: bool) -> None:
        """The form keeps its own width; the keypad is added beside it (and taken away by Done)."""
        if on and not self.keypad.isVisible():
            self.keypad.show()
        elif not on:
            self.keypad.hide()
        if getattr(self, "form_box", None) is not None:
            self.form_box.set_floor(FORM_WITH_KEYPAD if on else FORM_WIDTH - 24)
        self.adjustSize()

    def values(self) -> dict:
        out = {}
        for key, w in self.widgets.items():
            if isinstance(w, (QComboBox, TapChoice)):
                out[key] = w.currentData()
            elif isinstance(w, QCheckBox):
                out[key] = w.isChecked()
            elif isinstance(w, QPlainTextEdit):
                out[key] = w.toPlainText()
            else:
                out[key] = w.text()
        return out

    def set_values(self, **values) -> None:
        for key, value in values.items():
            w = self.widgets[key]
            if isinstance(w, (QComboBox, TapChoice)):
                w.setCurrentIndex(max(0, w.findData(value)))
            elif isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, QPlainTextEdit):
                w.setPlainText(str(value))
            else:
                w.setText(str(value))

    def submit(self) -> bool:
        try:
            self.on_submit(self.values())
        except USER_ERRORS as exc:
            self.error.show_message(str(exc), "error")
            return False
        self.accept()
        return True


class ScorePicker(QDialog):
    """One tap per score: big buttons, also the digit keys; optional check box (e.g. vomiting)."""

    def __init__(self, parent: QWidget | None, title: str, choices: list[tuple[int, str]],
                 on_pick: Callable[[int, bool], object], *, check: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(True)
        self.on_pick = on_pick
        layout = QVBoxLayout(self)
        head = QLabel(title)
        head.setObjectName("title")
        layout.addWidget(head)
        self.check = QCheckBox(check) if check else None
        self.buttons: dict[int, QPushButton] = {}
        grid = QVBoxLayout() if any(len(lbl) > 3 for _, lbl in choices) else QHBoxLayout()
        for value, label in choices:
            b = button(f"{value}  {label}" if label and label != str(value) else str(value),
                       lambda v=value: self.pick(v), name="score")
            b.setMinimumHeight(52)
            self.buttons[value] = b
            grid.addWidget(b)
        layout.addLayout(grid)
        self.check_buttons: dict[int, QPushButton] = {}
        if self.check:
            # the checked variant in one tap too (nausea with vomiting: the Nausea key, then one of these)
            layout.addWidget(QLabel(f"With {check.split('[')[0].strip().lower()}:"))
            row = QHBoxLayout()
            for value, label in choices:
                b = button(str(value), lambda v=value: self.pick(v, checked=True), name="score")
                b.setMinimumHeight(52)
                b.setAccessibleName(f"{value} with {check.split('[')[0].strip().lower()}")
                self.check_buttons[value] = b
                row.addWidget(b)
            layout.addLayout(row)
            layout.addWidget(self.check)
        self.error = MessageLine()
        layout.addWidget(self.error)
        layout.addWidget(button("Cancel", self.reject))

    def keyPressEvent(self, event) -> None:  # noqa: N802
        text = event.text()
        if text.isdigit() and int(text) in self.buttons:
            self.pick(int(text))
            return
        if text in ("v", "V") and self.check:
            self.check.toggle()
            return
        super().keyPressEvent(event)

    def pick(self, value: int, *, checked: bool = False) -> bool:
        try:
            self.on_pick(value, checked or bool(self.check and self.check.isChecked()))
        except USER_ERRORS as exc:
            self.error.show_message(str(exc), "error")
            return False
        self.accept()
        return True

"""Touch: a whole session can be charted with a finger on a bedside tablet, no keyboard needed.

- :class:`PinPad`: digits for sign-in, the lock screen and signature dialogs (the PIN field keeps working with a
  keyboard; the pad only types into it).
- :class:`NumericKeypad`: digits for weight, vitals, doses and volumes. In a :class:`~.screens.common.FormDialog`
  it sits beside the form; on a full screen (the pre-session) :func:`attach_keypad` floats it beside the field
  that was tapped.
- :class:`TapChoice`: one row of big buttons in place of a drop-down (a CADSS-6 or PHQ-9 item, the patient's
  sex). It answers like the QComboBox it replaces (``currentData``, ``setCurrentIndex`` with 0 = unanswered), so
  the screens' logic does not change.
- :class:`UserPicker`: the chair's active users as buttons, so the user id is tapped, not typed.
- :func:`size_targets`: every tappable widget of a screen at least :data:`MIN_TARGET` px tall.

Widgets only: no clinical state, nothing is charted here.
"""

from __future__ import annotations

from typing import Callable, Iterable

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QButtonGroup,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QPlainTextEdit,
    QStyledItemDelegate,
    QTableView,
    QVBoxLayout,
    QWidget,
)

# The smallest tap target: Apple's HIG (44 pt) and WCAG 2.5.5 (44 CSS px). A gloved finger at arm's length.
MIN_TARGET = 44
KEY_SIZE = 60  # keypad keys: bigger than the minimum, they are tapped many times in a row


def _key(text: str, parent: QWidget, slot: Callable[[], None], *, name: str = "touchKey",
         accessible: str = "") -> QPushButton:
    b = QPushButton(text, parent)
    b.setObjectName(name)
    b.setMinimumSize(KEY_SIZE, KEY_SIZE)
    b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the field being typed into keeps the focus (and its cursor)
    b.setAutoDefault(False)
    b.setAccessibleName(accessible or text)
    b.clicked.connect(lambda _=False: slot())
    return b


class PinPad(QWidget):
    """1-9, Clear, 0, ⌫ and OK. Types into ``target`` (a password field); OK emits ``submitted``."""

    submitted = Signal()

    def __init__(self, target: QLineEdit, parent: QWidget | None = None, *, ok_text: str = "OK",
                 key_size: int = KEY_SIZE) -> None:
        super().__init__(parent)
        self.setObjectName("pinPad")
        self.target = target
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 4, 0, 4)
        grid.setSpacing(6)
        self.keys: dict[str, QPushButton] = {}
        layout = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "Clear", "0", "⌫")
        for i, k in enumerate(layout):
            slot = {"Clear": self.target.clear, "⌫": self.target.backspace}.get(k, lambda d=k: self.target.insert(d))
            b = _key(k, self, slot, name="pinKey", accessible={"⌫": "Delete last digit", "Clear": "Clear PIN"}.get(
                k, f"PIN digit {k}"))
            b.setMinimumSize(key_size, key_size)
            self.keys[k] = b
            grid.addWidget(b, i // 3, i % 3)
        self.ok = _key(ok_text, self, self.submitted.emit, name="primary", accessible=ok_text)
        self.ok.setMinimumSize(key_size, key_size)
        self.keys["OK"] = self.ok
        grid.addWidget(self.ok, 4, 0, 1, 3)

    def type_pin(self, pin: str) -> None:
        """Click the digits of ``pin`` (tests and the scripted demo: the same path as a finger)."""
        for d in pin:
            self.keys[d].click()


def _insert(target: QWidget, text: str) -> None:
    if isinstance(target, QLineEdit):
        target.insert(text)
    elif isinstance(target, QPlainTextEdit):
        target.insertPlainText(text)


def _backspace(target: QWidget) -> None:
    if isinstance(target, QLineEdit):
        target.backspace()
    elif isinstance(target, QPlainTextEdit):
        target.textCursor().deletePreviousChar()


def _text(target: QWidget) -> str:
    return target.text() if isinstance(target, QLineEdit) else target.toPlainText()


LETTER_ROWS = ("qwertyuiop", "asdfghjkl'", "zxcvbnm,.-")


class _Pages(QWidget):
    """Two pages, only the current one shown: unlike a QStackedWidget the size is the shown page's, so the
    digits keypad stays narrow beside a form."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._pages: list[QWidget] = []
        self._index = 0

    def addWidget(self, page: QWidget) -> None:  # noqa: N802
        self._pages.append(page)
        self._layout.addWidget(page)
        page.setVisible(len(self._pages) - 1 == self._index)

    def currentIndex(self) -> int:  # noqa: N802
        return self._index

    def setCurrentIndex(self, index: int) -> None:  # noqa: N802
        self._index = index
        for i, page in enumerate(self._pages):
            page.setVisible(i == index)


class Keypad(QFrame):
    """Digits (7-9 / 4-6 / 1-3 / . 0 ⌫, : and - for times and dates) and, for names and lot numbers, letters
    (``ABC`` / ``123`` switch pages). Types into the field set by :meth:`set_target`; Next moves on."""

    done = Signal()
    page_changed = Signal()  # digits <-> letters: the keypad's width changed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keypad")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.target: QWidget | None = None
        self.fields: list[QWidget] = []
        self.text_fields: set[int] = set()  # ids of fields that open on the letters page
        self.shift = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(4)
        self.caption = QLabel("", self)
        self.caption.setObjectName("muted")
        outer.addWidget(self.caption)
        # key widths (a style sheet's min-width wins over setMinimumSize): digits roomy, ten letters across
        self.setStyleSheet("QPushButton { padding: 2px; min-width: 52px; }")
        self.pages = _Pages(self)
        self.keys: dict[str, QPushButton] = {}
        digits = QWidget(self.pages)
        grid = QGridLayout(digits)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)
        for i, k in enumerate(("7", "8", "9", "4", "5", "6", "1", "2", "3", ".", "0", "⌫", ":", "-", "ABC")):
            if k == "⌫":
                slot = self._backspace
            elif k == "ABC":
                slot = self.show_letters
            else:
                slot = (lambda c=k: self._type(c))
            self.keys[k] = _key(k, digits, slot, accessible={"⌫": "Delete last character", "ABC": "Letters"}.get(k, k))
            grid.addWidget(self.keys[k], i // 3, i % 3)
        letters = QWidget(self.pages)
        letters.setStyleSheet("QPushButton { padding: 2px; min-width: 38px; }")
        lg = QGridLayout(letters)
        lg.setContentsMargins(0, 0, 0, 0)
        lg.setSpacing(4)
        for r, row in enumerate(LETTER_ROWS):
            for c, ch in enumerate(row):
                b = _key(ch.upper() if ch.isalpha() else ch, letters, lambda c=ch: self._type(c), accessible=ch)
                b.setMinimumSize(MIN_TARGET, MIN_TARGET + 4)
                self.keys["letter:" + ch] = b
                lg.addWidget(b, r, c)
        self.keys["Shift"] = _key("⇧", letters, self._toggle_shift, accessible="Capital letter")
        self.keys["Shift"].setCheckable(True)
        self.keys["123"] = _key("123", letters, self.show_digits, accessible="Digits")
        self.keys["Space"] = _key("Space", letters, lambda: self._type(" "))
        self.keys["letter:⌫"] = _key("⌫", letters, self._backspace, accessible="Delete last character")
        for b in (self.keys["Shift"], self.keys["123"], self.keys["Space"], self.keys["letter:⌫"]):
            b.setMinimumSize(MIN_TARGET, MIN_TARGET + 4)
        lg.addWidget(self.keys["Shift"], 3, 0, 1, 2)
        lg.addWidget(self.keys["123"], 3, 2, 1, 2)
        lg.addWidget(self.keys["Space"], 3, 4, 1, 4)
        lg.addWidget(self.keys["letter:⌫"], 3, 8, 1, 2)
        self.pages.addWidget(digits)
        self.pages.addWidget(letters)
        outer.addWidget(self.pages)
        bottom = QHBoxLayout()
        self.keys["Clear"] = _key("Clear", self, self._clear)
        self.keys["Next"] = _key("Next", self, self.next_field)
        self.keys["Done"] = _key("Done", self, self._done, name="primary")
        for k in ("Clear", "Next", "Done"):
            bottom.addWidget(self.keys[k])
        outer.addLayout(bottom)

    # --- pages ----------------------------------------------------------------------------------
    def show_digits(self) -> None:
        self.pages.setCurrentIndex(0)
        self.adjustSize()
        self.page_changed.emit()

    def show_letters(self) -> None:
        self.pages.setCurrentIndex(1)
        self.shift = self.target is None or not _text(self.target) or _text(self.target).endswith(" ")
        self._show_shift()
        self.adjustSize()
        self.page_changed.emit()

    def _toggle_shift(self) -> None:
        self.shift = not self.shift
        self._show_shift()

    def _show_shift(self) -> None:
        self.keys["Shift"].setChecked(self.shift)  # lit while the next letter is a capital

    # --- target ---------------------------------------------------------------------------------
    def set_fields(self, fields: Iterable[QWidget], text_fields: Iterable[QWidget] = ()) -> None:
        self.fields = list(fields)
        self.text_fields = {id(f) for f in text_fields}

    def set_target(self, field: QWidget | None) -> None:
        self.target = field
        name = ""
        if field is not None:
            name = field.accessibleName() or getattr(field, "placeholderText", lambda: "")()
            field.setFocus(Qt.FocusReason.MouseFocusReason)
            (self.show_letters if id(field) in self.text_fields else self.show_digits)()
        self.caption.setText(name)
        self.keys["Next"].setEnabled(field is not None and field in self.fields and field is not self.fields[-1])

    def _type(self, ch: str) -> None:
        if self.target is not None and self.target.isEnabled():
            if self.shift and ch.isalpha():
                ch = ch.upper()
            _insert(self.target, ch)
            self.shift = ch == " " and self.pages.currentIndex() == 1 and id(self.target) in self.text_fields
            self._show_shift()

    def _backspace(self) -> None:
        if self.target is not None and self.target.isEnabled():
            _backspace(self.target)

    def _clear(self) -> None:
        if self.target is not None and self.target.isEnabled():
            self.target.clear()

    def next_field(self) -> None:
        if self.target in self.fields:
            after = [f for f in self.fields[self.fields.index(self.target) + 1:] if f.isEnabled() and f.isVisible()]
            if after:
                self.set_target(after[0])
                if isinstance(self.target, QLineEdit):
                    self.target.selectAll()

    def _done(self) -> None:
        self.done.emit()

    def type_text(self, text: str) -> None:
        """Click the keys for ``text`` (tests and the scripted demo: the same path as a finger)."""
        for ch in text:
            for key in self.keys_for(ch):
                key.click()

    def keys_for(self, ch: str) -> list[QPushButton]:
        """The keys a finger presses, in order, to type ``ch`` from the current page and shift state."""
        digits_page = self.pages.currentIndex() == 0
        if ch in "0123456789:" or (ch in ".-" and digits_page):
            return ([] if digits_page else [self.keys["123"]]) + [self.keys[ch]]
        out = [self.keys["ABC"]] if digits_page else []
        shift = self.shift if not digits_page else True  # ABC: letters start capitalised on an empty field ...
        if digits_page and self.target is not None and _text(self.target) and not _text(self.target).endswith(" "):
            shift = False  # ... and small inside a word
        if ch == " ":
            return out + [self.keys["Space"]]
        if ch.isalpha() and ch.isupper() != shift:
            out.append(self.keys["Shift"])
        return out + [self.keys["letter:" + ch.lower()]]


NumericKeypad = Keypad  # the digits page is what numeric fields see first


class _TapToType(QObject):
    """Watches fields: a tap on one points the keypad at it (and shows a floating keypad)."""

    def __init__(self, keypad: Keypad, fields: list[QWidget], on_tap: Callable[[QWidget], None]) -> None:
        super().__init__(keypad)
        self.on_tap = on_tap
        self.by_watched: dict[int, QWidget] = {}
        for f in fields:
            watched = f.viewport() if isinstance(f, QPlainTextEdit) else f  # a text box's clicks land on its viewport
            self.by_watched[id(watched)] = f
            watched.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.MouseButtonRelease:
            field = self.by_watched.get(id(obj))
            if field is not None:
                self.on_tap(field)
        return False


def keypad_for_fields(keypad: Keypad, fields: list[QWidget], text_fields: Iterable[QWidget] = (),
                      on_tap: Callable[[QWidget], None] | None = None) -> None:
    """Tapping one of ``fields`` points ``keypad`` at it (letters first for ``text_fields``, else digits);
    typing on a keyboard still works as before."""
    text_fields = list(text_fields)
    keypad.set_fields(fields, text_fields)

    def tapped(field: QWidget) -> None:
        keypad.set_target(field)
        if on_tap is not None:
            on_tap(field)

    _TapToType(keypad, fields, tapped)
    for f in fields:
        if f.minimumHeight() < MIN_TARGET:
            f.setMinimumHeight(MIN_TARGET)


class FloatingKeypad(Keypad):
    """A keypad over a full screen, beside the field being typed in; Done (or leaving the screen) hides it."""

    def __init__(self, screen: QWidget, fields: list[QWidget], text_fields: Iterable[QWidget] = ()) -> None:
        super().__init__(screen)
        self.host = screen
        self.setObjectName("panel")  # the theme's panel: opaque, bordered, in the chair's colours
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.hide()
        keypad_for_fields(self, fields, text_fields, self.show_beside)
        self.done.connect(self.close_pad)
        screen.installEventFilter(self)

    def show_beside(self, field: QWidget) -> None:
        """Right of the field when there is room, else left of it; always inside the screen."""
        self.adjustSize()
        area = self.host.rect()
        top_left = field.mapTo(self.host, QPoint(0, 0))
        x = top_left.x() + field.width() + 8
        if x + self.width() > area.right():
            x = top_left.x() - self.width() - 8
        x = max(0, min(x, area.right() - self.width()))
        y = max(0, min(top_left.y(), area.bottom() - self.height()))
        self.move(x, y)
        self.raise_()
        self.show()

    def set_target(self, field: QWidget | None) -> None:
        super().set_target(field)
        if field is not None and self.isVisible():
            self.show_beside(field)

    def close_pad(self) -> None:
        self.hide()
        self.target = None

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if obj is self.host and event.type() == QEvent.Type.Hide:
            self.close_pad()
        return False


def attach_keypad(screen: QWidget, fields: list[QWidget], text_fields: Iterable[QWidget] = ()) -> FloatingKeypad:
    """A floating keypad for ``fields`` of a full screen (the pre-session's weight, vitals, dose, lot ...);
    ``text_fields`` (a subset) open on the letters page."""
    return FloatingKeypad(screen, fields, text_fields)


class TapChoice(QWidget):
    """A row of big buttons for one answer, in place of a QComboBox whose first item meant "unanswered".

    ``options`` are (value, label); :meth:`currentData` is the tapped value or "" when none is; index 0 is
    "unanswered" and index i the i-th option, as in the combo it replaces. Tapping the chosen button again
    takes the answer back (a mis-tap is undone with the same finger)."""

    currentIndexChanged = Signal(int)  # noqa: N815 - the QComboBox signal it stands in for

    def __init__(self, options: list[tuple[object, str]], parent: QWidget | None = None, *, name: str = "",
                 min_width: int = MIN_TARGET) -> None:
        super().__init__(parent)
        self.options = [(v, lbl) for v, lbl in options if v not in ("", None)]
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        self.group = QButtonGroup(self)
        self.group.setExclusive(False)  # exclusivity by hand, so a second tap can clear the answer
        self.buttons: list[QPushButton] = []
        for i, (value, label) in enumerate(self.options):
            b = QPushButton(label, self)
            b.setObjectName("score" if all(len(str(lbl)) <= 2 for _v, lbl in self.options) else "choice")
            b.setCheckable(True)
            b.setMinimumHeight(MIN_TARGET)  # no minimum width: a button never shrinks below its words
            b.setAutoDefault(False)
            b.setAccessibleName(f"{name}: {label}" if name else label)
            self.group.addButton(b, i + 1)
            row.addWidget(b)
            self.buttons.append(b)
        self.group.idClicked.connect(self._clicked)
        self._index = 0

    def showEvent(self, event) -> None:  # noqa: N802
        """The theme's button min-width is a fixed minimum that lets a layout cut the words: once styled (shown),
        each button's minimum is its words' width, and never under MIN_TARGET."""
        super().showEvent(event)
        for b in self.buttons:
            b.setMinimumWidth(max(MIN_TARGET, b.sizeHint().width()))

    def _clicked(self, index: int) -> None:
        self.setCurrentIndex(0 if index == self._index else index)

    def currentIndex(self) -> int:  # noqa: N802
        return self._index

    def setCurrentIndex(self, index: int) -> None:  # noqa: N802
        index = index if 0 <= index <= len(self.options) else 0
        for i, b in enumerate(self.buttons, start=1):
            b.setChecked(i == index)
        if index != self._index:
            self._index = index
            self.currentIndexChanged.emit(index)

    def currentData(self):  # noqa: N802, ANN201
        return self.options[self._index - 1][0] if self._index else ""

    def findData(self, value) -> int:  # noqa: N802, ANN001
        for i, (v, _label) in enumerate(self.options, start=1):
            if v == value or str(v) == str(value):
                return i
        return 0


class TapGrid(QWidget):
    """Items on rows, each answered by one tap on a :class:`TapChoice` (CADSS-6, PHQ-9)."""

    def __init__(self, items: list[str], options: list[tuple[object, str]], parent: QWidget | None = None, *,
                 columns: int = 1) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(4)
        self.rows: list[TapChoice] = []
        per_col = (len(items) + columns - 1) // columns
        for n, text in enumerate(items):
            r, c = n % per_col, 2 * (n // per_col)
            label = QLabel(text, self)
            label.setWordWrap(True)
            choice = TapChoice(options, self, name=text)
            grid.addWidget(label, r, c)
            grid.addWidget(choice, r, c + 1)
            self.rows.append(choice)
        for c in range(columns):
            grid.setColumnStretch(2 * c, 1)


class UserPicker(QWidget):
    """The chair's active users as buttons: tapping one fills the user id field (typing still works)."""

    picked = Signal(str)

    def __init__(self, users: list[dict], target: QLineEdit, parent: QWidget | None = None, *, limit: int = 12) -> None:
        super().__init__(parent)
        self.target = target
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)
        self.buttons: dict[str, QPushButton] = {}
        shown = sorted((u for u in users if u.get("active")), key=lambda u: (u.get("display_name") or u["user_id"]))
        for i, u in enumerate(shown[:limit]):
            b = QPushButton(u.get("display_name") or u["user_id"], self)
            b.setObjectName("userButton")
            b.setCheckable(True)  # shows whose name was tapped
            b.setMinimumHeight(MIN_TARGET + 4)
            b.setAutoDefault(False)
            b.setToolTip(u["user_id"])
            b.clicked.connect(lambda _=False, uid=u["user_id"]: self.pick(uid))
            self.buttons[u["user_id"]] = b
            grid.addWidget(b, i // 3, i % 3)

    def pick(self, user_id: str) -> None:
        for uid, b in self.buttons.items():
            b.setChecked(uid == user_id)
        self.target.setText(user_id)
        self.picked.emit(user_id)


def size_targets(root: QWidget) -> None:
    """Every tappable widget under ``root`` at least :data:`MIN_TARGET` px tall; list rows too; a drop-down's
    choices as tall as a button (its popup list gets a delegate that honours the theme's item height)."""
    for w in root.findChildren(QWidget):
        if isinstance(w, (QAbstractButton, QLineEdit, QComboBox, QAbstractSpinBox)) and w.minimumHeight() < MIN_TARGET:
            w.setMinimumHeight(MIN_TARGET)
        if isinstance(w, QComboBox) and not w.property("touchSized"):
            w.setProperty("touchSized", True)
            w.setItemDelegate(QStyledItemDelegate(w))
            w.view().setStyleSheet(f"QAbstractItemView::item {{ min-height: {MIN_TARGET}px; }}")
        if isinstance(w, QTableView) and w.verticalHeader().defaultSectionSize() < MIN_TARGET:
            w.verticalHeader().setDefaultSectionSize(MIN_TARGET)
        if isinstance(w, QAbstractItemView) and not isinstance(w, QTableView):
            pass  # list views keep their rows (read-only lists; the Charted list's rows are the session screen's)


class _SizeOnShow(QObject):
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Show and isinstance(obj, QWidget):
            size_targets(obj)
        return False


def touch_sized(*screens: QWidget) -> None:
    """Keep each screen's tap targets touch-sized whenever it is shown (its rows may have been rebuilt)."""
    for s in screens:
        f = _SizeOnShow(s)
        s.installEventFilter(f)
        size_targets(s)


__all__ = ["KEY_SIZE", "MIN_TARGET", "FloatingKeypad", "Keypad", "NumericKeypad", "PinPad", "TapChoice", "TapGrid",
           "UserPicker", "attach_keypad", "keypad_for_fields", "size_targets", "touch_sized"]

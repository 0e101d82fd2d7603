"""Accessible, comfortable screens, in one place so the screens themselves stay about charting.

- **Names and descriptions** (:func:`name_widgets`): every interactive widget gets an accessible name and
  description when its screen or dialog is shown, from what a sighted nurse reads: a button's words (without the
  key hint), the form label beside a field, a placeholder, the tooltip, or the attribute the screen keeps it
  under. A screen may set its own (``setAccessibleName``); this never overwrites one. :func:`unnamed` lists
  what is still missing (the accessibility test fails on any).
- **Focus order** (:func:`reading_order`): Tab moves through the visible widgets in reading order - rows top
  to bottom (widgets whose heights overlap are one row), left to right in a row.
- **Theme** (:class:`UiPrefs`): dark, light or the operating system's (Qt's colour scheme hint), remembered
  for the chair beside its chart file; the ◐ button steps dark -> light -> system.
- **Text size**: the OS font setting (the application font against the usual 10 pt) or a chosen 100 - 150 %,
  applied to the stylesheet's sizes; layouts grow rather than clip (tested at 125 % and 150 %). Larger than
  that is the OS display scaling's job (Qt scales the whole window with it).
- **Keys** (:class:`ChairKeys`): the chair screen's single-key commands are shortcuts on the whole screen, so
  they work wherever focus is inside it (the Charted list too), and ``?``/F1 shows them in an overlay.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollBar,
    QStackedWidget,
    QTabBar,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

INTERACTIVE = (QAbstractButton, QLineEdit, QComboBox, QAbstractSpinBox, QPlainTextEdit, QTextEdit,
               QAbstractItemView, QTabBar)
THEME_CHOICES = ("dark", "light", "system")
MAX_TEXT_SCALE = 150  # tested without clipping at 125 and 150 %; beyond, the OS display scaling enlarges everything
_KEY_HINT = re.compile(r"\s*\[[^\]]{1,3}\]\s*")
_SYMBOLS = re.compile(r"^[^\w]+|[…]+$")

# What each single key of the chair screen does, in the words of its buttons (the help overlay lists these).
CHAIR_KEYS = {
    "D": "Dissociation score", "S": "Sedation (MOAA/S) score", "N": "Nausea", "C": "CADSS-6", "T": "Note",
    "I": "Intervention", "V": "Manual vitals", "G": "Start", "P": "Pause / resume", "R": "Rate change",
    "Q": "Stop", "X": "Discharge check", "A": "Acknowledge the alert", "L": "Follow live on the plot",
}


# --- names and descriptions -------------------------------------------------------------------------------

def _interactive(w: QWidget) -> bool:
    if isinstance(w, QScrollBar) or _inside_item_view(w):  # a table's header and editors are the table's
        return False
    if isinstance(w.parentWidget(), (QComboBox, QAbstractSpinBox)):  # an editable combo's own line edit
        return False
    return isinstance(w, INTERACTIVE)


def _words(text: str) -> str:
    text = _KEY_HINT.sub(" ", text.replace("&&", "\x00").replace("&", "").replace("\x00", "&"))
    text = _SYMBOLS.sub("", text.strip()).strip()
    return re.sub(r"\s+", " ", text).rstrip(":").strip()


def _label_for(w: QWidget) -> str:
    parent = w.parentWidget()
    if parent is None:
        return ""
    for label in parent.findChildren(QLabel):
        if label.buddy() is w:
            return _words(label.text())
    layout = parent.layout()
    stack = [layout] if layout is not None else []
    while stack:
        lay = stack.pop()
        if isinstance(lay, QFormLayout):
            label = lay.labelForField(w)
            if isinstance(label, QLabel):
                return _words(label.text())
        index = lay.indexOf(w)
        if index >= 0 and isinstance(lay, QGridLayout):  # the label left of the field in the same row
            row, col, _, _ = lay.getItemPosition(index)
            item = lay.itemAtPosition(row, col - 1) if col > 0 else None
            if item is not None and isinstance(item.widget(), QLabel):
                return _words(item.widget().text())
        elif index > 0 and isinstance(lay.itemAt(index - 1).widget(), QLabel):  # "Label [field]" in a row
            return _words(lay.itemAt(index - 1).widget().text())
        for i in range(lay.count()):
            item = lay.itemAt(i)
            if item is not None and item.layout() is not None:
                stack.append(item.layout())
    return ""


def _attribute_name(w: QWidget) -> str:
    """The name a screen keeps the widget under (``self.entry_list`` -> "Entry list")."""
    node = w.parentWidget()
    while node is not None:
        for key, value in vars(node).items() if hasattr(node, "__dict__") else ():
            if value is w and not key.startswith("_"):
                return key.replace("_", " ").strip().capitalize()
        node = node.parentWidget()
    return ""


def derive_name(w: QWidget) -> str:
    if isinstance(w, QAbstractButton):
        text = _words(w.text())
        if re.search(r"\w", text):
            return text
    name = _label_for(w)
    if not name and isinstance(w, QLineEdit):
        name = _words(w.placeholderText())
    if not name and w.toolTip():
        name = _words(w.toolTip().split("(key")[0])
    return name or _attribute_name(w) or _words(w.objectName().replace("_", " "))


def derive_description(w: QWidget, name: str) -> str:
    tip = (w.toolTip() or "").strip()
    key = re.search(r"\(key (\w)\)", tip) or re.search(r"\[(\w)\]", w.text() if isinstance(w, QAbstractButton) else "")
    words = _words(tip.split("(key")[0]) if tip else ""
    if isinstance(w, QPushButton) and w.menu() is not None:
        base = words or f"Opens a menu: {', '.join(a.text().rstrip('…') for a in w.menu().actions() if a.text())}"
    elif isinstance(w, QAbstractButton):
        base = words if words and words != name else (
            f"{'Tick' if w.isCheckable() and not isinstance(w, QPushButton) else 'Press'} for {name.lower()}")
    elif isinstance(w, (QLineEdit, QPlainTextEdit, QTextEdit, QAbstractSpinBox)):
        base = words or f"Type the {name.lower()}"
    elif isinstance(w, QComboBox):
        base = words or f"Choose the {name.lower()}"
    elif isinstance(w, QAbstractItemView):
        base = words or f"List: {name.lower()}; arrow keys move, Enter opens"
    else:
        base = words or name
    if key:
        base += f" (key {key.group(1).upper()})"
    return base


def name_widgets(root: QWidget) -> int:
    """Give every interactive widget under ``root`` (and ``root``) a name and description it lacks."""
    count = 0
    for w in [root, *root.findChildren(QWidget)]:
        if not _interactive(w):
            continue
        if not w.accessibleName():
            name = derive_name(w)
            if name:
                w.setAccessibleName(name)
                count += 1
        if not w.accessibleDescription() and w.accessibleName():
            w.setAccessibleDescription(derive_description(w, w.accessibleName()))
    return count


def unnamed(root: QWidget) -> list[str]:
    """Visible interactive widgets under ``root`` without an accessible name or description (for the test)."""
    out = []
    for w in root.findChildren(QWidget):
        if _interactive(w) and w.isVisibleTo(root) and not (w.accessibleName() and w.accessibleDescription()):
            out.append(f"{type(w).__name__} {w.objectName() or ''} {getattr(w, 'text', lambda: '')()!r}".strip())
    return out


# --- focus order ------------------------------------------------------------------------------------------

def _focusable(root: QWidget) -> list[QWidget]:
    return [w for w in root.findChildren(QWidget)
            if w.isVisibleTo(root) and w.isEnabled() and w.focusPolicy() & Qt.FocusPolicy.TabFocus
            and w.focusProxy() is None and not isinstance(w, QScrollBar) and _window_of(w) is _window_of(root)
            and not _inside_item_view(w)]


def _window_of(w: QWidget) -> QWidget:
    return w.window()


def _inside_item_view(w: QWidget) -> bool:
    node = w.parentWidget()
    while node is not None:
        if isinstance(node, QAbstractItemView):
            return True
        node = node.parentWidget()
    return False


def reading_rows(root: QWidget, widgets: list[QWidget]) -> list[QWidget]:
    """``widgets`` in reading order: rows top to bottom (overlapping heights are one row), then left to right."""
    placed = []
    for w in widgets:
        top_left = w.mapTo(root, w.rect().topLeft())
        placed.append((top_left.y(), top_left.y() + max(w.height(), 1), top_left.x(), w))
    placed.sort(key=lambda t: (t[0], t[2]))
    rows: list[list[tuple]] = []
    for item in placed:
        if rows and item[0] < min(r[1] for r in rows[-1]) - 2:
            rows[-1].append(item)
        else:
            rows.append([item])
    return [t[3] for row in rows for t in sorted(row, key=lambda t: t[2])]


def reading_order(root: QWidget) -> list[QWidget]:
    """Set Tab order under ``root`` to reading order; returns the widgets in that order."""
    ordered = reading_rows(root, _focusable(root))
    for a, b in zip(ordered, ordered[1:]):
        QWidget.setTabOrder(a, b)
    return ordered


def focus_chain(root: QWidget) -> list[QWidget]:
    """The visible focusable widgets under ``root`` in the order Tab visits them."""
    wanted = set(_focusable(root))
    if not wanted:
        return []
    start = reading_rows(root, list(wanted))[0]
    chain, w = [], start
    for _ in range(5000):
        if w in wanted and w not in chain:
            chain.append(w)
        w = w.nextInFocusChain()
        if w is start:
            break
    return chain


# --- preferences: theme and text size --------------------------------------------------------------------

class UiPrefs:
    """The chair's display choices, kept beside its chart (nurses share the chair, not the OS login)."""

    def __init__(self, path: Path | str) -> None:
        self.settings = QSettings(str(path), QSettings.Format.IniFormat)

    @classmethod
    def for_chart(cls, chart_path: Path | str) -> "UiPrefs":
        p = Path(chart_path)
        return cls(p.with_name(p.stem + "-display.ini"))

    @property
    def theme(self) -> str:
        value = str(self.settings.value("theme", "dark"))
        return value if value in THEME_CHOICES else "dark"

    @theme.setter
    def theme(self, value: str) -> None:
        if value not in THEME_CHOICES:
            raise ValueError(f"theme must be one of {', '.join(THEME_CHOICES)}")
        self.settings.setValue("theme", value)
        self.settings.sync()

    @property
    def text_scale(self) -> str:
        """"system" or a percentage ("125")."""
        value = str(self.settings.value("text_scale", "system"))
        return value if value == "system" or value.isdigit() and 100 <= int(value) <= MAX_TEXT_SCALE else "system"

    @text_scale.setter
    def text_scale(self, value: str) -> None:
        value = str(value)
        if not (value == "system" or value.isdigit() and 100 <= int(value) <= MAX_TEXT_SCALE):
            raise ValueError(f"text size is 'system' or a percentage from 100 to {MAX_TEXT_SCALE}")
        self.settings.setValue("text_scale", value)
        self.settings.sync()


def system_theme() -> str:
    """"dark" or "light" from the operating system's colour scheme (dark when it does not say)."""
    hints = QGuiApplication.styleHints()
    scheme = hints.colorScheme() if hasattr(hints, "colorScheme") else None
    return "light" if scheme == Qt.ColorScheme.Light else "dark"


def system_text_scale() -> float:
    """The OS text size setting, as the application font against the usual 10 pt (never below 100 %)."""
    app = QGuiApplication.instance()
    size = app.font().pointSizeF() if app is not None else -1
    return min(MAX_TEXT_SCALE / 100, max(1.0, size / 10.0)) if size > 0 else 1.0


def text_scale_of(prefs: UiPrefs) -> float:
    value = prefs.text_scale
    return system_text_scale() if value == "system" else int(value) / 100.0


# --- keys and their help ------------------------------------------------------------------------------------

class KeyHelp(QFrame):
    """The overlay listing the chair screen's keys (``?`` or F1 opens it; Esc, ``?`` or a click closes it)."""

    def __init__(self, parent: QWidget, keys: dict[str, str]) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.setAutoFillBackground(True)
        self.setAccessibleName("Keyboard shortcuts")
        self.setAccessibleDescription("The single keys that work on the chair screen")
        layout = QVBoxLayout(self)
        title = QLabel("Keys on the chair screen")
        title.setObjectName("title")
        layout.addWidget(title)
        self.text = QLabel("\n".join(f"{k}    {what}" for k, what in keys.items()) + "\n\n?  or F1    this help")
        self.text.setObjectName("steps")
        layout.addWidget(self.text)
        close = QPushButton("Close", self)
        close.setAccessibleName("Close the key help")
        close.setAccessibleDescription("Back to the chair screen (Esc)")
        close.clicked.connect(self.hide)
        layout.addWidget(close)
        self.hide()

    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
            return
        self.adjustSize()
        parent = self.parentWidget()
        self.move(max(0, (parent.width() - self.width()) // 2), max(0, (parent.height() - self.height()) // 2))
        self.show()
        self.raise_()

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Escape, Qt.Key.Key_Question, Qt.Key.Key_F1):
            self.hide()
            return
        super().keyPressEvent(event)


class ChairKeys(QObject):
    """Each key in ``screen.keys`` as a shortcut on the whole screen (focus anywhere inside it), plus the help."""

    def __init__(self, screen: QWidget) -> None:
        super().__init__(screen)
        self.screen = screen
        keys: dict[str, Callable] = getattr(screen, "keys", {})
        self.help = KeyHelp(screen, {k: CHAIR_KEYS.get(k, k) for k in keys})
        self.shortcuts = []
        for key, slot in keys.items():
            self._add(key, slot)
        for key in ("?", "F1"):
            self._add(key, self.help.toggle)
        self._add("Esc", self.help.hide)

    def _add(self, key: str, slot: Callable) -> None:
        sc = QShortcut(QKeySequence(key), self.screen)
        sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        sc.activated.connect(lambda slot=slot: slot())
        self.shortcuts.append(sc)


# --- wiring into the main window ---------------------------------------------------------------------------

class Accessibility(QObject):
    """Installed once by the main window: names, order, keys, theme and text size (see the module docstring)."""

    def __init__(self, window, prefs: UiPrefs | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.prefs = prefs or UiPrefs.for_chart(window.store.path)
        self.keys = ChairKeys(window.session)
        app = QApplication.instance()
        app.installEventFilter(self)
        hints = QGuiApplication.styleHints()
        self._scheme_hook = None
        if hasattr(hints, "colorSchemeChanged"):
            self._scheme_hook = hints.colorSchemeChanged.connect(lambda *_: self._os_changed())
        self._pending: set[int] = set()
        self._queued: list[QWidget] = []

    # theme and text size ------------------------------------------------------------------------------
    def resolved_theme(self, choice: str | None = None) -> str:
        choice = choice or self.prefs.theme
        return system_theme() if choice == "system" else choice

    def next_theme(self) -> str:
        """The ◐ button: dark -> light -> follow the system -> dark; remembered."""
        order = list(THEME_CHOICES)
        self.prefs.theme = order[(order.index(self.prefs.theme) + 1) % len(order)]
        return self.resolved_theme()

    @property
    def text_scale(self) -> float:
        return text_scale_of(self.prefs)

    def set_text_scale(self, value: str) -> None:
        self.prefs.text_scale = value
        self.window.apply_theme()

    def _os_changed(self) -> None:
        if self.prefs.theme == "system":
            self.window.set_theme(self.resolved_theme())

    # names and order on every window and page shown ------------------------------------------------------
    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Show and isinstance(obj, QWidget) and (
                obj.isWindow() or isinstance(obj.parentWidget(), QStackedWidget)):
            self.prepare(obj)
        return False

    def prepare(self, w: QWidget) -> None:
        name_widgets(w)
        if id(w) not in self._pending:  # order once laid out (after this show event)
            self._pending.add(id(w))
            self._queued.append(w)
            QTimer.singleShot(0, self._order_queued)

    def _order_queued(self) -> None:
        queued, self._queued = self._queued, []
        for w in queued:
            self._pending.discard(id(w))
            try:
                if w.isVisible():
                    name_widgets(w)
                    reading_order(w.window() if w.isWindow() else w)
            except RuntimeError:  # the widget was deleted meanwhile
                continue

    def shutdown(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        if self._scheme_hook is not None:
            QGuiApplication.styleHints().colorSchemeChanged.disconnect(self._scheme_hook)
            self._scheme_hook = None

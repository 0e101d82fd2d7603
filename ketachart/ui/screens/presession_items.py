"""The complete pre-session items (domain/records.py) as a box of Yes / No / Not asked rows, embedded in the
pre-session screen. An item nobody touched stays unanswered (it is not "No"); the chair service refuses the
dose while a required item is unanswered and names it. The widget holds only what was tapped."""

from __future__ import annotations

from PySide6.QtWidgets import QButtonGroup, QGridLayout, QGroupBox, QLabel, QPushButton, QWidget

from ...domain.records import ANSWERS, YES, items_for


class PresessionItemsBox(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Before dosing: ask the patient", parent)
        self.setObjectName("presessionItems")
        self._grid = QGridLayout(self)
        self._grid.setHorizontalSpacing(4)
        self._grid.setVerticalSpacing(2)
        self.buttons: dict[str, dict[str, QPushButton]] = {}
        self._groups: list[QButtonGroup] = []
        self._items = []
        self.set_patient("IV", None)

    def set_patient(self, route: str, sex: str | None) -> None:
        """Show the items that apply (route, sex), all unanswered: a fresh form for a new session."""
        while self._grid.count():
            w = self._grid.takeAt(0).widget()
            if w is not None:
                w.hide()  # gone at once, not when the event loop next runs (it showed over the new rows)
                w.deleteLater()
        self.buttons.clear()
        self._groups.clear()
        self._items = items_for(route, sex)
        half = (len(self._items) + 1) // 2  # two item columns: the box stays short under the three form columns
        for n, item in enumerate(self._items):
            row, base = n % half, 4 * (n // half)
            label = QLabel(item.question)
            label.setWordWrap(True)
            self._grid.addWidget(label, row, base)
            group = QButtonGroup(self)
            group.setExclusive(True)
            self.buttons[item.key] = {}
            for col, (code, words) in enumerate(ANSWERS.items(), start=1):
                b = QPushButton(words)
                b.setCheckable(True)
                b.setMinimumHeight(34)
                b.setAccessibleName(f"{item.question}: {words}")
                group.addButton(b)
                self._grid.addWidget(b, row, base + col)
                self.buttons[item.key][code] = b
            self._groups.append(group)
        self._grid.setColumnStretch(0, 1)
        self._grid.setColumnStretch(4, 1)

    def answers(self) -> dict[str, str]:
        """Item key -> "yes" | "no" | "not-asked", only for items someone answered."""
        out = {}
        for key, by_code in self.buttons.items():
            for code, b in by_code.items():
                if b.isChecked():
                    out[key] = code
        return out

    def answer_all_safe(self) -> None:
        """Tap the answer that lets dosing go ahead on every item (the scripted demo and UI tests)."""
        for item in self._items:
            self.buttons[item.key][YES if item.safe_answer == YES else "no"].setChecked(True)

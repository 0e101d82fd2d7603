"""'The monitor says another patient': the question the HL7 codec holds readings for, put to the nurse.

The codec holds every message naming another MRN than the open chart (``PatientMismatchEvent``); nothing of it
is charted until the nurse answers here: same patient (chart them on this chart) or not (drop them). One
question at a time; a question the device withdraws (connection closed, chart changed) closes by itself.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ...hardware.devices import PROTOCOL_LABELS
from .common import MessageLine, button


class PatientMismatchDialog(QDialog):
    def __init__(self, parent: QWidget | None, device: str, device_label: str, event, answer) -> None:
        super().__init__(parent)
        self.device, self.hold, self.on_answer = device, event, answer  # (never self.event: a Qt virtual)
        self.setWindowTitle("Another patient on the monitor? - KetaChart")
        self.setModal(True)
        box = QVBoxLayout(self)
        title = QLabel("Another patient on the monitor?")
        title.setObjectName("title")
        box.addWidget(title)
        self.text = QLabel(f"{device_label}: monitor says patient MRN {event.device_mrn}; "
                           f"this chart is {event.chart_mrn}.")
        self.text.setWordWrap(True)
        box.addWidget(self.text)
        where = f" from {event.location}" if event.location else ""
        self.detail = QLabel(f"{event.readings} reading(s){where} are held, not charted, until you answer. "
                             "Chart them only if this is the same patient (e.g. the monitor was admitted with "
                             "another number).")
        self.detail.setWordWrap(True)
        self.detail.setObjectName("muted")
        box.addWidget(self.detail)
        self.error = MessageLine()
        box.addWidget(self.error)
        row = QHBoxLayout()
        self.reject_button = button("Not this patient: drop them", lambda: self._answer(False), name="primary")
        self.accept_button = button("Same patient: chart them here", lambda: self._answer(True))
        row.addWidget(self.reject_button)
        row.addWidget(self.accept_button)
        box.addLayout(row)

    def _answer(self, accept: bool) -> None:
        from ...chair import USER_ERRORS

        try:
            self.on_answer(self.device, self.hold.hold_id, accept)
        except USER_ERRORS as exc:
            self.error.show_message(str(exc), "error")
            return
        self.done(1 if accept else 0)


class MismatchPrompts(QObject):
    """Puts each held "another patient" question to the nurse, one at a time, over whatever screen is up."""

    def __init__(self, controller, parent_widget: QWidget) -> None:
        super().__init__(parent_widget)
        self.c = controller
        self.parent_widget = parent_widget
        self.dialog: PatientMismatchDialog | None = None
        self.queue: list[tuple[str, object]] = []
        controller.patient_mismatch.connect(self.ask)
        controller.held_resolved.connect(self.resolved)

    def _label(self, device: str) -> str:
        conn = self.c.devices.connections.get(device) if self.c.devices is not None else None
        return PROTOCOL_LABELS.get(conn.protocol, device) if conn is not None else device.capitalize()

    def ask(self, device: str, event) -> None:
        self.queue.append((device, event))
        self._next()

    def _next(self) -> None:
        if self.dialog is not None or not self.queue:
            return
        device, event = self.queue.pop(0)
        if (device, event.hold_id) not in self.c.held:  # withdrawn while waiting
            return self._next()
        self.dialog = PatientMismatchDialog(self.parent_widget, device, self._label(device), event,
                                            self.c.resolve_patient_mismatch)
        self.dialog.finished.connect(self._closed)
        self.dialog.open()

    def _closed(self, _result: int) -> None:
        d, self.dialog = self.dialog, None
        if d is not None:
            d.deleteLater()
        self._next()

    def resolved(self, device: str, event) -> None:
        """Answered, or withdrawn by the device (its connection closed, the chart changed): the question goes."""
        self.queue = [(d, e) for d, e in self.queue if (d, e.hold_id) != (device, event.hold_id)]
        d = self.dialog
        if d is not None and (d.device, d.hold.hold_id) == (device, event.hold_id) and d.isVisible():
            d.done(2)

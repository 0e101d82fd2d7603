"""The Qt side of the chair: signals, the thread hop for device readings, and the live plot's data.

Every clinical rule, command, transaction, signature and alert lives in :class:`~ketachart.chair.ChairService`
(no Qt); :class:`ChairController` only turns its hooks into signals, hands it the readings the
:class:`~.bridge.ReadingBridge` brought to the GUI thread, and keeps :class:`~.livedata.LiveData` for the
screen. The commands a screen calls (``chart_sedation``, ``pause``, ``discharge_signing`` ...) are the
service's own methods, reached through this adapter.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal

from ..chair import USER_ERRORS, ChairService
from ..domain.readings import Reading
from .bridge import ReadingBridge
from .livedata import LiveData

# The service's commands and read-outs a screen may call through the controller.
COMMANDS = frozenset({
    "policy", "state", "unacknowledged", "audit_open_chart", "refresh", "patients",
    "session_in_progress", "planned", "chair_busy", "last_presession", "cancel_session", "pump_volume_infused", "current_rate", "remaining_at",
    "create_patient", "preview_dose", "predose_warning", "presession_signing", "presession_order",
    "save_presession", "baseline_over_limit", "start_infusion", "pause", "resume", "change_rate", "stop_infusion",
    "parse_time", "chart_dissociation", "chart_sedation", "chart_nausea", "chart_cadss6", "chart_note",
    "chart_intervention", "chart_manual_vitals", "amend_observation", "amend_rate_change", "acknowledge",
    "minutes_since_start", "evaluate", "discharge_signing", "discharge",
    "readiness", "discharge_chart", "start_needs", "predose_bp", "latest_bp", "monitor_streaming",
})


class ChairController(QObject):
    view_changed = Signal()
    alerts_changed = Signal()
    devices_changed = Signal(str, str)
    message = Signal(str, str)  # text, kind: saved | error | info
    discharge_due = Signal()
    session_closed = Signal(str)

    def __init__(self, chair: ChairService, bridge: ReadingBridge, parent: QObject | None = None) -> None:
        """``chair``'s device manager must deliver to ``bridge``, and its writer report through
        ``bridge.writer_report`` (the composition root wires both)."""
        super().__init__(parent)
        self.chair = chair
        self.bridge = bridge
        bridge.setParent(self)
        self.store = chair.store
        self.clock = chair.clock
        self.speed = chair.speed
        self.devices = chair.devices
        self.live = LiveData(gap_s=max(30.0, 1.5 * self.speed))
        self.chair.on_view_changed = self._view_changed
        self.chair.on_message = self.message.emit
        self.chair.on_discharge_due = self.discharge_due.emit
        self.chair.on_session_closed = self.session_closed.emit
        # manual vitals are drawn from the chart (hollow markers), never fed into the monitor's live traces
        self.vitals_saved = 0
        self.vitals_error = ""
        self.bridge.add_listener(self._on_readings)
        self.bridge.device_state.connect(self.devices_changed.emit)
        self.bridge.writer_report.connect(self._on_writer_report)

    def __getattr__(self, name: str):
        if name in COMMANDS:
            return getattr(self.chair, name)
        raise AttributeError(name)

    @property
    def writer(self):
        return self.chair.writer

    @property
    def session_id(self) -> str | None:
        return self.chair.session_id

    @property
    def view(self):
        return self.chair.view

    @property
    def signatures(self):
        return self.chair.signatures

    @signatures.setter
    def signatures(self, value) -> None:
        self.chair.signatures = value

    # --- lifecycle --------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        self.chair.shutdown()

    def open_session(self, session_id: str) -> None:
        self.live = LiveData(gap_s=self.live.hr.gap_s)
        self.live.load_history(self.chair.open_session(session_id))
        self._view_changed()

    def close_session(self) -> None:
        self.chair.close_session()

    def start_session(self, patient_id: str, route: str = "IV") -> str:
        """The service's start; a new pre-session shows no one's vitals until its session exists."""
        sid = self.chair.start_session(patient_id, route)
        if sid:
            self.live = LiveData(gap_s=self.live.hr.gap_s)
            self.live.load_history(self.store.readings(sid))
        else:
            self.live = LiveData(gap_s=self.live.hr.gap_s)
        self._view_changed()
        return sid

    def _view_changed(self) -> None:
        self.view_changed.emit()
        self.alerts_changed.emit()

    # --- readings (GUI thread, from the bridge) ------------------------------------------------------------
    def _on_readings(self, batch: list[Reading]) -> None:
        self.live.feed(batch)
        self.chair.feed(batch)

    def _on_writer_report(self, committed: int, error: str) -> None:
        self.vitals_saved, self.vitals_error = committed, error

    def tick(self) -> None:
        """Once a second (GUI timer): the service's monitor-silent rule and discharge offer."""
        self.chair.tick()

    # --- commands ---------------------------------------------------------------------------------
    def attempt(self, fn: Callable, *args, **kwargs):
        """Run a command; a problem the nurse can fix becomes a message (and nothing is saved)."""
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            self.message.emit(str(exc), "error")
            return None

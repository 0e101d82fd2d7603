"""Patients and courses: search, new patient, the course with its sessions, phase, next due and PHQ-9 trend."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .. import viewmodels as vm
from ..controller import ChairController
from ..theme import Palette
from ...chair import USER_ERRORS
from .common import Field, FormDialog, MessageLine, button


class PatientsScreen(QWidget):
    session_opened = Signal(str)

    def __init__(self, controller: ChairController, palette: Palette, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("screen")
        self.c = controller
        self.pal = palette
        self.dialog = None
        self._patients: list[dict] = []
        root = QHBoxLayout(self)
        root.setContentsMargins(10, 8, 10, 8)
        root.setSpacing(10)

        left = QVBoxLayout()
        title = QLabel("Patients")
        title.setObjectName("title")
        left.addWidget(title)
        row = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name or MRN")
        self.search.textChanged.connect(self.reload)
        row.addWidget(self.search, 1)
        row.addWidget(button("New patient…", self.open_new_patient))
        row.addWidget(button("REMS forms due…", self.open_rems_due))  # issue 16
        left.addLayout(row)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Name", "MRN", "Born", "Sex"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(46)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.itemSelectionChanged.connect(self.show_course)
        left.addWidget(self.table, 1)
        self.message = MessageLine()
        left.addWidget(self.message)
        root.addLayout(left, 3)

        right = QFrame()
        right.setObjectName("panel")
        rl = QVBoxLayout(right)
        self.course_title = QLabel("Select a patient")
        self.course_title.setObjectName("title")
        self.course_title.setWordWrap(True)
        rl.addWidget(self.course_title)
        self.phase = QLabel()
        self.phase.setWordWrap(True)
        rl.addWidget(self.phase)
        self.next_due = QLabel()
        self.next_due.setObjectName("warnText")
        rl.addWidget(self.next_due)
        self.flag = QLabel()
        self.flag.setObjectName("error")
        self.flag.setWordWrap(True)
        rl.addWidget(self.flag)
        lab = QLabel("Sessions")
        lab.setObjectName("numLabel")
        rl.addWidget(lab)
        self.sessions = QListWidget()
        rl.addWidget(self.sessions, 2)
        from ..summary_actions import SummaryActions

        self.summary = SummaryActions(self, self.c.store, self.selected_finished_session, self.message.show_message,
                                      text="Print / PDF of the selected session…")
        self.summary.button.setEnabled(False)
        self.sessions.currentItemChanged.connect(
            lambda *_: self.summary.button.setEnabled(self.selected_finished_session() is not None))
        rl.addWidget(self.summary.button)
        lab = QLabel("PHQ-9 totals")
        lab.setObjectName("numLabel")
        rl.addWidget(lab)
        from ..plot_phq import PhqTrend

        self.phq_plot = PhqTrend(palette)  # drawn without a plotting library: the first screen starts fast
        rl.addWidget(self.phq_plot, 1)
        buttons = QHBoxLayout()
        self.iv_button = button("Start IV session", lambda: self.start("IV"), name="primary")
        self.in_button = button("Start intranasal session", lambda: self.start("IN"))
        buttons.addWidget(self.iv_button)
        buttons.addWidget(self.in_button)
        rl.addLayout(buttons)
        root.addWidget(right, 2)
        self.apply_palette(palette)

    def apply_palette(self, pal: Palette) -> None:
        self.pal = pal
        self.phq_plot.apply_palette(pal)

    def reload(self, select_id: str | None = None) -> None:
        """Refill the list keeping the selected patient by id (never by row): new rows written in the
        background (the demo, a sync) never move the selection to someone else."""
        keep = select_id or (self.selected() or {}).get("patient_id")
        self._patients = self.c.patients(self.search.text() or None)
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(self._patients))
        for i, p in enumerate(self._patients):
            for j, text in enumerate((f"{p['family_name'].upper()}, {p['given_name']}", p["mrn"], p["birth_date"], p["sex"])):
                self.table.setItem(i, j, QTableWidgetItem(text))
        rows = [i for i, p in enumerate(self._patients) if p["patient_id"] == keep]
        if rows:
            self.table.selectRow(rows[0])
        elif self._patients:
            self.table.selectRow(0)
        self.table.blockSignals(False)
        self.show_course()

    def select_patient(self, patient_id: str) -> None:
        self.reload(select_id=patient_id)

    def selected(self) -> dict | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self._patients):
            return None
        return self._patients[rows[0].row()]

    def select_mrn(self, mrn: str) -> None:
        for i, p in enumerate(self._patients):
            if p["mrn"] == mrn:
                self.table.selectRow(i)

    def show_course(self) -> None:
        p = self.selected()
        self.iv_button.setEnabled(p is not None)
        self.in_button.setEnabled(p is not None)
        if p is None:
            self.course_title.setText("Select a patient")
            self.sessions.clear()
            self.phq_plot.set_scores([], self.c.clock.now().timestamp())
            return
        course = vm.course_vm(self.c.store, p["patient_id"], self.c.clock.now())
        weight = f" · {p['weight_kg']:g} kg" if p.get("weight_kg") else ""
        self.course_title.setText(f"{p['family_name'].upper()}, {p['given_name']}  ·  MRN {p['mrn']}{weight}")
        self.phase.setText(course.phase)
        self.next_due.setText(course.next_due)
        self.flag.setText("⚠ Last PHQ-9: item 9 (self-harm thoughts) above 0" if course.phq9_flag else "")
        self.sessions.clear()
        self.c.audit_open_chart(p["patient_id"])  # the course view is the patient's chart
        for s in reversed(course.sessions):
            item = QListWidgetItem(f"#{s['n']}  {s['date'].astimezone().strftime('%a %d %b %Y %H:%M')}  {s['route']}  "
                                   f"{vm.STATE_LABELS.get(s['state'], s['state'].value)}")
            item.setData(Qt.ItemDataRole.UserRole, (s["id"], s["state"].is_final))
            self.sessions.addItem(item)
        self.phq_plot.set_scores(course.phq9, self.c.clock.now().timestamp())
        if course.open_session_id:
            self.iv_button.setText("Resume open session")
            self.in_button.setEnabled(False)
        else:
            self.iv_button.setText("Start IV session")

    def open_rems_due(self) -> None:
        from ..records_actions import RemsDueDialog

        self.dialog = RemsDueDialog(self.c.store, self)
        self.dialog.open()

    def selected_finished_session(self) -> str | None:
        """The session picked in the course list, when it has ended (its summary is a final record)."""
        item = self.sessions.currentItem()
        data = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return data[0] if data and data[1] else None

    def start(self, route: str) -> str | None:
        p = self.selected()
        if p is None:
            return None
        try:
            sid = self.c.start_session(p["patient_id"], route)
        except USER_ERRORS as exc:  # e.g. another patient's session is under way at this chair
            self.message.show_message(str(exc), "error")
            return None
        self.message.clear()
        if sid is not None:  # '' is a new pre-session (nothing stored yet)
            self.session_opened.emit(sid)
        return sid

    def open_new_patient(self) -> None:
        def submit(v: dict) -> None:
            row = self.c.create_patient(v["mrn"], v["family"], v["given"], v["dob"], v["sex"], v["weight"])
            self.search.setText("")
            self.reload(select_id=row["patient_id"])
            self.message.show_message(f"Patient {v['family']}, {v['given']} saved", "saved")

        self.dialog = FormDialog(self, "New patient", [
            Field("mrn", "MRN"), Field("family", "Family name"), Field("given", "Given name"),
            Field("dob", "Date of birth", placeholder="YYYY-MM-DD"),
            Field("sex", "Sex", "taps", "", [("female", "female"), ("male", "male"), ("other", "other"),  # no default
                                                     ("unknown", "unknown")]),
            Field("weight", "Weight (kg)"),
        ], submit)
        self.dialog.open()

"""Pre-session: checks, weight, baseline vitals, optional PHQ-9, the dose calculator, the prescriber's order, lot
and waste."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ...domain.codes import Parameter
from ...domain.vocabulary import PRECHECK_LABELS
from ...chair import USER_ERRORS, PresessionForm
from ..controller import ChairController
from ..signing import SigningRun
from .common import Field, FormDialog, MessageLine, WrappedLabel, button, screen_layout
from .presession_items import PresessionItemsBox
from ..touch import TapChoice, attach_keypad

REMS = tuple((k, PRECHECK_LABELS[f"rems_{k}"])  # the paper's words (domain.vocabulary), one truth
             for k in ("benzodiazepines", "sedative_hypnotics", "psychostimulants", "maois", "opioids"))
PHQ9_SHORT = ("Little interest", "Feeling down", "Sleep", "Tired", "Appetite", "Feeling bad about self",
              "Concentration", "Slow / restless", "Thoughts of self-harm")


class PresessionScreen(QWidget):
    done = Signal()
    want_patients = Signal()

    def __init__(self, controller: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.c = controller
        self.dialog = None
        self._last = None  # (date, PresessionForm) this patient's last pre-session, for the copy button
        root, self.title = screen_layout(self, "Pre-session", "Patients", self.want_patients.emit)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        body.setObjectName("screen")
        grid = QGridLayout(body)
        grid.setSpacing(10)
        scroll.setWidget(body)
        # three columns, so everything needed to dose fits 1280x800 without scrolling: checks | weight, baseline
        # and waste | the dose calculator; the optional PHQ-9 runs underneath in three short columns.
        cols = [QVBoxLayout() for _ in range(3)]
        for i, col in enumerate(cols):
            col.setSpacing(10)
            grid.addLayout(col, 0, i)
        root.addWidget(scroll, 1)

        # checks
        checks = QGroupBox("Checks")
        f = QFormLayout(checks)
        self.consent = QCheckBox(PRECHECK_LABELS["consent_on_file"])
        self.fasting = QLineEdit()
        self.fasting.setPlaceholderText("hours")
        self.meds = QLineEdit()
        self.meds.setPlaceholderText("current medications")
        self.rems = {k: QCheckBox(label) for k, label in REMS}
        rems_box = QGridLayout()
        for i, cb in enumerate(self.rems.values()):
            rems_box.addWidget(cb, i // 2, i % 2)
        self.escort_name = QLineEdit()
        self.escort_phone = QLineEdit()
        self.no_driving = QCheckBox(PRECHECK_LABELS["no_driving_acknowledged"])
        f.addRow(self.consent)
        f.addRow(PRECHECK_LABELS["fasting_hours"], self.fasting)
        f.addRow(PRECHECK_LABELS["current_meds"], self.meds)
        f.addRow(QLabel("REMS: concomitant (tick if taking)"))
        f.addRow(rems_box)
        f.addRow(PRECHECK_LABELS["escort_name"], self.escort_name)
        f.addRow(PRECHECK_LABELS["escort_phone"], self.escort_phone)
        f.addRow(self.no_driving)
        cols[0].addWidget(checks)
        self.items = PresessionItemsBox()  # issue 16: the complete pre-session items, under the three columns
        grid.addWidget(self.items, 1, 0, 1, 3)
        cols[0].addStretch(1)

        # weight + baseline
        base = QGroupBox("Weight and baseline vitals")
        f = QFormLayout(base)
        self.weight = QLineEdit()
        self.weight.setPlaceholderText("kg, weighed today")
        self.b_sys, self.b_dia, self.b_hr, self.b_spo2 = QLineEdit(), QLineEdit(), QLineEdit(), QLineEdit()
        bp = QHBoxLayout()
        bp.addWidget(self.b_sys)
        bp.addWidget(QLabel("/"))
        bp.addWidget(self.b_dia)
        f.addRow(PRECHECK_LABELS["weight_kg"], self.weight)
        f.addRow("BP (mmHg)", bp)
        f.addRow("HR (/min)", self.b_hr)
        f.addRow("SpO2 (%)", self.b_spo2)
        self.from_monitor = button("Take from monitor", self.take_from_monitor)
        self.baseline_source = "typed"
        f.addRow(self.from_monitor)
        self.predose = QLabel()
        self.predose.setObjectName("warnText")
        self.predose.setWordWrap(True)
        f.addRow(self.predose)
        cols[1].addWidget(base)

        # PHQ-9
        phq = QGroupBox("PHQ-9 (optional, 0-3 each)")
        pg = QGridLayout(phq)
        self.phq = []
        for i, label in enumerate(PHQ9_SHORT):
            cb = TapChoice([(str(v), str(v)) for v in range(4)], name=f"PHQ-9 item {i + 1}")  # one tap per item
            cb.currentIndexChanged.connect(self.update_phq)
            lab = QLabel(f"{i + 1}. {label}")
            lab.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            pg.addWidget(lab, i % 3, 2 * (i // 3))
            pg.addWidget(cb, i % 3, 2 * (i // 3) + 1)
            self.phq.append(cb)
        self.phq_total = QLabel("")
        self.phq_total.setObjectName("warnText")
        self.phq_total.setWordWrap(True)
        pg.addWidget(self.phq_total, 3, 0, 1, 6)
        for c in (0, 2, 4):
            pg.setColumnStretch(c, 1)
        grid.addWidget(phq, 2, 0, 1, 3)

        # dose
        dose = QGroupBox("Dose")
        f = QFormLayout(dose)
        routes = QVBoxLayout()  # stacked: the column is a third of a 1280 px screen
        routes.setSpacing(0)
        self.iv = QRadioButton("IV ketamine")
        self.intranasal = QRadioButton("Intranasal esketamine")
        self.iv.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.iv)
        group.addButton(self.intranasal)
        routes.addWidget(self.iv)
        routes.addWidget(self.intranasal)
        f.addRow(routes)
        p = self.c.policy
        self.mg_per_kg = QLineEdit(f"{p.mg_per_kg_default:g}")
        self.conc = QLineEdit(f"{p.concentration_mg_per_ml_default:g}")
        self.minutes = QLineEdit(str(p.infusion_min_default))
        self.in_dose = QComboBox()
        for d in p.intranasal_doses_mg:
            self.in_dose.addItem(f"{d} mg ({d // 28} devices)", str(d))
        f.addRow("mg/kg", self.mg_per_kg)
        f.addRow("Concentration (mg/mL)", self.conc)
        f.addRow("Duration (min)", self.minutes)
        f.addRow("Intranasal dose", self.in_dose)
        self.steps = WrappedLabel()
        self.steps.setObjectName("steps")
        self.steps.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        f.addRow(self.steps)
        cols[2].addWidget(dose)

        # issue 16: the prescriber's order the dose cites - the course's standing order in force, or the dose
        # above signed as the course's new order by a prescriber (first signature of "Sign and save")
        order = QGroupBox("Prescriber's order")
        f = QFormLayout(order)
        self.order_status = QLabel()
        self.order_status.setObjectName("orderStatus")
        self.order_status.setWordWrap(True)
        self.new_order = QCheckBox("Prescriber signs it now")  # short: a long box text widened the column off screen
        self.new_order.setToolTip("A prescriber signs the dose above as this course's order now")
        self.new_order.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.new_order.setAccessibleName("A prescriber signs the dose above as this course's order now")
        self.order_prescriber = QLineEdit()
        self.order_prescriber.setPlaceholderText("prescriber's user id (they sign with their own PIN)")
        self.order_prescriber.setAccessibleName("Prescriber's user id")
        self.new_order.toggled.connect(self.update_order)
        f.addRow(self.order_status)
        f.addRow(self.new_order)
        f.addRow("Prescriber", self.order_prescriber)
        cols[2].addWidget(order)
        cols[2].addStretch(1)

        # the vial the dose is drawn from (issue 16): its lot, strength, size and expiry make the controlled-
        # substance record, let the vial be reconciled (vial = given + wasted) and refuse an expired lot
        vial = QGroupBox("Vial (controlled substance)")
        f = QFormLayout(vial)
        self.lot = QLineEdit()
        self.vial_strength = QLineEdit()
        self.vial_strength.setPlaceholderText("mg/mL")
        self.vial_ml = QLineEdit()
        self.vial_ml.setPlaceholderText("mL")
        self.expiry = QLineEdit()
        self.expiry.setPlaceholderText("YYYY-MM-DD")
        f.addRow("Lot number", self.lot)
        f.addRow("Strength (mg/mL)", self.vial_strength)
        f.addRow("Vial size (mL)", self.vial_ml)
        f.addRow("Expiry", self.expiry)
        cols[1].addWidget(vial)

        waste = QGroupBox("Waste (controlled substance)")
        f = QFormLayout(waste)
        self.waste_mg = QLineEdit()
        self.waste_mg.setPlaceholderText("mg, 0 if none")
        self.waste_method = QComboBox()
        self.waste_method.setEditable(True)
        self.waste_method.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.waste_method.setMinimumContentsLength(10)  # long choices must not widen the column off screen
        self.waste_method.currentIndexChanged.connect(lambda _i: self.waste_method.lineEdit().setCursorPosition(0))
        for m in ("", "sharps container, rendered unrecoverable", "drug disposal pouch", "returned to pharmacy"):
            self.waste_method.addItem(m)
        self.waste_witness = QLineEdit()
        self.waste_witness.setPlaceholderText("witness's user id (they sign with their own PIN)")
        f.addRow("Amount (mg)", self.waste_mg)
        f.addRow("Method", self.waste_method)
        f.addRow("Witness", self.waste_witness)
        cols[1].addWidget(waste)
        cols[1].addStretch(1)
        for col in range(3):
            grid.setColumnStretch(col, 1)

        bottom = QHBoxLayout()
        self.message = MessageLine()
        bottom.addWidget(self.message, 1)
        self.copy_button = button("Copy from last session", self.copy_from_last)
        bottom.addWidget(self.copy_button)
        bottom.addWidget(button("Cancel session", self.cancel))
        self.submit_button = button("Sign and save checks and dose", self.submit, name="primary")
        self._signing: SigningRun | None = None  # the signatures being asked for (see sign_dialog)
        bottom.addWidget(self.submit_button)
        root.addLayout(bottom)

        # touch (issue 12): tapping a field opens a keypad beside it (digits, or letters for words)
        self.keypad = attach_keypad(self, [self.fasting, self.meds, self.escort_name, self.escort_phone, self.weight,
                                           self.b_sys, self.b_dia, self.b_hr, self.b_spo2, self.waste_mg,
                                           self.waste_witness, self.mg_per_kg, self.conc, self.minutes, self.lot,
                                           self.vial_strength, self.vial_ml, self.expiry, self.order_prescriber],
                                    text_fields=[self.meds, self.escort_name, self.waste_witness, self.lot,
                                                 self.order_prescriber])
        for w in (self.weight, self.mg_per_kg, self.conc, self.minutes, self.b_sys, self.b_dia):
            w.textChanged.connect(self.update_preview)
        for w in (self.iv, self.intranasal):
            w.toggled.connect(self.update_preview)
        self.in_dose.currentIndexChanged.connect(self.update_preview)

    def load(self) -> None:
        """A new pre-session: every field empty except the clinic's defaults (nothing carried over from the
        last patient); "Copy from last session" offers this patient's own last pre-session, with its date."""
        v, planned = self.c.view, self.c.planned
        if planned is not None and v is None:
            p, number, route = planned.patient, planned.number, planned.route
        elif v is not None:
            p, number, route = v.patient, v.session_number, v.session["route"]
        else:
            return
        self.title.setText(f"Pre-session · {p['family_name'].upper()}, {p['given_name']} · MRN {p['mrn']} · "
                           f"session {number}")
        self.reset()  # every opening starts clean: nothing typed for someone else survives
        self._last = self.c.last_presession(p["patient_id"])
        if self._last is None:
            self.copy_button.setText("Copy from last session")
            self.copy_button.setEnabled(False)
            self.copy_button.setToolTip("this patient has no earlier pre-session")
        else:
            when = self._last[0].astimezone()
            self.copy_button.setText(f"Copy from last session ({when:%d %b %Y})")
            self.copy_button.setEnabled(True)
            self.copy_button.setToolTip("medications, REMS answers, escort and dose settings; "
                                        "never weight, vitals, consent, the vial or waste")
        (self.intranasal if route == "IN" else self.iv).setChecked(True)
        self.items.set_patient(route, p.get("sex"))  # issue 16: fresh items for this session
        self.update_order()
        self.update_preview()

    def reset(self) -> None:
        """Empty every field; the clinic's defaults for concentration, mg/kg and duration."""
        p = self.c.policy
        for cb in (self.consent, self.no_driving, *self.rems.values()):
            cb.setChecked(False)
        for w in (self.fasting, self.meds, self.escort_name, self.escort_phone, self.weight, self.b_sys, self.b_dia,
                  self.b_hr, self.b_spo2, self.lot, self.vial_strength, self.vial_ml, self.expiry, self.waste_mg,
                  self.waste_witness, self.order_prescriber):
            w.clear()
        self.new_order.setChecked(False)
        self.waste_method.setCurrentIndex(0)
        self.waste_method.setEditText("")
        for cb in self.phq:
            cb.setCurrentIndex(0)
        self.mg_per_kg.setText(f"{p.mg_per_kg_default:g}")
        self.conc.setText(f"{p.concentration_mg_per_ml_default:g}")
        self.minutes.setText(str(p.infusion_min_default))
        self.in_dose.setCurrentIndex(0)
        self.baseline_source = "typed"
        self.message.clear()
        self.predose.clear()
        self.phq_total.clear()

    def copy_from_last(self) -> None:
        """Fill what may be copied from this patient's own last pre-session (the nurse checks it)."""
        if not self._last:
            return
        when, f = self._last
        self.meds.setText(f.current_meds)
        for k, cb in self.rems.items():
            cb.setChecked(bool(f.rems.get(k)))
        self.escort_name.setText(f.escort_name)
        self.escort_phone.setText(f.escort_phone)
        if f.mg_per_kg:
            self.mg_per_kg.setText(f.mg_per_kg)
        if f.concentration:
            self.conc.setText(f.concentration)
        if f.minutes:
            self.minutes.setText(f.minutes)
        if f.route == "IN" and f.in_dose_mg:
            self.in_dose.setCurrentIndex(max(0, self.in_dose.findData(f.in_dose_mg)))
        self.message.show_message(f"copied from the session of {when.astimezone():%d %b %Y}: check each item", "info")

    def cancel(self) -> None:
        """Leave this pre-session: unsaved, nothing is stored; a stored one not yet started ends with a reason."""
        if self.c.view is None:
            self.c.cancel_session()
            self.want_patients.emit()
            return

        def submit(v: dict) -> None:
            self.c.cancel_session(v["reason"])
            self.want_patients.emit()

        self.dialog = FormDialog(self, "Cancel this session", [Field("reason", "Reason")], submit,
                                 submit_text="Cancel session", intro="The session stays on the chart as cancelled.")
        self.dialog.open()

    def form(self) -> PresessionForm:
        return PresessionForm(
            consent=self.consent.isChecked(), fasting_hours=self.fasting.text(), current_meds=self.meds.text(),
            rems={k: cb.isChecked() for k, cb in self.rems.items()}, escort_name=self.escort_name.text(),
            escort_phone=self.escort_phone.text(), no_driving=self.no_driving.isChecked(), weight_kg=self.weight.text(),
            baseline_sys=self.b_sys.text(), baseline_dia=self.b_dia.text(), baseline_hr=self.b_hr.text(),
            baseline_spo2=self.b_spo2.text(), baseline_source=self.baseline_source,
            phq9_items=[cb.currentData() for cb in self.phq] if any(cb.currentData() for cb in self.phq) else [],
            route="IN" if self.intranasal.isChecked() else "IV", mg_per_kg=self.mg_per_kg.text(),
            concentration=self.conc.text(), minutes=self.minutes.text(), in_dose_mg=self.in_dose.currentData(),
            lot=self.lot.text(), waste_mg=self.waste_mg.text(), waste_method=self.waste_method.currentText(),
            waste_witness=self.waste_witness.text(), items=self.items.answers(),
            vial_strength_mg_per_ml=self.vial_strength.text(), vial_ml=self.vial_ml.text(), expiry=self.expiry.text(),
            order_prescriber=self.order_prescriber.text().strip() if self.new_order.isChecked() else "",
        )

    def update_order(self) -> None:
        """Say which order the dose will cite: the course's order in force, or none (and whether one is needed);
        the prescriber field is for a new order only."""
        words = self.c.presession_order()
        if self.new_order.isChecked():
            text = "New order: the prescriber signs the dose above first (their own user id and PIN)."
            if words:
                text += f" It replaces: {words}."
            self.order_status.setObjectName("")
        elif words:
            text = f"Order in force: {words}. The dose must match it."
            self.order_status.setObjectName("")
        else:
            needed = self.c.policy.order_required_before_dose
            text = "No signed order for this course" + (": a prescriber must sign one before dosing." if needed else ".")
            self.order_status.setObjectName("warnText" if needed else "")
        self.order_status.setText(text)
        self.order_status.style().unpolish(self.order_status)
        self.order_status.style().polish(self.order_status)
        self.order_prescriber.setEnabled(self.new_order.isChecked())

    def update_preview(self) -> None:
        iv = self.iv.isChecked()
        for w in (self.mg_per_kg, self.conc, self.minutes):
            w.setEnabled(iv)
        self.in_dose.setEnabled(not iv)
        try:
            dose = self.c.preview_dose(self.form())
            self.steps.setText("\n".join(dose.steps))
            self.steps.setObjectName("steps")
        except USER_ERRORS as exc:
            self.steps.setText(f"✖ {exc}")
        warning = self.c.predose_warning(self.b_sys.text(), self.b_dia.text())
        self.predose.setText(f"⚠ {warning}" if warning else "")

    def update_phq(self) -> None:
        values = [cb.currentData() for cb in self.phq]
        if not any(values):
            self.phq_total.setText("")
            return
        total = sum(int(v) for v in values if v)
        flag = "  ⚠ ITEM 9 > 0: thoughts of self-harm - assess now" if values[8] and int(values[8]) > 0 else ""
        missing = "" if all(values) else f" ({sum(1 for v in values if not v)} unanswered)"
        self.phq_total.setText(f"Total {total}/27{missing}{flag}")

    def take_from_monitor(self) -> None:
        live = self.c.live
        bp = live.last_nibp()
        hr = live.latest.get(Parameter.HR)
        sp = live.latest.get(Parameter.SPO2)
        if bp is None and hr is None:
            self.message.show_message("no monitor readings yet; type the baseline or start a cuff cycle", "error")
            return
        if bp:
            self.b_sys.setText(f"{bp[1]:.0f}")
            self.b_dia.setText(f"{bp[2]:.0f}")
        if hr and hr.value is not None:
            self.b_hr.setText(f"{hr.value:.0f}")
        if sp and sp.value is not None:
            self.b_spo2.setText(f"{sp.value:.0f}")
        self.baseline_source = "monitor"
        self.message.show_message("baseline taken from the monitor (check it)", "info")

    def submit(self) -> bool:
        """Validate the whole form, then the e-signatures: for a new order the prescriber signs it first; the
        nurse signs the dose ("performed") with their own PIN and, when there is waste, the witness signs it
        ("witnessed") with theirs. Nothing is saved until all are signed. Returns True when the first PIN dialog (``sign_dialog``) was opened."""
        if self.new_order.isChecked() and not self.order_prescriber.text().strip():
            self.message.show_message("type the prescriber's user id: they sign the order with their own PIN", "error")
            return False
        try:
            flow = self.c.presession_signing(self.form())
        except USER_ERRORS as exc:
            self.message.show_message(str(exc), "error")
            return False
        self._signing = SigningRun(self, self.c.signatures, flow, self.done.emit,
                                   lambda text: self.message.show_message(text, "error")).start()
        return True

    @property
    def sign_dialog(self):
        """The PIN dialog while one is open (tests and the autoplay fill it)."""
        return self._signing.dialog if self._signing is not None else None

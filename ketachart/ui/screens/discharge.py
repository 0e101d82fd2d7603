"""The discharge check: the ketamine checklist, modified PADSS with scores, override rules and the signature."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ...chair import USER_ERRORS, baseline_bp
from ...domain.discharge import NURSE_ITEMS, Finding
from ...domain.scales import PADSS_ITEMS
from ..controller import ChairController
from ..signing import SigningRun
from ..viewmodels import local
from .common import MessageLine, button, screen_layout

LEVELS = {Finding.MET: "saved", Finding.NOT_YET: "muted", Finding.UNTICKED: "muted"}


class DischargeScreen(QWidget):
    """What the chart says about each discharge criterion (computed, never ticked), the nurse's own ticks (a
    tick the chart contradicts is disabled, with why), the PADSS, and the override with its signatures."""

    back = Signal()
    discharged = Signal(str)

    def __init__(self, controller: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.c = controller
        root, self.title = screen_layout(self, "Discharge check", "◀ Back to session", self.back.emit)

        cols = QHBoxLayout()
        left = QVBoxLayout()
        chart = QGroupBox("What the chart says")
        self.chart_layout = QVBoxLayout(chart)
        self.criteria: dict[str, QLabel] = {}  # chart criteria, filled by update_decision
        left.addWidget(chart)
        check = QGroupBox("Nurse's checklist")
        cl = QVBoxLayout(check)
        self.items: dict[str, QCheckBox] = {}
        self.item_notes: dict[str, QLabel] = {}
        for key, label in NURSE_ITEMS:
            cb = QCheckBox(label)
            cb.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            cb.toggled.connect(self.update_decision)
            note = QLabel("")
            note.setObjectName("warnText")
            note.setWordWrap(True)
            note.hide()
            self.items[key] = cb
            self.item_notes[key] = note
            cl.addWidget(cb)
            cl.addWidget(note)
        cl.addStretch(1)
        left.addWidget(check, 1)
        cols.addLayout(left, 1)

        padss = QGroupBox("Modified PADSS (0-2 each)")
        pl = QGridLayout(padss)
        self.padss: dict[str, QComboBox] = {}
        for i, (key, label, choices) in enumerate(PADSS_ITEMS):
            cb = QComboBox()
            cb.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            cb.setMinimumContentsLength(16)
            cb.addItem("- choose -", None)
            for score in (2, 1, 0):
                cb.addItem(f"{score}: {choices[score]}", score)
            cb.currentIndexChanged.connect(self.update_decision)
            pl.addWidget(QLabel(label), i, 0)
            pl.addWidget(cb, i, 1)
            self.padss[key] = cb
        self.vitals_hint = QLabel()
        self.vitals_hint.setObjectName("muted")
        self.vitals_hint.setWordWrap(True)
        pl.addWidget(self.vitals_hint, len(PADSS_ITEMS), 0, 1, 2)
        self.total = QLabel()
        self.total.setObjectName("title")
        self.total.setWordWrap(True)
        pl.addWidget(self.total, len(PADSS_ITEMS) + 1, 0, 1, 2)
        right = QVBoxLayout()
        right.addWidget(padss)
        cols.addLayout(right, 1)
        root.addLayout(cols, 1)

        self.decision = QLabel()
        self.decision.setWordWrap(True)
        self.decision.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        right.addWidget(self.decision)
        sign = QGroupBox("Override and signature")
        sl = QGridLayout(sign)
        self.override = QLineEdit()
        self.override.setPlaceholderText("Required when the chart does not support discharge")
        sl.addWidget(QLabel("Override reason"), 0, 0)
        sl.addWidget(self.override, 0, 1)
        # The signature is an e-signature: "Sign and discharge" asks for the signer's own PIN (ui/signing.py);
        # the printed name comes from their account.
        self.signer_line = QLabel("Your PIN is asked for when you sign")
        self.signer_line.setWordWrap(True)
        sl.addWidget(QLabel("Signature"), 1, 0)
        sl.addWidget(self.signer_line, 1, 1)
        self._signing: SigningRun | None = None  # the signature being asked for (see sign_dialog)
        self.meaning = QLabel("Meaning: performed (I performed this discharge check)")
        self.meaning.setObjectName("muted")
        self.meaning.setWordWrap(True)
        sl.addWidget(self.meaning, 2, 1)
        right.addWidget(sign)
        right.addStretch(1)
        bottom = QHBoxLayout()
        self.message = MessageLine()
        bottom.addWidget(self.message, 1)
        self.sign_button = button("Sign and discharge", self.submit, name="primary")
        bottom.addWidget(self.sign_button)
        root.addLayout(bottom)
        self.readiness = None  # the last assessment shown

    def load(self) -> None:
        v = self.c.view
        if v is None:
            return
        p = v.patient
        self.title.setText(f"Discharge check · {p['family_name'].upper()}, {p['given_name']} · MRN {p['mrn']}")
        b = baseline_bp(v)
        last = self.c.live.last_nibp()
        if b and last:
            change = max(abs(last[1] - b[0]) / b[0], abs(last[2] - b[1]) / b[1]) * 100
            self.vitals_hint.setText(f"Baseline BP {b[0]:.0f}/{b[1]:.0f}, last {last[1]:.0f}/{last[2]:.0f} "
                                     f"({change:.0f}% change): within 20% scores 2, 20-40% scores 1")
        self.update_decision()

    def values(self) -> tuple[dict, dict]:
        return ({k: cb.isChecked() for k, cb in self.items.items()},
                {k: cb.currentData() for k, cb in self.padss.items()})

    @staticmethod
    def _level(widget: QLabel, name: str) -> None:
        if widget.objectName() != name:
            widget.setObjectName(name)
            widget.style().unpolish(widget)
            widget.style().polish(widget)

    def update_decision(self) -> None:
        if self.c.view is None:
            return
        checklist, padss = self.values()
        try:
            r = self.c.readiness(checklist, padss)
        except USER_ERRORS as exc:
            self.decision.setText(str(exc))
            return
        self.readiness = r
        for c in r.criteria:
            if c.source == "chart":
                label = self.criteria.get(c.key)
                if label is None:
                    label = self.criteria[c.key] = QLabel()
                    label.setWordWrap(True)
                    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
                    self.chart_layout.addWidget(label)
                label.setText(c.line)
                label.setToolTip(f"since {local(c.since)}" if c.since else "")
                self._level(label, LEVELS.get(c.finding, "warnText"))
            elif c.key in self.items:
                box, note = self.items[c.key], self.item_notes[c.key]
                contradicted = c.finding is Finding.CONTRADICTED
                if contradicted and box.isChecked():
                    box.blockSignals(True)
                    box.setChecked(False)  # the chart says otherwise: this cannot be ticked as met
                    box.blockSignals(False)
                box.setEnabled(not contradicted)
                note.setText(f"The chart says: {c.chart_says}" if contradicted else "")
                note.setVisible(contradicted)
        QTimer.singleShot(0, self._reorder)  # the chart's lines and notes moved widgets: Tab follows reading order
        if r.padss_total is None:
            scored = sum(v for v in padss.values() if v is not None)
            self.total.setText(f"PADSS {scored}/10 so far - score every item")
        else:
            self.total.setText(f"PADSS {r.padss_total}/10 {'PASS' if r.padss_total >= self.c.policy.padss_pass else 'BELOW PASS'}")
        if r.ready:
            self.decision.setText("✔ Discharge criteria met.")
            self._level(self.decision, "saved")
            self.meaning.setText("Meaning: performed (I performed this discharge check)")
        else:
            cosign = (" A second clinician countersigns this override (clinic policy)."
                      if r.second_signature_required else "")
            self.decision.setText("⚠ Override needed: " + "; ".join(r.blockers) + "." + cosign)
            self._level(self.decision, "warnText")
            self.meaning.setText("Meaning: performed (I performed this discharge check)"
                                 + ("; then reviewed, by a second clinician" if r.second_signature_required else ""))

    def _reorder(self) -> None:
        from ..accessibility import reading_order

        if self.isVisible():
            self.layout().activate()
            reading_order(self)

    def submit(self) -> bool:
        """Validate everything, then ask for the signers' PINs; the check is saved only once it is signed.

        Returns True when the PIN dialog (``sign_dialog``) was opened."""
        checklist, padss = self.values()
        try:
            flow = self.c.discharge_signing(checklist, padss, self.override.text())
        except USER_ERRORS as exc:
            self.message.show_message(str(exc), "error")
            return False
        sid = self.c.session_id
        self._signing = SigningRun(self, self.c.signatures, flow, lambda: self.discharged.emit(sid),
                                   lambda text: self.message.show_message(text, "error")).start()
        return True

    @property
    def sign_dialog(self):
        """The PIN dialog while it is open (tests and the autoplay fill it)."""
        return self._signing.dialog if self._signing is not None else None

"""The discharge check: the ketamine checklist, modified PADSS with scores, override rules and the signature."""

from __future__ import annotations

from PySide6.QtCore import Signal
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
from ...domain.scales import DISCHARGE_ITEMS, PADSS_ITEMS
from ..controller import ChairController
from ..signing import SigningRun
from .common import MessageLine, button, screen_layout


class DischargeScreen(QWidget):
    back = Signal()
    discharged = Signal(str)

    def __init__(self, controller: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.c = controller
        root, self.title = screen_layout(self, "Discharge check", "◀ Back to session", self.back.emit)

        cols = QHBoxLayout()
        check = QGroupBox("Ketamine discharge checklist")
        cl = QVBoxLayout(check)
        self.minutes = QLabel()
        self.minutes.setObjectName("warnText")
        cl.addWidget(self.minutes)
        self.items: dict[str, QCheckBox] = {}
        for key, label in DISCHARGE_ITEMS:
            if key == "min_120":
                continue
            cb = QCheckBox(label)
            cb.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            cb.toggled.connect(self.update_decision)
            self.items[key] = cb
            cl.addWidget(cb)
        cl.addStretch(1)
        cols.addWidget(check, 1)

        padss = QGroupBox("Modified PADSS (0-2 each; pass at 9 of 10)")
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
        self.override.setPlaceholderText("Required when discharging before 120 min or below the passing score")
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
        sl.addWidget(self.meaning, 2, 1)
        right.addWidget(sign)
        right.addStretch(1)
        bottom = QHBoxLayout()
        self.message = MessageLine()
        bottom.addWidget(self.message, 1)
        self.sign_button = button("Sign and discharge", self.submit, name="primary")
        bottom.addWidget(self.sign_button)
        root.addLayout(bottom)

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

    def update_decision(self) -> None:
        minutes = self.c.minutes_since_start()
        need = self.c.policy.discharge_min_after_start
        self.minutes.setText(f"{'✔' if minutes >= need else '✖'} {minutes:.0f} min since the start of administration "
                             f"(minimum {need})")
        self.minutes.setObjectName("saved" if minutes >= need else "warnText")
        self.minutes.style().unpolish(self.minutes)
        self.minutes.style().polish(self.minutes)
        checklist, padss = self.values()
        if any(v is None for v in padss.values()):
            scored = sum(v for v in padss.values() if v is not None)
            self.total.setText(f"PADSS {scored}/10 so far - score every item")
            self.decision.setText("")
            return
        try:
            d = self.c.evaluate(checklist, padss)
        except USER_ERRORS as exc:
            self.decision.setText(str(exc))
            return
        self.total.setText(f"PADSS {d.padss}/10 {'PASS' if d.padss >= self.c.policy.padss_pass else 'BELOW PASS'}")
        if d.passed:
            self.decision.setText("✔ Discharge criteria met.")
            self.decision.setObjectName("saved")
        else:
            self.decision.setText("⚠ Override needed: " + "; ".join(d.reasons))
            self.decision.setObjectName("warnText")
        self.decision.style().unpolish(self.decision)
        self.decision.style().polish(self.decision)

    def submit(self) -> bool:
        """Validate everything, then ask for the signer's PIN; the check is saved only once it is signed.

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

"""``--demo --autoplay``: a scripted session played through the real UI, and ``--screenshot --at``.

The script clicks the same buttons and fills the same dialogs a nurse would (check-in, pre-session checks and
dose, start, observations, an alert and its acknowledgment, a rate change, recovery, a correction, a late
entry, the discharge check and signature), timed on the app's clock, which ``--speed`` accelerates. Minute 0
is the start of administration; the script begins at minute -14.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from ..domain.session import SessionState

START_MIN = -14.0
# demo.py's seed-0 patient (registered here only when the demo chart has no history; the weight then)
DEMO_PATIENT = ("DEMO-0000", "Rivera", "Jordan", "1984-03-12", "female", "72.5")


class Autoplay(QObject):
    def __init__(self, window, clock, nurse: tuple[str, str], witness: tuple[str, str], screen: str | None = None,
                 tick_ms: int = 100, pin: str = "", route: str = "IV", prescriber: tuple[str, str] | None = None) -> None:
        super().__init__(window)
        self.route = route.upper()  # IV ketamine infusion, or IN esketamine (Spravato): devices, no pump
        self.w = window
        self.c = window.c
        self.clock = clock
        self.nurse, self.witness = nurse, witness
        self.prescriber = prescriber  # signs the course's order when none is in force (issue 16)
        self.pin = pin  # the demo users' PIN: signatures go through the real re-authentication dialogs
        self.t0 = clock.now() - timedelta(minutes=START_MIN)  # minute 0 = start of administration
        self.done_steps: set[str] = set()
        self.finished = False
        self.hold_screen = screen  # stop on this screen (for screenshots of patients / pre-session / discharge)
        self.screens_ready: set[str] = set()
        self.alert_seen_at: float | None = None
        self.silenced = False
        self.timer = QTimer(self)
        self.timer.setInterval(tick_ms)
        self.timer.timeout.connect(self.step)
        self.log: list[str] = []

    def minute(self) -> float:
        return (self.clock.now() - self.t0).total_seconds() / 60.0

    def start(self) -> None:
        self.timer.start()

    def _once(self, key: str, minute: float) -> bool:
        if key in self.done_steps or self.minute() < minute:
            return False
        self.done_steps.add(key)
        self.log.append(f"{self.minute():6.1f} {key}")
        return True

    def _dialog(self):
        return self.w.session.dialog

    def step(self) -> None:  # noqa: C901 - a script reads best as one list
        try:
            self._step()
        except Exception as exc:  # the demo must never take the app down
            print(f"autoplay: {type(exc).__name__}: {exc}", file=sys.stderr)
            self.timer.stop()

    def _step(self) -> None:
        w, c, s = self.w, self.c, self.w.session
        m = self.minute()
        if self._once("patient", START_MIN):
            w.show_patients()
            mrn = DEMO_PATIENT[0]
            if not any(p["mrn"] == mrn for p in c.patients()):
                w.patients.open_new_patient()
                dlg = w.patients.dialog
                dlg.set_values(mrn=mrn, family=DEMO_PATIENT[1], given=DEMO_PATIENT[2], dob=DEMO_PATIENT[3],
                               sex=DEMO_PATIENT[4], weight=DEMO_PATIENT[5])
                dlg.submit()
            w.patients.search.setText("")
            w.patients.reload()
            w.patients.select_mrn(mrn)
            self.screens_ready.add("patients")
        if self.hold_screen == "patients":
            return
        if self._once("check-in", START_MIN + 1.5):
            if c.view is None or c.view.state.is_final:
                w.patients.start(self.route)
            w.route()
        if self._once("presession", START_MIN + 3):
            p = w.presession
            p.consent.setChecked(True)
            p.fasting.setText("4")
            p.meds.setText("sertraline 100 mg daily")
            p.escort_name.setText("Pat Rivera")
            p.escort_phone.setText("555-0142")
            p.no_driving.setChecked(True)
            if not p.weight.text():  # today's weight: the one on file (a demo dose for another weight would mislead)
                patient = self.c.planned.patient if self.c.planned is not None else self.c.view.patient
                on_file = patient.get("weight_kg")
                p.weight.setText(f"{on_file:g}" if on_file else DEMO_PATIENT[5])
            p.take_from_monitor()
            if not p.b_sys.text():
                p.b_sys.setText("124")
                p.b_dia.setText("79")
            for cb, v in zip(p.phq, (2, 2, 1, 2, 1, 2, 1, 1, 0)):
                cb.setCurrentIndex(v + 1)
            p.items.answer_all_safe()  # the complete pre-session items (issue 16)
            if self.prescriber is not None and not self.c.presession_order():
                p.new_order.setChecked(True)  # no order in force: the prescriber signs the dose as the course's order
                p.order_prescriber.setText(self.prescriber[0])
            expiry = (self.clock.now() + timedelta(days=300)).date().isoformat()
            if self.route == "IN":
                p.in_dose.setCurrentIndex(0)  # 56 mg: two devices
                p.lot.setText("ESK02417")
                p.vial_strength.setText("140")  # two 28 mg devices: 0.2 mL each
                p.vial_ml.setText("0.4")
            else:
                p.lot.setText("KET02417")
                p.vial_strength.setText("50")
                p.vial_ml.setText("1")
            p.expiry.setText(expiry)
            if self.route != "IN":
                p.waste_mg.setText("13.8")
                p.waste_method.setCurrentIndex(1)
                p.waste_witness.setText(self.witness[0])
            p.update_preview()
            self.screens_ready.add("presession")
        if self.hold_screen == "presession":
            return
        if self._once("presession-submit", START_MIN + 4):
            p = w.presession
            ordering = p.new_order.isChecked()
            if p.submit():
                if ordering:
                    self._sign(p.sign_dialog, self.prescriber[0])  # the order: the prescriber's own PIN
                self._sign(p.sign_dialog, self.nurse[0])  # dose: performed
                self._sign(p.sign_dialog, self.witness[0])  # waste: witnessed, the witness's own PIN
        if self._once("start", 0):
            s.start_infusion()
            dlg = self._dialog()
            if dlg is not None:
                dlg.set_values(reason="Repeat BP reviewed with prescriber; proceed")
                dlg.submit()
        intranasal = self.route == "IN"
        for minute, key, action in (
            (5, "sed5", lambda: s.sed_buttons[0].click()),
            # intranasal: the start charted device 1; device 2 when the clock says it is due (the last device
            # completes the administration)
            (5.1, "device2", lambda: s.chart_device() if intranasal else None),
            (10, "diss1", lambda: s.diss_buttons[1].click()),
            (15, "nausea1", lambda: self._pick(s.open_nausea, 1)),
            (20, "diss2", lambda: s.diss_buttons[2].click()),
            (24, "diss3", lambda: s.diss_buttons[3].click()),
            (25, "rate", lambda: None if intranasal else self._rate()),
            (30, "sed4", lambda: s.sed_buttons[1].click()),
            (36, "nausea6", lambda: self._pick(s.open_nausea, 6)),
            (37, "ondansetron", lambda: self._form(s.open_intervention, drug="ondansetron", dose="4", unit="mg", route="IV")),
            (38.5, "note", lambda: self._form(s.open_note, text="Eyes closed, calm, responds to voice. Music on.")),
            (40, "stop", lambda: None if intranasal else self._form(s.open_stop, outcome="completed")),
            (41, "amend", self._amend),
            (50, "diss1b", lambda: s.diss_buttons[1].click()),
            (55, "cadss", lambda: self._form(s.open_cadss, **{"1": 1, "2": 0, "6": 1, "7": 0, "15": 0, "22": 0})),
            (60, "sed5b", lambda: s.sed_buttons[0].click()),
            (70, "late", self._late_note),
            (75, "diss0", lambda: s.diss_buttons[0].click()),
            (90, "nausea0", lambda: self._pick(s.open_nausea, 0)),
            (110, "sed5c", lambda: s.sed_buttons[0].click()),
        ):
            if c.view is not None and not c.view.state.is_final and self._once(key, minute):
                action()
        self._alerts(m)
        if m >= 120 and c.view is not None and c.view.state is SessionState.RECOVERY:
            if w.stack.currentWidget() is not w.discharge and self._once("discharge-open", 120):
                w.show_discharge()
            if self._once("discharge-fill", 120.5):
                d = w.discharge
                for cb in d.items.values():
                    cb.setChecked(True)
                for cb in d.padss.values():
                    cb.setCurrentIndex(1)  # 2 points
                self.screens_ready.add("discharge")
            if self.hold_screen != "discharge" and self._once("discharge-sign", 122):
                if w.discharge.submit():
                    self._sign(w.discharge.sign_dialog, self.nurse[0])
        if "discharge-sign" in self.done_steps and not self.finished:
            self.finished = True
            self.log.append(f"{m:6.1f} finished")

    def _alerts(self, m: float) -> None:
        c, s = self.c, self.w.session
        pending = c.unacknowledged()
        if pending:
            if self.alert_seen_at is None:
                self.alert_seen_at = m
            if self.silenced:
                self._monitor_silent(False)
            if m - self.alert_seen_at >= 1.5 and s.dialog is None:
                a = pending[0]
                action = {"sys-high": "BP repeated manually; prescriber informed; infusion already complete, observe",
                          "dia-high": "BP repeated manually; prescriber informed; observe",
                          "monitor-silent": "Checked monitor cable; readings back",
                          "spo2-low": "Patient roused, deep breaths; SpO2 recovered"}.get(a["rule"], "Reviewed; continue monitoring")
                s.open_ack()
                if s.dialog is not None:
                    s.dialog.set_values(action=action)
                    s.dialog.submit()
                self.alert_seen_at = None
        elif m >= 46 and not any(a.row["rule"] != "predose-bp" for a in (c.view.alerts if c.view else [])) \
                and not self.silenced and "silence" not in self.done_steps:
            self.done_steps.add("silence")
            self._monitor_silent(True)  # nothing fired by itself: show the monitor-silent alert instead

    def _monitor_silent(self, on: bool) -> None:
        self.silenced = on
        for conn in self.c.devices.monitors():
            if conn.server is not None:
                conn.server.set_silent(on)

    def _sign(self, dialog, user_id: str) -> None:
        if dialog is None:
            return
        dialog.user_id.setText(user_id)
        dialog.secret.setText(self.pin)
        if not dialog.submit():
            print(f"autoplay: signature refused: {dialog.error.text()}", file=sys.stderr)

    def _pick(self, opener, value: int) -> None:
        opener()
        dlg = self._dialog()
        if dlg is not None:
            dlg.pick(value)

    def _form(self, opener, **values) -> None:
        opener()
        dlg = self._dialog()
        if dlg is not None:
            dlg.set_values(**values)
            dlg.submit()

    def _rate(self) -> None:
        v = self.c.view
        rate = v.dose.row["rate_ml_per_h"] if v and v.dose else 50
        self._form(self.w.session.open_rate, rate=f"{round(rate * 0.75, 1):g}",
                   reason="Strong dissociation (3/4): rate reduced 25% per protocol")

    def _amend(self) -> None:
        s = self.w.session
        s.render_view()
        target = next((e for e in s._entries if e.kind == "nausea" and e.value == 6), None)
        if target is not None:
            s.open_amend(target)
            if s.dialog is not None:
                s.dialog.set_values(value="3", reason="Mis-keyed: patient rated nausea 3, not 6")
                s.dialog.submit()

    def _late_note(self) -> None:
        when = self.t0 + timedelta(minutes=50)
        self._form(self.w.session.open_note, text="Patient described a 'floating' feeling at 50 min; reassured.",
                   when=when.astimezone().strftime("%H:%M"))


class ScreenshotAt(QObject):
    """Grab the main window when the session clock reaches ``at`` minutes (or a screen is ready) and quit."""

    def __init__(self, window, path: Path, at: float | None, autoplay: Autoplay | None = None,
                 screen: str | None = None, timeout_s: float = 600.0) -> None:
        super().__init__(window)
        self.w, self.path, self.at, self.autoplay, self.screen = window, path, at, autoplay, screen
        self.done = False
        self.exit_code = 0
        self.ticks = 0
        self.timeout_ticks = int(timeout_s * 10)
        self.timer = QTimer(self)
        self.timer.setInterval(100)
        self.timer.timeout.connect(self._check)

    def start(self) -> None:
        self.timer.start()

    def minute(self) -> float | None:
        if self.autoplay is not None:
            return self.autoplay.minute()
        from .viewmodels import session_minute

        return session_minute(self.w.c.view, self.w.clock.now())

    def _ready(self) -> bool:
        if self.screen:
            return self.autoplay is not None and self.screen in self.autoplay.screens_ready
        if self.at is None:
            return self.ticks >= 3
        m = self.minute()
        if m is None and self.autoplay is None:
            print("ketachart: no session in progress; grabbing the window now", file=sys.stderr)
            return True
        return m is not None and m >= self.at

    def _check(self) -> None:
        self.ticks += 1
        if self.done:
            return
        if not self._ready() and self.ticks < self.timeout_ticks:
            return
        if self.ticks >= self.timeout_ticks:
            print("ketachart: screenshot moment not reached in time; grabbing anyway", file=sys.stderr)
            self.exit_code = 1
        if self.autoplay is not None:
            self.autoplay.timer.stop()
        self.w.mark("view")
        self.w._repaint()
        for _ in range(3):  # a text set just now may re-size a box, whose layout settles over a few passes
            QApplication.processEvents()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ok = self.w.grab().save(str(self.path))
        if not ok:
            self.exit_code = 1
        self.done = True
        QTimer.singleShot(0, QApplication.instance().quit)

"""The chair's view model: one open session, its live vitals, its alerts, and the commands a nurse gives.

Widgets call these commands and render what the controller exposes; every command validates everything
first, then writes through the store (durable on return) and only then reports "saved". Nothing here is a
widget; the controller is what tests drive alongside the real UI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from PySide6.QtCore import QObject, Signal

from ..domain.alerts import AlertFinding, AlertRules
from ..domain.codes import Parameter
from ..domain.dosing import IntranasalDose, IvDose, check_weight, intranasal_dose, iv_dose
from ..domain.errors import ClinicalInputError, IllegalTransition
from ..domain.readings import Quality, Reading
from ..domain.scales import (
    CADSS6_ITEMS,
    DISCHARGE_ITEMS,
    Kind,
    cadss6_total,
    dissociation,
    evaluate_discharge,
    moaas,
    nausea,
    padss_total,
    phq9,
)
from ..domain.session import SessionEvent, SessionState
from ..store.errors import NotFound
from ..store.models import Checklist, Observation
from ..store.views import SessionView, session_view
from .bridge import ReadingBridge, VitalsWriter
from .devices import DeviceManager
from .livedata import LiveData
from .saved_trace import trace_saved
from .viewmodels import baseline_bp, local

USER_ERRORS = (ClinicalInputError, IllegalTransition, NotFound)


def number(text: object, what: str, lo: float | None = None, hi: float | None = None, required: bool = True) -> float | None:
    """A typed number or a clear message (letters in a weight field are a ClinicalInputError, not a crash)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        if required:
            raise ClinicalInputError(f"{what} is required")
        return None
    try:
        value = float(str(text).strip().replace(",", "."))
    except ValueError:
        raise ClinicalInputError(f"{what} must be a number, not {text!r}") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ClinicalInputError(f"{what} {value:g} is outside {lo:g}-{hi:g}; check it")
    return value


@dataclass
class PresessionForm:
    """What the pre-session screen collects, as typed (strings) - validated by ``submit_presession``."""

    consent: bool = False
    fasting_hours: str = ""
    current_meds: str = ""
    rems: dict = field(default_factory=dict)  # benzodiazepines, sedative_hypnotics, psychostimulants, maois, opioids
    escort_name: str = ""
    escort_phone: str = ""
    no_driving: bool = False
    weight_kg: str = ""
    baseline_sys: str = ""
    baseline_dia: str = ""
    baseline_hr: str = ""
    baseline_spo2: str = ""
    baseline_source: str = "typed"  # or "monitor"
    phq9_items: list = field(default_factory=list)  # 9 strings, or empty
    route: str = "IV"
    mg_per_kg: str = ""
    concentration: str = ""
    minutes: str = ""
    in_dose_mg: str = "56"
    lot: str = ""
    waste_mg: str = ""
    waste_method: str = ""
    waste_witness: str = ""


@dataclass(frozen=True)
class Signer:
    """Who signs: from the sign-in / re-authentication layer (or, until it lands, a typed printed name)."""

    user_id: str
    printed_name: str


class ChairController(QObject):
    view_changed = Signal()
    alerts_changed = Signal()
    devices_changed = Signal(str, str)
    message = Signal(str, str)  # text, kind: saved | error | info
    discharge_due = Signal()
    session_closed = Signal(str)

    def __init__(self, store, clock, parent: QObject | None = None, *, speed: float = 1.0,
                 writer_interval_s: float = 1.0) -> None:
        super().__init__(parent)
        self.store = store
        self.clock = clock
        self.speed = speed
        self.bridge = ReadingBridge(self)
        self.live = LiveData(gap_s=max(30.0, 1.5 * speed))
        self.writer = VitalsWriter(store, writer_interval_s, on_report=self.bridge.writer_report.emit)
        self.devices = DeviceManager(self.bridge, clock)
        self.rules = AlertRules(store.policy)
        self.session_id: str | None = None
        self.view: SessionView | None = None
        self.vitals_saved = 0
        self.vitals_error = ""
        self.last_saved = ""
        self._discharge_offered = False
        self.bridge.add_listener(self._on_readings)
        self.bridge.device_state.connect(self._on_device_state)
        self.bridge.writer_report.connect(self._on_writer_report)
        self.sign_provider: Callable[[str, str], Signer | None] | None = None
        self.signatures = None  # ketachart.auth.Signatures, set by the main window (re-authenticated signing)
        self._chart_opened: str | None = None

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def policy(self):
        return self.store.policy

    def shutdown(self) -> None:
        self.devices.stop_all()
        self.writer.stop()

    def open_session(self, session_id: str) -> None:
        self.session_id = session_id
        self._discharge_offered = False
        self.live = LiveData(gap_s=self.live.hr.gap_s)
        history = self.store.readings(session_id)
        self.live.load_history(history)
        self.rules = AlertRules(self.policy)
        from ..domain.clock import utc

        for row in history:  # rebuild what the rules remember; findings were stored when they happened
            if row["value"] is None:
                continue
            try:
                self.rules.feed(Reading(Parameter(row["parameter"]), row["value"], utc(row["effective_at"])))
            except ValueError:
                continue
        for a in self.store.unacknowledged_alerts(session_id):
            self.rules.mark_active(a["rule"])
        self.refresh()
        if self.view is not None:
            self.audit_open_chart(self.view.patient["patient_id"], session_id)

    def audit_open_chart(self, patient_id: str, session_id: str | None = None) -> None:
        """Opening a patient's chart is audited (ids only); showing the same chart again is not re-counted."""
        key = f"{self.store.author}:{patient_id}:{session_id}"
        if key == self._chart_opened:
            return
        self._chart_opened = key
        self.store.audit("open-chart", f"patients:{patient_id}", {"session": session_id} if session_id else None)

    def close_session(self) -> None:
        sid = self.session_id
        self.session_id = None
        self.view = None
        self.view_changed.emit()
        self.alerts_changed.emit()
        if sid:
            self.session_closed.emit(sid)

    def refresh(self) -> None:
        self.view = session_view(self.store, self.session_id) if self.session_id else None
        self.view_changed.emit()
        self.alerts_changed.emit()

    @property
    def state(self) -> SessionState | None:
        return self.view.state if self.view else None

    def unacknowledged(self) -> list[dict]:
        if not self.view:
            return []
        return [a.row for a in self.view.alerts if not a.acknowledged]

    # --- readings ---------------------------------------------------------------------------------
    def _on_readings(self, batch: list[Reading]) -> None:
        self.live.feed(batch)
        if self.session_id is None or (self.view and self.view.state.is_final):
            return
        self.writer.submit(self.session_id, [r for r in batch if r.worth_charting])
        if self.rules.policy is not self.policy:  # an admin recorded a new policy version: use it from now on
            self.rules.policy = self.policy
        findings: list[AlertFinding] = []
        for r in batch:
            findings += self.rules.feed(r)
        if findings:
            self._raise(findings)

    def _raise(self, findings: list[AlertFinding]) -> None:
        for f in findings:
            row = self.store.raise_alert(self.session_id, f.rule, f.severity, f.message, f.data, effective_at=f.at)
            trace_saved("alert", [row["id"]])
        self.refresh()

    def _on_device_state(self, name: str, state: str) -> None:
        self.devices_changed.emit(name, state)

    def _on_writer_report(self, committed: int, error: str) -> None:
        self.vitals_saved, self.vitals_error = committed, error

    def tick(self) -> None:
        """Once a second (GUI timer): monitor-silent rule and the discharge offer."""
        if self.session_id is None or self.view is None or self.view.state.is_final:
            return
        now = self.clock.now()
        quiet = max(self.policy.monitor_silent_s, 3.0 * self.speed)
        findings = []
        for conn in self.devices.monitors():
            last = self.live.last_reading_at.get(conn.source)
            silent = last is None or (now - last).total_seconds() > quiet
            if last is None and conn.state not in ("streaming", "silent", "lost"):
                silent = False  # still connecting at start-up: not yet "silent"
            findings += self.rules.monitor_silent(silent, now, conn.label)
        if findings:
            self._raise(findings)
        c = self.view.clocks(now, self.policy)
        if (c.discharge_remaining is not None and c.discharge_remaining <= timedelta(0) and not self._discharge_offered
                and self.view.state is SessionState.RECOVERY):
            self._discharge_offered = True
            self.discharge_due.emit()

    # --- commands ---------------------------------------------------------------------------------
    def _saved(self, what: str, *rows: dict | None, kind: str = "entry") -> None:
        """Show "saved" for rows the store has already committed (``rows`` go to the opt-in saved trace)."""
        trace_saved(kind, [r["id"] for r in rows if r])
        self.last_saved = f"{what} - saved {local(self.clock.now(), seconds=True)}"
        self.refresh()
        self.message.emit(self.last_saved, "saved")

    def attempt(self, fn: Callable, *args, **kwargs):
        """Run a command; a problem the nurse can fix becomes a message (and nothing is saved)."""
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            self.message.emit(str(exc), "error")
            return None

    def _need_session(self) -> str:
        if not self.session_id:
            raise ClinicalInputError("no session is open; start one from the patient's chart")
        return self.session_id

    def create_patient(self, mrn: str, family: str, given: str, dob: str, sex: str, weight: str) -> dict:
        w = None
        if (weight or "").strip():
            w = check_weight(weight, self.policy)
        row = self.store.create_patient(mrn, family, given, dob, sex, w)
        trace_saved("patient", [row["id"]])
        self.message.emit(f"Patient {family}, {given} saved", "saved")
        return row

    def start_session(self, patient_id: str, route: str = "IV") -> str:
        open_ = [s for s in self.store.sessions_for_patient(patient_id) if not self.store.session_state(s["id"]).is_final]
        if open_:
            self.open_session(open_[-1]["id"])
            return open_[-1]["id"]
        from ..store.models import Course

        courses = [c for c in self.store.rows(Course, patient_id=patient_id) if c["route"] == route]
        course = courses[-1] if courses else self.store.create_course(
            patient_id, route, "IV ketamine course" if route == "IV" else "Intranasal esketamine course")
        row = self.store.create_session(patient_id, route, course["id"], chair=self.store.device_id)
        self.open_session(row["id"])
        return row["id"]

    def preview_dose(self, form: PresessionForm) -> IvDose | IntranasalDose:
        if form.route == "IN":
            return intranasal_dose(form.in_dose_mg, self.policy)
        p = self.policy
        return iv_dose(form.weight_kg, form.mg_per_kg or p.mg_per_kg_default,
                       form.concentration or p.concentration_mg_per_ml_default, form.minutes or p.infusion_min_default, p)

    def predose_warning(self, sys_: object, dia: object) -> str:
        try:
            s, d = float(sys_), float(dia)
        except (TypeError, ValueError):
            return ""
        found = AlertRules(self.policy).predose_bp(s, d, self.clock.now())
        return found[0].message if found else ""

    def submit_presession(self, form: PresessionForm, check_only: bool = False,
                          sign: Callable[[dict], None] | None = None) -> dict | None:
        """Validate the whole form, then chart check-in, pre-checks, baseline, PHQ-9, dose, waste (in that order).

        ``check_only``: validate and write nothing (the screen then asks for the signatures). ``sign(rows)`` signs
        the dose (and waste) inside the same transaction, so the form, the dose and its signatures are on disk
        together or not at all. Returns the dose and waste rows (``{"dose": row, "waste": row or None}``)."""
        sid = self._need_session()
        if self.state not in (SessionState.PLANNED, SessionState.CHECKED_IN):
            raise ClinicalInputError("pre-session checks are done; the session has started")
        weight = check_weight(form.weight_kg, self.policy)
        if not form.consent:
            raise ClinicalInputError("consent on file must be confirmed before dosing")
        if not form.escort_name.strip() or not form.escort_phone.strip():
            raise ClinicalInputError("the escort's name and phone are required")
        if not form.no_driving:
            raise ClinicalInputError("the patient must acknowledge: no driving until tomorrow")
        fasting = number(form.fasting_hours, "Fasting hours", 0, 48, required=False)
        b_sys = number(form.baseline_sys, "Baseline systolic BP", 50, 260)
        b_dia = number(form.baseline_dia, "Baseline diastolic BP", 20, 180)
        b_hr = number(form.baseline_hr, "Baseline heart rate", 20, 250, required=False)
        b_spo2 = number(form.baseline_spo2, "Baseline SpO2", 50, 100, required=False)
        phq = None
        items = [str(i).strip() for i in form.phq9_items]
        if any(items):
            if not all(items):
                raise ClinicalInputError("PHQ-9: answer all 9 items, or leave all empty")
            phq = phq9(items)
        view_route = self.view.session["route"] if self.view else form.route
        if form.route != view_route:
            raise ClinicalInputError(f"this session is {view_route}; start a new session for another route")
        form_weight = PresessionForm(**{**form.__dict__, "weight_kg": str(weight)})
        dose = self.preview_dose(form_weight)
        if not form.lot.strip():
            raise ClinicalInputError("the lot number is required")
        waste = number(form.waste_mg, "Waste amount (mg)", 0, 1000, required=False) or 0.0
        if waste > 0:
            if not form.waste_method.strip():
                raise ClinicalInputError("say how the waste was disposed of")
            if not form.waste_witness.strip():
                raise ClinicalInputError("waste of a controlled substance needs a witness")
            if form.waste_witness.strip() == self.store.author:
                raise ClinicalInputError("the witness must be someone else")
        if check_only:
            return None
        # --- everything valid: write, as one transaction with its signatures ---
        written: list[dict] = []
        with self.store.atomic():
            if self.state is SessionState.PLANNED:
                written.append(self.store.session_event(sid, SessionEvent.CHECK_IN))
            items_saved = {
                "consent_on_file": True, "fasting_hours": fasting, "current_meds": form.current_meds.strip(),
                **{f"rems_{k}": bool(v) for k, v in form.rems.items()},
                "escort_name": form.escort_name.strip(), "escort_phone": form.escort_phone.strip(),
                "no_driving_acknowledged": True, "weight_kg": weight,
            }
            for item, answer in items_saved.items():
                written.append(self.store.observe(sid, Kind.PRECHECK, data={"item": item, "answer": answer}))
            vit = {"NIBP_SYS": b_sys, "NIBP_DIA": b_dia, "label": "baseline", "source": form.baseline_source}
            if b_hr is not None:
                vit["HR"] = b_hr
            if b_spo2 is not None:
                vit["SPO2"] = b_spo2
            written.append(self.store.observe(sid, Kind.MANUAL_VITALS, data=vit))
            if phq is not None:
                written.append(self.store.observe(
                    sid, Kind.PHQ9, value=phq.total, data={"items": [int(i) for i in items], "band": phq.band},
                    patient_id=self.view.patient["patient_id"] if self.view else None))
            written.append(self.store.save_checklist(sid, "pre-session", {**items_saved, "baseline_bp": f"{b_sys:g}/{b_dia:g}"},
                                                     passed=True))
            dose_row = self.store.record_dose(sid, dose, lot=form.lot.strip(), prepared_by=self.store.author)
            waste_row = None
            if waste > 0:
                waste_row = self.store.observe(sid, Kind.WASTE, value=waste, data={
                    "amount_mg": waste, "method": form.waste_method.strip(), "witness": form.waste_witness.strip()})
            written.append(self.store.audit("presession", f"sessions:{sid}", {"dose": dose_row["id"]}))
            if sign is not None:
                sign({"dose": dose_row, "waste": waste_row})
        self._saved(f"Pre-session checks and dose {dose.dose_mg:g} mg", *written, dose_row, waste_row, kind="presession")
        return {"dose": dose_row, "waste": waste_row}

    def baseline_over_limit(self) -> str:
        b = baseline_bp(self.view)
        return self.predose_warning(b[0], b[1]) if b else ""

    def start_infusion(self, predose_reviewed: str | None = None) -> bool:
        """Start administration. Returns False (nothing saved) when a pre-dose BP warning needs review first."""
        sid = self._need_session()
        if self.view is None or self.view.dose is None:
            raise ClinicalInputError("record the dose in the pre-session checks first")
        warning = self.baseline_over_limit()
        if warning and not (predose_reviewed or "").strip():
            return False
        if self.state is not SessionState.CHECKED_IN:
            raise ClinicalInputError(f"the session is {self.state.value}; the infusion cannot start now")
        rate = self.view.dose.row.get("rate_ml_per_h")
        if warning:
            b = baseline_bp(self.view)
            alert = self.store.raise_alert(sid, "predose-bp", "warning", warning, {"sys": b[0], "dia": b[1]})
            self.store.acknowledge_alert(alert["id"], f"Started after review: {predose_reviewed.strip()}")
        row = self.store.session_event(sid, SessionEvent.START_INFUSION, data={"rate_ml_per_h": rate} if rate else None)
        self._saved("Infusion started" if self.view.dose.row["route"] == "IV" else "Administration started", row,
                    kind="start")
        return True

    def pause(self, reason: str) -> None:
        row = self.store.session_event(self._need_session(), SessionEvent.PAUSE, reason=reason)
        self._saved("Infusion paused", row, kind="pause")

    def resume(self) -> None:
        row = self.store.session_event(self._need_session(), SessionEvent.RESUME)
        self._saved("Infusion resumed", row, kind="resume")

    def change_rate(self, rate: str, reason: str) -> None:
        value = number(rate, "Rate (mL/h)", 0.1, 1000)
        row = self.store.change_rate(self._need_session(), value, reason)
        self._saved(f"Rate {value:g} mL/h", row, kind="rate")

    def stop_infusion(self, reason: str = "") -> None:
        data = {}
        row = self.store.session_event(self._need_session(), SessionEvent.STOP_INFUSION, reason=reason or None, data=data)
        self._saved("Infusion stopped", row, kind="stop")

    def _observe_open(self) -> str:
        sid = self._need_session()
        if self.view and self.view.state.is_final:
            raise ClinicalInputError("this session has ended; nothing more can be charted on it")
        return sid

    def parse_time(self, text: str) -> datetime | None:
        """"HH:MM" local time today (yesterday if that is in the future); empty means now."""
        text = (text or "").strip()
        if not text:
            return None
        try:
            hh, mm = (int(x) for x in text.replace(".", ":").split(":"))
            now_local = self.clock.now().astimezone()
            when = now_local.replace(hour=hh, minute=mm, second=0, microsecond=0)
        except ValueError:
            raise ClinicalInputError(f"time must be HH:MM, not {text!r}") from None
        if when > now_local + timedelta(minutes=2):
            when -= timedelta(days=1)
        return when

    def chart_dissociation(self, value: object, effective_at: datetime | None = None) -> dict:
        row = self.store.observe(self._observe_open(), Kind.DISSOCIATION, dissociation(value), effective_at=effective_at)
        self._saved(f"Dissociation {int(row['value'])}", row, kind="dissociation")
        return row

    def chart_sedation(self, value: object, effective_at: datetime | None = None) -> dict:
        row = self.store.observe(self._observe_open(), Kind.SEDATION, moaas(value), effective_at=effective_at)
        self._saved(f"MOAA/S {int(row['value'])}", row, kind="sedation")
        return row

    def chart_nausea(self, value: object, vomiting: bool = False, effective_at: datetime | None = None) -> dict:
        row = self.store.observe(self._observe_open(), Kind.NAUSEA, nausea(value), data={"vomiting": bool(vomiting)},
                                 effective_at=effective_at)
        self._saved(f"Nausea {int(row['value'])}" + (" with vomiting" if vomiting else ""), row, kind="nausea")
        return row

    def chart_cadss6(self, items: dict) -> dict:
        total = cadss6_total({int(k): v for k, v in items.items()})
        row = self.store.observe(self._observe_open(), Kind.CADSS6, total,
                                 data={"items": {str(k): int(v) for k, v in items.items()}})
        self._saved(f"CADSS-6 total {total}", row, kind="cadss6")
        return row

    def chart_note(self, text: str, effective_at: datetime | None = None) -> dict:
        row = self.store.observe(self._observe_open(), Kind.NOTE, text=(text or "").strip(), effective_at=effective_at)
        self._saved("Note", row, kind="note")
        return row

    def chart_intervention(self, drug: str, dose: str, unit: str, route: str) -> dict:
        if not (drug or "").strip():
            raise ClinicalInputError("name the drug or intervention")
        amount = number(dose, "Dose", 0, 10000, required=False)
        data = {"drug": drug.strip(), "dose": amount, "unit": unit.strip(), "route": route.strip()}
        row = self.store.observe(self._observe_open(), Kind.INTERVENTION, amount, text=f"{drug.strip()} {dose} {unit} {route}".strip(),
                                 data=data)
        self._saved(f"Intervention {drug.strip()}", row, kind="intervention")
        return row

    def chart_manual_vitals(self, sys_: str = "", dia: str = "", hr: str = "", spo2: str = "") -> dict:
        sid = self._observe_open()
        s = number(sys_, "Systolic BP", 50, 260, required=False)
        d = number(dia, "Diastolic BP", 20, 180, required=False)
        h = number(hr, "Heart rate", 20, 250, required=False)
        o = number(spo2, "SpO2", 50, 100, required=False)
        if (s is None) != (d is None):
            raise ClinicalInputError("enter both systolic and diastolic BP")
        if s is None and h is None and o is None:
            raise ClinicalInputError("enter at least one value")
        if s is not None and d is not None and d >= s:
            raise ClinicalInputError("diastolic must be below systolic")
        now = self.clock.now()
        data = {k: v for k, v in (("NIBP_SYS", s), ("NIBP_DIA", d), ("HR", h), ("SPO2", o)) if v is not None}
        row = self.store.observe(sid, Kind.MANUAL_VITALS, data=data)
        readings = [Reading(Parameter(k), v, now, source="manual", flags=frozenset({Quality.MANUAL})) for k, v in data.items()]
        self.store.add_readings(sid, readings)
        self.live.feed(readings)
        findings = [f for r in readings for f in self.rules.feed(r)]
        if findings:
            for f in findings:
                alert = self.store.raise_alert(sid, f.rule, f.severity, f.message, f.data, effective_at=f.at)
                trace_saved("alert", [alert["id"]])
        self._saved("Manual vitals", row, kind="manual-vitals")
        return row

    def amend_observation(self, entry_id: str, reason: str, *, value: object = None, text: str | None = None,
                          data: dict | None = None) -> dict:
        if not (reason or "").strip():
            raise ClinicalInputError("a correction needs a reason")
        original = self.store.get(Observation, entry_id)
        changes: dict = {}
        kind = original["kind"]
        if value is not None:
            validators = {Kind.DISSOCIATION: dissociation, Kind.SEDATION: moaas, Kind.NAUSEA: nausea}
            changes["value"] = validators[kind](value) if kind in validators else number(value, "Value")
        if text is not None:
            changes["text"] = text
        if data is not None:
            changes["data"] = json.dumps(data, sort_keys=True)
        if not changes:
            raise ClinicalInputError("nothing was changed")
        row = self.store.amend(Observation, entry_id, reason, **changes)
        self._saved("Correction", row, kind="correction")
        return row

    def amend_rate_change(self, entry_id: str, reason: str, rate: object) -> dict:
        """Correct a mis-keyed rate change: a new version with the reason; the original stays visible."""
        if not (reason or "").strip():
            raise ClinicalInputError("a correction needs a reason")
        from ..store.models import RateChange

        value = number(rate, "Rate (mL/h)", 0.1, 1000)
        row = self.store.amend(RateChange, entry_id, reason, rate_ml_per_h=value)
        self._saved(f"Correction: rate {value:g} mL/h", row, kind="correction")
        return row

    def acknowledge(self, alert_id: str, action: str) -> dict:
        row = self.store.acknowledge_alert(alert_id, action)
        self._saved("Alert acknowledged", row, kind="ack")
        return row

    # --- discharge --------------------------------------------------------------------------------
    def minutes_since_start(self) -> float:
        if not self.view or not self.view.infusion_started_at:
            return 0.0
        return (self.clock.now() - self.view.infusion_started_at).total_seconds() / 60

    def evaluate(self, checklist: dict, padss: dict):
        checklist = {**checklist, "min_120": self.minutes_since_start() >= self.policy.discharge_min_after_start}
        return evaluate_discharge(self.minutes_since_start(), checklist, padss,
                                  min_minutes=self.policy.discharge_min_after_start, padss_pass=self.policy.padss_pass)

    def discharge(self, checklist: dict, padss: dict, override_reason: str, signer: Signer | None = None, *,
                  sign: Callable[[type, str], dict] | None = None, check_only: bool = False) -> dict | None:
        """Save the discharge check, sign it and end the session. Validates all before writing anything.

        ``sign(Checklist, row_id)`` signs through the re-authenticated signatures (the screen's PIN dialog);
        ``check_only`` validates and writes nothing."""
        sid = self._need_session()
        if self.state in (SessionState.INFUSING, SessionState.PAUSED):
            raise ClinicalInputError("stop the infusion before the discharge check")
        if self.state is not SessionState.RECOVERY:
            raise ClinicalInputError(f"the session is {self.state.value}; it cannot be discharged")
        decision = self.evaluate(checklist, padss)
        reason = (override_reason or "").strip()
        if decision.needs_override and not reason:
            raise ClinicalInputError("discharge override needs a reason: " + "; ".join(decision.reasons))
        if check_only:
            return None
        if sign is None and (signer is None or not signer.printed_name.strip() or not signer.user_id.strip()):
            raise ClinicalInputError("the discharge check must be signed (printed name) before the patient leaves")
        items = {"checklist": {**{k: bool(checklist.get(k)) for k, _ in DISCHARGE_ITEMS},
                               "min_120": decision.minutes_since_start >= self.policy.discharge_min_after_start},
                 "padss": {k: int(v) for k, v in padss.items()}, "minutes_since_start": round(decision.minutes_since_start, 1),
                 "reasons": list(decision.reasons), "override": bool(decision.needs_override)}
        row = self.store.save_checklist(sid, "discharge", items, passed=decision.passed, score=padss_total(padss),
                                        override_reason=reason or None)
        if sign is not None:
            signature = sign(Checklist, row["id"])
        else:
            signature = self.store.sign(Checklist, row["id"], user_id=signer.user_id, printed_name=signer.printed_name.strip(),
                            meaning="performed")
        event = self.store.session_event(sid, SessionEvent.DISCHARGE, data={"checklist": row["id"],
                                                                             "override": bool(decision.needs_override)})
        self._saved("Discharge signed", row, signature if isinstance(signature, dict) else None, event, kind="discharge")
        return row


CADSS_KEYS = CADSS6_ITEMS

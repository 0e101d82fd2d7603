"""The chair's session service: one open session, the commands a nurse gives, their rules and their writes.

Every command validates everything first, then writes through the store (durable on return; one transaction
for what the nurse saves as one thing) and only then confirms "saved" (``on_message``) and records it in the
opt-in saved trace. Device readings are charted by the :class:`~ketachart.store.vitals_writer.VitalsWriter`
and judged by the alert rules here; alerts are raised here. No Qt: the UI's ``ChairController`` is a thin
adapter that turns the ``on_*`` hooks into signals, and tests drive this class directly.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from ..auth.errors import AuthError
from ..domain.administration import AdministrationEnd, end_text, remaining_minutes, volume_infused_ml
from ..domain.alerts import AlertFinding, AlertRules
from ..domain.clock import utc
from ..domain.codes import Parameter
from ..domain.discharge import (
    DischargeChart,
    DischargeReadiness,
    OpenAlert,
    assess_discharge,
    check_discharge,
    scores_from,
)
from ..domain.dosing import IntranasalDose, IvDose, check_weight, intranasal_dose, iv_dose
from ..domain.errors import ClinicalInputError, IllegalTransition
from ..domain.readings import Quality, Reading
from ..domain.scales import (
    DISCHARGE_ITEMS,
    cadss6_total,
    dissociation,
    moaas,
    nausea,
    padss_total,
    phq9,
)
from ..domain.session import SessionEvent, SessionState
from ..domain.signal_alarms import SignalWatch
from ..domain.timeline import StateChange
from ..domain.vitals import NIBP_SAME_MEASUREMENT_S, reading_from_row, usable
from ..domain.vocabulary import Kind, dose_words, drug_of, kind_of
from ..store.errors import NotFound
from ..store.models import Checklist, Course, DoseAdministration, Observation, RateChange, Session
from ..store.views import SessionView, session_view
from ..store.vitals_writer import VitalsWriter
from .forms import PresessionForm, number
from .records import check_presession_records, order_in_force_words, write_presession_order, write_presession_records
from .saved_trace import trace_saved, trace_vitals_committed
from .signing import SignatureStep, SigningFlow

USER_ERRORS = (ClinicalInputError, IllegalTransition, NotFound)  # what a nurse can fix: a message, nothing saved
SIGNING_ERRORS = USER_ERRORS + (AuthError,)  # ... and, while signing, a wrong PIN or a locked account


PUMP_PARAMETERS = frozenset({Parameter.PUMP_RATE, Parameter.PUMP_VI, Parameter.PUMP_VTBI, Parameter.PUMP_STATE,
                             Parameter.PUMP_ALARM})
PUMP_FRESH_S = 60.0  # a pump report older than this is not "the pump's volume now"


def _nothing(*_args) -> None:
    return None


def course_label(route: str) -> str:
    return "IV ketamine course" if route == "IV" else "Intranasal esketamine course"


@dataclass
class PlannedSession:
    """A pre-session being filled in for ``patient``: held in memory only; saving it creates the session."""

    patient: dict
    route: str
    number: int  # the session's number in its course, once saved


def baseline_bp(view: SessionView | None) -> tuple[float, float] | None:
    """(systolic, diastolic) charted as the pre-session baseline, if any."""
    for e in view.observations_of(Kind.MANUAL_VITALS) if view else ():
        data = e.data
        if data.get("label") == "baseline" and data.get("NIBP_SYS"):
            return float(data["NIBP_SYS"]), float(data["NIBP_DIA"])
    return None


# What the discharge check and the pre-dose gate read of the live readings (the rest is plotted, not judged).
VITALS = frozenset({Parameter.HR, Parameter.PR, Parameter.SPO2, Parameter.NIBP_SYS, Parameter.NIBP_DIA, Parameter.RR})


def is_monitor_source(source: str) -> bool:
    """A vital-signs monitor's readings (not a pump's, not typed)."""
    return source.startswith("device:") and not source.startswith("device:bbraun")


def discharge_chart(view: SessionView, vitals: list[Reading], predose_bp: tuple[float, float] | None) -> DischargeChart:
    """What the discharge check reads of a session: its events, current scores, vital readings (flags kept),
    unacknowledged alerts and the pre-dose BP. The chair and the demo session build it the same way."""
    changes = tuple(StateChange(SessionEvent(e["event"]), utc(e["effective_at"])) for e in view.events)
    scores = scores_from((o.row["kind"], o.row["value"], utc(o.row["effective_at"]), o.data) for o in view.observations)
    alerts = tuple(OpenAlert(a.row["rule"], a.row["severity"], a.row["message"], utc(a.row["effective_at"]))
                   for a in view.alerts if not a.acknowledged)
    return DischargeChart(view.session["route"], changes, scores, tuple(vitals), alerts, predose_bp)


class ChairService:
    """The open session at this chair and every command on it. Call from one thread (the UI's)."""

    planned: PlannedSession | None = None  # a pre-session being filled in: nothing stored until saved

    def __init__(self, store, clock, devices=None, *, speed: float = 1.0, writer_interval_s: float = 1.0,
                 on_writer_report: Callable[[int, str], None] | None = None) -> None:
        self.store = store
        self.clock = clock
        self.speed = speed
        self.devices = devices  # hardware.devices.DeviceManager (monitor-silent rule), or None
        self.signatures = None  # ketachart.auth.Signatures, once someone can sign (set by the composition)
        self.writer = VitalsWriter(store, writer_interval_s, on_report=on_writer_report,
                                   on_committed=trace_vitals_committed)
        self.rules = AlertRules(store.policy)
        self.watch = SignalWatch(store.policy)  # HR/PR source, missing signals, RR, apnea, device alarms
        self.vitals: list[Reading] = []  # this session's vital readings (discharge check, pre-dose BP)
        self.session_id: str | None = None
        self.view: SessionView | None = None
        self.last_reading_at: dict[str, datetime] = {}  # by source ('device:ge' ...): the monitor-silent rule
        self._watching_since: dict[str, datetime] = {}  # by source: first tick a connection had sent nothing
        self.pump_latest: dict[Parameter, Reading] = {}  # the pump's last report of each kind (the pump tile)
        self._discharge_offered = False
        self._chart_opened: str | None = None
        self.planned: PlannedSession | None = None  # a pre-session being filled in: nothing stored until saved
        # hooks for the UI adapter (no-ops here): all called on the caller's thread
        self.on_view_changed: Callable[[], None] = _nothing
        self.on_message: Callable[[str, str], None] = _nothing  # text, kind: saved | error | info
        self.on_discharge_due: Callable[[], None] = _nothing
        self.on_session_closed: Callable[[str], None] = _nothing
        self.on_readings_charted: Callable[[list[Reading]], None] = _nothing  # manual vitals (not stored as readings)

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def policy(self):
        return self.store.policy

    @property
    def state(self) -> SessionState | None:
        return self.view.state if self.view else None

    def shutdown(self) -> None:
        if self.devices is not None:
            self.devices.stop_all()
        self.writer.stop()

    def open_session(self, session_id: str) -> list[dict]:
        """Open ``session_id`` at this chair; returns its stored readings (the live view loads them)."""
        self.session_id = session_id
        self._discharge_offered = False
        history = self.store.readings(session_id)
        self.rules = AlertRules(self.policy)
        self.watch = SignalWatch(self.policy)
        self.vitals = []
        self.refresh()
        started = self.view.infusion_started_at if self.view else None
        # what the devices last sent is the chair's, not the session's: a monitor streaming while the session
        # opens is not "silent" (a false "No reading from the GE" at start came from forgetting it here)
        for row in history:  # rebuild what the rules remember; findings were stored when they happened
            src = row.get("source")
            if src and (src not in self.last_reading_at or utc(row["effective_at"]) > self.last_reading_at[src]):
                self.last_reading_at[src] = utc(row["effective_at"])
            try:
                reading = reading_from_row(row)
            except ValueError:
                continue
            if started is not None and self.watch.session_started_at is None and reading.host_time >= utc(started):
                self.watch.start(utc(started))
            self._judge(reading)
        if started is not None and self.watch.session_started_at is None:
            self.watch.start(utc(started))
        for r in self._manual_readings():  # hand-taken vitals are observations, not readings: the checks read both
            self._add_vital(r)
        for a in self.store.unacknowledged_alerts(session_id):
            self.rules.mark_active(a["rule"])
            self.watch.mark_active(a["rule"])
        if self.view is not None:
            self.audit_open_chart(self.view.patient["patient_id"], session_id)
        return history

    def patients(self, search: str | None = None) -> list[dict]:
        return self.store.patients(search)

    def session_in_progress(self) -> str | None:
        """The latest session at this chart file that has not ended (a relaunch after a crash reopens it)."""
        open_ = self.store.open_sessions()
        return max(open_, key=lambda s: s["effective_at"])["id"] if open_ else None

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
        self.on_view_changed()
        if sid:
            self.on_session_closed(sid)

    def refresh(self) -> None:
        self.view = session_view(self.store, self.session_id) if self.session_id else None
        self.on_view_changed()

    def unacknowledged(self) -> list[dict]:
        if not self.view:
            return []
        return [a.row for a in self.view.alerts if not a.acknowledged]

    # --- readings and alerts ----------------------------------------------------------------------
    def feed(self, batch: list[Reading]) -> None:
        """Device readings (in arrival order): chart them (writer thread) and judge them by the alert rules."""
        for r in batch:
            self.last_reading_at[r.source] = r.host_time
            if r.parameter in PUMP_PARAMETERS:
                self.pump_latest[r.parameter] = r
        if self.session_id is None or (self.view and self.view.state.is_final):
            return
        self.writer.submit(self.session_id, [r for r in batch if r.worth_charting])
        if self.rules.policy is not self.policy:  # an admin recorded a new policy version: use it from now on
            self.rules.policy = self.watch.policy = self.policy
        findings: list[AlertFinding] = []
        for r in batch:
            findings += self._judge(r)
        if findings:
            self._raise(findings)
            self.refresh()

    def _judge(self, r: Reading) -> list[AlertFinding]:
        """One reading through the alert rules: heart-rate alarms from ECG HR (pulse rate only without ECG),
        every other clinical alarm from usable values only, the signal watch from everything."""
        if r.parameter in VITALS and r.value is not None:
            self._add_vital(r)
        found = self.watch.feed(r)
        if r.parameter in (Parameter.HR, Parameter.PR):
            if self.watch.heart_rate_source(r):
                found += self.rules.feed(r)
        else:
            found += self.rules.feed(r)  # AlertRules applies the one validity rule itself
        return found

    def _add_vital(self, r: Reading) -> None:
        """Keep this session's vitals in time order (a hand-taken BP may be charted minutes after it was taken)."""
        if self.vitals and r.host_time < self.vitals[-1].host_time:
            bisect.insort(self.vitals, r, key=lambda x: x.host_time)
        else:
            self.vitals.append(r)

    def _manual_readings(self) -> list[Reading]:
        """The hand-taken vitals charted on this session (manual-vitals observations, the typed baseline too)."""
        out: list[Reading] = []
        for e in self.view.observations_of(Kind.MANUAL_VITALS) if self.view else ():
            at = utc(e.row["effective_at"])
            for key, value in e.data.items():
                if key in Parameter.__members__ and isinstance(value, (int, float)) and not isinstance(value, bool):
                    out.append(Reading(Parameter[key], float(value), at, source="manual",
                                       flags=frozenset({Quality.MANUAL})))
        return out

    def _raise(self, findings: list[AlertFinding]) -> None:
        for f in findings:
            row = self.store.raise_alert(self.session_id, f.rule, f.severity, f.message, f.data, effective_at=f.at)
            trace_saved("alert", [row["id"]])

    def tick(self) -> None:
        """Once a second: the monitor-silent rule and the discharge offer (``on_discharge_due``)."""
        if self.session_id is None or self.view is None or self.view.state.is_final:
            return
        now = self.clock.now()
        quiet = max(self.policy.monitor_silent_s, 3.0 * self.speed)
        findings = []
        for conn in self.devices.monitors() if self.devices is not None else ():
            last = self.last_reading_at.get(conn.source)
            if last is None:  # nothing yet since Connect: silent only after a whole quiet period of it
                since = self._watching_since.setdefault(conn.source, now)
                silent = conn.state in ("streaming", "silent", "lost") and (now - since).total_seconds() > quiet
            else:
                silent = (now - last).total_seconds() > quiet
            findings += self.rules.monitor_silent(silent, now, conn.label)
        if self.view.state in (SessionState.INFUSING, SessionState.PAUSED, SessionState.RECOVERY):
            last_bp = self.latest_bp(now)
            due = self.view.clocks(now, self.policy, last_bp[2] if last_bp else None).next_bp_due_at
            connected = bool(self.devices.monitors()) if self.devices is not None else False
            findings += self.watch.tick(now, self.monitor_streaming(), due, monitor_connected=connected)
        if findings:
            self._raise(findings)
            self.refresh()
        c = self.view.clocks(now, self.policy)
        if (c.discharge_remaining is not None and c.discharge_remaining <= timedelta(0) and not self._discharge_offered
                and self.view.state is SessionState.RECOVERY):
            self._discharge_offered = True
            self.on_discharge_due()

    def monitor_streaming(self) -> bool:
        """A monitor's readings arrived within the policy's quiet time (connection states aside: data is what counts)."""
        now = self.clock.now()
        quiet = max(self.policy.monitor_silent_s, 3.0 * self.speed)
        return any(is_monitor_source(src) and (now - at).total_seconds() <= quiet
                   for src, at in self.last_reading_at.items())

    def latest_bp(self, before: datetime | None = None) -> tuple[float, float, datetime, str] | None:
        """(systolic, diastolic, when, source) of the latest usable BP at or before ``before``: from the monitor or
        typed (manual vitals and the typed pre-session baseline alike)."""
        before = before or self.clock.now()
        found: tuple[float, float, datetime, str] | None = None
        dia: Reading | None = None
        for r in reversed(self.vitals):  # newest first: the first whole measurement found is the latest
            if r.host_time > before or r.parameter not in (Parameter.NIBP_SYS, Parameter.NIBP_DIA) or not usable(r):
                continue
            if r.parameter is Parameter.NIBP_DIA:
                dia = r
            elif dia is not None and abs((dia.host_time - r.host_time).total_seconds()) <= NIBP_SAME_MEASUREMENT_S:
                found = (r.value, dia.value, r.host_time, "monitor" if is_monitor_source(r.source) else "typed")
                break
        for e in self.view.observations_of(Kind.MANUAL_VITALS) if self.view else ():
            d, at = e.data, utc(e.row["effective_at"])
            if d.get("label") == "baseline" and d.get("NIBP_SYS") and at <= before and (found is None or at > found[2]):
                found = (float(d["NIBP_SYS"]), float(d["NIBP_DIA"]), at, "typed")
        return found

    def predose_bp(self) -> tuple[float, float, datetime, str] | None:
        """The latest BP before the start of administration (before now, when it has not started)."""
        started = self.view.infusion_started_at if self.view else None
        return self.latest_bp(utc(started) - timedelta(microseconds=1) if started else None)

    # --- commands ---------------------------------------------------------------------------------
    def _saved(self, what: str, *rows: dict | None, kind: str = "entry") -> None:
        """Confirm rows the store has already committed (``rows`` go to the opt-in saved trace)."""
        trace_saved(kind, [r["id"] for r in rows if r])
        self.refresh()
        self.on_message(f"{what} - saved {self.clock.now().astimezone():%H:%M:%S}", "saved")

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
        self.on_message(f"Patient {family}, {given} saved", "saved")
        return row

    def chair_busy(self, patient_id: str) -> str:
        """Why this chair cannot start a session for ``patient_id`` now ('' when it can): one chair runs one
        session at a time, so another patient's session that has begun (checked in, infusing, paused or in
        recovery) must be discharged or ended first."""
        for s in self.store.open_sessions():
            if s["patient_id"] == patient_id:
                continue
            state = self.store.session_state(s["id"])
            if state is SessionState.PLANNED:
                continue
            other = self.store.patient(s["patient_id"])
            return (f"this chair has a session {state.value} for {other['family_name'].upper()}, "
                    f"{other['given_name']}; discharge it (or end it with a reason) before starting another")
        return ""

    def start_session(self, patient_id: str, route: str = "IV") -> str:
        """Open the patient's session in progress (returns its id), else begin a pre-session for ``route``
        (returns ''): nothing is stored until the pre-session is saved. Refused while another patient's
        session is under way at this chair."""
        open_ = [s for s in self.store.sessions_for_patient(patient_id) if not self.store.session_state(s["id"]).is_final]
        if open_:
            self.planned = None
            self.open_session(open_[-1]["id"])
            return open_[-1]["id"]
        busy = self.chair_busy(patient_id)
        if busy:
            raise ClinicalInputError(busy)
        if route not in ("IV", "IN"):
            raise ClinicalInputError("route must be IV (ketamine) or IN (esketamine)")
        patient = self.store.patient(patient_id)
        courses = [c for c in self.store.rows(Course, patient_id=patient_id) if c["route"] == route]
        number = 1 + (len(self.store.rows(Session, course_id=courses[-1]["id"])) if courses else 0)
        if self.session_id is not None:
            self.close_session()
        self.planned = PlannedSession(patient, route, number)
        self.audit_open_chart(patient_id)
        self.on_view_changed()
        return ""

    def last_presession(self, patient_id: str) -> tuple[datetime, PresessionForm] | None:
        """This patient's own last saved pre-session (its date and what may be copied), for the explicit
        "Copy from last session" button. Copied: medications, REMS answers, escort and the dose settings;
        never consent, no-driving, weight, baseline vitals, PHQ-9, lot or waste (today's facts)."""
        for s in sorted(self.store.sessions_for_patient(patient_id), key=lambda r: r["effective_at"], reverse=True):
            view = session_view(self.store, s["id"])
            check = view.checklist("pre-session")
            if check is None:
                continue
            items = check.items
            form = PresessionForm(
                current_meds=str(items.get("current_meds") or ""),
                rems={k[5:]: bool(v) for k, v in items.items() if k.startswith("rems_")},
                escort_name=str(items.get("escort_name") or ""), escort_phone=str(items.get("escort_phone") or ""),
                route=s["route"])
            if view.dose is not None:
                d = view.dose.row
                if s["route"] == "IN":
                    form.in_dose_mg = f"{d['dose_mg']:g}"
                else:
                    form.mg_per_kg = f"{d['mg_per_kg']:g}" if d.get("mg_per_kg") else ""
                    form.concentration = (f"{d['concentration_mg_per_ml']:g}"
                                          if d.get("concentration_mg_per_ml") else "")
                    form.minutes = f"{d['minutes']:g}" if d.get("minutes") else ""
            return utc(check.row["effective_at"]), form
        return None

    def cancel_session(self, reason: str = "") -> None:
        """Leave a pre-session: an unsaved one simply goes (nothing was stored); a stored session that has not
        started (planned or checked in) is ended with the reason (an abort event), never deleted."""
        if self.session_id is None:
            if self.planned is not None:
                self.planned = None
                self.on_message("Pre-session closed; nothing was saved", "info")
                self.on_view_changed()
            return
        if self.state not in (SessionState.PLANNED, SessionState.CHECKED_IN):
            raise ClinicalInputError(f"the session is {self.state.value}; only a session not yet started can be cancelled")
        if not (reason or "").strip():
            raise ClinicalInputError("cancelling a session needs a reason")
        row = self.store.session_event(self.session_id, SessionEvent.ABORT, reason=reason.strip())
        self._saved("Session cancelled", row, kind="cancel")
        self.close_session()

    # --- pre-session --------------------------------------------------------------------------------
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

    def presession_order(self) -> str:
        """The order in force for this pre-session's course, in words ('' when none): issue 16."""
        patient, route = ((self.planned.patient, self.planned.route) if self.planned is not None
                          else (self.view.patient, self.view.session["route"]) if self.view else (None, None))
        return order_in_force_words(self.store, patient["patient_id"], route) if patient else ""

    def _check_presession(self, form: PresessionForm) -> dict:
        """Validate the whole form; the values to write, or a ClinicalInputError naming the first problem."""
        if self.planned is None:
            self._need_session()
            if self.state not in (SessionState.PLANNED, SessionState.CHECKED_IN):
                raise ClinicalInputError("pre-session checks are done; the session has started")
        weight = check_weight(form.weight_kg, self.policy)
        if not form.consent:
            raise ClinicalInputError("consent on file must be confirmed before dosing")
        if not form.escort_name.strip() or not form.escort_phone.strip():
            raise ClinicalInputError("the escort's name and phone are required")
        if not form.no_driving:
            raise ClinicalInputError("the patient must acknowledge: no driving until tomorrow")
        v = {
            "weight": weight,
            "fasting": number(form.fasting_hours, "Fasting hours", 0, 48, required=False),
            "sys": number(form.baseline_sys, "Baseline systolic BP", 50, 260),
            "dia": number(form.baseline_dia, "Baseline diastolic BP", 20, 180),
            "hr": number(form.baseline_hr, "Baseline heart rate", 20, 250, required=False),
            "spo2": number(form.baseline_spo2, "Baseline SpO2", 50, 100, required=False),
            "phq": None,
            "phq_items": [str(i).strip() for i in form.phq9_items],
        }
        if any(v["phq_items"]):
            if not all(v["phq_items"]):
                raise ClinicalInputError("PHQ-9: answer all 9 items, or leave all empty")
            v["phq"] = phq9(v["phq_items"])
        view_route = self.planned.route if self.planned else self.view.session["route"] if self.view else form.route
        if form.route != view_route:
            raise ClinicalInputError(f"this session is {view_route}; start a new session for another route")
        v["dose"] = self.preview_dose(PresessionForm(**{**form.__dict__, "weight_kg": str(weight)}))
        if not form.lot.strip():
            raise ClinicalInputError("the lot number is required")
        v["waste"] = form.waste()
        if v["waste"] > 0:
            if not form.waste_method.strip():
                raise ClinicalInputError("say how the waste was disposed of")
            if not form.waste_witness.strip():
                raise ClinicalInputError("waste of a controlled substance needs a witness")
            if form.waste_witness.strip() == self.store.author:
                raise ClinicalInputError("the witness must be someone else")
        # issue 16: required pre-session items, the prescriber's order, the product's expiry (chair/records.py)
        v["records"] = check_presession_records(self.store, self.session_id, form.items, v["dose"],
                                                form.lot, form.vial_strength_mg_per_ml, form.vial_ml, form.expiry,
                                                planned=(self.planned.patient, self.planned.route)
                                                if self.planned is not None else None,
                                                new_order=bool(form.order_prescriber.strip()))
        return v

    def presession_signing(self, form: PresessionForm) -> SigningFlow:
        """The signatures the pre-session save needs: the nurse signs the dose (performed) and, when there is
        waste, a witness signs it (witnessed), each with their own PIN. The form is saved with the last."""
        v = self._check_presession(form)
        self._need_signatures("the dose")
        dose = v["dose"]
        steps = [SignatureStep("performed", f"Dose: {dose_words(form.route, dose.dose_mg)}, lot {form.lot.strip()}",
                               user_id=self.store.author, cancelled="dose not signed; nothing was saved")]
        new_order = v["records"]["new_order"]
        if new_order is not None:  # issue 16: the prescriber signs the order first, in the same save
            steps.insert(0, SignatureStep(
                "performed", f"Order (standing, this course): {new_order.words()}. The prescriber signs with their "
                "own user id and PIN.", user_id=form.order_prescriber.strip(), role="prescriber",
                cancelled="order not signed; nothing was saved"))
        if v["waste"] > 0:
            steps.append(SignatureStep(
                "witnessed", f"Waste witness: {v['waste']:g} mg {drug_of(form.route)}, {form.waste_method.strip()}. The witness "
                "signs with their own user id and PIN.", user_id=form.waste_witness.strip(),
                not_user=self.store.author, cancelled="waste not witnessed; nothing was saved"))

        def save(signers):
            prescriber = signers.pop(0) if new_order is not None else None
            return self.save_presession(form, signers[0], signers[1] if len(signers) > 1 else None,
                                        prescriber=prescriber)

        return SigningFlow(steps, save)

    def save_presession(self, form: PresessionForm, nurse, witness=None, prescriber=None) -> dict:
        """Validate, then chart check-in, pre-checks, baseline, PHQ-9, dose, waste (in that order) and sign the
        dose (``nurse``) and waste (``witness``): one transaction, so all of it is on disk with its signatures,
        or nothing. ``nurse``/``witness`` (and ``prescriber``, for a new order) come from ``Signatures.verify``.
        Returns ``{"dose": row, "waste": row or None}``."""
        if witness is not None:
            form = PresessionForm(**{**form.__dict__, "waste_witness": witness.user_id})
        v = self._check_presession(form)
        sigs = self._need_signatures("the dose")
        if v["waste"] > 0 and witness is None:
            raise ClinicalInputError("waste of a controlled substance needs a witness's signature")
        sid, dose, waste = self.session_id, v["dose"], v["waste"]
        planned = self.planned
        written: list[dict] = []
        with self.store.atomic():
            if planned is not None:  # the session, and its course if this is the first, are created now
                busy = self.chair_busy(planned.patient["patient_id"])
                if busy:
                    raise ClinicalInputError(busy)
                pid = planned.patient["patient_id"]
                courses = [c for c in self.store.rows(Course, patient_id=pid) if c["route"] == planned.route]
                course = courses[-1] if courses else self.store.create_course(pid, planned.route, course_label(planned.route))
                new = self.store.create_session(pid, planned.route, course["id"], chair=self.store.device_id)
                written += ([] if courses else [course]) + [new]
                sid = new["id"]
                written.append(self.store.session_event(sid, SessionEvent.CHECK_IN))
            elif self.state is SessionState.PLANNED:
                written.append(self.store.session_event(sid, SessionEvent.CHECK_IN))
            items_saved = {
                "consent_on_file": True, "fasting_hours": v["fasting"], "current_meds": form.current_meds.strip(),
                **{f"rems_{k}": bool(x) for k, x in form.rems.items()},
                "escort_name": form.escort_name.strip(), "escort_phone": form.escort_phone.strip(),
                "no_driving_acknowledged": True, "weight_kg": v["weight"],
            }
            for item, answer in items_saved.items():
                written.append(self.store.observe(sid, Kind.PRECHECK, data={"item": item, "answer": answer}))
            vit = {"NIBP_SYS": v["sys"], "NIBP_DIA": v["dia"], "label": "baseline", "source": form.baseline_source}
            if v["hr"] is not None:
                vit["HR"] = v["hr"]
            if v["spo2"] is not None:
                vit["SPO2"] = v["spo2"]
            written.append(self.store.observe(sid, Kind.MANUAL_VITALS, data=vit))
            if v["phq"] is not None:
                written.append(self.store.observe(
                    sid, Kind.PHQ9, value=v["phq"].total,
                    data={"items": [int(i) for i in v["phq_items"]], "band": v["phq"].band},
                    patient_id=planned.patient["patient_id"] if planned else self.view.patient["patient_id"]))
            written.append(self.store.save_checklist(
                sid, "pre-session", {**items_saved, "baseline_bp": f"{v['sys']:g}/{v['dia']:g}"}, passed=True))
            order_row = write_presession_order(self.store, v["records"], prescriber)  # issue 16: signed first
            if order_row is not None:
                written += [order_row, sigs.sign_as(Observation, order_row["id"], prescriber)]
            dose_row = self.store.record_dose(sid, dose, lot=form.lot.strip(), prepared_by=self.store.author)
            written += write_presession_records(self.store, sid, v["records"], dose_row)  # issue 16
            waste_row = None
            if waste > 0:
                waste_row = self.store.observe(sid, Kind.WASTE, value=waste, data={
                    "amount_mg": waste, "method": form.waste_method.strip(), "witness": form.waste_witness.strip()})
            written.append(self.store.audit("presession", f"sessions:{sid}", {"dose": dose_row["id"]}))
            written.append(sigs.sign_as(DoseAdministration, dose_row["id"], nurse))
            if waste_row is not None:
                written.append(sigs.sign_as(Observation, waste_row["id"], witness))
        if planned is not None:
            self.planned = None
            self.open_session(sid)
        self._saved(f"Pre-session checks and dose {dose.dose_mg:g} mg", *written, dose_row, waste_row, kind="presession")
        return {"dose": dose_row, "waste": waste_row}

    def _need_signatures(self, what: str):
        if self.signatures is None:
            raise ClinicalInputError(f"{what} must be signed, and nobody is signed in to sign it")
        return self.signatures

    # --- administration -------------------------------------------------------------------------------
    def baseline_over_limit(self) -> str:
        """The pre-dose BP warning for the latest BP before the start (monitor or typed), or ""."""
        b = self.predose_bp()
        return self.predose_warning(b[0], b[1]) if b else ""

    def start_needs(self) -> str:
        """What the start gate will ask for: "predose-bp", "monitor" or "" (the screen opens that dialog)."""
        if self.baseline_over_limit():
            return "predose-bp"
        return "" if self.monitor_streaming() else "monitor"

    def start_infusion(self, predose_reviewed: str | None = None, without_monitor: str | None = None) -> bool:
        """Start administration. Returns False (nothing saved) when a pre-dose BP warning needs review first, or
        when no monitor is streaming and nobody has confirmed starting without one (``without_monitor``: why)."""
        sid = self._need_session()
        if self.view is None or self.view.dose is None:
            raise ClinicalInputError("record the dose in the pre-session checks first")
        warning = self.baseline_over_limit()
        if warning and not (predose_reviewed or "").strip():
            return False
        unmonitored = not self.monitor_streaming()
        if unmonitored and not (without_monitor or "").strip():
            return False
        if self.state is not SessionState.CHECKED_IN:
            raise ClinicalInputError(f"the session is {self.state.value}; the infusion cannot start now")
        rate = self.view.dose.row.get("rate_ml_per_h")
        now = self.clock.now()
        with self.store.atomic():
            if warning:
                b = self.predose_bp()
                alert = self.store.raise_alert(sid, "predose-bp", "warning", warning,
                                               {"sys": b[0], "dia": b[1], "source": b[3]})
                self.store.acknowledge_alert(alert["id"], f"Started after review: {predose_reviewed.strip()}")
            row = self.store.session_event(sid, SessionEvent.START_INFUSION,
                                           data={"rate_ml_per_h": rate} if rate else None)
            self.watch.start(now)
            if unmonitored:  # stays open (and the rule active) until monitoring returns
                for f in self.watch.monitoring(False, now, reason=without_monitor.strip()):
                    self.store.raise_alert(sid, f.rule, f.severity, f.message, f.data, effective_at=f.at)
        self._saved("Infusion started" if self.view.dose.row["route"] == "IV" else "Administration started", row,
                    kind="start")
        return True

    def pause(self, reason: str) -> None:
        row = self.store.session_event(self._need_session(), SessionEvent.PAUSE, reason=reason)
        self._saved("Infusion paused", row, kind="pause")

    def resume(self) -> None:
        row = self.store.session_event(self._need_session(), SessionEvent.RESUME)
        self._saved("Infusion resumed", row, kind="resume")

    def current_rate(self) -> float | None:
        """The rate in force now (mL/h): the last rate change, else the start's rate, else the dose's."""
        v = self.view
        if v is None or v.dose is None:
            return None
        if v.rate_changes:
            return float(max(v.rate_changes, key=lambda r: r.row["effective_at"]).row["rate_ml_per_h"])
        start = [e for e in v.events if e["event"] == SessionEvent.START_INFUSION.value]
        rate = (start[0]["details"].get("rate_ml_per_h") if start else None) or v.dose.row.get("rate_ml_per_h")
        return float(rate) if rate else None

    def remaining_at(self, rate: object) -> tuple[float, float] | None:
        """(mL left, minutes to run them) at ``rate`` mL/h, from the volume infused so far; None if unknown."""
        v = self.view
        try:
            new_rate = float(str(rate).replace(",", "."))
        except (TypeError, ValueError):
            return None
        if v is None or v.dose is None or not v.dose.row.get("volume_ml") or new_rate <= 0:
            return None
        start = [e for e in v.events if e["event"] == SessionEvent.START_INFUSION.value]
        start_rate = (start[0]["details"].get("rate_ml_per_h") if start else None) or v.dose.row.get("rate_ml_per_h") or 0
        infused = volume_infused_ml(v.infusion_spans(), float(start_rate),
                                    [(r.row["effective_at"], float(r.row["rate_ml_per_h"])) for r in v.rate_changes],
                                    self.clock.now())
        return remaining_minutes(float(v.dose.row["volume_ml"]), infused, new_rate)

    def change_rate(self, rate: str, reason: str) -> None:
        value = number(rate, "Rate (mL/h)", 0.1, 1000)
        left = self.remaining_at(value)
        row = self.store.change_rate(self._need_session(), value, reason)
        tail = f": {left[0]:.1f} mL left, about {left[1]:.0f} min" if left else ""
        self._saved(f"Rate {value:g} mL/h{tail}", row, kind="rate")

    def pump_volume_infused(self) -> float | None:
        """The connected pump's volume infused (mL), when it reported one in the last minute."""
        r = self.pump_latest.get(Parameter.PUMP_VI)
        if r is None or r.value is None or (self.clock.now() - r.host_time).total_seconds() > PUMP_FRESH_S:
            return None
        return float(r.value)

    def stop_infusion(self, reason: str = "", *, completed: bool = True, delivered_ml: object = None) -> dict:
        """End the administration: completed, or stopped early with a reason, and the amount delivered
        (the pump's volume infused when a pump is connected, else the typed volume; a completed infusion with
        neither delivered its ordered volume). Charted as the stop-infusion event's data."""
        sid = self._need_session()
        reason = (reason or "").strip()
        if not completed and not reason:
            raise ClinicalInputError("say why the infusion was stopped early")
        dose = self.view.dose.row if self.view and self.view.dose else None
        end = AdministrationEnd(completed, None, None, "", reason)
        if dose is not None and dose["route"] == "IV" and dose.get("volume_ml"):
            ordered_ml, conc = float(dose["volume_ml"]), float(dose["concentration_mg_per_ml"])
            pump = self.pump_volume_infused()
            typed = number(delivered_ml, "Volume delivered (mL)", 0, ordered_ml + 0.5, required=False)
            if pump is not None:
                ml, source = min(pump, ordered_ml + 0.5), "pump"
            elif typed is not None:
                ml, source = typed, "typed"
            elif completed:
                ml, source = ordered_ml, "ordered"
            else:
                raise ClinicalInputError("no pump is connected: type the volume delivered (mL)")
            end = AdministrationEnd(completed, round(ml, 2), round(ml * conc, 2), source, reason)
        data = {k: v for k, v in end.as_data().items() if v is not None}
        row = self.store.session_event(sid, SessionEvent.STOP_INFUSION, reason=reason or None, data=data)
        ordered = float(dose["dose_mg"]) if dose else 0.0
        self._saved(end_text(end, ordered) if dose else "Infusion stopped", row, kind="stop")
        return row

    # --- charting -------------------------------------------------------------------------------------
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
        row = self.store.observe(self._observe_open(), Kind.INTERVENTION, amount,
                                 text=f"{drug.strip()} {dose} {unit} {route}".strip(), data=data)
        self._saved(f"Intervention {drug.strip()}", row, kind="intervention")
        return row

    def chart_manual_vitals(self, sys_: str = "", dia: str = "", hr: str = "", spo2: str = "",
                            taken_at: str = "", rr: str = "") -> dict:
        """Vitals the nurse measured by hand, "taken at" HH:MM (empty = now): charted ONCE, as a manual-vitals
        observation (never also as device readings: not in the monitor's HR trace, the live tiles' monitor
        values, nor a second FHIR Observation), and judged by the alert rules and the discharge check."""
        sid = self._observe_open()
        s = number(sys_, "Systolic BP", 50, 260, required=False)
        d = number(dia, "Diastolic BP", 20, 180, required=False)
        h = number(hr, "Heart rate", 20, 250, required=False)
        o = number(spo2, "SpO2", 50, 100, required=False)
        b = number(rr, "Respiratory rate", 0, 80, required=False)
        if (s is None) != (d is None):
            raise ClinicalInputError("enter both systolic and diastolic BP")
        if s is None and h is None and o is None and b is None:
            raise ClinicalInputError("enter at least one value")
        if s is not None and d is not None and d >= s:
            raise ClinicalInputError("diastolic must be below systolic")
        when = self.parse_time(taken_at) or self.clock.now()
        data = {k: v for k, v in (("NIBP_SYS", s), ("NIBP_DIA", d), ("HR", h), ("SPO2", o), ("RR", b)) if v is not None}
        row = self.store.observe(sid, Kind.MANUAL_VITALS, data=data, effective_at=when if taken_at.strip() else None)
        readings = [Reading(Parameter(k), v, when, source="manual", flags=frozenset({Quality.MANUAL})) for k, v in data.items()]
        self.on_readings_charted(readings)
        findings = [f for r in readings for f in self._judge(r)]
        if findings:
            self._raise(findings)
        self._saved("Manual vitals", row, kind="manual-vitals")
        return row

    def amend_observation(self, entry_id: str, reason: str, *, value: object = None, text: str | None = None,
                          data: dict | None = None) -> dict:
        if not (reason or "").strip():
            raise ClinicalInputError("a correction needs a reason")
        original = self.store.get(Observation, entry_id)
        changes: dict = {}
        kind = kind_of(original["kind"])
        if kind is None or not kind.amendable:
            raise ClinicalInputError("this entry cannot be corrected in place; add a note saying what happened")
        if value is not None:
            changes["value"] = kind.validate(value) if kind.validate else number(value, "Value")
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

    def discharge_chart(self) -> DischargeChart:
        """What the discharge check reads: this session's events, scores, vitals, open alerts, pre-dose BP."""
        if self.view is None:
            raise ClinicalInputError("no session is open; start one from the patient's chart")
        predose = self.predose_bp()
        return discharge_chart(self.view, self.vitals, (predose[0], predose[1]) if predose else None)

    def readiness(self, checklist: dict | None = None, padss: dict | None = None) -> DischargeReadiness:
        """Each discharge criterion as the chart shows it now, with the nurse's ticks and PADSS scores."""
        return assess_discharge(self.discharge_chart(), self.clock.now(), self.policy, checklist or {}, padss or {})

    def evaluate(self, checklist: dict, padss: dict) -> DischargeReadiness:
        return self.readiness(checklist, padss)

    def _check_discharge(self, checklist: dict, padss: dict, override_reason: str, signer: str | None = None,
                         second_signer: str | None = None, *, signing: bool = False) -> DischargeReadiness:
        self._need_session()
        if self.state in (SessionState.INFUSING, SessionState.PAUSED):
            raise ClinicalInputError("stop the infusion before the discharge check")
        if self.state is not SessionState.RECOVERY:
            raise ClinicalInputError(f"the session is {self.state.value}; it cannot be discharged")
        if any(v is None for v in padss.values()) or len(padss) < 5:
            raise ClinicalInputError("score every PADSS item before signing")
        readiness = self.readiness(checklist, padss)
        check_discharge(readiness, override_reason, signer, second_signer, signing=signing)
        return readiness

    def discharge_signing(self, checklist: dict, padss: dict, override_reason: str) -> SigningFlow:
        """The signatures the discharge check needs: the nurse's (performed) and, for an override policy asks a
        second clinician to countersign, theirs (reviewed). Signing saves it and ends the session."""
        readiness = self._check_discharge(checklist, padss, override_reason)
        self._need_signatures("the discharge check")
        override = readiness.needs_override
        what = (f"Discharge check: PADSS {readiness.padss_total}/10, {readiness.minutes_since_start or 0:.0f} min since start"
                + (" - OVERRIDE: " + override_reason.strip() if override else "") + ". Signing ends the session.")
        steps = [SignatureStep("performed", what, user_id=self.store.author, title="Sign the discharge check - KetaChart",
                               cancelled="discharge not signed; nothing was saved")]
        if override and readiness.second_signature_required:
            steps.append(SignatureStep(
                "reviewed", "Second clinician: I reviewed this discharge override - " + override_reason.strip()
                + ". The second clinician signs with their own user id and PIN.", not_user=self.store.author,
                title="Second signature for the override - KetaChart",
                cancelled="the override needs a second clinician's signature; nothing was saved"))
        return SigningFlow(steps, lambda signers: self.discharge(checklist, padss, override_reason, signers[0],
                                                                 signers[1] if len(signers) > 1 else None))

    def discharge(self, checklist: dict, padss: dict, override_reason: str, signer, second=None) -> dict:
        """Save the discharge check with what the chart said, sign it (``signer`` and, for an override that needs
        it, ``second``, from ``Signatures.verify``) and end the session, in one transaction: a refused signature
        leaves no checklist, no signature and the session in recovery."""
        readiness = self._check_discharge(checklist, padss, override_reason, signer.user_id,
                                          second.user_id if second is not None else None, signing=True)
        sigs = self._need_signatures("the discharge check")
        sid, reason = self.session_id, (override_reason or "").strip()
        items = {"checklist": {**{k: bool(checklist.get(k)) for k, _ in DISCHARGE_ITEMS},
                               **{c.key: c.met for c in readiness.criteria}},
                 "padss": {k: int(v) for k, v in padss.items()},
                 "minutes_since_start": round(readiness.minutes_since_start or 0, 1),
                 "reasons": list(readiness.blockers), "override": readiness.needs_override,
                 "readiness": readiness.to_record(), "lines": readiness.lines()}
        with self.store.atomic():
            row = self.store.save_checklist(sid, "discharge", items, passed=readiness.ready,
                                            score=padss_total(padss), override_reason=reason or None)
            signature = sigs.sign_as(Checklist, row["id"], signer)
            written = [signature]
            if second is not None and readiness.needs_override and readiness.second_signature_required:
                written.append(sigs.sign_as(Checklist, row["id"], second))
            event = self.store.session_event(sid, SessionEvent.DISCHARGE, data={
                "checklist": row["id"], "override": readiness.needs_override})
        self._saved("Discharge signed", row, *written, event, kind="discharge")
        return row

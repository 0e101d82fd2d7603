"""View models: plain data the widgets render. Built from the store's read models and the live buffers.

Nothing here owns clinical state; every function is a pure function of what the store and the devices said
and of "now", so a repaint after a restart shows the same thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..domain.codes import Parameter
from ..domain.policy import ClinicPolicy
from ..domain.scales import DISSOCIATION_LABELS, MOAAS_LABELS, Kind, nausea_band
from ..domain.session import SessionState
from ..domain.timeline import format_duration
from .livedata import LiveData

KIND_LABELS = {
    Kind.DISSOCIATION: "Dissociation", Kind.NAUSEA: "Nausea", Kind.SEDATION: "Sedation (MOAA/S)",
    Kind.CADSS6: "CADSS-6", Kind.PHQ9: "PHQ-9", Kind.BPRS: "BPRS+", Kind.NOTE: "Note",
    Kind.INTERVENTION: "Intervention", Kind.MANUAL_VITALS: "Manual vitals", Kind.PRECHECK: "Pre-check",
    Kind.WASTE: "Waste",
}
STATE_LABELS = {
    SessionState.PLANNED: "Planned", SessionState.CHECKED_IN: "Checked in - pre-session",
    SessionState.INFUSING: "Infusing", SessionState.PAUSED: "Infusion PAUSED", SessionState.RECOVERY: "Recovery",
    SessionState.DISCHARGED: "Discharged", SessionState.ABORTED: "Ended (aborted)",
}


def local(dt: datetime | None, seconds: bool = False) -> str:
    if dt is None:
        return "--:--"
    return dt.astimezone().strftime("%H:%M:%S" if seconds else "%H:%M")


def age_text(delta: timedelta) -> str:
    s = max(0, int(delta.total_seconds()))
    if s < 60:
        return f"{s} s ago"
    if s < 3600:
        return f"{s // 60} min ago"
    return f"{s // 3600} h {s % 3600 // 60} min ago"


# --- numerics ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NumericVM:
    key: str
    label: str
    value: str
    unit: str
    level: str = "normal"  # normal, warn, alarm, stale (colour is only the second cue)
    cue: str = ""  # the first cue, in words: "HIGH", "LOW", "NO SIGNAL"
    sub: str = ""  # e.g. age of the last NIBP


def numerics(live: LiveData, now: datetime, policy: ClinicPolicy, stale_s: float = 30.0) -> list[NumericVM]:
    out = []
    hr = live.latest.get(Parameter.HR)
    if hr is None:
        out.append(NumericVM("hr", "HR", "--", "/min", "stale", "NO DATA"))
    elif hr.value is None or (now - hr.at).total_seconds() > stale_s:
        out.append(NumericVM("hr", "HR", "--", "/min", "stale", "NO SIGNAL"))
    else:
        v = hr.value
        level, cue = ("alarm", "LOW") if v < policy.hr_low else ("warn", "HIGH") if v > policy.hr_high else ("normal", "")
        out.append(NumericVM("hr", "HR", f"{v:.0f}", "/min", level, cue))
    sp = live.latest.get(Parameter.SPO2)
    if sp is None:
        out.append(NumericVM("spo2", "SpO2", "--", "%", "stale", "NO DATA"))
    elif sp.value is None or (now - sp.at).total_seconds() > stale_s:
        out.append(NumericVM("spo2", "SpO2", "--", "%", "stale", "NO SIGNAL"))
    else:
        level, cue = ("alarm", "LOW") if sp.value <= policy.spo2_low else ("normal", "")
        out.append(NumericVM("spo2", "SpO2", f"{sp.value:.0f}", "%", level, cue))
    bp = live.last_nibp()
    if bp is None:
        out.append(NumericVM("bp", "NIBP", "--/--", "mmHg", "stale", "NO BP YET"))
    else:
        at, s, d, m = bp
        high = s >= policy.sys_high_repeat or d >= policy.dia_high_repeat
        old = (now - at) > timedelta(minutes=policy.nibp_interval_min)
        level = "alarm" if high else ("stale" if old else "normal")
        cue = "HIGH" if high else ("OLD" if old else "")
        mean = f"mean {m:.0f} · " if m is not None else ""
        out.append(NumericVM("bp", "NIBP", f"{s:.0f}/{d:.0f}", "mmHg", level, cue,
                             f"{mean}taken {local(at)} · {age_text(now - at)}"))
    return out


# --- clocks --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClockVM:
    key: str
    label: str
    value: str
    sub: str = ""
    level: str = "normal"


def clocks(view, now: datetime, policy: ClinicPolicy, last_nibp_at: datetime | None) -> list[ClockVM]:
    if view is None:
        return []
    c = view.clocks(now, policy, last_nibp_at)
    out = []
    if c.infusion_started_at is None:
        out.append(ClockVM("infusion", "Infusion", "not started", f"planned {view.planned_minutes or '--'} min"))
    else:
        sub = f"started {local(c.infusion_started_at)}"
        if c.infusion_remaining is not None and c.state in (SessionState.INFUSING, SessionState.PAUSED):
            sub = f"{format_duration(c.infusion_remaining)} left of {view.planned_minutes} min"
        if c.state is SessionState.PAUSED:
            sub = f"PAUSED · {sub}"
        if c.infusion_stopped_at:
            sub = f"stopped {local(c.infusion_stopped_at)}"
        out.append(ClockVM("infusion", "Infusion", format_duration(c.infusion_elapsed), sub,
                           "warn" if c.state is SessionState.PAUSED else "normal"))
    if c.next_bp_due_at is not None:
        left = c.next_bp_due_at - now
        if c.bp_overdue:
            out.append(ClockVM("bp", "Next BP", "DUE NOW", f"overdue {format_duration(-left)}", "warn"))
        else:
            mins = int(-(-left.total_seconds() // 60))
            out.append(ClockVM("bp", "Next BP", f"in {mins} min", f"due at {local(c.next_bp_due_at)}"))
    else:
        out.append(ClockVM("bp", "Next BP", "--:--", "after start"))
    if c.discharged_at:
        out.append(ClockVM("discharge", "Discharge", "done", local(c.discharged_at)))
    elif c.discharge_due_at is None:
        out.append(ClockVM("discharge", "Discharge check", "--:--", f"{policy.discharge_min_after_start} min after start"))
    elif c.discharge_remaining and c.discharge_remaining > timedelta(0):
        out.append(ClockVM("discharge", "Discharge check in", format_duration(c.discharge_remaining),
                           f"at {local(c.discharge_due_at)}"))
    else:
        out.append(ClockVM("discharge", "Discharge check", "DUE", f"since {local(c.discharge_due_at)}", "warn"))
    return out


def session_minute(view, now: datetime) -> float | None:
    """Minutes since the start of administration (negative before it; None without a session)."""
    if view is None:
        return None
    start = view.infusion_started_at
    if start is None:
        return None
    return (now - start).total_seconds() / 60.0


# --- entries ---------------------------------------------------------------------------------------
def describe_observation(row: dict) -> str:
    kind, value = row["kind"], row.get("value")
    data = json.loads(row["data"]) if row.get("data") else {}
    if kind == Kind.DISSOCIATION and value is not None:
        return f"Dissociation {value:.0f}/4 ({DISSOCIATION_LABELS.get(int(value), '')})"
    if kind == Kind.SEDATION and value is not None:
        return f"MOAA/S {value:.0f} - {MOAAS_LABELS.get(int(value), '')}"
    if kind == Kind.NAUSEA and value is not None:
        vom = "; VOMITING" if data.get("vomiting") else ""
        return f"Nausea {value:.0f}/10 ({nausea_band(int(value))}){vom}"
    if kind == Kind.CADSS6:
        return f"CADSS-6 total {value:.0f}/24"
    if kind == Kind.PHQ9:
        flag = "  ! item 9 > 0 (self-harm thoughts)" if data.get("items") and data["items"][8] > 0 else ""
        return f"PHQ-9 total {value:.0f}/27{flag}"
    if kind == Kind.INTERVENTION:
        return f"Intervention: {data.get('drug', '')} {data.get('dose', '')} {data.get('unit', '')} {data.get('route', '')}".strip()
    if kind == Kind.MANUAL_VITALS:
        parts = []
        if data.get("NIBP_SYS"):
            parts.append(f"BP {data['NIBP_SYS']:.0f}/{data.get('NIBP_DIA', 0):.0f}")
        if data.get("HR"):
            parts.append(f"HR {data['HR']:.0f}")
        if data.get("SPO2"):
            parts.append(f"SpO2 {data['SPO2']:.0f}%")
        label = f" ({data['label']})" if data.get("label") else ""
        return "Manual vitals" + label + ": " + ", ".join(parts)
    if kind == Kind.WASTE:
        return f"Waste {data.get('amount_mg', value)} mg, {data.get('method', '')}; witness {data.get('witness', '')}"
    if kind == Kind.PRECHECK:
        return f"Pre-check {data.get('item')}: {data.get('answer')}"
    if kind == Kind.NOTE:
        return f"Note: {row.get('text') or ''}"
    return f"{KIND_LABELS.get(kind, kind)} {'' if value is None else f'{value:g}'} {row.get('text') or ''}".strip()


@dataclass(frozen=True)
class EntryVM:
    entry_id: str
    table: str  # observations, rate_changes, session_events, alerts
    at: datetime
    time: str
    text: str
    author: str
    flags: tuple[str, ...] = ()
    history: tuple[str, ...] = ()  # originals, as "was: ... (corrected: reason)"
    amendable: bool = False
    kind: str = ""
    value: float | None = None


def signature_flags(entry) -> list[str]:
    """"SIGNED Ada Nurse, RN (performed 10:42)" per signature, and "SIGNED VERSION AMENDED" when the entry was
    changed after it was signed (the signature stays on the version that was signed)."""
    flags = [f"SIGNED {s['printed_name']} ({s['meaning']} {local(s['recorded_at'])})" for s in entry.signatures]
    if entry.signed_version_amended:
        flags.append("SIGNED VERSION AMENDED")
    return flags


def entries(view) -> list[EntryVM]:
    if view is None:
        return []
    out: list[EntryVM] = []
    for e in view.observations:
        if e.row["kind"] == Kind.PRECHECK:
            continue
        flags = []
        if e.row.get("late_entry"):
            flags.append(f"LATE ENTRY (written {local(e.row['recorded_at'])})")
        history = []
        if e.amended:
            flags.append("CORRECTED")
            for old in e.history:
                history.append(f"was: {describe_observation(old)}")
            history.append(f"reason: {e.row.get('reason') or ''}")
        flags += signature_flags(e)
        out.append(EntryVM(e.id, "observations", e.row["effective_at"], local(e.row["effective_at"]),
                           describe_observation(e.row), e.row["author"], tuple(flags), tuple(history),
                           e.row["kind"] in (Kind.DISSOCIATION, Kind.NAUSEA, Kind.SEDATION, Kind.NOTE, Kind.INTERVENTION,
                                             Kind.MANUAL_VITALS, Kind.CADSS6),
                           e.row["kind"], e.row.get("value")))
    for ev in view.events:
        data = json.loads(ev["data"]) if ev.get("data") else {}
        text = {"check-in": "Checked in", "start-infusion": "Infusion STARTED", "pause": "Infusion PAUSED",
                "resume": "Infusion resumed", "stop-infusion": "Infusion STOPPED", "discharge": "DISCHARGED",
                "abort": "Session ended"}.get(ev["event"], ev["event"])
        if data.get("rate_ml_per_h"):
            text += f" at {data['rate_ml_per_h']:g} mL/h"
        if data.get("reason"):
            text += f" - {data['reason']}"
        out.append(EntryVM(ev["id"], "session_events", ev["effective_at"], local(ev["effective_at"]), text,
                           ev["author"], ("LATE ENTRY",) if ev.get("late_entry") else ()))
    for r in view.rate_changes:
        flags, history = [], []
        if r.row.get("late_entry"):
            flags.append(f"LATE ENTRY (written {local(r.row['recorded_at'])})")
        if r.amended:
            flags.append("CORRECTED")
            history += [f"was: rate {old['rate_ml_per_h']:g} mL/h" for old in r.history]
            history.append(f"reason: {r.row.get('reason') or ''}")
        reason = (r.history[0].get("reason") if r.amended and r.history else r.row.get("reason")) or ""
        out.append(EntryVM(r.id, "rate_changes", r.row["effective_at"], local(r.row["effective_at"]),
                           f"Rate changed to {r.row['rate_ml_per_h']:g} mL/h - {reason}", r.row["author"],
                           tuple(flags), tuple(history), True, "rate", r.row["rate_ml_per_h"]))
    if view.dose is not None:
        d = view.dose.row
        extra = f", {d['volume_ml']:g} mL over {d['minutes']} min at {d['rate_ml_per_h']:g} mL/h" if d.get("volume_ml") else ""
        out.append(EntryVM(view.dose.id, "dose_administrations", d["effective_at"], local(d["effective_at"]),
                           f"Dose {d['drug']} {d['route']} {d['dose_mg']:g} mg{extra}; lot {d.get('lot') or '-'}",
                           d["author"], tuple(signature_flags(view.dose))))
    for a in view.alerts:
        ack = a.acks[-1] if a.acks else None
        flags = (f"ACKNOWLEDGED {local(ack['effective_at'])} by {ack['author']}: {ack['action']}",) if ack else ("NOT ACKNOWLEDGED",)
        out.append(EntryVM(a.row["id"], "alerts", a.row["effective_at"], local(a.row["effective_at"]),
                           f"ALERT {a.row['message']} (policy v{a.row['policy_version']})", "system", flags))
    out.sort(key=lambda e: e.at, reverse=True)
    return out


def baseline_bp(view) -> tuple[float, float, float | None] | None:
    """(sys, dia, hr) recorded as the pre-session baseline."""
    if view is None:
        return None
    for e in view.observations:
        if e.row["kind"] == Kind.MANUAL_VITALS:
            data = json.loads(e.row["data"]) if e.row.get("data") else {}
            if data.get("label") == "baseline" and data.get("NIBP_SYS"):
                return float(data["NIBP_SYS"]), float(data["NIBP_DIA"]), data.get("HR")
    return None


# --- course ----------------------------------------------------------------------------------------
@dataclass
class CourseVM:
    sessions: list[dict] = field(default_factory=list)  # {"n", "date", "state", "id"}
    phase: str = "No sessions yet"
    next_due: str = "first session: any time"
    phq9: list[tuple[float, float]] = field(default_factory=list)  # (epoch s, total)
    phq9_flag: bool = False
    open_session_id: str | None = None


def course_vm(store, patient_id: str, now: datetime) -> CourseVM:
    from ..store.models import Observation

    vm = CourseVM()
    sessions = sorted(store.sessions_for_patient(patient_id), key=lambda s: s["effective_at"])
    for n, s in enumerate(sessions, 1):
        state = store.session_state(s["id"])
        vm.sessions.append({"n": n, "date": s["effective_at"], "state": state, "id": s["id"], "route": s["route"]})
        if not state.is_final:
            vm.open_session_id = s["id"]
    done = [s for s in vm.sessions if s["state"] is SessionState.DISCHARGED]
    route = sessions[-1]["route"] if sessions else "IV"
    if done:
        first, last = done[0]["date"], done[-1]["date"]
        weeks = (now - first).days / 7
        if weeks < 4:
            vm.phase = f"Induction, week {int(weeks) + 1} of 4 ({'twice' if route == 'IN' else '2-3 times'} a week)"
            gap = 3
        elif weeks < 8:
            vm.phase = f"Weekly phase, week {int(weeks) + 1}"
            gap = 7
        else:
            vm.phase = "Maintenance (weekly or every 2 weeks)" if route == "IN" else "Maintenance (monthly or as needed)"
            gap = 14 if route == "IN" else 28
        due = last + timedelta(days=gap)
        vm.next_due = f"session {len(done) + 1} due {due.astimezone().strftime('%a %d %b')}"
        if due < now:
            vm.next_due += " (overdue)"
    phq = [o for o in store.rows(Observation, patient_id=patient_id) if o["kind"] == Kind.PHQ9]
    phq = store.current(phq)
    for o in phq:
        if o.get("value") is not None:
            vm.phq9.append((o["effective_at"].timestamp(), float(o["value"])))
    if phq:
        data = json.loads(phq[-1]["data"]) if phq[-1].get("data") else {}
        vm.phq9_flag = bool(data.get("items") and data["items"][8] > 0)
    return vm

"""View models: plain data the widgets render. Built from the store's read models and the live buffers.

Nothing here owns clinical state; every function is a pure function of what the store and the devices said
and of "now", so a repaint after a restart shows the same thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ..domain.codes import Parameter
from ..domain.course import course_phase
from ..domain.policy import ClinicPolicy
from ..domain.session import SessionState
from ..domain.timeline import format_duration
from ..domain.vocabulary import AMENDABLE_KINDS, Kind, describe, dose_words, event_text, rate_change_text
from ..store.readmodels import observation_versions
from ..store.views import data_of
from .livedata import LiveData
STATE_LABELS = {
    SessionState.PLANNED: "Planned", SessionState.CHECKED_IN: "Checked in - pre-session",
    SessionState.INFUSING: "Infusing", SessionState.PAUSED: "Infusion PAUSED", SessionState.RECOVERY: "Recovery",
    SessionState.DISCHARGED: "Discharged", SessionState.ABORTED: "Ended (aborted)",
}


def local(dt: datetime | None, seconds: bool = False) -> str:
    if dt is None:
        return "--:--"
    return dt.astimezone().strftime("%H:%M:%S" if seconds else "%H:%M")


@dataclass(frozen=True)
class AlertVM:
    """One open (unacknowledged) alert as the banner, the alert list and the lock screen show it."""

    id: str
    severity: str
    message: str
    at: datetime
    age: str
    source: str = ""

    @property
    def line(self) -> str:
        word = "ALERT" if self.severity == "critical" else "WARNING"
        return f"⚠ {word} {local(self.at)} ({self.age}): {self.message}"


def open_alerts(rows: list[dict], now: datetime) -> list[AlertVM]:
    """Unacknowledged alerts, the one to act on first at the top: critical before warnings, then oldest first.
    The banner shows the first and its Acknowledge button opens that same one."""
    from ..domain.clock import utc

    out = []
    for a in rows:
        at = utc(a["effective_at"])
        try:
            source = json.loads(a.get("data") or "{}").get("source", "")
        except (TypeError, ValueError):
            source = ""
        out.append(AlertVM(a["id"], a["severity"], a["message"], at, age_text(now - at), source))
    out.sort(key=lambda x: (x.severity != "critical", x.at))
    return out


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


def _live_numeric(live: LiveData, param: Parameter, key: str, label: str, unit: str, now: datetime, stale_s: float,
                  judge) -> NumericVM:
    """One live number: "NO DATA" before the first reading, "NO SIGNAL" when missing or stale, a number the one
    validity rule refuses (an artefact) as questionable ("84?", never a clean "84 LOW"), else judged."""
    latest = live.latest.get(param)
    if latest is None:
        return NumericVM(key, label, "--", unit, "stale", "NO DATA")
    if (now - latest.at).total_seconds() > stale_s:
        return NumericVM(key, label, "--", unit, "stale", "NO SIGNAL")
    if "apnea" in {getattr(f, "value", f) for f in latest.flags}:
        return NumericVM(key, label, "0" if latest.raw is None else f"{latest.raw:.0f}", unit, "alarm", "APNEA")
    if latest.value is None and latest.raw is not None:
        return NumericVM(key, label, f"{latest.raw:.0f}?", unit, "stale", "QUESTIONABLE",
                         "flagged " + ", ".join(sorted(getattr(f, "value", str(f)) for f in latest.flags)))
    if latest.value is None:
        return NumericVM(key, label, "--", unit, "stale", "NO SIGNAL")
    level, cue = judge(latest.value)
    return NumericVM(key, label, f"{latest.value:.0f}", unit, level, cue)


def manual_bp(view) -> list[tuple[datetime, float, float, str]]:
    """BPs the nurse charted by hand (the typed baseline included): (at, sys, dia, "baseline" | "manual")."""
    out = []
    for e in view.observations_of(Kind.MANUAL_VITALS) if view is not None else ():
        d = e.data
        if d.get("NIBP_SYS") is not None and d.get("NIBP_DIA") is not None:
            label = "baseline" if d.get("label") == "baseline" else "manual"
            out.append((e.row["effective_at"], float(d["NIBP_SYS"]), float(d["NIBP_DIA"]), label))
    return sorted(out, key=lambda b: b[0])


def manual_rr(view) -> list[tuple[datetime, float]]:
    """Respiratory rates the nurse counted by hand: (at, rate), oldest first (monitors often send none)."""
    out = [(e.row["effective_at"], float(e.data["RR"])) for e in
           (view.observations_of(Kind.MANUAL_VITALS) if view is not None else ()) if e.data.get("RR") is not None]
    return sorted(out, key=lambda r: r[0])


def numerics(live: LiveData, now: datetime, policy: ClinicPolicy, stale_s: float = 30.0,
             manual: list | None = None, started: bool = True,
             manual_rr: list | None = None) -> list[NumericVM]:
    """HR, SpO2, NIBP and RR tiles. Before the start of administration the BP tile judges by the pre-dose
    limits (what the start gate uses), after it by the intra-session alert limits; a newer hand-taken BP
    shows on the BP tile, labelled."""
    out = [
        _live_numeric(live, Parameter.HR, "hr", "HR", "/min", now, stale_s, lambda v: ("alarm", "LOW") if v < policy.hr_low
                      else ("warn", "HIGH") if v > policy.hr_high else ("normal", "")),
        _live_numeric(live, Parameter.SPO2, "spo2", "SpO2", "%", now, stale_s,
                      lambda v: ("alarm", "LOW") if v <= policy.spo2_low else ("normal", "")),
    ]
    bp = live.last_nibp()
    source = ""
    last_manual = manual[-1] if manual else None
    if last_manual is not None and (bp is None or last_manual[0] > bp[0]):  # a newer BP taken by hand
        bp = (last_manual[0], last_manual[1], last_manual[2], None)
        source = f"{last_manual[3]} · "
    if bp is None:
        out.append(NumericVM("bp", "NIBP", "--/--", "mmHg", "stale", "NO BP YET"))
    else:
        at, s, d, m = bp
        if started:
            high = s >= policy.sys_high_repeat or d >= policy.dia_high_repeat
        else:
            high = s >= policy.predose_sys_warn or d >= policy.predose_dia_warn
        old = (now - at) > timedelta(minutes=policy.nibp_interval_min)
        level = "alarm" if high else ("stale" if old else "normal")
        cue = "HIGH" if high else ("OLD" if old else "")
        mean = f"mean {m:.0f} · " if m is not None else ""
        out.append(NumericVM("bp", "NIBP", f"{s:.0f}/{d:.0f}", "mmHg", level,
                             ("PRE-DOSE HIGH" if high and not started else cue),
                             f"{source}{mean}taken {local(at)} · {age_text(now - at)}"))
    rr_judge = lambda v: ("alarm", "LOW") if v < policy.rr_low else ("normal", "")  # noqa: E731
    rr = _live_numeric(live, Parameter.RR, "rr", "RR", "/min", now, max(stale_s, 60.0), rr_judge)
    counted = manual_rr[-1] if manual_rr else None
    live_rr = live.latest.get(Parameter.RR)
    if counted is not None and (live_rr is None or counted[0] > live_rr.at):  # a newer rate counted by hand
        at, v = counted
        level, cue = rr_judge(v)
        if level == "normal" and now - at > timedelta(minutes=policy.nibp_interval_min):
            level, cue = "stale", "OLD"
        rr = NumericVM("rr", "RR", f"{v:.0f}", "/min", level, cue, f"manual · taken {local(at)} · {age_text(now - at)}")
    out.append(rr)
    return out


# --- clocks --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClockVM:
    key: str
    label: str
    value: str
    sub: str = ""
    level: str = "normal"


def nasal_clock(sched, now: datetime) -> ClockVM:
    """Intranasal esketamine: the next device (the label's 5 minutes apart), then the post-dose BP due item."""
    from ..domain.intranasal import DEVICE_SPACING_MIN

    if not sched.given:
        return ClockVM("administration", "Spravato", "not started",
                       f"{sched.devices_planned} devices, {DEVICE_SPACING_MIN} min apart")
    if sched.next_device is not None:
        due = sched.next_device_due_at
        label = f"Device {sched.next_device} of {sched.devices_planned}"
        last = f"device {len(sched.given)} at {local(sched.given[-1])}"
        if now >= due:
            return ClockVM("administration", label, "DUE", f"due at {local(due)} · {last}", "warn")
        mins = int(-(-(due - now).total_seconds() // 60))
        return ClockVM("administration", label, f"in {mins} min", f"due at {local(due)} · {last}")
    if sched.bp40_taken_at is not None:
        return ClockVM("administration", "Post-dose BP", "done", f"taken {local(sched.bp40_taken_at)}")
    due = sched.bp40_due_at
    if now >= due:
        return ClockVM("administration", "Post-dose BP", "DUE", f"due at {local(due)} (40 min after dose)", "warn")
    mins = int(-(-(due - now).total_seconds() // 60))
    return ClockVM("administration", "Post-dose BP", f"in {mins} min", f"due at {local(due)}")


def clocks(view, now: datetime, policy: ClinicPolicy, last_nibp_at: datetime | None, nasal=None) -> list[ClockVM]:
    """The clock tiles: the infusion (intranasal: the next device, then the post-dose BP; ``nasal`` is the
    session's :class:`~ketachart.domain.intranasal.NasalSchedule`), the next BP and the discharge check."""
    if view is None:
        return []
    c = view.clocks(now, policy, last_nibp_at)
    out = []
    if nasal is not None:
        out.append(nasal_clock(nasal, now))
    elif c.infusion_started_at is None:
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


def pump_tile(report, now: datetime, charted_ml_h: float | None, connected: bool, fresh_s: float) -> ClockVM:
    """The pump at the chair: its rate, volume infused and to be infused, state, alarms and the age of what
    it said. Stale data is shown as stale (never as the pump now); a rate that differs from the charted one
    is marked (the alert follows after the policy's seconds)."""
    from ..domain.pump import rates_agree
    from ..domain.signal_alarms import DEVICE_ALARMS

    if report is None or report.at is None:
        return ClockVM("pump", "Pump", "no data" if connected else "not connected",
                       "waiting for the pump" if connected else "connect it under Devices…", "stale")
    age = report.age_s(now) or 0.0
    stale = age > fresh_s
    vi = "--" if report.volume_infused_ml is None else f"{report.volume_infused_ml:g}"
    vtbi = "--" if report.vtbi_ml is None else f"{report.vtbi_ml:g}"
    rate = "--" if report.rate_ml_h is None else f"{report.rate_ml_h:g}"  # mL/h leads the sub line: fits a tile
    state = (report.state or "state ?").upper() if report.state in ("stopped", "off") else (report.state or "")
    rest = f"infused {vi} · to go {vtbi} mL · {age_text(timedelta(seconds=age))}"
    sub = f"mL/h · {rest}"
    if report.alarms:
        words = ", ".join(DEVICE_ALARMS.get(a, (a, ""))[0] for a in report.alarms)
        return ClockVM("pump", f"Pump ⚠ {words}", rate, sub, "alarm")
    if stale:
        return ClockVM("pump", "Pump · STALE", rate, f"mL/h · last report {age_text(timedelta(seconds=age))}", "stale")
    level = "normal"
    pump = report.delivering_rate
    if charted_ml_h is not None and pump is not None and not rates_agree(charted_ml_h, pump):
        return ClockVM("pump", f"Pump ≠ charted {charted_ml_h:g}", rate, " · ".join(x for x in ("mL/h", state, rest) if x),
                       "warn")
    return ClockVM("pump", f"Pump · {state}".rstrip(" ·"), rate, sub, level)


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
    """One observation version as one line, in the words the summary and the exports use too."""
    return describe(row["kind"], row.get("value"), row.get("text"), data_of(row)).sentence


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


def entries(view, names: dict | None = None) -> list[EntryVM]:
    """The Charted list, newest first; people by display name (``names``: user id -> display name)."""
    if view is None:
        return []
    names = names or {}
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
                           e.row["kind"] in AMENDABLE_KINDS,
                           e.row["kind"], e.row.get("value")))
    for ev in view.events:
        text = event_text(ev["event"], data_of(ev), view.session["route"])
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
        out.append(EntryVM(r.id, "rate_changes", r.row["effective_at"], local(r.row["effective_at"]),
                           rate_change_text(r.row["rate_ml_per_h"], r.original_reason), r.row["author"],
                           tuple(flags), tuple(history), True, "rate", r.row["rate_ml_per_h"]))
    if view.dose is not None:
        d = view.dose.row
        extra = f", {d['volume_ml']:g} mL over {d['minutes']} min at {d['rate_ml_per_h']:g} mL/h" if d.get("volume_ml") else ""
        out.append(EntryVM(view.dose.id, "dose_administrations", d["effective_at"], local(d["effective_at"]),
                           f"Dose {dose_words(d['route'], d['dose_mg'])}{extra}; lot {d.get('lot') or '-'}",
                           d["author"], tuple(signature_flags(view.dose))))
    for a in view.alerts:
        ack = a.acks[-1] if a.acks else None
        flags = (f"ACKNOWLEDGED {local(ack['effective_at'])} by {names.get(ack['author'], ack['author'])}: {ack['action']}",) if ack else ("NOT ACKNOWLEDGED",)
        out.append(EntryVM(a.row["id"], "alerts", a.row["effective_at"], local(a.row["effective_at"]),
                           f"ALERT {a.row['message']} (policy v{a.row['policy_version']})", "system", flags))
    out.sort(key=lambda e: e.at, reverse=True)
    return [replace(e, author=names.get(e.author, e.author)) for e in out]


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
    vm = CourseVM()
    sessions = sorted(store.sessions_for_patient(patient_id), key=lambda s: s["effective_at"])
    numbers: dict[object, int] = {}  # a session's number is its number in its course, as the chart and summary say
    for s in sessions:
        course = s.get("course_id") or s["route"]
        numbers[course] = numbers.get(course, 0) + 1
        state = store.session_state(s["id"])
        vm.sessions.append({"n": numbers[course], "date": s["effective_at"], "state": state, "id": s["id"],
                            "route": s["route"], "course": course})
        if not state.is_final:
            vm.open_session_id = s["id"]
    # the course in progress is the latest session's: a patient moved from IV to intranasal starts a new count
    current = vm.sessions[-1]["course"] if vm.sessions else None
    done = [s for s in vm.sessions if s["state"] is SessionState.DISCHARGED and s["course"] == current]
    route = sessions[-1]["route"] if sessions else "IV"
    if done:
        course = course_phase(done[0]["date"], done[-1]["date"], route, now)
        vm.phase = course.phase
        vm.next_due = f"session {len(done) + 1} due {course.next_due.astimezone().strftime('%a %d %b')}"
        if course.overdue:
            vm.next_due += " (overdue)"
    elif sessions:  # sessions listed, none completed yet: never "No sessions yet" above them
        vm.phase = "No completed session yet"
    phq = observation_versions(store, patient_id=patient_id, kind=Kind.PHQ9)
    phq = store.current(phq)
    for o in phq:
        if o.get("value") is not None:
            vm.phq9.append((o["effective_at"].timestamp(), float(o["value"])))
    if phq:
        data = phq[-1]["details"]
        vm.phq9_flag = bool(data.get("items") and data["items"][8] > 0)
    return vm

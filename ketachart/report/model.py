"""What goes on paper: the session summary as plain data, built from the session read model.

:func:`build_summary` reads one session through :func:`ketachart.store.views.session_view` (the same fold
the chair screen uses) plus the session's stored readings, and returns a :class:`Summary` of ready-to-print
strings and plot series. No Qt here; :mod:`ketachart.report.render` paints a Summary onto a page.

Times are printed in the clinic's time zone (:class:`ReportSettings`), and the zone is named on the page.

The record fingerprint is a SHA-256 over the canonical content (:func:`ketachart.store.hashing.
canonical_content`) of every chart row that belongs to the session: the patient's demographic rows, the
course, the session, its state changes, readings, observations, dose, rate changes, alerts and their
acknowledgments, checklists and the signatures on any of those rows, ordered by (table, id), one line each.
Audit rows are not part of it, so printing (which is audited) does not change the fingerprint; any new or
amended entry does. The short form on paper is the first 16 hex digits; the full value goes into the PDF
metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from ..domain.codes import Parameter
from ..domain.readings import BLOCKING, Quality
from ..domain.scales import (
    DISCHARGE_ITEMS,
    DISSOCIATION_LABELS,
    MOAAS_LABELS,
    PADSS_ITEMS,
    Kind,
    nausea_band,
    phq9,
)
from ..domain.session import SessionEvent
from ..domain.timeline import format_duration
from ..store.errors import NotFound
from ..store.hashing import canonical_content
from ..store.models import (
    MODEL_BY_TABLE,
    Alert,
    AlertAck,
    Checklist,
    Course,
    DoseAdministration,
    Observation,
    Patient,
    RateChange,
    Session,
    SessionEventRow,
    Signature,
    StoreMeta,
    VitalReading,
)
from ..store.repository import ChartStore
from ..store.views import Entry, SessionView, session_view

DEFAULT_CLINIC_NAME = "Ketamine Infusion Clinic"

# --- settings -------------------------------------------------------------------------------------


def _system_zone() -> tuple[tzinfo, str]:
    """The system's local zone with an IANA name when one can be found (TZ, /etc/localtime)."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        if name:
            try:
                return ZoneInfo(name), name
            except (ZoneInfoNotFoundError, ValueError):
                continue
    local = datetime.now().astimezone().tzinfo or timezone.utc
    return local, datetime.now().astimezone().tzname() or "local time"


@dataclass(frozen=True)
class ReportSettings:
    """Clinic facts the paper needs. Sources, first found wins: explicit values, the environment
    (``KETACHART_CLINIC_NAME``, ``KETACHART_CLINIC_ADDRESS``, ``KETACHART_CLINIC_PHONE``,
    ``KETACHART_CLINIC_EMAIL``, ``KETACHART_TZ``), the database's ``store_meta`` keys of the same names in
    lower case without the prefix (``clinic_name``, ``clinic_tz`` ...), then defaults (the system zone)."""

    clinic_name: str = DEFAULT_CLINIC_NAME
    clinic_address: str = ""
    clinic_phone: str = ""
    clinic_email: str = ""
    tz_name: str = ""  # IANA name; empty: the system local zone

    KEYS = ("clinic_name", "clinic_address", "clinic_phone", "clinic_email", "clinic_tz")

    @classmethod
    def resolve(cls, store: ChartStore | None = None, **explicit: str | None) -> "ReportSettings":
        meta: dict[str, str] = {}
        if store is not None:
            try:
                with store.engine.connect() as conn:
                    meta = dict(conn.execute(select(StoreMeta.key, StoreMeta.value)
                                             .where(StoreMeta.key.in_(cls.KEYS))).all())
            except Exception:  # a settings lookup must never stop a print
                meta = {}
        values = {}
        for key in cls.KEYS:
            attr = "tz_name" if key == "clinic_tz" else key
            env = os.environ.get("KETACHART_" + ("TZ" if key == "clinic_tz" else key.upper()))
            value = explicit.get(attr) or env or meta.get(key)
            if value:
                values[attr] = value
        return cls(**values)

    def zone(self) -> tuple[tzinfo, str]:
        if self.tz_name:
            try:
                return ZoneInfo(self.tz_name), self.tz_name
            except (ZoneInfoNotFoundError, ValueError):
                pass
        return _system_zone()


# --- the summary --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    label: str
    value: str
    flag: bool = False  # print highlighted (override, mismatch, not acknowledged ...)


@dataclass(frozen=True)
class RateEvent:
    time: str
    what: str
    reason: str = ""


@dataclass(frozen=True)
class DoseRecord:
    drug: str
    route: str
    fields: list[Field]  # concentration, mg/kg, total, volume, rate, start/stop, lot, waste ...
    events: list[RateEvent]  # start, every rate change, pause and resume with reason, stop
    amended: str = ""  # "amended hh:mm by X: reason" when the dose entry was corrected
    dose_mg: float = 0.0


@dataclass(frozen=True)
class VitalsRow:
    label: str
    time: str
    bp: str
    hr: str
    spo2: str
    note: str = ""


@dataclass(frozen=True)
class TimelineItem:
    time: str
    kind: str
    text: str
    author: str
    flags: tuple[str, ...] = ()  # "LATE ENTRY ...", "AMENDED ..."
    originals: tuple[str, ...] = ()  # readable earlier versions, oldest first
    alert: bool = False  # a flag a nurse must see (PHQ-9 item 9)


@dataclass(frozen=True)
class AlertItem:
    time: str
    severity: str
    message: str
    policy_version: int
    acks: tuple[str, ...]  # "hh:mm Name: action"
    acknowledged: bool


@dataclass(frozen=True)
class DischargeCheck:
    time: str
    items: list[Field]
    padss: list[Field]
    score: str
    passed: bool
    override: str  # reason, or "" when none
    policy_version: int


@dataclass(frozen=True)
class SignatureLine:
    printed_name: str
    meaning: str
    time: str
    what: str
    valid: bool
    signed_version_amended: bool


@dataclass(frozen=True)
class PlotData:
    """Series for the vitals plot; x in seconds since ``origin`` (UTC), values in their units."""

    origin: datetime  # local time of x = 0
    x_end: float
    hr: list[tuple[float, float]]
    spo2: list[tuple[float, float]]
    nibp: list[tuple[float, float, float, bool]]  # t, sys, dia, manual
    infusion: list[tuple[float, float]]  # spans when drug was running (pauses excluded)
    marks: list[tuple[float, str]]  # observation marks: t, short code (D3, N1, S4, Rx, Note)
    alert_marks: list[tuple[float, str]]
    start_offset: float | None  # x of the start of administration (minute 0 of the session)


@dataclass
class Summary:
    clinic_name: str
    clinic_address: str
    title: str
    tz_label: str  # "Europe/Berlin (UTC+01:00)"
    printed_at: str
    in_progress: bool
    state: str
    session_id: str
    patient: list[Field]
    session: list[Field]
    patient_name: str
    dose: DoseRecord | None
    prechecks: list[Field]
    vitals: list[VitalsRow]
    plot: PlotData
    timeline: list[TimelineItem]
    alerts: list[AlertItem]
    discharge: DischargeCheck | None
    rems: list[tuple[str, list[Field]]] | None  # sections of the Spravato REMS monitoring form (IN only)
    signatures: list[SignatureLine]
    fingerprint: str  # full SHA-256 hex
    row_count: int
    route: str = "IV"
    notes: list[str] = field(default_factory=list)

    @property
    def fingerprint_short(self) -> str:
        f = self.fingerprint[:16].upper()
        return "-".join(f[i:i + 4] for i in range(0, 16, 4))


# --- helpers ------------------------------------------------------------------------------------


def _num(value: float | None, decimals: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:.{decimals}f}"


def _g(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


class _Clock:
    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone

    def local(self, dt: datetime) -> datetime:
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.astimezone(self.zone)

    def hm(self, dt: datetime | None) -> str:
        return "-" if dt is None else self.local(dt).strftime("%H:%M")

    def hms(self, dt: datetime | None) -> str:
        return "-" if dt is None else self.local(dt).strftime("%H:%M:%S")

    def full(self, dt: datetime | None) -> str:
        return "-" if dt is None else self.local(dt).strftime("%Y-%m-%d %H:%M")

    def date(self, dt: datetime) -> str:
        return self.local(dt).strftime("%Y-%m-%d (%a)")


def _offset_label(zone: tzinfo, name: str, at: datetime) -> str:
    offset = at.astimezone(zone).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hh, mm = divmod(abs(minutes), 60)
    return f"{name} (UTC{sign}{hh:02d}:{mm:02d})"


TABLE_LABELS = {
    "dose_administrations": "Dose administration",
    "observations": "Observation",
    "checklists": "Checklist",
    "rate_changes": "Rate change",
    "session_events": "Session event",
    "alerts": "Alert",
}

EVENT_TEXT = {
    SessionEvent.CHECK_IN.value: "Checked in",
    SessionEvent.START_INFUSION.value: "Administration started",
    SessionEvent.PAUSE.value: "Infusion paused",
    SessionEvent.RESUME.value: "Infusion resumed",
    SessionEvent.STOP_INFUSION.value: "Infusion stopped",
    SessionEvent.DISCHARGE.value: "Discharged",
    SessionEvent.ABORT.value: "Session aborted",
}

PRECHECK_LABELS = {
    "consent_on_file": "Consent on file",
    "fasting_hours": "Fasting (hours)",
    "current_meds": "Current medications",
    "rems_benzodiazepines": "Benzodiazepines",
    "rems_sedative_hypnotics": "Non-benzodiazepine sedative hypnotics",
    "rems_psychostimulants": "Psychostimulants",
    "rems_maois": "MAOIs",
    "rems_opioids": "Opioids",
    "escort_name": "Escort / ride home",
    "escort_phone": "Escort phone",
    "no_driving_acknowledged": "No driving until tomorrow acknowledged",
    "weight_kg": "Weight today (kg)",
}


def _yn(value: object) -> str:
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    if value is None:
        return "not recorded"
    return str(value)


# --- readings -----------------------------------------------------------------------------------

_READING_COLS = [c.name for c in VitalReading.__table__.columns]


def _parse_time(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    dt = datetime.fromisoformat(str(value))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _raw_rows(store: ChartStore, table, where_col: str, values: list[str]) -> list[dict]:
    """Rows as stored, without ORM conversion (fast for the ~30,000 readings of a long session)."""
    if not values:
        return []
    cols = [c.name for c in table.columns]
    out: list[dict] = []
    with store.engine.connect() as conn:
        for i in range(0, len(values), 500):
            chunk = values[i:i + 500]
            if store.engine.dialect.name == "sqlite":
                # Plain DB-API rows: no per-value result processing (times stay ISO text; handled below).
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT {', '.join(cols)} FROM {table.name} WHERE {where_col} IN ({marks})"
                rows = conn.exec_driver_sql(sql, tuple(chunk)).fetchall()
            else:
                rows = conn.execute(select(*table.columns).where(table.c[where_col].in_(chunk))).fetchall()
            out.extend(dict(zip(cols, r)) for r in rows)
    return out


def record_rows(store: ChartStore, session_id: str, readings: list[dict] | None = None) -> list[tuple[str, dict]]:
    """Every chart row that belongs to the session, as (table name, raw row), in fingerprint order."""
    session = _raw_rows(store, Session.__table__, "id", [session_id])
    if not session:
        raise NotFound(f"no session {session_id}")
    s = session[0]
    groups: dict[str, list[dict]] = {"sessions": session}
    groups["patients"] = _raw_rows(store, Patient.__table__, "patient_id", [s["patient_id"]])
    groups["courses"] = _raw_rows(store, Course.__table__, "id", [s["course_id"]] if s["course_id"] else [])
    for model in (SessionEventRow, Observation, DoseAdministration, RateChange, Alert, Checklist):
        groups[model.__tablename__] = _raw_rows(store, model.__table__, "session_id", [session_id])
    groups["vital_readings"] = readings if readings is not None else _raw_rows(
        store, VitalReading.__table__, "session_id", [session_id])
    groups["alert_acks"] = _raw_rows(store, AlertAck.__table__, "alert_id", [a["id"] for a in groups["alerts"]])
    targets = [r["id"] for name, rows in groups.items() for r in rows]
    groups["signatures"] = _raw_rows(store, Signature.__table__, "target_id", targets)
    out = []
    for name in sorted(groups):
        for row in sorted(groups[name], key=lambda r: r["id"]):
            out.append((name, row))
    return out


def record_fingerprint(store: ChartStore, session_id: str, readings: list[dict] | None = None) -> tuple[str, int]:
    """(SHA-256 hex, number of rows): the hash of ``"[" + ",".join(canonical_content(row) ...) + "]"`` over
    :func:`record_rows` in their order (a JSON array of the rows' canonical contents)."""
    rows = record_rows(store, session_id, readings)
    tables = {name: MODEL_BY_TABLE[name].__table__ for name in MODEL_BY_TABLE}
    text = "[" + ",".join(canonical_content(tables[name], row) for name, row in rows) + "]"
    return hashlib.sha256(text.encode()).hexdigest(), len(rows)


_BLOCKING_FLAGS = frozenset(q.value for q in BLOCKING) | {Quality.ARTIFACT.value}


def _valid_value(row: dict) -> float | None:
    value = row["value"]
    if value is None:
        return None
    flags = row.get("flags")
    if flags and not _BLOCKING_FLAGS.isdisjoint(flags.split(",")):
        return None
    return float(value)


# --- the builder --------------------------------------------------------------------------------


def build_summary(store: ChartStore, session_id: str, now: datetime, settings: ReportSettings | None = None) -> Summary:
    """Everything that goes on paper for one session (raises ``NotFound`` for an unknown session)."""
    settings = settings or ReportSettings.resolve(store)
    zone, zone_name = settings.zone()
    clk = _Clock(zone)
    view = session_view(store, session_id)
    raw_readings = _raw_rows(store, VitalReading.__table__, "session_id", [session_id])
    for r in raw_readings:
        r["_t"] = _parse_time(r["effective_at"])
    raw_readings.sort(key=lambda r: (r["_t"], r["device_seq"]))
    fingerprint, row_count = record_fingerprint(store, session_id, raw_readings)
    users = {u["user_id"]: u["display_name"] for u in store.users()}

    def who(user_id: str | None) -> str:
        return users.get(user_id or "", user_id or "-")

    route = view.session["route"]
    started = view.infusion_started_at or (view.dose.row["effective_at"] if view.dose else None)
    stopped = view.infusion_stopped_at
    discharged = view.event_time(SessionEvent.DISCHARGE) or view.event_time(SessionEvent.ABORT)
    patient = view.patient
    patient_name = f"{patient['family_name'].upper()}, {patient['given_name']}"

    # header
    try:
        dob = datetime.strptime(patient["birth_date"], "%Y-%m-%d").date()
        on = clk.local(view.session["effective_at"]).date()
        age = on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))
        dob_text = f"{patient['birth_date']} (age {age})"
    except ValueError:
        dob_text = patient["birth_date"]
    patient_fields = [
        Field("Patient", patient_name),
        Field("MRN", patient["mrn"]),
        Field("Date of birth", dob_text),
        Field("Sex", patient["sex"]),
    ]
    weight = view.dose.row.get("weight_kg") if view.dose else None
    weight = weight or patient.get("weight_kg")
    if weight:
        patient_fields.append(Field("Weight", f"{weight:g} kg"))
    session_date = view.session["effective_at"] if started is None else started
    course_label = view.course["label"] if view.course else "no course"
    session_fields = [
        Field("Session date", clk.date(session_date)),
        Field("Session in course", f"No. {view.session_number} - {course_label}"),
        Field("Route", "IV ketamine infusion" if route == "IV" else "Intranasal esketamine (Spravato)"),
        Field("Chair", view.session.get("chair") or "-"),
        Field("Status", view.state.value + ("" if view.state.is_final else " (IN PROGRESS)"),
              flag=not view.state.is_final),
    ]

    # readings by parameter
    series: dict[str, list[tuple[datetime, float, dict]]] = {}
    for r in raw_readings:
        v = _valid_value(r)
        if v is not None:
            series.setdefault(r["parameter"], []).append((r["_t"], v, r))
    manual_bp = []
    for o in view.observations_of(Kind.MANUAL_VITALS):
        d = o.data
        if d.get("NIBP_SYS") is not None and d.get("NIBP_DIA") is not None:
            manual_bp.append((o.row["effective_at"], float(d["NIBP_SYS"]), float(d["NIBP_DIA"]), True))
    device_bp = _pair_bp(series.get(Parameter.NIBP_SYS.value, []), series.get(Parameter.NIBP_DIA.value, []))
    all_bp = sorted(device_bp + manual_bp, key=lambda b: b[0])

    dose = _dose_record(view, clk, who, series, started, stopped, now) if view.dose else None
    prechecks = _prechecks(view)
    vitals = _vitals_rows(clk, series, all_bp, started, stopped, discharged or (None if view.state.is_final else now))
    timeline = _timeline(view, clk, who)
    alerts = [
        AlertItem(
            time=clk.hm(a.row["effective_at"]), severity=a.row["severity"], message=a.row["message"],
            policy_version=a.row["policy_version"],
            acks=tuple(f"{clk.hm(k['effective_at'])} {who(k['author'])}: {k['action']}" for k in a.acks),
            acknowledged=a.acknowledged,
        )
        for a in view.alerts
    ]
    discharge = _discharge(view, clk, store, started)
    signatures = _signatures(view, clk, store)

    # plot
    t_first = min([r["_t"] for r in raw_readings] + ([started] if started else []) + [view.session["effective_at"]])
    t_last_candidates = [r["_t"] for r in raw_readings] + [e["effective_at"] for e in view.events]
    t_last = max(t_last_candidates) if t_last_candidates else now
    if not view.state.is_final:
        t_last = max(t_last, min(now, t_last + timedelta(minutes=5)))
    plot_origin = (raw_readings[0]["_t"] if raw_readings else (started or view.session["effective_at"]))
    plot_origin = min(plot_origin, started) if started else plot_origin

    def x(dt: datetime) -> float:
        return (dt - plot_origin).total_seconds()

    spans = []
    run_from = None
    for e in view.events:
        ev = e["event"]
        if ev in (SessionEvent.START_INFUSION.value, SessionEvent.RESUME.value):
            run_from = e["effective_at"]
        elif ev in (SessionEvent.PAUSE.value, SessionEvent.STOP_INFUSION.value, SessionEvent.ABORT.value) and run_from:
            spans.append((x(run_from), x(e["effective_at"])))
            run_from = None
    if run_from is not None and route == "IV":
        spans.append((x(run_from), x(max(t_last, run_from))))
    if route == "IN" and started and not spans:
        spans.append((x(started), x(started) + 300))
    marks = []
    codes = {Kind.DISSOCIATION: "D", Kind.NAUSEA: "N", Kind.SEDATION: "S", Kind.CADSS6: "C", Kind.BPRS: "B"}
    for o in view.observations:
        k = o.row["kind"]
        t = x(o.row["effective_at"])
        if k in codes and o.row["value"] is not None:
            marks.append((t, f"{codes[k]}{o.row['value']:g}"))
        elif k == Kind.INTERVENTION:
            marks.append((t, "Rx"))
        elif k == Kind.NOTE:
            marks.append((t, "n"))
    alert_marks = [(x(a.row["effective_at"]), "!") for a in view.alerts]
    plot = PlotData(
        origin=clk.local(plot_origin),
        x_end=max(x(t_last), 60.0),
        hr=[(x(t), v) for t, v, _ in series.get(Parameter.HR.value, []) or series.get(Parameter.PR.value, [])],
        spo2=[(x(t), v) for t, v, _ in series.get(Parameter.SPO2.value, [])],
        nibp=[(x(t), s, d, m) for t, s, d, m in all_bp],
        infusion=spans,
        marks=marks,
        alert_marks=alert_marks,
        start_offset=x(started) if started else None,
    )

    rems = _rems(view, store, clk, settings, series, all_bp, started, discharged, now, who) if route == "IN" else None
    drug_title = "Ketamine infusion" if route == "IV" else "Esketamine (Spravato) intranasal"
    return Summary(
        clinic_name=settings.clinic_name,
        clinic_address=settings.clinic_address,
        title=f"{drug_title} - session summary",
        tz_label=_offset_label(zone, zone_name, session_date),
        printed_at=clk.full(now) + " " + (clk.local(now).tzname() or ""),
        in_progress=not view.state.is_final,
        state=view.state.value,
        session_id=session_id,
        patient=patient_fields,
        session=session_fields,
        patient_name=f"{patient['given_name']} {patient['family_name']}",
        dose=dose,
        prechecks=prechecks,
        vitals=vitals,
        plot=plot,
        timeline=timeline,
        alerts=alerts,
        discharge=discharge,
        rems=rems,
        signatures=signatures,
        fingerprint=fingerprint,
        row_count=row_count,
        route=route,
    )


def _pair_bp(sys_list, dia_list) -> list[tuple[datetime, float, float, bool]]:
    """Join systolic and diastolic readings of the same measurement (same time, within 2 s)."""
    out = []
    j = 0
    for t, s, _ in sys_list:
        while j < len(dia_list) and dia_list[j][0] < t - timedelta(seconds=2):
            j += 1
        if j < len(dia_list) and abs((dia_list[j][0] - t).total_seconds()) <= 2:
            out.append((t, s, dia_list[j][1], False))
    return out


def _dose_record(view: SessionView, clk: _Clock, who, series, started, stopped, now) -> DoseRecord:
    d = view.dose.row
    drug = "Ketamine (Schedule III)" if d["drug"] == "ketamine" else "Esketamine - Spravato (Schedule III)"
    fields: list[Field] = [Field("Drug", drug), Field("Route", "Intravenous infusion" if d["route"] == "IV" else "Intranasal")]
    if d["route"] == "IV":
        fields += [
            Field("Concentration", f"{_g(d['concentration_mg_per_ml'])} mg/mL"),
            Field("Dose", f"{_g(d['mg_per_kg'])} mg/kg x {_g(d['weight_kg'])} kg"),
            Field("Total dose", f"{d['dose_mg']:.1f} mg"),
            Field("Volume", f"{_num(d['volume_ml'], 1)} mL"),
            Field("Planned", f"{d['minutes'] or '-'} min at {_num(d['rate_ml_per_h'], 1)} mL/h"),
        ]
    else:
        devices = int(d["dose_mg"] // 28)
        fields += [Field("Total dose", f"{d['dose_mg']:g} mg ({devices} x 28 mg devices)")]
    fields += [
        Field("Started", clk.hm(started) if started else "not started"),
        Field("Stopped", clk.hm(stopped) if stopped else ("-" if d["route"] == "IN" else "still running")),
    ]
    if d["route"] == "IV" and started:
        clocks = view.clocks(stopped or now, _PolicyShim())
        fields.append(Field("Running time", format_duration(clocks.infusion_elapsed)
                            + (f" (paused {format_duration(clocks.paused_for)})" if clocks.paused_for else "")))
    pump = series.get(Parameter.PUMP_VI.value)
    if pump:
        t, v, _ = pump[-1]
        conc = d.get("concentration_mg_per_ml")
        extra = f" (= {v * conc:.1f} mg at {conc:g} mg/mL)" if conc else ""
        fields.append(Field("Pump-reported volume", f"{v:.1f} mL{extra}, last pump reading {clk.hm(t)}"))
    fields.append(Field("Lot", d.get("lot") or "not recorded", flag=not d.get("lot")))
    fields.append(Field("Prepared by", who(d.get("prepared_by"))))
    wastes = view.observations_of(Kind.WASTE)
    if wastes:
        for w in wastes:
            data = w.data
            witness = who(data.get("witness")) if data.get("witness") else "NO WITNESS"
            vial = f" of {data['vial_mg']:g} mg vial" if data.get("vial_mg") else ""
            fields.append(Field("Waste", f"{_g(data.get('amount_mg', w.row['value']))} mg{vial}, "
                                         f"{data.get('method', '-')}; witness {witness} ({clk.hm(w.row['effective_at'])})",
                                flag=not data.get("witness")))
    elif d["route"] == "IV":
        fields.append(Field("Waste", "none recorded"))
    events: list[RateEvent] = []
    rate_rows = [(rc.row["effective_at"], "rate", rc) for rc in view.rate_changes]
    ev_rows = [(e["effective_at"], "event", e) for e in view.events
               if e["event"] in (SessionEvent.START_INFUSION.value, SessionEvent.PAUSE.value, SessionEvent.RESUME.value,
                                 SessionEvent.STOP_INFUSION.value, SessionEvent.ABORT.value)]
    for t, kind, item in sorted(rate_rows + ev_rows, key=lambda r: r[0]):
        if kind == "rate":
            events.append(RateEvent(clk.hm(t), f"Rate changed to {item.row['rate_ml_per_h']:g} mL/h", item.row.get("reason") or ""))
        else:
            data = json.loads(item["data"]) if item.get("data") else {}
            text = EVENT_TEXT[item["event"]]
            if item["event"] == SessionEvent.START_INFUSION.value and data.get("rate_ml_per_h"):
                text += f" at {data['rate_ml_per_h']:g} mL/h"
            if item["event"] == SessionEvent.STOP_INFUSION.value and data.get("volume_ml"):
                text += f", {data['volume_ml']:g} mL given"
            events.append(RateEvent(clk.hm(t), text, data.get("reason", "")))
    amended = ""
    if view.dose.amended:
        amended = f"Dose entry amended {clk.hm(d['recorded_at'])} by {who(d['author'])}: {d.get('reason') or ''}"
    return DoseRecord(drug=drug, route=d["route"], fields=fields, events=events, amended=amended, dose_mg=d["dose_mg"])


class _PolicyShim:
    """Only the fields compute_clocks reads for elapsed/paused times (discharge/NIBP timers are unused here)."""

    discharge_min_after_start = 120
    nibp_interval_min = 15
    nibp_at_min_after_start = 40


def _prechecks(view: SessionView) -> list[Field]:
    out = []
    for o in view.observations_of(Kind.PRECHECK):
        d = o.data
        item = d.get("item", "")
        out.append(Field(PRECHECK_LABELS.get(item, item.replace("_", " ")), _yn(d.get("answer"))))
    return out


def _median_before(points, at: datetime, seconds: int = 60) -> tuple[float | None, datetime | None]:
    """Median of valid values in the ``seconds`` before ``at`` (a monitor number, not one noisy sample)."""
    lo = at - timedelta(seconds=seconds)
    vals = [v for t, v, _ in points if lo <= t <= at]
    if not vals:
        # nearest earlier value within 10 min
        earlier = [(t, v) for t, v, _ in points if at - timedelta(minutes=10) <= t <= at]
        return (earlier[-1][1], earlier[-1][0]) if earlier else (None, None)
    return statistics.median(vals), at


def _vitals_rows(clk: _Clock, series, bps, started, stopped, end) -> list[VitalsRow]:
    hr = series.get(Parameter.HR.value) or series.get(Parameter.PR.value) or []
    spo2 = series.get(Parameter.SPO2.value, [])
    rows: list[VitalsRow] = []

    def bp_near(target: datetime, before_only: bool, window_min: float) -> tuple | None:
        cands = [b for b in bps if (b[0] <= target + timedelta(seconds=5) if before_only else True)
                 and abs((b[0] - target).total_seconds()) <= window_min * 60]
        if not cands:
            return None
        return min(cands, key=lambda b: abs((b[0] - target).total_seconds()))

    def row(label: str, target: datetime | None, before_only: bool, window: float, note: str = "") -> None:
        if target is None:
            rows.append(VitalsRow(label, "-", "-", "-", "-", "not reached"))
            return
        bp = bp_near(target, before_only, window)
        h, _ = _median_before(hr, target)
        s, _ = _median_before(spo2, target)
        bp_text = f"{bp[1]:.0f}/{bp[2]:.0f}" + (" (manual)" if bp[3] else "") + f" at {clk.hm(bp[0])}" if bp else "no BP"
        rows.append(VitalsRow(label, clk.hm(target), bp_text, _num(h), _num(s), note))

    row("Baseline (before start)", started, True, 30)
    row("~40 min after start", started + timedelta(minutes=40) if started else None, False, 10)
    row("End of infusion", stopped, False, 10)
    row("Discharge / last", end, True, 60)
    # min / max over the session
    def extreme(points, fn):
        if not points:
            return "-"
        t, v, _ = fn(points, key=lambda p: p[1])
        return f"{v:.0f} at {clk.hm(t)}"

    sys_min = min(bps, key=lambda b: b[1]) if bps else None
    sys_max = max(bps, key=lambda b: b[1]) if bps else None
    rows.append(VitalsRow("Minimum", "", f"{sys_min[1]:.0f}/{sys_min[2]:.0f} at {clk.hm(sys_min[0])}" if sys_min else "-",
                          extreme(hr, min), extreme(spo2, min)))
    rows.append(VitalsRow("Maximum", "", f"{sys_max[1]:.0f}/{sys_max[2]:.0f} at {clk.hm(sys_max[0])}" if sys_max else "-",
                          extreme(hr, max), extreme(spo2, max)))
    return rows


def observation_text(kind: str, value: float | None, text: str | None, data: dict) -> tuple[str, str, bool]:
    """(kind label, what was charted, needs a visible flag) for one observation version."""
    v = None if value is None else int(value) if float(value).is_integer() else value
    if kind == Kind.DISSOCIATION:
        return "Dissociation", f"{v}/4 ({DISSOCIATION_LABELS.get(v, '?')})", False
    if kind == Kind.NAUSEA:
        vom = data.get("vomiting")
        extra = ", vomiting" if vom else (", no vomiting" if vom is False else "")
        return "Nausea", f"{v}/10 ({nausea_band(int(value))}){extra}" if value is not None else "-", False
    if kind == Kind.SEDATION:
        return "Sedation", f"MOAA/S {v} - {MOAAS_LABELS.get(v, '?')}", False
    if kind == Kind.CADSS6:
        items = data.get("items") or {}
        detail = ", ".join(f"#{k}={items[k]}" for k in sorted(items, key=lambda s: int(s)))
        return "CADSS-6", f"total {v}/24" + (f" ({detail})" if detail else ""), False
    if kind == Kind.PHQ9:
        items = data.get("items")
        if items and len(items) == 9:
            res = phq9(items)
            flag = res.self_harm_flag
            return "PHQ-9", (f"total {res.total}/27 ({res.band})"
                             + (f" - ITEM 9 = {items[8]}: SELF-HARM THOUGHTS, ACT PER PROTOCOL" if flag else "")), flag
        return "PHQ-9", f"total {v}/27", False
    if kind == Kind.BPRS:
        return "BPRS positive", f"{v}", False
    if kind == Kind.NOTE:
        return "Note", text or "", False
    if kind == Kind.INTERVENTION:
        if text:
            return "Intervention", text, False
        return "Intervention", " ".join(str(data.get(k, "")) for k in ("drug", "dose", "unit", "route")).strip(), False
    if kind == Kind.MANUAL_VITALS:
        parts = []
        if data.get("NIBP_SYS") is not None:
            parts.append(f"BP {data['NIBP_SYS']:g}/{data.get('NIBP_DIA', 0):g}")
        for key, label in (("HR", "HR"), ("SPO2", "SpO2"), ("RR", "RR"), ("TEMP", "Temp")):
            if data.get(key) is not None:
                parts.append(f"{label} {data[key]:g}")
        if data.get("label"):
            parts.append(f"({data['label']})")
        return "Manual vitals", " ".join(parts), False
    if kind == Kind.WASTE:
        return "Waste", f"{_g(data.get('amount_mg', value))} mg, {data.get('method', '')}", False
    if kind == Kind.PRECHECK:
        return "Pre-check", f"{PRECHECK_LABELS.get(data.get('item'), data.get('item'))}: {_yn(data.get('answer'))}", False
    return kind, text or _g(value), False


def _timeline(view: SessionView, clk: _Clock, who) -> list[TimelineItem]:
    items: list[tuple[datetime, int, TimelineItem]] = []
    for o in view.observations:
        row = o.row
        if row["kind"] in (Kind.PRECHECK, Kind.WASTE):
            continue
        kind, text, alert = observation_text(row["kind"], row["value"], row["text"], o.data)
        flags = []
        if row["late_entry"]:
            flags.append(f"LATE ENTRY - recorded {clk.hm(row['recorded_at'])}")
        originals = []
        if o.amended:
            flags.append(f"AMENDED {clk.hm(row['recorded_at'])} by {who(row['author'])}: {row.get('reason') or ''}")
            for h in o.history:
                _, old, _ = observation_text(h["kind"], h["value"], h["text"], json.loads(h["data"]) if h.get("data") else {})
                originals.append(f"{old} (recorded {clk.hm(h['recorded_at'])} by {who(h['author'])})")
        author = who(o.history[0]["author"] if o.history else row["author"])
        items.append((row["effective_at"], row["device_seq"],
                      TimelineItem(clk.hm(row["effective_at"]), kind, text, author, tuple(flags), tuple(originals), alert)))
    for e in view.events:
        data = json.loads(e["data"]) if e.get("data") else {}
        text = EVENT_TEXT.get(e["event"], e["event"])
        if data.get("rate_ml_per_h"):
            text += f" at {data['rate_ml_per_h']:g} mL/h"
        if data.get("volume_ml"):
            text += f", {data['volume_ml']:g} mL given"
        if data.get("reason"):
            text += f" - reason: {data['reason']}"
        flags = (f"LATE ENTRY - recorded {clk.hm(e['recorded_at'])}",) if e.get("late_entry") else ()
        items.append((e["effective_at"], e["device_seq"], TimelineItem(clk.hm(e["effective_at"]), "Session", text,
                                                                       who(e["author"]), flags)))
    for rc in view.rate_changes:
        r = rc.row
        items.append((r["effective_at"], r["device_seq"], TimelineItem(
            clk.hm(r["effective_at"]), "Rate", f"{r['rate_ml_per_h']:g} mL/h - {r.get('reason') or ''}", who(r["author"]))))
    items.sort(key=lambda i: (i[0], i[1]))
    return [i[2] for i in items]


def _discharge(view: SessionView, clk: _Clock, store: ChartStore, started) -> DischargeCheck | None:
    entry = view.checklist("discharge")
    if entry is None:
        return None
    row = entry.row
    data = json.loads(row["items"]) if row["items"] else {}
    check = data.get("checklist", data)
    padss = data.get("padss", {})
    items = [Field(label, _yn(check.get(key)), flag=check.get(key) is not True) for key, label in DISCHARGE_ITEMS]
    if started:
        minutes = (row["effective_at"] - started).total_seconds() / 60
        items[0] = Field(DISCHARGE_ITEMS[0][1], f"{_yn(check.get('min_120'))} ({minutes:.0f} min at check)",
                         flag=check.get("min_120") is not True)
    padss_fields = []
    for key, label, levels in PADSS_ITEMS:
        score = padss.get(key)
        padss_fields.append(Field(label, f"{score} - {levels.get(score, '')}" if score is not None else "not scored",
                                  flag=score is None or score < 2))
    pass_score = store.policy.padss_pass
    score = f"{row['score']}/10 (pass >= {pass_score})" if row.get("score") is not None else "not scored"
    return DischargeCheck(
        time=clk.full(row["effective_at"]), items=items, padss=padss_fields, score=score, passed=bool(row["passed"]),
        override=row.get("override_reason") or "", policy_version=row["policy_version"],
    )


def _signatures(view: SessionView, clk: _Clock, store: ChartStore) -> list[SignatureLine]:
    entries: dict[str, Entry] = {}
    for group in ([view.dose] if view.dose else []) + view.observations + view.checklists + view.rate_changes:
        for h in [group.row] + group.history:
            entries[h["id"]] = group
    out = []
    for s in view.signatures:
        entry = entries.get(s["target_id"])
        what = TABLE_LABELS.get(s["target_table"], s["target_table"])
        if entry is not None:
            r = entry.row
            if s["target_table"] == "observations":
                what = observation_text(r["kind"], r["value"], r["text"], entry.data)[0]
            elif s["target_table"] == "checklists":
                what = f"{r['kind'].capitalize()} check"
            elif s["target_table"] == "dose_administrations":
                what = f"Dose {r['dose_mg']:g} mg {r['drug']}"
        try:
            valid = store.signature_valid(s)
        except NotFound:
            valid = False
        out.append(SignatureLine(s["printed_name"], s["meaning"], clk.full(s["effective_at"]), what, valid,
                                 bool(entry and entry.signed_version_amended)))
    return out


def _rems(view, store, clk, settings, series, bps, started, discharged, now, who) -> list[tuple[str, list[Field]]]:
    """The Spravato REMS patient monitoring form, in its order, ready to transcribe (CLINICAL.md section 4)."""
    p = view.patient
    pre = {o.data.get("item"): o.data.get("answer") for o in view.observations_of(Kind.PRECHECK)}
    policy = store.policy
    earlier_in = [s for s in store.sessions_for_patient(p["patient_id"])
                  if s["route"] == "IN" and s["effective_at"] < view.session["effective_at"]]
    performer = next((s["printed_name"] for s in view.signatures if s["meaning"] == "performed"), None)
    if performer is None and view.dose:
        performer = who(view.dose.row["author"])
    end = discharged or now
    total_min = (end - started).total_seconds() / 60 if started else None

    # when would the patient have been ready to leave: the last charted sign of sedation/dissociation resolved
    ready = None
    if started:
        unresolved_last = None
        for o in view.observations:
            k, v = o.row["kind"], o.row["value"]
            if (k == Kind.SEDATION and v is not None and v < 5) or (k == Kind.DISSOCIATION and v and v > 0):
                unresolved_last = o.row["effective_at"]
        if unresolved_last is None:
            resolved = [o.row["effective_at"] for o in view.observations
                        if o.row["kind"] in (Kind.SEDATION, Kind.DISSOCIATION) and o.row["effective_at"] >= started]
            ready = resolved[0] if resolved else None
        else:
            after = [o.row["effective_at"] for o in view.observations
                     if o.row["kind"] in (Kind.SEDATION, Kind.DISSOCIATION) and o.row["effective_at"] > unresolved_last]
            ready = after[0] if after else None

    def bp_at(target, before_only):
        if target is None:
            return None
        c = [b for b in bps if (not before_only or b[0] <= target + timedelta(seconds=5))]
        if not c:
            return None
        return min(c, key=lambda b: abs((b[0] - target).total_seconds()))

    def bp_text(b):
        return f"{b[1]:.0f}/{b[2]:.0f} mmHg at {clk.hm(b[0])}" if b else "not recorded"

    def in_range(b):
        if b is None:
            return "not recorded"
        ok = b[1] < policy.predose_sys_warn and b[2] < policy.predose_dia_warn
        return "Yes" if ok else f"No ({b[1]:.0f}/{b[2]:.0f})"

    before = bp_at(started, True)
    at40 = bp_at(started + timedelta(minutes=40), False) if started else None
    completion = bp_at(end, True)
    sedation = [o.row["value"] for o in view.observations_of(Kind.SEDATION) if o.row["value"] is not None]
    dissoc = [o.row["value"] for o in view.observations_of(Kind.DISSOCIATION) if o.row["value"] is not None]
    spo2_alerts = [a for a in view.alerts if a.row["rule"] == "spo2-low"]
    spo2_min = min((v for _, v, _ in series.get(Parameter.SPO2.value, [])), default=None)
    others = [a.row["message"] for a in view.alerts if a.row["rule"] not in ("spo2-low",)]
    others += [observation_text(Kind.NAUSEA, o.row["value"], None, o.data)[1] for o in view.observations_of(Kind.NAUSEA)
               if (o.row["value"] or 0) >= policy.nausea_antiemetic_at or o.data.get("vomiting")]
    others += [o.row["text"] or "intervention" for o in view.observations_of(Kind.INTERVENTION)]
    dose_mg = view.dose.row["dose_mg"] if view.dose else None
    dose_choice = "56 mg" if dose_mg == 56 else "84 mg" if dose_mg == 84 else (f"other: {dose_mg:g} mg" if dose_mg else "not recorded")
    return [
        ("Patient", [
            Field("Patient name", f"{p['given_name']} {p['family_name']}"),
            Field("Date of birth", p["birth_date"]),
            Field("Sex", p["sex"]),
            Field("First treatment", "No" if earlier_in else "Yes"),
        ]),
        ("Concomitant medications", [
            Field("Benzodiazepines", _yn(pre.get("rems_benzodiazepines"))),
            Field("Non-benzodiazepine sedative hypnotics", _yn(pre.get("rems_sedative_hypnotics"))),
            Field("Psychostimulants", _yn(pre.get("rems_psychostimulants"))),
            Field("MAOIs", _yn(pre.get("rems_maois"))),
        ]),
        ("Monitoring and setting", [
            Field("Monitoring HCP name", performer or "not recorded"),
            Field("HCP phone", settings.clinic_phone or "________________"),
            Field("HCP email", settings.clinic_email or "________________"),
            Field("Setting name", settings.clinic_name),
            Field("Setting address", settings.clinic_address or "________________"),
        ]),
        ("Treatment", [
            Field("Treatment date", clk.local(started or view.session["effective_at"]).strftime("%Y-%m-%d")),
            Field("Dose", dose_choice),
            Field("Lot number", (view.dose.row.get("lot") if view.dose else None) or "not recorded"),
            Field("Total minutes, first device administration to end of monitoring",
                  f"{total_min:.0f}" + ("" if discharged else " (monitoring ongoing)") if total_min is not None else "-",
                  flag=total_min is not None and total_min < policy.discharge_min_after_start),
            Field("If no 2-hour minimum, ready to leave after (minutes)",
                  f"{(ready - started).total_seconds() / 60:.0f} (sedation and dissociation charted resolved {clk.hm(ready)})"
                  if ready and started else "not determinable from the chart"),
        ]),
        ("Vital signs", [
            Field("Vital signs in range before administration", in_range(before)),
            Field("Vital signs in range before completion of monitoring", in_range(completion)),
            Field("BP before administration", bp_text(before)),
            Field("BP ~40 min after administration", bp_text(at40)),
            Field("BP before completion of monitoring", bp_text(completion)),
        ]),
        ("Adverse events", [
            Field("Sedation", ("Yes (lowest MOAA/S %g)" % min(sedation)) if sedation and min(sedation) < 5
                  else "No" if sedation else "not assessed"),
            Field("Dissociation", ("Yes (highest %g/4)" % max(dissoc)) if dissoc and max(dissoc) > 0
                  else "No" if dissoc else "not assessed"),
            Field("Respiratory depression", ("Yes: " + "; ".join(a.row["message"] for a in spo2_alerts)) if spo2_alerts
                  else f"No (lowest SpO2 {spo2_min:.0f}%)" if spo2_min is not None else "No SpO2 recorded"),
            Field("Other adverse events", "; ".join(others) if others else "None charted"),
        ]),
    ]

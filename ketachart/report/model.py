"""What goes on paper: the session summary as plain data, built from the store's read models.

:func:`build_summary` reads one session through :func:`ketachart.store.views.session_view` (the same fold
the chair screen uses) and :func:`ketachart.store.readmodels.session_record` (its readings and record
fingerprint), and returns a :class:`Summary` of ready-to-print strings and plot series. Words come from the
one vocabulary (:mod:`ketachart.domain.vocabulary`), and which readings count, which NIBP values pair and
which heart rate shows from :mod:`ketachart.domain.vitals`, as on the screen and in the exports. No Qt and
no SQL here; :mod:`ketachart.report.render` paints a Summary onto a page, :mod:`.settings` holds the clinic
facts and :mod:`.rems` the REMS form.

Times are printed in the clinic's time zone (:class:`ReportSettings`), and the zone is named on the page.
The short record fingerprint on paper is the first 16 hex digits; the full value goes into the PDF metadata.
"""

from __future__ import annotations

import statistics
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter

from ..domain.administration import end_text
from ..domain.codes import Parameter
from ..domain.discharge import NURSE_ITEMS
from ..domain.monitoring import MonitoringPoints, bp_figure, monitoring_points
from ..domain.scales import DISCHARGE_ITEMS, PADSS_ITEMS
from ..domain.session import SessionEvent
from ..domain.timeline import format_duration
from ..domain.vitals import HeartRateChoice, NibpPair, group_nibp, nibp_pairs, running_spans
from ..domain.vocabulary import (
    DRUG_LABELS,
    TABLE_LABELS,
    Kind,
    describe,
    event_text,
    plot_mark,
    precheck_label,
    rate_change_text,
    route_words,
    yes_no,
)
from ..store.errors import NotFound
from ..store.readmodels import StoredReading, session_record
from ..store.records import order_of, order_text
from ..store.repository import ChartStore
from ..store.session_readings import collector_paused
from ..store.views import Entry, SessionView, data_of, session_view
from .fields import Field
from .rems import rems_form
from .settings import LocalClock, ReportSettings, offset_label

__all__ = ["Field", "ReportSettings", "Summary", "build_summary"]


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
    facts: tuple[str, ...] = ()  # what the chart said at the check: DischargeReadiness.lines(), as signed


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


# --- readings -----------------------------------------------------------------------------------

HEART_RATE = "heart-rate"  # the series key of the chosen heart rate (ECG HR, else pulse rate)


def usable_series(readings: list[StoredReading]) -> dict[str, list[tuple[datetime, float, StoredReading]]]:
    """Usable values by parameter, in time order; HR and PR become one heart-rate series by the one choice."""
    series: dict[str, list[tuple[datetime, float, StoredReading]]] = {}
    accept = HeartRateChoice().accept
    pulse = {Parameter.HR.value: Parameter.HR, Parameter.PR.value: Parameter.PR}
    for r in readings:  # ~34,000 in a 4-hour session
        key, value = r.parameter, r.usable
        if key in pulse:
            if not accept(pulse[key], value is not None):
                continue
            key = HEART_RATE
        if value is not None:
            points = series.get(key)
            if points is None:
                points = series[key] = []
            points.append((r.at, value, r))
    return series


def device_nibp(readings: list[StoredReading]) -> list[NibpPair]:
    """The monitor's NIBP measurements with a usable systolic and diastolic value."""
    groups = group_nibp((r for r in readings if r.parameter.startswith("NIBP_")), at=lambda r: r.at,
                        parameter=lambda r: Parameter(r.parameter))
    return nibp_pairs(groups, value=lambda r: r.usable)


# --- the builder --------------------------------------------------------------------------------


def build_summary(store: ChartStore, session_id: str, now: datetime, settings: ReportSettings | None = None) -> Summary:
    """Everything that goes on paper for one session (raises ``NotFound`` for an unknown session)."""
    with collector_paused():  # tens of thousands of small tuples for the plot and the vitals table
        return _build_summary(store, session_id, now, settings)


def _build_summary(store: ChartStore, session_id: str, now: datetime, settings: ReportSettings | None) -> Summary:
    settings = settings or ReportSettings.resolve(store)
    zone, zone_name = settings.zone()
    clk = LocalClock(zone)
    view = session_view(store, session_id)
    record = session_record(store, session_id)
    readings = record.readings
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
        Field("Route", route_words(route).session),
        Field("Chair", view.session.get("chair") or "-"),
        Field("Status", view.state.value + ("" if view.state.is_final else " (IN PROGRESS)"),
              flag=not view.state.is_final),
    ]

    # readings by parameter
    series = usable_series(readings)
    manual_bp = []
    for o in view.observations_of(Kind.MANUAL_VITALS):
        d = o.data
        if d.get("NIBP_SYS") is not None and d.get("NIBP_DIA") is not None:
            manual_bp.append(NibpPair(o.row["effective_at"], float(d["NIBP_SYS"]), float(d["NIBP_DIA"]), manual=True))
    all_bp = sorted(device_nibp(readings) + manual_bp, key=lambda b: b.at)

    points = session_points(view, all_bp, started, discharged, now, store.policy)
    dose = _dose_record(view, clk, who, series, started, stopped, now, order_of(store, session_id)) if view.dose else None
    prechecks = _prechecks(view)
    vitals = _vitals_rows(clk, series, all_bp, points, stopped)
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
    t_last_candidates = ([readings[-1].at] if readings else []) + [e["effective_at"] for e in view.events]
    t_last = max(t_last_candidates) if t_last_candidates else now
    if not view.state.is_final:
        t_last = max(t_last, min(now, t_last + timedelta(minutes=5)))
    plot_origin = (readings[0].at if readings else (started or view.session["effective_at"]))
    plot_origin = min(plot_origin, started) if started else plot_origin

    def x(dt: datetime) -> float:
        return (dt - plot_origin).total_seconds()

    spans = [(x(sp.start), x(sp.end if sp.end is not None else max(t_last, sp.start)))
             for sp in running_spans(view.infusion_spans())]
    marks = []
    for o in view.observations:
        mark = plot_mark(o.row["kind"], o.row["value"])
        if mark is not None:
            marks.append((x(o.row["effective_at"]), mark))
    alert_marks = [(x(a.row["effective_at"]), "!") for a in view.alerts]
    plot = PlotData(
        origin=clk.local(plot_origin),
        x_end=max(x(t_last), 60.0),
        hr=[(x(t), v) for t, v, _ in series.get(HEART_RATE, [])],
        spo2=[(x(t), v) for t, v, _ in series.get(Parameter.SPO2.value, [])],
        nibp=[(x(b.at), b.sys, b.dia, b.manual) for b in all_bp],
        infusion=spans,
        marks=marks,
        alert_marks=alert_marks,
        start_offset=x(started) if started else None,
    )

    rems = (rems_form(view, store, clk, settings, series.get(Parameter.SPO2.value, []), points, who)
            if route == "IN" else None)
    return Summary(
        clinic_name=settings.clinic_name,
        clinic_address=settings.clinic_address,
        title=f"{route_words(route).title} - session summary",
        tz_label=offset_label(zone, zone_name, session_date),
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
        fingerprint=record.fingerprint,
        row_count=record.row_count,
        route=route,
    )


def _dose_record(view: SessionView, clk: LocalClock, who, series, started, stopped, now,
                 order: dict | None = None) -> DoseRecord:
    d = view.dose.row
    drug = DRUG_LABELS.get(d["drug"], d["drug"])
    fields: list[Field] = [Field("Drug", drug), Field("Route", route_words(d["route"]).dose_route),
                           # the prescriber's order the dose cites, in the cs-log's words (issue 16)
                           Field("Order", order_text(order), flag=order is None)]
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
    end, balance = view.administration_end, view.balance()
    if end is not None and d["route"] == "IV":
        fields.append(Field("Delivered", end_text(end, d["dose_mg"]) + (f" - {end.reason}" if end.reason else "")
                            + (f"; {balance.text()}" if balance.discrepancy or balance.wasted_after_mg else ""),
                            flag=not end.completed or balance.discrepancy))
    ended = next((e for e in view.events if e["event"] == SessionEvent.STOP_INFUSION.value), None)
    given = data_of(ended) if ended is not None and d["route"] == "IN" else {}
    if given.get("devices_planned"):  # intranasal: the devices given, as charted (issue 12)
        n, of = given.get("devices_given", 0), given["devices_planned"]
        early = given.get("completed") is False
        fields.append(Field("Delivered", f"{n} of {of} devices ({n * 28} mg esketamine)"
                            + (f" - ended early: {ended.get('reason') or given.get('reason') or ''}" if early else ""),
                            flag=early))
    if d["route"] == "IV" and started:
        timing = view.timing(stopped or now)
        fields.append(Field("Running time", format_duration(timing.infusion_elapsed)
                            + (f" (paused {format_duration(timing.paused_for)})" if timing.paused_for else "")))
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
            events.append(RateEvent(clk.hm(t), rate_change_text(item.row["rate_ml_per_h"], None), item.original_reason))
        else:
            data = item["details"]
            text = event_text(item["event"], {k: v for k, v in data.items() if k != "reason"}, d["route"])
            events.append(RateEvent(clk.hm(t), text, data.get("reason", "")))
    amended = ""
    if view.dose.amended:
        amended = f"Dose entry amended {clk.hm(d['recorded_at'])} by {who(d['author'])}: {d.get('reason') or ''}"
    return DoseRecord(drug=drug, route=d["route"], fields=fields, events=events, amended=amended, dose_mg=d["dose_mg"])


def _prechecks(view: SessionView) -> list[Field]:
    out = []
    for o in view.observations_of(Kind.PRECHECK):
        d = o.data
        item = d.get("item", "")
        out.append(Field(precheck_label(item), yes_no(d.get("answer"))))
    return out


def _median_before(points, at: datetime, seconds: int = 60) -> tuple[float | None, datetime | None]:
    """Median of valid values in the ``seconds`` before ``at`` (a monitor number, not one noisy sample);
    ``points`` in time order."""
    end = bisect_right(points, at, key=_time)
    vals = [v for _, v, _ in points[bisect_left(points, at - timedelta(seconds=seconds), hi=end, key=_time):end]]
    if not vals:
        # nearest earlier value within 10 min
        last = points[end - 1] if end else None
        return (last[1], last[0]) if last is not None and last[0] >= at - timedelta(minutes=10) else (None, None)
    return statistics.median(vals), at


_time, _value = itemgetter(0), itemgetter(1)  # of a (time, value, reading) point


def session_points(view: SessionView, bps: list[NibpPair], started, ended_at, now, policy) -> MonitoringPoints:
    """The monitored moments (pre-dose, ~40 min, before completion, ready to leave) the summary and the REMS
    form both print, by the one rule in :mod:`ketachart.domain.monitoring`."""
    documented = []
    for o in view.observations_of(Kind.MANUAL_VITALS):
        d = o.data
        if d.get("label") == "baseline" and d.get("NIBP_SYS") is not None and d.get("NIBP_DIA") is not None:
            documented.append(NibpPair(o.row["effective_at"], float(d["NIBP_SYS"]), float(d["NIBP_DIA"]), manual=True))
    documented.sort(key=lambda b: b.at)

    def scale(kind: str) -> list[tuple[datetime, float]]:
        return sorted((o.row["effective_at"], o.row["value"]) for o in view.observations_of(kind)
                      if o.row["value"] is not None)

    return monitoring_points(documented_baseline=documented, bps=bps, started=started, ended_at=ended_at, now=now,
                             bp_window_min=policy.rems_bp_window_min,
                             completion_window_min=policy.rems_completion_bp_window_min,
                             sedation=scale(Kind.SEDATION), dissociation=scale(Kind.DISSOCIATION))


def bp_words(clk: LocalClock, b: NibpPair | None) -> str:
    """A BP on paper: "124/79 (manual) at 08:52" (the figure is :func:`bp_figure`, the same on the REMS form)."""
    return bp_figure(b) + (" (manual)" if b.manual else "") + f" at {clk.hm(b.at)}" if b else "-"


def _vitals_rows(clk: LocalClock, series, bps: list[NibpPair], points: MonitoringPoints, stopped) -> list[VitalsRow]:
    hr = series.get(HEART_RATE, [])
    spo2 = series.get(Parameter.SPO2.value, [])
    started = points.started
    rows: list[VitalsRow] = []

    def row(label: str, target: datetime | None, bp: NibpPair | None, note: str = "") -> None:
        if target is None:
            rows.append(VitalsRow(label, "-", "-", "-", "-", "not reached"))
            return
        h, _ = _median_before(hr, target)
        s, _ = _median_before(spo2, target)
        rows.append(VitalsRow(label, clk.hm(target), bp_words(clk, bp) if bp else "no BP", _num(h), _num(s), note))

    if started is not None and points.predose is not None and not points.predose_documented:
        base_note = "no documented pre-dose BP: latest monitor BP"
    elif started is not None and points.predose is None:
        base_note = "NOT RECORDED"
    else:
        base_note = ""
    row("Baseline (before start)", started, points.predose, base_note)
    row("~40 min after start", points.at40_target, points.at40, "" if points.at40 or started is None else "NOT RECORDED")
    stop_bp = None
    if stopped is not None:
        near = [b for b in bps if abs((b.at - stopped).total_seconds()) <= 600]
        stop_bp = min(near, key=lambda b: abs((b.at - stopped).total_seconds())) if near else None
    row("End of infusion", stopped, stop_bp)
    row("Discharge / last" if points.ended else "Last (monitoring ongoing)", points.end if started else None,
        points.completion, "" if points.completion or started is None else "NOT RECORDED")
    # min / max over the monitored period, from the start of administration (usable readings only)
    monitored_bp = [b for b in bps if started is None or b.at >= started]
    for label, fn in (("Minimum", min), ("Maximum", max)):
        def extreme(points_):
            points_ = points_[bisect_left(points_, started, key=_time):] if started is not None else points_
            if not points_:
                return "-"
            t, v, _ = fn(points_, key=_value)
            return f"{v:.0f} at {clk.hm(t)}"

        rows.append(VitalsRow(label, "", bp_words(clk, fn(monitored_bp, key=lambda b: b.sys) if monitored_bp else None),
                              extreme(hr), extreme(spo2), "from the start of administration" if started else ""))
    return rows


def _timeline(view: SessionView, clk: LocalClock, who) -> list[TimelineItem]:
    items: list[tuple[datetime, int, TimelineItem]] = []
    for o in view.observations:
        row = o.row
        if row["kind"] in (Kind.PRECHECK, Kind.WASTE):
            continue
        words = describe(row["kind"], row["value"], row["text"], o.data)
        flags = []
        if row["late_entry"]:
            flags.append(f"LATE ENTRY - recorded {clk.hm(row['recorded_at'])}")
        originals = []
        if o.amended:
            flags.append(f"AMENDED {clk.hm(row['recorded_at'])} by {who(row['author'])}: {row.get('reason') or ''}")
            for h in o.history:
                old = describe(h["kind"], h["value"], h["text"], data_of(h)).phrase
                originals.append(f"{old} (recorded {clk.hm(h['recorded_at'])} by {who(h['author'])})")
        author = who(o.history[0]["author"] if o.history else row["author"])
        items.append((row["effective_at"], row["device_seq"],
                      TimelineItem(clk.hm(row["effective_at"]), words.label, words.phrase, author, tuple(flags),
                                   tuple(originals), words.flag)))
    for e in view.events:
        text = event_text(e["event"], e["details"], view.session["route"])
        flags = (f"LATE ENTRY - recorded {clk.hm(e['recorded_at'])}",) if e.get("late_entry") else ()
        items.append((e["effective_at"], e["device_seq"], TimelineItem(clk.hm(e["effective_at"]), "Session", text,
                                                                       who(e["author"]), flags)))
    for rc in view.rate_changes:
        r = rc.row
        items.append((r["effective_at"], r["device_seq"], TimelineItem(
            clk.hm(r["effective_at"]), "Rate", rate_change_text(r["rate_ml_per_h"], rc.original_reason), who(r["author"]))))
    items.sort(key=lambda i: (i[0], i[1]))
    return [i[2] for i in items]


def _discharge(view: SessionView, clk: LocalClock, store: ChartStore, started) -> DischargeCheck | None:
    entry = view.checklist("discharge")
    if entry is None:
        return None
    row = entry.row
    data = entry.items
    check = data.get("checklist", data)
    padss = data.get("padss", {})
    items = [Field(label, yes_no(check.get(key)), flag=check.get(key) is not True) for key, label in DISCHARGE_ITEMS]
    lines = [str(line) for line in data.get("lines", ())]
    if lines:  # assessed from the chart at the check: each criterion with what the chart said, as the screen showed
        nurse = {label for _, label in NURSE_ITEMS}
        items, ticked = [], []
        for line in lines:
            label, _, says = line[2:].partition(": ")
            if label in nurse and line.startswith("✔") and says.startswith("ticked"):
                ticked.append(label + says[len("ticked"):])  # the nurse's ticks the chart agrees with: one line
            else:
                items.append(Field(label, f"{line[:1]} {says}", flag=not line.startswith("✔")))
        if len(ticked) == len(NURSE_ITEMS):
            items.append(Field("Ticked by the nurse", f"✔ all {len(ticked)} items"))
        elif ticked:
            items.append(Field("Ticked by the nurse", "✔ " + "; ".join(ticked)))
    elif started:
        minutes = (row["effective_at"] - started).total_seconds() / 60
        items[0] = Field(DISCHARGE_ITEMS[0][1], f"{yes_no(check.get('min_120'))} ({minutes:.0f} min at check)",
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
        facts=tuple(str(line) for line in data.get("lines", ())),
    )


def _signatures(view: SessionView, clk: LocalClock, store: ChartStore) -> list[SignatureLine]:
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
                what = describe(r["kind"], r["value"], r["text"], entry.data).label
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

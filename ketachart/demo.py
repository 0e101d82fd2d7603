"""A complete, realistic finished session written through the real domain and store code.

Used by ``ketachart demo-session``, the report and export tests, the sync benchmark and screenshots. A fake
clock walks through the session so the whole ~2 h 10 min is charted in seconds, with ``recorded_at`` taken
from that clock exactly as at the chair (one late entry is recorded 20 minutes after the fact).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from .domain.alerts import AlertRules
from .domain.clock import FakeClock
from .domain.codes import Parameter
from .domain.dosing import intranasal_dose, iv_dose
from .domain.readings import Quality, Reading
from .domain.records import Order, Product, items_for
from .domain.scales import DISCHARGE_ITEMS, PADSS_ITEMS, padss_total
from .domain.vocabulary import Kind
from .domain.session import SessionEvent
from .hardware.sim.physiology import Patient as SimPatient
from .chair.records import RecordsCommands
from .store.models import Checklist, Course, DoseAdministration, Observation, Session
from .store.records import record_order, standing_order
from .store.repository import ChartStore

DEMO_NURSE = ("demo.nurse", "Alex Morgan, RN")
DEMO_WITNESS = ("demo.witness", "Sam Patel, RN")
DEMO_PRESCRIBER = ("demo.prescriber", "Dana Cho, MD")  # signs the course's order in the autoplayed pre-session
NAMES = [
    ("Rivera", "Jordan", "1984-03-12", "female"), ("Okafor", "Chidi", "1979-11-02", "male"),
    ("Lindqvist", "Maja", "1991-06-24", "female"), ("Tanaka", "Hiro", "1968-01-30", "male"),
    ("Dubois", "Claire", "1975-09-17", "female"), ("Nguyen", "Bao", "1988-12-05", "male"),
]


def _phq9_for_session(number: int) -> list[int]:
    """A course that responds: PHQ-9 19 (moderately severe, item 9 positive) at session 1, about 3 points lower
    at each of the next sessions, item 9 back to 0 from session 3."""
    items = [3, 3, 2, 2, 2, 2, 2, 2, 1]
    order = (0, 4, 1, 5, 2, 6, 3, 7)  # spread the improvement over items 1-8
    for k in range(3 * (number - 1)):
        i = order[k % len(order)]
        items[i] = max(0, items[i] - 1)
    if number >= 3:
        items[8] = 0
    return items


def _ensure_user(store: ChartStore, user_id: str, name: str, role: str = "nurse") -> None:
    if not any(u["user_id"] == user_id for u in store.users()):
        store.create_user(user_id, name, role)


def _prepare_dose(store: ChartStore, sid: str, pid: str, route: str, dose, seed: int, start: datetime) -> dict:  # noqa: ANN001
    """The dose as the chair prepares it: under the course's standing order (signed by the demo prescriber at
    the course's first session) with the vial's product record citing that order, so the demo's history has
    what an audit asks for (the cs-log names an order for every dose)."""
    if standing_order(store, pid, route) is None:
        policy = store.policy
        order = (Order("esketamine", "IN", 56.0, None, None) if route == "IN" else
                 Order("ketamine", "IV", None, policy.mg_per_kg_default, int(policy.infusion_min_default)))
        record_order(store, None, order, prescriber=DEMO_PRESCRIBER[0], printed_name=DEMO_PRESCRIBER[1],
                     patient_id=pid)
    if route == "IN":  # two 28 mg devices
        product = Product(140.0, 0.4, f"ESK{2400 + seed:05d}", start.date() + timedelta(days=300))
    else:
        product = Product(50.0, 1.0 if dose.dose_mg <= 50 else 2.0, f"KET{2400 + seed:05d}",
                          start.date() + timedelta(days=300))
    return RecordsCommands(store).prepare_dose(sid, dose, product, prepared_by=DEMO_NURSE[0])


def write_demo_session(store: ChartStore, seed: int = 0, monitoring_minutes: float | None = None,
                       start: datetime | None = None, route: str = "IV") -> str:
    """Write one finished session (``route`` IV ketamine or IN esketamine/Spravato); returns its id.
    Deterministic for a given seed, start and route."""
    route = route.upper()
    if route not in ("IV", "IN"):
        raise ValueError("route must be IV or IN")
    rng = random.Random(seed)
    real_clock = store.clock
    start = start or datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc) + timedelta(days=seed % 300, hours=(seed // 300) % 8)
    clock = FakeClock(start - timedelta(minutes=30))
    store.clock = clock
    previous_author = store.author
    try:
        for uid, name in (DEMO_NURSE, DEMO_WITNESS):
            _ensure_user(store, uid, name)
        _ensure_user(store, *DEMO_PRESCRIBER, role="prescriber")
        store.author = DEMO_NURSE[0]
        return _write(store, clock, rng, seed, start, monitoring_minutes or 130.0, route)
    finally:
        store.clock = real_clock
        store.author = previous_author


def _write(store: ChartStore, clock: FakeClock, rng: random.Random, seed: int, start: datetime, minutes: float,
           route: str = "IV") -> str:
    intranasal = route == "IN"
    family, given, dob, sex = NAMES[seed % len(NAMES)]
    mrn = f"DEMO-{seed:04d}"
    existing = [p for p in store.patients() if p["mrn"] == mrn]
    weight = round(58 + rng.uniform(0, 40), 1)
    patient = existing[0] if existing else store.create_patient(mrn, family, given, dob, sex, weight)
    pid = patient["patient_id"]
    courses = [c for c in store.rows(Course, patient_id=pid) if c["route"] == route]
    course = courses[0] if courses else store.create_course(
        pid, route, "Intranasal esketamine, induction" if intranasal else "IV ketamine, induction")
    session = store.create_session(pid, route, course["id"], chair="Chair 2")
    sid = session["id"]
    store.audit("open-chart", f"patients:{pid}")
    sim = SimPatient(seed=seed + 1, scenario="ketamine")
    policy = store.policy
    rules = AlertRules(policy)

    def at(minute: float) -> datetime:
        return start + timedelta(minutes=minute)

    def goto(minute: float) -> None:
        target = at(minute)
        if target > clock.now():
            clock.advance((target - clock.now()).total_seconds())

    # --- arrival and pre-checks ----------------------------------------------------------------
    goto(-25)
    store.session_event(sid, SessionEvent.CHECK_IN)
    prechecks = {
        "consent_on_file": True, "fasting_hours": 4, "current_meds": "sertraline 100 mg daily",
        "rems_benzodiazepines": False, "rems_sedative_hypnotics": False, "rems_psychostimulants": False,
        "rems_maois": False, "rems_opioids": False, "escort_name": "Pat Rivera", "escort_phone": "555-0142",
        "no_driving_acknowledged": True, "weight_kg": weight,
    }
    for item, answer in prechecks.items():
        store.observe(sid, Kind.PRECHECK, data={"item": item, "answer": answer})
    # the pre-session items a dose needs (issue 16), answered as for a patient who may be dosed
    RecordsCommands(store).record_presession_items(sid, {i.key: i.safe_answer for i in items_for(route, sex)})
    phq = _phq9_for_session(len(store.rows(Session, course_id=course["id"])))
    store.observe(sid, Kind.PHQ9, value=sum(phq), data={"items": phq}, patient_id=pid)

    # --- readings: 1 Hz HR/SpO2 from 10 min before start, NIBP every 3-5 min ---------------------
    first_s, last_s = -10 * 60, int(minutes * 60)
    nibp_times = sorted(set(int(t) for t in sim.nibp_times(first_s, last_s)))
    baseline = sim.nibp_at(first_s)
    if intranasal:
        dose = intranasal_dose(56, policy)
        rate = 0.0
    else:
        dose = iv_dose(weight, policy.mg_per_kg_default, policy.concentration_mg_per_ml_default,
                       policy.infusion_min_default, policy)
        rate = dose.rate_ml_per_h
    spo2_dip = (45 * 60, 45 * 60 + 25)  # a short desaturation while deeply dissociated
    infusion_stop_min = 42.0
    rate_change_s = int(24.5 * 60)
    reduced_rate = round(rate * 0.75, 1)

    def delivered_ml(t: float) -> float:
        """What the pump has infused t seconds after the start (full rate, then the reduced rate)."""
        return (rate * min(t, rate_change_s) + reduced_rate * max(0.0, t - rate_change_s)) / 3600
    pending_alerts = []

    def readings_between(t0: int, t1: int) -> list[Reading]:
        out = []
        for t in range(t0, t1):
            host = at(t / 60)
            vit = sim.vitals_at(t)
            spo2 = 91.0 if spo2_dip[0] <= t < spo2_dip[1] else vit.spo2
            out.append(Reading(Parameter.HR, vit.hr, host, source="device:ge"))
            out.append(Reading(Parameter.SPO2, spo2, host, source="device:ge"))
            if t % 5 == 0:
                out.append(Reading(Parameter.RR, vit.rr, host, source="device:ge"))
            if t in nibp_set:
                bp = sim.nibp_at(t)
                out += [Reading(Parameter.NIBP_SYS, bp.sys, host, source="device:ge"),
                        Reading(Parameter.NIBP_DIA, bp.dia, host, source="device:ge"),
                        Reading(Parameter.NIBP_MEAN, bp.mean, host, source="device:ge")]
            if not intranasal and 0 <= t <= infusion_stop_min * 60 and t % 10 == 0:
                current_rate = rate if t < rate_change_s else reduced_rate
                out += [Reading(Parameter.PUMP_RATE, current_rate, host, source="device:bbraun"),
                        Reading(Parameter.PUMP_VI, round(delivered_ml(t), 1), host, source="device:bbraun")]
            if t == 30 * 60 + 7:  # one artefact: sensor off for a moment; charted as no value
                out.append(Reading(Parameter.SPO2, None, host, flags=frozenset({Quality.SENSOR_OFF}), source="device:ge"))
        return out

    nibp_set = set(nibp_times)
    cursor = first_s

    def chart_until(minute: float) -> None:
        """Advance the clock, writing readings in one-minute batches as the vitals writer would."""
        nonlocal cursor
        end = int(minute * 60)
        while cursor < end:
            step = min(end, cursor + 60)
            batch = readings_between(cursor, step)
            goto(step / 60)
            store.add_readings(sid, batch)
            for r in batch:
                for finding in rules.feed(r):
                    alert = store.raise_alert(sid, finding.rule, finding.severity, finding.message, finding.data,
                                              effective_at=finding.at)
                    pending_alerts.append(alert)
            cursor = step

    chart_until(-8)
    store.observe(sid, Kind.MANUAL_VITALS, data={"NIBP_SYS": baseline.sys, "NIBP_DIA": baseline.dia,
                                                 "HR": sim.vitals_at(first_s).hr, "label": "baseline"})
    store.save_checklist(sid, "pre-session", {**prechecks, "baseline_bp": f"{baseline.sys}/{baseline.dia}"}, passed=True)
    for f in rules.predose_bp(baseline.sys, baseline.dia, clock.now()):
        pending_alerts.append(store.raise_alert(sid, f.rule, f.severity, f.message, f.data))

    # --- dose, waste, start ---------------------------------------------------------------------
    chart_until(-3)
    dose_row = _prepare_dose(store, sid, pid, route, dose, seed, start)
    store.sign(DoseAdministration, dose_row["id"], user_id=DEMO_NURSE[0], printed_name=DEMO_NURSE[1], meaning="performed")
    if intranasal:  # Spravato: two 28 mg devices, 5 minutes apart; the 40-minute BP; no pump, no infusion
        return _write_intranasal(store, sid, chart_until, at, minutes, pending_alerts)
    vial_mg = 50.0 if dose.dose_mg <= 50 else 100.0
    waste = store.observe(sid, Kind.WASTE, value=round(vial_mg - dose.dose_mg, 1),
                          data={"amount_mg": round(vial_mg - dose.dose_mg, 1), "method": "sharps container, rendered unrecoverable",
                                "witness": DEMO_WITNESS[0], "vial_mg": vial_mg})
    store.sign(Observation, waste["id"], user_id=DEMO_WITNESS[0], printed_name=DEMO_WITNESS[1], meaning="witnessed")
    chart_until(0)
    store.session_event(sid, SessionEvent.START_INFUSION, data={"rate_ml_per_h": rate})

    # --- during the infusion and recovery: (minute, what the nurse charts) -----------------------
    state: dict = {}

    def obs(kind, value, data=None):
        return lambda: store.observe(sid, kind, value=value, data=data)

    def mis_keyed_nausea():
        state["nausea"] = store.observe(sid, Kind.NAUSEA, value=6, data={"vomiting": False})

    def acknowledge_all():
        for alert in pending_alerts:
            action = ("Patient roused and asked to breathe deeply; SpO2 back to 97% within 30 s"
                      if alert["rule"] == "spo2-low" else "Reviewed with prescriber; continue monitoring")
            store.acknowledge_alert(alert["id"], action)
        pending_alerts.clear()

    script = [
        (5, obs(Kind.SEDATION, 5)),
        (10, obs(Kind.DISSOCIATION, 1)),
        (15, obs(Kind.NAUSEA, 1, {"vomiting": False})),
        (20, obs(Kind.DISSOCIATION, 2)),
        (24, obs(Kind.DISSOCIATION, 3)),
        (rate_change_s / 60, lambda: store.change_rate(sid, reduced_rate,
                                         "Strong dissociation (3/4); rate reduced by 25% per protocol")),
        (30, obs(Kind.SEDATION, 4)),
        (38, mis_keyed_nausea),
        (38.5, lambda: store.observe(sid, Kind.INTERVENTION, text="Ondansetron 4 mg IV",
                                     data={"drug": "ondansetron", "dose": 4, "unit": "mg", "route": "IV"})),
        (40, obs(Kind.DISSOCIATION, 3)),
        (40.5, lambda: store.observe(sid, Kind.NOTE, text="Eyes closed, calm, responds to voice. Music on.")),
        (41, lambda: store.amend(Observation, state["nausea"]["id"], "Mis-keyed: patient rated nausea 3, not 6", value=3)),
        # the reduced rate means less than the prepared volume ran in 42 min: chart what the pump delivered
        (infusion_stop_min, lambda: store.session_event(
            sid, SessionEvent.STOP_INFUSION, data=_delivered(dose, delivered_ml(infusion_stop_min * 60)))),
        (47, acknowledge_all),
        (55, obs(Kind.DISSOCIATION, 1)),
        (60, obs(Kind.SEDATION, 5)),
        (65, obs(Kind.NAUSEA, 1, {"vomiting": False})),
        (75, obs(Kind.DISSOCIATION, 0)),
        (90, obs(Kind.NAUSEA, 0, {"vomiting": False})),
        (110, obs(Kind.SEDATION, 5)),
    ]
    for minute, action in script:
        if minute > minutes - 6:
            break
        chart_until(minute)
        action()
    # a late entry: written at 70 min about something seen at 50 min
    chart_until(max(70, cursor / 60))
    store.observe(sid, Kind.NOTE, text="Patient described a 'floating' feeling at 50 min; reassured.", effective_at=at(50))

    # --- discharge check -------------------------------------------------------------------------
    chart_until(minutes - 5)
    from .chair.service import VITALS, discharge_chart
    from .domain.discharge import NURSE_ITEMS, assess_discharge
    from .domain.vitals import reading_from_row
    from .store.views import session_view

    ticks = {key: True for key, _ in NURSE_ITEMS}
    padss = {key: 2 for key, _, _ in PADSS_ITEMS}
    vitals = [reading_from_row(r) for r in store.readings(sid) if r["parameter"] in {p.value for p in VITALS}]
    readiness = assess_discharge(discharge_chart(session_view(store, sid), vitals, (baseline.sys, baseline.dia)),
                                 clock.now(), policy, ticks, padss)
    check = {**{key: True for key, _ in DISCHARGE_ITEMS}, **{c.key: c.met for c in readiness.criteria}}
    items = {"checklist": check, "padss": padss, "minutes_since_start": round(readiness.minutes_since_start or 0, 1),
             "reasons": list(readiness.blockers), "override": readiness.needs_override,
             "readiness": readiness.to_record(), "lines": readiness.lines()}
    checklist = store.save_checklist(sid, "discharge", items, score=padss_total(padss), passed=readiness.ready,
                                     override_reason=None if readiness.ready else "; ".join(readiness.blockers))
    store.sign(Checklist, checklist["id"], user_id=DEMO_NURSE[0], printed_name=DEMO_NURSE[1], meaning="performed")
    chart_until(minutes)
    store.session_event(sid, SessionEvent.DISCHARGE)
    return sid


def _delivered(dose, ml: float) -> dict:
    """The administration end the chair records at Stop (domain.administration): what the pump delivered."""
    ml = round(ml, 1)
    return {"completed": True, "delivered_ml": ml, "delivered_mg": round(ml * dose.concentration_mg_per_ml, 2),
            "delivered_source": "pump", "volume_ml": ml}


def _write_intranasal(store: ChartStore, sid: str, chart_until, at, minutes: float, pending_alerts: list) -> str:
    """The rest of a Spravato session: each device charted with its time, the 40-minute BP, discharge at 2 h."""
    chart_until(0)
    store.session_event(sid, SessionEvent.START_INFUSION)
    # each device with its time, as the chair charts it (the start is device 1; the last completes it)
    store.observe(sid, Kind.NASAL_DEVICE, 28.0, data={"device": 1, "of": 2, "mg": 28})
    chart_until(5)
    store.observe(sid, Kind.NASAL_DEVICE, 28.0, data={"device": 2, "of": 2, "mg": 28})
    store.session_event(sid, SessionEvent.STOP_INFUSION,
                        data={"completed": True, "devices_given": 2, "devices_planned": 2})
    for minute, kind, value in ((10, Kind.SEDATION, 5), (20, Kind.DISSOCIATION, 2), (40, Kind.DISSOCIATION, 1),
                                (60, Kind.SEDATION, 5), (90, Kind.DISSOCIATION, 0)):
        chart_until(minute)
        store.observe(sid, kind, value=value)
        if minute == 40:
            store.observe(sid, Kind.NOTE, text="40-minute post-dose BP taken (monitor NIBP)")
    chart_until(100)
    for alert in pending_alerts:
        store.acknowledge_alert(alert["id"], "Reviewed with prescriber; continue monitoring")
    pending_alerts.clear()
    chart_until(minutes - 5)
    check = {key: True for key, _ in DISCHARGE_ITEMS}
    padss = {key: 2 for key, _, _ in PADSS_ITEMS}
    checklist = store.save_checklist(sid, "discharge", {"checklist": check, "padss": padss}, score=padss_total(padss),
                                     passed=True)
    store.sign(Checklist, checklist["id"], user_id=DEMO_NURSE[0], printed_name=DEMO_NURSE[1], meaning="performed")
    chart_until(minutes)
    store.session_event(sid, SessionEvent.DISCHARGE)
    return sid

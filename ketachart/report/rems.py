"""The Spravato REMS patient monitoring form (intranasal sessions), filled from the chart in the form's order,
ready to submit. Every BP comes from its moment with its window (:mod:`ketachart.domain.monitoring`, the same
points the summary prints); a field the chart cannot fill reads "not recorded" and is flagged. Built by
:func:`ketachart.report.model.build_summary`; no Qt, no SQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from ..domain.monitoring import MonitoringPoints, bp_figure, bp_in_range
from ..domain.records import us_date
from ..domain.session import SessionEvent
from ..domain.vocabulary import Kind, describe, yes_no
from ..store.records import rems_enrolment
from ..store.repository import ChartStore
from ..store.views import SessionView
from .fields import Field
from .settings import LocalClock, ReportSettings

NOT_RECORDED = "not recorded"


def first_treatment(view: SessionView, store: ChartStore) -> bool:
    """First esketamine treatment of the patient: first session of its course, or with no course, no earlier
    intranasal session of the patient."""
    if view.course is not None:
        return view.session_number == 1
    return not [s for s in store.sessions_for_patient(view.patient["patient_id"])
                if s["route"] == "IN" and s["effective_at"] < view.session["effective_at"]]


def rems_form(view: SessionView, store: ChartStore, clk: LocalClock, settings: ReportSettings, spo2: list,
              points: MonitoringPoints, who: Callable[[str | None], str]) -> list[tuple[str, list[Field]]]:
    """The Spravato REMS patient monitoring form, in its order (docs/CLINICAL.md)."""
    p = view.patient
    pre = {o.data.get("item"): o.data.get("answer") for o in view.observations_of(Kind.PRECHECK)}
    policy = store.policy
    started = points.started
    # the monitoring HCP: who signed the dose as performed, else who started the administration (never the
    # prescriber's signature on the order)
    performer = None
    if view.dose:
        performer = next((s["printed_name"] for s in view.dose.signatures if s["meaning"] == "performed"), None)
    start_ev = next((e for e in view.events if e["event"] == SessionEvent.START_INFUSION.value), None)
    if performer is None and start_ev is not None:
        performer = who(start_ev["author"])
    if performer is None and view.dose:
        performer = who(view.dose.row["author"])
    total_min = points.total_minutes
    ready = points.ready_at
    enrolment = rems_enrolment(store, p["patient_id"])

    # ... as the discharge check computed it from the chart (the screen's and the summary's words), when recorded
    check = view.checklist("discharge")
    readiness = check.items.get("readiness") if check is not None else None
    facts = [str(x) for x in check.items.get("lines", ())] if check is not None else []
    ready_text = "sedation and dissociation charted resolved"
    if readiness and readiness.get("clinically_ready_since"):
        ready = datetime.fromisoformat(readiness["clinically_ready_since"])
        ready_text = "sedation, dissociation and vitals settled, as computed at the discharge check"
    elif readiness:
        ready = None

    def bp_text(b, what: str) -> Field:
        if b is None:
            return Field(what, NOT_RECORDED, flag=True)
        return Field(what, f"{bp_figure(b)} mmHg at {clk.hm(b.at)}")

    def in_range(b, what: str) -> Field:
        ok = bp_in_range(b, policy.predose_sys_warn, policy.predose_dia_warn)
        if ok is None:
            return Field(what, NOT_RECORDED, flag=True)
        limit = f"{policy.predose_sys_warn}/{policy.predose_dia_warn}"
        return Field(what, f"Yes (BP {bp_figure(b)} below {limit})" if ok else f"No (BP {bp_figure(b)})", flag=not ok)

    sedation = [o.row["value"] for o in view.observations_of(Kind.SEDATION)
                if o.row["value"] is not None and (started is None or o.row["effective_at"] >= started)]
    dissoc = [o.row["value"] for o in view.observations_of(Kind.DISSOCIATION)
              if o.row["value"] is not None and (started is None or o.row["effective_at"] >= started)]
    spo2_alerts = [a for a in view.alerts if a.row["rule"] == "spo2-low"]
    spo2_min = min((v for t, v, _ in spo2 if started is None or t >= started), default=None)
    others = [a.row["message"] for a in view.alerts if a.row["rule"] not in ("spo2-low",)]
    others += [describe(Kind.NAUSEA, o.row["value"], None, o.data).phrase for o in view.observations_of(Kind.NAUSEA)
               if (o.row["value"] or 0) >= policy.nausea_antiemetic_at or o.data.get("vomiting")]
    others += [o.row["text"] or "intervention" for o in view.observations_of(Kind.INTERVENTION)]
    dose_mg = view.dose.row["dose_mg"] if view.dose else None
    dose_choice = "56 mg" if dose_mg == 56 else "84 mg" if dose_mg == 84 else (f"other: {dose_mg:g} mg" if dose_mg else NOT_RECORDED)
    lot = view.dose.row.get("lot") if view.dose else None
    if total_min is None:
        total = Field("Total minutes, first device administration to end of monitoring", NOT_RECORDED, flag=True)
    else:
        total = Field("Total minutes, first device administration to end of monitoring",
                      f"{total_min:.0f}" + ("" if points.ended else " (monitoring ongoing)"),
                      flag=total_min < policy.discharge_min_after_start or not points.ended)
    if ready is not None and started is not None:
        ready_field = Field("If no 2-hour minimum, ready to leave after (minutes)",
                            f"{(ready - started).total_seconds() / 60:.0f} ({ready_text} {clk.hm(ready)})")
    elif readiness:
        ready_field = Field("If no 2-hour minimum, ready to leave after (minutes)",
                            f"{NOT_RECORDED} (the discharge check found the patient not yet ready)", flag=True)
    else:
        missing = [w for w, t in (("sedation", points.sedation_resolved_at),
                                  ("dissociation", points.dissociation_resolved_at)) if t is None]
        ready_field = Field("If no 2-hour minimum, ready to leave after (minutes)",
                            f"{NOT_RECORDED} ({' and '.join(missing)} not charted resolved)", flag=True)
    return [
        ("Patient", [
            Field("Patient name", f"{p['given_name']} {p['family_name']}"),
            Field("Date of birth", us_date(p["birth_date"])),
            Field("Sex", p["sex"]),
            Field("REMS patient enrolment id", enrolment or NOT_RECORDED, flag=not enrolment),
            Field("First treatment", "Yes" if first_treatment(view, store) else "No"),
        ]),
        ("Concomitant medications", [
            Field("Benzodiazepines", yes_no(pre.get("rems_benzodiazepines"))),
            Field("Non-benzodiazepine sedative hypnotics", yes_no(pre.get("rems_sedative_hypnotics"))),
            Field("Psychostimulants", yes_no(pre.get("rems_psychostimulants"))),
            Field("MAOIs", yes_no(pre.get("rems_maois"))),
        ]),
        ("Monitoring and setting", [
            Field("Monitoring HCP name", performer or NOT_RECORDED, flag=performer is None),
            Field("HCP phone", settings.clinic_phone or "________________"),
            Field("HCP email", settings.clinic_email or "________________"),
            Field("Setting name", settings.clinic_name),
            Field("Setting address", settings.clinic_address or "________________"),
        ]),
        ("Treatment", [
            Field("Treatment date", us_date(clk.local(started or view.session["effective_at"]).date())),
            Field("Dose", dose_choice, flag=dose_mg is None),
            Field("Lot number", lot or NOT_RECORDED, flag=not lot),
            total,
            ready_field,
        ]),
        ("Discharge readiness, computed from the chart at the discharge check", [
            Field(line[2:].split(": ", 1)[0], (line[:1] + " " + line[2:].split(": ", 1)[1]) if ": " in line else line,
                  flag=not line.startswith("✔"))
            for line in facts
        ] or [Field("Discharge check", "not recorded yet")]),
        ("Vital signs", [
            in_range(points.predose, "Vital signs in range before administration"),
            in_range(points.completion, "Vital signs in range before completion of monitoring"),
            bp_text(points.predose, "BP before administration"),
            bp_text(points.at40, "BP ~40 min after administration"),
            bp_text(points.completion, "BP before completion of monitoring"),
        ]),
        ("Adverse events", [
            Field("Sedation", ("Yes (lowest MOAA/S %g)" % min(sedation)) if sedation and min(sedation) < 5
                  else "No" if sedation else "not assessed", flag=not sedation),
            Field("Dissociation", ("Yes (highest %g/4)" % max(dissoc)) if dissoc and max(dissoc) > 0
                  else "No" if dissoc else "not assessed", flag=not dissoc),
            Field("Respiratory depression", ("Yes: " + "; ".join(a.row["message"] for a in spo2_alerts)) if spo2_alerts
                  else f"No (lowest SpO2 {spo2_min:.0f}%)" if spo2_min is not None else "No SpO2 recorded"),
            Field("Other adverse events", "; ".join(others) if others else "None charted"),
        ]),
    ]

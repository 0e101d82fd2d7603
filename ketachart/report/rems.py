"""The Spravato REMS patient monitoring form (intranasal sessions), filled from the chart in the form's order,
ready to transcribe. Built by :func:`ketachart.report.model.build_summary`; no Qt, no SQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from ..domain.vitals import NibpPair
from ..domain.vocabulary import Kind, describe, yes_no
from ..store.repository import ChartStore
from ..store.views import SessionView
from .fields import Field
from .settings import LocalClock, ReportSettings


def rems_form(view: SessionView, store: ChartStore, clk: LocalClock, settings: ReportSettings, spo2: list,
              bps: list[NibpPair], started: datetime | None, discharged: datetime | None, now: datetime,
              who: Callable[[str | None], str]) -> list[tuple[str, list[Field]]]:
    """The Spravato REMS patient monitoring form, in its order, ready to transcribe (docs/CLINICAL.md)."""
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

    # ... as the discharge check computed it from the chart (the screen's and the summary's words), when recorded
    check = view.checklist("discharge")
    readiness = check.items.get("readiness") if check is not None else None
    facts = [str(x) for x in check.items.get("lines", ())] if check is not None else []
    if readiness and readiness.get("clinically_ready_since"):
        ready = datetime.fromisoformat(readiness["clinically_ready_since"])
        ready_text = "sedation, dissociation and vitals settled, as computed at the discharge check"
    elif readiness:
        ready, ready_text = None, ""
    else:
        ready_text = "sedation and dissociation charted resolved"

    def bp_at(target, before_only):
        if target is None:
            return None
        c = [b for b in bps if (not before_only or b.at <= target + timedelta(seconds=5))]
        if not c:
            return None
        return min(c, key=lambda b: abs((b.at - target).total_seconds()))

    def bp_text(b):
        return f"{b.sys:.0f}/{b.dia:.0f} mmHg at {clk.hm(b.at)}" if b else "not recorded"

    def in_range(b):
        if b is None:
            return "not recorded"
        ok = b.sys < policy.predose_sys_warn and b.dia < policy.predose_dia_warn
        return "Yes" if ok else f"No ({b.sys:.0f}/{b.dia:.0f})"

    before = bp_at(started, True)
    at40 = bp_at(started + timedelta(minutes=40), False) if started else None
    completion = bp_at(end, True)
    sedation = [o.row["value"] for o in view.observations_of(Kind.SEDATION) if o.row["value"] is not None]
    dissoc = [o.row["value"] for o in view.observations_of(Kind.DISSOCIATION) if o.row["value"] is not None]
    spo2_alerts = [a for a in view.alerts if a.row["rule"] == "spo2-low"]
    spo2_min = min((v for _, v, _ in spo2), default=None)
    others = [a.row["message"] for a in view.alerts if a.row["rule"] not in ("spo2-low",)]
    others += [describe(Kind.NAUSEA, o.row["value"], None, o.data).phrase for o in view.observations_of(Kind.NAUSEA)
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
            Field("Benzodiazepines", yes_no(pre.get("rems_benzodiazepines"))),
            Field("Non-benzodiazepine sedative hypnotics", yes_no(pre.get("rems_sedative_hypnotics"))),
            Field("Psychostimulants", yes_no(pre.get("rems_psychostimulants"))),
            Field("MAOIs", yes_no(pre.get("rems_maois"))),
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
                  f"{(ready - started).total_seconds() / 60:.0f} ({ready_text} {clk.hm(ready)})"
                  if ready and started else "not determinable from the chart"),
        ]),
        ("Discharge readiness, computed from the chart at the discharge check", [
            Field(line[2:].split(": ", 1)[0], (line[:1] + " " + line[2:].split(": ", 1)[1]) if ": " in line else line,
                  flag=not line.startswith("✔"))
            for line in facts
        ] or [Field("Discharge check", "not recorded yet")]),
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

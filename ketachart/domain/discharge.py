"""Discharge readiness, read from the chart (CLINICAL.md section 4; docs/CLINICAL.md "Discharge readiness").

The discharge check is not free ticking. For each criterion this module says what the chart says and since
when, from what was charted, with the clinic policy's time windows:

- chart criteria are computed, never ticked: time since the start of administration and since its end,
  sedation (last MOAA/S 5, charted after the last score below 5), dissociation (resolved per policy), open
  alerts, and the vitals of the last N minutes (HR or PR, SpO2, BP, RR) within the alert limits and near
  baseline;
- nurse criteria are ticked (alert and oriented, steady gait, nausea minimal, escort, instructions), but a
  tick the chart or the PADSS contradicts cannot count ("with assistance" ambulation is not a steady gait);
- the PADSS must reach the pass score and must not claim more than the chart shows.

Anything not met makes discharging an override with a reason; policy may require a second clinician's
signature (by default for an override before 120 minutes after a Spravato dose, which the label requires).
The screen, the stored check and the printed summary use :meth:`DischargeReadiness.lines`, so they say the
same thing in the same words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Iterable, Mapping

from .codes import Parameter
from .errors import ClinicalInputError
from .policy import SPRAVATO_LABEL_DISCHARGE_MIN, ClinicPolicy
from .readings import Reading
from .scales import CHART_DISCHARGE_ITEMS, NURSE_DISCHARGE_ITEMS, PADSS_ITEMS, nausea_band, vital_signs_padss
from .session import SessionEvent
from .timeline import StateChange
from .vitals import usable  # the one validity rule: an artefact never decides
from .vocabulary import Kind


class Finding(str, Enum):
    MET = "met"
    NOT_YET = "not-yet"  # a time that has not yet passed, a PADSS not yet scored
    CONTRADICTED = "contradicted"  # the chart says otherwise
    NOT_CHARTED = "not-charted"  # the chart lacks what this needs
    UNTICKED = "unticked"  # a nurse criterion not (yet) ticked


MARKS = {Finding.MET: "✔", Finding.NOT_YET: "…", Finding.CONTRADICTED: "✖", Finding.NOT_CHARTED: "?",
         Finding.UNTICKED: "☐"}


@dataclass(frozen=True)
class ChartedScore:
    """One current (amendments applied) score from the chart: sedation, dissociation or nausea."""

    kind: str  # Kind.SEDATION (MOAA/S 0-5), Kind.DISSOCIATION (clinician global 0-4), Kind.NAUSEA (0-10)
    value: float
    at: datetime  # effective time
    vomiting: bool = False  # nausea only


@dataclass(frozen=True)
class OpenAlert:
    """An alert raised in this session and not acknowledged."""

    rule: str
    severity: str
    message: str
    raised_at: datetime


@dataclass(frozen=True)
class DischargeChart:
    """What the discharge check reads: the session's charted facts (the chair service builds this)."""

    route: str  # "IV" or "IN"
    changes: tuple[StateChange, ...]
    scores: tuple[ChartedScore, ...] = ()
    readings: tuple[Reading, ...] = ()  # monitor and typed vitals, flags kept
    open_alerts: tuple[OpenAlert, ...] = ()
    baseline_bp: tuple[float, float] | None = None  # pre-dose systolic/diastolic

    @property
    def started_at(self) -> datetime | None:
        times = [c.at for c in self.changes if c.event is SessionEvent.START_INFUSION]
        return min(times) if times else None

    @property
    def ended_at(self) -> datetime | None:
        times = [c.at for c in self.changes if c.event is SessionEvent.STOP_INFUSION]
        return max(times) if times else None


@dataclass(frozen=True)
class Criterion:
    key: str
    label: str
    source: str  # "chart" (computed, never ticked) or "nurse" (ticked; the chart may contradict the tick)
    finding: Finding
    chart_says: str  # what the chart says, in words the screen and the paper share
    since: datetime | None = None  # from when the criterion has held (or will hold)

    @property
    def met(self) -> bool:
        return self.finding is Finding.MET

    @property
    def tickable(self) -> bool:
        """A nurse criterion the chart does not contradict."""
        return self.source == "nurse" and self.finding is not Finding.CONTRADICTED

    @property
    def line(self) -> str:
        return f"{MARKS[self.finding]} {self.label}: {self.chart_says}"


# The nurse's ticks: the one list in domain/scales.py, so the screen and the paper cannot drift.
NURSE_ITEMS = NURSE_DISCHARGE_ITEMS
# The chart criteria whose "since" says when the patient was clinically ready (the REMS form asks).
CLINICAL_KEYS = ("sedation_resolved", "dissociation_resolved", "vitals_ok")


@dataclass(frozen=True)
class DischargeReadiness:
    at: datetime
    policy_version: int
    route: str
    criteria: tuple[Criterion, ...]
    padss_total: int | None
    minutes_since_start: float | None
    minutes_since_end: float | None
    second_signature_required: bool  # for an override, by policy
    refused_ticks: tuple[str, ...] = field(default=())  # ticked, but the chart contradicts the tick

    def criterion(self, key: str) -> Criterion:
        return next(c for c in self.criteria if c.key == key)

    @property
    def ready(self) -> bool:
        return all(c.met for c in self.criteria)

    @property
    def needs_override(self) -> bool:
        return not self.ready

    @property
    def blockers(self) -> tuple[str, ...]:
        return tuple(f"{c.label}: {c.chart_says}" for c in self.criteria if not c.met)

    @property
    def clinically_ready_since(self) -> datetime | None:
        """When sedation, dissociation and vitals had all settled (None while any has not): the REMS form's
        "if there were no 2-hour minimum, when would the patient have been ready to leave"."""
        found = [self.criterion(k) for k in CLINICAL_KEYS]
        if not all(c.met and c.since for c in found):
            return None
        return max(c.since for c in found)

    def lines(self) -> list[str]:
        """The computed facts, one line per criterion: what the screen lists and the summary prints."""
        return [c.line for c in self.criteria]

    def to_record(self) -> dict:
        """What the stored discharge check keeps of this assessment (JSON-ready)."""
        return {
            "assessed_at": self.at.isoformat(),
            "policy_version": self.policy_version,
            "criteria": {c.key: {"finding": c.finding.value, "chart_says": c.chart_says,
                                 "since": c.since.isoformat() if c.since else None} for c in self.criteria},
            "padss_total": self.padss_total,
            "minutes_since_start": None if self.minutes_since_start is None else round(self.minutes_since_start, 1),
            "minutes_since_end": None if self.minutes_since_end is None else round(self.minutes_since_end, 1),
            "ready": self.ready,
            "clinically_ready_since": self.clinically_ready_since.isoformat() if self.clinically_ready_since else None,
        }


def assess_discharge(chart: DischargeChart, now: datetime, policy: ClinicPolicy,
                     ticked: Mapping[str, bool] | None = None,
                     padss: Mapping[str, object] | None = None) -> DischargeReadiness:
    """Each discharge criterion as the chart shows it at ``now``, with the nurse's ticks and PADSS scores."""
    ticked = dict(ticked or {})
    padss_scores = {k: (None if v is None else int(v)) for k, v in (padss or {}).items()}
    a = _Assessor(chart, now, policy)
    sedation = a.sedation()
    vitals, last_bp = a.vitals()
    chart_criteria = [a.since_start(), a.since_end(), sedation, a.dissociation(), a.alerts(), vitals]
    contradictions = a.tick_contradictions(padss_scores, sedation)
    nurse = []
    for key, label in NURSE_ITEMS:
        if key in contradictions:
            nurse.append(Criterion(key, label, "nurse", Finding.CONTRADICTED, contradictions[key]))
        elif ticked.get(key):
            nurse.append(Criterion(key, label, "nurse", Finding.MET, "ticked" + a.nurse_note(key)))
        else:
            nurse.append(Criterion(key, label, "nurse", Finding.UNTICKED, "not ticked" + a.nurse_note(key)))
    padss_criterion, total = a.padss(padss_scores, last_bp, sedation)
    refused = tuple(k for k, _ in NURSE_ITEMS if ticked.get(k) and k in contradictions)
    since_start = (now - chart.started_at).total_seconds() / 60 if chart.started_at else None
    since_end = (now - chart.ended_at).total_seconds() / 60 if chart.ended_at else None
    criteria = tuple(chart_criteria + nurse + [padss_criterion])
    early_spravato = chart.route == "IN" and (since_start is None or since_start < SPRAVATO_LABEL_DISCHARGE_MIN)
    cosign = policy.override_cosign_all or (early_spravato and policy.override_cosign_early_spravato)
    return DischargeReadiness(now, policy.version, chart.route, criteria, total, since_start, since_end,
                              second_signature_required=bool(cosign), refused_ticks=refused)


def check_discharge(readiness: DischargeReadiness, override_reason: str | None, signer: str | None = None,
                    second_signer: str | None = None, *, signing: bool = True) -> None:
    """Refuse a discharge the chart does not support unless it is an override with a reason (and a second,
    different clinician's signature where policy requires one); refuse a tick the chart contradicts.
    ``signing=False`` checks everything but the signatures (before anyone is asked for a PIN)."""
    if readiness.refused_ticks:
        c = readiness.criterion(readiness.refused_ticks[0])
        raise ClinicalInputError(f"'{c.label}' cannot be ticked as met: {c.chart_says}")
    if readiness.ready:
        return
    if not (override_reason or "").strip():
        raise ClinicalInputError("discharge override needs a reason: " + "; ".join(readiness.blockers))
    if readiness.second_signature_required and signing:
        if not (second_signer or "").strip():
            why = ("before 120 minutes after a Spravato dose" if readiness.route == "IN"
                   and (readiness.minutes_since_start or 0) < SPRAVATO_LABEL_DISCHARGE_MIN else "by clinic policy")
            raise ClinicalInputError(f"this discharge override needs a second clinician's signature ({why})")
        if signer and second_signer.strip() == signer.strip():
            raise ClinicalInputError("the second signature must be another clinician's")


# --- the rules ---------------------------------------------------------------------------------------------

class _Assessor:
    def __init__(self, chart: DischargeChart, now: datetime, policy: ClinicPolicy) -> None:
        self.chart, self.now, self.policy = chart, now, policy
        self.start, self.end = chart.started_at, chart.ended_at
        self.scores = sorted((s for s in chart.scores if s.at <= now), key=lambda s: s.at)

    def when(self, t: datetime) -> str:
        """A charted time as the session minute ("min 118"), which reads the same on screen and paper."""
        if self.start is None:
            return f"{int((self.now - t).total_seconds() // 60)} min ago"
        minutes = (t - self.start).total_seconds() / 60
        return f"min {math.floor(minutes)}" if minutes >= 0 else f"{math.ceil(-minutes)} min before the start"

    # time
    def since_start(self) -> Criterion:
        need = self.policy.discharge_min_after_start
        label = f"At least {need} min since the start"
        if self.start is None:
            return Criterion("min_120", label, "chart", Finding.NOT_CHARTED, "administration has not started")
        minutes = (self.now - self.start).total_seconds() / 60
        due = self.start + timedelta(minutes=need)
        finding = Finding.MET if minutes >= need else Finding.NOT_YET
        return Criterion("min_120", label, "chart", finding, f"{minutes:.0f} min since the start", due)

    def since_end(self) -> Criterion:
        need = self.policy.discharge_min_after_end
        label = f"At least {need} min since the end"
        if self.start is None or self.end is None:
            return Criterion("since_end", label, "chart", Finding.NOT_YET, "administration has not ended")
        minutes = (self.now - self.end).total_seconds() / 60
        due = self.end + timedelta(minutes=need)
        finding = Finding.MET if minutes >= need else Finding.NOT_YET
        return Criterion("since_end", label, "chart", finding,
                         f"{minutes:.0f} min since it ended at {self.when(self.end)}", due)

    # scores
    def _resolved(self, key: str, label: str, kind: str, name: str, ok) -> Criterion:  # noqa: ANN001
        mine = [s for s in self.scores if s.kind == kind]
        after = self.end or self.start
        if after is None:
            return Criterion(key, label, "chart", Finding.NOT_CHARTED, "administration has not started")
        recent = [s for s in mine if s.at >= after]
        if not recent:
            before = f" (last: {name} {mine[-1].value:g} at {self.when(mine[-1].at)})" if mine else ""
            ended = "administration ended" if self.end else "administration started"
            return Criterion(key, label, "chart", Finding.NOT_CHARTED, f"no {name} charted since {ended}{before}")
        last = recent[-1]
        if not ok(last.value):
            return Criterion(key, label, "chart", Finding.CONTRADICTED, f"{name} {last.value:g} at {self.when(last.at)}")
        bad = [s for s in mine if not ok(s.value)]
        settled = next(s for s in mine if (not bad or s.at > bad[-1].at) and ok(s.value))
        since = f"; since {self.when(settled.at)}" if settled is not last else ""
        return Criterion(key, label, "chart", Finding.MET, f"{name} {last.value:g} at {self.when(last.at)}{since}",
                         settled.at)

    def sedation(self) -> Criterion:
        return self._resolved("sedation_resolved", dict(CHART_DISCHARGE_ITEMS)["sedation_resolved"], Kind.SEDATION, "MOAA/S",
                              lambda v: v >= 5)

    def dissociation(self) -> Criterion:
        limit = self.policy.dissociation_resolved_max
        label = f"Dissociation resolved ({limit}/4{' or less' if limit else ''})"
        return self._resolved("dissociation_resolved", label, Kind.DISSOCIATION, "dissociation", lambda v: v <= limit)

    def alerts(self) -> Criterion:
        label = "No open alerts"
        open_ = sorted(self.chart.open_alerts, key=lambda x: x.raised_at)
        if not open_:
            return Criterion("no_open_alerts", label, "chart", Finding.MET, "every alert acknowledged")
        parts = [f"{x.message} ({x.severity}, {int((self.now - x.raised_at).total_seconds() // 60)} min old)"
                 for x in open_]
        n = len(open_)
        return Criterion("no_open_alerts", label, "chart", Finding.CONTRADICTED,
                         f"{n} open alert{'s' if n > 1 else ''}: " + "; ".join(parts))

    # vitals
    def _limits(self):  # noqa: ANN202
        p = self.policy
        return {
            "HR": (lambda v: p.hr_low <= v <= p.hr_high, f"{p.hr_low}-{p.hr_high}/min"),
            "SPO2": (lambda v: v > p.spo2_low, f"above {p.spo2_low} %"),
            "NIBP_SYS": (lambda v: v < p.sys_high_repeat, f"below {p.sys_high_repeat}"),
            "NIBP_DIA": (lambda v: v < p.dia_high_repeat, f"below {p.dia_high_repeat}"),
            "RR": (lambda v: v >= p.rr_low, f"{p.rr_low}/min or more"),
        }

    def _series(self) -> dict[str, list[Reading]]:
        """Usable readings by vital up to now; heart rate from ECG when the window has it, else pulse rate."""
        window_start = self.now - timedelta(minutes=self.policy.vitals_window_min)
        by: dict[Parameter, list[Reading]] = {}
        for r in self.chart.readings:
            if r.host_time <= self.now and usable(r):
                by.setdefault(r.parameter, []).append(r)
        for rs in by.values():
            rs.sort(key=lambda r: r.host_time)
        ecg_in_window = any(r.host_time >= window_start for r in by.get(Parameter.HR, []))
        heart = by.get(Parameter.HR, []) if ecg_in_window else by.get(Parameter.PR, [])
        return {"HR": heart, "SPO2": by.get(Parameter.SPO2, []), "NIBP_SYS": by.get(Parameter.NIBP_SYS, []),
                "NIBP_DIA": by.get(Parameter.NIBP_DIA, []), "RR": by.get(Parameter.RR, [])}

    def vitals(self) -> tuple[Criterion, tuple[float, float] | None]:
        n = self.policy.vitals_window_min
        key, label = "vitals_ok", f"Vitals in limits for {n} min, near baseline"
        window_start = self.now - timedelta(minutes=n)
        series, limits = self._series(), self._limits()
        names = {"HR": "HR", "SPO2": "SpO2", "NIBP_SYS": "systolic", "NIBP_DIA": "diastolic", "RR": "RR"}
        missing, out, latest, settled = [], [], {}, []
        for name, rs in series.items():
            recent = [r for r in rs if r.host_time >= window_start]
            if not recent:
                missing.append(names[name])
                continue
            ok, limit_text = limits[name]
            latest[name] = recent[-1]
            bad = [r for r in recent if not ok(r.value)]
            if bad:
                worst = bad[-1]
                out.append(f"{names[name]} {worst.value:g} at {self.when(worst.host_time)} (limit {limit_text})")
            earlier_bad = [r for r in rs if not ok(r.value)]
            after_bad = [r for r in rs if not earlier_bad or r.host_time > earlier_bad[-1].host_time]
            if after_bad:
                settled.append(after_bad[0].host_time)
        last_bp = None
        if "NIBP_SYS" in latest and "NIBP_DIA" in latest:
            last_bp = (latest["NIBP_SYS"].value, latest["NIBP_DIA"].value)
        baseline = self.chart.baseline_bp
        if last_bp and baseline and baseline[0] > 0 and baseline[1] > 0:
            change = max(abs(last_bp[0] - baseline[0]) / baseline[0], abs(last_bp[1] - baseline[1]) / baseline[1]) * 100
            if change > self.policy.vitals_near_baseline_pct:
                out.append(f"BP {last_bp[0]:.0f}/{last_bp[1]:.0f} is {change:.0f} % from baseline "
                           f"{baseline[0]:.0f}/{baseline[1]:.0f} (limit {self.policy.vitals_near_baseline_pct} %)")
        if out:
            return Criterion(key, label, "chart", Finding.CONTRADICTED, "; ".join(out)), last_bp
        if missing:
            return Criterion(key, label, "chart", Finding.NOT_CHARTED,
                             f"no valid {', '.join(missing)} in the last {n} min"), last_bp
        heart = "HR" if latest["HR"].parameter is Parameter.HR else "PR"
        text = (f"{heart} {latest['HR'].value:.0f}, SpO2 {latest['SPO2'].value:.0f} %, "
                f"BP {last_bp[0]:.0f}/{last_bp[1]:.0f} at {self.when(latest['NIBP_SYS'].host_time)}, "
                f"RR {latest['RR'].value:.0f}")
        return Criterion(key, label, "chart", Finding.MET, text, max(settled) if settled else None), last_bp

    # the nurse's ticks and the PADSS
    def _last(self, kind: str) -> ChartedScore | None:
        mine = [s for s in self.scores if s.kind == kind and (self.start is None or s.at >= self.start)]
        return mine[-1] if mine else None

    def nurse_note(self, key: str) -> str:
        if key == "nausea_minimal":
            last = self._last(Kind.NAUSEA)
            return f" (nausea {last.value:g} at {self.when(last.at)})" if last else " (no nausea charted)"
        return ""

    def tick_contradictions(self, padss: Mapping[str, int | None], sedation: Criterion) -> dict[str, str]:
        out: dict[str, str] = {}
        labels = {k: {s: t for s, t in choices.items()} for k, _, choices in PADSS_ITEMS}
        activity, ambulation, nv = padss.get("activity"), padss.get("ambulation"), padss.get("nausea_vomiting")
        if ambulation is not None and ambulation < 2:
            out["steady_gait"] = f"PADSS ambulation is '{labels['ambulation'][ambulation]}'"
        elif activity == 0:
            out["steady_gait"] = f"PADSS activity is '{labels['activity'][0]}'"
        if sedation.finding is Finding.CONTRADICTED:
            out["alert_oriented"] = sedation.chart_says
        elif activity == 0:
            out["alert_oriented"] = f"PADSS activity is '{labels['activity'][0]}'"
        last = self._last(Kind.NAUSEA)
        if last is not None and (last.value >= self.policy.nausea_antiemetic_at or last.vomiting):
            out["nausea_minimal"] = (f"nausea {last.value:g}{' with vomiting' if last.vomiting else ''} "
                                     f"at {self.when(last.at)}")
        elif nv is not None and nv < 2:
            out["nausea_minimal"] = f"PADSS nausea/vomiting is '{labels['nausea_vomiting'][nv]}'"
        return out

    def padss(self, scores: Mapping[str, int | None], last_bp: tuple[float, float] | None,
              sedation: Criterion) -> tuple[Criterion, int | None]:
        need = self.policy.padss_pass
        key, label = "padss", f"PADSS {need}+ of 10, as charted"
        items = [k for k, _, _ in PADSS_ITEMS]
        if any(scores.get(k) is None for k in items):
            scored = sum(v for v in scores.values() if v is not None)
            return Criterion(key, label, "chart", Finding.NOT_YET, f"PADSS {scored}/10 so far: score every item"), None
        total = sum(int(scores[k]) for k in items)
        problems = []
        baseline = self.chart.baseline_bp
        if last_bp and baseline and baseline[0] > 0 and baseline[1] > 0:
            supported = min(vital_signs_padss(last_bp[0], baseline[0]), vital_signs_padss(last_bp[1], baseline[1]))
            if scores["vital_signs"] > supported:
                problems.append(f"vital signs scored {scores['vital_signs']} but BP {last_bp[0]:.0f}/{last_bp[1]:.0f} "
                                f"against baseline {baseline[0]:.0f}/{baseline[1]:.0f} scores {supported}")
        last = self._last(Kind.NAUSEA)
        if last is not None:
            band = nausea_band(int(last.value))
            supported = 2 if band in ("none", "mild") else 1 if band == "moderate" else 0
            if last.vomiting:
                supported = min(supported, 1)
            if scores["nausea_vomiting"] > supported:
                problems.append(f"nausea/vomiting scored {scores['nausea_vomiting']} but nausea {last.value:g}"
                                f"{' with vomiting' if last.vomiting else ''} is charted at {self.when(last.at)}")
        if scores["activity"] == 2 and sedation.finding is Finding.CONTRADICTED:
            problems.append(f"activity scored 2 (oriented) but {sedation.chart_says}")
        if total < need:
            problems.insert(0, f"PADSS {total} is below the pass score of {need}")
        if problems:
            return Criterion(key, label, "chart", Finding.CONTRADICTED, "; ".join(problems)), total
        return Criterion(key, label, "chart", Finding.MET, f"PADSS {total}/10"), total


def scores_from(entries: Iterable[tuple[str, float | None, datetime, dict]]) -> tuple[ChartedScore, ...]:
    """(kind, value, effective time, data) of current observations -> the scores the check reads."""
    wanted = (Kind.SEDATION, Kind.DISSOCIATION, Kind.NAUSEA)
    return tuple(ChartedScore(kind, float(value), at, bool((data or {}).get("vomiting")))
                 for kind, value, at, data in entries if kind in wanted and value is not None)

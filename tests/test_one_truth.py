"""One truth: the chair screen, the printed summary, FHIR and CSV read one session the same way.

The demo session gets the readings that made the views disagree before: an artefact-flagged heart rate,
SpO2 and NIBP (the summary left them out, the screen and FHIR used them), a pulse rate while the ECG heart
rate runs, and an NIBP whose diastolic arrives 4 s after its systolic (paired live at 5 s, dropped on paper
at 2 s). Every view must still give the same observation texts, vitals minimum/maximum, NIBP pairs and
infusion spans.
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from ketachart.demo import write_demo_session
from ketachart.domain.clock import FakeClock
from ketachart.domain.codes import Parameter
from ketachart.domain.readings import Quality, Reading
from ketachart.domain.records import RecordKind
from ketachart.domain.vitals import group_nibp
from ketachart.domain.vocabulary import OBSERVATION_KINDS, Kind
from ketachart.report.csv_export import rows as csv_rows
from ketachart.report.fhir import FhirOptions, build_bundle
from ketachart.report.model import build_summary
from ketachart.report.settings import ReportSettings
from ketachart.store.open import open_store
from ketachart.store.views import session_view
from ketachart.ui.livedata import LiveData
from ketachart.ui.plot import infusion_spans
from ketachart.ui.viewmodels import entries

ARTEFACT = frozenset({Quality.ARTIFACT})
HR_MDC, PR_MDC = str(Parameter.HR.mdc), str(Parameter.PR.mdc)
SKIPPED_ON_PAPER = (Kind.PRECHECK, Kind.WASTE)  # shown in the pre-check and dose sections instead


@pytest.fixture(scope="module")
def chart(tmp_path_factory):
    path = tmp_path_factory.mktemp("one-truth") / "chart.db"
    store = open_store(path, unencrypted=True, clock=FakeClock(datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)))
    sid = write_demo_session(store, seed=0)
    store.clock.advance(timedelta(hours=6).total_seconds())  # charting now, after the session
    view = session_view(store, sid)
    start = view.infusion_started_at
    nibp_times = [r["effective_at"] for r in store.readings(sid, "NIBP_SYS")]

    def quiet(minute: float) -> datetime:
        """A time at least a minute away from every demo NIBP, so the added ones are measurements of their own."""
        t = start + timedelta(minutes=minute)
        while any(abs((t - n).total_seconds()) < 60 for n in nibp_times):
            t += timedelta(seconds=20)
        return t

    a, b, c = quiet(50), quiet(70), quiet(90)
    store.add_readings(sid, [
        Reading(Parameter.HR, 199, a, flags=ARTEFACT, source="device:ge"),
        Reading(Parameter.SPO2, 61, a, flags=ARTEFACT, source="device:ge"),
        Reading(Parameter.PR, 33, a + timedelta(seconds=1), source="device:masimo"),  # ECG present: not the HR
        Reading(Parameter.NIBP_SYS, 243, b, flags=ARTEFACT, source="device:ge"),
        Reading(Parameter.NIBP_DIA, 139, b, flags=ARTEFACT, source="device:ge"),
        Reading(Parameter.NIBP_SYS, 151, c, source="device:hl7"),
        Reading(Parameter.NIBP_DIA, 97, c + timedelta(seconds=4), source="device:hl7"),
    ])
    now = store.clock.now()
    yield store, sid, now, (a, b, c)
    store.close()


@pytest.fixture(scope="module")
def views(chart):
    store, sid, now, _ = chart
    view = session_view(store, sid)
    live = LiveData()
    live.load_history(store.readings(sid))
    return {
        "view": view,
        "live": live,
        "summary": build_summary(store, sid, now, ReportSettings(tz_name="UTC")),
        "fhir": build_bundle(store, sid, options=FhirOptions("https://ehr.clinic.example/mrn")),
        "csv": csv_rows(store, sid, timezone.utc),
    }


def _epoch(dt: datetime) -> float:
    return round(dt.timestamp(), 3)


def _fhir_time(text: str) -> float:
    return _epoch(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _mdc(obs: dict) -> set[str]:
    return {c["code"] for c in obs["code"].get("coding", []) if "11073" in c["system"]}


# --- observation texts ------------------------------------------------------------------------------


def test_observation_texts_are_the_same_on_screen_paper_fhir_and_csv(views):
    screen = sorted(e.text for e in entries(views["view"]) if e.table == "observations" and e.kind not in SKIPPED_ON_PAPER)
    kinds = {k.label: k for k in OBSERVATION_KINDS.values()}
    paper = sorted(kinds[i.kind].sentence.format(label=i.kind, phrase=i.text) for i in views["summary"].timeline
                   if i.kind in kinds)
    csv = sorted(r["display"] for r in views["csv"] if r["record"] == "observation" and r["current"] == 1
                 and r["parameter"] not in SKIPPED_ON_PAPER)
    fhir = {}
    for obs in _resources(views["fhir"], "Observation"):
        if "text" in obs:  # charted observations carry the line as their narrative; one per entry
            entry_id = re.sub(r"-(bp|hr|spo2|rr|temp)$", "", obs["id"]) if "method" in obs else obs["id"]
            fhir[entry_id] = html.unescape(re.sub(r"<[^>]+>", "", obs["text"]["div"]))
    assert len(screen) >= 8  # dissociation, nausea (amended), sedation, notes, intervention, PHQ-9, baseline ...
    assert screen == paper == csv
    # FHIR carries the controlled-substance records on the MedicationAdministration (the vial's lot), not as
    # Observations; every other line is the same text
    records = tuple(OBSERVATION_KINDS[k].label + ":" for k in RecordKind.ALL)
    assert [t for t in csv if not t.startswith(records)] == sorted(fhir.values())
    product = [t for t in csv if t.startswith("Product:")]
    assert len(product) == 1  # the demo dose is prepared under the course's order, with its vial's record
    lots = re.findall(r'"lotNumber": "([^"]+)"', json.dumps(views["fhir"]))
    assert lots and all(f"lot {lot}," in product[0] for lot in lots)
    assert any("Nausea 3/10" in t for t in screen)  # the amended version is the one everyone shows


# --- vitals minimum / maximum -------------------------------------------------------------------------


def _paper_extremes(summary) -> dict[str, tuple[int, int]]:
    rows = {r.label: r for r in summary.vitals}

    def number(text: str) -> int:
        return int(text.split(" ")[0])

    def bp(text: str) -> tuple[int, int]:
        s, d = text.split(" ")[0].split("/")
        return int(s), int(d)

    return {"hr": (number(rows["Minimum"].hr), number(rows["Maximum"].hr)),
            "spo2": (number(rows["Minimum"].spo2), number(rows["Maximum"].spo2)),
            "bp_sys": (bp(rows["Minimum"].bp)[0], bp(rows["Maximum"].bp)[0])}


def _extremes(values) -> tuple[int, int]:
    values = [v for v in values if v is not None and not np.isnan(v)]
    return round(min(values)), round(max(values))


def test_vitals_minimum_and_maximum_use_one_validity_rule(views, chart):
    """Over the monitored period (from the start of administration, issue 16): every view agrees."""
    store, sid, _, _ = chart
    live = views["live"]
    t0 = views["view"].infusion_started_at.timestamp()

    def from_start(arrays):
        t, v = arrays
        return [x for tt, x in zip(t, v) if tt >= t0]

    screen = {"hr": _extremes(from_start(live.hr.arrays())), "spo2": _extremes(from_start(live.spo2.arrays())),
              "bp_sys": _extremes([s for t, s, d, _ in live.nibp if s is not None and d is not None and t >= t0])}
    paper = _paper_extremes(views["summary"])

    monitored = [o for o in _resources(views["fhir"], "Observation")
                 if "effectiveDateTime" in o and _fhir_time(o["effectiveDateTime"]) >= round(t0, 3)]
    device_obs = [o for o in monitored if "method" not in o and "valueQuantity" in o]
    fhir = {"hr": _extremes([o["valueQuantity"]["value"] for o in device_obs if HR_MDC in _mdc(o)]),
            "spo2": _extremes([o["valueQuantity"]["value"] for o in device_obs if str(Parameter.SPO2.mdc) in _mdc(o)]),
            "bp_sys": _extremes([c["valueQuantity"]["value"] for o in monitored
                                 if "method" not in o and o["code"]["coding"][0]["code"] == "85354-9"
                                 and all("valueQuantity" in c for c in o["component"][:2])
                                 for c in o["component"][:1]])}
    usable = [r for r in views["csv"] if r["record"] == "reading" and r["usable"] == 1
              and datetime.fromisoformat(r["effective_at"]).timestamp() >= t0]
    csv = {"hr": _extremes([float(r["value"]) for r in usable if r["parameter"] == "HR"]),
           "spo2": _extremes([float(r["value"]) for r in usable if r["parameter"] == "SPO2"]),
           "bp_sys": paper["bp_sys"]}  # CSV pairs below; the BP extreme is checked there
    assert screen == paper == fhir == csv
    assert paper["hr"][1] < 199 and paper["spo2"][0] > 61 and paper["hr"][0] > 33 and paper["bp_sys"][1] < 243


# --- NIBP pairs -----------------------------------------------------------------------------------------


def test_nibp_pairs_are_the_same_everywhere(views, chart):
    _, _, _, (_, artefact_at, split_at) = chart
    live = sorted((round(t, 3), s, d) for t, s, d, _ in views["live"].nibp if s is not None and d is not None)
    plot = views["summary"].plot
    origin = plot.origin.timestamp()
    paper = sorted((round(origin + x, 3), s, d) for x, s, d, manual in plot.nibp if not manual)
    fhir = []
    for o in _resources(views["fhir"], "Observation"):
        if "method" in o or o["code"]["coding"][0]["code"] != "85354-9":
            continue
        sys_, dia = o["component"][0], o["component"][1]
        if "valueQuantity" in sys_ and "valueQuantity" in dia:
            fhir.append((_fhir_time(o["effectiveDateTime"]), sys_["valueQuantity"]["value"], dia["valueQuantity"]["value"]))
    usable = [r for r in views["csv"] if r["record"] == "reading" and r["usable"] == 1]
    groups = group_nibp(usable, at=lambda r: datetime.fromisoformat(r["effective_at"]),
                        parameter=lambda r: Parameter(r["parameter"]) if r["parameter"].startswith("NIBP_") else None)
    csv = [(_epoch(g["at"]), float(g["parts"]["sys"]["value"]), float(g["parts"]["dia"]["value"])) for g in groups
           if "sys" in g["parts"] and "dia" in g["parts"]]
    assert len(live) > 10
    assert live == paper == sorted(fhir) == sorted(csv)
    assert (_epoch(split_at), 151.0, 97.0) in live  # the split measurement pairs everywhere ...
    assert all(t != _epoch(artefact_at) for t, _, _ in live)  # ... the artefact pairs nowhere


# --- infusion spans -------------------------------------------------------------------------------------


def test_infusion_spans_are_the_same_on_screen_paper_and_fhir(views, chart):
    _, _, now, _ = chart
    screen = [(round(a, 3), round(b, 3)) for a, b, paused in infusion_spans(views["view"], now) if not paused]
    origin = views["summary"].plot.origin.timestamp()
    paper = [(round(origin + a, 3), round(origin + b, 3)) for a, b in views["summary"].plot.infusion]
    segments = sorted((_fhir_time(m["effectivePeriod"]["start"]), _fhir_time(m["effectivePeriod"]["end"]))
                      for m in _resources(views["fhir"], "MedicationAdministration") if "partOf" in m)
    fhir: list[tuple[float, float]] = []
    for a, b in segments:  # a rate change splits a running span into contiguous segments
        if fhir and fhir[-1][1] == a:
            fhir[-1] = (fhir[-1][0], b)
        else:
            fhir.append((a, b))
    assert screen and screen == paper == fhir
    assert len(segments) > len(fhir)  # the demo's rate change is inside the span, not a span of its own

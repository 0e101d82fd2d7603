"""A session as CSV: one row per stored reading and one per observation version (pure, no Qt).

Columns (:data:`COLUMNS`): ``record`` (reading/observation), ``id``, ``effective_at`` and ``recorded_at``
(ISO 8601 with the clinic zone's offset), ``parameter`` (reading parameter or observation kind), ``value``,
``unit`` (UCUM; ``{score}`` for scales), ``text``, ``source``, ``flags``, ``loinc``, ``mdc``, ``author``,
``late_entry``, ``amends``, ``reason``, ``current`` (1 for the current version of an entry, 0 for a version an
amendment replaced: originals are kept, like on paper), ``data`` (the observation's JSON details), ``usable``
(readings: 1 when the value counts by the one validity rule, 0 for an invalid, sensor-off or artefact
reading, which the screen and the summary leave out of plots, alarms and minimum/maximum), ``display`` (an
observation as the chair screen words it).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone, tzinfo

from ..domain.codes import Parameter
from ..domain.vitals import usable_value
from ..domain.vocabulary import OBSERVATION_KINDS, SCORE_KINDS, describe
from ..store.readmodels import observation_versions
from ..store.repository import ChartStore

COLUMNS = ["record", "id", "effective_at", "recorded_at", "parameter", "value", "unit", "text", "source", "flags",
           "loinc", "mdc", "author", "late_entry", "amends", "reason", "current", "data", "usable", "display"]


def _iso(dt: datetime, zone: tzinfo) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(zone).isoformat(timespec="milliseconds")


def _num(v: float | None) -> str:
    return "" if v is None else repr(float(v)) if not float(v).is_integer() else str(int(v))


def rows(store: ChartStore, session_id: str, zone: tzinfo = timezone.utc) -> list[dict]:
    out = []
    for r in store.readings(session_id):
        try:
            param = Parameter(r["parameter"])
            loinc, mdc = param.loinc or "", str(param.mdc or "")
        except ValueError:
            loinc = mdc = ""
        out.append({
            "record": "reading", "id": r["id"], "effective_at": _iso(r["effective_at"], zone),
            "recorded_at": _iso(r["recorded_at"], zone), "parameter": r["parameter"], "value": _num(r["value"]),
            "unit": r["unit"], "text": r["text"] or "", "source": r["source"], "flags": r["flags"] or "",
            "loinc": loinc, "mdc": mdc, "author": r["author"], "late_entry": int(bool(r["late_entry"])),
            "amends": r["amends"] or "", "reason": r["reason"] or "", "current": 1, "data": "",
            "usable": int(usable_value(r["value"], r["flags"]) is not None), "display": "",
        })
    obs = observation_versions(store, session_id=session_id)
    superseded = {o["amends"] for o in obs if o["amends"]}
    for o in obs:
        data = o["details"]
        kind = OBSERVATION_KINDS.get(o["kind"])
        out.append({
            "record": "observation", "id": o["id"], "effective_at": _iso(o["effective_at"], zone),
            "recorded_at": _iso(o["recorded_at"], zone), "parameter": o["kind"], "value": _num(o["value"]),
            "unit": "{score}" if o["kind"] in SCORE_KINDS and o["value"] is not None else "",
            "text": o["text"] or "", "source": "manual", "flags": "",
            "loinc": (kind.loinc if kind else None) or "", "mdc": "", "author": o["author"],
            "late_entry": int(bool(o["late_entry"])), "amends": o["amends"] or "", "reason": o["reason"] or "",
            "current": 0 if o["id"] in superseded else 1,
            "data": json.dumps(data, sort_keys=True) if o["data"] else "",
            "usable": "", "display": describe(o["kind"], o["value"], o["text"], data).sentence,
        })
    return out


def write_csv(store: ChartStore, session_id: str, stream: io.TextIOBase, zone: tzinfo = timezone.utc) -> int:
    """Write the CSV to an open text stream (newline=''); returns the number of data rows."""
    data = rows(store, session_id, zone)
    writer = csv.DictWriter(stream, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(data)
    return len(data)

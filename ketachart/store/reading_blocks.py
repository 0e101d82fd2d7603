"""Readings as a write-ahead journal and per-minute sealed blocks (schema 5 on; issue 17, docs/DECISIONS.md).

Why: one chained row per 1 Hz reading cost ~440 bytes and one central row each (19,000 per session). Now:

- every committed batch of a session's readings is one **journal** row (``reading_journal``), append-only,
  chained by a binary SHA-256 over the journal row before it: a reading is durable the moment its batch
  commits, exactly as before;
- once the minute the oldest unsealed journal row was recorded in is over (and at discharge, abort, open and
  close), the unsealed journal rows are **sealed**: one ``reading_blocks`` chart row per session holds their
  readings and cites the journal range (``journal_from`` .. ``journal_to``). Blocks are ordinary chart rows:
  device_seq, the device's hash chain, sync. The journal is never synced, never deleted.

The body (the same format in a journal row and a block) is compact JSON::

    {"t0": µs since epoch, "e": [[journal seq, first reading index, recorded_at - t0 (µs), author], ...],
     "k": [[parameter, unit, source, flags], ...],
     "r": [[effective_at - t0 (µs), kind index, value], ... ]}

A reading with a text, a device time or the late-entry flag carries a fourth item ``{"text": ..., "dev":
device_time - t0 (µs), "late": 1}``. Times are exact to the microsecond and values are JSON floats (exact
round trip), so every reading comes back exactly as charted. A reading's id is ``<device>-j<journal seq>-<i>``:
the same before and after sealing.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def to_us(value: datetime | str) -> int:
    """Microseconds since the epoch of an aware (or SQLite's naive UTC text) time, exactly."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    d = value - _EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def journal_genesis(device_id: str) -> bytes:
    """The "previous hash" of a file's first journal row: binds the journal to its device id."""
    return hashlib.sha256(f"ketachart-journal:{device_id}".encode()).digest()


def journal_hash(prev: bytes, seq: int, session_id: str | None, body: str) -> bytes:
    return hashlib.sha256(prev + f"{seq}\x1f{session_id or ''}\x1f{body}".encode()).digest()


def encode(readings: Sequence[dict]) -> str:
    """The body for ``readings`` (dicts with effective_at, parameter, value, unit, flags, source, text,
    device_time, late_entry, recorded_at, author, journal_seq, index), in the order given."""
    if not readings:
        raise ValueError("a reading body needs at least one reading")
    t0 = min(to_us(r["effective_at"]) for r in readings)
    kinds: dict[tuple, int] = {}
    entries: list[list] = []
    out: list[list] = []
    last_entry = None
    for i, r in enumerate(readings):
        entry = (r["journal_seq"], to_us(r["recorded_at"]), r["author"])
        if entry != last_entry:
            entries.append([entry[0], i, entry[1] - t0, entry[2]])
            last_entry = entry
        kind = (r["parameter"], r["unit"], r["source"], r["flags"] or "")
        k = kinds.get(kind)
        if k is None:
            k = kinds[kind] = len(kinds)
        value = r["value"]
        item: list = [to_us(r["effective_at"]) - t0, k, None if value is None else float(value)]
        extra = {}
        if r.get("text") is not None:
            extra["text"] = r["text"]
        if r.get("device_time") is not None:
            extra["dev"] = to_us(r["device_time"]) - t0
        if r.get("late_entry"):
            extra["late"] = 1
        if extra:
            item.append(extra)
        out.append(item)
    return _dumps({"t0": t0, "e": entries, "k": [list(k) for k in kinds], "r": out})


def decode(body: str, device_id: str, session_id: str | None) -> list[dict]:
    """Every reading of a body as a ``vital_readings``-shaped dict (times aware UTC datetimes, ``device_seq``
    None: a reading's place is its journal row, ``journal_seq``)."""
    doc = json.loads(body)
    t0, kinds, entries = doc["t0"], doc["k"], doc["e"]
    out: list[dict] = []
    bounds = [e[1] for e in entries[1:]] + [len(doc["r"])]
    for (jseq, first, rec, author), end in zip(entries, bounds):
        recorded = from_us(t0 + rec)
        for i in range(first, end):
            item = doc["r"][i]
            parameter, unit, source, flags = kinds[item[1]]
            extra = item[3] if len(item) > 3 else {}
            dev = extra.get("dev")
            out.append({
                "id": f"{device_id}-j{jseq}-{i - first}", "device_id": device_id, "device_seq": None,
                "author": author, "effective_at": from_us(t0 + item[0]), "recorded_at": recorded,
                "late_entry": bool(extra.get("late")), "amends": None, "reason": None, "row_hash": None,
                "session_id": session_id, "parameter": parameter, "value": item[2], "unit": unit,
                "text": extra.get("text"), "source": source, "flags": flags,
                "device_time": None if dev is None else from_us(t0 + dev),
                "journal_seq": jseq, "index": i - first,
            })
    return out


def bounds_of(readings: Iterable[dict]) -> tuple[datetime, datetime]:
    times = [r["effective_at"] for r in readings]
    return min(times), max(times)

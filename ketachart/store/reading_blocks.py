"""Readings as a write-ahead journal and per-minute sealed blocks (schema 6 on; issue 17, docs/DECISIONS.md).

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


def journal_hash(prev: bytes, seq: int, body: str) -> bytes:
    return hashlib.sha256(prev + f"{seq}\x1f{body}".encode()).digest()


def _items(readings: Sequence[dict], t0: int, kind_of) -> list[list]:  # noqa: ANN001
    """Readings grouped by effective time: ``[dt, kind, value, kind, value, {extras}, ...]`` per time."""
    groups: list[list] = []
    last_t = None
    for r in readings:
        t = to_us(r["effective_at"]) - t0
        if t != last_t:
            groups.append([t])
            last_t = t
        value = r["value"]
        groups[-1] += (kind_of(r), None if value is None else float(value))
        extra = {}
        if r.get("text") is not None:
            extra["text"] = r["text"]
        if r.get("device_time") is not None:
            extra["dev"] = to_us(r["device_time"]) - t0
        if r.get("late_entry"):
            extra["late"] = 1
        if extra:
            groups[-1].append(extra)
    return groups


def _readings(groups: list[list], t0: int):  # noqa: ANN202
    """(effective µs, kind, value, extras) of grouped items, in order."""
    for g in groups:
        t, i, n = t0 + g[0], 1, len(g)
        while i < n:
            k, v = g[i], g[i + 1]
            i += 2
            extra = None
            if i < n and g[i].__class__ is dict:
                extra = g[i]
                i += 1
            yield t, k, v, extra


def kind_of(r: dict) -> tuple:
    return (r["parameter"], r["unit"], r["source"], r["flags"] or "")


def encode(readings: Sequence[dict]) -> str:
    """A block's body for ``readings`` (dicts with effective_at, parameter, value, unit, flags, source, text,
    device_time, late_entry, recorded_at, author, journal_seq, index), in the order given. Self-contained (its
    own kinds), so the central and any reader decode it alone."""
    if not readings:
        raise ValueError("a reading body needs at least one reading")
    t0 = min(to_us(r["effective_at"]) for r in readings)
    kinds: dict[tuple, int] = {}
    entries: list[list] = []
    last_entry = None
    for i, r in enumerate(readings):
        entry = (r["journal_seq"], to_us(r["recorded_at"]), r["author"])
        if entry != last_entry:
            entries.append([entry[0], i, entry[1] - t0, entry[2]])
            last_entry = entry
        kinds.setdefault(kind_of(r), len(kinds))
    groups = _items(readings, t0, lambda r: kinds[kind_of(r)])
    return _dumps({"t0": t0, "e": entries, "k": [list(k) for k in kinds], "r": groups})


def _reading(device_id: str, session_id: str | None, jseq: int, index: int, author: str, recorded: datetime,
             t: int, kind: Sequence, value: float | None, extra: dict | None, t0: int) -> dict:
    parameter, unit, source, flags = kind
    extra = extra or {}
    dev = extra.get("dev")
    return {
        "id": f"{device_id}-j{jseq}-{index}", "device_id": device_id, "device_seq": None,
        "author": author, "effective_at": from_us(t), "recorded_at": recorded,
        "late_entry": bool(extra.get("late")), "amends": None, "reason": None, "row_hash": None,
        "session_id": session_id, "parameter": parameter, "value": value, "unit": unit,
        "text": extra.get("text"), "source": source, "flags": flags,
        "device_time": None if dev is None else from_us(t0 + dev),
        "journal_seq": jseq, "index": index,
    }


def decode(body: str, device_id: str, session_id: str | None) -> list[dict]:
    """Every reading of a block's body as a ``vital_readings``-shaped dict (times aware UTC datetimes,
    ``device_seq`` None: a reading's place is its journal row, ``journal_seq``)."""
    doc = json.loads(body)
    t0, kinds, entries = doc["t0"], doc["k"], doc["e"]
    out: list[dict] = []
    e, n_entries = -1, len(entries)
    jseq = first = rec = author = None
    for i, (t, k, v, extra) in enumerate(_readings(doc["r"], t0)):
        while e + 1 < n_entries and entries[e + 1][1] == i:
            e += 1
            jseq, first, rec, author = entries[e]
            rec = from_us(t0 + rec)
        out.append(_reading(device_id, session_id, jseq, i - first, author, rec, t, kinds[k], v, extra, t0))
    return out


# --- the journal --------------------------------------------------------------------------------------------
# A journal row's body: {"t0": µs, "rec": recorded_at - t0, "r": grouped items} whose kinds are ids of
# ``reading_kinds`` (session, author, parameter, unit, source, flags); each kind is itself defined by a journal
# row {"kind": [id, session, author, parameter, unit, source, flags]} (so the chain covers it) and mirrored in
# ``reading_kinds`` for lookup (``verify`` compares the two). One journal row holds one session's readings.

def journal_kind_of(r: dict) -> tuple:
    return (r["session_id"], r["author"], r["parameter"], r["unit"], r["source"], r["flags"] or "")


def kind_body(kind_id: int, kind: tuple) -> str:
    return _dumps({"kind": [kind_id, *kind]})


def is_kind_body(body: str) -> bool:
    return body.startswith('{"kind"')


def encode_journal(readings: Sequence[dict], kind_ids: dict[tuple, int]) -> str:
    t0 = min(to_us(r["effective_at"]) for r in readings)
    groups = _items(readings, t0, lambda r: kind_ids[journal_kind_of(r)])
    return _dumps({"t0": t0, "rec": to_us(readings[0]["recorded_at"]) - t0, "r": groups})


def journal_recorded_at(body: str) -> datetime:
    doc = json.loads(body)
    return from_us(doc["t0"] + doc["rec"])


def decode_journal(body: str, seq: int, kinds: dict[int, tuple], device_id: str) -> list[dict]:
    """The readings of a journal row (``kinds``: id -> (session, author, parameter, unit, source, flags))."""
    doc = json.loads(body)
    t0 = doc["t0"]
    recorded = from_us(t0 + doc["rec"])
    out = []
    for i, (t, k, v, extra) in enumerate(_readings(doc["r"], t0)):
        kind = kinds[k]
        out.append(_reading(device_id, kind[0], seq, i, kind[1], recorded, t, kind[2:], v, extra, t0))
    return out


def bounds_of(readings: Iterable[dict]) -> tuple[datetime, datetime]:
    times = [r["effective_at"] for r in readings]
    return min(times), max(times)


def block_facts(body: str) -> list[tuple]:
    """A block's readings as plain tuples (journal seq, index, recorded µs, author, effective µs, parameter, unit,
    source, flags, value, text, device µs, late) - what ``verify`` compares with the journal, without building
    a dict and two datetimes per reading."""
    doc = json.loads(body)
    t0, kinds, entries = doc["t0"], doc["k"], doc["e"]
    out: list[tuple] = []
    e, n_entries = -1, len(entries)
    jseq = first = rec = author = None
    for i, (t, k, v, extra) in enumerate(_readings(doc["r"], t0)):
        while e + 1 < n_entries and entries[e + 1][1] == i:
            e += 1
            jseq, first, rec, author = entries[e]
            rec += t0
        out.append(_fact(jseq, i - first, rec, author, t, kinds[k], v, extra, t0))
    return out


def journal_facts(body: str, seq: int, kinds: dict[int, tuple]) -> tuple[str | None, list[tuple]]:
    """(session, the readings as :func:`block_facts` tuples) of a journal row."""
    doc = json.loads(body)
    t0 = doc["t0"]
    rec = t0 + doc["rec"]
    out, session = [], None
    for i, (t, k, v, extra) in enumerate(_readings(doc["r"], t0)):
        kind = kinds[k]
        session = kind[0]
        out.append(_fact(seq, i, rec, kind[1], t, kind[2:], v, extra, t0))
    return session, out


def _fact(jseq, index, rec, author, t, kind, value, extra, t0) -> tuple:  # noqa: ANN001
    if extra:
        dev = extra.get("dev")
        return (jseq, index, rec, author, t, *kind, value, extra.get("text"), None if dev is None else t0 + dev,
                bool(extra.get("late")))
    return (jseq, index, rec, author, t, *kind, value, None, None, False)


def journal_readings(con, device_id: str = "") -> list[dict]:  # noqa: ANN001
    """Every reading in a file's journal, sealed or not, from a plain DB-API connection (tools and tests that
    check a file from outside the store, e.g. after a power cut)."""
    kinds = {r[0]: tuple(r[1:]) for r in con.execute(
        "SELECT id, session_id, author, parameter, unit, source, flags FROM reading_kinds")}
    out: list[dict] = []
    for seq, body in con.execute("SELECT seq, body FROM reading_journal ORDER BY seq"):
        if not is_kind_body(body):
            out.extend(decode_journal(body, seq, kinds, device_id))
    return out

"""Readings as a write-ahead journal and per-minute sealed blocks (schema 6 on; issue 17, docs/DECISIONS.md).

Why: one chained row per 1 Hz reading cost ~440 bytes and one central row each (19,000 per session). Now:

- every committed batch of a session's readings is one **journal** row (``reading_journal``), append-only,
  chained by a binary SHA-256 over the journal row before it: a reading is durable the moment its batch
  commits, exactly as before;
- once the minute the oldest unsealed journal row was recorded in is over (and at discharge, abort, open and
  close), the unsealed journal rows are **sealed**: one ``reading_blocks`` chart row per session holds their
  readings and cites the journal range (``journal_from`` .. ``journal_to``). Blocks are ordinary chart rows:
  device_seq, the device's hash chain, sync. The journal is never synced, never deleted.

A journal row's body (compact JSON; "k" first, so its head is read without parsing the readings)::

    {"k": [reading kind ids], "n": readings, "t0": µs since epoch, "rec": recorded_at - t0 (µs),
     "r": [[effective_at - t0 (µs), kind, value, kind, value, ...], ...]}

readings grouped by effective time, ``kind`` an index into "k" (the ids of ``reading_kinds``: session, author,
parameter, unit, source, flags). A reading with a text, a device time or the late-entry flag carries an extra
item after its value: ``{"text": ..., "dev": device_time - t0 (µs), "late": 1}``.

A block's body (**version 2**) carries the journal rows it seals **verbatim**, with the kinds they name::

    {"v":2,"k":[[parameter, unit, source, flags, author, kind id], ...],"j":[[journal seq,<journal body>], ...]}

It is built by joining strings (:func:`block_body`), so ``verify`` rebuilds the exact text from the journal and
compares it with ``==`` instead of decoding millions of readings; a reader decodes the journal bodies in it
with the same code as the unsealed journal, so a reading cannot read differently sealed and unsealed.

Files sealed before this (schema 6, early issue 17) hold **version 1** bodies and journal rows without "k"/"n"
(``{"t0", "rec", "r"}`` whose kinds are ids of ``reading_kinds``); they read and verify as before (``verify``
compares them reading by reading: slower). Version 1 block::

    {"t0": µs, "e": [[journal seq, first reading index, recorded_at - t0 (µs), author], ...],
     "k": [[parameter, unit, source, flags], ...], "r": [grouped items as above, kinds indexing "k"]}

Times are exact to the microsecond and values are JSON floats (exact round trip), so every reading comes back
exactly as charted. A reading's id is ``<device>-j<journal seq>-<i>``: the same before and after sealing.
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


# A reading in the making, whatever body it came from: (journal seq, index in its journal row, recorded µs,
# kind = (session, author, parameter, unit, source, flags), effective µs, value, extras, t0 the extras count from).

def _journal_items(doc: dict, seq: int, kinds: dict):  # noqa: ANN202
    """The readings of a parsed journal body; ``kinds``: reading kind id -> kind. A body with "k" names its kinds
    through it (an index outside it is an error, never another kind)."""
    t0 = doc["t0"]
    rec = t0 + doc["rec"]
    local = doc.get("k")
    if local is not None:
        kinds = {i: kinds[k] for i, k in enumerate(local)}
    for i, (t, k, v, extra) in enumerate(_readings(doc["r"], t0)):
        yield seq, i, rec, kinds[k], t, v, extra, t0


def _block_items(doc: dict, session_id: str | None):  # noqa: ANN202
    """The readings of a parsed block body, version 2 or 1."""
    if doc.get("v") == 2:
        kinds = {e[5]: (session_id, e[4], e[0], e[1], e[2], e[3]) for e in doc["k"]}
        for seq, jdoc in doc["j"]:
            yield from _journal_items(jdoc, seq, kinds)
        return
    t0, kinds, entries = doc["t0"], doc["k"], doc["e"]
    e, n_entries = -1, len(entries)
    jseq = first = rec = None
    by_author: dict[str, list[tuple]] = {}
    for i, (t, k, v, extra) in enumerate(_readings(doc["r"], t0)):
        while e + 1 < n_entries and entries[e + 1][1] == i:
            e += 1
            jseq, first, rec, author = entries[e]
            rec += t0
            full = by_author.get(author)
            if full is None:  # the block's kinds with the session and this author, built once
                full = by_author[author] = [(session_id, author, *kind) for kind in kinds]
        yield jseq, i - first, rec, full[k], t, v, extra, t0


def _reading(device_id: str, jseq: int, index: int, rec: int, kind: Sequence, t: int, value: float | None,
             extra: dict | None, t0: int) -> dict:
    session_id, author, parameter, unit, source, flags = kind
    extra = extra or {}
    dev = extra.get("dev")
    return {
        "id": f"{device_id}-j{jseq}-{index}", "device_id": device_id, "device_seq": None,
        "author": author, "effective_at": from_us(t), "recorded_at": from_us(rec),
        "late_entry": bool(extra.get("late")), "amends": None, "reason": None, "row_hash": None,
        "session_id": session_id, "parameter": parameter, "value": value, "unit": unit,
        "text": extra.get("text"), "source": source, "flags": flags,
        "device_time": None if dev is None else from_us(t0 + dev),
        "journal_seq": jseq, "index": index,
    }


def _fact(jseq, index, rec, kind, t, value, extra, t0) -> tuple:  # noqa: ANN001
    """A reading as a plain tuple (journal seq, index, recorded µs, author, effective µs, parameter, unit, source,
    flags, value, text, device µs, late): what ``verify`` compares for version-1 blocks."""
    if extra:
        dev = extra.get("dev")
        return (jseq, index, rec, kind[1], t, kind[2], kind[3], kind[4], kind[5], value, extra.get("text"),
                None if dev is None else t0 + dev, bool(extra.get("late")))
    return (jseq, index, rec, kind[1], t, kind[2], kind[3], kind[4], kind[5], value, None, None, False)


def decode(body: str, device_id: str, session_id: str | None) -> list[dict]:
    """Every reading of a block's body (either version) as a ``vital_readings``-shaped dict (times aware UTC
    datetimes, ``device_seq`` None: a reading's place is its journal row, ``journal_seq``)."""
    return [_reading(device_id, *item) for item in _block_items(json.loads(body), session_id)]


def block_facts(body: str) -> list[tuple]:
    """A block's readings as :func:`_fact` tuples (no dict and two datetimes per reading)."""
    return [_fact(*item) for item in _block_items(json.loads(body), None)]


def encode(readings: Sequence[dict]) -> str:
    """A version-1 block body for ``readings`` (dicts with effective_at, parameter, value, unit, flags, source,
    text, device_time, late_entry, recorded_at, author, journal_seq, index), in the order given. Only for sealing
    journal rows written before version 2 (a file opened for the first time by this code)."""
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


BLOCK_V2 = '{"v":2,'


def kind_entry(kind_id: int, kind: Sequence) -> str:
    """A kind as a version-2 block lists it: ``[parameter, unit, source, flags, author, id]`` (``kind``: session,
    author, parameter, unit, source, flags). The parameter first, as in version 1: the board finds a
    parameter's blocks by ``["<parameter>",``."""
    return _dumps([kind[2], kind[3], kind[4], kind[5], kind[1], kind_id])


def block_body(kind_entries: str, rows: Iterable[tuple[int, str]]) -> str:
    """A version-2 block body: the kind entries (:func:`kind_entry`, ascending id, comma-joined) and the journal
    rows ``(seq, body)`` verbatim."""
    return '{"v":2,"k":[' + kind_entries + '],"j":[' + ",".join(f"[{seq},{body}]" for seq, body in rows) + "]}"


# --- the journal --------------------------------------------------------------------------------------------
# Kinds are ids of ``reading_kinds`` (session, author, parameter, unit, source, flags); each kind is itself
# defined by a journal row {"kind": [id, session, author, parameter, unit, source, flags]} (so the chain covers
# it) and mirrored in ``reading_kinds`` for lookup (``verify`` compares the two). One journal row holds one
# session's readings.

def journal_kind_of(r: dict) -> tuple:
    return (r["session_id"], r["author"], r["parameter"], r["unit"], r["source"], r["flags"] or "")


def kind_body(kind_id: int, kind: tuple) -> str:
    return _dumps({"kind": [kind_id, *kind]})


def is_kind_body(body: str) -> bool:
    return body.startswith('{"kind"')


def encode_journal(readings: Sequence[dict], kind_ids: dict[tuple, int]) -> str:
    t0 = min(to_us(r["effective_at"]) for r in readings)
    local: dict[int, int] = {}
    groups = _items(readings, t0, lambda r: local.setdefault(kind_ids[journal_kind_of(r)], len(local)))
    return _dumps({"k": list(local), "n": len(readings), "t0": t0,
                   "rec": to_us(readings[0]["recorded_at"]) - t0, "r": groups})


def journal_head(body: str) -> tuple[list[int], int] | None:
    """(kind ids, number of readings) of a journal row, read from the start of its body without parsing the
    readings; None for a row written before version 2 (no "k"). ValueError when the head is not one."""
    if not body.startswith('{"k":['):
        return None
    end = body.index('],"n":', 6)
    n_end = body.index(',"t0":', end)
    return [int(x) for x in body[6:end].split(",")], int(body[end + 6:n_end])


def journal_recorded_at(body: str) -> datetime:
    doc = json.loads(body)
    return from_us(doc["t0"] + doc["rec"])


def journal_bounds(body: str) -> tuple[datetime, datetime]:
    """The first and last effective time of a journal row's readings."""
    doc = json.loads(body)
    times = [g[0] for g in doc["r"]]
    return from_us(doc["t0"] + min(times)), from_us(doc["t0"] + max(times))


def decode_journal(body: str, seq: int, kinds: dict[int, tuple], device_id: str) -> list[dict]:
    """The readings of a journal row (``kinds``: id -> (session, author, parameter, unit, source, flags))."""
    return [_reading(device_id, *item) for item in _journal_items(json.loads(body), seq, kinds)]


def journal_facts(body: str, seq: int, kinds: dict[int, tuple]) -> tuple[str | None, list[tuple]]:
    """(session, the readings as :func:`block_facts` tuples) of a journal row."""
    items = list(_journal_items(json.loads(body), seq, kinds))
    return (items[-1][3][0] if items else None), [_fact(*item) for item in items]


def bounds_of(readings: Iterable[dict]) -> tuple[datetime, datetime]:
    times = [r["effective_at"] for r in readings]
    return min(times), max(times)


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

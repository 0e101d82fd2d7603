"""A session's readings read once, for the views and for the record fingerprint (issue 17: a 4-hour summary).

:func:`session_readings` decodes the session's reading blocks, the unsealed journal and any ``vital_readings``
rows of files before schema 6 once, and gives both the :class:`StoredReading` tuples the summary, the screen
and the exports use and each reading's canonical text (:func:`ketachart.store.hashing.canonical_content` of
its ``vital_readings``-shaped row), which :mod:`.fingerprint` hashes.

Why not canonical_content per reading: a long session holds ~34,000 readings, and building a dict, two
datetimes and the JSON of each took most of a summary's time. Here a block's readings share their block's
device and session, and their kind's parameter, unit, source and flags, so the canonical text of each kind
is made once per block by canonical_content itself, with the columns that vary within a block (author, id,
times, value, text, late entry) left as slots, and times are written from their microseconds with the date
and minute cached. The text is byte for byte what
canonical_content gives (``tests/store/test_session_readings.py``), so the fingerprint keeps its value.
"""

from __future__ import annotations

import gc
import json
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Iterator, NamedTuple

from ..domain.codes import Parameter
from ..domain.vitals import usable_value
from . import models as m
from . import reading_blocks
from .hashing import canonical_content
from .repository import ChartStore

_READINGS = m.VitalReading.__table__
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_encode_str = json.encoder.encode_basestring_ascii  # as canonical_content writes a text column
# A reading's own columns, in canonical (sorted) order: the slots of a template.
_OWN = ("author", "device_time", "effective_at", "id", "late_entry", "recorded_at", "text", "value")


class StoredReading(NamedTuple):
    """One charted reading as stored; ``value`` is what the device said, ``usable`` the number a view may use
    (None for an invalid, sensor-off or artefact reading: :func:`ketachart.domain.vitals.usable_value`)."""

    id: str
    parameter: str
    value: float | None
    usable: float | None
    unit: str
    at: datetime  # effective time (UTC)
    flags: str  # as stored: comma-separated Quality values
    source: str
    device_seq: int | None  # None for readings stored in blocks (schema 6 on): their order is the block's

    @property
    def param(self) -> Parameter | None:
        try:
            return Parameter(self.parameter)
        except ValueError:
            return None


class SessionReadings(NamedTuple):
    readings: list[StoredReading]  # in time order
    texts: list[tuple[str, str]]  # (reading id, canonical content), in no particular order
    row_ids: list[str]  # the ids of readings in ``vital_readings`` rows (files before schema 6)
    prefixes: frozenset[str]  # every other reading's id starts with one of these ("<device>-j")


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a session's readings are read and folded into a summary or an
    export. They are ~34,000 readings in a 4-hour session, and several small tuples each; with the collector on,
    making them walks the app's whole heap again and again (about 40 % of a summary's time). None of them can
    form a reference cycle, and reference counting still frees them; the collector runs again afterwards.
    Nested or concurrent pauses only ever leave it as the outermost found it."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def session_readings(store: ChartStore, session_id: str) -> SessionReadings:
    """Every reading of the session (legacy rows, sealed blocks, the unsealed journal) with its canonical text."""
    from .fingerprint import raw_rows  # the fingerprint module reads the other rows the same way

    legacy = raw_rows(store, _READINGS, "session_id", [session_id])
    with store.engine.connect() as conn:
        raw = conn.connection.driver_connection
        bodies = raw.execute("SELECT device_id, body FROM reading_blocks WHERE session_id = ? ORDER BY device_seq",
                             (session_id,)).fetchall()
        unsealed = store._unsealed_readings(raw, session_id)
        conn.rollback()
    readings: list[StoredReading] = []
    texts: list[tuple[str, str]] = []
    with collector_paused():
        for row in legacy + unsealed:  # few: the same generic way as every chart row
            readings.append(_stored(row))
            texts.append((row["id"], canonical_content(_READINGS, row)))
        times, kinds = _TimeText(), {}
        for device_id, body in bodies:
            _decode_block(body, device_id, session_id, times, kinds, readings, texts)
        readings.sort(key=_order)  # stable: block readings keep their charted order
    prefixes = {f"{device_id}-j" for device_id, _ in bodies} | ({f"{store.device_id}-j"} if unsealed else set())
    return SessionReadings(readings, texts, [r["id"] for r in legacy], frozenset(prefixes))


def _order(r: StoredReading) -> tuple:
    return (r.at, r.device_seq or 0)


def _aware(value: object) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)  # SQLite keeps UTC times as naive text


def _stored(r: dict) -> StoredReading:
    value, flags = r["value"], r["flags"]
    return StoredReading(r["id"], r["parameter"], value, usable_value(value, flags) if flags else value, r["unit"],
                         _aware(r["effective_at"]), flags or "", r["source"], r["device_seq"])


class _TimeText:
    """A UTC time in microseconds since the epoch as canonical_content writes it ("...T08:50:07.000123Z",
    quoted), and as an aware datetime; the date and minute part comes from strftime once per minute."""

    def __init__(self) -> None:
        self._minutes: dict[int, str] = {}

    def text(self, us: int) -> str:
        seconds, micro = divmod(us, 1_000_000)
        minute, second = divmod(seconds, 60)
        head = self._minutes.get(minute)
        if head is None:
            head = self._minutes[minute] = (_EPOCH + timedelta(minutes=minute)).strftime('"%Y-%m-%dT%H:%M:')
        return f'{head}{second:02d}.{micro:06d}Z"'


def _template(device_id: str, session_id: str | None, kind: list) -> str:
    """canonical_content of a block reading of ``kind`` with the columns that vary within a block (``_OWN``)
    left as %s slots, in that order."""
    parameter, unit, source, flags = kind
    text = canonical_content(_READINGS, {
        "device_id": device_id, "device_seq": None, "amends": None, "reason": None, "session_id": session_id,
        "parameter": parameter, "unit": unit, "source": source, "flags": flags}).replace("%", "%%")
    for name in _OWN:
        # Every '"' inside a JSON string is escaped, so ',"name":null' can only be the column itself.
        slot = f',"{name}":null'
        if text.count(slot) != 1:
            raise AssertionError(f"vital_readings column {name} is not where the fingerprint expects it")
        text = text.replace(slot, f',"{name}":%s')
    return text


def _decode_block(body: str, device_id: str, session_id: str | None, times: _TimeText, kinds: dict[tuple, tuple],
                  readings: list[StoredReading], texts: list[tuple[str, str]]) -> None:
    """Append a block's readings and their canonical texts (the body's format is :mod:`.reading_blocks`'
    business: read here through :func:`~.reading_blocks.block_facts`, whatever its version). ``kinds``:
    (device, parameter, unit, source, flags) -> template and usable-value rule, kept from block to block."""
    plain_id = _encode_str(device_id) == f'"{device_id}"'
    authors: dict[str, str] = {}
    tuple_new, time_text, add_reading, add_text = tuple.__new__, times.text, readings.append, texts.append
    frepr, epoch, micro = float.__repr__, _EPOCH, timedelta(microseconds=1)
    last_t = last_rec = None
    at = at_text = recorded = None
    for jseq, index, rec, author, t, parameter, unit, source, flags, v, text, dev, late in \
            reading_blocks.block_facts(body):
        if t != last_t:  # readings of one moment come together
            last_t, at, at_text = t, epoch + micro * t, time_text(t)
        if rec != last_rec:  # and so do those of one journal row
            last_rec, recorded = rec, time_text(rec)
        key = (device_id, parameter, unit, source, flags)
        kind = kinds.get(key)
        if kind is None:
            kind = kinds[key] = (_template(device_id, session_id, key[1:]),
                                 (lambda x, f=flags: usable_value(x, f)) if flags else None)
        who = authors.get(author)
        if who is None:
            who = authors[author] = _encode_str(author)
        rid = f"{device_id}-j{jseq}-{index}"
        add_text((rid, kind[0] % (
            who, "null" if dev is None else time_text(dev), at_text, f'"{rid}"' if plain_id else _encode_str(rid),
            "1" if late else "0", recorded, "null" if text is None else _encode_str(str(text)),
            "null" if v is None else frepr(v) if v.__class__ is float and v - v == 0.0
            else json.dumps(float(v)))))  # as canonical_content writes a Float column
        use = kind[1]
        add_reading(tuple_new(StoredReading, (rid, parameter, v, v if use is None else use(v), unit, at, flags or "",
                                              source, None)))

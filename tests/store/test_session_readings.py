"""A session's readings read once (issue 17): the fast canonical texts are byte for byte canonical_content's, so
the record fingerprint keeps its value (and every printed fingerprint stays checkable), and the readings are the
ones the views read, for rows of old files, sealed blocks and the unsealed journal alike."""

from __future__ import annotations

import gc
import hashlib
import shutil
from datetime import datetime, timedelta, timezone

import pytest

from ketachart.domain.clock import FakeClock
from ketachart.domain.codes import Parameter
from ketachart.domain.readings import Quality, Reading
from ketachart.domain.vitals import usable_value
from ketachart.store import models as m
from ketachart.store.fingerprint import reading_rows, record_fingerprint, record_rows
from ketachart.store.hashing import canonical_content
from ketachart.store.models import ReadingBlock, Signature, VitalReading
from ketachart.store.open import open_store
from ketachart.store.readmodels import session_record
from ketachart.store.repository import ChartStore
from ketachart.store.session_readings import collector_paused, session_readings

from .test_migration_v5 import OLD
from .test_reading_blocks import chart  # noqa: F401 - the fixture: a checked-in session on a new chart

READINGS = m.VitalReading.__table__


def _reference_fingerprint(store: ChartStore, session_id: str) -> tuple[str, int]:
    """The definition: SHA-256 of the JSON array of canonical_content of every row of the record."""
    rows = record_rows(store, session_id)
    text = "[" + ",".join(canonical_content(m.MODEL_BY_TABLE[name].__table__, row) for name, row in rows) + "]"
    return hashlib.sha256(text.encode()).hexdigest(), len(rows)


def _reference_readings(store: ChartStore, session_id: str) -> list[tuple]:
    """The readings as read from their ``vital_readings``-shaped dicts, in time order."""
    out = []
    for r in reading_rows(store, session_id):
        at = r["effective_at"]
        at = datetime.fromisoformat(at) if isinstance(at, str) else at
        at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
        flags = r["flags"] or ""
        out.append((r["id"], r["parameter"], r["value"], usable_value(r["value"], flags) if flags else r["value"],
                    r["unit"], at, flags, r["source"], r["device_seq"]))
    return sorted(out, key=lambda r: (r[5], r[8] or 0))


def _assert_same_as_definition(store: ChartStore, session_id: str) -> None:
    read = session_readings(store, session_id)
    want = {r["id"]: canonical_content(READINGS, r) for r in reading_rows(store, session_id)}
    assert dict(read.texts) == want and len(read.texts) == len(want)
    assert [tuple(r) for r in read.readings] == _reference_readings(store, session_id)
    assert record_fingerprint(store, session_id) == _reference_fingerprint(store, session_id)
    assert record_fingerprint(store, session_id, read) == _reference_fingerprint(store, session_id)


def _odd_batch(clock: FakeClock, second: int) -> list[Reading]:
    """Every column a reading can fill: texts needing escapes (and a %), device times, flags making a value
    unusable, no value, whole and fractional and tiny values, a late entry."""
    now = clock.now()
    out = [Reading(Parameter.HR, 60.0 + second % 11 + 0.1, now, source="device:ge",
                   device_time=now - timedelta(microseconds=777_001 + second)),
           Reading(Parameter.SPO2, None if second % 7 == 0 else 96.0, now, source="device:masimo",
                   flags=frozenset({Quality.SENSOR_OFF}) if second % 7 == 0 else frozenset({Quality.LOW_PERFUSION})),
           Reading(Parameter.RR, 1e-7 if second % 2 else 14.0, now, source="manual")]
    if second % 20 == 0:
        out.append(Reading(Parameter.PUMP_STATE, None, now, source="device:bbraun",
                           text="infusing 100% \u00e9\"q\"\\ \u2714"))
    if second % 45 == 0:  # charted after the fact: a late entry
        out.append(Reading(Parameter.NIBP_SYS, 121.0, now - timedelta(minutes=40), source="manual"))
    return out


def test_texts_readings_and_fingerprint_equal_the_definition_sealed_and_unsealed(chart):
    store, sid = chart
    clock: FakeClock = store.clock
    clock.advance(14 * 3600 + 58 * 60 + 30)  # to 23:58:30: the readings cross midnight
    for second in range(150):  # one commit per second, as the vitals writer does; the third minute stays unsealed
        clock.advance(1, microseconds=13)
        if second == 75:
            store.author = "nurse.\u00e9\"two\""  # another hand charting: its own author on its own rows
        store.add_readings(sid, _odd_batch(clock, second))
    assert store.rows(ReadingBlock) and any(r["late_entry"] for r in store.readings(sid))
    ids = [r["id"] for r in store.readings(sid)]
    for target in (ids[5], ids[-1], f"{store.device_id}-j999999-0"):  # two of this record, one of no record
        store.append(Signature, target_table="vital_readings", target_id=target, user_id="nurse.a",
                     printed_name="A", meaning="reviewed", content_hash="0" * 64)
    _assert_same_as_definition(store, sid)
    assert sum(name == "signatures" for name, _ in record_rows(store, sid)) == 2
    before = record_fingerprint(store, sid)
    store.seal_readings()
    _assert_same_as_definition(store, sid)
    assert record_fingerprint(store, sid) == before  # sealing changes no reading


def test_an_old_files_rows_beside_new_blocks_equal_the_definition(tmp_path):
    path = tmp_path / "chart.db"
    shutil.copy(OLD, path)
    with open_store(path, unencrypted=True, clock=FakeClock(datetime(2030, 1, 1, tzinfo=timezone.utc))) as store:
        sid = store.rows(VitalReading)[0]["session_id"]
        store.clock = FakeClock(max(r["effective_at"] for r in store.rows(VitalReading)) + timedelta(minutes=1))
        store.sign(VitalReading, store.rows(VitalReading)[3]["id"], user_id="nurse.a", printed_name="A",
                   meaning="reviewed")
        assert any(name == "signatures" for name, _ in record_rows(store, sid))
        _assert_same_as_definition(store, sid)
        for i in range(90):
            store.clock.advance(1)
            store.add_readings(sid, [Reading(Parameter.HR, 70.0 + i % 3, store.clock.now(), source="device:ge")])
        assert store.rows(ReadingBlock)
        _assert_same_as_definition(store, sid)


def test_the_summary_prints_the_fingerprint_of_the_definition(chart):
    store, sid = chart
    for second in range(70):
        store.clock.advance(1)
        store.add_readings(sid, _odd_batch(store.clock, second))
    record = session_record(store, sid)
    assert (record.fingerprint, record.row_count) == _reference_fingerprint(store, sid)


def test_the_collector_pause_restores_what_it_found():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause leaves the outer one's
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # off before, off after
    finally:
        gc.enable()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a failed read")
    assert gc.isenabled()

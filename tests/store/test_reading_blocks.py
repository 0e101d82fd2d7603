"""Readings in the journal and in per-minute blocks (schema 5, issue 17): every reading comes back exactly as
charted, before and after sealing; a reading is durable at its own commit; a hand edit of either is found."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from ketachart.domain.clock import FakeClock
from ketachart.domain.codes import Parameter
from ketachart.domain.readings import Quality, Reading
from ketachart.domain.session import SessionEvent
from ketachart.store.models import ReadingBlock
from ketachart.store.readmodels import session_record
from ketachart.store.repository import ChartStore

FIELDS = ("parameter", "value", "unit", "text", "source", "flags", "device_time", "effective_at")


@pytest.fixture
def chart(tmp_path):
    clock = FakeClock(datetime(2026, 4, 1, 9, 0, 0, 250001, tzinfo=timezone.utc))
    store = ChartStore.open(tmp_path / "c.db", clock)
    p = store.create_patient("M1", "Doe", "Jo", "1970-01-01", "male")
    s = store.create_session(p["patient_id"])
    store.session_event(s["id"], SessionEvent.CHECK_IN)
    yield store, s["id"]
    store.close()


def _charted(clock: FakeClock, second: int) -> list[Reading]:
    now = clock.now()
    out = [Reading(Parameter.HR, 60.0 + second % 11 + 0.1, now, source="device:ge",
                   device_time=now - timedelta(microseconds=777_001)),
           Reading(Parameter.SPO2, None if second == 7 else 96.0, now, source="device:masimo",
                   flags=frozenset({Quality.SENSOR_OFF}) if second == 7 else frozenset({Quality.LOW_PERFUSION}))]
    if second % 30 == 0:
        out.append(Reading(Parameter.PUMP_STATE, None, now, source="device:bbraun", text="infusing \u00e9\"q\"\\"))
    return out


def _key(r: dict) -> tuple:
    return tuple(r[f] for f in FIELDS)


def _expected(readings: list[Reading]) -> list[tuple]:
    return [(r.parameter.value, r.value, r.unit, r.text, r.source, ",".join(sorted(f.value for f in r.flags)),
             r.device_time, r.host_time) for r in readings]


def test_every_reading_reads_back_exactly_before_and_after_sealing(chart):
    store, sid = chart
    clock: FakeClock = store.clock
    sent: list[Reading] = []
    for second in range(150):  # two and a half minutes at 1 Hz, one commit per second as the vitals writer does
        clock.advance(1, microseconds=13)
        batch = _charted(clock, second)
        assert store.add_readings(sid, batch) == len(batch)
        sent += batch
        assert [_key(r) for r in store.readings(sid)] == _expected(sent)  # readable at once, sealed or not
    blocks = store.rows(ReadingBlock)
    assert len(blocks) == 2  # the two finished minutes; the third is still in the journal
    fingerprint = session_record(store, sid).fingerprint
    ids = [r["id"] for r in store.readings(sid)]
    store.seal_readings()
    assert len(store.rows(ReadingBlock)) == 3
    after = store.readings(sid)
    assert [_key(r) for r in after] == _expected(sent) and [r["id"] for r in after] == ids
    assert session_record(store, sid).fingerprint == fingerprint  # sealing changes no reading
    assert store.verify_chain() == []


def test_a_discharge_seals_the_last_minute(chart):
    store, sid = chart
    store.session_event(sid, SessionEvent.START_INFUSION)
    store.add_readings(sid, _charted(store.clock, 1))
    assert not store.rows(ReadingBlock)
    store.session_event(sid, SessionEvent.STOP_INFUSION)
    store.session_event(sid, SessionEvent.DISCHARGE)
    assert [b["count"] for b in store.rows(ReadingBlock)] == [2]


def test_a_reading_is_on_disk_when_add_readings_returns(chart, tmp_path):
    store, sid = chart
    store.add_readings(sid, _charted(store.clock, 3))
    con = sqlite3.connect(store.path)  # another connection, as after a power cut
    try:
        from ketachart.store.reading_blocks import journal_readings

        assert [r["parameter"] for r in journal_readings(con)] == ["HR", "SPO2"]
    finally:
        con.close()


def _edit(store: ChartStore, sql: str, table: str) -> None:
    con = sqlite3.connect(store.path)
    con.execute(f"DROP TRIGGER {table}_no_update")
    con.execute(f"DROP TRIGGER {table}_no_delete")
    con.execute(sql)
    con.commit()
    con.close()


def _minutes(store: ChartStore, sid: str, n: int) -> None:
    for second in range(n * 60):
        store.clock.advance(1)
        store.add_readings(sid, _charted(store.clock, second))


def test_an_edited_journal_row_is_found(chart):
    store, sid = chart
    _minutes(store, sid, 2)
    _edit(store, "UPDATE reading_journal SET body = replace(body, '96.0', '99.0') WHERE seq = 20", "reading_journal")
    problems = store.verify_chain()
    assert any("readings journal row 20 does not match its hash" in p for p in problems)
    assert any("does not hold exactly the readings of journal rows" in p for p in problems)


def test_a_removed_unsealed_journal_tail_is_found(chart):
    store, sid = chart
    _minutes(store, sid, 1)
    store.clock.advance(90)
    _minutes(store, sid, 1)  # a minute sealed, the last one still open
    _edit(store, "DELETE FROM reading_journal WHERE seq > (SELECT max(seq) - 3 FROM reading_journal)",
          "reading_journal")
    assert any("readings journal row(s) are missing" in p for p in store.verify_chain())


def test_an_edited_kind_is_found(chart):
    store, sid = chart
    _minutes(store, sid, 1)
    _edit(store, "UPDATE reading_kinds SET unit = 'mmHg' WHERE parameter = 'HR'", "reading_kinds")
    assert any("reading kind" in p and "differs from the journal row" in p for p in store.verify_chain())

"""Readings in the journal and in per-minute blocks (schema 5, issue 17): every reading comes back exactly as
charted, before and after sealing; a reading is durable at its own commit; a hand edit of either is found."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

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


# --- version-2 blocks: the journal rows verbatim, checked as text (issue 17, verify speed) --------------------

def _rehash(store: ChartStore, con: sqlite3.Connection) -> None:
    """Re-hash this device's whole chart chain and journal as a key holder could, so that only the check of
    each block against the journal rows it cites can find an edit."""
    from ketachart.store.db import immutability_triggers
    from ketachart.store.hashing import chain_hash
    from ketachart.store.models import CHART_MODELS
    from ketachart.store.reading_blocks import journal_genesis, journal_hash

    con.row_factory = sqlite3.Row
    rows = []
    for model in CHART_MODELS:
        name = model.__tablename__
        rows += [(r["device_seq"], model, r["rowid"], dict(r))
                 for r in con.execute(f"SELECT rowid, * FROM {name} WHERE device_id = ?", (store.device_id,))]
    prev = store.genesis
    for _, model, rowid, row in sorted(rows, key=lambda r: r[0]):
        prev = chain_hash(prev, model.__table__, row)
        name = model.__tablename__
        con.execute(f"DROP TRIGGER IF EXISTS {name}_no_update")
        con.execute(f"UPDATE {name} SET row_hash = ? WHERE rowid = ?", (prev, rowid))
        con.execute(immutability_triggers(name)[0])
    con.execute("UPDATE device_counter SET last_hash = ? WHERE device_id = ?", (prev, store.device_id))
    jprev, last = journal_genesis(store.device_id), 0
    con.execute("DROP TRIGGER IF EXISTS reading_journal_no_update")
    for seq, body in con.execute("SELECT seq, body FROM reading_journal ORDER BY seq").fetchall():
        jprev, last = journal_hash(jprev, seq, body), seq
        con.execute("UPDATE reading_journal SET hash = ? WHERE seq = ?", (jprev, seq))
    con.execute(immutability_triggers("reading_journal")[0])
    con.execute("UPDATE journal_head SET last_seq = ?, last_hash = ?", (last, jprev))
    con.commit()


def _forge(store: ChartStore, *sql: str) -> list[str]:
    """Run ``sql`` on the file (triggers out of the way), re-hash both chains, and verify."""
    con = sqlite3.connect(store.path)
    for table in ("reading_blocks", "reading_journal"):
        con.execute(f"DROP TRIGGER {table}_no_update")
        con.execute(f"DROP TRIGGER {table}_no_delete")
    for statement in sql:
        assert con.execute(statement).rowcount > 0, statement
    _rehash(store, con)
    from ketachart.store.db import immutability_triggers

    for table in ("reading_blocks", "reading_journal"):
        con.execute(immutability_triggers(table)[1])
    con.commit()
    con.close()
    return store.verify_chain()


@pytest.fixture
def two_sessions(chart):
    """Three minutes of one session and, in the second minute, a second session's readings: one seal holds a
    block of each."""
    store, a = chart
    p = store.create_patient("M2", "Roe", "Al", "1971-02-02", "female")
    b = store.create_session(p["patient_id"])["id"]
    for second in range(180):
        store.clock.advance(1)
        store.add_readings(a, _charted(store.clock, second))
        if 60 <= second < 120 and second % 4 == 0:
            store.add_readings(b, [Reading(Parameter.RR, 12.0 + second % 3, store.clock.now(), source="device:ge")])
    store.seal_readings()
    return store, a, b


def test_a_block_holds_its_journal_rows_verbatim_and_reads_as_they_do(two_sessions):
    from ketachart.store import reading_blocks as blocks

    store, a, b = two_sessions
    rows = store.rows(ReadingBlock)
    assert len({(r["journal_from"], r["journal_to"]) for r in rows}) < len(rows)  # a seal with two sessions' blocks
    con = sqlite3.connect(store.path)
    try:
        journal = dict(con.execute("SELECT seq, body FROM reading_journal"))
    finally:
        con.close()
    for row in rows:
        assert row["body"].startswith(blocks.BLOCK_V2)
        for seq, _ in json.loads(row["body"])["j"]:
            assert f"[{seq},{journal[seq]}]" in row["body"]  # the journal row's text, unchanged
    unsealed = {}
    for seq, body in journal.items():  # every reading decoded from the journal alone equals its sealed self
        if not blocks.is_kind_body(body):
            for r in blocks.decode_journal(body, seq, store._kinds(store.engine.raw_connection().driver_connection),
                                           store.device_id):
                unsealed[r["id"]] = r
    for sid in (a, b):
        sealed = store.readings(sid)
        assert sealed and all(r == unsealed[r["id"]] for r in sealed)
        assert sum(row["count"] for row in rows if row["session_id"] == sid) == len(sealed)
    assert store.verify_chain() == []


@pytest.mark.parametrize("edit", [
    "UPDATE reading_blocks SET body = replace(body, '96.0', '99.0') WHERE rowid = (SELECT min(rowid) FROM reading_blocks)",
    "UPDATE reading_journal SET body = replace(body, '96.0', '99.0') WHERE seq = 30",
    "UPDATE reading_blocks SET body = replace(body, '\"%\"', '\"%%\"') WHERE rowid = (SELECT min(rowid) FROM reading_blocks)",
    "UPDATE reading_blocks SET count = count + 1 WHERE rowid = (SELECT min(rowid) FROM reading_blocks)",
])
def test_a_consistently_rehashed_edit_of_a_block_or_a_journal_row_is_found(chart, edit):
    store, sid = chart
    _minutes(store, sid, 2)
    store.seal_readings()
    assert store.verify_chain() == []
    problems = _forge(store, edit)
    assert any("does not hold exactly the readings of journal rows" in p for p in problems), problems
    assert not any("does not match its hash" in p for p in problems)  # the chains alone would not have told


def test_sessions_swapped_between_the_blocks_of_one_seal_are_found(two_sessions):
    store, a, b = two_sessions
    (lo,) = [r["journal_from"] for r in store.rows(ReadingBlock) if r["session_id"] == b][:1]
    problems = _forge(store, f"UPDATE reading_blocks SET session_id = CASE session_id WHEN '{a}' THEN '{b}' "
                             f"ELSE '{a}' END WHERE journal_from = {lo}")
    assert sum("does not hold exactly" in p for p in problems) == 2, problems


def test_a_journal_row_left_out_of_a_seal_is_found(two_sessions):
    store, a, b = two_sessions
    block = next(r for r in store.rows(ReadingBlock) if r["session_id"] == b)
    problems = _forge(store, f"DELETE FROM reading_blocks WHERE id = '{block['id']}'")
    assert any(f"of session {b} were not sealed" in p for p in problems), problems


def test_a_removed_journal_row_is_found_even_rehashed(chart):
    store, sid = chart
    _minutes(store, sid, 2)
    store.seal_readings()
    problems = _forge(store, "DELETE FROM reading_journal WHERE seq = 30")
    assert any("readings journal row 30 is missing" in p for p in problems), problems
    assert any("does not hold exactly" in p for p in problems), problems


def test_a_seal_citing_rows_already_sealed_is_found(chart):
    store, sid = chart
    _minutes(store, sid, 3)
    store.seal_readings()
    second = store.rows(ReadingBlock)[1]
    problems = _forge(store, f"UPDATE reading_blocks SET journal_from = journal_from - 1 WHERE id = '{second['id']}'")
    assert any("sealed twice or left out" in p for p in problems), problems


# --- files sealed before version 2 --------------------------------------------------------------------------
# tests/store/data/chart-v6.sqlite was written by KetaChart at c8acd63 (version-1 blocks and journal rows; two
# sessions sealed in the same minutes; a late manual entry; an unsealed tail), chart-v6-readings.json holds its
# readings as that code read them.

V6 = Path(__file__).parent / "data" / "chart-v6.sqlite"
V6_READINGS = json.loads((Path(__file__).parent / "data" / "chart-v6-readings.json").read_text())


@pytest.fixture
def old_chart(tmp_path):
    path = tmp_path / "old.db"
    shutil.copy(V6, path)
    store = ChartStore.open(path, FakeClock(datetime(2026, 4, 1, 10, 0, tzinfo=timezone.utc)))
    yield store
    store.close()


def _as_stored(r: dict) -> dict:
    return {k: (r[k].isoformat() if isinstance(r[k], datetime) else r[k]) for k in V6_READINGS[next(iter(V6_READINGS))][0]}


def test_an_old_chart_reads_exactly_as_before_verifies_and_seals_new_readings_in_version_2(old_chart):
    from ketachart.store import reading_blocks as blocks

    store = old_chart
    old_blocks = store.rows(ReadingBlock)
    assert old_blocks and not any(b["body"].startswith(blocks.BLOCK_V2) for b in old_blocks)
    for sid, expected in V6_READINGS.items():
        assert [_as_stored(r) for r in store.readings(sid)] == expected
    assert store.verify_chain() == []  # version 1: compared reading by reading
    sid = next(iter(V6_READINGS))
    _minutes(store, sid, 2)
    store.seal_readings()
    tail, *new_blocks = store.rows(ReadingBlock)[len(old_blocks):]
    assert not tail["body"].startswith(blocks.BLOCK_V2)  # the old unsealed journal rows: sealed in version 1
    assert new_blocks and all(b["body"].startswith(blocks.BLOCK_V2) for b in new_blocks)
    assert [_as_stored(r) for r in store.readings(sid)][:len(V6_READINGS[sid])] == V6_READINGS[sid]
    assert store.verify_chain() == []
    store.close()
    done = subprocess.run([sys.executable, "-m", "ketachart.cli", "verify", "--db", str(store.path), "--unencrypted"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_rehashed_edit_of_an_old_block_is_found(old_chart):
    problems = _forge(old_chart, "UPDATE reading_blocks SET body = replace(body, '96.0', '97.0') "
                                 "WHERE rowid = (SELECT min(rowid) FROM reading_blocks)")
    assert any("does not hold exactly the readings of journal rows" in p for p in problems), problems

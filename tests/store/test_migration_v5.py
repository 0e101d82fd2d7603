"""A chart written before reading blocks (schema 4, one row per reading; written by KetaChart at commit 3a314c7)
migrates to schema 5 losing nothing: every old reading reads back exactly as stored, every old row re-verifies,
and new readings go to the journal and blocks beside them."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from ketachart.domain.clock import FakeClock
from ketachart.domain.codes import Parameter
from ketachart.domain.readings import Reading
from ketachart.store.db import SCHEMA_VERSION
from ketachart.store.models import ReadingBlock, VitalReading
from ketachart.store.open import open_store, verify_store
from ketachart.store.readmodels import session_record

OLD = Path(__file__).parent / "data" / "chart-v4.sqlite"
COLUMNS = ("id", "parameter", "value", "unit", "text", "source", "flags", "device_time", "effective_at",
           "recorded_at", "author", "device_seq", "row_hash")


def _old_rows(path: Path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(f"SELECT {', '.join(COLUMNS)} FROM vital_readings ORDER BY device_seq").fetchall()
    finally:
        con.close()


def test_a_schema_4_file_migrates_losing_no_reading_and_re_verifies(tmp_path):
    path = tmp_path / "chart.db"
    shutil.copy(OLD, path)
    before = _old_rows(path)
    assert len(before) == 363 and sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 4
    last = max(r[9] for r in before)
    from datetime import datetime, timezone
    clock = FakeClock(datetime.fromisoformat(last).replace(tzinfo=timezone.utc) + timedelta(minutes=5))
    with open_store(path, unencrypted=True, clock=clock) as store:
        assert verify_store(store) == []
        session_id = store.rows(VitalReading)[0]["session_id"]
        fingerprint = session_record(store, session_id).fingerprint
        old = store.readings(session_id)
        assert len(old) == 363 and any(r["value"] is None and r["flags"] == "sensor-off" for r in old)
        # New readings of the same session go to the journal, then a block; the old rows stay as they were.
        for i in range(90):
            clock.advance(1)
            store.add_readings(session_id, [Reading(Parameter.HR, 70.0 + i % 3, clock.now(), source="device:ge")])
        assert store.rows(ReadingBlock)  # the first minute was sealed when the second began
        readings = store.readings(session_id)
        assert len(readings) == 363 + 90
        assert [r["id"] for r in readings[:363]] == [r["id"] for r in old]
        assert session_record(store, session_id).fingerprint != fingerprint  # new readings are in the record
        assert verify_store(store) == []
    assert _old_rows(path) == before  # not one old row changed, hash included
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        con.close()
    done = subprocess.run([sys.executable, "-m", "ketachart.cli", "verify", "--db", str(path), "--unencrypted"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_old_readings_read_back_exactly_as_stored(tmp_path):
    path = tmp_path / "chart.db"
    shutil.copy(OLD, path)
    before = {r[0]: r for r in _old_rows(path)}
    with open_store(path, unencrypted=True, clock=FakeClock()) as store:
        session_id = store.rows(VitalReading)[0]["session_id"]
        for r in store.readings(session_id):
            stored = before[r["id"]]
            assert (r["parameter"], r["value"], r["unit"], r["text"], r["source"], r["flags"]) == stored[1:7]
            assert (r["device_time"] and r["device_time"].strftime("%Y-%m-%d %H:%M:%S.%f")) == stored[7]
            assert r["effective_at"].strftime("%Y-%m-%d %H:%M:%S.%f") == stored[8]

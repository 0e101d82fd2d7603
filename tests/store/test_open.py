"""Opening files: bad files are refused with a clear message and left byte-for-byte untouched."""

import hashlib
import sqlite3

import pytest

from ketachart.store.db import SCHEMA_VERSION
from ketachart.store.errors import DatabaseInUse, DatabaseRefused
from ketachart.store.repository import ChartStore


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_newer_schema_is_refused_and_untouched(tmp_path, clock):
    path = tmp_path / "new.db"
    ChartStore.open(path, clock).close()
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()
    before = digest(path)
    with pytest.raises(DatabaseRefused, match="newer KetaChart"):
        ChartStore.open(path, clock)
    assert digest(path) == before


@pytest.mark.parametrize("content", [b"this is a text file\n" * 40, b"SQLite format 3\x00" + b"\xff" * 4000])
def test_non_sqlite_or_corrupt_file_is_refused_and_untouched(tmp_path, clock, content):
    path = tmp_path / "junk.db"
    path.write_bytes(content)
    with pytest.raises(DatabaseRefused, match="not changed|not a KetaChart"):
        ChartStore.open(path, clock)
    assert path.read_bytes() == content


def test_other_programs_sqlite_is_refused(tmp_path, clock):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    before = digest(path)
    with pytest.raises(DatabaseRefused, match="another program"):
        ChartStore.open(path, clock)
    assert digest(path) == before


def test_second_instance_is_refused_naming_the_first(tmp_path, clock):
    path = tmp_path / "chart.db"
    first = ChartStore.open(path, clock, holder="KetaChart at Chair 2")
    try:
        with pytest.raises(DatabaseInUse, match="Chair 2"):
            ChartStore.open(path, clock)
    finally:
        first.close()
    ChartStore.open(path, clock).close()  # free again once the first closed


def test_older_schema_is_migrated_in_place(tmp_path, clock):
    path = tmp_path / "old.db"
    store = ChartStore.open(path, clock)
    patient = store.create_patient("M1", "Doe", "Jo", "1970-01-01", "male")
    store.close()
    con = sqlite3.connect(path)  # make it look like a version-1 file
    con.execute("DROP INDEX ix_observations_session_kind")
    con.execute("PRAGMA user_version=1")
    con.commit()
    con.close()
    store = ChartStore.open(path, clock)
    try:
        assert store.patient(patient["patient_id"])["mrn"] == "M1"
        con = sqlite3.connect(path)
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        con.close()
        assert "ix_observations_session_kind" in names
        assert store.verify_chain() == []
    finally:
        store.close()


def test_durability_pragmas(store):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1

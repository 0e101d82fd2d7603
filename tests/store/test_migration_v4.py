"""A chart written by the previous release (schema 3, legacy chain genesis, a users row pulled from another chair)
migrates to schema 4 and still verifies; its pulled row stays trusted (recorded as legacy)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from ketachart.domain.clock import FakeClock
from ketachart.store.db import SCHEMA_VERSION
from ketachart.store.open import open_store, verify_store

OLD = Path(__file__).parent / "data" / "chart-v3.sqlite"  # written by KetaChart at commit ac27066


def test_a_schema_3_file_migrates_and_re_verifies(tmp_path):
    path = tmp_path / "chart.db"
    shutil.copy(OLD, path)
    with open_store(path, unencrypted=True, clock=FakeClock()) as store:
        assert verify_store(store) == []
        assert store.genesis == ""  # legacy genesis kept: its rows were hashed over it
        assert "b.nurse" in {u["user_id"] for u in store.users()}
        before = store.sync_ledger.last_seq()
        store.create_patient("MRN-NEW", "Roe", "Ann", "1970-01-01", "female")
        assert store.sync_ledger.last_seq() > before
        assert verify_store(store) == []
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert con.execute("SELECT vouched_by FROM pulled_rows WHERE table_name = 'users'").fetchall() == [("legacy",)]
    finally:
        con.close()

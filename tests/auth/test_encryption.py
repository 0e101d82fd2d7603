"""Encryption at rest with SQLCipher: keys, refusal without the key (file untouched), no plaintext on disk."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest
from sqlalchemy.exc import IntegrityError

from ketachart.demo import NAMES, write_demo_session
from ketachart.store import DatabaseRefused
from ketachart.store.encryption import cipher_version
from ketachart.store.keys import KeyStore, key_file_path
from ketachart.store.models import Observation
from ketachart.store.open import open_store


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def snapshot(db):
    return {p.name: sha(p) for p in sorted(db.parent.iterdir()) if p.name.startswith(db.name) and not p.name.endswith(".lock")}


def test_bundled_sqlcipher_is_version_4():
    assert cipher_version().startswith("4.")


def test_new_store_is_encrypted_by_default_with_a_0600_key_file(tmp_path, clock):
    db = tmp_path / "chart.db"
    with open_store(db, clock=clock) as store:
        assert store.encrypted and store.key_source == f"key file {key_file_path(db)}"
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA cipher_version").scalar().startswith("4.")
        note = store.observe(None, "note", text="hello")
        with pytest.raises(IntegrityError, match="append-only"):  # the triggers work on SQLCipher too
            store.execute_raw(f"UPDATE observations SET text = 'x' WHERE id = '{note['id']}'")
    kf = key_file_path(db)
    assert kf.parent == db.parent and kf != db
    assert stat.S_IMODE(kf.stat().st_mode) == 0o600
    assert not db.read_bytes().startswith(b"SQLite format 3")
    with open_store(db, clock=clock) as again:  # reopens with the same key
        assert [r["text"] for r in again.rows(Observation)] == ["hello"]


def test_encrypted_file_contains_no_patient_name_anywhere(tmp_path, clock):
    db = tmp_path / "chart.db"
    family, given, dob, _ = NAMES[0]
    store = open_store(db, clock=clock)
    write_demo_session(store, seed=0)
    assert store.patients()[0]["family_name"] == family
    files = [p for p in tmp_path.iterdir() if p.name.startswith("chart.db") and not p.name.endswith((".key", ".lock"))]
    assert (tmp_path / "chart.db-wal") in files  # still open: the WAL holds recent pages
    for path in files:
        data = path.read_bytes()
        for needle in (family, given, dob, "DEMO-0000"):
            assert needle.encode() not in data, f"{needle} in {path.name}"
            assert needle.encode("utf-16-le") not in data
    store.close()
    data = db.read_bytes()
    assert family.encode() not in data and b"DEMO-0000" not in data


def test_plain_store_for_comparison_does_contain_the_name(tmp_path, clock):
    """Proves the search above would find the name if it were there."""
    db = tmp_path / "plain.db"
    with open_store(db, unencrypted=True, clock=clock) as store:
        write_demo_session(store, seed=0)
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("plain.db"))
    assert NAMES[0][0].encode() in blob


def test_encrypted_db_without_the_key_is_refused_and_untouched(tmp_path, clock):
    db = tmp_path / "chart.db"
    with open_store(db, clock=clock) as store:
        store.observe(None, "note", text="hello")
    key_file_path(db).rename(tmp_path / "elsewhere.key")
    before = snapshot(db)
    with pytest.raises(DatabaseRefused) as err:
        open_store(db, clock=clock)
    msg = str(err.value)
    assert "encrypted" in msg and "key was not found" in msg and "not changed" in msg
    assert snapshot(db) == before
    assert not key_file_path(db).exists()  # no new key invented for an existing file


def test_wrong_key_is_refused_and_untouched(tmp_path, clock, monkeypatch):
    db = tmp_path / "chart.db"
    monkeypatch.setenv("KETACHART_DB_KEY", "the clinic's secret")
    with open_store(db, clock=clock) as store:
        assert store.key_source == "KETACHART_DB_KEY"
        store.observe(None, "note", text="hello")
    assert not key_file_path(db).exists()
    before = snapshot(db)
    monkeypatch.setenv("KETACHART_DB_KEY", "a wrong secret")
    with pytest.raises(DatabaseRefused, match="key is wrong"):
        open_store(db, clock=clock)
    with pytest.raises(DatabaseRefused, match="encrypted"):
        open_store(db, unencrypted=True, clock=clock)
    assert snapshot(db) == before
    monkeypatch.setenv("KETACHART_DB_KEY", "the clinic's secret")
    with open_store(db, clock=clock) as store:
        assert len(store.rows(Observation)) == 1


def test_plain_file_opened_as_encrypted_is_refused_and_untouched(tmp_path, clock):
    db = tmp_path / "demo.db"
    with open_store(db, unencrypted=True, clock=clock) as store:
        store.observe(None, "note", text="hello")
    before = snapshot(db)
    with pytest.raises(DatabaseRefused, match="unencrypted"):
        open_store(db, clock=clock)
    assert snapshot(db) == before
    assert not key_file_path(db).exists()


def test_keystore_prefers_the_admin_secret_and_never_shows_it(tmp_path):
    ks = KeyStore(use_keyring=False, env={"KETACHART_DB_KEY": "s3cret"})
    key = ks.find(tmp_path / "x.db")
    assert key.source == "KETACHART_DB_KEY" and "s3cret" not in repr(key)
    ks = KeyStore(use_keyring=False, env={})
    assert ks.find(tmp_path / "x.db") is None
    created = ks.create(tmp_path / "x.db")
    assert ks.find(tmp_path / "x.db") == created
    with pytest.raises(FileExistsError):  # never silently replaces a key
        ks.create(tmp_path / "x.db")


def test_a_group_readable_key_file_still_opens_but_is_reported(tmp_path, caplog):
    ks = KeyStore(use_keyring=False, env={})
    ks.create(tmp_path / "x.db")
    os.chmod(key_file_path(tmp_path / "x.db"), 0o640)
    assert ks.find(tmp_path / "x.db") is not None
    assert "readable by others" in caplog.text

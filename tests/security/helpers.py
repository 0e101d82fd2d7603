"""Editing a real encrypted chart file with its key, as an attacker holding the key would."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from ketachart.store import encryption
from ketachart.store.keys import KeyStore


@contextmanager
def keyed(path: Path):
    """A raw SQLCipher connection to ``path`` opened with its key (autocommit off: commit to keep)."""
    key = KeyStore().find(path)
    assert key is not None
    con = encryption.connect_encrypted(path, key)
    try:
        yield con
        con.commit()
    finally:
        con.close()

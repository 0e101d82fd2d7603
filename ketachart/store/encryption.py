"""SQLCipher connections for encrypted chart files (sqlcipher3-binary, SQLCipher 4 community).

The ``PRAGMA key`` is the first statement on every connection; ``db.make_engine``'s connect listener then
applies WAL, ``synchronous=FULL``, foreign keys and the busy timeout exactly as on plain SQLite, and the
immutability triggers live in the (encrypted) schema itself.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .errors import DatabaseRefused
from .keys import DbKey

try:  # sqlcipher3-binary ships wheels for Linux x86_64; elsewhere the build must provide sqlcipher3
    import sqlcipher3
    from sqlcipher3 import dbapi2 as sqlcipher_dbapi
except ImportError:  # pragma: no cover - depends on the platform
    sqlcipher3 = None
    sqlcipher_dbapi = None

_quiet = False


def available() -> bool:
    return sqlcipher_dbapi is not None


def _require() -> None:
    global _quiet
    if sqlcipher_dbapi is None:
        raise DatabaseRefused(
            "encryption at rest needs the sqlcipher3 package, which is not installed in this build. "
            "Install it, or open a demo/inspection database with --unencrypted."
        )
    if not _quiet:
        # SQLCipher writes its own error lines to stderr on a wrong key; our message says it better.
        con = sqlcipher_dbapi.connect(":memory:")
        try:
            con.execute("PRAGMA cipher_log_level = NONE")
        finally:
            con.close()
        _quiet = True


def cipher_version() -> str:
    """The bundled SQLCipher version, e.g. ``4.12.0 community``."""
    _require()
    con = sqlcipher_dbapi.connect(":memory:")
    try:
        return con.execute("PRAGMA cipher_version").fetchone()[0]
    finally:
        con.close()


def _refused(path: Path, key: DbKey, exc: Exception) -> DatabaseRefused:
    return DatabaseRefused(
        f"{path} cannot be opened with the key from {key.source} ({exc}). Either it is not an encrypted "
        "KetaChart database or the key is wrong. The file was not changed."
    )


def connect_encrypted(path: Path, key: DbKey, *, readonly: bool = False) -> sqlite3.Connection:
    """A keyed SQLCipher connection; refuses (``DatabaseRefused``) when the key does not open the file."""
    _require()
    if readonly:
        con = sqlcipher_dbapi.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, timeout=10.0)
    else:
        con = sqlcipher_dbapi.connect(str(path), check_same_thread=False, timeout=10.0)
    try:
        con.execute(key.pragma())  # must come first
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()  # proves the key (HMAC of page 1)
    except sqlcipher_dbapi.DatabaseError as exc:
        con.close()
        raise _refused(path, key, exc) from None
    return con


def make_connectors(key: DbKey):  # noqa: ANN201
    """``(connect, connect_ro, dbapi)`` for :meth:`ChartStore.open`."""
    _require()
    return (
        lambda p: connect_encrypted(Path(p), key),
        lambda p: connect_encrypted(Path(p), key, readonly=True),
        sqlcipher_dbapi,
    )


def encrypt_copy(src: Path, dst: Path, key: DbKey) -> None:
    """Write an encrypted copy of the plain chart ``src`` to the new file ``dst`` (``src`` is only read)."""
    _require()
    if dst.exists():
        raise DatabaseRefused(f"{dst} already exists; choose a new file name for the encrypted copy")
    con = sqlcipher_dbapi.connect(f"file:{src}?mode=ro", uri=True)
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        attach_key = key.pragma().split("=", 1)[1].strip()
        con.execute(f"ATTACH DATABASE '{str(dst).replace(chr(39), chr(39) * 2)}' AS encrypted KEY {attach_key}")
        con.execute("SELECT sqlcipher_export('encrypted')")
        con.execute(f"PRAGMA encrypted.user_version = {int(version)}")
        con.execute("DETACH DATABASE encrypted")
    except sqlcipher_dbapi.DatabaseError as exc:
        raise DatabaseRefused(f"could not encrypt {src}: {exc}. {src} was not changed.") from None
    finally:
        con.close()

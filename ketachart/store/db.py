"""Opening a chart file safely.

Order of checks, none of which writes to a file it refuses:

1. the file, if it exists, starts with the SQLite header (else: "not a KetaChart database");
2. a read-only connection reads ``PRAGMA user_version`` (the schema version): newer than this app -> refused;
3. only then the file is opened read-write, locked against a second instance, migrated if older, and
   configured: WAL, ``synchronous=FULL`` (a commit is on disk when it returns), foreign keys on.

Triggers make SQLite itself abort UPDATE and DELETE on every chart table.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Callable

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.pool import NullPool, QueuePool

from .errors import DatabaseInUse, DatabaseRefused
from .models import CHART_TABLES, Base

SCHEMA_VERSION = 6
SQLITE_MAGIC = b"SQLite format 3\x00"

# Migrations: MIGRATIONS[n] upgrades a file from version n to n+1, in one transaction.
# Add a function when the schema changes; never edit an old one.
Migration = Callable[[sqlite3.Connection], None]
# The chart tables as schema 4 knew them: the migrations up to v4 act on these, whatever came later.
V4_CHART_TABLES = tuple(t for t in CHART_TABLES if t not in ("patient_links", "reading_blocks"))


def _v1_to_v2(con: sqlite3.Connection) -> None:
    """v2: index observations by kind within a session (the quick-entry history and the report read them so)."""
    con.execute("CREATE INDEX IF NOT EXISTS ix_observations_session_kind ON observations (session_id, kind)")


def _v2_to_v3(con: sqlite3.Connection) -> None:
    """v3: index (device_id, device_seq) on every chart table: the sync outbox and the tail check of the hash
    chain read "this device's rows above seq N" without scanning millions of readings. Names match
    ``sync_support.sync_index_name`` so files that sync already indexed are left as they are."""
    for table in V4_CHART_TABLES:
        con.execute(f"CREATE INDEX IF NOT EXISTS ix_{table}_device_seq ON {table} (device_id, device_seq)")


def _v3_to_v4(con: sqlite3.Connection) -> None:
    """v4: ``pulled_rows`` (what came from the central, with the previous hash and who vouched) and ``sync_held``
    (rows the central refused). Rows pulled before v4 are recorded as ``legacy`` (trusted as they were; they
    cannot be re-hashed), and the file keeps its legacy chain genesis (``store_meta.chain_genesis``)."""
    con.execute("CREATE TABLE IF NOT EXISTS pulled_rows (table_name VARCHAR(32) NOT NULL, row_id VARCHAR(36) NOT NULL, "
                "prev_hash VARCHAR(64), vouched_by TEXT, PRIMARY KEY (table_name, row_id))")
    con.execute("CREATE TABLE IF NOT EXISTS sync_held (table_name VARCHAR(32) NOT NULL, row_id VARCHAR(36) NOT NULL, "
                "device_seq INTEGER NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (table_name, row_id))")
    device = con.execute("SELECT value FROM store_meta WHERE key = 'device_id'").fetchone()
    if device:
        for table in V4_CHART_TABLES:
            con.execute(f"INSERT OR IGNORE INTO pulled_rows (table_name, row_id, prev_hash, vouched_by) "
                        f"SELECT ?, id, NULL, 'legacy' FROM {table} WHERE device_id <> ?", (table, device[0]))
    con.execute("INSERT OR IGNORE INTO store_meta (key, value) VALUES ('chain_genesis', 'legacy')")


def _add_patient_links(con: sqlite3.Connection) -> None:
    """v5: ``patient_links``, an admin's link of two records of one person (issue 13), append-only like every
    chart table. Idempotent, so it can be renumbered when migrations of parallel work are merged."""
    con.execute("CREATE TABLE IF NOT EXISTS patient_links (kept_id VARCHAR(36) NOT NULL, merged_id VARCHAR(36) NOT NULL, "
                "active BOOLEAN NOT NULL, id VARCHAR(36) NOT NULL, device_id VARCHAR(64) NOT NULL, "
                "device_seq INTEGER NOT NULL, author VARCHAR(64) NOT NULL, effective_at DATETIME NOT NULL, "
                "recorded_at DATETIME NOT NULL, late_entry BOOLEAN NOT NULL, amends VARCHAR(36), reason TEXT, "
                "row_hash VARCHAR(64) NOT NULL, PRIMARY KEY (id))")
    con.execute("CREATE INDEX IF NOT EXISTS ix_patient_links_kept_id ON patient_links (kept_id)")
    con.execute("CREATE INDEX IF NOT EXISTS ix_patient_links_merged_id ON patient_links (merged_id)")
    con.execute("CREATE INDEX IF NOT EXISTS ix_patient_links_device_seq ON patient_links (device_id, device_seq)")
    for ddl in immutability_triggers("patient_links"):
        con.execute(ddl)




def _v5_to_v6(con: sqlite3.Connection) -> None:
    """v6 (issue 17): readings go to ``reading_journal`` (write-ahead, local) and are sealed per minute into
    ``reading_blocks`` chart rows. Nothing is rewritten: the file's ``vital_readings`` rows stay exactly as they
    are (same hashes, same chain) and are read beside the blocks, so every old reading re-verifies."""
    from sqlalchemy.dialects import sqlite as sqlite_dialect
    from sqlalchemy.schema import CreateIndex, CreateTable

    from .models import JournalHead, ReadingBlock, ReadingJournal, ReadingKind
    from .reading_blocks import journal_genesis

    dialect = sqlite_dialect.dialect()
    for model in (ReadingBlock, ReadingJournal, ReadingKind, JournalHead):
        table = model.__table__
        con.execute(str(CreateTable(table, if_not_exists=True).compile(dialect=dialect)))
        for index in table.indexes:
            con.execute(str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect)))
    for table in ("reading_blocks", "reading_journal", "reading_kinds"):
        for ddl in immutability_triggers(table):
            con.execute(ddl)
    con.execute("CREATE INDEX IF NOT EXISTS ix_reading_blocks_device_seq ON reading_blocks (device_id, device_seq)")
    device = con.execute("SELECT value FROM store_meta WHERE key = 'device_id'").fetchone()
    if device:
        con.execute("INSERT OR IGNORE INTO journal_head (device_id, last_seq, last_hash) VALUES (?, 0, ?)",
                    (device[0], journal_genesis(device[0])))


MIGRATIONS: dict[int, Migration] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _add_patient_links, 5: _v5_to_v6}
APPEND_ONLY_TABLES = (*CHART_TABLES, "reading_journal", "reading_kinds")  # tables whose triggers forbid UPDATE and DELETE


def immutability_triggers(table: str) -> list[str]:
    """The DDL of a chart table's two triggers; ``verify`` compares the stored text with exactly this."""
    msg = f"chart rows in {table} are append-only: record an amendment instead"
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{msg}'); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{msg}'); END",
    ]


def check_file(path: Path, connect_ro: Callable[[Path], sqlite3.Connection] | None = None) -> int | None:
    """Return the schema version of an existing file (None if it does not exist) without writing to it."""
    if not path.exists():
        return None
    if path.is_dir():
        raise DatabaseRefused(f"{path} is a folder, not a KetaChart database file")
    with open(path, "rb") as fh:
        head = fh.read(100)
    if len(head) == 0:
        return 0  # an empty file (e.g. just created by a file picker): treat as new
    if not head.startswith(SQLITE_MAGIC):
        if connect_ro is None:
            raise DatabaseRefused(
                f"{path} is not a KetaChart database (not an SQLite file, or encrypted with a key that was not given). "
                "It was not changed."
            )
    try:
        con = (connect_ro or _connect_ro)(path)
        try:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise DatabaseRefused(
            f"{path} cannot be read as a KetaChart database ({exc}). It was not changed. "
            "If it is encrypted, open it with its key; if it is damaged, restore it from the central copy."
        ) from None
    if version == 0 and tables:
        raise DatabaseRefused(
            f"{path} is an SQLite file of another program, not a KetaChart database. It was not changed."
        )
    if version > 0 and "store_meta" not in tables:
        raise DatabaseRefused(f"{path} is not a KetaChart database (no store_meta table). It was not changed.")
    if version > SCHEMA_VERSION:
        raise DatabaseRefused(
            f"{path} was written by a newer KetaChart (schema {version}; this app knows up to {SCHEMA_VERSION}). "
            "Update KetaChart on this computer. The file was not changed."
        )
    return version


def _connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


@dataclass
class InstanceLock:
    """An exclusive lock file beside the database so a second app instance is refused by name."""

    path: Path
    file: IO[bytes] | None

    @classmethod
    def acquire(cls, db_path: Path, holder: str) -> "InstanceLock":
        from ..platform import AlreadyLocked, lock_exclusive, read_at, rewrite

        lock_path = db_path.with_name(db_path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o660)  # umask applies
        f = os.fdopen(fd, "r+b", buffering=0)
        try:
            lock_exclusive(f)
        except AlreadyLocked:
            try:
                info = json.loads(read_at(f, 4096).decode() or "{}")
            except (ValueError, UnicodeDecodeError):
                info = {}
            f.close()
            who = f"{info.get('holder', 'another KetaChart')} (pid {info.get('pid', '?')} on {info.get('host', '?')}, since {info.get('since', '?')})"
            raise DatabaseInUse(f"{db_path} is already open in {who}. Close it there first.") from None
        info = {
            "holder": holder,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        }
        rewrite(f, json.dumps(info).encode())
        return cls(lock_path, f)

    def release(self) -> None:
        if self.file is not None:
            self.file.close()  # closing drops the lock
            self.file = None


def make_engine(
    path: Path, creator: Callable[[], sqlite3.Connection] | None = None, module: object | None = None
) -> Engine:
    """An engine whose every connection is configured for durability and immutability.

    ``creator`` lets the encryption layer supply SQLCipher connections (the key is applied there);
    ``module`` is then their DB-API module (``sqlcipher3.dbapi2``) so SQLAlchemy wraps its errors as usual.
    """
    if creator is None:

        def creator() -> sqlite3.Connection:
            return sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)

    extra = {"module": module} if module is not None else {}
    # A queue of real connections: with the bare "sqlite://" URL SQLAlchemy would pick SingletonThreadPool
    # (one connection per thread), so a read inside a thread's open write transaction would try to BEGIN
    # again on the very same connection.
    pool = {"poolclass": NullPool} if _is_memory(path) else {"poolclass": QueuePool, "pool_size": 4, "max_overflow": 16}
    engine = create_engine("sqlite://", creator=creator, **pool, **extra)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_con, _record):  # noqa: ANN001
        # Python's sqlite3 opens transactions lazily; let SQLAlchemy's "begin" event issue BEGIN instead.
        dbapi_con.isolation_level = None
        cur = dbapi_con.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # noqa: ANN001
        # Writers are serialised by the repository's lock (and other processes by the instance lock),
        # so a deferred BEGIN is enough and readers never take the write lock.
        conn.exec_driver_sql("BEGIN")

    return engine


def _is_memory(path: Path) -> bool:
    return str(path) == ":memory:"


def create_or_migrate(engine: Engine, version: int | None) -> None:
    """Create a new schema, or upgrade an older file in place, one version per transaction."""
    with engine.begin() as conn:
        if not version:
            Base.metadata.create_all(conn)
            for table in APPEND_ONLY_TABLES:
                for ddl in immutability_triggers(table):
                    conn.exec_driver_sql(ddl)
            for table in CHART_TABLES:
                conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_{table}_device_seq ON {table} (device_id, device_seq)")
            conn.exec_driver_sql(f"PRAGMA user_version={SCHEMA_VERSION}")
            return
    while version < SCHEMA_VERSION:
        with engine.begin() as conn:
            MIGRATIONS[version](conn.connection.driver_connection)
            version += 1
            conn.exec_driver_sql(f"PRAGMA user_version={version}")


def integrity_ok(engine: Engine) -> tuple[bool, str]:
    with engine.connect() as conn:
        result = conn.execute(text("PRAGMA integrity_check")).scalar_one()
        conn.rollback()
    return result == "ok", result

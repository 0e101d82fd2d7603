"""Open the chart database the way the app and CLI should: the one place that decides on encryption.

``open_store(path)`` opens or creates an **encrypted** (SQLCipher) chart; the key comes from
:class:`ketachart.store.keys.KeyStore` (``KETACHART_DB_KEY``, the OS keyring, or a 0600 key file beside the
database). ``open_store(path, unencrypted=True)`` opens or creates plain SQLite (demo, tests, inspection).

Refused, with a clear message and without writing a byte to the file (``DatabaseRefused``):

- an encrypted file opened with ``unencrypted=True``, or a plain file opened as encrypted;
- an encrypted file whose key cannot be found or does not open it;
- anything ``ChartStore.open`` refuses (not SQLite, newer schema, in use).

After opening, :func:`verify_store` checks the immutability triggers and this device's hash chain; a file
that was edited by hand is refused (``ChartTampered``) unless ``verify=False`` (the ``ketachart verify``
command reports the problems instead). ``store.encrypted``, ``store.key_source`` and
``store.chain_problems`` record what was found.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..domain.clock import Clock
from . import encryption
from .db import APPEND_ONLY_TABLES, SQLITE_MAGIC, immutability_triggers
from .errors import DatabaseRefused
from .keys import KeyStore
from .models import CHART_TABLES
from .repository import ChartStore

log = logging.getLogger(__name__)


class ChartTampered(DatabaseRefused):
    """The file's hash chain or immutability triggers show it was changed outside KetaChart."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = list(problems)
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        super().__init__(
            f"{path} was changed outside KetaChart ({shown}). It was not opened for charting. "
            "Keep the file for investigation and restore the chart from the central copy; "
            "`ketachart verify --db PATH` lists every problem."
        )


def file_kind(path: Path) -> str:
    """``missing``, ``empty``, ``plain`` (SQLite header) or ``opaque`` (encrypted, or not a database)."""
    if not path.exists():
        return "missing"
    if path.is_dir():
        raise DatabaseRefused(f"{path} is a folder, not a KetaChart database file")
    with open(path, "rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    if not head:
        return "empty"
    return "plain" if head == SQLITE_MAGIC else "opaque"


# Rows of the hash chain checked at every open: the newest ones, where a tamperer covering recent charting
# would have to work. The whole chain is checked by ``ketachart verify`` (``selftest``: a longer tail; a year of 1 Hz
# charting is millions of rows: checking all of them would make every start take minutes).
# Since schema 5 a row of readings is a minute of them: 500 rows (and 500 readings-journal rows) cover about three
# sessions, far more charting time than the 5,000 per-reading rows before, at a tenth of the hashing.
OPEN_VERIFY_TAIL_ROWS = 500


def verify_store(store: ChartStore, tail: int | None = None, stats: dict | None = None) -> list[str]:
    """Problems showing a hand edit: missing immutability triggers, then the hash chain (the newest ``tail``
    rows, or all of it; ``stats["rows_hashed"]`` counts them). Empty when intact."""
    problems: list[str] = []
    with store.engine.connect() as conn:
        stored = dict(conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all())
        conn.rollback()
    for table in APPEND_ONLY_TABLES:
        for suffix, ddl in zip(("no_update", "no_delete"), immutability_triggers(table)):
            name = f"{table}_{suffix}"
            what = f"the trigger protecting {table} ({suffix.replace('_', ' ')})"
            if name not in stored:
                problems.append(f"{what} was removed")
            elif _norm_sql(stored[name]) != _norm_sql(ddl.replace("IF NOT EXISTS ", "", 1)):
                problems.append(f"{what} was replaced by a different trigger of the same name")
    problems.extend(store.verify_chain(tail=tail, stats=stats))
    return problems


def _norm_sql(text: str | None) -> str:
    return " ".join((text or "").split())


def open_store(
    path: Path, *, unencrypted: bool = False, holder: str = "KetaChart", clock: Clock | None = None,
    lock: bool = True, keys: KeyStore | None = None, verify: bool = True,
) -> ChartStore:
    """Open or create the chart at ``path``: encrypted unless ``unencrypted`` (see module docstring)."""
    path = Path(path).expanduser().resolve()
    kind = file_kind(path)
    where = path if path.exists() else path.parent
    if where.exists() and not (os.access(where, os.W_OK) and os.access(path.parent, os.W_OK)):
        raise DatabaseRefused(
            f"{path} is in a read-only location (KetaChart must write beside the chart: its journal and lock). "
            "Copy it somewhere writable, or fix the permissions. The file was not changed.")
    if unencrypted:
        if kind == "opaque":
            raise DatabaseRefused(
                f"{path} is encrypted (or is not a KetaChart database), so it cannot be opened with --unencrypted. "
                "Open it without --unencrypted. The file was not changed."
            )
        store = ChartStore.open(path, clock, holder=holder, lock=lock)
        key_source = None
    else:
        if kind == "plain":
            raise DatabaseRefused(
                f"{path} is an unencrypted database; chart databases are encrypted. Open it with --unencrypted "
                "(a demo or inspection copy), or encrypt it with `ketachart encrypt-db --db PATH`. "
                "The file was not changed."
            )
        keystore = keys or KeyStore()
        key = keystore.find(path)
        if key is None:
            if kind == "opaque":
                raise DatabaseRefused(
                    f"{path} is encrypted and its key was not found (looked in {keystore.where_looked(path)}). "
                    "The file was not changed. Restore the key, or set KETACHART_DB_KEY to the clinic's database "
                    "secret."
                )
            key = keystore.create(path)
            log.info("created a new encrypted chart database; key kept in %s", key.source)
        connect, connect_ro, dbapi = encryption.make_connectors(key)
        store = ChartStore.open(path, clock, holder=holder, lock=lock, connect=connect, connect_ro=connect_ro,
                                dbapi=dbapi)
        key_source = key.source
    store.encrypted = not unencrypted
    store.key_source = key_source
    from ..platform import share_chart_files_with_group

    share_chart_files_with_group(path)  # machine-wide chart: every nurse's login in the ketachart group opens it
    try:
        store.chain_problems = verify_store(store, tail=OPEN_VERIFY_TAIL_ROWS) if verify else []
    except BaseException:
        store.close()
        raise
    if store.chain_problems:
        problems = store.chain_problems
        log.error("refused %s: %d integrity problem(s); first: %s", path, len(problems), problems[0])
        store.close()
        raise ChartTampered(path, problems)
    log.info("opened %s (%s, device %s%s)", path, "encrypted" if store.encrypted else "unencrypted",
             store.device_id, ", chain verified" if verify else "")
    return store

"""A real PostgreSQL for the sync tests, a fresh database per test, and chairs as real SQLite chart files.

Where the server comes from:

1. ``KETACHART_TEST_CENTRAL`` (a superuser URL), when set;
2. otherwise ``scripts/pg-test-cluster.sh start`` (installs PostgreSQL as root if missing, starts a private
   cluster on a loopback port) in a directory of this test run's own, so concurrent runs in the same tree
   cannot stop or restart each other's server; it is stopped at the end of the run.

When neither works the tests skip with the reason, except with ``KETACHART_REQUIRE_CENTRAL=1`` (CI), where
they fail: in CI the sync tests must run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ketachart.domain.clock import FakeClock
from ketachart.store.repository import ChartStore
from ketachart.sync.central import CHAIR_ROLE, init_central
from ketachart.sync.config import CentralConfig

from .helpers import Central

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "pg-test-cluster.sh"
CHAIR_LOGIN = f"kc_test_chair_{os.getpid()}_{secrets.token_hex(3)}"  # roles are cluster-wide: one per run
CHAIR_PASSWORD = "chair-" + secrets.token_hex(8)


def _unavailable(reason: str):
    if os.environ.get("KETACHART_REQUIRE_CENTRAL") == "1":
        pytest.fail(f"KETACHART_REQUIRE_CENTRAL=1 but no PostgreSQL server for the sync tests: {reason}")
    pytest.skip(f"no PostgreSQL server for the sync tests ({reason}); set KETACHART_TEST_CENTRAL to a superuser URL")


_SCRIPT_ENV = dict(os.environ)


def _script(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, env=_SCRIPT_ENV)


@dataclass
class Server:
    admin_url: str
    restartable: bool

    def restart(self) -> None:
        """Restart the server (pg_ctl restart -m fast) and wait until it accepts connections again."""
        if not self.restartable:
            pytest.skip("the server was not started by scripts/pg-test-cluster.sh, so it cannot be restarted here")
        done = _script("restart", timeout=120)
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 60
        while True:  # poll (not sleep for time): the server is back when a connection succeeds
            try:
                psycopg.connect(self.admin_url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def with_db(self, url: str, dbname: str, user: str | None = None, password: str | None = None) -> str:
        parts = psycopg.conninfo.conninfo_to_dict(url)
        parts["dbname"] = dbname
        if user:
            parts["user"] = user
            parts["password"] = password
        return psycopg.conninfo.make_conninfo(**parts)


@pytest.fixture(scope="session")
def pg_server():
    started_here = False
    url = os.environ.get("KETACHART_TEST_CENTRAL")
    restartable = False
    if url:
        if SCRIPT.exists():
            mine = _script("url", timeout=30)
            restartable = mine.returncode == 0 and mine.stdout.strip() == url
    else:
        if not SCRIPT.exists():
            _unavailable(f"{SCRIPT} is missing")
        private = Path(tempfile.mkdtemp(prefix="ketachart-pg-test-"))
        private.chmod(0o755)  # the server user must reach its directory inside
        _SCRIPT_ENV["KETACHART_PG_DIR"] = str(private / "cluster")
        try:
            done = _script("start")
        except (OSError, subprocess.TimeoutExpired) as exc:
            _unavailable(f"scripts/pg-test-cluster.sh start failed: {exc}")
        if done.returncode != 0:
            _unavailable(f"scripts/pg-test-cluster.sh start failed: {done.stderr.strip()[-500:]}")
        url = done.stdout.strip().splitlines()[-1]
        started_here = True
        restartable = True
    try:
        with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        _unavailable(f"cannot connect to the test server: {exc}")
    yield Server(url, restartable)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(CHAIR_LOGIN)))
    if started_here:
        _script("stop", timeout=120)
        shutil.rmtree(Path(_SCRIPT_ENV["KETACHART_PG_DIR"]).parent, ignore_errors=True)


@pytest.fixture
def central(pg_server) -> Central:
    """A new database with the central schema and a chair login (member of ketachart_chair)."""
    dbname = "kc_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    admin_url = pg_server.with_db(pg_server.admin_url, dbname)
    init_central(CentralConfig(admin_url))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (CHAIR_LOGIN,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(CHAIR_LOGIN), sql.Literal(CHAIR_PASSWORD)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(CHAIR_ROLE), sql.Identifier(CHAIR_LOGIN)))
    chair_url = pg_server.with_db(pg_server.admin_url, dbname, CHAIR_LOGIN, CHAIR_PASSWORD)
    handle = Central(pg_server, dbname, admin_url, chair_url)
    yield handle
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
        for login in handle.logins:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))


@pytest.fixture
def make_chair(tmp_path):
    opened: list[ChartStore] = []

    def make(name: str, clock: FakeClock | None = None) -> ChartStore:
        store = ChartStore.open(tmp_path / f"{name}.db", clock or FakeClock())
        store.author = f"nurse.{name}"
        opened.append(store)
        return store

    yield make
    for s in opened:
        s.close()

"""The board tests run against a real PostgreSQL started like the sync tests' (their ``central`` and
``make_chair`` fixtures are reused), and add a board login, a member of the read-only ``ketachart_board`` role."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ketachart.sync.central_board import BOARD_ROLE
from tests.sync.conftest import CHAIR_LOGIN, SCRIPT, Server, _unavailable
from tests.sync.conftest import central, make_chair  # noqa: F401  (fixtures)


@pytest.fixture(scope="session")
def pg_server():
    """The board tests' own server. tests/sync's fixture keeps its cluster directory in a module global, so a
    second registration of that fixture would stop the first one's cluster twice and leave the other running;
    this one keeps its environment to itself (same script, same rules: KETACHART_TEST_CENTRAL first)."""
    url = os.environ.get("KETACHART_TEST_CENTRAL")
    env = None
    if not url:
        if not SCRIPT.exists():
            _unavailable(f"{SCRIPT} is missing")
        private = Path(tempfile.mkdtemp(prefix="ketachart-pg-test-board-"))
        private.chmod(0o755)  # the server user must reach its directory inside
        env = {**os.environ, "KETACHART_PG_DIR": str(private / "cluster")}
        try:
            done = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, timeout=600, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(private, ignore_errors=True)
            _unavailable(f"scripts/pg-test-cluster.sh start failed: {exc}")
        if done.returncode != 0:
            shutil.rmtree(private, ignore_errors=True)
            _unavailable(f"scripts/pg-test-cluster.sh start failed: {done.stderr.strip()[-500:]}")
        url = done.stdout.strip().splitlines()[-1]
    try:
        try:
            with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            _unavailable(f"cannot connect to the test server: {exc}")
        yield Server(url, restartable=False)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(CHAIR_LOGIN)))
    finally:
        if env is not None:
            subprocess.run([str(SCRIPT), "stop"], capture_output=True, text=True, timeout=120, env=env)
            shutil.rmtree(Path(env["KETACHART_PG_DIR"]).parent, ignore_errors=True)


BOARD_LOGIN = f"kc_test_board_{os.getpid()}_{secrets.token_hex(3)}"
BOARD_PASSWORD = "board-" + secrets.token_hex(8)


@pytest.fixture
def board_url(central, _drop_board_login) -> str:  # noqa: F811
    """A login for the board: member of ketachart_board and nothing else."""
    with central.admin() as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (BOARD_LOGIN,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(BOARD_LOGIN), sql.Literal(BOARD_PASSWORD)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(BOARD_ROLE), sql.Identifier(BOARD_LOGIN)))
    yield central.server.with_db(central.server.admin_url, central.dbname, BOARD_LOGIN, BOARD_PASSWORD)


@pytest.fixture(scope="session")
def _drop_board_login(pg_server):  # noqa: F811
    yield
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(BOARD_LOGIN)))


@pytest.fixture
def chair_url(central):  # noqa: F811
    """``chair_url(store, name)``: the URL this chair pushes with - its own enrolled login where the central
    enrols chairs (issue 13's ``Central.url_for``), else the shared chair login."""

    def url(store, name: str | None = None) -> str:
        url_for = getattr(central, "url_for", None)
        return url_for(store, name) if url_for else central.chair_url

    return url

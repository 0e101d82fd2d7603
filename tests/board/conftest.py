"""The board tests reuse the sync tests' real PostgreSQL (one private cluster per run) and add a board login,
a member of the read-only ``ketachart_board`` role."""

from __future__ import annotations

import os
import secrets

import psycopg
import pytest
from psycopg import sql

from ketachart.sync.central_board import BOARD_ROLE
from tests.sync.conftest import central, make_chair, pg_server  # noqa: F401  (fixtures)

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

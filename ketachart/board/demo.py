"""A private central for ``ketachart board --demo``, the screenshot and ``bench board``. No Qt.

Starts a throw-away PostgreSQL with ``scripts/pg-test-cluster.sh`` (or uses the superuser URL given), creates
a database with the central schema, a chair login (``ketachart_chair``) and a board login (``ketachart_board``),
and drops/stops everything at :meth:`DemoCentral.close`.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from ..sync.central import CHAIR_ROLE, init_central
from ..sync.central_board import BOARD_ROLE
from ..sync.config import CentralConfig

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pg-test-cluster.sh"


class DemoCentralError(RuntimeError):
    pass


def with_db(url: str, dbname: str, user: str | None = None, password: str | None = None) -> str:
    parts = psycopg.conninfo.conninfo_to_dict(url)
    parts["dbname"] = dbname
    if user:
        parts["user"], parts["password"] = user, password
    return psycopg.conninfo.make_conninfo(**parts)


class DemoCentral:
    def __init__(self, server_url: str | None = None) -> None:
        self._env: dict | None = None
        self._tmp: Path | None = None
        self._enrolled: list[str] = []
        if server_url is None:
            server_url = self._start_cluster()
        self.server_url = server_url
        self.dbname = "kc_board_" + uuid.uuid4().hex[:10]
        tag = secrets.token_hex(4)
        self.chair_login, self.chair_password = f"kc_demo_chair_{tag}", secrets.token_hex(12)
        self.board_login, self.board_password = f"kc_demo_board_{tag}", secrets.token_hex(12)
        try:
            with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.dbname)))
            self.admin_url = with_db(server_url, self.dbname)
            init_central(CentralConfig(self.admin_url))
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                for login, password, role in ((self.chair_login, self.chair_password, CHAIR_ROLE),
                                              (self.board_login, self.board_password, BOARD_ROLE)):
                    conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                        sql.Identifier(login), sql.Literal(password), sql.Identifier(role)))
        except Exception:
            self.close()
            raise
        self.chair_url = with_db(server_url, self.dbname, self.chair_login, self.chair_password)
        self.board_url = with_db(server_url, self.dbname, self.board_login, self.board_password)

    def url_for(self, device_id: str, name: str) -> str:
        """The login a chair pushes with: its own enrolled login where the central enrols chairs (issue 13),
        else the demo's shared chair login."""
        from ..sync import central as central_mod

        enroll = getattr(central_mod, "enroll_chair", None)
        if enroll is None:
            return self.chair_url
        login, password = enroll(CentralConfig(self.admin_url), name, device_id)
        self._enrolled.append(login)
        return with_db(self.server_url, self.dbname, login, password)

    def _start_cluster(self) -> str:
        if not SCRIPT.exists():
            raise DemoCentralError(
                "the board demo needs scripts/pg-test-cluster.sh (a source checkout) to start a private PostgreSQL; "
                "pass --central URL instead")
        self._tmp = Path(tempfile.mkdtemp(prefix="ketachart-board-demo-"))
        self._tmp.chmod(0o755)
        import os

        self._env = {**os.environ, "KETACHART_PG_DIR": str(self._tmp / "cluster")}
        done = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, timeout=600, env=self._env)
        if done.returncode != 0:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise DemoCentralError(f"could not start a private PostgreSQL: {done.stderr.strip()[-300:]}")
        return done.stdout.strip().splitlines()[-1]

    def close(self) -> None:
        try:
            with psycopg.connect(self.server_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.dbname)))
                for login in (getattr(self, "chair_login", None), getattr(self, "board_login", None), *self._enrolled):
                    if login:
                        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))
        except psycopg.Error:
            pass
        if self._env is not None:
            subprocess.run([str(SCRIPT), "stop"], capture_output=True, text=True, timeout=120, env=self._env)
            self._env = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> "DemoCentral":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""The attacks of issue 13 run against the same private PostgreSQL cluster fixtures as the sync tests (two
chair logins, each enrolled for its own device) and against real SQLCipher chart files edited with their key."""

from __future__ import annotations

import pytest

from tests.sync.conftest import central, make_chair, pg_server  # noqa: F401  - the shared fixtures

KEY = "clinic secret for the security tests"


@pytest.fixture(autouse=True)
def _no_os_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETACHART_KEYRING", "0")
    monkeypatch.setenv("KETACHART_DB_KEY", KEY)
    monkeypatch.delenv("KETACHART_CENTRAL", raising=False)
    monkeypatch.delenv("KETACHART_CENTRAL_CONFIG", raising=False)
    monkeypatch.setattr("ketachart.sync.config.default_config_path",
                        lambda: __import__("pathlib").Path("/nonexistent/ketachart-central.json"))

"""Real chart files in tmp_path with a fake clock; people as the auth layer would hand them over."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ketachart.chair.records import RecordsCommands, Signer
from ketachart.domain.clock import FakeClock
from ketachart.store.open import open_store

T0 = datetime(2026, 4, 6, 13, 0, tzinfo=timezone.utc)
PRESCRIBER = Signer("d.cho", "Dana Cho, MD", "prescriber")
NURSE = Signer("a.morgan", "Alex Morgan, RN", "nurse")
WITNESS = Signer("s.patel", "Sam Patel, RN", "nurse")


@pytest.fixture(autouse=True)
def no_os_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETACHART_KEYRING", "0")
    monkeypatch.delenv("KETACHART_DB_KEY", raising=False)


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "chart.db", unencrypted=True, clock=FakeClock(T0))
    s.author = NURSE.user_id
    yield s
    s.close()


@pytest.fixture
def records(store) -> RecordsCommands:
    return RecordsCommands(store)

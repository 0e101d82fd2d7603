"""Fixtures for accounts, signatures and encryption: real stores in tmp_path, a fake clock, no OS keyring."""

from __future__ import annotations

import pytest

from ketachart.auth import Accounts
from ketachart.auth.passwords import HashParams, SecretHasher
from ketachart.store.open import open_store

# Cheap argon2id parameters keep the suite fast; test_passwords checks the real defaults separately.
FAST = HashParams(time_cost=1, memory_kib=8 * 1024, parallelism=1)


@pytest.fixture(autouse=True)
def no_os_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the developer's real keyring; keys go to key files in tmp_path."""
    monkeypatch.setenv("KETACHART_KEYRING", "0")
    monkeypatch.delenv("KETACHART_DB_KEY", raising=False)


@pytest.fixture
def hasher() -> SecretHasher:
    return SecretHasher(FAST)


@pytest.fixture
def store(tmp_path, clock):
    s = open_store(tmp_path / "chart.db", unencrypted=True, clock=clock)
    yield s
    s.close()


@pytest.fixture
def accounts(store, hasher) -> Accounts:
    """An admin (admin / 'admin-pass'), a nurse (a.morgan / 2468) and a second nurse (s.patel / 1357)."""
    acc = Accounts(store, hasher=hasher)
    acc.create_first_admin("admin", "Pat Admin", "admin-pass")
    admin = acc.current.user
    acc.add_user(admin, "a.morgan", "Alex Morgan, RN", "nurse", "2468")
    acc.add_user(admin, "s.patel", "Sam Patel, RN", "nurse", "1357")
    acc.add_user(admin, "d.cho", "Dana Cho, MD", "prescriber", "9753")
    acc.sign_out()
    return acc

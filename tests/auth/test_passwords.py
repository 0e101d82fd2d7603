"""argon2id with the production parameters; lockout arithmetic."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ketachart.auth import WeakSecret
from ketachart.auth.passwords import SecretHasher
from ketachart.auth.policy import AuthPolicy, fold_failures


def test_production_hash_is_argon2id_with_rfc9106_parameters():
    hasher = SecretHasher()
    encoded = hasher.hash("2468")
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert hasher.verify(encoded, "2468")
    assert not hasher.verify(encoded, "2469")
    assert not hasher.verify(None, "2468")  # no hash set: never verifies
    assert not hasher.verify("garbage", "2468")
    assert not hasher.needs_rehash(encoded)


def test_weaker_old_hashes_still_verify_and_ask_for_a_rehash(hasher):
    old = hasher.hash("2468")
    assert SecretHasher().verify(old, "2468") and SecretHasher().needs_rehash(old)


@pytest.mark.parametrize("secret", ["", "123", "0000", " 1234"])
def test_weak_secrets_are_refused(secret, hasher):
    with pytest.raises(WeakSecret):
        hasher.hash(secret)


def test_delay_doubles_and_lock_expires():
    p = AuthPolicy()
    assert [p.delay_after(k) for k in range(7)] == [0, 1, 2, 4, 8, 16, 30]
    t0 = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
    fails = [(t0 + timedelta(minutes=i), True) for i in range(5)]
    state = fold_failures(fails, t0 + timedelta(minutes=5), p)
    assert state.locked(t0 + timedelta(minutes=5)) and state.locked_until == t0 + timedelta(minutes=19)
    assert fold_failures(fails, t0 + timedelta(minutes=19), p).failures == 0
    assert fold_failures(fails + [(t0 + timedelta(minutes=6), False)], t0 + timedelta(minutes=6), p).failures == 0

"""argon2id hashing of passwords and PINs (argon2-cffi).

Default parameters follow RFC 9106's second recommended option: argon2id, t=3 passes, m=64 MiB,
p=4 lanes, 16-byte salt, 32-byte tag (about 0.1 s on a 2-core CI box; the unlock budget is 0.5 s).
The parameters are stored in each encoded hash, so raising them later still verifies old hashes;
:meth:`SecretHasher.needs_rehash` tells when to re-hash at the next successful sign-in.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .errors import WeakSecret


@dataclass(frozen=True)
class HashParams:
    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4
    salt_len: int = 16
    hash_len: int = 32


DEFAULT_PARAMS = HashParams()
MIN_SECRET_LEN = 4
# An admin adds users, resets PINs and changes clinic policy: a 4-digit PIN (10,000 guesses, 5 per lockout) is
# too little for that. Admins use a password of at least this many characters (issue 12).
MIN_ADMIN_SECRET_LEN = 8


class SecretHasher:
    def __init__(self, params: HashParams = DEFAULT_PARAMS) -> None:
        self.params = params
        self._ph = PasswordHasher(
            time_cost=params.time_cost, memory_cost=params.memory_kib, parallelism=params.parallelism,
            hash_len=params.hash_len, salt_len=params.salt_len, type=Type.ID,
        )
        self._dummy: str | None = None  # made on the first verify (a full hash: ~0.1 s off every start-up)

    def hash(self, secret: str) -> str:
        check_secret(secret)
        return self._ph.hash(secret)

    def verify(self, encoded: str | None, secret: str) -> bool:
        if self._dummy is None:
            # verified against when the user id is unknown, so both cases take the same time; made before
            # looking at ``encoded`` so the first check costs the same whether the id is known or not
            self._dummy = self._ph.hash("not-a-real-secret")
        try:
            return self._ph.verify(encoded or self._dummy, secret or "") and encoded is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        try:
            return self._ph.check_needs_rehash(encoded)
        except InvalidHashError:
            return True


def check_secret(secret: str) -> None:
    """A PIN of at least 4 digits or a password of at least 4 characters, not one repeated character."""
    if not secret or len(secret) < MIN_SECRET_LEN:
        raise WeakSecret(f"A PIN or password needs at least {MIN_SECRET_LEN} characters.")
    if len(set(secret)) == 1:
        raise WeakSecret("A PIN or password cannot be one repeated character.")
    if secret.strip() != secret:
        raise WeakSecret("A PIN or password cannot start or end with a space.")


def check_admin_secret(secret: str) -> None:
    """An admin's secret: everything :func:`check_secret` asks, and at least MIN_ADMIN_SECRET_LEN characters."""
    check_secret(secret)
    if len(secret) < MIN_ADMIN_SECRET_LEN:
        raise WeakSecret(f"An admin password needs at least {MIN_ADMIN_SECRET_LEN} characters "
                         "(admins manage users and clinic policy).")

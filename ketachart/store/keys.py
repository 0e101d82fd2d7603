"""Where the key of an encrypted chart database comes from.

Three sources, tried in this order (docs/SECURITY.md explains the trade-offs):

1. ``KETACHART_DB_KEY``: an admin secret (passphrase) given in the environment. SQLCipher derives the page
   key from it with its own KDF and the per-file salt. Chosen explicitly, so it wins when set.
2. The OS keyring (macOS Keychain, Windows Credential Locker, Secret Service on a Linux desktop): a random
   256-bit key stored under service ``KetaChart chart database`` and the database's absolute path.
3. A key file beside the database (``chart.db.key``, mode 0600, owner only) holding a random 256-bit key,
   for machines without a keyring backend (a headless Linux box, CI). Never inside the database.

A key is *created* only for a database that does not exist yet. For an existing encrypted file whose key
cannot be found nothing is created and the caller refuses the file (untouched).
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

log = logging.getLogger(__name__)

ENV_KEY = "KETACHART_DB_KEY"
ENV_KEYRING = "KETACHART_KEYRING"  # "0"/"off" disables the OS keyring (tests, kiosk images)
KEYRING_SERVICE = "KetaChart chart database"
RAW_KEY_BYTES = 32


@dataclass(frozen=True)
class DbKey:
    """A database key and where it came from. ``repr`` never shows the secret."""

    secret: str = field(repr=False)
    raw: bool  # True: 64 hex digits used directly as the AES key; False: a passphrase (SQLCipher KDF)
    source: str  # human-readable: "OS keyring", "key file /path/chart.db.key", "KETACHART_DB_KEY"

    def pragma(self) -> str:
        """The ``PRAGMA key`` statement for this key (must be the first statement on a connection)."""
        if self.raw:
            return f"PRAGMA key = \"x'{self.secret}'\""
        return "PRAGMA key = '" + self.secret.replace("'", "''") + "'"


def key_file_path(db_path: Path) -> Path:
    """``/data/chart.db`` -> ``/data/chart.db.key`` (next to the database, never inside it)."""
    return db_path.with_name(db_path.name + ".key")


def _valid_raw(text: str) -> bool:
    return len(text) == 2 * RAW_KEY_BYTES and all(c in "0123456789abcdef" for c in text)


class KeyStore:
    """Finds or creates the key of one database file."""

    def __init__(self, *, use_keyring: bool | None = None, env: Mapping[str, str] | None = None) -> None:
        self.env = os.environ if env is None else env
        if use_keyring is None:
            use_keyring = self.env.get(ENV_KEYRING, "1").strip().lower() not in ("0", "off", "no", "false")
        self.use_keyring = use_keyring

    # --- the keyring ----------------------------------------------------------------------------
    def _keyring(self):  # noqa: ANN202
        """The keyring module if a real backend is available, else None."""
        if not self.use_keyring:
            return None
        try:
            import keyring
            from keyring.backends import fail

            backend = keyring.get_keyring()
        except Exception as exc:  # a broken keyring install must not stop charting
            log.warning("OS keyring unavailable: %s", type(exc).__name__)
            return None
        if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
            return None
        return keyring

    def keyring_available(self) -> bool:
        return self._keyring() is not None

    # --- finding and creating -------------------------------------------------------------------
    def where_looked(self, db_path: Path) -> str:
        places = [f"{ENV_KEY} (not set)" if not self.env.get(ENV_KEY) else ENV_KEY]
        places.append("the OS keyring" if self.keyring_available() else "the OS keyring (not available here)")
        places.append(f"the key file {key_file_path(db_path)}")
        return ", ".join(places)

    def find(self, db_path: Path) -> DbKey | None:
        db_path = Path(db_path)
        secret = self.env.get(ENV_KEY)
        if secret:
            return DbKey(secret, raw=False, source=ENV_KEY)
        kr = self._keyring() if _per_user_keyring_ok(db_path) else None
        if kr is not None:
            try:
                stored = kr.get_password(KEYRING_SERVICE, str(db_path))
            except Exception as exc:
                log.warning("could not read the OS keyring: %s", type(exc).__name__)
                stored = None
            if stored and _valid_raw(stored):
                return DbKey(stored, raw=True, source="OS keyring")
        kf = key_file_path(db_path)
        if kf.exists():
            from ..platform import private_file_problem

            problem = private_file_problem(kf)
            if problem:
                log.warning("key file %s %s", kf, problem)
            text = kf.read_text().strip()
            if not _valid_raw(text):
                from .errors import DatabaseRefused

                raise DatabaseRefused(f"the key file {kf} is damaged (not a 256-bit hex key). Nothing was changed.")
            return DbKey(text, raw=True, source=f"key file {kf}")
        return None

    def create(self, db_path: Path) -> DbKey:
        """A new key for a database about to be created."""
        db_path = Path(db_path)
        secret = self.env.get(ENV_KEY)
        if secret:
            return DbKey(secret, raw=False, source=ENV_KEY)
        new = secrets.token_hex(RAW_KEY_BYTES)
        kr = self._keyring() if _per_user_keyring_ok(db_path) else None
        if kr is not None:
            try:
                kr.set_password(KEYRING_SERVICE, str(db_path), new)
                if kr.get_password(KEYRING_SERVICE, str(db_path)) == new:
                    return DbKey(new, raw=True, source="OS keyring")
            except Exception as exc:
                log.warning("could not store the key in the OS keyring (%s); using a key file", type(exc).__name__)
        kf = key_file_path(db_path)
        kf.parent.mkdir(parents=True, exist_ok=True)
        from ..platform import create_private_file

        fd = create_private_file(kf)  # 0600, or 0640 in the machine-wide folder shared with the ketachart group
        try:
            os.write(fd, (new + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return DbKey(new, raw=True, source=f"key file {kf}")


def _per_user_keyring_ok(db_path: Path) -> bool:
    """The machine-wide chart is opened by every nurse's login, so its key never goes in one login's keyring
    (the others could not find it): it is the group-readable key file beside the chart instead."""
    from ..platform import is_machine_wide

    return not is_machine_wide(db_path)

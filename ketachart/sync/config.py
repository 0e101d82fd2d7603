"""Where the central database is and how to log in to it, without ever keeping a secret in the chart.

The URL (``postgresql://user@host:port/dbname?sslmode=verify-full&sslrootcert=/path/ca.pem``, or libpq
``key=value`` form) comes from, in order:

1. ``--central URL`` on the command line (or the ``url`` argument of :meth:`CentralConfig.resolve`);
2. the ``KETACHART_CENTRAL`` environment variable;
3. the config file ``$KETACHART_CENTRAL_CONFIG`` (default ``<user config dir>/ketachart/central.json``), a JSON
   object ``{"url": ..., "sslmode": ..., "sslrootcert": ..., "password": ...}`` that must be readable by its
   owner only (mode 0600): a config file that group or others may read is refused.

The password, when the URL carries none, comes from: the config file's ``password``; the OS keyring (service
``ketachart-central``, user name ``user@host:port/dbname``); a password file named by
``KETACHART_CENTRAL_PASSWORD_FILE`` or the config file's ``password_file`` (0600 enforced); and finally
libpq's own ``~/.pgpass`` / ``PGPASSFILE``. Nothing here writes the URL or password to the chart database
or to a log: :meth:`CentralConfig.display` is the redacted form used in messages and audit events.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping



def _conninfo_to_dict(url: str) -> dict:
    """psycopg (the PostgreSQL driver, about 60 ms to import) is loaded only when a central is configured: a
    standalone chair's start and ``ketachart verify`` ask for the configuration and get "none" without it."""
    from psycopg import conninfo

    return conninfo.conninfo_to_dict(url)

KEYRING_SERVICE = "ketachart-central"
ENV_URL = "KETACHART_CENTRAL"
ENV_CONFIG = "KETACHART_CENTRAL_CONFIG"
ENV_PASSWORD_FILE = "KETACHART_CENTRAL_PASSWORD_FILE"


class CentralRefused(Exception):
    """The central database cannot be used (unreachable, wrong password, no or newer schema, bad config).

    Raised before the local chart is changed. The message says what to do and never contains a password.
    """


def default_config_path() -> Path:
    override = os.environ.get(ENV_CONFIG)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("ketachart")) / "central.json"


def _private_file_text(path: Path, what: str) -> str:
    """Read a secret-bearing file, refusing one that group or others could read (or that is not a file)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CentralRefused(f"the {what} {path} does not exist") from None
    if not stat.S_ISREG(st.st_mode):
        raise CentralRefused(f"the {what} {path} is not a regular file")
    from ..platform import private_file_problem

    problem = private_file_problem(path, st)
    if problem:
        raise CentralRefused(f"the {what} {path} {problem}")
    return path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class CentralConfig:
    """How to reach the central PostgreSQL. ``password`` is kept out of ``repr`` and never displayed."""

    url: str
    sslmode: str | None = None
    sslrootcert: str | None = None
    connect_timeout: int = 10
    password: str | None = field(default=None, repr=False)

    # --- building -------------------------------------------------------------------------------
    @classmethod
    def resolve(
        cls,
        url: str | None = None,
        *,
        sslmode: str | None = None,
        sslrootcert: str | None = None,
        connect_timeout: int = 10,
        env: Mapping[str, str] | None = None,
        config_path: Path | None = None,
        use_keyring: bool = True,
    ) -> "CentralConfig":
        """Find the URL and password as described in the module docstring; raise CentralRefused if none."""
        env = os.environ if env is None else env
        file_cfg: dict = {}
        explicit = config_path or (Path(env[ENV_CONFIG]).expanduser() if env.get(ENV_CONFIG) else None)
        path = explicit or default_config_path()
        if explicit is not None or path.exists():
            try:
                file_cfg = json.loads(_private_file_text(path, "central config file"))
            except ValueError as exc:
                raise CentralRefused(f"the central config file {path} is not valid JSON ({exc})") from None
            if not isinstance(file_cfg, dict):
                raise CentralRefused(f"the central config file {path} must hold a JSON object")
        url = url or env.get(ENV_URL) or file_cfg.get("url")
        if not url:
            raise CentralRefused(
                "no central database configured: pass --central URL, set KETACHART_CENTRAL, or write "
                f"{default_config_path()} (mode 0600) with {{\"url\": \"postgresql://user@host/db\"}}"
            )
        try:
            parts = _conninfo_to_dict(url)
        except Exception as exc:  # psycopg.ProgrammingError for a malformed URL
            raise CentralRefused(f"the central URL is not a valid PostgreSQL URL ({_first_line(exc)})") from None
        cfg = cls(
            url=url,
            sslmode=sslmode or file_cfg.get("sslmode"),
            sslrootcert=sslrootcert or file_cfg.get("sslrootcert"),
            connect_timeout=connect_timeout,
        )
        if parts.get("password"):
            return cfg
        password = file_cfg.get("password")
        if not password and use_keyring:
            password = _keyring_password(cfg.account())
        if not password:
            pw_file = env.get(ENV_PASSWORD_FILE) or file_cfg.get("password_file")
            if pw_file:
                password = _private_file_text(Path(pw_file).expanduser(), "central password file").strip("\r\n")
        return cls(cfg.url, cfg.sslmode, cfg.sslrootcert, cfg.connect_timeout, password or None)

    # --- using ----------------------------------------------------------------------------------
    def parts(self) -> dict:
        return _conninfo_to_dict(self.url)

    def account(self) -> str:
        """``user@host:port/dbname``: the keyring user name and the redacted form shown to people."""
        p = self.parts()
        user = p.get("user") or os.environ.get("PGUSER") or _login_name()
        host = p.get("host") or os.environ.get("PGHOST") or "localhost"
        port = p.get("port") or os.environ.get("PGPORT") or "5432"
        db = p.get("dbname") or os.environ.get("PGDATABASE") or user
        return f"{user}@{host}:{port}/{db}"

    def display(self) -> str:
        """Safe for messages, logs and audit events: no password."""
        return self.account()

    def connect_kwargs(self) -> dict:
        """Keyword arguments for ``psycopg.connect`` beside the URL (TLS, timeout, password, app name)."""
        kwargs: dict = {"connect_timeout": self.connect_timeout, "application_name": "ketachart-sync"}
        if self.sslmode:
            kwargs["sslmode"] = self.sslmode
        if self.sslrootcert:
            kwargs["sslrootcert"] = self.sslrootcert
        if self.password:
            kwargs["password"] = self.password
        return kwargs


def _login_name() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return "postgres"


def _keyring_password(account: str) -> str | None:
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, account)
    except Exception:  # no backend, locked keyring, D-Bus trouble: fall through to the next source
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def redact(text: str, cfg: CentralConfig | None) -> str:
    """Remove a password that might appear in an error text."""
    if cfg is None:
        return text
    secrets = [cfg.password, cfg.parts().get("password")]
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text

"""Where KetaChart keeps its files.

One chart per chair, not per OS login: where nurses sign in to the computer with their own accounts they
must all reach the same chart, so the real chart lives in the machine-wide folder
(``platform.machine_data_dir()``: ProgramData, /Library/Application Support, /var/lib/ketachart) that
only the ``ketachart`` group may use. Demo charts and logs stay per user (platformdirs).
``KETACHART_DATA_DIR`` overrides both (tests, kiosks, a portable install).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from platformdirs import user_data_dir, user_log_dir

from . import platform
from .errors import UserError

ENV_DATA_DIR = "KETACHART_DATA_DIR"


class ChartLocationError(UserError):
    """The machine-wide chart folder is missing or this login may not write it: the admin must act."""


def _override() -> Path | None:
    value = os.environ.get(ENV_DATA_DIR)
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    """The folder of this chair's real chart (machine-wide)."""
    return _override() or platform.machine_data_dir()


def user_dir() -> Path:
    """This OS login's own folder: demo charts."""
    return _override() or Path(user_data_dir("KetaChart", "KetaChart"))


def default_db_path() -> Path:
    """The chair's chart. Refuses with what the admin must do when the machine-wide folder is not usable."""
    override = _override()
    if override is not None:
        return override / "chart.db"
    folder = platform.machine_data_dir()
    check_chart_folder(folder)
    if platform.is_group_shared_dir(folder):
        platform.share_new_files_with_group()  # a colleague's login must be able to open what this one creates
    return folder / "chart.db"


def check_chart_folder(folder: Path) -> None:
    """Raise :class:`ChartLocationError` unless this login can create and write the chart in ``folder``."""
    fix = platform.machine_data_dir_setup(folder)
    alt = f"(or set {ENV_DATA_DIR}, or give a chart file with --db PATH)"
    if not folder.is_dir():
        raise ChartLocationError(
            f"this chair's chart folder {folder} does not exist. The computer's administrator sets it up once: "
            f"{fix} {alt}"
        )
    problem = _not_writable(folder)
    if problem:
        raise ChartLocationError(
            f"this login ({_login()}) cannot write this chair's chart folder {folder} ({problem}). The computer's "
            f"administrator adds this login to the '{platform.GROUP}' group (then sign out and in again); "
            f"to set the folder up: {fix} {alt}"
        )


def _not_writable(folder: Path) -> str | None:
    """Try it for real (ACLs on Windows and group membership decide, not mode bits)."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".ketachart-write-check-"):
            pass
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    for name in ("chart.db", "chart.db-wal", "chart.db.lock"):
        f = folder / name
        if f.exists():
            try:
                with open(f, "r+b"):
                    pass
            except OSError as exc:
                return f"{name}: {exc.strerror or type(exc).__name__}"
    return None


def _login() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # noqa: BLE001 - only used in a message
        return "this user"


def resolve_db(args) -> Path:
    """The chart file a command works on: ``--db PATH``, else the default."""
    db = getattr(args, "db", None)
    return Path(db).expanduser() if db else default_db_path()


def demo_db_path() -> Path:
    """``--demo`` charts into its own database so demo data never mixes with real charts (per login)."""
    return user_dir() / "demo.db"


def log_dir() -> Path:
    override = _override()
    return override / "logs" if override else Path(user_log_dir("KetaChart", "KetaChart"))

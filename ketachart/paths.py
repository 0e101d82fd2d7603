"""Where KetaChart keeps its files (platformdirs), overridable with KETACHART_DATA_DIR."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir, user_log_dir


def data_dir() -> Path:
    override = os.environ.get("KETACHART_DATA_DIR")
    return Path(override) if override else Path(user_data_dir("KetaChart", "KetaChart"))


def default_db_path() -> Path:
    return data_dir() / "chart.db"


def resolve_db(args) -> Path:
    """The chart file a command works on: ``--db PATH``, else the default."""
    db = getattr(args, "db", None)
    return Path(db).expanduser() if db else default_db_path()


def demo_db_path() -> Path:
    """``--demo`` charts into its own database so demo data never mixes with real charts."""
    return data_dir() / "demo.db"


def log_dir() -> Path:
    override = os.environ.get("KETACHART_DATA_DIR")
    return Path(override) / "logs" if override else Path(user_log_dir("KetaChart", "KetaChart"))

"""Logging for the app and CLI: a rotating file in ``paths.log_dir()``, and no patient data in it.

The mechanism that keeps patient data out of logs is *not logging it*: log ids (session, patient, row,
user ids), states, counts and error classes, never names, MRNs, birth dates, phone numbers, free text or
SQL parameters. Two guards back that up:

- SQLAlchemy's loggers are pinned at WARNING whatever the level asked for, because at INFO/DEBUG they
  echo every statement's parameters and result rows (patient names included);
- :class:`RedactingFilter` masks values registered with :func:`register_sensitive` (the chart screen may
  register the open patient's identifiers) and ``MRN``-labelled tokens. It is a safety net, not the rule.

    setup_logging("DEBUG")                    # what ``ketachart`` calls at start (KETACHART_LOG_LEVEL)
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import threading
from pathlib import Path

from .paths import log_dir

LOG_FILE = "ketachart.log"
_HANDLER_NAME = "ketachart-file"
_NOISY = ("sqlalchemy", "sqlalchemy.engine", "sqlalchemy.pool", "sqlalchemy.orm")

_sensitive: set[str] = set()
_sensitive_lock = threading.Lock()
_MRN = re.compile(r"(?i)\b(MRN\s*[:=#]?\s*)(\S+)")


def register_sensitive(*values: str | None) -> None:
    """Mask these exact strings (len >= 3) in every later log record."""
    with _sensitive_lock:
        _sensitive.update(v for v in values if v and len(v) >= 3)


def clear_sensitive() -> None:
    with _sensitive_lock:
        _sensitive.clear()


def redact(text: str) -> str:
    with _sensitive_lock:
        values = sorted(_sensitive, key=len, reverse=True)
    for v in values:
        text = text.replace(v, "[redacted]")
    return _MRN.sub(r"\1[redacted]", text)


class RedactingFilter(logging.Filter):
    """Formats the record once and masks registered values (and the exception text) in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_logging(level: str | int | None = None, directory: Path | None = None, *, redact_values: bool = True,
                  console: bool = False, crash_hook: bool = True) -> Path:
    """Log to ``<log_dir>/ketachart.log`` (5 x 2 MB, rotating). Idempotent; returns the log file path."""
    level = level or os.environ.get("KETACHART_LOG_LEVEL", "INFO")
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        if not isinstance(level, int):
            level = logging.INFO
    directory = Path(directory) if directory else log_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOG_FILE
    root = logging.getLogger()
    for h in list(root.handlers):
        if h.get_name() == _HANDLER_NAME:
            root.removeHandler(h)
            h.close()
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if redact_values:
        handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    if console:
        stream = logging.StreamHandler()
        stream.setFormatter(handler.formatter)
        if redact_values:
            stream.addFilter(RedactingFilter())
        root.addHandler(stream)
    root.setLevel(level)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    if crash_hook:
        _install_crash_hook()
    return path


def _install_crash_hook() -> None:
    """Unhandled exceptions go to the log (through the same filters) before the default hook runs."""
    previous = sys.excepthook

    if getattr(previous, "_ketachart", False):
        return

    def hook(exc_type, exc, tb):  # noqa: ANN001
        logging.getLogger("ketachart.crash").critical("unhandled %s", exc_type.__name__, exc_info=(exc_type, exc, tb))
        previous(exc_type, exc, tb)

    hook._ketachart = True  # type: ignore[attr-defined]
    sys.excepthook = hook

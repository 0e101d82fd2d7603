"""``ketachart selftest``: open the database and the main window offscreen, check both, exit 0.

Used by CI on the PyInstaller bundle, and by a clinic's IT person after installing. Prints one line per
check so a failure says what failed.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError


def run_selftest(db: Path, unencrypted: bool = False) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from .app import create_main_window
    from .domain.clock import SystemClock
    from .store.open import open_store

    checks: list[tuple[str, bool, str]] = []
    clock = SystemClock()
    try:
        store = open_store(db, unencrypted=unencrypted, holder="ketachart selftest", clock=clock, verify=False)
    except (MemoryError, sqlite3.DatabaseError, SQLAlchemyError) as exc:
        return _damaged(exc)
    try:
        try:
            ok, detail = store.integrity_check()
            from .store.open import verify_store

            problems = verify_store(store)  # the whole chain and every trigger, not just the tail checked at open
        except (MemoryError, sqlite3.DatabaseError, SQLAlchemyError) as exc:
            return _damaged(exc)
        checks.append(("database integrity", ok, detail))
        checks.append(("hash chain", not problems, "; ".join(problems[:3]) or "intact"))
        checks.append(("durability", _pragma(store, "synchronous") == 2 and _pragma(store, "journal_mode") == "wal",
                       "WAL, synchronous=FULL"))
        app = QApplication.instance() or QApplication(sys.argv[:1])
        window = create_main_window(store, clock)
        window.show()
        app.processEvents()
        image = window.grab()
        checks.append(("main window", not image.isNull() and image.width() > 0, f"{image.width()}x{image.height()}"))
        window.close()
        import numpy  # noqa: F401  - the plot stack must import inside a bundle too
        import pyqtgraph  # noqa: F401

        checks.append(("plot stack", True, f"pyqtgraph {pyqtgraph.__version__}"))
    finally:
        store.close()
    for name, ok, detail in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    return 0 if all(ok for _, ok, _ in checks) else 1


def _damaged(exc: BaseException) -> int:
    """A damaged page can make SQLite fail in odd ways (even MemoryError): report it, never a traceback."""
    detail = type(exc).__name__ + (f": {str(exc).splitlines()[0]}" if str(exc).strip() else "")
    print(f"FAIL database integrity: the chart file is damaged and cannot be read ({detail}); restore it from the "
          "central copy or a backup")
    return 1


def _pragma(store, name: str):
    with store.engine.connect() as conn:
        value = conn.exec_driver_sql(f"PRAGMA {name}").scalar()
        conn.rollback()
    return value

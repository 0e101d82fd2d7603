"""``ketachart selftest``: open the database and the main window offscreen, check both, exit 0.

Used by CI on the PyInstaller bundle, and by a clinic's IT person after installing. Prints one line per
check so a failure says what failed.

It takes seconds at any chart age: the triggers, the newest ``SELFTEST_TAIL_ROWS`` rows of this chair's
chain (anchored on the row before them, and the counter's last hash), the sync cursor and SQLite's
``quick_check``. Re-hashing every row of a year of charting is ``ketachart verify``'s job, and the output says so.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

SELFTEST_TAIL_ROWS = 50_000  # about a second of re-hashing: far more than open's tail, far less than a year


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
            quick = _pragma(store, "quick_check")  # every page's structure, without index cross-checks
            from .store.open import verify_store

            stats: dict = {}
            problems = verify_store(store, tail=SELFTEST_TAIL_ROWS, stats=stats)
        except (MemoryError, sqlite3.DatabaseError, SQLAlchemyError) as exc:
            return _damaged(exc)
        checks.append(("database integrity", quick == "ok", "quick_check ok" if quick == "ok" else str(quick)))
        checks.append(("hash chain", not problems, "; ".join(problems[:3]) or
                       f"intact (triggers and the newest {stats.get('rows_hashed', 0)} rows re-hashed; the full "
                       "check of every row is `ketachart verify`)"))
        checks.append(("durability", _pragma(store, "synchronous") == 2 and _pragma(store, "journal_mode") == "wal",
                       "WAL, synchronous=FULL"))
        app = QApplication.instance() or QApplication(sys.argv[:1])
        window = create_main_window(store, clock)
        window.show()
        app.processEvents()
        image = window.grab()
        checks.append(("main window", not image.isNull() and image.width() > 0, f"{image.width()}x{image.height()}"))
        from .ui.about import app_icon

        checks.append(("application icon", not window.windowIcon().isNull() and not app_icon().isNull(),
                       f"{len(app_icon().availableSizes())} sizes"))
        window.close()
        import numpy  # noqa: F401  - the plot stack must import inside a bundle too
        import pyqtgraph  # noqa: F401

        checks.append(("plot stack", True, f"pyqtgraph {pyqtgraph.__version__}"))
        checks.append(_central_driver())
        checks.append(_collation())
        checks.append(_alarm_sound())
    finally:
        store.close()
    from . import __version__

    checks.insert(0, ("version", __version__ != "0+unknown", f"KetaChart {__version__}"))
    for name, ok, detail in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    return 0 if all(ok for _, ok, _ in checks) else 1


def _collation() -> tuple[str, bool, str]:
    """Qt's ICU data answers (the Linux bundle ships a trimmed copy: packaging/icu_trim.py)."""
    from PySide6.QtCore import QCollator, QLocale

    c = QCollator(QLocale("en_US"))
    # code-point order would put "Banana" before "apple" and "eclairs" before "éclair"
    ok = c.compare("apple", "Banana") < 0 and c.compare("éclair", "eclairs") < 0
    return ("text collation (ICU)", ok, "en_US" if ok else "ICU collation data missing: names would sort wrongly")


def _alarm_sound() -> tuple[str, bool, str]:
    """The alarm sound files are where this copy keeps its resources (the bundle, /opt/ketachart of the .deb)
    and miniaudio plays them into its null device. A chair without a speaker is not a failed install: the
    app says "alarm sound unavailable" on screen, and this line says which output it found."""
    from .ui.sound import AlarmTone, AudioOut, SoundUnavailable, sounds_dir

    try:
        tone = AlarmTone()
    except (OSError, ValueError) as exc:
        return ("alarm sound", False, f"sound files not found in {sounds_dir()} ({exc})")
    try:
        AudioOut(tone, ("null",)).close()
    except SoundUnavailable as exc:
        return ("alarm sound", False, f"audio library not usable: {exc}")
    try:
        out = AudioOut(tone)
        device = f"plays through {out.backend}"
        out.close()
    except SoundUnavailable as exc:
        device = f"no audio device here, so the screen will say 'alarm sound unavailable' - {exc}"
    return ("alarm sound", True, f"{', '.join(sorted(tone.cycles))} patterns from {sounds_dir()}; {device}")


def _central_driver() -> tuple[str, bool, str]:
    """The PostgreSQL driver for sync loads (the Linux bundle uses the system's libpq: Debian's libpq5)."""
    try:
        import psycopg

        return ("central sync driver", True, f"psycopg {psycopg.__version__} ({psycopg.pq.__impl__}, libpq "
                f"{psycopg.pq.version()})")
    except ImportError as exc:
        return ("central sync driver", False, f"{exc}; install the PostgreSQL client library (Debian: libpq5)")


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

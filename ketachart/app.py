"""The composition root: builds the store, device links, sync and the main window from settings and CLI."""

from __future__ import annotations

import argparse
import os
import sys

from .domain.clock import Clock, SystemClock
from .paths import default_db_path, demo_db_path
from .store.open import open_store
from .store.repository import ChartStore


def create_main_window(store: ChartStore, clock: Clock):
    """The main window for a store; what ``selftest`` and ``run_app`` both build."""
    from .ui.main_window import MainWindow

    return MainWindow(str(store.path), store.device_id)


def run_app(args: argparse.Namespace) -> int:
    from PySide6.QtWidgets import QApplication

    db = args.db or (demo_db_path() if args.demo else default_db_path())
    clock = SystemClock()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("KetaChart")
    store = open_store(db, unencrypted=args.unencrypted or args.demo, clock=clock)
    try:
        window = create_main_window(store, clock)
        window.show()
        if args.screenshot:
            app.processEvents()
            window.grab().save(str(args.screenshot))
            return 0
        return app.exec()
    finally:
        store.close()


if os.environ.get("KETACHART_DEBUG_IMPORTS"):
    print("ketachart.app imported", file=sys.stderr)

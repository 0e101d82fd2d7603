"""The composition root: builds the store, device links, sync and the main window from settings and CLI."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .auth import Accounts, Signatures
from .chair import ChairService
from .domain.clock import Clock, SystemClock
from .hardware.devices import DeviceManager
from .paths import default_db_path, demo_db_path
from .store.open import open_store
from .store.repository import ChartStore

# The Qt-free core above is imported before PySide6 on purpose: once PySide6.QtCore is loaded, every later
# import is checked by PySide's ``__feature__`` hook, which reads the module's whole source file (about
# 0.1 s of a start for the few hundred modules of the store, chair and their libraries).

DEMO_PIN = "2468"  # the demo users' PIN (demo database only): signatures in the demo need it


def __getattr__(name: str):
    """``DEMO_NURSE`` ... still importable from here; :mod:`.demo` itself loads only when a demo runs."""
    if name in ("DEMO_NURSE", "DEMO_PRESCRIBER", "DEMO_WITNESS"):
        from . import demo

        return getattr(demo, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def create_main_window(store: ChartStore, clock: Clock, *, speed: float = 1.0, accounts=None, **options):
    """The main window for a store; what ``selftest`` and ``run_app`` both build.

    Composes the chair: readings cross from device threads through the UI's bridge; the device manager
    (hardware) and the chair service (commands, signatures, alerts, the vitals writer) are Qt-free; the
    controller adapts the service to Qt and the window shows it. ``accounts``: who is signed in (else the
    window asks)."""
    from .ui.bridge import ReadingBridge
    from .ui.about import add_about_button, app_icon
    from .ui.controller import ChairController
    from .ui.main_window import MainWindow

    bridge = ReadingBridge()
    chair = ChairService(store, clock, DeviceManager(bridge, clock), speed=speed,
                         on_writer_report=bridge.writer_report.emit)  # writer thread -> queued to the GUI thread
    accounts = accounts or Accounts(store)
    chair.signatures = Signatures(store, accounts)
    window = MainWindow(store, clock, ChairController(chair, bridge), accounts, **options)
    window.setWindowIcon(app_icon())
    add_about_button(window)
    from .ui.touch import touch_sized

    touch_sized(window.patients, window.presession, window.session, window.discharge)  # >= 44 px targets (issue 12)
    return window


def _demo_sign_in(store: ChartStore, demo_db: Path | None = None):
    """``--demo`` signs in a demo nurse by itself, on its own demo database only (else PermissionDenied).

    The demo nurse, witness and prescriber get the PIN ``DEMO_PIN`` so the demo's e-signatures are real re-authentications.
    Returns the :class:`~ketachart.auth.Accounts` with the demo nurse signed in.
    """
    from .auth import Accounts, PermissionDenied
    from .demo import DEMO_NURSE, DEMO_PRESCRIBER, DEMO_WITNESS
    from .store.models import User

    allowed = Path(demo_db or demo_db_path()).expanduser().resolve()
    if Path(store.path).resolve() != allowed:  # checked before any demo user is written to a real chart
        raise PermissionDenied("Automatic demo sign-in is only possible on the demo database.")
    accounts = Accounts(store)
    # The demo nurse runs the demo floor as its charge nurse, so the demo's "Clinic board…" is there (issue 15);
    # the demo prescriber signs the standing order (issue 16).
    for uid, name, role in ((*DEMO_NURSE, "charge-nurse"), (*DEMO_WITNESS, "nurse"), (*DEMO_PRESCRIBER, "prescriber")):
        row = next((u for u in store.users() if u["user_id"] == uid), None)
        if row is None:
            store.create_user(uid, name, role, accounts.hasher.hash(DEMO_PIN))
        elif not row["password_hash"]:
            store.amend(User, row["id"], "demo PIN set", password_hash=accounts.hasher.hash(DEMO_PIN))
        elif row["role"] != role:
            store.amend(User, row["id"], "demo charge nurse", role=role)
    accounts.sign_in_demo(DEMO_NURSE[0], demo_db=allowed)
    return accounts


def _demo_history(store: ChartStore) -> None:
    """A fresh demo chart gets a demo clinic identity (so every export works, FHIR included) and a few finished
    sessions, so the course view has a history to show."""
    from .store.records import clinic_settings, set_clinic_settings
    from .store.repository import SYSTEM_AUTHOR

    if not clinic_settings(store):
        set_clinic_settings(store, {"clinic_name": "KetaChart demo clinic",
                                    "mrn_system": "https://demo-clinic.example/fhir/mrn"},
                            reason="demo chart", author=SYSTEM_AUTHOR)
    if store.patients():
        return
    from datetime import timedelta

    from .demo import write_demo_session

    now = store.clock.now()
    for days in (9, 6, 2):
        write_demo_session(store, seed=0, start=now - timedelta(days=days, hours=1), monitoring_minutes=125)
    write_demo_session(store, seed=1, start=now - timedelta(days=3, hours=2), monitoring_minutes=125)


class _HistoryInBackground:
    """The first ``--demo`` launch writes its course history (~10 s of hashing and commits) after the window
    has painted, on a thread with its own connection to the same demo file.

    ``write_demo_session`` swaps the store's clock and author while it writes, so it gets a store object of its
    own; it shares the window store's write lock, so the two never write at the same time (no lock upgrade
    race in SQLite) and each new row still takes the next ``device_seq`` in one transaction."""

    def __init__(self, store: ChartStore, on_done) -> None:
        import threading

        self.bg = open_store(store.path, unencrypted=True, clock=store.clock, lock=False, verify=False)
        self.bg.share_write_lock(store)
        self.bg.author = store.author
        self.on_done = on_done
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="demo-history", daemon=True)

    def start(self) -> "_HistoryInBackground":
        from PySide6.QtCore import QTimer

        self.thread.start()
        self.poll = QTimer()
        self.poll.setInterval(250)
        self.poll.timeout.connect(self._check)
        self.poll.start()
        return self

    def _run(self) -> None:
        try:
            _demo_history(self.bg)
        except BaseException as exc:  # the demo must come up even if its history could not be written
            self.error = exc

    def _check(self) -> None:
        if not self.thread.is_alive():
            self.poll.stop()
            if self.error is not None:
                print(f"ketachart: demo history not written: {self.error}", file=sys.stderr)
            self.on_done()

    def finish(self) -> None:
        self.thread.join()
        self.bg.close()


def start_demo_history(window, store: ChartStore) -> "_HistoryInBackground":
    """The first demo launch says that it is preparing data (issue 12) while its history is written, and says
    when it is there (the patient list then shows it)."""
    window.patients.message.show_message("Preparing the demo chart: writing the demo patients' earlier sessions "
                                         "(a few seconds)…", "info")

    def done() -> None:
        window.patients.message.show_message("Demo chart ready: earlier sessions written.", "info")
        if window.stack.currentWidget() is window.patients:
            window.patients.reload()

    return _HistoryInBackground(store, done).start()


def _install_sync(window, store: ChartStore, args: argparse.Namespace):
    """Background sync and its status-bar line when a central database is configured (``--central``,
    ``KETACHART_CENTRAL`` or the config file); ``--demo`` syncs only with an explicit ``--central``."""
    url = getattr(args, "central", None)
    if args.demo and not url:
        return None
    from .sync import CentralConfig, CentralRefused

    try:
        cfg = CentralConfig.resolve(url)
    except CentralRefused as exc:
        if url or os.environ.get("KETACHART_CENTRAL"):
            print(f"ketachart: sync is off: {exc}", file=sys.stderr)
        return None
    from .sync import SyncService
    from .sync.live import LivePush
    from .ui.sync_status import SyncStatus

    service = SyncService(store, cfg)
    status = SyncStatus(window, service)
    # The clinic board: push every few seconds while a session is open, at once on an alert (docs/SYNC.md).
    devices = window.c.devices
    status.live = LivePush(service, chair_name=os.environ.get("KETACHART_CHAIR_NAME") or None,
                           device_states=lambda: {c.name: c.state for c in list(devices.connections.values())}).start()
    return status


def run_app(args: argparse.Namespace) -> int:
    from PySide6.QtWidgets import QApplication

    db = args.db or (demo_db_path() if args.demo else default_db_path())
    speed = float(getattr(args, "speed", 1.0) or 1.0)
    if args.demo:
        from .ui.clock import ScaledClock

        clock: Clock = ScaledClock(speed)
    else:
        clock = SystemClock()
        speed = 1.0
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("KetaChart")
    from . import __version__
    from .ui.about import app_icon

    app.setApplicationVersion(__version__)
    app.setDesktopFileName("ketachart")  # Wayland/X11 match the window to ketachart.desktop and its icon
    app.setWindowIcon(app_icon())
    store = open_store(Path(db), unencrypted=args.unencrypted or args.demo, clock=clock)
    window = None
    sync = None
    syncs: list = []  # sync starts just after the first paint: importing it (PostgreSQL driver) is not free
    history = None
    board_button = None
    try:
        accounts = None
        if args.demo:
            from .auth import AuthError

            try:
                accounts = _demo_sign_in(store)
            except AuthError as exc:
                print(f"ketachart: {exc} (--demo uses {demo_db_path()}; leave out --db)", file=sys.stderr)
                return 2
            if args.autoplay or args.screenshot:
                _demo_history(store)  # scripted runs start from the finished history
        # Otherwise the window opens on its sign-in dialog (first start: the admin-creation dialog);
        # the signed-in user becomes store.author.
        # The autoplay drives the UI without touch or key input, so it would idle-lock within seconds at --speed.
        window = create_main_window(store, clock, speed=speed, theme=getattr(args, "theme", None),
                                    accounts=accounts, idle_min=0 if args.autoplay else None)
        from .ui.board.launch import BoardButton  # "Clinic board…" for admins (issue 15)

        board_button = BoardButton(window, demo=bool(args.demo))
        size = getattr(args, "size", None)
        if size:
            w, h = (int(x) for x in size.lower().split("x"))
            window.resize(w, h)
        autoplay = None
        if not args.demo:  # the chair's own devices, as it had them connected last time
            from .hardware.devices import SetupFile, setup_path_for

            window.c.devices.use_setup_file(SetupFile(setup_path_for(store.path)))
            window.c.devices.reconnect_saved()
        if args.demo:
            from .demo import DEMO_NURSE, DEMO_PRESCRIBER, DEMO_WITNESS
            from .ui.autoplay import Autoplay

            hyper = bool(args.autoplay)
            # an intranasal (Spravato) autoplay has no pump at the chair: nothing to infuse, nothing to alarm
            spravato = bool(args.autoplay) and getattr(args, "route", "iv") == "in"
            window.c.devices.connect_demo(start_t=-15 * 60 if args.autoplay else -10 * 60, hypertensive=hyper,
                                          pump="" if spravato else "bbraun")
            if args.autoplay:
                autoplay = Autoplay(window, clock, DEMO_NURSE, DEMO_WITNESS, prescriber=DEMO_PRESCRIBER,
                                    screen=getattr(args, "autoplay_screen", None),
                                    pin=DEMO_PIN, route=getattr(args, "route", "iv"))
                autoplay.start()
        window.show()
        if args.demo and not (args.autoplay or args.screenshot) and not store.patients():
            history = start_demo_history(window, store)
        if app.platformName() == "offscreen" and not args.screenshot and getattr(args, "quit_after", None) is None:
            # e.g. `make run` over ssh with no display: say so, instead of looking hung
            print("ketachart: no display found, so the window is running offscreen (invisible). Run it in a desktop "
                  "session, or under Xvfb with DISPLAY set. Ctrl+C stops it.", file=sys.stderr, flush=True)
        if os.environ.get("KETACHART_REPORT_STARTUP"):
            from PySide6.QtCore import QTimer

            def first_paint() -> None:
                print(f"ketachart: first paint {time.time():.3f}", file=sys.stderr, flush=True)
                # CPU seconds to here: a figure a loaded machine does not inflate as much as the wall time
                print(f"ketachart: start-up cpu {time.process_time():.3f}", file=sys.stderr, flush=True)
                # what was painted: the sign-in (a new chart) or the patient list, and how long it is
                print(f"ketachart: first screen {type(window.stack.currentWidget()).__name__} "
                      f"{window.patients.table.rowCount()}", file=sys.stderr, flush=True)

            QTimer.singleShot(0, first_paint)
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, lambda: syncs.append(_install_sync(window, store, args)))
        quit_after = getattr(args, "quit_after", None)
        if quit_after is not None:
            from PySide6.QtCore import QTimer

            QTimer.singleShot(int(quit_after * 1000), app.quit)
        if args.screenshot:
            from .ui.autoplay import ScreenshotAt

            shot = ScreenshotAt(window, Path(args.screenshot), args.at, autoplay,
                                screen=getattr(args, "autoplay_screen", None))
            shot.start()
            code = app.exec()
            return shot.exit_code if shot.done else code
        import signal

        from PySide6.QtCore import QTimer

        # Ctrl+C closes cleanly (vitals flushed, ports shut). Python only runs signal handlers when it has
        # control, so a slow idle timer hands it control now and then while Qt's loop waits.
        signal.signal(signal.SIGINT, lambda *_: app.quit())
        wake = QTimer()
        wake.timeout.connect(lambda: None)
        wake.start(500)
        return app.exec()
    finally:
        sync = next((s for s in syncs if s is not None), None)
        if history is not None:
            history.finish()
        if board_button is not None:
            board_button.stop()
        if sync is not None:
            sync.live.stop()
            sync.stop()
        if window is not None:
            window.c.shutdown()
        store.close()


if os.environ.get("KETACHART_DEBUG_IMPORTS"):
    print("ketachart.app imported", file=sys.stderr)

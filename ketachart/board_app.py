"""``ketachart board``: the clinic board's composition root (like ``app.py`` for the chair).

    ketachart board --central URL [--windowed] [--initials]    the board, full screen, with its read-only login
    ketachart board --demo [--chairs N]                          simulated chairs on a private central
    ketachart board --demo --screenshot FILE [--size WxH]        render offscreen once the chairs are in, save, exit

The board signs in with a login that is a member of ``ketachart_board`` (read-only; see docs/SYNC.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def add_subcommands(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("board", parents=[common], help="the clinic board: every chair at a glance, live")
    p.add_argument("--central", metavar="URL", default=None,
                   help="central PostgreSQL URL of the board's read-only login (else $KETACHART_CENTRAL / config)")
    p.add_argument("--sslmode", default=None)
    p.add_argument("--sslrootcert", default=None, metavar="FILE")
    p.add_argument("--demo", action="store_true", help="simulated chairs on a private central (needs PostgreSQL)")
    p.add_argument("--chairs", type=int, default=8, help="with --demo: how many simulated chairs (1-20)")
    p.add_argument("--initials", action="store_true", help="initials and MRN only, whatever the clinic policy says")
    p.add_argument("--windowed", action="store_true", help="a window instead of full screen")
    p.add_argument("--poll-s", type=float, default=30.0, help="fallback re-read of every chair (seconds)")
    p.add_argument("--screenshot", type=Path, default=None, help="save a grab of the board and exit")
    p.add_argument("--size", metavar="WxH", default=None, help="window size, e.g. 1920x1080")
    p.add_argument("--theme", choices=("dark", "light"), default="dark")
    p.add_argument("--quit-after", type=float, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run_board)


def _size(text: str | None) -> tuple[int, int] | None:
    from .errors import UserError

    if not text:
        return None
    try:
        w, h = (int(x) for x in text.lower().split("x"))
        if not (200 <= w <= 10000 and 200 <= h <= 10000):
            raise ValueError
        return w, h
    except ValueError:
        raise UserError(f"--size {text!r}: give WIDTHxHEIGHT in pixels, e.g. 1920x1080") from None


def run_board(args: argparse.Namespace) -> int:
    from .errors import UserError

    size = _size(args.size)
    if args.demo and not (1 <= args.chairs <= 20):
        raise UserError("--chairs must be between 1 and 20")
    if args.poll_s <= 0:
        raise UserError("--poll-s must be above zero")
    if args.demo:
        from .board.demo import DemoCentral, DemoCentralError

        try:
            central = DemoCentral()
        except DemoCentralError as exc:
            raise UserError(str(exc)) from None
        try:
            return _run(args, central.board_url, size, demo=central)
        finally:
            central.close()
    from .sync.config import CentralConfig, CentralRefused

    try:
        cfg = CentralConfig.resolve(args.central, sslmode=args.sslmode, sslrootcert=args.sslrootcert)
    except CentralRefused as exc:
        raise UserError(str(exc)) from None
    kwargs = {**cfg.connect_kwargs(), "application_name": "ketachart-board"}
    return _run(args, cfg.url, size, connect_kwargs=kwargs, display=cfg.display())


def _run(args, url: str, size, *, demo=None, connect_kwargs: dict | None = None, display: str = "") -> int:
    import psycopg
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .board.listen import BoardListener
    from .board.model import BoardModel
    from .board.queries import BoardSource
    from .domain.clock import SystemClock
    from .errors import UserError
    from .ui.board.chart import SessionChartDialog
    from .ui.board.window import BoardWindow
    from .ui.theme import THEMES

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("KetaChart board")
    chairs = []
    tmp = tempfile.TemporaryDirectory(prefix="ketachart-board-chairs-") if demo else None
    try:
        if demo is not None:
            from .board.simulate import SCENARIOS, SimulatedChair

            for i in range(args.chairs):
                chair = SimulatedChair(Path(tmp.name) / f"chair{i + 1}.db", demo.url_for, f"chair-{i + 1}",
                                       SCENARIOS[i % len(SCENARIOS)], seed=i)
                chair.prepare()
                chair.live.pass_once()
                chairs.append(chair)
        try:
            source = BoardSource.connect(url, **(connect_kwargs or {}))
        except psycopg.Error as exc:
            raise UserError(f"cannot connect the board to the central database {display or 'given'}: "
                            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
        model = BoardModel(source, SystemClock(), initials_only=True if args.initials else None)
        palette = THEMES[args.theme]
        window: BoardWindow | None = None

        def open_chart(session_id: str) -> None:
            chart = source.session_chart(session_id)
            if chart:
                title = chart["session"].get("chair") or ""
                dialog = SessionChartDialog(chart, title, palette, window)
                dialog.setModal(False)
                dialog.show()

        listener_factory = None if args.screenshot else (
            lambda on_change: BoardListener(url, on_change, connect_kwargs=connect_kwargs).start())
        window = BoardWindow(model, listener_factory=listener_factory, palette=palette, poll_s=args.poll_s,
                             chart_opener=open_chart)
        if size:
            window.resize(*size)
        window.start()
        if args.screenshot:
            window.resize(*(size or (1920, 1080)))
            window.show()
            app.processEvents()
            window.render()
            app.processEvents()
            args.screenshot.parent.mkdir(parents=True, exist_ok=True)
            if not window.grab().save(str(args.screenshot)):
                raise UserError(f"could not write the screenshot to {args.screenshot}")
            print(f"board screenshot saved to {args.screenshot}")
            window.stop()
            return 0
        if args.windowed or app.platformName() == "offscreen":
            window.show()
        else:
            window.showFullScreen()
        ticks = None
        if chairs:
            ticks = _DemoPlay(chairs)
            ticks.start()
            for chair in chairs:
                chair.live.start()
        if args.quit_after is not None:
            QTimer.singleShot(int(args.quit_after * 1000), app.quit)
        import signal

        signal.signal(signal.SIGINT, lambda *_: app.quit())
        wake = QTimer()
        wake.timeout.connect(lambda: None)
        wake.start(500)
        code = app.exec()
        window.stop()
        if ticks is not None:
            ticks.stop()
        source.close()
        return code
    finally:
        for chair in chairs:
            chair.close()
        if tmp is not None:
            tmp.cleanup()


class _DemoPlay:
    """The demo's chairs chart a reading a second; now and then one raises an alert that its (simulated) nurse
    acknowledges at the chair half a minute later."""

    def __init__(self, chairs) -> None:
        import random

        from PySide6.QtCore import QTimer

        self.chairs = chairs
        self.rng = random.Random(15)
        self.timer = QTimer()
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self._tick)
        self.seconds = 0

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        self.seconds += 1
        for chair in self.chairs:
            chair.tick()
        if self.seconds % 90 == 45:
            live = [c for c in self.chairs if c.session_id and not c.scenario.alert]
            if live:
                self.rng.choice(live).raise_alert("HR 126 above 120 for 5 min")
        if self.seconds % 90 == 75:
            for chair in self.chairs:
                if not chair.scenario.alert:
                    chair.acknowledge_all("Rechecked; patient calm, HR settling")

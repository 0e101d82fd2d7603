"""The ``ketachart`` command.

    ketachart [--demo] [--db PATH]          open the app (``--demo``: built-in simulated devices)
    ketachart demo-session --db PATH        write a complete finished session, print its id last
    ketachart selftest [--db PATH]          open the database and the main window offscreen, check, exit 0

Other subcommands (sim, capture, decode, report, export, sync, central ...) are contributed by their
packages through ``add_subcommands(subparsers, common)``, listed in ``SUBCOMMAND_MODULES``.
Every subcommand accepts ``--db PATH``. Errors a user can act on print one clear line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from . import __version__
from .errors import UserError
from .paths import resolve_db

SUBCOMMAND_MODULES = (
    "ketachart.hardware.cli",
    "ketachart.report.cli",
    "ketachart.sync.cli",
    "ketachart.auth.cli",
    "ketachart.board_app",
)


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", type=Path, default=None, help="chart database file (default: the platform data dir)")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(prog="ketachart", parents=[common], description="Bedside charting for ketamine sessions")
    parser.add_argument("--version", action="version", version=f"KetaChart {__version__}")
    parser.add_argument("--demo", action="store_true", help="connect the built-in simulated monitor and pump")
    parser.add_argument("--speed", type=float, default=1.0, help="run the demo devices' clock faster")
    parser.add_argument("--autoplay", action="store_true", help="play a scripted session through the real UI")
    parser.add_argument("--scenario", default=None, metavar="NAME",
                        help="with --demo: the simulated monitor plays this scenario (see `ketachart sim --help`)")
    parser.add_argument("--screenshot", type=Path, help="save a grab of the main window and exit")
    parser.add_argument("--at", type=float, default=None, metavar="MINUTES", help="session minute for --screenshot")
    parser.add_argument("--unencrypted", action="store_true", help="demo/inspection database without encryption")
    parser.add_argument("--theme", choices=("dark", "light"), default="dark", help="dim-room dark (default) or light")
    parser.add_argument("--size", metavar="WxH", help="window size, e.g. 1280x800 (screenshots)")
    parser.add_argument("--shot-screen", dest="autoplay_screen", choices=("patients", "presession", "discharge"),
                        help="with --autoplay --screenshot: grab that screen when the script has filled it")
    parser.add_argument("--central", metavar="URL", default=None,
                        help="sync with this central PostgreSQL in the background (else KETACHART_CENTRAL / config file)")
    parser.add_argument("--quit-after", type=float, default=None, metavar="SECONDS", help=argparse.SUPPRESS)
    parser.set_defaults(func=_run_app)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo-session", parents=[common], help="write a complete realistic session (fake clock)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--unencrypted", action="store_true", help="leave the database unencrypted for inspection")
    p.add_argument("--hours", type=float, default=None, help="monitoring length (default about 130 min)")
    p.set_defaults(func=_demo_session)

    p = sub.add_parser("scenario-check", parents=[common],
                       help="run every alarm scenario headless; one JSON line each; exit 1 if any differs")
    p.add_argument("--scenario", action="append", metavar="NAME", help="only this scenario (repeatable)")
    p.set_defaults(func=_scenario_check)

    p = sub.add_parser("selftest", parents=[common], help="open the database and main window offscreen and check them")
    p.add_argument("--unencrypted", action="store_true")
    p.set_defaults(func=_selftest)

    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                continue  # that part of the app is not installed in this build
            raise
        module.add_subcommands(sub, common)
    return parser


def _demo_session(args: argparse.Namespace) -> int:
    from .demo import write_demo_session
    from .store.open import open_store

    with open_store(resolve_db(args), unencrypted=args.unencrypted, holder="ketachart demo-session") as store:
        minutes = args.hours * 60 if args.hours else None
        session_id = write_demo_session(store, seed=args.seed, monitoring_minutes=minutes)
    print(session_id)
    return 0


def _scenario_check(args: argparse.Namespace) -> int:
    from .scenarios import SCENARIOS, scenario_check

    unknown = [n for n in args.scenario or () if n not in SCENARIOS]
    if unknown:
        raise UserError(f"no scenario {unknown[0]!r}; scenarios: {', '.join(SCENARIOS)}")
    return scenario_check(args.scenario)


def _selftest(args: argparse.Namespace) -> int:
    from .selftest import run_selftest

    return run_selftest(resolve_db(args), unencrypted=args.unencrypted)


def _run_app(args: argparse.Namespace) -> int:
    from .app import run_app

    if getattr(args, "scenario", None):
        from .hardware.sim.base import use_demo_scenario

        if not use_demo_scenario(args.scenario):
            return 2

    return run_app(args)


def main(argv: list[str] | None = None) -> int:
    from .store.errors import StoreError
    from .domain.errors import ClinicalInputError

    parser = build_parser()
    args = parser.parse_args(argv)
    from .logging_setup import setup_logging

    setup_logging()
    try:
        return int(args.func(args) or 0)
    except (UserError, StoreError, ClinicalInputError) as exc:
        print(f"ketachart: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

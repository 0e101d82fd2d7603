"""The ``ketachart`` command.

    ketachart [--demo] [--db PATH]          open the app (``--demo``: built-in simulated devices)
    ketachart demo-session --db PATH        write a complete finished session, print its id last
    ketachart selftest [--db PATH]          open the database and the main window offscreen, check, exit 0
    ketachart sessions --db PATH [--patient MRN] [--from DATE]   list sessions (id, patient, date, route, status)

Other subcommands (sim, capture, decode, report, export, sync, central ...) are contributed by their
packages through ``add_subcommands(subparsers, common)``, listed in ``SUBCOMMAND_MODULES``; a subcommand
that works on a chart takes ``common`` (``--db PATH``) as a parent, one that does not leaves it out.
Every option has help text (tests/test_cli.py walks the parser). Options go after the command name: the
app's own options (``--demo``, ``--db`` ...) before a command would be ignored, so they are refused.
Errors a user can act on print one clear line and exit 2; output files are checked before any work
(``type=output_path``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from datetime import date
from pathlib import Path

from . import __version__
from .cli_types import check_output_paths, output_path  # noqa: F401  (re-exported for subcommand modules)
from .errors import UserError  # noqa: F401  (re-exported: subcommands raise ketachart.cli.UserError)
from .paths import resolve_db  # noqa: F401  (re-exported)

SUBCOMMAND_MODULES = (
    "ketachart.hardware.cli",
    "ketachart.patients_cli",  # patients import / listen (issue 18)
    "ketachart.report.cli",
    "ketachart.sync.cli",
    "ketachart.auth.cli",
    "ketachart.board_app",
    "ketachart.report.records_cli",  # rems, cs-log, clinic (issue 16)
)

# Which module adds which command, so ``ketachart verify ...`` imports the auth CLI only, not sync's
# PostgreSQL driver, the report stack and the device codecs (a third of a second; tests/test_cli.py checks
# this table against what the modules add). A command not in it gets the full parser, as do help and errors.
COMMAND_MODULES = {
    **dict.fromkeys(("sim", "capture", "listen", "decode", "ports"), "ketachart.hardware.cli"),
    "patients": "ketachart.patients_cli",
    **dict.fromkeys(("report", "export"), "ketachart.report.cli"),
    **dict.fromkeys(("sync", "central"), "ketachart.sync.cli"),
    **dict.fromkeys(("users", "policy", "verify", "encrypt-db"), "ketachart.auth.cli"),
    "board": "ketachart.board_app",
    **dict.fromkeys(("rems", "order", "cs-reconcile", "cs-log", "handout", "clinic"), "ketachart.report.records_cli"),
}


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", type=Path, default=None, help="chart database file (default: this chair's machine-wide chart)")
    return common


def _app_parser(common: argparse.ArgumentParser, cls=argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The app's own options (no subcommands yet)."""
    parser = cls(prog="ketachart", parents=[common], description="Bedside charting for ketamine sessions")
    parser.add_argument("--version", action="version", version=f"KetaChart {__version__}")
    parser.add_argument("--demo", action="store_true", help="connect the built-in simulated monitor and pump")
    parser.add_argument("--speed", type=float, default=1.0, help="run the demo devices' clock faster")
    parser.add_argument("--autoplay", action="store_true", help="play a scripted session through the real UI")
    parser.add_argument("--scenario", default=None, metavar="NAME",
                        help="with --demo: the simulated monitor plays this scenario (see `ketachart sim --help`)")
    parser.add_argument("--screenshot", type=output_path, metavar="FILE.png", help="save a grab of the main window and exit")
    parser.add_argument("--at", type=float, default=None, metavar="MINUTES", help="session minute for --screenshot")
    parser.add_argument("--unencrypted", action="store_true", help="demo/inspection database without encryption")
    parser.add_argument("--theme", choices=("dark", "light", "system"), default=None,
                        help="dim-room dark, light, or the OS's (this run; default: the chair's remembered choice)")
    parser.add_argument("--size", metavar="WxH", help="window size, e.g. 1280x800 (screenshots)")
    parser.add_argument("--route", choices=("iv", "in"), default="iv",
                        help="with --autoplay: iv (IV ketamine, default) or in (intranasal esketamine, Spravato)")
    parser.add_argument("--shot-screen", dest="autoplay_screen", choices=("patients", "presession", "discharge"),
                        help="with --autoplay --screenshot: grab that screen when the script has filled it")
    parser.add_argument("--central", metavar="URL", default=None,
                        help="sync with this central PostgreSQL in the background (else KETACHART_CENTRAL / config file)")
    parser.add_argument("--quit-after", type=float, default=None, metavar="SECONDS", help=argparse.SUPPRESS)
    parser.set_defaults(func=_run_app)
    return parser


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; ``only``: a module from ``SUBCOMMAND_MODULES`` whose commands are the only
    contributed ones added (the built-in commands are always there)."""
    common = _common()
    parser = _app_parser(common)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo-session", parents=[common], help="write a complete realistic session (fake clock)")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed writes the same session")
    p.add_argument("--unencrypted", action="store_true", help="leave the database unencrypted for inspection")
    p.add_argument("--hours", type=float, default=None, help="monitoring length (default about 130 min)")
    p.add_argument("--route", choices=("iv", "in"), default="iv",
                   help="iv: IV ketamine infusion (default); in: intranasal esketamine (Spravato)")
    p.set_defaults(func=_demo_session)

    p = sub.add_parser("scenario-check", parents=[common],
                       help="run every alarm scenario headless; one JSON line each; exit 1 if any differs")
    p.add_argument("--scenario", action="append", metavar="NAME", help="only this scenario (repeatable)")
    p.set_defaults(func=_scenario_check)

    p = sub.add_parser("selftest", parents=[common], help="open the database and main window offscreen and check them")
    p.add_argument("--unencrypted", action="store_true", help="the chart database is unencrypted (demo, tests)")
    p.set_defaults(func=_selftest)

    p = sub.add_parser("sessions", parents=[common], help="list sessions: id, patient, date, route, status")
    p.add_argument("--patient", metavar="MRN", help="only this patient's sessions (medical record number)")
    p.add_argument("--from", dest="since", metavar="DATE", type=_iso_date,
                   help="only sessions on or after this local date (YYYY-MM-DD)")
    p.add_argument("--unencrypted", action="store_true", help="the chart database is unencrypted (demo, tests)")
    p.set_defaults(func=_sessions)

    for name in SUBCOMMAND_MODULES if only is None else (only,):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                continue  # that part of the app is not installed in this build
            raise
        module.add_subcommands(sub, common)
    return parser


class _NotJustTheApp(Exception):
    pass


class _TryParser(argparse.ArgumentParser):
    def error(self, message):  # noqa: D102 - the full parser says it, with the subcommands in its usage
        raise _NotJustTheApp(message)


def _app_launch_args(argv: list[str]) -> argparse.Namespace | None:
    """``ketachart [app options]`` parsed without importing every subcommand's package (sync, report, board,
    device tools: about a third of the start-up time). Anything else (a command, help, version, an error)
    returns None, and the full parser handles it exactly as before."""
    if any(a == "--" or (len(a) > 2 and ("--help".startswith(a) or "--version".startswith(a))) or a == "-h"
           or (a.startswith("-") and not a.startswith("--") and "h" in a) for a in argv):
        return None
    try:
        args, extra = _app_parser(_common(), _TryParser).parse_known_args(argv)
    except _NotJustTheApp:
        return None
    if extra:
        return None
    args.command = None
    return args


def _command_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser for this command line: when it starts with a contributed command's name, only that
    command's module is imported; anything else (app options first, help, a typo) gets the full parser."""
    module = COMMAND_MODULES.get(argv[0]) if argv else None
    return build_parser(only=module) if module else build_parser()


def _demo_session(args: argparse.Namespace) -> int:
    from .demo import write_demo_session
    from .store.open import open_store

    with open_store(resolve_db(args), unencrypted=args.unencrypted, holder="ketachart demo-session") as store:
        minutes = args.hours * 60 if args.hours else None
        session_id = write_demo_session(store, seed=args.seed, monitoring_minutes=minutes, route=args.route.upper())
    print(session_id)
    return 0


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-03-01") from None


def _sessions(args: argparse.Namespace) -> int:
    """``ketachart sessions``: one line per session, so report and export need no database browser."""
    from .store.listing import has_patient_with_mrn, list_sessions
    from .store.open import open_store

    path = resolve_db(args)
    if not path.exists():
        raise UserError(f"no database at {path}")
    with open_store(path, unencrypted=args.unencrypted, holder="ketachart sessions", lock=False) as store:
        if args.patient and not has_patient_with_mrn(store, args.patient):
            raise UserError(f"no patient with MRN {args.patient} in {path}")
        rows = list_sessions(store, mrn=args.patient, since=args.since)
    if not rows:
        print("no sessions" + (f" on or after {args.since}" if args.since else ""), file=sys.stderr)
        return 0
    table = [("SESSION", "MRN", "PATIENT", "DATE", "ROUTE", "STATUS")]
    table += [(r.id, r.mrn, r.patient_name, r.started.astimezone().strftime("%Y-%m-%d %H:%M"), r.route, r.status)
              for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
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

    argv = sys.argv[1:] if argv is None else list(argv)
    args = _app_launch_args(argv) or _command_parser(argv).parse_args(argv)
    misplaced = _app_options_before_command(argv, args)
    if misplaced:
        print(f"ketachart: {' '.join(misplaced)} before `{args.command}` would be ignored; "
              f"put the command first: ketachart {args.command} {' '.join(misplaced)} ...", file=sys.stderr)
        return 2
    from .logging_setup import setup_logging

    try:
        check_output_paths(args)
        setup_logging()
        return int(args.func(args) or 0)
    except (UserError, StoreError, ClinicalInputError) as exc:
        print(f"ketachart: {exc}", file=sys.stderr)
        return 2
    except (PermissionError, FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        if not exc.filename:
            raise
        print(f"ketachart: cannot use {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _app_options_before_command(argv: list[str], args: argparse.Namespace) -> list[str]:
    """The app's own options given before a subcommand name (``ketachart --db X report``): argparse would
    quietly drop them for the subcommand's defaults, e.g. report on another chart than the one named."""
    command = getattr(args, "command", None)
    if not command or command not in argv:
        return []
    return [a for a in argv[: argv.index(command)] if a.startswith("-")]


if __name__ == "__main__":
    sys.exit(main())

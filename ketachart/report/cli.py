"""``ketachart report`` and ``ketachart export``.

    ketachart report --db PATH --session ID -o FILE.pdf [--paper a4|letter]
    ketachart export --db PATH --session ID --format fhir|csv -o FILE

Both open the chart through ``open_store`` (encrypted unless ``--unencrypted``) without taking the instance
lock, so a report can be printed while the chair app is open. Each run is audited (``print`` / ``export``
with ids, format and fingerprint only, never patient data). An unknown session exits 2 with one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone
from pathlib import Path


def add_subcommands(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("report", parents=[common], help="print a session summary to PDF")
    p.add_argument("--session", required=True, metavar="ID", help="session id")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FILE.pdf")
    p.add_argument("--paper", choices=("a4", "letter"), default="a4")
    p.add_argument("--unencrypted", action="store_true", help="the chart database is unencrypted (demo, tests)")
    p.set_defaults(func=_report)

    e = subparsers.add_parser("export", parents=[common], help="export a session as FHIR R4 or CSV")
    e.add_argument("--session", required=True, metavar="ID", help="session id")
    e.add_argument("--format", required=True, choices=("fhir", "csv"))
    e.add_argument("-o", "--output", required=True, type=Path, metavar="FILE")
    e.add_argument("--unencrypted", action="store_true", help="the chart database is unencrypted (demo, tests)")
    e.set_defaults(func=_export)


def _open(args: argparse.Namespace, holder: str):
    from ..errors import UserError
    from ..paths import resolve_db
    from ..store.open import open_store

    path = resolve_db(args)
    if not path.exists():
        raise UserError(f"no database at {path}")
    return open_store(path, unencrypted=args.unencrypted, holder=holder, lock=False)


def _check_session(store, session_id: str) -> None:
    from ..errors import UserError
    from ..store.readmodels import session_exists

    if not session_exists(store, session_id):
        raise UserError(f"no session {session_id} in {store.path}; `ketachart demo-session` prints the id of a "
                        "demo session")


def _audit(store, action: str, session_id: str, details: dict) -> int:
    try:
        store.audit(action, f"sessions:{session_id}", details)
    except Exception as exc:  # the file is written; say clearly that the audit entry is missing
        print(f"ketachart: {args_output_note(details)} written, but the {action} could not be audited: {exc}",
              file=sys.stderr)
        return 1
    return 0


def args_output_note(details: dict) -> str:
    return f"the {details.get('format', 'file')} file"


def ensure_gui_app():
    """A QGuiApplication for fonts (offscreen when there is no display). Returns it."""
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance()
    if app is None:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and sys.platform.startswith("linux"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QGuiApplication(["ketachart-report"])
    return app


def _report(args: argparse.Namespace) -> int:
    from .model import build_summary

    store = _open(args, "ketachart report")
    try:
        _check_session(store, args.session)
        summary = build_summary(store, args.session, datetime.now(timezone.utc))
        _app = ensure_gui_app()
        from .render import render_pdf

        pages = render_pdf(summary, args.output, args.paper)
        status = _audit(store, "print", args.session, {"format": "pdf", "pages": pages, "paper": args.paper,
                                                       "fingerprint": summary.fingerprint})
    finally:
        store.close()
    print(f"{args.output}: {pages} page(s), record fingerprint {summary.fingerprint}"
          + (" - IN PROGRESS, not a final record" if summary.in_progress else ""))
    return status


def _export(args: argparse.Namespace) -> int:
    from ..store.fingerprint import record_fingerprint
    from .settings import ReportSettings

    store = _open(args, "ketachart export")
    try:
        _check_session(store, args.session)
        tmp = args.output.with_name(args.output.name + ".part")
        if args.format == "fhir":
            from .fhir import build_bundle, bundle_json

            bundle = build_bundle(store, args.session)
            tmp.write_text(bundle_json(bundle), encoding="utf-8")
            count = len(bundle["entry"])
        else:
            from .csv_export import write_csv

            zone, _ = ReportSettings.resolve(store).zone()
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                count = write_csv(store, args.session, fh, zone)
        tmp.replace(args.output)
        fingerprint, _ = record_fingerprint(store, args.session)
        status = _audit(store, "export", args.session, {"format": args.format, "entries": count,
                                                        "fingerprint": fingerprint})
    finally:
        store.close()
    print(f"{args.output}: {count} {'bundle entries' if args.format == 'fhir' else 'rows'}")
    return status

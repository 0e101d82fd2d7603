"""``ketachart report`` and ``ketachart export``.

    ketachart report --db PATH --session ID -o FILE.pdf [--paper a4|letter]
    ketachart export --db PATH --session ID --format fhir|csv -o FILE
        [--max-entries N] [--vitals all|per-minute]   (fhir)    [--excel]   (csv)

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
    from ..cli_types import output_path

    p = subparsers.add_parser("report", parents=[common], help="print a session summary to PDF")
    p.add_argument("--session", required=True, metavar="ID", help="session id")
    p.add_argument("-o", "--output", required=True, type=output_path, metavar="FILE.pdf", help="the PDF file to write")
    p.add_argument("--paper", choices=("a4", "letter"), default="a4", help="paper size (default a4)")
    p.add_argument("--unencrypted", action="store_true", help="the chart database is unencrypted (demo, tests)")
    p.set_defaults(func=_report)

    e = subparsers.add_parser("export", parents=[common], help="export a session as FHIR R4 or CSV")
    e.add_argument("--session", required=True, metavar="ID", help="session id")
    e.add_argument("--format", required=True, choices=("fhir", "csv"), help="FHIR R4 JSON bundle or CSV")
    e.add_argument("-o", "--output", required=True, type=output_path, metavar="FILE", help="the file to write")
    e.add_argument("--unencrypted", action="store_true", help="the chart database is unencrypted (demo, tests)")
    add_export_options(e)
    e.set_defaults(func=_export)


def add_export_options(e: argparse.ArgumentParser) -> None:
    """What an EHR or a spreadsheet needs to take the export as it is (issue 18)."""
    e.add_argument("--max-entries", type=int, metavar="N", default=None,
                   help="fhir: split into standalone transaction bundles of at most N entries, written as "
                        "FILE-001.json, FILE-002.json ...")
    e.add_argument("--vitals", choices=("all", "per-minute"), default="all",
                   help="fhir: every stored reading (default) or one Observation per parameter per minute "
                        "(median, with the range) for EHRs that refuse 1 Hz data")
    e.add_argument("--excel", action="store_true",
                   help="csv: for spreadsheets: UTF-8 with BOM, clinic local times, patient and session on every row")


def split_paths(output: Path, count: int) -> list[Path]:
    """FILE.json -> FILE-001.json ... (one file per bundle of a split export)."""
    return [output.with_name(f"{output.stem}-{i:03d}{output.suffix}") for i in range(1, count + 1)]


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
    from ..errors import UserError
    from ..store.fingerprint import record_fingerprint

    if args.format == "csv" and (args.max_entries is not None or args.vitals != "all"):
        raise UserError("--max-entries and --vitals are for --format fhir")
    if args.format == "fhir" and args.excel:
        raise UserError("--excel is for --format csv")
    store = _open(args, "ketachart export")
    try:
        _check_session(store, args.session)
        written = write_export(store, args.session, args.format, args.output, max_entries=args.max_entries,
                               vitals=args.vitals, excel=args.excel)
        fingerprint, _ = record_fingerprint(store, args.session)
        details = {"format": args.format, "entries": written.count, "fingerprint": fingerprint}
        if written.files > 1:
            details["files"] = written.files
        if args.format == "fhir" and args.vitals != "all":
            details["vitals"] = args.vitals
        status = _audit(store, "export", args.session, details)
    finally:
        store.close()
    for path in written.paths:
        print(f"{path}: {written.counts[path]} {'bundle entries' if args.format == 'fhir' else 'rows'}")
    return status


class Written:
    """What an export wrote: the files and how many entries (bundle entries or CSV rows) in each."""

    def __init__(self) -> None:
        self.counts: dict[Path, int] = {}

    @property
    def paths(self) -> list[Path]:
        return list(self.counts)

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    @property
    def files(self) -> int:
        return len(self.counts)


def write_export(store, session_id: str, fmt: str, output: Path, *, max_entries: int | None = None,
                 vitals: str = "all", excel: bool = False, progress=None) -> Written:
    """Write one session's FHIR or CSV export (the command and the app's Export button share it).

    Each file is written to ``.part`` and renamed, so a reader never sees half a file. ``progress(done, total)``
    is called as the work goes (from the caller's thread)."""
    from .settings import ReportSettings

    written = Written()
    report = progress or (lambda done, total: None)
    if fmt == "fhir":
        from .fhir import FhirOptions, build_bundles, bundle_json

        options = FhirOptions.resolve(store, vitals=vitals, max_entries=max_entries)
        report(0, 2)
        bundles = build_bundles(store, session_id, options=options)
        paths = [output] if max_entries is None else split_paths(output, len(bundles))
        report(1, 1 + len(bundles))
        for i, (path, bundle) in enumerate(zip(paths, bundles), start=2):
            _atomic_write(path, bundle_json(bundle))
            written.counts[path] = len(bundle["entry"])
            report(i, 1 + len(bundles))
    else:
        from .csv_export import write_csv

        zone, _ = ReportSettings.resolve(store).zone()
        report(0, 1)
        tmp = output.with_name(output.name + ".part")
        with open(tmp, "w", newline="", encoding="utf-8-sig" if excel else "utf-8") as fh:
            count = write_csv(store, session_id, fh, zone, excel=excel)
        tmp.replace(output)
        written.counts[output] = count
        report(1, 1)
    return written


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)

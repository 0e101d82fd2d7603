"""``ketachart patients import FILE.csv [--dry-run] [--map "Header=field" ...]`` and
``ketachart patients listen [--host H] [--port N]`` (HL7 ADT^A04/A08 over MLLP).

Both write demographics through the store's patient API (:mod:`ketachart.patients_import`); an invalid file
exits 2 with every problem listed and changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_subcommands(subparsers, common: argparse.ArgumentParser) -> None:  # noqa: ANN001
    patients = subparsers.add_parser("patients", parents=[common], help="bring patients in from a file or the EHR")
    sub = patients.add_subparsers(dest="patients_command", metavar="ACTION", required=True)
    p = sub.add_parser("import", parents=[common], help="create or update patients from a CSV file",
                       description="Accepted headers: MRN, Family name/Last name, Given name/First name, "
                                   "Birth date/DOB (YYYY-MM-DD), Sex/Gender, Weight (kg), Phone.")
    p.add_argument("file", type=Path, metavar="FILE.csv", help="CSV with a header row (UTF-8, comma or semicolon)")
    p.add_argument("--dry-run", action="store_true", help="check the file and say what would change; write nothing")
    p.add_argument("--map", action="append", metavar="HEADER=FIELD",
                   help="take column HEADER as FIELD (mrn, family_name, given_name, birth_date, sex, weight_kg, "
                        "phone); repeatable")
    p.add_argument("--unencrypted", action="store_true", help="the chart database is unencrypted (demo, tests)")
    p.set_defaults(func=_import)
    p = sub.add_parser("listen", parents=[common], help="take HL7 ADT^A04/A08 on a port (MLLP) and update demographics")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=2575, help="TCP port (default 2575; 0 picks a free one)")
    p.add_argument("--unencrypted", action="store_true", help="the chart database is unencrypted (demo, tests)")
    p.set_defaults(func=_listen)


def _open(args: argparse.Namespace, holder: str):
    from .errors import UserError
    from .paths import resolve_db
    from .store.open import open_store

    path = resolve_db(args)
    if not path.exists():
        raise UserError(f"no database at {path}")
    # a writer: takes the chart's instance lock like the app (one writer per chart file at a time)
    return open_store(path, unencrypted=args.unencrypted, holder=holder)


def _import(args: argparse.Namespace) -> int:
    from .patients_import import import_csv, parse_map

    mapping = parse_map(args.map)
    store = _open(args, "ketachart patients import")
    try:
        result = import_csv(store, args.file, mapping=mapping, dry_run=args.dry_run)
    finally:
        store.close()
    for line in result.lines():
        print(line)
    if args.dry_run:
        print("dry run: nothing was written")
    return 0


def _listen(args: argparse.Namespace) -> int:
    from .errors import UserError
    from .hardware.codecs.hl7_adt import Authority
    from .patients_adt import AdtHandler, AdtServer
    from .report.fhir import FhirOptions
    from .report.settings import ReportSettings

    store = _open(args, "ketachart patients listen")
    try:
        settings = ReportSettings.resolve(store)
        options = FhirOptions.resolve(settings=settings)  # refuses a missing or foreign MRN system
        handler = AdtHandler(store, Authority(options.mrn_system, settings.mrn_namespace))
        try:
            server = AdtServer(handler, args.host, args.port)
        except OSError as exc:
            raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
        print(f"PORT tcp://{args.host}:{server.port}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            print(f"stopped: {handler.counts}", file=sys.stderr)
    finally:
        store.close()
    return 0

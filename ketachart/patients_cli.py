"""``ketachart patients import FILE.csv [--dry-run] [--map "Header=field" ...]`` and
``ketachart patients listen [--host H] [--port N]`` (HL7 ADT^A04/A08 over MLLP).

Both write demographics through the store's patient API (:mod:`ketachart.patients_import`); an invalid file
exits 2 with every problem listed and changes nothing.

An admin links two records of one person (issue 13), with their PIN as for ``ketachart users``:
``ketachart patients duplicates --as ADMIN``, ``ketachart patients link --keep ID --merge ID --reason TEXT --as ADMIN``
and ``ketachart patients unlink --merge ID --reason TEXT --as ADMIN``. Bad input: exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_subcommands(subparsers, common: argparse.ArgumentParser) -> None:  # noqa: ANN001
    patients = subparsers.add_parser("patients", help="bring patients in from a file or the EHR; link duplicates (admins)")
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
    add_link_subcommands(sub, common)


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


# --- linking two records of one person (issue 13): admins, with their PIN like `ketachart users` ----------
def add_link_subcommands(sub, common: argparse.ArgumentParser) -> None:  # noqa: ANN001
    def admin_parser(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_)
        p.add_argument("--as", dest="admin", required=True, metavar="ADMIN", help="your admin user id (asks for your PIN)")
        p.add_argument("--unencrypted", action="store_true", help="the chart database is unencrypted (demo, tests)")
        return p

    p = admin_parser("duplicates", "list records that share an MRN (possible duplicates) and the links in force")
    p.set_defaults(func=_duplicates)
    p = admin_parser("link", "link two records of one person: MERGE reads as KEEP from now on (nothing deleted)")
    p.add_argument("--keep", required=True, metavar="ID", help="the patient id that stays")
    p.add_argument("--merge", required=True, metavar="ID", help="the patient id that reads as the kept one")
    p.add_argument("--reason", required=True, help="why (kept with the link and in the audit trail)")
    p.set_defaults(func=_link)
    p = admin_parser("unlink", "end a link: the merged record reads as itself again (the link stays on record)")
    p.add_argument("--merge", required=True, metavar="ID", help="the patient id that was linked into another")
    p.add_argument("--reason", required=True, help="why (kept with the amendment and in the audit trail)")
    p.set_defaults(func=_unlink)


def _as_admin(args: argparse.Namespace, fn) -> int:  # noqa: ANN001
    from .auth.cli import _secret, _with_accounts

    def run(accounts) -> int:  # noqa: ANN001
        session = accounts.sign_in(args.admin, _secret(f"PIN/password for {args.admin}: "))
        accounts.require(session.user, "link-patients")
        return fn(accounts, session.user)

    return _with_accounts(args, run)


def _name(p: dict) -> str:
    return f"{p['family_name']}, {p['given_name']}".strip(", ")


def _duplicates(args: argparse.Namespace) -> int:
    from .auth import patient_admin

    def run(accounts, admin) -> int:  # noqa: ANN001
        groups = patient_admin.duplicates(accounts, admin)
        for group in groups:
            print(f"possible duplicate, MRN {group[0]['mrn']}:")
            for p in group:
                print(f"  {p['patient_id']}  {_name(p)}  born {p['birth_date']}")
        for link in patient_admin.links(accounts, admin):
            print(f"linked: {link['merged_id']} reads as {link['kept_id']} (by {link['author']}, "
                  f"{link['recorded_at']:%Y-%m-%d %H:%M} UTC: {link['reason']})")
        if not groups:
            print("no possible duplicates")
        return 0

    return _as_admin(args, run)


def _link(args: argparse.Namespace) -> int:
    from .auth import patient_admin

    def run(accounts, admin) -> int:  # noqa: ANN001
        row = patient_admin.link(accounts, admin, args.keep, args.merge, args.reason)
        print(f"linked {row['merged_id']} into {row['kept_id']}: both records stay; it reads as one patient "
              "(other chairs apply it after a sync with an admin login)")
        return 0

    return _as_admin(args, run)


def _unlink(args: argparse.Namespace) -> int:
    from .auth import patient_admin

    def run(accounts, admin) -> int:  # noqa: ANN001
        row = patient_admin.unlink(accounts, admin, args.merge, args.reason)
        print(f"unlinked {row['merged_id']} from {row['kept_id']}: it reads as its own patient again")
        return 0

    return _as_admin(args, run)

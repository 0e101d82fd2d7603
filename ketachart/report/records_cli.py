"""``ketachart rems``, ``ketachart cs-log`` and ``ketachart clinic``: the records an audit asks for.

    ketachart rems --db PATH --session ID -o FILE.pdf          the one-page Spravato REMS monitoring form
    ketachart rems --db PATH --due                             finished Spravato sessions whose form is not submitted
    ketachart rems --db PATH --session ID --mark-submitted --as USER [--note TEXT]
    ketachart cs-log --db PATH --from DATE --to DATE [-o FILE.csv|.pdf]
    ketachart handout --db PATH --session ID -o FILE.pdf [--given]
    ketachart rems --db PATH --mrn MRN --enrolment-id ID --as USER [--reason TEXT]
    ketachart order --db PATH --mrn MRN [--route IV|IN] --drug ketamine|esketamine (--dose-mg N | --mg-per-kg N) [--minutes N] --as PRESCRIBER
    ketachart order --db PATH --session ID ... (an order for one stored session, before prepare_dose)
    ketachart cs-reconcile --db PATH --session ID --delivered MG [--remaining MG] [--note TEXT] --as USER
    ketachart clinic show [--history]
    ketachart clinic set KEY=VALUE ... --reason TEXT --as ADMIN

Bad input prints one line and exits 2, changing nothing. Secrets are read as ``ketachart users`` reads them.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timezone
from pathlib import Path


def add_subcommands(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    enc = argparse.ArgumentParser(add_help=False)
    enc.add_argument("--unencrypted", action="store_true", help="the chart database is unencrypted (demo, tests)")

    p = subparsers.add_parser("rems", parents=[common, enc], help="Spravato REMS monitoring form: print, list due, mark submitted")
    p.add_argument("--session", metavar="ID", help="session id")
    p.add_argument("-o", "--output", type=Path, metavar="FILE.pdf", help="write the REMS form page here")
    p.add_argument("--paper", choices=("letter", "a4"), default="letter", help="paper size (default letter)")
    p.add_argument("--due", action="store_true", help="list finished Spravato sessions whose form is not submitted")
    p.add_argument("--mark-submitted", action="store_true", help="chart that the session's form was submitted")
    p.add_argument("--as", dest="user", help="your user id (for --mark-submitted)")
    p.add_argument("--note", default="", help="e.g. the REMS portal confirmation number")
    p.add_argument("--mrn", help="with --enrolment-id: record the patient's REMS enrolment id")
    p.add_argument("--enrolment-id", dest="enrolment_id", help="the patient's Spravato REMS enrolment id")
    p.add_argument("--reason", default="", help="why an enrolment id is corrected")
    p.set_defaults(func=_rems)

    p = subparsers.add_parser("order", parents=[common, enc],
                              help="a prescriber signs the standing order for a patient's course (or one session's)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--mrn", help="the patient: the order stands for their course of --route")
    which.add_argument("--session", metavar="ID", help="a stored session the order is for (instead of --mrn)")
    p.add_argument("--route", choices=("IV", "IN"), help="with --mrn: the course's route (default: IV for ketamine, "
                   "IN for esketamine)")
    p.add_argument("--drug", required=True, choices=("ketamine", "esketamine"), help="the drug ordered")
    p.add_argument("--dose-mg", dest="dose_mg", help="dose in mg (or --mg-per-kg)")
    p.add_argument("--mg-per-kg", dest="mg_per_kg", help="dose in mg/kg (or --dose-mg)")
    p.add_argument("--minutes", help="infusion length (IV)")
    p.add_argument("--as", dest="user", required=True, help="your prescriber user id")
    p.set_defaults(func=_order)

    p = subparsers.add_parser("cs-reconcile", parents=[common, enc], help="reconcile the session's vial")
    p.add_argument("--session", required=True, metavar="ID", help="session id")
    p.add_argument("--delivered", required=True, help="mg delivered to the patient")
    p.add_argument("--remaining", default="0", help="mg left in the vial and kept (default 0)")
    p.add_argument("--note", default="", help="what happened, when the vial does not reconcile")
    p.add_argument("--as", dest="user", required=True, help="who signs a discrepancy")
    p.set_defaults(func=_cs_reconcile)

    p = subparsers.add_parser("cs-log", parents=[common, enc], help="controlled-substance log for a period")
    p.add_argument("--from", dest="date_from", required=True, metavar="DATE", help="first day, YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", required=True, metavar="DATE", help="last day, YYYY-MM-DD")
    p.add_argument("-o", "--output", type=Path, metavar="FILE.csv|FILE.pdf", help="write the log here (CSV or PDF by the ending); default: print it")
    p.set_defaults(func=_cs_log)

    p = subparsers.add_parser("handout", parents=[common, enc], help="print the patient's discharge instructions")
    p.add_argument("--session", required=True, metavar="ID", help="session id")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FILE.pdf", help="write the handout here")
    p.add_argument("--given", action="store_true", help="also chart that it was given (with its version)")
    p.set_defaults(func=_handout)

    clinic = subparsers.add_parser("clinic", help="show or change the clinic's identity (admins)")
    csub = clinic.add_subparsers(dest="clinic_command", metavar="ACTION", required=True)
    p = csub.add_parser("show", parents=[common, enc], help="print the clinic settings as KEY=VALUE lines")
    p.add_argument("--history", action="store_true", help="every version, with who, when and why")
    p.set_defaults(func=_clinic_show)
    p = csub.add_parser("set", parents=[common, enc], help="record a new version of the clinic settings")
    p.add_argument("changes", nargs="+", metavar="KEY=VALUE", help='e.g. clinic_phone="+1 555 0100"')
    p.add_argument("--reason", required=True, help="why the clinic settings change")
    p.add_argument("--as", dest="admin", required=True, help="your admin user id (asks for your PIN)")
    p.set_defaults(func=_clinic_set)


def _user_error(msg: str):
    from ..errors import UserError

    return UserError(msg)


def _open(args: argparse.Namespace, holder: str, lock: bool = False):
    from ..paths import resolve_db
    from ..store.open import open_store

    path = resolve_db(args)
    if not path.exists():
        raise _user_error(f"no database at {path}")
    return open_store(path, unencrypted=args.unencrypted, holder=holder, lock=lock)


def _secret(prompt: str) -> str:
    from ..auth.cli import _secret as read_secret

    return read_secret(prompt)


def _settings_clock(store):
    from .settings import LocalClock, ReportSettings

    settings = ReportSettings.resolve(store)
    zone, _ = settings.zone()
    return settings, LocalClock(zone)


# --- rems --------------------------------------------------------------------------------------------


def _signed_in(args: argparse.Namespace, store, fn):
    """Run ``fn(signer)`` as the user of ``--as`` once their PIN/password is checked; exit 2 on a wrong one."""
    from ..auth.accounts import Accounts
    from ..auth.errors import AuthError
    from ..chair.records import Signer

    accounts = Accounts(store)
    try:
        try:
            who = accounts.sign_in(args.user, _secret(f"PIN/password for {args.user}: ")).user
        except AuthError as exc:
            print(f"ketachart: {exc}", file=sys.stderr)
            return 2, None
        return 0, fn(Signer(who.user_id, who.display_name, who.role))
    finally:
        accounts.sign_out("command finished")


def _number(text: str | None, what: str) -> float | None:
    if text in (None, ""):
        return None
    try:
        return float(text)
    except ValueError:
        raise _user_error(f"{what} must be a number, not {text!r}") from None


def _write_signed(args: argparse.Namespace, command: str, prepare, done) -> int:  # noqa: ANN001
    """Open the chart for writing; ``prepare(store)`` checks the request (exit 2 on a bad one) and returns what
    to chart as the ``--as`` user once their secret is checked (``fn(signer) -> row``); say ``done(row)``."""
    store = _open(args, command, lock=True)
    try:
        status, row = _signed_in(args, store, prepare(store))
    finally:
        store.close()
    if status == 0:
        print(done(row))
    return status


def _chart_signed(args: argparse.Namespace, command: str, chart, done: str) -> int:  # noqa: ANN001
    """Chart ``chart(commands, signer)`` on ``--session`` (``order``, ``cs-reconcile``)."""
    from ..chair.records import RecordsCommands
    from ..store.readmodels import session_exists

    def prepare(store):  # noqa: ANN001, ANN202
        if not session_exists(store, args.session):
            raise _user_error(f"no session {args.session} in {store.path}")
        commands = RecordsCommands(store)
        return lambda who: chart(commands, who)

    return _write_signed(args, command, prepare, lambda row: f"{done}: {row['text']}")


def _order(args: argparse.Namespace) -> int:
    from ..chair.records import RecordsCommands

    if args.mrn is None:  # one stored session's own order
        if args.route:
            raise _user_error("--route goes with --mrn (a session has its own route)")
        return _chart_signed(args, "ketachart order", lambda rc, who: rc.sign_order(
            args.session, who, drug=args.drug, dose_mg=args.dose_mg, mg_per_kg=args.mg_per_kg, minutes=args.minutes),
            "order signed")

    def prepare(store):  # noqa: ANN001, ANN202 - the standing order every pre-session of the course cites (issue 16)
        patient = next((p for p in store.patients() if p["mrn"] == args.mrn.strip()), None)
        if patient is None:
            raise _user_error(f"no patient with MRN {args.mrn}")
        route = args.route or ("IN" if args.drug == "esketamine" else "IV")
        rc = RecordsCommands(store)
        return lambda who: rc.sign_standing_order(patient["patient_id"], route, who, drug=args.drug,
                                                  dose_mg=args.dose_mg, mg_per_kg=args.mg_per_kg, minutes=args.minutes)

    return _write_signed(args, "ketachart order", prepare, lambda row: f"order signed: {row['text']}")


def _cs_reconcile(args: argparse.Namespace) -> int:
    delivered = _number(args.delivered, "--delivered")
    remaining = _number(args.remaining, "--remaining") or 0.0
    return _chart_signed(args, "ketachart cs-reconcile", lambda rc, who: rc.reconcile_vial(
        args.session, delivered_mg=delivered, remaining_mg=remaining, signer=who, note=args.note),
        "vial reconciliation charted")


def _rems_enrol(args: argparse.Namespace) -> int:
    from ..store.records import rems_enrolment, set_rems_enrolment

    def prepare(store):  # noqa: ANN001, ANN202
        patient = next((p for p in store.patients() if p["mrn"] == args.mrn.strip()), None)
        if patient is None:
            raise _user_error(f"no patient with MRN {args.mrn}")
        if rems_enrolment(store, patient["patient_id"]) not in (None, args.enrolment_id.strip()) \
                and not args.reason.strip():
            raise _user_error("the patient already has a REMS enrolment id: say why it changes with --reason")
        return lambda who: set_rems_enrolment(store, patient["patient_id"], args.enrolment_id, args.reason or None)

    return _write_signed(args, "ketachart rems", prepare, lambda _row: f"REMS enrolment id recorded for MRN {args.mrn}")


def _rems(args: argparse.Namespace) -> int:
    if args.enrolment_id or args.mrn:
        if not (args.enrolment_id and args.mrn and args.user):
            raise _user_error("record an enrolment id with --mrn MRN --enrolment-id ID --as USER")
        return _rems_enrol(args)
    if args.due:
        if args.session or args.output or args.mark_submitted:
            raise _user_error("--due lists every form due; give it without --session, -o or --mark-submitted")
        return _rems_due(args)
    if not args.session:
        raise _user_error("give --session ID (with -o FILE.pdf or --mark-submitted), or --due")
    if args.mark_submitted:
        if args.output:
            raise _user_error("print the form and mark it submitted in two steps")
        return _rems_mark(args)
    if not args.output:
        raise _user_error("give -o FILE.pdf for the form")
    if args.output.suffix.lower() != ".pdf":
        raise _user_error("the REMS form is written as a PDF: -o FILE.pdf")
    from ..store.readmodels import session_exists
    from .cli import ensure_gui_app
    from .model import build_summary

    store = _open(args, "ketachart rems")
    try:
        if not session_exists(store, args.session):
            raise _user_error(f"no session {args.session} in {store.path}")
        summary = build_summary(store, args.session, datetime.now(timezone.utc))
        if summary.rems is None:
            raise _user_error("that is an IV ketamine session; the REMS form is for intranasal esketamine (Spravato)")
        ensure_gui_app()
        from .paper import render_doc
        from .rems_paper import rems_doc

        pages = render_doc(rems_doc(summary), args.output, args.paper)
        store.audit("print", f"sessions:{args.session}", {"format": "rems-pdf", "pages": pages,
                                                          "fingerprint": summary.fingerprint})
    finally:
        store.close()
    gaps = sum(1 for _, fields in summary.rems for f in fields if f.flag)
    print(f"{args.output}: REMS monitoring form, {pages} page(s)"
          + (f"; {gaps} field(s) flagged - check before submitting" if gaps else ""))
    return 0


def _rems_due(args: argparse.Namespace) -> int:
    from .rems_paper import rems_due

    store = _open(args, "ketachart rems")
    try:
        _, clk = _settings_clock(store)
        today = clk.local(datetime.now(timezone.utc)).date()
        due = rems_due(store, today, clk)
    finally:
        store.close()
    if not due:
        print("no REMS forms due")
        return 0
    for d in due:
        print(f"{d.session_date}  {d.status:<22} {d.patient:<28} MRN {d.mrn:<12} session {d.session_id}")
    return 0


def _rems_mark(args: argparse.Namespace) -> int:
    from ..auth.accounts import Accounts
    from ..auth.errors import AuthError
    from ..store.readmodels import session_exists
    from ..store.records import mark_rems_submitted

    if not args.user:
        raise _user_error("say who submitted the form with --as USER")
    store = _open(args, "ketachart rems", lock=True)
    accounts = Accounts(store)
    try:
        if not session_exists(store, args.session):
            raise _user_error(f"no session {args.session} in {store.path}")
        try:
            who = accounts.sign_in(args.user, _secret(f"PIN/password for {args.user}: ")).user
        except AuthError as exc:
            print(f"ketachart: {exc}", file=sys.stderr)
            return 2
        mark_rems_submitted(store, args.session, by=who.user_id, printed_name=who.display_name, note=args.note)
    finally:
        try:
            accounts.sign_out("command finished")
        finally:
            store.close()
    print(f"REMS form of session {args.session} marked submitted by {who.display_name}")
    return 0


def _handout(args: argparse.Namespace) -> int:
    from ..store.readmodels import session_exists
    from .cli import ensure_gui_app
    from .handout import handout_doc
    from .paper import render_doc

    if args.output.suffix.lower() != ".pdf":
        raise _user_error("the handout is written as a PDF: -o FILE.pdf")
    store = _open(args, "ketachart handout", lock=args.given)
    try:
        if not session_exists(store, args.session):
            raise _user_error(f"no session {args.session} in {store.path}")
        ensure_gui_app()
        render_doc(handout_doc(store, args.session, datetime.now(timezone.utc)), args.output, "letter")
        if args.given:
            from ..chair.records import RecordsCommands

            RecordsCommands(store).give_handout(args.session)
    finally:
        store.close()
    print(f"{args.output}: discharge instructions" + (" (charted as given)" if args.given else ""))
    return 0


# --- clinic -------------------------------------------------------------------------------------------


def _clinic_show(args: argparse.Namespace) -> int:
    from ..domain.records import CLINIC_KEYS
    from ..store.records import clinic_history

    store = _open(args, "ketachart clinic")
    try:
        history = clinic_history(store)
        settings, _ = _settings_clock(store)
    finally:
        store.close()
    if args.history:
        if not history:
            print("no clinic settings recorded yet")
        for v in history:
            print(f"version {v.version}  {v.at:%Y-%m-%d %H:%M} UTC  by {v.author}: {v.reason}")
            for k, val in v.settings.items():
                print(f"    {k}={val}")
        return 0
    current = history[-1].settings if history else {}
    print(f"# clinic settings version {history[-1].version if history else 0}"
          + ("" if history else " (none recorded: environment and defaults in use)"))
    for key in CLINIC_KEYS:
        attr = "tz_name" if key == "clinic_tz" else key
        print(f"{key}={current.get(key, getattr(settings, attr, ''))}")
    return 0


def _clinic_set(args: argparse.Namespace) -> int:
    from ..auth.accounts import Accounts
    from ..auth.errors import AuthError
    from ..domain.records import check_clinic_setting
    from ..store.records import set_clinic_settings

    if not (args.reason or "").strip():
        raise _user_error("say why with --reason; nothing was changed")
    changes: dict[str, str] = {}
    for item in args.changes:
        if "=" not in item:
            raise _user_error(f"{item!r}: write KEY=VALUE; nothing was changed")
        key, value = item.split("=", 1)
        key = key.strip()
        changes[key] = check_clinic_setting(key, value)  # bad values are refused before any PIN is asked
    store = _open(args, "ketachart clinic", lock=True)
    accounts = Accounts(store)
    try:
        try:
            admin = accounts.sign_in(args.admin, _secret(f"PIN/password for {args.admin}: ")).user
            accounts.require(admin, "manage-policy")
        except AuthError as exc:
            print(f"ketachart: {exc}", file=sys.stderr)
            return 2
        done = set_clinic_settings(store, changes, reason=args.reason, author=admin.user_id)
    finally:
        try:
            accounts.sign_out("command finished")
        finally:
            store.close()
    print(f"clinic settings version {done.version} recorded ({', '.join(sorted(changes))} changed)")
    return 0


# --- cs-log ---------------------------------------------------------------------------------------------


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise _user_error(f"{what} must be a date YYYY-MM-DD, not {text!r}") from None


def _cs_log(args: argparse.Namespace) -> int:
    first, last = _day(args.date_from, "--from"), _day(args.date_to, "--to")
    if last < first:
        raise _user_error("--to is before --from")
    if args.output and args.output.suffix.lower() not in (".csv", ".pdf"):
        raise _user_error("-o must name a .csv or .pdf file")
    from .cs_log import cs_log_doc, cs_log_rows, write_cs_csv

    store = _open(args, "ketachart cs-log")
    try:
        settings, clk = _settings_clock(store)
        rows = cs_log_rows(store, first, last, clk)
        if args.output and args.output.suffix.lower() == ".pdf":
            from .cli import ensure_gui_app
            from .paper import render_doc

            ensure_gui_app()
            render_doc(cs_log_doc(rows, first, last, settings), args.output, "letter")
        elif args.output:
            tmp = args.output.with_name(args.output.name + ".part")
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                write_cs_csv(rows, fh)
            tmp.replace(args.output)
        else:
            write_cs_csv(rows, sys.stdout)
        store.audit("export", "cs-log", {"format": args.output.suffix.lower()[1:] if args.output else "csv",
                                         "entries": len(rows), "from": first.isoformat(), "to": last.isoformat()})
    finally:
        store.close()
    if args.output:
        flagged = sum(1 for r in rows if r.flag)
        print(f"{args.output}: {len(rows)} entries" + (f", {flagged} flagged" if flagged else ""))
    return 0

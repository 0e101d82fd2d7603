"""``ketachart users``, ``ketachart verify`` and ``ketachart encrypt-db``.

    ketachart users add USER_ID --name "Alex Morgan, RN" --role nurse --as ADMIN   (first start: no --as, role admin)
    ketachart users list --as ADMIN
    ketachart users deactivate USER_ID --reason "left the clinic" --as ADMIN
    ketachart users reset-pin USER_ID --as ADMIN
    ketachart users set-role USER_ID --role charge-nurse --reason "..." --as ADMIN
    ketachart policy show                      the clinic policy in force (thresholds, dose limits, timers)
    ketachart policy set KEY=VALUE ... --as ADMIN   a new policy version (every alert/check records it)
    ketachart verify --db PATH                 check the hash chain and triggers (exit 1 if hand-edited)
    ketachart encrypt-db --db PLAIN --out NEW  write an encrypted copy of an unencrypted chart

Secrets are prompted for without echo; when stdin is not a terminal (scripts, tests) they are read one per
line from stdin: the admin's secret first, then the new PIN/password.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from .errors import AuthError


def add_subcommands(subparsers, common: argparse.ArgumentParser) -> None:  # noqa: ANN001
    enc = argparse.ArgumentParser(add_help=False)
    enc.add_argument("--unencrypted", action="store_true", help="the database is plain SQLite (demo/inspection)")

    users = subparsers.add_parser("users", help="manage user accounts (admins)")
    usub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)

    p = usub.add_parser("add", parents=[common, enc], help="add a user (the first user is the admin)")
    p.add_argument("user_id", help="sign-in name, e.g. j.smith")
    p.add_argument("--name", required=True, help="printed name, as it appears on signatures")
    from .accounts import ROLES

    p.add_argument("--role", choices=ROLES, required=True,
                   help="what the user may do (charge-nurse: as nurse, plus the clinic board)")
    p.add_argument("--as", dest="admin", metavar="ADMIN", help="your admin user id (not needed for the very first admin)")
    p.set_defaults(func=_users_add)

    p = usub.add_parser("list", parents=[common, enc], help="list users, active and inactive")
    p.add_argument("--as", dest="admin", required=True, metavar="ADMIN", help="your admin user id (asks for your PIN)")
    p.set_defaults(func=_users_list)

    p = usub.add_parser("deactivate", parents=[common, enc], help="mark a user inactive (their charting stays)")
    p.add_argument("user_id", help="the user to deactivate")
    p.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    p.add_argument("--as", dest="admin", required=True, metavar="ADMIN", help="your admin user id (asks for your PIN)")
    p.set_defaults(func=_users_deactivate)

    p = usub.add_parser("reset-pin", parents=[common, enc], help="set a new PIN/password (lifts a lockout)")
    p.add_argument("user_id", help="the user whose PIN/password is reset")
    p.add_argument("--as", dest="admin", required=True, metavar="ADMIN", help="your admin user id (asks for your PIN)")
    p.set_defaults(func=_users_reset)

    p = usub.add_parser("set-role", parents=[common, enc], help="give a user another role (e.g. charge-nurse)")
    p.add_argument("user_id", help="the user whose role changes")
    p.add_argument("--role", choices=ROLES, required=True, help="the new role")
    p.add_argument("--reason", required=True, help="why (kept with the amendment and in the audit trail)")
    p.add_argument("--as", dest="admin", required=True, metavar="ADMIN", help="your admin user id (asks for your PIN)")
    p.set_defaults(func=_users_set_role)

    policy = subparsers.add_parser("policy", help="show or change the clinic policy (admins)")
    psub = policy.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    p = psub.add_parser("show", parents=[common, enc], help="print the policy in force as KEY=VALUE lines")
    p.set_defaults(func=_policy_show)
    p = psub.add_parser("set", parents=[common, enc], help="record a new policy version with some values changed")
    p.add_argument("changes", nargs="+", metavar="KEY=VALUE", help="e.g. dose_cap_mg=120 nibp_interval_min=10")
    p.add_argument("--reason", required=True, help="why the clinic changed it (kept in the audit trail)")
    p.add_argument("--as", dest="admin", required=True, metavar="ADMIN", help="your admin user id (asks for your PIN)")
    p.set_defaults(func=_policy_set)

    p = subparsers.add_parser("verify", parents=[common, enc], help="detect hand edits: hash chain and triggers")
    p.add_argument("--central", metavar="URL", default=None,
                   help="also compare with the central's copy (default: the configured central, when reachable)")
    p.set_defaults(func=_verify)

    p = subparsers.add_parser("encrypt-db", parents=[common], help="write an encrypted copy of an unencrypted chart")
    from ..cli_types import output_path

    p.add_argument("--out", type=output_path, required=True, help="the new encrypted file")
    p.set_defaults(func=_encrypt_db)


def _db(args: argparse.Namespace) -> Path:
    from ..paths import resolve_db

    return resolve_db(args)


def _secret(prompt: str, *, confirm: bool = False) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Again: ") != first:
        from ..errors import UserError

        raise UserError("the two entries differ; nothing was changed")
    return first


def _with_accounts(args: argparse.Namespace, fn) -> int:  # noqa: ANN001
    from ..store.open import open_store
    from .accounts import Accounts

    path = _db(args)
    if not path.exists():
        from ..errors import UserError

        raise UserError(f"no database at {path}")
    with open_store(path, unencrypted=args.unencrypted, holder="ketachart users") as store:
        accounts = Accounts(store)
        try:
            return fn(accounts)
        except AuthError as exc:
            print(f"ketachart: {exc}", file=sys.stderr)
            return 2
        finally:
            accounts.sign_out("command finished")


def _admin(accounts, args: argparse.Namespace):  # noqa: ANN001, ANN202
    session = accounts.sign_in(args.admin, _secret(f"PIN/password for {args.admin}: "))
    accounts.require(session.user, "manage-users")
    return session.user


def _users_add(args: argparse.Namespace) -> int:
    from ..store.open import open_store

    def run(accounts) -> int:  # noqa: ANN001
        if accounts.needs_first_admin() and not args.admin:
            if args.role != "admin":
                print("ketachart: the first user must be the admin (--role admin)", file=sys.stderr)
                return 2
            accounts.create_first_admin(args.user_id, args.name, _secret("New PIN/password: ", confirm=True))
            print(f"created the first admin {args.user_id.strip().lower()}")
            return 0
        if not args.admin:
            print("ketachart: say which admin you are with --as ADMIN", file=sys.stderr)
            return 2
        admin = _admin(accounts, args)
        row = accounts.add_user(admin, args.user_id, args.name, args.role, _secret("New PIN/password: ", confirm=True))
        print(f"added {row['user_id']} ({row['role']})")
        return 0

    path = _db(args)
    if not path.exists():  # the first admin may be created on a new database
        with open_store(path, unencrypted=args.unencrypted, holder="ketachart users"):
            pass
    return _with_accounts(args, run)


def _as_admin(args: argparse.Namespace, act, done: str = "") -> int:  # noqa: ANN001
    """Run ``act(accounts, admin)`` once ``--as`` has proven they may manage users, then say ``done``."""

    def run(accounts) -> int:  # noqa: ANN001
        act(accounts, _admin(accounts, args))
        if done:
            print(done)
        return 0

    return _with_accounts(args, run)


def _print_users(accounts, _who) -> None:  # noqa: ANN001
    for u in accounts.users():
        state = "active" if u["active"] else "inactive"
        secret = "" if u["has_secret"] else "  (no PIN set)"
        print(f"{u['user_id']:<20} {u['role']:<11} {state:<9} {u['display_name']}{secret}")


def _users_list(args: argparse.Namespace) -> int:
    return _as_admin(args, _print_users)


def _users_deactivate(args: argparse.Namespace) -> int:
    return _as_admin(args, lambda accounts, admin: accounts.deactivate(admin, args.user_id, args.reason),
                     f"{args.user_id} is now inactive; their charting stays readable")


def _users_set_role(args: argparse.Namespace) -> int:
    def run(accounts) -> int:  # noqa: ANN001
        admin = _admin(accounts, args)
        secret = _secret(f"New admin password for {args.user_id}: ", confirm=True) if args.role == "admin" else None
        row = accounts.set_role(admin, args.user_id, args.role, args.reason, secret)
        print(f"{row['user_id']} is now {row['role']}")
        return 0

    return _with_accounts(args, run)


def _users_reset(args: argparse.Namespace) -> int:
    return _as_admin(args, lambda accounts, admin: accounts.reset_secret(
        admin, args.user_id, _secret(f"New PIN/password for {args.user_id}: ", confirm=True)),
        f"new PIN/password set for {args.user_id}")


def _policy_show(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ..store.open import open_store

    with open_store(_db(args), unencrypted=args.unencrypted, holder="ketachart policy", lock=False) as store:
        for key, value in asdict(store.policy).items():
            print(f"{key}={value}")
    return 0


def _policy_set(args: argparse.Namespace) -> int:
    from .policy_admin import change_policy

    def run(accounts) -> int:  # noqa: ANN001
        def authenticate():  # noqa: ANN202  (asked only once the new values passed validation)
            return accounts.sign_in(args.admin, _secret(f"PIN/password for {args.admin}: ")).user

        done = change_policy(accounts, args.changes, args.reason, authenticate)
        print(f"clinic policy version {done.policy.version} is now in force ({', '.join(done.keys)} changed)")
        return 0

    return _with_accounts(args, run)


def _central_check(store, url: str | None) -> list[str]:  # noqa: ANN001
    """Compare the chain head with the central when one is given or configured; a note when unreachable."""
    from ..sync.config import CentralConfig, CentralRefused

    try:
        cfg = CentralConfig.resolve(url)
    except CentralRefused:
        if url:
            from ..errors import UserError

            raise UserError(f"cannot use the central given: {sys.exc_info()[1]}") from None
        return []  # standalone chair: nothing to compare with
    from ..sync.remote_check import central_problems  # the PostgreSQL driver only when there is a central
    try:
        return central_problems(store, cfg)
    except CentralRefused as exc:
        print(f"ketachart: not compared with the central ({exc})", file=sys.stderr)
        return []


def _verify(args: argparse.Namespace) -> int:
    from ..store.open import open_store

    path = _db(args)
    if not path.exists():
        from ..errors import UserError

        raise UserError(f"no database at {path}")
    with open_store(path, unencrypted=args.unencrypted, holder="ketachart verify", verify=False) as store:
        from ..store.integrity import beside
        from ..store.open import verify_store

        integrity = beside(store.integrity_check)  # SQLite's own check, on a second core while the chains re-hash
        problems = verify_store(store)
        problems.extend(_central_check(store, getattr(args, "central", None)))
        ok, detail = integrity()
        if not ok:
            problems.append(f"SQLite integrity check: {detail}")
        kind = "encrypted" if store.encrypted else "unencrypted"
    if problems:
        print(f"{path}: CHANGED OUTSIDE KETACHART ({len(problems)} problem(s)):")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(f"{path}: intact ({kind}; hash chain and immutability triggers verified)")
    return 0


def _encrypt_db(args: argparse.Namespace) -> int:
    from ..store.encryption import encrypt_copy
    from ..store.keys import KeyStore
    from ..store.open import file_kind, open_store

    src = _db(args)
    dst = Path(args.out).expanduser().resolve()
    if file_kind(src) != "plain":
        from ..errors import UserError

        raise UserError(f"{src} is not an unencrypted KetaChart database")
    with open_store(src, unencrypted=True, holder="ketachart encrypt-db"):
        pass  # refuses a file in use or hand-edited before copying
    keys = KeyStore()
    key = keys.find(dst) or keys.create(dst)
    encrypt_copy(src.resolve(), dst, key)
    with open_store(dst, holder="ketachart encrypt-db", keys=keys) as store:
        n = len(store.users())
    print(f"encrypted copy written to {dst} (key in {key.source}; {n} user(s)); {src} was not changed")
    return 0

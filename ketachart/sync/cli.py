"""``ketachart sync`` and ``ketachart central init``.

    ketachart central init --central URL     create or migrate the central schema and the chair/admin roles
    ketachart central enroll-chair --central ADMIN_URL --name NAME [--db PATH] [--config FILE]
                                             create this chair's login, bound to its chart's device id, and
                                             write the chair's 0600 central config file
    ketachart central vouch --central ADMIN_URL [--id ID ...]
                                             list (no --id) or vouch for users/policy rows no admin vouched for
    ketachart sync --db PATH --central URL   one sync pass; last stdout line: {"pushed": n, "pulled": n, "pending": n,
                                             "refused": [...], "ignored": [...], "history_conflict": ..., ...}

The URL may instead come from KETACHART_CENTRAL or the 0600 config file (see ketachart.sync.config).
A central database that refuses us (unreachable, wrong password, schema missing or newer) prints one clear
line on stderr and exits 2 without changing the local chart.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from typing import Iterator


def _central_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--central", metavar="URL", default=None,
                   help="central PostgreSQL URL (default: $KETACHART_CENTRAL or the central.json config file)")
    p.add_argument("--sslmode", default=None, help="TLS mode (disable, require, verify-ca, verify-full ...)")
    p.add_argument("--sslrootcert", default=None, metavar="FILE", help="CA certificate for verify-ca/verify-full")
    p.add_argument("--connect-timeout", type=int, default=10, metavar="S", help="seconds to wait for the server")


def add_subcommands(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("sync", parents=[common], help="push this chair's rows and pull the clinic's, once")
    _central_args(p)
    p.add_argument("--unencrypted", action="store_true", help="the chart database is unencrypted (demo, tests)")
    p.add_argument("--batch-size", type=_positive_int, default=20000, help="rows per server transaction (1 or more)")
    p.add_argument("--progress", action="store_true", help="print progress lines to stderr")
    p.set_defaults(func=_sync)

    c = subparsers.add_parser("central", help="manage the clinic's central database")
    csub = c.add_subparsers(dest="central_command", metavar="ACTION")
    c.set_defaults(func=lambda args: (c.print_help(), 2)[1])
    i = csub.add_parser("init", help="create or migrate the central schema and the chair role")
    _central_args(i)
    i.set_defaults(func=_central_init)
    e = csub.add_parser("enroll-chair", parents=[common],
                        help="create this chair's login bound to its device id (run with an admin's login)")
    _central_args(e)
    e.add_argument("--name", required=True, help="the chair's name (1-40 lower-case letters, digits, - or _)")
    e.add_argument("--unencrypted", action="store_true", help="the chart database is unencrypted (demo, tests)")
    e.add_argument("--rebind", action="store_true",
                   help="give this chair's existing login to this chart file (a new file after a history conflict)")
    e.add_argument("--config", metavar="FILE", default=None,
                   help="where to write the chair's central config (default: the central.json config file)")
    e.set_defaults(func=_enroll_chair)
    v = csub.add_parser("vouch", parents=[common], help="list or vouch for users/policy rows (admin login)")
    _central_args(v)
    v.add_argument("--id", action="append", default=[], metavar="ROW_ID", help="a row to vouch for (repeatable)")
    v.set_defaults(func=_vouch)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (got {value})")
    return value


@contextmanager
def _refusal_is_user_error() -> Iterator[None]:
    """The central's refusal (bad address or login, wrong schema, ...) is one plain line and exit 2."""
    from ..errors import UserError
    from .config import CentralRefused

    try:
        yield
    except CentralRefused as exc:
        raise UserError(str(exc)) from None


def _existing_chart(args: argparse.Namespace, missing: str):  # noqa: ANN202
    """This chair's chart database (or ``--db``); a missing one is the user's mistake, said with ``missing``."""
    from ..errors import UserError
    from ..paths import resolve_db

    path = resolve_db(args)
    if not path.exists():
        raise UserError(f"no chart database at {path}; {missing}")
    return path


def _config(args: argparse.Namespace):
    from .config import CentralConfig

    with _refusal_is_user_error():
        return CentralConfig.resolve(
            args.central, sslmode=args.sslmode, sslrootcert=args.sslrootcert, connect_timeout=args.connect_timeout
        )


def _central_init(args: argparse.Namespace) -> int:
    from .central import CHAIR_ROLE, init_central

    cfg = _config(args)
    with _refusal_is_user_error():
        before, after = init_central(cfg)
    what = "created" if before == 0 else ("migrated from version %d" % before if before < after else "up to date")
    print(f"central schema version {after} {what} at {cfg.display()}; chairs log in with a role granted {CHAIR_ROLE}")
    return 0


def _enroll_chair(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from psycopg import conninfo

    from ..errors import UserError
    from ..store.open import open_store
    from .central import enroll_chair
    from .config import default_config_path

    cfg = _config(args)
    path = _existing_chart(args, "open KetaChart on this chair once, then enrol it")
    target = Path(args.config).expanduser() if args.config else default_config_path()
    if target.exists():
        raise UserError(f"{target} already exists; move it away first (it may hold another login). Nothing was changed.")
    with open_store(path, unencrypted=args.unencrypted, holder="ketachart central enroll-chair") as store:
        device_id = store.device_id
    with _refusal_is_user_error():
        login, password = enroll_chair(cfg, args.name, device_id, rebind=args.rebind)
    parts = cfg.parts()
    parts.pop("password", None)
    parts["user"] = login
    config = {"url": conninfo.make_conninfo(**parts), "password": password}
    if cfg.sslmode:
        config["sslmode"] = cfg.sslmode
    if cfg.sslrootcert:
        config["sslrootcert"] = cfg.sslrootcert
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(config, fh)
    print(json.dumps({"login": login, "device_id": device_id, "config": str(target)}))
    return 0


def _vouch(args: argparse.Namespace) -> int:
    from .central import connect, read_meta, unvouched, vouch

    cfg = _config(args)
    with _refusal_is_user_error():
        if args.id:
            print(json.dumps({"vouched": vouch(cfg, args.id)}))
            return 0
        conn = connect(cfg)
        try:
            read_meta(conn, cfg)
            print(json.dumps({"unvouched": unvouched(conn)}))
        finally:
            conn.close()
    return 0


def _sync(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..store.open import open_store
    from .service import SyncService

    cfg = _config(args)
    path = _existing_chart(args, "nothing to sync")

    def progress(phase: str, done: int, total: int) -> None:
        print(f"sync: {phase} {done}/{total}", file=sys.stderr, flush=True)

    with open_store(path, unencrypted=args.unencrypted, holder="ketachart sync") as store:
        service = SyncService(store, cfg, batch_size=args.batch_size, progress=progress if args.progress else None)
        result = service.run_once()
    if result.refused:
        # Refused before anything happened: one clear line, exit 2, local chart unchanged.
        raise UserError(result.error)
    if result.error:
        print(f"ketachart: {result.error}", file=sys.stderr)
    if result.refused_rows:
        print(f"ketachart: the central refused {len(result.refused_rows)} row(s) of this chair; they are kept here "
              "and listed under \"refused\"", file=sys.stderr)
    print(json.dumps(result.to_json()), flush=True)
    return 2 if result.error else 0

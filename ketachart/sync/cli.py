"""``ketachart sync`` and ``ketachart central init``.

    ketachart central init --central URL     create or migrate the central schema and the chair role
    ketachart sync --db PATH --central URL   one sync pass; last stdout line: {"pushed": n, "pulled": n, "pending": n, ...}

The URL may instead come from KETACHART_CENTRAL or the 0600 config file (see ketachart.sync.config).
A central database that refuses us (unreachable, wrong password, schema missing or newer) prints one clear
line on stderr and exits 2 without changing the local chart.
"""

from __future__ import annotations

import argparse
import json
import sys


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
    p.add_argument("--batch-size", type=int, default=20000, help="rows per server transaction")
    p.add_argument("--progress", action="store_true", help="print progress lines to stderr")
    p.set_defaults(func=_sync)

    c = subparsers.add_parser("central", parents=[common], help="manage the clinic's central database")
    csub = c.add_subparsers(dest="central_command", metavar="ACTION")
    c.set_defaults(func=lambda args: (c.print_help(), 2)[1])
    i = csub.add_parser("init", parents=[common], help="create or migrate the central schema and the chair role")
    _central_args(i)
    i.set_defaults(func=_central_init)


def _config(args: argparse.Namespace):
    from ..errors import UserError
    from .config import CentralConfig, CentralRefused

    try:
        return CentralConfig.resolve(
            args.central, sslmode=args.sslmode, sslrootcert=args.sslrootcert, connect_timeout=args.connect_timeout
        )
    except CentralRefused as exc:
        raise UserError(str(exc)) from None


def _central_init(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from .central import CHAIR_ROLE, init_central
    from .config import CentralRefused

    cfg = _config(args)
    try:
        before, after = init_central(cfg)
    except CentralRefused as exc:
        raise UserError(str(exc)) from None
    what = "created" if before == 0 else ("migrated from version %d" % before if before < after else "up to date")
    print(f"central schema version {after} {what} at {cfg.display()}; chairs log in with a role granted {CHAIR_ROLE}")
    return 0


def _sync(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..paths import resolve_db
    from ..store.open import open_store
    from .service import SyncService

    cfg = _config(args)
    path = resolve_db(args)
    if not path.exists():
        raise UserError(f"no chart database at {path}; nothing to sync")

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
    print(json.dumps(result.to_json()), flush=True)
    return 2 if result.error else 0

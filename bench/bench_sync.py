"""Sync figures against a real PostgreSQL.

- ``sync.push_rows_s``: rows per second for one sync pass pushing a chair's 100 demo sessions (``--quick``: 5,
  said in the figure), from reading the local outbox to the server's commit. Since schema 6 a row is a chart row
  (readings travel sealed per minute in ``reading_blocks``); ``readings_s`` says how many readings went up per
  second.
- ``sync.copy_ratio``: that rate divided by the rate of a plain PostgreSQL ``COPY`` of the same rows (already
  in memory) into tables of the same shape, in the same run. Goal >= 0.25.
- ``sync.incremental_s``: seconds for the sync pass after one more finished session on an otherwise synced
  chair. Goal <= 1 s.

The server is ``KETACHART_BENCH_CENTRAL`` (a URL whose user may CREATE DATABASE) when set, else a private
cluster from ``scripts/pg-test-cluster.sh``. Each run uses a new database and drops it afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

NAMES = ("sync.push_rows_s", "sync.copy_ratio", "sync.incremental_s")
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "pg-test-cluster.sh"


def _server() -> tuple[str | None, dict | None, str | None]:
    """(superuser URL, script environment if we started a private cluster, error)."""
    url = os.environ.get("KETACHART_BENCH_CENTRAL")
    if url:
        return url, None, None
    private = Path(tempfile.mkdtemp(prefix="ketachart-pg-bench-"))
    private.chmod(0o755)  # the server user must reach its directory inside
    env = {**os.environ, "KETACHART_PG_DIR": str(private / "cluster")}
    try:
        done = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, timeout=600, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, None, f"could not start a private PostgreSQL ({exc}); set KETACHART_BENCH_CENTRAL"
    if done.returncode != 0:
        return None, None, (f"could not start a private PostgreSQL ({done.stderr.strip()[-300:]}); "
                            "set KETACHART_BENCH_CENTRAL")
    return done.stdout.strip().splitlines()[-1], env, None


def run(quick: bool = False):
    url, env, error = _server()
    if error:
        for name in NAMES:
            yield {"name": name, "error": error}
        return
    try:
        yield from _measure(url, quick)
    finally:
        if env is not None:
            subprocess.run([str(SCRIPT), "stop"], capture_output=True, text=True, timeout=120, env=env)
            shutil.rmtree(Path(env["KETACHART_PG_DIR"]).parent, ignore_errors=True)


def _measure(admin_url: str, quick: bool):
    import psycopg
    from psycopg import sql

    from ketachart.demo import write_demo_session
    from ketachart.domain.clock import FakeClock
    from ketachart.store.models import CHART_TABLES
    from ketachart.store.repository import ChartStore
    from ketachart.store.sync_support import ensure_sync_indexes
    from ketachart.sync.central import SCHEMA, chart_columns, enroll_chair, init_central
    from ketachart.sync.config import CentralConfig
    from ketachart.sync.service import SyncService

    sessions = 5 if quick else 100
    dbname = "kc_bench_" + uuid.uuid4().hex[:10]
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    except psycopg.Error as exc:
        for name in NAMES:
            yield {"name": name, "error": f"cannot create a benchmark database on the server: {exc}".strip()}
        return
    parts = psycopg.conninfo.conninfo_to_dict(admin_url)
    parts["dbname"] = dbname
    url = psycopg.conninfo.make_conninfo(**parts)
    cfg = CentralConfig(url)
    try:
        init_central(cfg)
        with tempfile.TemporaryDirectory() as tmp:
            store = ChartStore.open(Path(tmp) / "chair.db", FakeClock())
            try:
                ensure_sync_indexes(store.engine)  # as on a chair that has synced before (created once, small)
                t0 = time.perf_counter()
                for seed in range(sessions):
                    write_demo_session(store, seed=seed)
                write_s = time.perf_counter() - t0
                # As in a clinic: the chair's own enrolled login (row-level security and the ledger apply).
                login, password = enroll_chair(cfg, "bench-" + dbname[-10:], store.device_id)
                chair_parts = dict(parts, user=login, password=password)
                service = SyncService(store, CentralConfig(psycopg.conninfo.make_conninfo(**chair_parts)))
                pending = service.pending_count()
                t0 = time.perf_counter()
                result = service.run_once()
                push_s = time.perf_counter() - t0
                if result.error:
                    raise RuntimeError(result.error)
                push_rate = result.pushed / push_s
                with store.engine.connect() as conn:  # readings that went up (schema 6: inside reading blocks)
                    pushed_readings = (conn.exec_driver_sql("SELECT coalesce(sum(count), 0) FROM reading_blocks").scalar()
                                       + conn.exec_driver_sql("SELECT count(*) FROM vital_readings").scalar())
                    conn.rollback()

                # The same rows, already in memory, COPYed into tables of the same shape (keys, indexes, defaults).
                rows_by_table = {}
                raw = store.engine.raw_connection()
                try:
                    for table in CHART_TABLES:
                        cols = ", ".join(f'"{c}"' for c in chart_columns(table))
                        rows_by_table[table] = raw.execute(f"SELECT {cols} FROM {table}").fetchall()
                finally:
                    raw.close()
                copy_rows = sum(len(r) for r in rows_by_table.values())
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("SET TIME ZONE 'UTC'")
                    conn.execute("CREATE SCHEMA copy_bench")
                    for table in CHART_TABLES:
                        conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                            sql.Identifier("copy_bench", table), sql.Identifier(SCHEMA, table)))
                    t0 = time.perf_counter()
                    with conn.transaction(), conn.cursor() as cur:
                        for table, rows in rows_by_table.items():
                            cols = sql.SQL(", ").join(sql.Identifier(c) for c in chart_columns(table))
                            with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
                                    sql.Identifier("copy_bench", table), cols)) as copy:
                                for row in rows:
                                    copy.write_row(row)
                    copy_s = time.perf_counter() - t0
                    conn.execute("DROP SCHEMA copy_bench CASCADE")
                copy_rate = copy_rows / copy_s

                # One more finished session on the now synced chair.
                write_demo_session(store, seed=sessions)
                new_rows = service.pending_count()
                t0 = time.perf_counter()
                inc = service.run_once()
                inc_s = time.perf_counter() - t0
                if inc.error:
                    raise RuntimeError(inc.error)
            finally:
                store.close()
        size = f"{sessions} demo sessions" + (" (--quick; the full run pushes 100)" if quick else "")
        yield {"name": "sync.push_rows_s", "value": round(push_rate, 1), "rows": result.pushed,
               "readings": pushed_readings, "readings_s": round(pushed_readings / push_s, 1),
               "pending_before": pending, "seconds": round(push_s, 3), "sessions": sessions, "quick": quick,
               "note": f"one sync pass pushing {size}: read outbox, COPY to staging, INSERT ON CONFLICT DO NOTHING",
               "write_demo_s": round(write_s, 1)}
        yield {"name": "sync.copy_ratio", "value": round(push_rate / copy_rate, 3), "goal": 0.25,
               "copy_rows_s": round(copy_rate, 1), "copy_rows": copy_rows, "push_rows_s": round(push_rate, 1),
               "note": "sync push rate / plain COPY of the same rows from memory into same-shaped tables, same run"}
        yield {"name": "sync.incremental_s", "value": round(inc_s, 3), "goal": 1.0, "rows": inc.pushed,
               "pending_before": new_rows, "note": "one more finished demo session on an otherwise synced chair"}
    finally:
        try:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier("kc_chair_bench-" + dbname[-10:])))
        except psycopg.Error:
            pass

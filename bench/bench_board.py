"""Clinic board figures against a real PostgreSQL (issue 15).

- ``board.latency_s`` (``p50``, ``p99``): an alert raised on a chair process -> on the board's tile, with ten chair
  processes streaming at 1 Hz at once (real store, real LivePush at the clinic policy's 5 s, real NOTIFY, the
  board model refreshed by its listener). Goal p99 <= 5 s.
- ``board.refresh_ms`` (``value``): one refresh of all twenty chairs on a central holding 10 million chart rows
  (``--quick``: 1 million, said in the line); median of 20, with the cold first refresh alongside. Goal <= 100 ms.
- ``sync.incremental_s.large`` (``value``): one finished demo session pushed by a synced chair to that central,
  with the same measured on an empty central in the same run (``empty_central_s``). Goal within 20 %.

The big central is built in SQL (``bench/board_central.py``, generate_series) and kept between runs in database
``kc_bench_board_<sessions>_v1`` when ``KETACHART_BENCH_CENTRAL`` names a persistent server; a private cluster
(the default) is thrown away after the run, so it is built each time (``build_s`` in the line).
"""

from __future__ import annotations

import os
import queue
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

NAMES = ("board.latency_s", "board.refresh_ms", "sync.incremental_s.large")
ROOT = Path(__file__).resolve().parents[1]


def run(quick: bool = False):
    from bench.bench_sync import SCRIPT, _server

    url, env, error = _server()
    if error:
        for name in NAMES:
            yield {"name": name, "error": error}
        return
    try:
        yield from _latency(url, quick)
        yield from _large(url, quick, persistent=env is None)
    finally:
        if env is not None:
            import shutil

            subprocess.run([str(SCRIPT), "stop"], capture_output=True, text=True, timeout=120, env=env)
            shutil.rmtree(Path(env["KETACHART_PG_DIR"]).parent, ignore_errors=True)


# --- latency ------------------------------------------------------------------------------------------
class _Chair:
    def __init__(self, central_url: str, db: Path, name: str, scenario: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ketachart.board.simulate", "--central", central_url, "--db", str(db), "--name", name,
             "--scenario", str(scenario), "--tick-s", "1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=str(ROOT))
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.device_id: str | None = None

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def expect(self, prefix: str, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line.startswith(prefix):
                return line
        raise RuntimeError(f"chair process did not say {prefix!r} within {seconds} s")

    def send(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)


def _latency(server_url: str, quick: bool):
    from ketachart.board.demo import DemoCentral
    from ketachart.board.listen import BoardListener
    from ketachart.board.model import BoardModel
    from ketachart.board.queries import BoardSource
    from ketachart.board.simulate import device_id_of
    from ketachart.domain.clock import SystemClock

    samples = 6 if quick else 30
    scenarios = [0, 1, 2, 3, 4, 7, 8, 9, 10, 11]  # ten chairs with a session on them
    central = DemoCentral(server_url)
    chairs: list[_Chair] = []
    listener = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i, sc in enumerate(scenarios):
                db, name = Path(tmp) / f"c{i}.db", f"chair-{i + 1}"
                url = central.url_for(device_id_of(db), name)  # enrolled where the central enrols chairs
                chairs.append(_Chair(url, db, name, sc))
            for chair in chairs:
                chair.device_id = chair.expect("ready", 300).split()[1]
            model = BoardModel(BoardSource.connect(central.board_url), SystemClock())
            changes: queue.Queue[set[str]] = queue.Queue()
            listener = BoardListener(central.board_url, changes.put).start()
            listener.connected.wait(10)
            model.refresh()
            latencies, missed, refreshes = [], 0, 0
            for k in range(samples):
                chair = chairs[k % len(chairs)]
                text = f"bench alert {k}"
                chair.send(f"alert {text}")
                raised = float(chair.expect("raised", 30).split()[2])
                deadline = time.monotonic() + 30
                seen = None
                while time.monotonic() < deadline:
                    try:
                        ids = changes.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    while not changes.empty():
                        ids |= changes.get_nowait()
                    model.refresh(ids)
                    refreshes += 1
                    if any(a.message == text for a in model.tile(chair.device_id).alerts):
                        seen = time.time()
                        break
                if seen is None:
                    missed += 1
                    latencies.append(30.0)
                else:
                    latencies.append(seen - raised)
                chair.send("ack")
                chair.expect("acked", 30)
        lat = sorted(latencies)
        p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
        yield {"name": "board.latency_s", "p50": round(statistics.median(lat), 3), "p99": round(p99, 3),
               "max": round(lat[-1], 3), "samples": samples, "missed": missed, "chairs": len(chairs), "goal_p99": 5.0,
               "board_refreshes": refreshes, "quick": quick,
               "note": "alert charted in a chair process -> on the board model's tile; 10 chair processes at 1 Hz, "
                       "push every 5 s (policy) and at once on an alert; refresh on NOTIFY"}
    finally:
        if listener is not None:
            listener.stop()
        for chair in chairs:
            chair.stop()
        central.close()


# --- the big central ----------------------------------------------------------------------------------
def _large(server_url: str, quick: bool, persistent: bool):
    import psycopg
    from psycopg import sql

    from bench import board_central
    from ketachart.board.demo import with_db
    from ketachart.board.model import BoardModel
    from ketachart.board.queries import BoardSource
    from ketachart.domain.clock import SystemClock
    from ketachart.sync.central import init_central
    from ketachart.sync.central_board import BOARD_ROLE
    from ketachart.sync.config import CentralConfig

    sessions = 500 if quick else 5000
    dbname = f"kc_bench_board_{sessions}_v1"
    url = with_db(server_url, dbname)
    build_s, cached = 0.0, False
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
    if exists:
        with psycopg.connect(url, autocommit=True) as conn:
            done = conn.execute(
                "SELECT 1 FROM ketachart.central_meta WHERE key = 'bench_board' AND value = 'complete'").fetchone()
        if done:
            cached = True
            init_central(CentralConfig(url))  # brings a cached central up to this code's schema
        else:
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(dbname)))
    if not cached:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        init_central(CentralConfig(url))
        t0 = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET TIME ZONE 'UTC'")
            board_central.build(conn, sessions)
        init_central(CentralConfig(url))  # the board's triggers again, as on a real central
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            conn.execute("INSERT INTO ketachart.central_meta (key, value) VALUES ('bench_board', 'complete')")
        build_s = time.perf_counter() - t0
    board_login, password = f"kc_bench_board_{secrets.token_hex(3)}", secrets.token_hex(10)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = 'ketachart.vital_readings'::regclass"
                                ).fetchone()[0]
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                sql.Identifier(board_login), sql.Literal(password), sql.Identifier(BOARD_ROLE)))
        source = BoardSource.connect(with_db(server_url, dbname, board_login, password))
        model = BoardModel(source, SystemClock())
        t0 = time.perf_counter()
        model.refresh()
        cold_ms = (time.perf_counter() - t0) * 1000
        ids = [c.device_id for c in model.chairs]
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            model.refresh(ids)
            times.append((time.perf_counter() - t0) * 1000)
        source.close()
        size = f"{rows / 1e6:.1f} million chart rows" + (" (--quick: the full run uses 10 million)" if quick else "")
        yield {"name": "board.refresh_ms", "value": round(statistics.median(times), 1),
               "p95": round(sorted(times)[int(0.95 * (len(times) - 1))], 1), "cold_ms": round(cold_ms, 1),
               "chairs": len(ids), "readings": rows, "goal": 100, "quick": quick, "cached": cached,
               "build_s": round(build_s, 1), "note": f"one refresh of every chair's tile on a central holding {size}"}
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(board_login)))
    try:
        yield _incremental(server_url, url, quick, rows)
    finally:
        if not persistent:
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def _incremental_on(url: str, repeats: int) -> list[float]:
    from ketachart.demo import write_demo_session
    from ketachart.domain.clock import FakeClock
    from ketachart.store.repository import ChartStore
    from ketachart.sync.config import CentralConfig
    from ketachart.sync.service import SyncService

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        store = ChartStore.open(Path(tmp) / "chair.db", FakeClock())
        try:
            write_demo_session(store, seed=1)
            service = SyncService(store, CentralConfig(url))
            first = service.run_once()
            if first.error:
                raise RuntimeError(first.error)
            for i in range(repeats):
                write_demo_session(store, seed=2 + i)
                t0 = time.perf_counter()
                result = service.run_once()
                out.append(time.perf_counter() - t0)
                if result.error:
                    raise RuntimeError(result.error)
        finally:
            store.close()
    return out


def _incremental(server_url: str, large_url: str, quick: bool, rows: int) -> dict:
    import uuid

    import psycopg
    from psycopg import sql

    from ketachart.board.demo import with_db
    from ketachart.sync.central import init_central
    from ketachart.sync.config import CentralConfig

    repeats = 1 if quick else 3
    empty_db = "kc_bench_empty_" + uuid.uuid4().hex[:8]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(empty_db)))
    try:
        empty_url = with_db(server_url, empty_db)
        init_central(CentralConfig(empty_url))
        empty = _incremental_on(empty_url, repeats)
        large = _incremental_on(large_url, repeats)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(empty_db)))
    value, base = statistics.median(large), statistics.median(empty)
    return {"name": "sync.incremental_s.large", "value": round(value, 3), "empty_central_s": round(base, 3),
            "ratio": round(value / base, 3), "goal_ratio": 1.2, "repeats": repeats, "readings_on_central": rows,
            "quick": quick, "note": "one more finished demo session pushed by a synced chair; same run on an empty "
                                    "central for the baseline (sync.incremental_s measures the empty case)"}

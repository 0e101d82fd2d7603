"""Store benchmarks.

``store.commit_ms``: one observation committed durably (WAL, synchronous=FULL: fsync'ed) 1,000 times; p50
and p99 in milliseconds. A baseline measured in the same run: the same insert through bare sqlite3 with the
same pragmas, so the cost of our write path (seq, hash chain, ORM-free Core insert) shows beside the disk's.
``store.demo_session_s``: wall time of ``write_demo_session`` (the work behind ``ketachart demo-session``).
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from ketachart.demo import write_demo_session
from ketachart.store.repository import ChartStore


def _percentiles(samples: list[float]) -> dict:
    samples = sorted(samples)
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": round(statistics.median(samples), 3), "p99": round(q[98], 3), "max": round(samples[-1], 3),
            "n": len(samples)}


def observation_commit_samples(store: ChartStore, n: int) -> list[float]:
    """Milliseconds for each of ``n`` durable one-observation commits on ``store`` (shared with bench_security)."""
    patient = store.create_patient("B-1", "Bench", "Mark", "1980-01-01", "other")
    session = store.create_session(patient["patient_id"])
    samples = []
    for i in range(n):
        t = time.perf_counter()
        store.observe(session["id"], "dissociation", i % 5)
        samples.append((time.perf_counter() - t) * 1000)
    return samples


def commit_ms(n: int) -> list[float]:
    with tempfile.TemporaryDirectory() as d:
        store = ChartStore.open(Path(d) / "bench.db")
        try:
            return observation_commit_samples(store, n)
        finally:
            store.close()


def raw_sqlite_commit_ms(n: int) -> list[float]:
    with tempfile.TemporaryDirectory() as d:
        con = sqlite3.connect(Path(d) / "raw.db", isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("CREATE TABLE obs (id TEXT PRIMARY KEY, kind TEXT, value REAL, at TEXT)")
        samples = []
        for i in range(n):
            t = time.perf_counter()
            con.execute("BEGIN")
            con.execute("INSERT INTO obs VALUES (?, 'dissociation', ?, datetime('now'))", (f"id{i}", i % 5))
            con.execute("COMMIT")
            samples.append((time.perf_counter() - t) * 1000)
        con.close()
    return samples


def demo_session_s() -> float:
    with tempfile.TemporaryDirectory() as d:
        store = ChartStore.open(Path(d) / "demo.db")
        try:
            t = time.perf_counter()
            write_demo_session(store, seed=1)
            return time.perf_counter() - t
        finally:
            store.close()


def run(quick: bool = False):
    n = 200 if quick else 1000
    ours = _percentiles(commit_ms(n))
    base = _percentiles(raw_sqlite_commit_ms(n))
    yield {"name": "store.commit_ms", **ours, "goal_p99": 10.0, "baseline_raw_sqlite_p50": base["p50"],
           "baseline_raw_sqlite_p99": base["p99"], "note": "WAL + synchronous=FULL, one observation per commit"}
    yield {"name": "store.demo_session_s", "value": round(demo_session_s(), 3),
           "note": "one ~130 min session with 1 Hz HR/SpO2 through the real store"}

"""Security benchmarks.

``security.unlock_ms``: from submitting a correct PIN on the privacy lock screen to the unlocked chair
screen being shown again, including the argon2id hash with the production parameters (t=3, 64 MiB, p=4)
and the audit writes, on an encrypted store; a main-window-like widget with a live-looking chart screen sits
behind the lock. ``value`` is the median; goal <= 500 ms.

``store.commit_ms.encrypted`` / ``store.commit_ms.plain``: one observation committed durably (WAL,
synchronous=FULL) 1,000 times through ``open_store`` on an SQLCipher file and on plain SQLite, measured the
same way in the same run (p50, p99 in ms), so the cost of encryption shows beside the plain figure.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.bench_store import observation_commit_samples
from ketachart.store.keys import KeyStore
from ketachart.store.open import open_store


def _percentiles(samples: list[float]) -> dict:
    samples = sorted(samples)
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": round(statistics.median(samples), 3), "p99": round(q[98], 3), "max": round(samples[-1], 3),
            "n": len(samples)}


def commit_samples(n: int, *, encrypted: bool) -> list[float]:
    with tempfile.TemporaryDirectory() as d:
        store = open_store(Path(d) / "bench.db", unencrypted=not encrypted, keys=KeyStore(use_keyring=False, env={}))
        try:
            return observation_commit_samples(store, n)
        finally:
            store.close()


def unlock_samples(n: int) -> list[float]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QVBoxLayout, QWidget

    from ketachart.auth import Accounts
    from ketachart.domain.clock import SystemClock
    from ketachart.ui.auth import LockController

    app = QApplication.instance() or QApplication([])
    samples: list[float] = []
    with tempfile.TemporaryDirectory() as d:
        clock = SystemClock()
        store = open_store(Path(d) / "chart.db", clock=clock, keys=KeyStore(use_keyring=False, env={}))
        try:
            accounts = Accounts(store)  # production hashing parameters
            accounts.create_first_admin("admin", "Pat Admin", "admin-pass")
            accounts.add_user(accounts.current.user, "a.morgan", "Alex Morgan, RN", "nurse", "2468")
            accounts.sign_out()
            accounts.sign_in("a.morgan", "2468")
            window = QMainWindow()
            central = QWidget(window)
            lay = QVBoxLayout(central)
            for text in ("Bench, Mark  MRN B-1", "HR 72", "SpO2 98", "BP 128/76", "Infusing 32:10"):
                lay.addWidget(QLabel(text, central))
            window.setCentralWidget(central)
            window.resize(1280, 800)
            window.show()
            app.processEvents()
            lock = LockController(window, clock, accounts, idle_min=60)
            for _ in range(n):
                lock.lock("manual")
                app.processEvents()
                lock.screen.secret.setText("2468")
                t = time.perf_counter()
                lock.screen.unlock_button.click()
                app.processEvents()
                if lock.is_locked or not central.isVisible():
                    raise RuntimeError("the lock screen did not unlock")
                samples.append((time.perf_counter() - t) * 1000)
            lock.stop()
            window.close()
        finally:
            store.close()
    return samples


def run(quick: bool = False):
    u = _percentiles(unlock_samples(5 if quick else 20))
    yield {"name": "security.unlock_ms", "value": u["p50"], **u, "goal": 500.0,
           "note": "correct PIN submitted on the lock screen -> chair screen shown; argon2id t=3 m=64MiB p=4; encrypted store"}
    n = 200 if quick else 1000
    enc = _percentiles(commit_samples(n, encrypted=True))
    plain = _percentiles(commit_samples(n, encrypted=False))
    yield {"name": "store.commit_ms.encrypted", **enc, "goal_p99": 10.0,
           "note": "SQLCipher 4 (AES-256, raw key), WAL + synchronous=FULL, one observation per commit"}
    yield {"name": "store.commit_ms.plain", **plain, "goal_p99": 10.0,
           "note": "plain SQLite, same run, same method"}

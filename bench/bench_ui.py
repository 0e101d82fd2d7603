"""Chair-screen figures (JSON lines via ``python -m bench ui``).

ui.plot_update_ms   one plot refresh (data + paint) with 4 h of 1 Hz data on four traces (HR, SpO2, NIBP sys/dia)
ui.loop_lag_ms      p50/p99 event-loop lag of the real window while a simulator streams through the real link
ui.app_cpu_pct      the whole app (``ketachart --demo``) offscreen with demo devices, CPU % of one core
ui.rss_growth_mb    RSS growth of the window over a 4-hour session of 1 Hz readings played at high speed
app.startup_s       launch to first painted window, in a subprocess
app.startup_s.year  the same, opening on the patient list of the year-sized chart, beside a new chart's
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
KETACHART = [sys.executable, "-m", "ketachart.cli"]


def _app():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


def _pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def _bytecode_env(env: dict, cache: str) -> dict:
    """Python's compiled bytecode in ``cache``, written by a first start and read by the measured ones, as an
    installed app (or the bundle) has it; without it (``PYTHONDONTWRITEBYTECODE`` in a developer's shell) every
    start compiles KetaChart's own sources again (about 0.25 s), which no nurse's chair does."""
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    return env


BYTECODE_NOTE = "bytecode compiled by a first start (PYTHONPYCACHEPREFIX), as installed"


def plot_update(quick: bool) -> dict:
    import numpy as np

    from ketachart.domain.policy import DEFAULT_POLICY
    from ketachart.ui.livedata import LiveData
    from ketachart.ui.plot import LivePlot
    from ketachart.ui.theme import DARK

    app = _app()
    live = LiveData()
    t0 = 1_767_600_000.0
    n = 4 * 3600
    ts = t0 + np.arange(n, dtype=float)
    live.hr.extend(ts, 75 + 5 * np.sin(ts / 300))
    live.spo2.extend(ts, 97 + np.sin(ts / 77))
    for k in range(0, n, 300):
        live.nibp.append((t0 + k, 125.0, 80.0, 95.0))
    plot = LivePlot(DARK)
    plot.resize(1200, 560)
    plot.show()
    app.processEvents()
    iterations = 20 if quick else 60

    def measure(window_s: int, offset: int) -> list[float]:
        plot.set_window(window_s)
        out = []
        for i in range(iterations):
            now = t0 + n + offset + i
            live.hr.append(now, 76)
            live.spo2.append(now, 97)
            start = time.perf_counter()
            plot.refresh(live, now, [(t0 + 600, t0 + 3000, False)], [(t0 + 900, "x")], [(t0 + 2400, "a")],
                         DEFAULT_POLICY)
            plot.glw.viewport().repaint()
            out.append((time.perf_counter() - start) * 1000)
        return out

    times = measure(30 * 60, 0)  # the live view the nurse sees: follow-live, last 30 min
    all_times = measure(0, 1000)  # "All": every point of the 4 h drawn (peak-preserving downsampling)
    plot.close()
    return {"name": "ui.plot_update_ms", "value": round(statistics.median(times), 2), "p95": round(_pct(times, 95), 2),
            "unit": "ms", "goal": "<= 3 (all_4h_visible_ms <= 5)", "points_per_trace": n, "traces": 4, "iterations": iterations,
            "view": "follow-live 30 min window over 4 h of data (data set + paint)",
            "all_4h_visible_ms": round(statistics.median(all_times), 2)}


def _open_session(store, clock):
    from ketachart.domain.dosing import iv_dose
    from ketachart.domain.session import SessionEvent

    p = store.create_patient("B-1", "Bench", "Patient", "1980-01-01", "female", 70)
    s = store.create_session(p["patient_id"], "IV")
    store.session_event(s["id"], SessionEvent.CHECK_IN)
    store.record_dose(s["id"], iv_dose(70, 0.5, 1, 40, store.policy), lot="B")
    store.session_event(s["id"], SessionEvent.START_INFUSION)
    return s["id"]


def _bench_user(store):
    """A signed-in nurse: the window shows no chart before sign-in."""
    from ketachart.auth import Accounts
    from ketachart.auth.passwords import HashParams, SecretHasher

    acc = Accounts(store, hasher=SecretHasher(HashParams(time_cost=1, memory_kib=8 * 1024, parallelism=1)))
    store.create_user("bench", "Bench Nurse, RN", "nurse", acc.hasher.hash("2468"))
    acc.sign_in("bench", "2468")
    return acc


def loop_lag(quick: bool) -> dict:
    from PySide6.QtCore import QElapsedTimer, QTimer

    from ketachart.app import create_main_window
    from ketachart.store.open import open_store
    from ketachart.ui.clock import ScaledClock

    app = _app()
    speed = 20.0  # the simulator pushes 20x its real cadence: a busier line than any real monitor
    clock = ScaledClock(speed)
    with tempfile.TemporaryDirectory() as d:
        store = open_store(Path(d) / "b.db", unencrypted=True, clock=clock)
        _open_session(store, clock)
        window = create_main_window(store, clock, speed=speed, accounts=_bench_user(store), idle_min=0)
        window.resize(1280, 800)
        window.show()
        window.c.devices.connect_demo(monitor="ge", pump="bbraun")
        from ketachart.hardware.sim.server import SimServer

        masimo = SimServer("masimo", clock=clock).start()
        window.c.devices.connect("masimo", masimo.port_url, name="oximeter")
        lags: list[float] = []
        timer = QElapsedTimer()
        tick = QTimer()
        tick.setInterval(10)
        last = [None]

        def on_tick():
            ms = timer.elapsed()
            if last[0] is not None:
                lags.append(max(0.0, ms - last[0] - 10))
            last[0] = ms

        tick.timeout.connect(on_tick)
        duration = 5.0 if quick else 20.0
        timer.start()
        tick.start()
        end = time.monotonic() + duration
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.001)
        tick.stop()
        delivered = window.c.bridge.delivered
        window.close()
        masimo.stop()
        store.close()
    return {"name": "ui.loop_lag_ms", "p50": round(_pct(lags, 50), 2), "p99": round(_pct(lags, 99), 2), "unit": "ms",
            "goal": "p99 <= 30", "seconds": duration, "readings": delivered, "readings_per_s": round(delivered / duration),
            "devices": "ge + bbraun + masimo sims on ptys through DeviceLink, sim clock x20"}


def app_cpu(quick: bool) -> dict:
    seconds = 20.0 if quick else 120.0
    with tempfile.TemporaryDirectory() as d:
        env = _bytecode_env({**os.environ, "QT_QPA_PLATFORM": "offscreen", "KETACHART_DATA_DIR": d}, str(Path(d) / "pyc"))
        # first launch seeds the demo history (and writes the bytecode); do it outside the measured run
        subprocess.run(KETACHART + ["--demo", "--quit-after", "0.5"], env=env, capture_output=True, timeout=300)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        subprocess.run(KETACHART + ["--demo", "--quit-after", str(seconds)], env=env, capture_output=True,
                       timeout=seconds + 120)
        wall = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"name": "ui.app_cpu_pct", "value": round(100 * cpu / wall, 2), "unit": "% of one core", "goal": "<= 2",
            "seconds": seconds, "note": "quick mode: 20 s instead of 120 s" if quick else "120 s",
            "includes": "startup, GE + B. Braun sims on ptys, links, writer, repaint timer", "bytecode": BYTECODE_NOTE}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_growth(quick: bool) -> dict:
    from ketachart.app import create_main_window
    from ketachart.domain.clock import FakeClock
    from ketachart.domain.codes import Parameter
    from ketachart.domain.readings import Reading
    from ketachart.store.open import open_store

    app = _app()
    hours = 1.0 if quick else 4.0
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as d:
        store = open_store(Path(d) / "r.db", unencrypted=True, clock=clock)
        _open_session(store, clock)
        window = create_main_window(store, clock, accounts=_bench_user(store), idle_min=0)
        window.resize(1280, 800)
        window.show()
        window.c.writer.interval_s = 0.05
        window.session.plot.set_window(0)
        base = None
        seconds = int(hours * 3600)
        for s in range(0, seconds, 10):
            batch = []
            for _ in range(10):
                now = clock.advance(1)
                batch += [Reading(Parameter.HR, 72.0, now, source="device:ge"),
                          Reading(Parameter.SPO2, 97.0, now, source="device:ge")]
            if s % 300 == 0:
                batch += [Reading(Parameter.NIBP_SYS, 128.0, now, source="device:ge"),
                          Reading(Parameter.NIBP_DIA, 82.0, now, source="device:ge")]
            threading.Thread(target=window.c.bridge.submit_many, args=(batch,)).start()
            app.processEvents()
            if s % 60 == 0:
                window._repaint()
            if s == 600:
                base = _rss_mb()
        window.c.writer.flush_soon()
        while window.c.writer.pending:
            app.processEvents()
            time.sleep(0.01)
        window._repaint()
        app.processEvents()
        grown = _rss_mb() - (base or 0)
        stored = len(store.readings(window.c.session_id))
        window.close()
        store.close()
    return {"name": "ui.rss_growth_mb", "value": round(grown, 1), "unit": "MB", "goal": "<= 50", "session_hours": hours,
            "readings_stored": stored,
            "note": ("quick mode: 1 h session" if quick else "4 h session") + "; readings injected through the bridge"
            " from a thread at high speed (FakeClock), stored by the vitals writer, plot repainted every minute"}


def _launch(args: list[str], env: dict) -> dict:
    """One start of the app in a subprocess: wall seconds to the first event-loop turn after ``show()``, its
    CPU seconds to there, and which screen was painted (with how many patients it lists)."""
    start = time.time()
    proc = subprocess.run(KETACHART + args, env=env, capture_output=True, text=True, timeout=300)
    out = {"wall": None, "cpu": None, "screen": None, "patients": None, "code": proc.returncode}
    for line in proc.stderr.splitlines():
        if "first paint" in line:
            out["wall"] = float(line.split()[-1]) - start
        elif "start-up cpu" in line:
            out["cpu"] = float(line.split()[-1])
        elif "first screen" in line:
            out["screen"], out["patients"] = line.split()[-2], int(line.split()[-1])
    return out




def startup(quick: bool) -> dict:
    runs = 1 if quick else 3
    times, cpu, screens = [], [], set()
    with tempfile.TemporaryDirectory() as d:
        env = _bytecode_env({**os.environ, "QT_QPA_PLATFORM": "offscreen", "KETACHART_DATA_DIR": d,
                             "KETACHART_REPORT_STARTUP": "1"}, str(Path(d) / "pyc"))
        db = str(Path(d) / "chart.db")
        args = ["--db", db, "--unencrypted", "--quit-after", "0.2"]
        _launch(args, env)  # writes the bytecode (and creates the chart file, as a chair's first start does)
        for _ in range(runs):
            r = _launch(args, env)
            if r["wall"] is not None:
                times.append(r["wall"])
            if r["cpu"] is not None:
                cpu.append(r["cpu"])
            screens.add(r["screen"])
    return {"name": "app.startup_s", "value": round(min(times), 3) if times else None, "unit": "s", "goal": 0.8, "runs": runs,
            "cpu_s": round(statistics.median(cpu), 3) if cpu else None, "screen": sorted(map(str, screens)),
            "note": "subprocess launch (python -m ketachart.cli) to the first event-loop turn after show(); a new "
                    "chart, so the window opens on its sign-in; " + BYTECODE_NOTE}


def startup_year(quick: bool) -> dict:
    """``app.startup_s.year``: the app started on the year-sized chart (bench_scale's cached build) until the
    patient list is painted, beside the same start on a new chart with one demo session (the baseline), in
    alternating runs. Both are started as ``--demo`` on a copy of the chart: the only way the app signs a
    nurse in by itself and opens straight on the patient list (the demo devices connect in both)."""
    import shutil

    from bench.bench_scale import QUICK_SESSIONS, YEAR_SESSIONS, build_chart

    sessions = QUICK_SESSIONS if quick else int(os.environ.get("KETACHART_BENCH_SCALE_SESSIONS") or YEAR_SESSIONS)
    year_db, info = build_chart(sessions)
    runs = 1 if quick else 3
    results: dict[str, list[dict]] = {"new": [], "year": []}
    with tempfile.TemporaryDirectory() as d:
        envs = {}
        for kind in results:
            folder = Path(d) / kind
            folder.mkdir()
            envs[kind] = _bytecode_env({**os.environ, "QT_QPA_PLATFORM": "offscreen", "KETACHART_DATA_DIR": str(folder),
                                        "KETACHART_REPORT_STARTUP": "1"}, str(Path(d) / "pyc"))
        subprocess.run(KETACHART + ["demo-session", "--db", str(Path(d) / "new" / "demo.db"), "--unencrypted"],
                       env=envs["new"], capture_output=True, timeout=300, check=True)
        shutil.copyfile(year_db, Path(d) / "year" / "demo.db")  # the app writes (demo users, audit): never the cache
        args = ["--demo", "--quit-after", "0.3"]
        for kind in results:  # first starts write the demo users and the bytecode: not measured
            _launch(args, envs[kind])
        for _ in range(runs):
            for kind in results:
                results[kind].append(_launch(args, envs[kind]))

    def best(kind: str, key: str):
        values = [r[key] for r in results[kind] if r[key] is not None]
        return round(min(values), 3) if values else None

    new_s, year_s = best("new", "wall"), best("year", "wall")
    new_cpu, year_cpu = best("new", "cpu"), best("year", "cpu")
    return {"name": "app.startup_s.year", "value": year_s, "unit": "s", "baseline_new_chart_s": new_s,
            "ratio": round(year_s / new_s, 3) if year_s and new_s else None, "goal": "within 20 % of the new chart",
            "cpu_s": year_cpu, "baseline_cpu_s": new_cpu,
            "cpu_ratio": round(year_cpu / new_cpu, 3) if year_cpu and new_cpu else None,
            "screen": sorted({str(r["screen"]) for r in results["year"]}),
            "patients_listed": max((r["patients"] or 0) for r in results["year"]) if results["year"] else None,
            "runs": runs, "sessions": info.get("sessions"), "rows": info.get("rows"),
            "file_mb": round(info.get("file_bytes", 0) / 2**20, 1),
            "note": "--demo start on a copy of the year-sized chart (bench_scale build_chart) to the first event-loop "
                    "turn after show() with the patient list painted, beside a new chart with one demo session; "
                    "min of runs; " + BYTECODE_NOTE}


def run(quick: bool = False):
    yield plot_update(quick)
    yield loop_lag(quick)
    yield rss_growth(quick)
    yield startup(quick)
    yield startup_year(quick)
    yield app_cpu(quick)

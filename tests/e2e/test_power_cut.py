"""A power cut mid-session: the real app (``--demo --autoplay``) in a subprocess, killed with SIGKILL at a random
moment. Afterwards the file must be intact, pass ``ketachart selftest``, still show the open session with its
readings and clocks, and hold everything the UI had confirmed as saved before the kill.

What "confirmed as saved" means comes from the app itself: with ``KETACHART_SAVED_TRACE`` set, the controller
and the vitals writer append one line (ids or counts only) per confirmation, after the commit returned and
before the UI shows it (``ketachart/chair/saved_trace.py``).

SIGKILL keeps the OS page cache, so the kill alone proves "saved only after commit", not "on disk". For the
disk half the app runs under ``strace`` when it is available: in every thread, each confirmation line must come
after an ``fsync``/``fdatasync`` of the WAL that followed that thread's last write to the WAL (what a power cut
would lose is exactly what was written but not synced).

Set ``KETACHART_KILL_SEED`` to replay one kill moment; the seed used is printed on failure.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ketachart.domain.clock import FakeClock, utc
from ketachart.store.models import CHART_TABLES
from ketachart.store.open import open_store
from ketachart.store.views import session_view

pytestmark = pytest.mark.slow

SPEED = 300  # app-clock seconds per real second: minute -14 .. 122 of the script takes about 27 s
KILL_WINDOW_S = (0.0, 20.0)  # real seconds after the first committed vitals: up to about session minute 85
STARTUP_TIMEOUT_S = 90.0


def read_trace(path: Path) -> list[dict]:
    """Whole lines only: a line cut short by the kill was never a confirmation the UI showed."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def strace_prefix(out: Path) -> list[str]:
    """``strace`` logging the WAL's writes and syncs and the trace's writes, or [] when it cannot run here."""
    exe = shutil.which("strace")
    if exe is None:
        return []
    probe = subprocess.run([exe, "-f", "-qq", "-e", "trace=none", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:  # ptrace not permitted (some containers)
        return []
    return [exe, "-f", "-y", "-qq", "-e", "trace=write,pwrite64,pwritev,fsync,fdatasync", "-o", str(out)]


def unsynced_confirmations(strace_log: Path, wal: str, trace: str) -> tuple[int, list[str]]:
    """(confirmations checked, lines written to ``trace`` while their thread had unsynced WAL writes).

    Syscalls of one thread run in order, so a sync begun before the confirmation ended before it."""
    dirty: dict[str, bool] = defaultdict(bool)
    checked, bad = 0, []
    call = re.compile(r"(\d+)\s+(\w+)\(\d+<([^>]*)>")
    for line in strace_log.read_text(errors="replace").splitlines():
        m = call.match(line)
        if not m:
            continue
        tid, name, path = m.groups()
        if path == wal:
            if name.startswith(("write", "pwrite")):
                dirty[tid] = True
            elif name in ("fsync", "fdatasync") and "= -1" not in line:
                dirty[tid] = False
        elif path == trace and name == "write":
            checked += 1
            if dirty[tid]:
                bad.append(line[:160])
    return checked, bad


def wait_for(cond, timeout: float, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if proc.poll() is not None:
            pytest.fail(f"the app exited (code {proc.returncode}) before {what}")
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def test_sigkill_mid_session_loses_nothing_shown_as_saved(tmp_path):
    seed = int(os.environ.get("KETACHART_KILL_SEED") or random.SystemRandom().randrange(1 << 30))
    rng = random.Random(seed)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    db = data_dir / "demo.db"  # --demo signs its nurse in on the demo database only
    trace = tmp_path / "saved.jsonl"
    log = tmp_path / "app.log"
    env = {**os.environ, "KETACHART_DATA_DIR": str(data_dir), "KETACHART_SAVED_TRACE": str(trace),
           "QT_QPA_PLATFORM": "offscreen"}
    env.pop("KETACHART_CENTRAL", None)
    syscalls = tmp_path / "strace.txt"
    traced = strace_prefix(syscalls)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            traced + [sys.executable, "-m", "ketachart.cli", "--demo", "--autoplay", "--speed", str(SPEED),
                      "--db", str(db)],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True)
    delay = rng.uniform(*KILL_WINDOW_S)
    try:
        wait_for(lambda: any(e["kind"] == "vitals" for e in read_trace(trace)), STARTUP_TIMEOUT_S, proc,
                 "the first vitals were committed")
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, f"the app ended before the kill (seed {seed}); log:\n{log.read_text()[-2000:]}"
        app_pid = proc.pid
        if traced:  # strace is the parent: kill the app itself (strace then logs its death and exits)
            app_pid = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
        os.kill(app_pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    if traced:
        assert "+++ killed by SIGKILL +++" in syscalls.read_text(errors="replace")
    else:
        assert proc.returncode == -signal.SIGKILL
    shown = read_trace(trace)
    from ketachart.store.reading_blocks import journal_readings
    from ketachart.ui.autoplay import DEMO_PATIENT

    assert not any(word in trace.read_text() for word in DEMO_PATIENT[:3]), "the saved trace holds patient data"
    context = f"(seed {seed}, killed {delay:.2f} s after the first vitals commit, {len(shown)} confirmations)"

    # 1. the file as the kill left it: SQLite's own check, on a fresh connection (the WAL is read, not lost)
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok", context

        # 2. every confirmation the UI gave before the kill is in the file
        ids = {i for e in shown for i in e.get("ids", ())}
        assert ids, f"the UI confirmed no entry before the kill {context}"
        found: set[str] = set()
        for table in CHART_TABLES:
            for chunk in range(0, len(ids), 500):
                part = sorted(ids)[chunk:chunk + 500]
                q = f"SELECT id FROM {table} WHERE id IN ({','.join('?' * len(part))})"
                found.update(r[0] for r in con.execute(q, part))
        missing = {(e["kind"], i) for e in shown for i in e.get("ids", ()) if i not in found}
        assert not missing, f"shown as saved but not in the file {context}: {sorted(missing)[:10]}"
        confirmed_rows: dict[str, int] = defaultdict(int)
        last_committed = 0
        for e in shown:
            if e["kind"] == "vitals":
                confirmed_rows[e["session"]] += e["rows"]
                last_committed = max(last_committed, e["committed"])
        journal = journal_readings(con)  # every reading is in the journal from its commit on (schema 5)
        stored_rows = {sid: sum(1 for r in journal if r["session_id"] == sid and r["source"].startswith("device:"))
                       for sid in confirmed_rows}
        for sid, n in confirmed_rows.items():
            assert stored_rows[sid] >= n, f"vitals: {n} confirmed, {stored_rows[sid]} in the file {context}"
        assert sum(stored_rows.values()) >= last_committed, context
        last_recorded = max([utc(datetime.fromisoformat(r[0])) for t in CHART_TABLES
                             for r in con.execute(f"SELECT max(recorded_at) FROM {t}") if r[0]]
                            + [r["recorded_at"] for r in journal])
    finally:
        con.close()

    # 2b. and on disk: nothing was confirmed while WAL frames of its thread were still unsynced
    if traced:
        checked, unsynced = unsynced_confirmations(syscalls, str(db.resolve()) + "-wal", str(trace.resolve()))
        assert checked >= len(shown) and not unsynced, f"confirmed before fsync {context}: {unsynced[:5]}"

    # 3. relaunching the store: the session is still open, with its readings and clocks
    (session_id,) = set(confirmed_rows)
    store = open_store(db, unencrypted=True, clock=FakeClock(last_recorded.astimezone(timezone.utc)))
    try:
        assert session_id in [s["id"] for s in store.open_sessions()], context
        view = session_view(store, session_id)
        assert not view.state.is_final, context
        assert len(store.readings(session_id)) >= confirmed_rows[session_id], context
        clocks = view.clocks(store.clock.now(), store.policy)
        assert clocks.state is view.state
        if view.infusion_started_at is not None:
            assert clocks.infusion_started_at == view.infusion_started_at and clocks.discharge_due_at is not None
            assert timedelta(0) <= clocks.infusion_elapsed <= last_recorded - view.infusion_started_at, context
        assert not store.verify_chain(), context
    finally:
        store.close()

    # 4. the installer's check passes on the file
    result = subprocess.run([sys.executable, "-m", "ketachart.cli", "selftest", "--db", str(db), "--unencrypted"],
                            env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, f"{context}\n{result.stdout}\n{result.stderr}"
    assert "FAIL" not in result.stdout and "hash chain: intact" in result.stdout, result.stdout

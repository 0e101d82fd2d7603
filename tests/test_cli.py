"""The foundation's command line, run as a user would: in a subprocess."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from ketachart.store.models import CHART_TABLES
from ketachart.store.repository import ChartStore


def ketachart(*args, **kw):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "ketachart.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120, **kw)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    result = ketachart("demo-session", "--db", str(path), "--seed", "7", "--unencrypted")
    assert result.returncode == 0, result.stderr
    session_id = result.stdout.strip().splitlines()[-1]
    return path, session_id


def test_demo_session_prints_its_id_and_writes_a_full_session(demo_db):
    path, session_id = demo_db
    con = sqlite3.connect(path)
    events = [r[0] for r in con.execute("SELECT event FROM session_events WHERE session_id=? ORDER BY effective_at", (session_id,))]
    assert events == ["check-in", "start-infusion", "stop-infusion", "discharge"]
    with ChartStore.open(path, lock=False) as store:  # readings live in per-minute blocks (schema 5)
        readings = store.readings(session_id)
    n_hr = sum(1 for r in readings if r["parameter"] == "HR")
    assert n_hr >= 130 * 60  # 1 Hz for about 130 minutes plus the baseline
    nibp = sum(1 for r in readings if r["parameter"] == "NIBP_SYS")
    assert 25 <= nibp <= 50  # every 3-5 minutes
    assert con.execute("SELECT count(*) FROM reading_blocks WHERE session_id=?", (session_id,)).fetchone()[0] < 200
    assert con.execute("SELECT count(*) FROM alert_acks").fetchone()[0] >= 1
    assert con.execute("SELECT count(*) FROM rate_changes").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM observations WHERE amends IS NOT NULL").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM observations WHERE late_entry").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM signatures s JOIN checklists c ON s.target_id=c.id WHERE c.kind='discharge'").fetchone()[0] == 1
    dose = con.execute("SELECT weight_kg, mg_per_kg, dose_mg, minutes FROM dose_administrations").fetchone()
    assert dose[1] == 0.5 and dose[2] == pytest.approx(dose[0] * 0.5, abs=0.05) and dose[3] == 40
    con.close()


def test_sqlite_itself_refuses_update_and_delete_on_a_demo_database(demo_db):
    path, _ = demo_db
    con = sqlite3.connect(path)
    for table in (*CHART_TABLES, "reading_journal", "reading_kinds"):
        if table in ("vital_readings", "patient_links"):  # old files' readings; a demo chart links no records
            continue
        column = {"reading_journal": "body", "reading_kinds": "flags"}.get(table, "author")
        for sql in (f"UPDATE {table} SET {column}='x'", f"DELETE FROM {table}"):
            with pytest.raises(sqlite3.IntegrityError):
                con.execute(sql)
    con.close()


def test_selftest_passes_on_the_demo_database(demo_db):
    path, _ = demo_db
    result = ketachart("selftest", "--db", str(path), "--unencrypted")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   hash chain: intact" in result.stdout
    assert "ok   alarm sound: high, medium patterns from " in result.stdout  # found and playable


def test_kill_9_during_demo_session_leaves_a_sound_database(tmp_path):
    """Power-cut simulation: SIGKILL at a random moment; the file must pass integrity_check and selftest."""
    rng = random.Random()
    for attempt in range(2):
        path = tmp_path / f"killed{attempt}.db"
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        proc = subprocess.Popen([sys.executable, "-m", "ketachart.cli", "demo-session", "--db", str(path), "--unencrypted"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        # wait until it has started writing, then kill at a random point
        deadline = time.monotonic() + 30
        while not path.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.9))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        con = sqlite3.connect(path)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
        result = ketachart("selftest", "--db", str(path), "--unencrypted")
        assert result.returncode == 0, result.stdout + result.stderr


def test_unknown_database_problems_are_one_clear_line(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a database\n" * 100)
    result = ketachart("selftest", "--db", str(bad), "--unencrypted")
    assert result.returncode == 2
    assert "not a KetaChart database" in result.stderr and "Traceback" not in result.stderr
    assert bad.read_text() == "not a database\n" * 100


# --- command line polish ---------------------------------------------------------------------------------
def _walk(parser, path=()):
    """Every (sub)parser of the ketachart command with its command path."""
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, path + (name,))


def _options(parser):
    import argparse

    return [a for a in parser._actions
            if not isinstance(a, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction))]


def test_every_option_of_every_command_has_help_text():
    import argparse

    from ketachart.cli import build_parser

    missing = [f"ketachart {' '.join(path)} {a.option_strings[0] if a.option_strings else a.dest}"
               for path, parser in _walk(build_parser()) for a in _options(parser)
               if not a.help or (a.help == argparse.SUPPRESS and a.dest != "quit_after")]
    assert missing == []


def test_options_a_command_ignores_are_not_offered():
    """A group (`users`, `policy`, `central`) passes nothing on, and a command without a chart takes no --db."""
    import argparse

    from ketachart.cli import build_parser

    offered = {" ".join(path): {s for a in _options(p) for s in a.option_strings} for path, p in _walk(build_parser())}
    groups = [path for path, p in _walk(build_parser()) if path and any(
        isinstance(a, argparse._SubParsersAction) for a in p._actions)]
    assert {" ".join(g) for g in groups} >= {"users", "policy", "central"}
    for g in groups:
        assert not offered[" ".join(g)] & {"--db", "--unencrypted"}, g
    for command in ("sim", "capture", "decode", "ports", "central init"):
        assert "--db" not in offered[command], command
    for command in ("report", "export", "sessions", "selftest", "users add", "policy show", "verify", "sync"):
        assert "--db" in offered[command], command


def test_each_command_imports_only_its_own_module():
    """The command table the fast start relies on says exactly which module adds which command, and a
    command's parser is the same with only its module as with all of them."""
    import argparse
    import importlib

    from ketachart.cli import COMMAND_MODULES, SUBCOMMAND_MODULES, _command_parser, _common, build_parser

    added = {}
    for name in SUBCOMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(name).add_subcommands(sub, _common())
        added.update(dict.fromkeys(sub.choices, name))
    assert COMMAND_MODULES == added
    full = {" ".join(path): sorted(s for a in _options(p) for s in a.option_strings) for path, p in _walk(build_parser())}
    for command, module in COMMAND_MODULES.items():
        only = {" ".join(path): sorted(s for a in _options(p) for s in a.option_strings)
                for path, p in _walk(_command_parser([command, "--help"])) if path and path[0] == command}
        assert only == {k: v for k, v in full.items() if k.split(" ")[0] == command}, command
    fallback = {" ".join(path) for path, _ in _walk(_command_parser(["--db", "x.db", "verify"]))}
    assert fallback == set(full)  # not a command first (here a misplaced option): the full parser, as before


def test_verify_does_not_import_sync_report_or_devices(tmp_path):
    code = ("import sys; from ketachart.cli import _command_parser; _command_parser(['verify']);"
            "print(sorted(m for m in ('ketachart.sync', 'psycopg', 'ketachart.report', 'ketachart.hardware.codecs',"
            " 'pyqtgraph', 'PySide6') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_app_options_before_a_command_are_refused_not_ignored(tmp_path):
    r = ketachart("--db", str(tmp_path / "other.db"), "selftest")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "ketachart selftest --db" in r.stderr
    assert not (tmp_path / "other.db").exists()


@pytest.mark.parametrize("target,why", [
    ("{tmp}/no-such-folder/out.pdf", "does not exist"),
    ("{tmp}", "is a folder"),
    ("/proc/ketachart-out.pdf", "permission denied"),  # not writable even for root
])
def test_an_unwritable_output_path_is_one_line_and_exit_2(demo_db, tmp_path, target, why):
    path, session_id = demo_db
    out = target.format(tmp=tmp_path)
    for args in (("report", "--db", str(path), "--unencrypted", "--session", session_id, "-o", out),
                 ("export", "--db", str(path), "--unencrypted", "--session", session_id, "--format", "csv", "-o", out),
                 ("encrypt-db", "--db", str(path), "--out", out)):
        r = ketachart(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.strip().count("\n") == 0 and why in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_sessions_lists_id_patient_date_route_status(demo_db):
    path, session_id = demo_db
    r = ketachart("sessions", "--db", str(path), "--unencrypted")
    assert r.returncode == 0, r.stderr
    header, *rows = r.stdout.strip().splitlines()
    assert header.split() == ["SESSION", "MRN", "PATIENT", "DATE", "ROUTE", "STATUS"]
    line = next(row for row in rows if row.startswith(session_id))
    assert line.split()[-2:] == ["IV", "discharged"]
    mrn = line.split()[1]
    r = ketachart("sessions", "--db", str(path), "--unencrypted", "--patient", mrn)
    assert r.returncode == 0 and session_id in r.stdout
    r = ketachart("sessions", "--db", str(path), "--unencrypted", "--from", "2999-01-01")
    assert r.returncode == 0 and r.stdout == "" and "no sessions on or after 2999-01-01" in r.stderr


def test_sessions_refuses_bad_input_with_exit_2(demo_db, tmp_path):
    path, _ = demo_db
    r = ketachart("sessions", "--db", str(path), "--unencrypted", "--patient", "NO-SUCH-MRN")
    assert r.returncode == 2 and "no patient with MRN NO-SUCH-MRN" in r.stderr
    r = ketachart("sessions", "--db", str(path), "--unencrypted", "--from", "1st of March")
    assert r.returncode == 2 and "YYYY-MM-DD" in r.stderr
    r = ketachart("sessions", "--db", str(tmp_path / "missing.db"))
    assert r.returncode == 2 and "no database at" in r.stderr


def test_demo_session_route_in_writes_a_finished_spravato_session(tmp_path):
    path = tmp_path / "in.db"
    result = ketachart("demo-session", "--db", str(path), "--route", "in", "--unencrypted")
    assert result.returncode == 0, result.stderr
    session_id = result.stdout.strip().splitlines()[-1]
    con = sqlite3.connect(path)
    assert con.execute("SELECT route FROM sessions WHERE id=?", (session_id,)).fetchone()[0] == "IN"
    assert con.execute("SELECT drug, dose_mg FROM dose_administrations").fetchone() == ("esketamine", 56.0)
    events = [r[0] for r in con.execute("SELECT event FROM session_events WHERE session_id=? ORDER BY effective_at", (session_id,))]
    assert events[0] == "check-in" and events[-1] == "discharge"
    assert con.execute("SELECT count(*) FROM rate_changes").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM vital_readings WHERE parameter LIKE 'PUMP%'").fetchone()[0] == 0
    bad = ketachart("demo-session", "--db", str(tmp_path / "x.db"), "--route", "im", "--unencrypted")
    assert bad.returncode == 2


def test_selftest_rehashes_only_the_chain_tail_and_names_verify_for_the_full_check(tmp_path, monkeypatch, capsys):
    """At any chart age selftest takes seconds: it re-hashes the newest rows, not every row (that is verify)."""
    from ketachart import selftest
    from ketachart.cli import main
    from ketachart.store.repository import ChartStore

    path = tmp_path / "older.db"
    store = ChartStore.open(path)
    patient = store.create_patient("MRN-7", "Doe", "Jane", "1980-02-03", "female", 70)
    session = store.create_session(patient["patient_id"], "IV")
    for i in range(60):
        store.observe(session["id"], "dissociation", i % 5)
    with store.engine.connect() as conn:
        total = sum(conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in CHART_TABLES)
        conn.rollback()
    store.close()
    monkeypatch.setattr(selftest, "SELFTEST_TAIL_ROWS", 20)
    assert main(["selftest", "--db", str(path), "--unencrypted"]) == 0
    out = capsys.readouterr().out
    assert "ok   hash chain: intact (triggers and the newest 21 rows re-hashed" in out  # 20 and their anchor
    assert total > 60 and "`ketachart verify`" in out
    assert "ok   database integrity: quick_check ok" in out

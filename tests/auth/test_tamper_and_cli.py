"""Hand edits are detected at open and by `ketachart verify`; the users and encrypt-db commands."""

from __future__ import annotations

import hashlib
import io
import sqlite3

import pytest

from ketachart.cli import main
from ketachart.store.models import Observation
from ketachart.store.open import ChartTampered, open_store


def make_chart(path, clock):
    with open_store(path, unencrypted=True, clock=clock) as store:
        first = store.observe(None, "note", text="first")
        store.observe(None, "note", text="second")
    return first


def test_hand_edit_after_dropping_a_trigger_is_detected_at_open(tmp_path, clock):
    db = tmp_path / "chart.db"
    first = make_chart(db, clock)
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER observations_no_update")
    con.execute("UPDATE observations SET text = 'rewritten' WHERE id = ?", (first["id"],))
    con.commit()
    con.close()
    with pytest.raises(ChartTampered) as err:
        open_store(db, unencrypted=True, clock=clock)
    msg = str(err.value)
    assert "changed outside KetaChart" in msg and "was edited" in msg and "trigger" in msg
    # the refused file is still there for investigation and can be inspected explicitly
    with open_store(db, unencrypted=True, clock=clock, verify=False) as store:
        assert store.get(Observation, first["id"])["text"] == "rewritten"


def test_a_deleted_row_is_detected_even_with_the_triggers_restored(tmp_path, clock):
    db = tmp_path / "chart.db"
    make_chart(db, clock)
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER observations_no_delete")
    con.execute("DELETE FROM observations WHERE text = 'second'")
    con.execute("CREATE TRIGGER observations_no_delete BEFORE DELETE ON observations BEGIN SELECT RAISE(ABORT, 'x'); END")
    con.commit()
    con.close()
    with pytest.raises(ChartTampered, match="missing"):
        open_store(db, unencrypted=True, clock=clock)


def test_verify_command(tmp_path, clock, capsys):
    db = tmp_path / "chart.db"
    first = make_chart(db, clock)
    assert main(["verify", "--db", str(db), "--unencrypted"]) == 0
    assert "intact" in capsys.readouterr().out
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER observations_no_update")
    con.execute("UPDATE observations SET text = 'rewritten' WHERE id = ?", (first["id"],))
    con.commit()
    con.close()
    assert main(["verify", "--db", str(db), "--unencrypted"]) == 1
    out = capsys.readouterr().out
    assert "CHANGED OUTSIDE KETACHART" in out and first["id"] in out


def run_cli(monkeypatch, argv, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(argv)


def test_users_commands_need_an_admin(tmp_path, monkeypatch, capsys):
    db = str(tmp_path / "chart.db")
    assert run_cli(monkeypatch, ["users", "add", "boss", "--name", "Pat Admin", "--role", "admin", "--db", db],
                   "admin-pass\n") == 0
    assert run_cli(monkeypatch, ["users", "add", "a.morgan", "--name", "Alex Morgan, RN", "--role", "nurse",
                                 "--db", db], "2468\n") == 2  # no --as once an admin exists
    assert run_cli(monkeypatch, ["users", "add", "a.morgan", "--name", "Alex Morgan, RN", "--role", "nurse",
                                 "--as", "boss", "--db", db], "admin-pass\n2468\n") == 0
    assert run_cli(monkeypatch, ["users", "reset-pin", "a.morgan", "--as", "a.morgan", "--db", db],
                   "2468\n1357\n") == 2  # a nurse cannot
    assert "Only an admin" in capsys.readouterr().err
    assert run_cli(monkeypatch, ["users", "deactivate", "a.morgan", "--reason", "left", "--as", "boss", "--db", db],
                   "admin-pass\n") == 0
    capsys.readouterr()
    assert run_cli(monkeypatch, ["users", "list", "--as", "boss", "--db", db], "admin-pass\n") == 0
    out = capsys.readouterr().out
    assert "a.morgan" in out and "inactive" in out and "boss" in out
    assert run_cli(monkeypatch, ["users", "list", "--as", "boss", "--db", db], "wrong\n") == 2
    assert "not recognised" in capsys.readouterr().err
    assert open(db, "rb").read(16) != b"SQLite format 3\x00"  # the real database is encrypted


def test_encrypt_db_writes_an_encrypted_copy_and_leaves_the_original(tmp_path, clock, capsys):
    src, dst = tmp_path / "old.db", tmp_path / "chart.db"
    make_chart(src, clock)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    assert main(["encrypt-db", "--db", str(src), "--out", str(dst)]) == 0
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    assert not dst.read_bytes().startswith(b"SQLite format 3")
    with open_store(dst, clock=clock) as store:  # the chain survives the copy
        assert [r["text"] for r in store.rows(Observation)] == ["first", "second"]


def test_users_add_refuses_a_short_admin_password_with_exit_2(tmp_path, monkeypatch, capsys):
    db = str(tmp_path / "chart.db")
    argv = ["users", "add", "boss", "--name", "Pat Admin", "--role", "admin", "--db", db]
    assert run_cli(monkeypatch, argv, "4321\n4321\n") == 2
    assert "admin password needs at least 8 characters" in capsys.readouterr().err
    assert run_cli(monkeypatch, argv, "admin-pass\nadmin-pass\n") == 0

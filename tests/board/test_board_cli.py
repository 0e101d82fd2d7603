"""`ketachart board` refuses bad input with one clear line and exit code 2, before touching anything."""

from __future__ import annotations

import pytest

from ketachart.cli import main


@pytest.mark.parametrize("argv, words", [
    (["board", "--demo", "--chairs", "0"], "--chairs must be between 1 and 20"),
    (["board", "--demo", "--chairs", "21"], "--chairs must be between 1 and 20"),
    (["board", "--size", "big"], "--size 'big': give WIDTHxHEIGHT"),
    (["board", "--poll-s", "0"], "--poll-s must be above zero"),
])
def test_bad_options_exit_2(argv, words, capsys):
    assert main(argv) == 2
    assert words in capsys.readouterr().err


def test_no_central_configured_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("KETACHART_CENTRAL", raising=False)
    monkeypatch.setenv("KETACHART_CENTRAL_CONFIG", str(tmp_path / "none.json"))
    assert main(["board"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ketachart: ") and len(err.strip().splitlines()) == 1


def test_unreachable_central_exits_2(capsys):
    assert main(["board", "--central", "postgresql://board@127.0.0.1:1/none?connect_timeout=2"]) == 2
    assert "cannot connect the board to the central database" in capsys.readouterr().err

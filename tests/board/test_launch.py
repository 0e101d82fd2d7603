"""The chair app's "Clinic board…" button: charge nurses and admins only; opens `ketachart board` in its own
process."""

from __future__ import annotations

from ketachart.app import create_main_window
from ketachart.store.open import open_store
from ketachart.ui.board.launch import BoardButton, board_command
from tests.ui.helpers import FAST_HASHER, PINS, signed_in


class FakeProcess:
    def __init__(self, command, **_):
        self.command = command
        self.terminated = False

    def poll(self):
        return 0 if self.terminated else None

    def terminate(self):
        self.terminated = True

    def wait(self, _timeout=None):
        return 0


def _window(qtbot, tmp_path, clock, user):
    store = open_store(tmp_path / "chair.db", unencrypted=True, clock=clock)
    store.create_user("nurse.a", "Ada Nurse, RN", "nurse", FAST_HASHER.hash(PINS["nurse.a"]))
    store.create_user("admin", "Avery Admin", "admin", FAST_HASHER.hash(PINS["admin"]))
    store.create_user("charge.c", "Cam Charge, RN", "charge-nurse", FAST_HASHER.hash("8642"))
    w = create_main_window(store, clock, accounts=signed_in(store, user), idle_min=0)
    qtbot.addWidget(w)
    w.show()
    return store, w


def test_admin_opens_the_demo_board_in_its_own_process(qtbot, tmp_path, clock):
    store, w = _window(qtbot, tmp_path, clock, "admin")
    button = BoardButton(w, demo=True, launcher=FakeProcess)
    try:
        assert button.button.isVisible()
        process = button.open_board()
        assert process.command[-3:] == ["board", "--windowed", "--demo"]
        assert process.command[1:4] == ["-m", "ketachart", "board"]
        assert button.open_board() is process  # already open: not a second board
    finally:
        button.stop()
        w.close()
        store.close()
    assert process.terminated


def test_a_nurse_sees_no_board_button_and_no_login_means_no_board(qtbot, tmp_path, clock, monkeypatch):
    store, w = _window(qtbot, tmp_path, clock, "nurse.a")
    button = BoardButton(w, demo=False, launcher=FakeProcess)
    try:
        assert not button.button.isVisible()
        monkeypatch.delenv("KETACHART_BOARD_CENTRAL", raising=False)
        assert board_command(False) is None
        monkeypatch.setenv("KETACHART_BOARD_CENTRAL", "postgresql://board_wall@central/ketachart")
        assert board_command(False)[-2:] == ["--central", "postgresql://board_wall@central/ketachart"]
    finally:
        button.stop()
        w.close()
        store.close()


def test_a_charge_nurse_opens_the_board_and_a_nurse_is_refused(qtbot, tmp_path, clock, monkeypatch):
    monkeypatch.setenv("KETACHART_BOARD_CENTRAL", "postgresql://board_wall@central/ketachart")
    store, w = _window(qtbot, tmp_path, clock, "nurse.a")
    button = BoardButton(w, demo=True, launcher=FakeProcess)  # the demo too: a nurse does not get the board
    try:
        assert not button.button.isVisible()
        assert button.open_board() is None  # refused, not only hidden
        assert "charge nurse" in w.statusBar().currentMessage()
        w.accounts.sign_out()
        w.accounts.sign_in("charge.c", "8642")
        button.update_visibility()
        assert button.button.isVisible()
        process = button.open_board()
        assert process.command[-3:] == ["board", "--windowed", "--demo"]
    finally:
        button.stop()
        w.close()
        store.close()

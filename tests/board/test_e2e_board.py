"""End to end against the real PostgreSQL: three chair processes chart and push live (real store, real sync,
real heartbeat); an offscreen board listens. An alert raised on a chair appears on the board within the target
(5 s); a chair killed shows stale; the board's login cannot write. Nothing sleeps for time: every wait is for a
condition, with a deadline."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import psycopg
import pytest

from ketachart.board.listen import BoardListener
from ketachart.board.model import BoardModel
from ketachart.board.queries import BoardSource
from ketachart.board.simulate import device_id_of
from ketachart.domain.clock import SystemClock
from ketachart.ui.board.window import BoardWindow

TARGET_MS = 5000  # issue 15: alert on a chair -> visible on the board
STALE_AFTER_S = 2.0  # the test's board calls a chair stale sooner than 30 s, so that nothing waits half a minute


class ChairProcess:
    def __init__(self, central_url: str, db, name: str, scenario: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ketachart.board.simulate", "--central", central_url, "--db", str(db),
             "--name", name, "--scenario", str(scenario), "--tick-s", "0.2", "--push-s", "0.5"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.device_id = self.expect("ready", 60).split()[1]

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def expect(self, prefix: str, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"chair said no {prefix!r} in {seconds} s; stderr: {self._stderr()}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line.startswith(prefix):
                return line

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read()[-2000:]

    def send(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(20)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)


@pytest.mark.timeout(240)
def test_three_chair_processes_and_an_offscreen_board(qtbot, central, board_url, chair_url, tmp_path):
    chairs: list[ChairProcess] = []
    window = None
    try:
        for i in range(3):
            db, name = tmp_path / f"chair{i}.db", f"chair-{i + 1}"
            url = chair_url(SimpleNamespace(device_id=device_id_of(db)), name)  # enrolled where the central enrols
            chairs.append(ChairProcess(url, db, name, [0, 3, 8][i]))
        source = BoardSource.connect(board_url)
        model = BoardModel(source, SystemClock(), stale_after_s=STALE_AFTER_S)
        window = BoardWindow(model, listener_factory=lambda cb: BoardListener(board_url, cb).start(), poll_s=3600)
        qtbot.addWidget(window)
        window.resize(1280, 720)
        window.start()
        assert window.listener.connected.wait(10)
        qtbot.waitUntil(lambda: len(window.tiles) == 3 and all(not t.stale for t in model.tiles()), timeout=20000)
        assert [t.chair_name for t in model.tiles()] == ["Chair 1", "Chair 2", "Chair 3"]
        assert [t.phase.value for t in model.tiles()] == ["infusing", "recovery", "infusing"]

        # An alert raised on chair 2's process appears on the board within the target.
        chairs[1].send("alert HR 131 above 120 for 5 min")
        raised_at = float(chairs[1].expect("raised", 30).split()[2])
        qtbot.waitUntil(lambda: "ALERT HR 131 above 120 for 5 min" in window.tiles[chairs[1].device_id].summary(),
                        timeout=TARGET_MS)
        seen_after = time.time() - raised_at
        assert window.sound.active
        print(f"alert visible on the board {seen_after:.2f} s after it was charted")

        # Chair 3 is killed: it falls silent and the board shows it stale; the others stay live.
        chairs[2].proc.send_signal(signal.SIGKILL)
        chairs[2].proc.wait(10)
        qtbot.waitUntil(lambda: window.model.tile(chairs[2].device_id).stale, timeout=20000)
        window.render()
        assert "STALE - last heard" in window.tiles[chairs[2].device_id].summary()
        qtbot.waitUntil(lambda: not any(model.tile(c.device_id).stale for c in chairs[:2]), timeout=10000)

        # Acknowledged at the chair: the tile calms down and the sound stops.
        chairs[1].send("ack")
        chairs[1].expect("acked", 30)
        qtbot.waitUntil(lambda: not window.sound.active, timeout=TARGET_MS)

        # The board's login cannot write anything.
        with psycopg.connect(board_url, autocommit=True) as board:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                board.execute("INSERT INTO ketachart.alert_acks (id) VALUES ('x')")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                board.execute("UPDATE ketachart.chair_heartbeats SET chair = 'x'")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                board.execute("DELETE FROM ketachart.vital_readings")
        source.close()
    finally:
        if window is not None:
            window.stop()
        for chair in chairs:
            chair.stop()

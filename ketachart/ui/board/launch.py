"""The chair app's way to the clinic board: a "Clinic board…" button for charge nurses and admins (permission
``view-board``; hidden and refused for everyone else, in the demo too) in the status bar, which opens
``ketachart board`` in a process of its own (the board has its own read-only login and must never share the
chair's event loop or its chart lock).

The board's central login comes from ``KETACHART_BOARD_CENTRAL`` (a URL for a member of ``ketachart_board``);
in ``--demo`` the board plays its own simulated chairs on a private central (``ketachart board --demo``).
"""

from __future__ import annotations

import os
import subprocess
import sys

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QMessageBox, QPushButton


def board_command(demo: bool) -> list[str] | None:
    """The command that opens the board, or None when no board login is configured."""
    base = [sys.executable, "-m", "ketachart", "board", "--windowed"]
    if demo:
        return base + ["--demo"]
    url = os.environ.get("KETACHART_BOARD_CENTRAL")
    return base + ["--central", url] if url else None


class BoardButton(QObject):
    """Shown while a charge nurse or an admin is signed in; polls who is signed in (no hook into the sign-in
    code). The demo signs its nurse in as the demo floor's charge nurse."""

    def __init__(self, window, *, demo: bool, launcher=subprocess.Popen) -> None:
        super().__init__(window)
        self.w = window
        self.demo = demo
        self.launcher = launcher
        self.process = None
        self.button = QPushButton("Clinic board…")
        self.button.setMinimumHeight(40)
        self.button.setToolTip("Every chair at a glance, live, from the central database (read-only)")
        self.button.clicked.connect(lambda _=False: self.open_board())
        window.statusBar().addPermanentWidget(self.button)
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.update_visibility)
        self.timer.start()
        self.update_visibility()

    def allowed(self) -> bool:
        """A charge nurse or an admin is signed in (and not locked out of the window)."""
        accounts = getattr(self.w, "accounts", None)
        current = getattr(accounts, "current", None)
        return bool(current and current.user.can("view-board") and not getattr(accounts, "locked", False))

    def update_visibility(self) -> None:
        self.button.setVisible(self.allowed())

    def open_board(self):
        if not self.allowed():  # a nurse never opens it, whatever calls this
            self.w.statusBar().showMessage("The clinic board is for the charge nurse and admins.", 10000)
            return None
        if self.process is not None and self.process.poll() is None:
            return self.process  # already open
        command = board_command(self.demo)
        if command is None:
            QMessageBox.information(self.w, "Clinic board", "No board login is configured on this computer. Clinic "
                                    "IT sets KETACHART_BOARD_CENTRAL to the URL of a read-only board login.")
            return None
        self.process = self.launcher(command, stdin=subprocess.DEVNULL)
        return self.process

    def stop(self) -> None:
        self.timer.stop()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

"""The first window (the patient list) is built without the plotting stack; the session screen builds it."""

from __future__ import annotations

import subprocess
import sys

from ketachart.ui.plot_phq import DAY_S, PhqTrend, date_ticks, phq_x_range
from ketachart.ui.theme import DARK

SCRIPT = r"""
import sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from ketachart.app import create_main_window
from ketachart.auth import Accounts
from ketachart.auth.passwords import HashParams, SecretHasher
from ketachart.domain.clock import FakeClock
from ketachart.store.open import open_store

clock = FakeClock()
store = open_store(sys.argv[1], unencrypted=True, clock=clock)
acc = Accounts(store, hasher=SecretHasher(HashParams(time_cost=1, memory_kib=8 * 1024, parallelism=1)))
store.create_user("n1", "Test Nurse, RN", "nurse", acc.hasher.hash("2468"))
acc.sign_in("n1", "2468")
p = store.create_patient("T-1", "Test", "Patient", "1980-01-01", "female", 70)
window = create_main_window(store, clock, accounts=acc, idle_min=0)
window.show()
app.processEvents()
print("patients", window.stack.currentWidget() is window.patients, window.patients.table.rowCount())
print("before", "pyqtgraph" in sys.modules, "numpy" in sys.modules)
window.show_session()
app.processEvents()
print("after", "pyqtgraph" in sys.modules, window.session.plot.isVisible())
window.close()
store.close()
"""


def test_patient_list_opens_without_pyqtgraph_or_numpy_and_the_session_screen_builds_its_plot(tmp_path):
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "c.db")], capture_output=True, text=True,
                       timeout=120, env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert lines["patients"] == "True 1"
    assert lines["before"] == "False False"
    assert lines["after"] == "True True"


def test_phq_trend_shows_days_around_the_scores(qtbot):
    now = 1_790_000_000.0
    assert phq_x_range([], now) == (now - 28 * DAY_S, now)  # no scores: the last four weeks
    lo, hi = phq_x_range([(now, 12.0)], now)  # one score: a week around it, never seconds
    assert lo == now - DAY_S and hi == now + 7 * DAY_S
    w = PhqTrend(DARK)
    qtbot.addWidget(w)
    w.set_scores([(now, 12.0), (now - 14 * DAY_S, 19.0)], now)
    assert w.points[0] == (now - 14 * DAY_S, 19.0)  # in date order
    assert "2 PHQ-9 totals; the last 12" in w.accessibleDescription()
    w.resize(400, 160)
    w.grab()  # paints without error
    ticks = date_ticks(*w.x_range, max_ticks=6)
    assert 2 <= len(ticks) <= 6 and all(b - a >= DAY_S - 3600 for a, b in zip(ticks, ticks[1:]))

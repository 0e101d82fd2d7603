"""Regression guard for the PySide6 6.12.0 / CPython 3.11 refcount bug.

That pair corrupts the reference counts of None/True and aborts the process after a few thousand signal
emits or void calls - even after pytest printed "passed". The dependency pins must never install it; this
test proves the installed pair survives 20,000 of each, in a subprocess so an abort is seen as an exit code.
"""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QObject, Signal, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    class Emitter(QObject):
        fired = Signal(object)

    app = QApplication([])
    e = Emitter()
    seen = []
    e.fired.connect(lambda v: seen.append(v is None))
    for i in range(20000):
        e.fired.emit(None if i % 2 else True)
    w = QWidget()
    for i in range(20000):
        w.update()          # void method
        w.setEnabled(True)  # void method taking True
    t = QTimer()
    for i in range(2000):
        t.stop()
    assert len(seen) == 20000
    print("clean", sys.getrefcount(None) > 0)
    """
)


def test_20000_signals_and_void_calls_exit_cleanly():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert "clean True" in result.stdout


def test_installed_pair_is_not_the_broken_one():
    import PySide6

    broken = sys.version_info[:2] == (3, 11) and PySide6.__version__.startswith("6.12.")
    assert not broken, f"PySide6 {PySide6.__version__} on Python 3.11 is the known-broken pair"

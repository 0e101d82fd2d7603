"""The summary model, its settings, the REMS form, the exports and the read models they use never pull in Qt
(checked in a clean interpreter, like tests/test_layering.py)."""

import subprocess
import sys

import pytest

PURE = [
    "ketachart.report.model", "ketachart.report.settings", "ketachart.report.rems", "ketachart.report.fhir",
    "ketachart.report.csv_export", "ketachart.domain.vocabulary", "ketachart.domain.vitals",
    "ketachart.store.readmodels", "ketachart.store.fingerprint",
]


@pytest.mark.parametrize("module", PURE)
def test_module_does_not_pull_in_qt(module):
    code = (
        f"import importlib, sys; importlib.import_module({module!r}); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

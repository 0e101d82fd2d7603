"""The house plan's doors: clinical model, store, sync and devices never import Qt (checked in a clean
interpreter, so nothing imported by another test can hide a violation)."""

import subprocess
import sys

import pytest

PURE = [
    "ketachart.domain.alerts", "ketachart.domain.dosing", "ketachart.domain.timeline", "ketachart.domain.scales",
    "ketachart.store.repository", "ketachart.store.views", "ketachart.demo",
    "ketachart.hardware.codecs.load_all", "ketachart.hardware.sim.load_all",
    "ketachart.domain.vocabulary", "ketachart.domain.vitals", "ketachart.store.readmodels",
    "ketachart.store.fingerprint", "ketachart.report.model", "ketachart.report.settings", "ketachart.report.rems",
    "ketachart.report.fhir", "ketachart.report.csv_export",
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


def test_import_linter_contracts_hold():
    from pathlib import Path

    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stdout + result.stderr

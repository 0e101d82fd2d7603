"""The house plan's doors: the clinical model, store, sync, devices, auth, the chair service and the report's
pure part never import Qt. Every module of those packages is imported in a clean interpreter, so nothing
imported by another test can hide a violation, and a new module is covered without editing this list."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import ketachart

PURE_PACKAGES = ["domain", "store", "sync", "hardware", "auth", "chair", "report"]
PURE_MODULES = ["ketachart.demo", "ketachart.paths", "ketachart.errors", "ketachart.cli", "ketachart.scenarios"]
# The report's rendering (QPainter/QPdfWriter: the summary and the form-like papers) and its command, which
# prints through it, are its Qt part.
QT_PARTS = ("ketachart.report.render", "ketachart.report.cli", "ketachart.report.paper")


def modules_of(package: str) -> list[str]:
    root = Path(ketachart.__file__).parent / package
    names = [f"ketachart.{package}"]
    for info in pkgutil.walk_packages([str(root)], prefix=f"ketachart.{package}."):
        if info.name.rsplit(".", 1)[-1] == "__main__" or info.name.startswith(QT_PARTS):
            continue
        names.append(info.name)
    return names


def pulls_in_qt(modules: list[str]) -> subprocess.CompletedProcess:
    code = (
        f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'))\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_package_does_not_pull_in_qt(package):
    modules = modules_of(package)
    assert len(modules) > 1, modules  # the walk found the package's modules
    result = pulls_in_qt(modules)
    assert result.returncode == 0, result.stdout + result.stderr


def test_chair_service_modules_are_all_covered():
    assert {"ketachart.chair.service", "ketachart.chair.signing", "ketachart.chair.forms"} <= set(modules_of("chair"))


def test_top_level_helpers_do_not_pull_in_qt():
    result = pulls_in_qt(PURE_MODULES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_itself_sees_qt():
    """The same probe on a UI module fails: the test can tell a violation from a pass."""
    assert pulls_in_qt(["ketachart.ui.controller"]).returncode == 1


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stdout + result.stderr


def test_screens_import_nothing_from_the_store():
    """Screens hold no clinical state: they reach the chart through the chair service, never its ORM rows."""
    import ast

    screens = Path(ketachart.__file__).parent / "ui" / "screens"
    offenders = []
    for path in sorted(screens.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
                a.name for a in node.names] if isinstance(node, ast.Import) else []
            offenders += [f"{path.name}: {n}" for n in names if n.lstrip(".").split(".")[0] == "store"
                          or "ketachart.store" in n]
    assert offenders == []

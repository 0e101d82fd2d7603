"""One version number, the application icon and the resources/ folder, as packaged."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import ketachart
from ketachart.platform import resources_dir

ROOT = Path(__file__).resolve().parents[2]


def test_one_version_number_from_the_package_metadata(capsys) -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert ketachart.__version__ == declared
    from ketachart.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"KetaChart {declared}"
    assert "__version__ =" not in (ROOT / "ketachart" / "__init__.py").read_text().replace(
        "__version__ = _version", "").replace('__version__ = "0+unknown"', "")


def test_resources_folder_has_the_icon_and_a_valid_desktop_entry() -> None:
    res = resources_dir()
    assert res == ROOT / "resources"
    pngs = sorted(int(p.stem.split("-")[1]) for p in (res / "icons").glob("ketachart-*.png"))
    assert {16, 32, 48, 256} <= set(pngs)
    assert (res / "icons" / "ketachart.svg").read_text().lstrip().startswith("<?xml")
    desktop = configparser.ConfigParser(interpolation=None)
    desktop.optionxform = str
    desktop.read(res / "ketachart.desktop")
    entry = desktop["Desktop Entry"]
    assert entry["Exec"].split()[0] == "ketachart" and entry["Icon"] == "ketachart"
    assert entry["Terminal"] == "false" and entry["Type"] == "Application"
    if shutil.which("desktop-file-validate"):
        run = subprocess.run(["desktop-file-validate", str(res / "ketachart.desktop")], capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr


def test_gui_entry_point_and_windows_bundle_without_console() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["gui-scripts"]["ketachart-gui"] == project["scripts"]["ketachart"] == "ketachart.cli:main"
    spec = (ROOT / "build.spec").read_text()
    assert "console=not IS_WINDOWS" in spec and "copy_metadata(\"ketachart\")" in spec


def test_dependencies_are_portable() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split(">")[0].split(";")[0].strip(): d for d in deps}
    assert "tzdata" in names and "portalocker" in names
    assert "platform_machine == 'x86_64'" in names["sqlcipher3-binary"]
    assert "platform_machine != 'x86_64'" in names["sqlcipher3"]


@pytest.mark.slow
def test_the_wheel_carries_the_resources(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                          str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    (wheel,) = tmp_path.glob("ketachart-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    data = [n.split(".data/data/", 1)[1] for n in names if ".data/data/" in n]
    assert "share/ketachart/icons/ketachart-256.png" in data
    assert "share/applications/ketachart.desktop" in data
    assert "share/icons/hicolor/scalable/apps/ketachart.svg" in data


def test_about_button_shows_the_version_and_where_the_chart_is(qtbot, tmp_path) -> None:
    from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox

    from ketachart.ui.about import add_about_button, app_icon

    window = QMainWindow()
    qtbot.addWidget(window)
    window.store = type("S", (), {"path": tmp_path / "chart.db"})()
    button = add_about_button(window)
    assert button.text() == f"KetaChart {ketachart.__version__}" and button.accessibleName() == "About KetaChart"
    assert not app_icon().isNull() and 256 in [s.width() for s in app_icon().availableSizes()]
    button.click()
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox) or any(
        isinstance(w, QMessageBox) and w.isVisible() for w in QApplication.topLevelWidgets()), timeout=5_000)
    box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())
    assert f"KetaChart {ketachart.__version__}" in box.text() and str(tmp_path / "chart.db") in box.text()
    box.close()

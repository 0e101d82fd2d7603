"""The application icon and the About box: name, version (from the package metadata), where the chart is."""

from __future__ import annotations

import sys

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget

from .. import __version__
from ..platform import resources_dir


def app_icon() -> QIcon:
    """The KetaChart icon at every size shipped in resources/icons (empty icon if they are missing)."""
    icon = QIcon()
    res = resources_dir()
    if res is not None:
        for png in sorted((res / "icons").glob("ketachart-*.png")):
            icon.addFile(str(png))
    return icon


def about_text(chart_path: object = "") -> str:
    import platform as _py

    lines = [f"KetaChart {__version__}",
             "Bedside charting for IV ketamine and intranasal esketamine chair sessions.",
             f"Python {_py.python_version()} on {_py.system()} {_py.machine()}"]
    if chart_path:
        lines.append(f"Chart: {chart_path}")
    return "\n".join(lines)


def show_about(parent: QWidget, chart_path: object = "") -> None:
    box = QMessageBox(parent)
    box.setWindowTitle("About KetaChart")
    box.setIconPixmap(app_icon().pixmap(64, 64))
    box.setText(about_text(chart_path))
    box.open()


def add_about_button(window) -> QPushButton:
    """A small "KetaChart x.y" button at the right of the status bar that opens the About box."""
    button = QPushButton(f"KetaChart {__version__}")
    button.setObjectName("aboutButton")
    button.setFlat(True)
    # quiet beside Lock and Sign out: it is information, not an action a nurse needs during a session
    button.setStyleSheet("QPushButton#aboutButton { border: none; background: transparent; font-weight: normal; }")
    button.setAccessibleName("About KetaChart")
    button.setAccessibleDescription("Shows the KetaChart version and where this chair's chart is kept")
    button.clicked.connect(lambda: show_about(window, getattr(getattr(window, "store", None), "path", "")))
    window.statusBar().addPermanentWidget(button)
    window.about_button = button
    return button

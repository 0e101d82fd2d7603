"""The main window shell. The chair screen fills it; this shell is what ``selftest`` checks."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMainWindow, QVBoxLayout, QWidget


class MainWindow(QMainWindow):
    def __init__(self, store_path: str, device_id: str) -> None:
        super().__init__()
        self.setWindowTitle("KetaChart")
        self.resize(1280, 800)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        title = QLabel("KetaChart", central)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(title)
        self.status_label = QLabel(f"Chart: {store_path}  ·  chair {device_id}", central)
        layout.addWidget(self.status_label)
        self.setCentralWidget(central)

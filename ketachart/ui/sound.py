"""The alert sound: repeats while an alert is unacknowledged. Never fails, headless or without audio."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, QUrl
from PySide6.QtWidgets import QApplication


class AlertSound(QObject):
    def __init__(self, parent: QObject | None = None, interval_ms: int = 2500) -> None:
        super().__init__(parent)
        self._effect = None
        self.played = 0
        try:  # QtMultimedia is not part of PySide6-Essentials; fall back to the system beep
            from PySide6.QtMultimedia import QSoundEffect  # type: ignore[import-not-found]

            wav = Path(__file__).resolve().parent.parent / "resources" / "sounds" / "alert.wav"
            if wav.exists():
                self._effect = QSoundEffect(self)
                self._effect.setSource(QUrl.fromLocalFile(str(wav)))
        except Exception:
            self._effect = None
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._play)

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def set_active(self, on: bool) -> None:
        if on and not self._timer.isActive():
            self._play()
            self._timer.start()
        elif not on and self._timer.isActive():
            self._timer.stop()

    def _play(self) -> None:
        self.played += 1
        try:
            if self._effect is not None:
                self._effect.play()
            else:
                QApplication.beep()
        except Exception:
            pass

"""The alarm sound: high and medium priority bursts (resources/sounds/), repeated until acknowledged.

Played through miniaudio (a 1 MB library the bundle carries; QtMultimedia would add about 23 MB of Qt and
FFmpeg). :class:`AlarmTone` is the sound itself, Qt-free: a stream of frames that repeats the burst of the
current priority with the silence between bursts, and silence when nothing is due; it counts what it
delivered, so a test can prove the device really pulled alarm frames. :class:`AlertSound` opens the audio
device once and says when there is none: "alarm sound unavailable" is then shown on screen (and the system
bell is tried, which may be silent), never silently ignored.
"""

from __future__ import annotations

import sys
import threading
import wave
from array import array
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from ..platform import resources_dir

UNAVAILABLE_TEXT = "alarm sound unavailable"
# priority: (file, silence between bursts in seconds; IEC 60601-1-8 allows 2.5-15 s high, 2.5-30 s medium)
PATTERNS = {"high": ("alarm-high.wav", 4.0), "medium": ("alarm-medium.wav", 8.0)}
PRIORITIES = ("high", "medium")


def sounds_dir() -> Path:
    """resources/sounds wherever this copy keeps its resources (``platform.resources_dir``: the bundle, the
    .deb's /opt/ketachart, a source tree, or installed package data). With none found, the source tree's
    path: loading then fails and the screen says "alarm sound unavailable"."""
    res = resources_dir()
    if res is None:
        return Path(__file__).resolve().parents[2] / "resources" / "sounds"
    return res / "sounds"


def load_burst(path: Path) -> tuple[int, array]:
    """(sample rate, mono 16-bit samples) of one shipped burst."""
    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path.name}: alarm sounds are mono 16-bit")
        samples = array("h")
        samples.frombytes(w.readframes(w.getnframes()))
        if sys.byteorder != "little":
            samples.byteswap()
        return w.getframerate(), samples


class AlarmTone:
    """The frames the audio device plays: the current priority's burst, then its silence, over and over.

    ``frames()`` is the generator miniaudio pulls (it is sent how many frames it needs). Changing the priority
    takes effect at the next pull; a new or higher priority starts its burst at once.
    """

    def __init__(self, directory: Path | None = None) -> None:
        directory = directory or sounds_dir()
        self.rate = 0
        self.cycles: dict[str, array] = {}  # burst then silence, one repeat
        self.burst_frames: dict[str, int] = {}
        for priority, (name, gap_s) in PATTERNS.items():
            rate, burst = load_burst(directory / name)
            if self.rate and rate != self.rate:
                raise ValueError("alarm sounds must share one sample rate")
            self.rate = rate
            self.burst_frames[priority] = len(burst)
            self.cycles[priority] = burst + array("h", bytes(2 * int(rate * gap_s)))
        self._lock = threading.Lock()
        self._priority: str | None = None
        self._pos = 0
        self.frames_delivered = 0  # every frame handed to the device
        self.alarm_frames = 0  # frames of alarm cycles (burst or its silence) handed to the device
        self.bursts_started = 0

    @property
    def priority(self) -> str | None:
        return self._priority

    def set_priority(self, priority: str | None) -> None:
        if priority is not None and priority not in PATTERNS:
            raise ValueError(f"unknown alarm priority {priority!r}")
        with self._lock:
            if priority != self._priority:
                self._priority, self._pos = priority, 0

    def take(self, count: int) -> bytes:
        """The next ``count`` frames as 16-bit little-endian bytes."""
        with self._lock:
            out = array("h")
            if self._priority is None:
                out = array("h", bytes(2 * count))
            else:
                cycle = self.cycles[self._priority]
                while len(out) < count:
                    if self._pos == 0:
                        self.bursts_started += 1
                    part = cycle[self._pos:self._pos + count - len(out)]
                    out.extend(part)
                    self._pos = (self._pos + len(part)) % len(cycle)
                self.alarm_frames += count
            self.frames_delivered += count
        return out.tobytes() if sys.byteorder == "little" else _swapped(out)

    def frames(self):  # noqa: ANN201  (a generator miniaudio drives with .send(frame count))
        count = yield b""
        while True:
            count = yield self.take(count or 256)


def _swapped(samples: array) -> bytes:
    copy = array("h", samples)
    copy.byteswap()
    return copy.tobytes()


class SoundUnavailable(Exception):
    """No audio output: no library, no device, or the device failed."""


def _import_miniaudio():
    """miniaudio imports numpy when it can, only to accept numpy sample arrays (the alarm sends bytes). The
    window opens its sound device while it is built, so that import would add numpy (about 0.1 s) to every
    start: numpy is hidden from it when nothing has loaded numpy yet (it stays importable for the plot)."""
    if "miniaudio" in sys.modules or "numpy" in sys.modules:
        import miniaudio

        return miniaudio
    sys.modules["numpy"] = None  # type: ignore[assignment]  # Python's own "not installed" marker
    try:
        import miniaudio
    finally:
        if sys.modules.get("numpy", 0) is None:
            del sys.modules["numpy"]
    return miniaudio


class AudioOut:
    """One miniaudio playback device fed by an :class:`AlarmTone`. ``backends``: miniaudio backend names
    ("pulseaudio", "alsa", "wasapi", "coreaudio", "null" ...); None tries the platform's usual ones and
    never falls back to the silent null device."""

    def __init__(self, tone: AlarmTone, backends: tuple[str, ...] | None = None) -> None:
        try:
            miniaudio = _import_miniaudio()
        except ImportError as exc:  # pragma: no cover - a build without it
            raise SoundUnavailable(f"no audio library ({exc.name})") from None
        self.tone = tone
        chosen = None
        if backends:
            try:
                chosen = [miniaudio.Backend[b.upper()] for b in backends]
            except KeyError as exc:
                raise SoundUnavailable(f"unknown audio backend {exc}") from None
        try:
            self.device = miniaudio.PlaybackDevice(output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1,
                                                   sample_rate=tone.rate, buffersize_msec=50,
                                                   backends=chosen, app_name="KetaChart")
        except miniaudio.MiniaudioError as exc:
            raise SoundUnavailable(f"no audio output device ({exc})") from None
        self.backend = self.device.backend
        if self.backend.lower() == "null" and not (backends and "null" in backends):
            self.device.close()
            raise SoundUnavailable("no audio output device (only the silent null device)")
        self._generator = None

    @property
    def running(self) -> bool:
        return self.device.running

    def start(self) -> None:
        if self.device.running:
            return
        gen = self.tone.frames()
        next(gen)
        try:
            self.device.start(gen)
        except Exception as exc:  # the device went away
            raise SoundUnavailable(f"the audio device failed ({exc})") from None

    def stop(self) -> None:
        try:
            self.device.stop()
        except Exception:
            pass

    def close(self) -> None:
        self.stop()
        try:
            self.device.close()
        except Exception:
            pass


# A chair without audio stays without audio: probe once per process, not once per window.
_NO_AUDIO: dict[tuple[str, ...] | None, str] = {}


class AlertSound(QObject):
    """The main window's alarm sound. ``set_active(on, priority)`` every repaint: the sound repeats while an
    alert is unacknowledged; ``available`` is False (and ``problem`` says why) when nothing can be heard."""

    availability_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, *, backends: tuple[str, ...] | None = None,
                 directory: Path | None = None) -> None:
        super().__init__(parent)
        self.tone: AlarmTone | None = None
        self.out: AudioOut | None = None
        self.problem = ""
        self._active = False
        self.played = 0  # times an alarm was started (or the fallback bell rung)
        try:
            self.tone = AlarmTone(directory)
        except (OSError, ValueError) as exc:
            self.problem = f"alarm sound files missing ({exc})"
            return
        known = _NO_AUDIO.get(backends)
        if known:
            self.problem = known
            return
        try:
            self.out = AudioOut(self.tone, backends)
        except SoundUnavailable as exc:
            self.problem = str(exc)
            _NO_AUDIO[backends] = self.problem

    @property
    def available(self) -> bool:
        return self.out is not None and not self.problem

    @property
    def status_text(self) -> str:
        return "" if self.available else UNAVAILABLE_TEXT

    @property
    def active(self) -> bool:
        return self._active

    @property
    def priority(self) -> str | None:
        return self.tone.priority if self.tone else None

    def set_active(self, on: bool, priority: str = "high") -> None:
        """Sound ``priority`` (high or medium) until called with ``on=False`` (every alert acknowledged)."""
        if priority not in PRIORITIES:
            raise ValueError(f"unknown alarm priority {priority!r}")
        want = priority if on else None
        if on == self._active and want == self.priority:
            return
        self._active = on
        if self.tone is not None:
            self.tone.set_priority(want)
        if not on:
            if self.out is not None:
                self.out.stop()
            return
        self.played += 1
        if self.available:
            try:
                self.out.start()
                return
            except SoundUnavailable as exc:
                self.problem = str(exc)
                self.availability_changed.emit(False)
        try:
            QApplication.beep()  # may be silent: the screen says "alarm sound unavailable"
        except Exception:
            pass

    def close(self) -> None:
        self.set_active(False)
        if self.out is not None:
            self.out.close()


class SoundStatus(QLabel):
    """Says "alarm sound unavailable" on screen while the alarm cannot be heard; hidden otherwise."""

    def __init__(self, sound: AlertSound, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sound = sound
        self.setObjectName("warnText")
        sound.availability_changed.connect(lambda _ok: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        text = self.sound.status_text
        self.setText(f"⚠ {text}" if text else "")
        self.setToolTip(self.sound.problem)
        self.setVisible(bool(text))

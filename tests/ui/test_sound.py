"""The alarm sound: shipped high and medium priority bursts, repeated until acknowledged, really pulled by an
audio device (miniaudio's null device plays headless), and "alarm sound unavailable" on screen without one."""

from __future__ import annotations

import importlib.util
import wave
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QWidget

from ketachart.ui.sound import PATTERNS, UNAVAILABLE_TEXT, AlarmTone, AlertSound, SoundStatus, sounds_dir

ROOT = Path(__file__).resolve().parents[2]


def samples(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)


def pulses(rate: int, x: np.ndarray) -> list[tuple[float, float]]:
    """(start s, length s) of each tone pulse: runs of sound separated by at least 20 ms of silence."""
    loud = np.abs(x) > 200
    idx = np.flatnonzero(loud)
    runs, start, last = [], idx[0], idx[0]
    for i in idx[1:]:
        if i - last > rate * 0.02:
            runs.append((start, last))
            start = i
        last = i
    runs.append((start, last))
    return [(a / rate, (b - a) / rate) for a, b in runs]


def fundamental(rate: int, x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


def test_the_shipped_sounds_are_what_the_generator_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("make_alarm_sounds", ROOT / "resources/sounds/make_alarm_sounds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for path in module.main(tmp_path):
        assert path.read_bytes() == (sounds_dir() / path.name).read_bytes(), path.name
    assert sounds_dir() == ROOT / "resources" / "sounds"


def test_high_and_medium_priority_are_distinct_patterns_in_the_spirit_of_iec_60601_1_8():
    rate, high = samples(sounds_dir() / PATTERNS["high"][0])
    _, medium = samples(sounds_dir() / PATTERNS["medium"][0])
    hp, mp = pulses(rate, high), pulses(rate, medium)
    assert len(hp) == 10 and len(mp) == 3
    assert all(0.075 <= length <= 0.2 for _, length in hp)  # high: pulses of 75-200 ms
    assert all(0.125 <= length <= 0.25 for _, length in mp)  # medium: 125-250 ms
    gaps = [round(b[0] - (a[0] + a[1]), 2) for a, b in zip(hp, hp[1:])]
    assert gaps[4] > 2 * gaps[0] and gaps[2] > gaps[0]  # 3 + 2, a pause, 3 + 2
    first = int(rate * hp[0][1])
    f_high = fundamental(rate, high[:first])
    f_medium = fundamental(rate, medium[: int(rate * mp[0][1])])
    assert 150 <= f_medium < f_high <= 1000  # both in the band; high is the higher pitch
    spectrum = np.abs(np.fft.rfft(high[:first] * np.hanning(first)))
    freqs = np.fft.rfftfreq(first, 1 / rate)
    peaks = [spectrum[np.abs(freqs - f_high * k) <= 15 * k].max() for k in range(1, 6)]
    assert min(peaks) / max(peaks) > 10 ** (-15 / 20)  # at least 4 harmonics within 15 dB


def test_the_tone_repeats_its_burst_until_acknowledged_then_is_silent():
    tone = AlarmTone()
    cycle = tone.cycles["high"]
    assert len(cycle) == tone.burst_frames["high"] + int(tone.rate * PATTERNS["high"][1])
    tone.set_priority("high")
    gen = tone.frames()
    next(gen)
    got = b"".join(gen.send(1000) for _ in range(len(cycle) * 5 // 2 // 1000))
    expected = (cycle.tobytes() * 3)[: len(got)]
    assert got == expected and tone.bursts_started == 3
    tone.set_priority("medium")  # a different priority starts its own burst at once
    assert gen.send(500) == tone.cycles["medium"][:500].tobytes()
    tone.set_priority(None)  # acknowledged
    assert gen.send(700) == bytes(1400)
    assert tone.frames_delivered == len(got) // 2 + 1200 and tone.alarm_frames == len(got) // 2 + 500
    with pytest.raises(ValueError):
        tone.set_priority("low")


def test_a_real_audio_device_pulls_the_alarm_frames_until_acknowledged(qtbot):
    sound = AlertSound(backends=("null",))  # miniaudio's null device: a real device thread, no speaker
    assert sound.available and sound.status_text == "" and sound.out.backend.lower() == "null"
    sound.set_active(True, "high")
    assert sound.active and sound.priority == "high" and sound.out.running
    qtbot.waitUntil(lambda: sound.tone.alarm_frames >= sound.tone.rate // 10, timeout=5000)  # 100 ms played
    assert sound.tone.bursts_started >= 1
    sound.set_active(True, "high")  # every repaint says the same: nothing restarts
    assert sound.played == 1
    sound.set_active(False)
    assert not sound.active and not sound.out.running and sound.priority is None
    sound.close()


def test_without_an_audio_device_the_screen_says_alarm_sound_unavailable(qtbot):
    sound = AlertSound(backends=("wasapi",))  # a Windows-only backend: no device on this machine
    assert not sound.available and sound.status_text == UNAVAILABLE_TEXT and sound.problem
    window = QWidget()
    qtbot.addWidget(window)
    label = SoundStatus(sound, window)
    window.show()
    assert label.isVisible() and label.text() == "⚠ alarm sound unavailable"
    sound.set_active(True)  # still "sounds" (the system bell), and the alert stays on screen
    assert sound.active and sound.played == 1


def test_missing_sound_files_are_unavailable_too(qtbot, tmp_path):
    sound = AlertSound(backends=("null",), directory=tmp_path)
    assert not sound.available and "alarm sound files missing" in sound.problem
    label = SoundStatus(sound)
    qtbot.addWidget(label)
    assert label.text() == "⚠ alarm sound unavailable"


def test_an_audible_chair_shows_no_warning(qtbot):
    window = QWidget()
    qtbot.addWidget(window)
    label = SoundStatus(AlertSound(backends=("null",)), window)
    window.show()
    assert not label.isVisible() and label.text() == ""


def test_the_sounds_are_found_where_the_bundle_and_the_deb_keep_resources(qtbot, tmp_path, monkeypatch):
    """A PyInstaller bundle (the .deb installs one in /opt/ketachart) unpacks resources/ under sys._MEIPASS:
    the sound files are looked up through platform.resources_dir(), the one place that knows where it is."""
    import shutil
    import sys

    from ketachart import platform

    bundle = tmp_path / "bundle"
    shutil.copytree(ROOT / "resources" / "sounds", bundle / "resources" / "sounds")
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    assert platform.resources_dir() == bundle / "resources"
    assert sounds_dir() == bundle / "resources" / "sounds"
    sound = AlertSound(backends=("null",))
    assert sound.available and sound.tone.rate > 0  # loaded from the bundle's copy
    sound.close()
    (bundle / "resources" / "sounds" / PATTERNS["high"][0]).unlink()  # a bundle built without them
    broken = AlertSound(backends=("null",))
    assert not broken.available and broken.status_text == UNAVAILABLE_TEXT


def test_selftest_fails_a_copy_that_has_no_alarm_sounds(tmp_path, monkeypatch):
    from ketachart import selftest
    from ketachart.ui import sound

    name, ok, detail = selftest._alarm_sound()
    assert (name, ok) == ("alarm sound", True) and str(sounds_dir()) in detail
    (tmp_path / "sounds").mkdir()
    monkeypatch.setattr(sound, "resources_dir", lambda: tmp_path)  # a bundle built without resources/sounds
    name, ok, detail = selftest._alarm_sound()
    assert not ok and detail.startswith(f"sound files not found in {tmp_path / 'sounds'}")

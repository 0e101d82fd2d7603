"""Write the alarm sounds KetaChart ships: one burst per priority, in the spirit of IEC 60601-1-8.

    python resources/sounds/make_alarm_sounds.py [OUTDIR]

High priority: 10 pulses as 3 + 2, a pause, 3 + 2 (pulse 150 ms, 100 ms apart, 350 ms between the groups of
3 and 2, 500 ms between the halves). Medium priority: 3 pulses (200 ms, 200 ms apart), a lower pitch.
Each pulse is a tone with its first five harmonics (all within 11 dB of the fundamental) and a 20-30 ms rise
and fall, so it is heard through noise and located in a room. The player adds the silence between bursts
(ketachart/ui/sound.py). The output is deterministic: the test rebuilds the files and compares bytes.
"""

from __future__ import annotations

import math
import struct
import sys
import wave
from pathlib import Path

RATE = 22050
HARMONICS = (1.0, 0.7, 0.5, 0.4, 0.3)

# priority: (file, fundamental Hz, pulse ms, rise/fall ms, [(gap before each pulse ms)])
HIGH = ("alarm-high.wav", 660.0, 150, 20, [0, 100, 100, 350, 100, 500, 100, 100, 350, 100])
MEDIUM = ("alarm-medium.wav", 523.0, 200, 30, [0, 200, 200])


def pulse(freq: float, ms: int, ramp_ms: int, level: float = 0.8) -> list[float]:
    n = int(RATE * ms / 1000)
    ramp = int(RATE * ramp_ms / 1000)
    peak = sum(HARMONICS)
    out = []
    for i in range(n):
        envelope = min(1.0, i / ramp, (n - 1 - i) / ramp)
        value = sum(a * math.sin(2 * math.pi * freq * (k + 1) * i / RATE) for k, a in enumerate(HARMONICS))
        out.append(level * envelope * value / peak)
    return out


def burst(freq: float, ms: int, ramp_ms: int, gaps: list[int]) -> list[float]:
    tone = pulse(freq, ms, ramp_ms)
    out: list[float] = []
    for gap in gaps:
        out += [0.0] * int(RATE * gap / 1000)
        out += tone
    return out


def write_wav(path: Path, samples: list[float]) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", round(s * 32767)) for s in samples))


def main(outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, freq, ms, ramp, gaps in (HIGH, MEDIUM):
        path = outdir / name
        write_wav(path, burst(freq, ms, ramp, gaps))
        written.append(path)
    return written


if __name__ == "__main__":
    for p in main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent):
        print(p)

"""Masimo Radical-7 sim: prints one ASCII 1 line per second and never reads the port.

The ``artifacts`` scenario exercises what real cables and oximeters do to the host: garbage bytes, a half
line running into the next one, sensor-off and pulse-search lines with and without digits, low signal IQ,
and a trend-dump style line (see masimo-ascii.md section 6).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .base import DeviceSim, register

DEVICE_EPOCH = datetime(2026, 1, 5, 9, 0, 0)  # the oximeter's own (local, often wrong) clock at t = 0


def blue_line(when: datetime, spo2: str, bpm: str, pi: str, exc: int = 0, sn: str = "0000070986") -> str:
    """A Radical-7 'blue' layout line (the OpenICE field order), CR LF terminated."""
    return (
        f"{when:%m/%d/%y %H:%M:%S} SN={sn} SPO2={spo2}% BPM={bpm} PI={pi}% SPCO=--.-% SPMET=--.-% "
        f"DESAT=-- PIDELTA=+-- PVI=--- ALARM=0000 EXC={exc:06X}\r\n"
    )


@register("masimo")
class MasimoSim(DeviceSim):
    period_s = 1.0

    def __init__(self, scenario: str = "ketamine", seed: int = 1) -> None:
        super().__init__(scenario, seed)
        self.wall_at_zero = DEVICE_EPOCH
        self._next: float | None = None
        self._n = 0

    def tick(self, t: float) -> None:
        if self._next is None or t - self._next > 10 * self.period_s:
            self._next = t  # first tick, or the device clock jumped: no burst of stale lines
            if self.scenario == "artifacts" and self._n == 0:
                self._send(b"12 BPM=071 PI=02.1")  # partial first line, as after opening a port mid-line
        while t >= self._next:
            self._line(self._next)
            self._next += self.period_s

    def _line(self, t: float) -> None:
        n = self._n
        self._n += 1
        when = self.wall_at_zero + timedelta(seconds=round(t))
        v = self.patient.vitals_at(t)
        spo2, bpm, pi, exc = f"{int(v.spo2):03d}", f"{int(v.pulse):03d}", f"{max(0.02, v.pi):05.2f}", 0
        if self.patient.probe_off(t):
            spo2, bpm, pi, exc = "---", "---", "--.--", 0x20  # sensor off patient
        if self.scenario != "artifacts":
            self._send(blue_line(when, spo2, bpm, pi, exc).encode())
            return
        k = n % 20
        if k == 3:
            self._send(b"\x00\xff\x13#!garbage\x7f")
        if k == 5:
            spo2, bpm, pi, exc = "---", "---", "--.--", 0x20  # sensor off patient
        elif k == 8:
            exc = 0x008  # pulse search: digits present but vetoed by EXC
        elif k == 11:
            exc = 0xC00  # low signal IQ, SET
        elif k == 14:
            line = blue_line(when, spo2, bpm, pi, exc).encode()
            self._send(line[: len(line) // 2])  # half a line: the rest is lost, the next line runs on
            return
        elif k == 17:
            self._send(f"{when:%m/%d/%y %H:%M:%S} SpO2={spo2} PR={bpm} PI={pi} EXC=800:SET\r\n".encode())
            return
        self._send(blue_line(when, spo2, bpm, pi, exc).encode())

"""Masimo "ASCII 1" serial lines (Radical-7, Rad-8): the oximeter prints, the host only listens.

There is no checksum on this protocol, so robustness comes from strict parsing: a line must start with the
device's date and time, every value is checked for its no-value forms and plausibility, and the EXC
exception bits can veto digits the oximeter still prints (sensor off, pulse search ...).
See ../shared/protocols/masimo-ascii.md.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone, tzinfo

from ...domain.codes import Parameter
from ...domain.readings import BLOCKING, Quality, Reading
from .base import Codec, CodecTime, DeviceInfoEvent, FrameEvent, LinkHint, ReadingEvent, register

MAX_LINE = 512
WRONG_MODE_AFTER_S = 10.0

_HEAD = re.compile(rb"\s*(\d\d)/(\d\d)/(\d\d)\s+(\d\d):(\d\d):(\d\d)\s")
_HEAD_ANY = re.compile(rb"(\d\d)/(\d\d)/(\d\d)\s+(\d\d):(\d\d):(\d\d)\s")
_FIELD = re.compile(rb"([A-Za-z][A-Za-z0-9]*)=(\S*)")
_NOVALUE_CHARS = frozenset(b"-+.")

# EXC bits (hex) and what they mean for SpO2 / pulse / PI.
EXC_NO_SENSOR = 0x001
EXC_DEFECTIVE = 0x002
EXC_LOW_PERFUSION = 0x004
EXC_PULSE_SEARCH = 0x008
EXC_INTERFERENCE = 0x010
EXC_OFF_PATIENT = 0x020
EXC_AMBIENT_LIGHT = 0x040
EXC_UNRECOGNISED = 0x080
EXC_LOW_SIQ = 0x400
EXC_SET = 0x800

# key (upper case) -> (parameter, plausible low, plausible high)
_KEYS: dict[bytes, tuple[Parameter, float, float]] = {
    b"SPO2": (Parameter.SPO2, 1.0, 100.0),
    b"BPM": (Parameter.PR, 25.0, 240.0),
    b"PR": (Parameter.PR, 25.0, 240.0),
    b"PI": (Parameter.PI, 0.02, 20.0),
}


def exception_flags(exc: int) -> frozenset[Quality]:
    """Quality flags implied by the EXC word (blocking ones veto the value)."""
    flags: set[Quality] = set()
    if exc & (EXC_NO_SENSOR | EXC_OFF_PATIENT):
        flags.add(Quality.SENSOR_OFF)
    if exc & (EXC_DEFECTIVE | EXC_PULSE_SEARCH | EXC_UNRECOGNISED):
        flags.add(Quality.INVALID)
    if exc & EXC_LOW_PERFUSION:
        flags.add(Quality.LOW_PERFUSION)
    if exc & EXC_LOW_SIQ:
        flags.add(Quality.LOW_SIGNAL_IQ)
    if exc & (EXC_INTERFERENCE | EXC_AMBIENT_LIGHT):
        flags.add(Quality.ARTIFACT)
    return frozenset(flags)


def parse_number(raw: bytes) -> float | None:
    """Decimal value of a field, or None for Masimo's dashed no-value forms and anything unparsable."""
    if raw.endswith(b"%"):
        raw = raw[:-1]
    if not raw or all(c in _NOVALUE_CHARS for c in raw):
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def parse_hex(raw: bytes) -> int | None:
    raw = raw.split(b":", 1)[0]
    try:
        return int(raw, 16) if raw else None
    except ValueError:
        return None


@register("masimo")
class MasimoCodec(Codec):
    """Line splitter + key/value parser; one FrameEvent per line, one ReadingEvent per present vital."""

    link_hint = LinkHint(baudrate=9600, bytesize=8, parity="N", stopbits=1, quiet_time_s=10.0)

    def __init__(self) -> None:
        super().__init__()
        self._buf = b""
        self._last_line: bytes | None = None
        self._bytes_since_valid = 0
        self._mode_warned = False
        self.source = "device:masimo"
        # The oximeter's clock has no zone on the wire: it is whatever the device was set to. Recorded, never
        # trusted for ordering; the app may set the clinic's zone here (default UTC).
        self.device_tz: tzinfo = timezone.utc
        self._t0: float | None = None

    def _feed(self, data: bytes, now: CodecTime) -> None:
        if self._t0 is None:
            self._t0 = now.mono
        buf = self._buf + data if self._buf else data
        # CR, LF or CRLF all end a line: normalise to LF once (fast C loop), then split.
        if b"\r" in buf:
            buf = buf.replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._buf = lines.pop()
        if len(self._buf) > MAX_LINE:
            self.stats.junk_bytes += len(self._buf)
            self._emit(FrameEvent(False, "overlong", len(self._buf), "line longer than 512 bytes dropped"))
            self._buf = b""
        for line in lines:
            if line:
                self._line(line, now)

    def _line(self, line: bytes, now: CodecTime) -> None:
        if len(line) > MAX_LINE:
            self._bad(line, "line longer than 512 bytes dropped")
            return
        head = _HEAD.match(line)
        if head is not None and line.count(b"/") > 2:
            # A half line followed by a whole one without a terminator: keep the last complete start.
            starts = list(_HEAD_ANY.finditer(line))
            head = starts[-1]
            self.stats.junk_bytes += head.start()
        if head is None:
            self._bad(line, "unrecognised line")
            return
        body = line[head.end():]
        if body == self._last_line:
            self.stats.frames_ok += 1
            self.last_valid_mono = now.mono
            self._emit(FrameEvent(True, "repeat", len(line), "same line again: no new readings"))
            return
        self._last_line = body
        mo, dd, yy, hh, mi, ss = (int(g) for g in head.groups())
        try:
            device_time: datetime | None = datetime(2000 + yy, mo, dd, hh, mi, ss, tzinfo=self.device_tz)
        except ValueError:
            device_time = None
        fields: dict[bytes, bytes] = {}
        for key, value in _FIELD.findall(body):
            fields[key.upper()] = value
        exc_raw = fields.get(b"EXC")
        exc = parse_hex(exc_raw) if exc_raw is not None else 0
        flags = exception_flags(exc or 0)
        if exc_raw is not None and exc is None:
            flags = flags | {Quality.QUESTIONABLE}
        self.stats.frames_ok += 1
        self.last_valid_mono = now.mono
        self._bytes_since_valid = 0
        self._emit(FrameEvent(True, "line", len(line), f"EXC={exc or 0:X}"))
        for key, (param, low, high) in _KEYS.items():
            raw = fields.get(key)
            if raw is None:
                continue
            value = parse_number(raw)
            f = flags
            if value is None:
                f = f | {Quality.UNAVAILABLE}
            elif not (f & BLOCKING) and not low <= value <= high:
                value = None
                f = f | {Quality.OUT_OF_RANGE}
            self._emit(
                ReadingEvent(
                    Reading(param, value, now.wall, device_time=device_time, flags=f, source=self.source)
                )
            )

    def _bad(self, line: bytes, why: str) -> None:
        self.stats.frames_bad += 1
        self.stats.junk_bytes += len(line)
        self._bytes_since_valid += len(line)
        self._emit(FrameEvent(False, "line", len(line), why))

    def tick(self, now: CodecTime) -> None:
        """Warn once when bytes keep arriving but none of them parses: wrong mode or baud rate."""
        if self._mode_warned or self._bytes_since_valid == 0:
            return
        ref = self.last_valid_mono if self.last_valid_mono is not None else self._t0
        since = now.mono - (ref if ref is not None else now.mono)
        if since >= WRONG_MODE_AFTER_S:
            self._mode_warned = True
            self._emit(
                DeviceInfoEvent(
                    "warning", "no ASCII 1 line recognised: select ASCII 1 (AS1) output, 9600 8N1, null-modem cable"
                )
            )

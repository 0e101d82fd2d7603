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
from ...domain.readings import Quality, Reading
from .base import Codec, CodecTime, DeviceInfoEvent, FrameEvent, LinkHint, ReadingEvent, parse_decimal, register

MAX_LINE = 512
WRONG_MODE_AFTER_S = 10.0

_HEAD = re.compile(rb"\s*(\d\d)/(\d\d)/(\d\d)\s+(\d\d):(\d\d):(\d\d)\s")
_HEAD_ANY = re.compile(rb"(\d\d)/(\d\d)/(\d\d)\s+(\d\d):(\d\d):(\d\d)\s")
_FIELD = re.compile(rb"([A-Za-z][A-Za-z0-9]*)=(\S*)")
_CONTROL = bytes(range(0x20)) + b"\x7f"  # NUL and friends: the Rad-7 sends them between lines

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

# key (upper case) -> parameter; plausibility is domain/plausibility.py's, applied to every reading
_KEYS: dict[bytes, Parameter] = {
    b"SPO2": Parameter.SPO2,
    b"BPM": Parameter.PR,
    b"PR": Parameter.PR,
    b"PI": Parameter.PI,
}
_UNITS = {param: param.unit for param in _KEYS.values()}
_MISSING = object()
# Trend-format exception mnemonics (``EXC=028:OffPat,Search``) where the hex part is unreadable.
EXC_MNEMONICS: dict[str, int] = {
    "NOSENSOR": EXC_NO_SENSOR, "DEFECT": EXC_DEFECTIVE, "LOWPERF": EXC_LOW_PERFUSION, "SEARCH": EXC_PULSE_SEARCH,
    "INTERF": EXC_INTERFERENCE, "OFFPAT": EXC_OFF_PATIENT, "AMBLIGHT": EXC_AMBIENT_LIGHT,
    "UNRECSEN": EXC_UNRECOGNISED, "LOWSIGIQ": EXC_LOW_SIQ, "SET": EXC_SET,
}


_EXC_FLAGS: dict[int, frozenset[Quality]] = {}
_UNAVAILABLE: dict[frozenset[Quality], frozenset[Quality]] = {}


def _unavailable(flags: frozenset[Quality]) -> frozenset[Quality]:
    """``flags`` plus unavailable (a dashed no-value field), remembered: the same few sets recur."""
    out = _UNAVAILABLE.get(flags)
    if out is None:
        out = _UNAVAILABLE[flags] = flags | {Quality.UNAVAILABLE}
    return out


def exception_flags(exc: int) -> frozenset[Quality]:
    """Quality flags implied by the EXC word (blocking ones veto the value)."""
    known = _EXC_FLAGS.get(exc)
    if known is not None:
        return known
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
    if len(_EXC_FLAGS) < 4096:
        _EXC_FLAGS[exc] = frozenset(flags)
    return frozenset(flags)


def technical_alarms(exc: int) -> tuple[str, ...]:
    """The oximeter's equipment faults in EXC, passed on as technical alarms. Sensor off, no sensor and pulse
    search are left to the chair's "no valid SpO2" rule, which waits the policy's seconds (placing a probe is
    not an alarm); the ALARM word's bits are unpublished and never used."""
    words = []
    if exc & EXC_DEFECTIVE:
        words.append("sensor-defective")
    if exc & EXC_UNRECOGNISED:
        words.append("sensor-unrecognised")
    return tuple(words)


def parse_number(raw: bytes) -> float | None:
    """Decimal value of a field, or None for Masimo's dashed no-value forms and anything unparsable."""
    if raw.endswith(b"%"):
        raw = raw[:-1]
    if not raw.strip(b"-+."):  # empty, or dashes only: Masimo's "no value"
        return None
    return parse_decimal(raw)  # strict: no '1_0', Unicode digits, nan or inf


_HEX = re.compile(rb"[0-9A-Fa-f]{1,8}")


def parse_hex(raw: bytes) -> int | None:
    """EXC/ALARM words: hex digits, optionally followed by ``:mnemonic,...`` (trend format)."""
    word, _, names = raw.partition(b":")
    if word and _HEX.fullmatch(word):
        return int(word, 16)
    if names:
        bits = 0
        for name in names.decode("ascii", "replace").upper().split(","):
            if name.strip() not in EXC_MNEMONICS:
                return None
            bits |= EXC_MNEMONICS[name.strip()]
        return bits
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
        self._alarm: int | None = None
        self._alarm_raw: bytes | None = None
        self._numbers: dict[bytes, float | None] = {}
        self._exc_cache: dict[bytes | None, tuple[int | None, frozenset[Quality], str]] = {}

    def flush(self, now: CodecTime) -> None:
        """End of input (``decode``): a final line without its terminator is still a line."""
        rest, self._buf = self._buf, b""
        if rest.strip(_CONTROL + b" "):
            self._line(rest, now)

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
        if line[0] < 0x20 or line[0] == 0x7F:
            skipped = len(line)
            line = line.lstrip(_CONTROL)
            self.stats.junk_bytes += skipped - len(line)
            if not line:
                return
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
        whole = line[head.start():]
        if whole == self._last_line:
            # The same time AND the same values: the line was sent twice. A new second with the same
            # values is a new 1 Hz sample and is charted.
            self.stats.frames_ok += 1
            self.stats.ignored["repeat"] += 1
            self.last_valid_mono = now.mono
            self._emit(FrameEvent(True, "repeat", len(line), "same line again: no new readings"))
            return
        self._last_line = whole
        mo, dd, yy, hh, mi, ss = map(int, head.groups())
        try:
            device_time: datetime | None = datetime(2000 + yy, mo, dd, hh, mi, ss, tzinfo=self.device_tz)
        except ValueError:
            device_time = None
        fields = {key.upper(): value for key, value in _FIELD.findall(body)}
        exc_raw = fields.get(b"EXC")
        known = self._exc_cache.get(exc_raw)
        if known is None:
            if len(self._exc_cache) > 256:
                self._exc_cache.clear()
            exc = parse_hex(exc_raw) if exc_raw is not None else 0
            flags = exception_flags(exc or 0)
            if exc_raw is not None and exc is None:
                flags = flags | {Quality.QUESTIONABLE}
            known = self._exc_cache[exc_raw] = (exc, flags, f"EXC={exc or 0:X}")
        exc, flags, exc_text = known
        self.stats.frames_ok += 1
        self.last_valid_mono = now.mono
        self._bytes_since_valid = 0
        self._emit(FrameEvent(True, "line", len(line), exc_text))
        alarm_raw = fields.get(b"ALARM")
        if alarm_raw is not None and alarm_raw != self._alarm_raw:
            self._alarm_raw = alarm_raw
            alarm = parse_hex(alarm_raw)
            if alarm != self._alarm:
                # ALARM bits are unpublished (notes section 3): told as device information, never an alert.
                self._alarm = alarm
                self._emit(DeviceInfoEvent("alarm", "unreadable" if alarm is None else f"{alarm:#06x}"))
        wall, source, emit, numbers = now.wall, self.source, self._emit, self._numbers
        for key, param in _KEYS.items():
            raw = fields.get(key)
            if raw is None:
                continue
            value = numbers.get(raw, _MISSING)  # an oximeter prints the same few numbers over and over
            if value is _MISSING:
                if len(numbers) > 1024:
                    numbers.clear()
                value = numbers[raw] = parse_number(raw)
            emit(ReadingEvent(Reading(param, value, wall, _UNITS[param], device_time,  # type: ignore[arg-type]
                                      flags if value is not None else _unavailable(flags), source)))
        if exc and exc & (EXC_DEFECTIVE | EXC_UNRECOGNISED) or self._alarm_words:
            self._technical_alarms(technical_alarms(exc or 0), now, source)

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

"""The contract every protocol codec keeps (h11 style).

The link (``hardware/link.py``) drives a codec like this::

    codec = codec_for("philips")
    link.write(codec.start(now))                 # association request, DRI request, ALIVE, or b""
    codec.receive_data(chunk, now)             # whatever the port returned, any size, any garbage
    for event in codec.events():               # ReadingEvent, FrameEvent, DeviceInfoEvent
        ...
    link.write(codec.data_to_send())           # ACKs, keep-alives, polls the codec wants sent
    codec.tick(now)                            # time passes: re-poll, keep-alive, quiet-time detection
    if codec.needs_restart: link.write(codec.start(now))   # e.g. re-associate after silence

``now`` is a :class:`CodecTime` with the host's UTC wall time and monotonic seconds: the codec never reads
a clock. A device sending nonsense never raises: junk is counted (``stats``) and the decoder resynchronises
at the next valid frame. Only our own mistakes (a bad command) raise.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Callable, ClassVar

from ...domain.clock import system_zone
from ...domain.codes import Parameter
from ...domain.plausibility import PLAUSIBLE, screen
from ...domain.readings import Reading
from ..registry import registrar


@dataclass(frozen=True)
class CodecTime:
    """The time a codec is told: host UTC wall time and host monotonic seconds."""

    wall: datetime
    mono: float


@dataclass(frozen=True)
class ReadingEvent:
    """A normalized reading decoded from the device."""

    reading: Reading


@dataclass(frozen=True)
class FrameEvent:
    """One frame seen on the wire (for ``decode --frames``): whether it was valid and what it was."""

    valid: bool
    kind: str
    length: int
    detail: str = ""


@dataclass(frozen=True)
class DeviceInfoEvent:
    """Something the device told us about itself or the link (model, association accepted, alarm text)."""

    key: str
    value: str


@dataclass(frozen=True)
class PatientMismatchEvent:
    """A message names another patient than the open chart: its readings are held, not charted, until the
    nurse says whether they belong here (``Codec.resolve_held``). ``hold_id`` names this hold; more
    messages with the same MRN join it (``readings`` is the count held so far)."""

    hold_id: int
    device_mrn: str
    chart_mrn: str
    location: str
    readings: int


@dataclass(frozen=True)
class HeldResolvedEvent:
    """A hold was confirmed (its readings follow as ReadingEvents) or rejected (dropped, counted)."""

    hold_id: int
    accepted: bool
    readings: int


@dataclass(frozen=True)
class DeviceSettings:
    """What the chair's device set-up tells a codec (all optional).

    bed         the location this chair charts (HL7 PV1-3, e.g. ``KETA^CHAIR^07`` or just ``07``)
    monitor     the monitor this chair charts (HL7 MSH-3 sending application or OBX-18 equipment id)
    device_tz   IANA zone of device clocks that send times without an offset; None: the chair's own zone
    patient_mrn the open session's patient (messages naming another MRN are held)
    """

    bed: str | None = None
    monitor: str | None = None
    device_tz: str | None = None
    patient_mrn: str | None = None

    def zone(self) -> tzinfo:
        """The device clock's zone: the configured one, else this computer's (the chair's) zone."""
        if self.device_tz:
            from zoneinfo import ZoneInfo

            return ZoneInfo(self.device_tz)  # a bad name is a configuration mistake: raise
        return chair_zone()


def chair_zone() -> tzinfo:
    """This computer's time zone as a real zone (DST-aware) where the OS names one, else its current offset."""
    return system_zone()[0]


_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DECIMAL_BYTES = re.compile(rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def parse_decimal(text: str | bytes) -> float | None:
    """A plain ASCII decimal (``-12``, ``36.8``, ``.5``), else None.

    Python's ``float`` accepts much that no device means as a number: ``1_0``, Arabic-Indic and other
    Unicode digits, ``nan``, ``inf``, exponents, surrounding whitespace. Devices sending those are sending
    junk, so every codec reads numbers through this one strict gate."""
    if len(text) > 32:
        return None
    if isinstance(text, (bytes, bytearray)):
        if text.isdigit() or text.replace(b".", b"", 1).isdigit():  # bytes.isdigit() is ASCII-only
            return float(text)
        pattern = _DECIMAL_BYTES
    else:
        if text.isascii() and (text.isdigit() or text.replace(".", "", 1).isdigit()):  # the usual "52.5"
            return float(text)
        pattern = _DECIMAL
    if pattern.fullmatch(text) is None:
        return None
    return float(text)


@dataclass(frozen=True)
class LinkHint:
    """Serial settings and timing a protocol needs; the link uses them when opening the port."""

    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"  # pyserial letters: N, E, O
    stopbits: int = 1
    rtscts: bool = False
    quiet_time_s: float = 30.0  # no valid frame for this long while connected -> silent
    tcp: bool = False  # HL7 over MLLP is usually TCP


@dataclass
class CodecStats:
    frames_ok: int = 0
    frames_bad: int = 0
    junk_bytes: int = 0
    readings: int = 0
    # Things deliberately not charted, by reason ("other-bed", "adt", "held", "rejected", "repeat" ...).
    ignored: Counter = field(default_factory=Counter)


class Codec:
    """Base class: subclasses implement ``_feed`` (parse) and may override ``start``/``tick``."""

    protocol: ClassVar[str] = ""
    link_hint: ClassVar[LinkHint] = LinkHint()

    def __init__(self) -> None:
        self.settings = DeviceSettings()
        self.stats = CodecStats()
        self._events: list[object] = []
        self._outgoing = bytearray()
        self.needs_restart = False
        self.last_valid_mono: float | None = None
        self._alarm_words: tuple[str, ...] = ()  # the monitor's technical alarms in its last record

    # --- configuration --------------------------------------------------------------------------
    def configure(self, settings: DeviceSettings) -> None:
        """Apply the chair's device settings (bed, monitor, device zone, open patient)."""
        self.settings = settings
        if hasattr(self, "device_tz"):
            self.device_tz = settings.zone()

    def set_patient(self, mrn: str | None) -> None:
        """The open session's patient changed (None: no session open)."""
        from dataclasses import replace

        self.settings = replace(self.settings, patient_mrn=mrn or None)

    def resolve_held(self, hold_id: int, accept: bool, now: CodecTime) -> None:
        """The nurse decided about held readings; protocols that never hold ignore it."""

    # --- driven by the link -------------------------------------------------------------------
    def start(self, now: CodecTime) -> bytes:
        """Bytes to send when the port opens (or after ``needs_restart``). Default: nothing."""
        self.needs_restart = False
        return b""

    def receive_data(self, data: bytes, now: CodecTime) -> None:
        """Feed bytes from the device. Never raises on device nonsense."""
        if data:
            self._feed(bytes(data), now)

    def silence(self, now: CodecTime) -> None:
        """The link's watchdog (the one owner of silence) saw no valid frame for the quiet time. Codecs never
        time silence themselves; they only say what it means. Default: start again (re-request,
        re-associate) through ``needs_restart``."""
        self.needs_restart = True

    def close(self, now: CodecTime) -> None:
        """The connection ended: this codec will not be fed again (HL7 gives up its held messages)."""

    def summary(self) -> dict:
        """Protocol-specific facts for ``decode``'s summary line (e.g. "this is host-side traffic")."""
        return {}

    def flush(self, now: CodecTime) -> None:
        """End of input (a capture file ends): decode what is complete without its terminator, if the
        protocol can tell (Masimo's last line). Default: nothing."""

    def tick(self, now: CodecTime) -> None:
        """Time passed with or without data; protocols with keep-alives or polls queue bytes here."""

    def events(self) -> list[object]:
        """Drain and return the events decoded so far."""
        out, self._events = self._events, []
        return out

    def data_to_send(self) -> bytes:
        """Drain and return bytes the codec wants written to the device."""
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    # --- for subclasses -----------------------------------------------------------------------
    def _feed(self, data: bytes, now: CodecTime) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _emit(self, event: object) -> None:
        if type(event) is ReadingEvent:
            self.stats.readings += 1
            reading = event.reading
            value = reading.value
            if value is not None:
                # Sentinels and impossible values never leave a codec as numbers (domain/plausibility.py);
                # the bounds test is inlined because it runs for every reading of every device.
                bounds = PLAUSIBLE.get(reading.parameter)
                if bounds is not None and not bounds[0] <= value <= bounds[1]:
                    event = ReadingEvent(screen(reading))
        self._events.append(event)

    def _technical_alarms(self, words: tuple[str, ...], now: CodecTime, source: str) -> None:
        """The technical alarms the monitor reports in this record, as one MONITOR_ALARM reading (text: the
        words, comma-separated): with every record while any is on, once more as "none" when they end. A
        monitor without technical alarms sends none, so ordinary streams and captures decode as before."""
        if words or self._alarm_words:
            self._emit(ReadingEvent(Reading(Parameter.MONITOR_ALARM, float(len(words)), now.wall, source=source,
                                            text=",".join(words) if words else "none")))
        self._alarm_words = words

    def _send(self, data: bytes) -> None:
        self._outgoing += data


CODECS: dict[str, Callable[[], Codec]] = {}


register = registrar(CODECS)  # ``@register("ge")``: the codec the CLI and the link find under that name

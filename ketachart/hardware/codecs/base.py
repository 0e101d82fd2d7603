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

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, ClassVar

from ...domain.readings import Reading


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


class Codec:
    """Base class: subclasses implement ``_feed`` (parse) and may override ``start``/``tick``."""

    protocol: ClassVar[str] = ""
    link_hint: ClassVar[LinkHint] = LinkHint()

    def __init__(self) -> None:
        self.stats = CodecStats()
        self._events: list[object] = []
        self._outgoing = bytearray()
        self.needs_restart = False
        self.last_valid_mono: float | None = None

    # --- driven by the link -------------------------------------------------------------------
    def start(self, now: CodecTime) -> bytes:
        """Bytes to send when the port opens (or after ``needs_restart``). Default: nothing."""
        self.needs_restart = False
        return b""

    def receive_data(self, data: bytes, now: CodecTime) -> None:
        """Feed bytes from the device. Never raises on device nonsense."""
        if data:
            self._feed(bytes(data), now)

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
        if isinstance(event, ReadingEvent):
            self.stats.readings += 1
        self._events.append(event)

    def _send(self, data: bytes) -> None:
        self._outgoing += data


CODECS: dict[str, Callable[[], Codec]] = {}


def register(name: str) -> Callable[[type[Codec]], type[Codec]]:
    """Class decorator: make a codec available under ``name`` for the CLI and the link."""

    def deco(cls: type[Codec]) -> type[Codec]:
        cls.protocol = name
        CODECS[name] = cls
        return cls

    return deco


def codec_for(name: str) -> Codec:
    """A new codec for a protocol name (``ge``, ``philips``, ``masimo``, ``hl7``, ``bbraun``)."""
    from . import load_all  # noqa: F401  (registers the codecs)

    try:
        return CODECS[name]()
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; choose one of {', '.join(sorted(CODECS))}") from None

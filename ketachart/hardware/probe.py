"""Find which device is on which serial port: ``ketachart ports --probe`` (and the Devices dialog).

For each port, each protocol gets a few seconds: the port is opened with that protocol's settings, a
protocol that waits to be asked gets its one polite request (the same the link would send), and whatever
comes back is decoded. A protocol whose frames decode is reported with what the device said about itself;
listen-only protocols are tried first, so a device that speaks unasked is never sent another protocol's
request. Ports are opened exclusively and closed again; nothing is charted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable

import serial

from .codecs.base import CodecTime, DeviceInfoEvent, FrameEvent, ReadingEvent

from .codecs.catalog import codec_for

# Listen-only first: they send nothing, so trying them disturbs no device.
PROBE_ORDER = ("masimo", "hl7", "ge", "philips", "bbraun")
DEVICE_NAMES = {
    "ge": "GE Datex-Ohmeda S/5 monitor (DRI)",
    "philips": "Philips IntelliVue monitor (MIB)",
    "masimo": "Masimo pulse oximeter (ASCII 1)",
    "hl7": "HL7 v2 sender",
    "bbraun": "B. Braun Space (BCC)",
}
MIN_VALID_FRAMES = 2  # one valid frame can be luck on a noisy line


@dataclass
class ProbeResult:
    port: str
    protocol: str
    adapter: str
    frames_ok: int = 0
    readings: int = 0
    info: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        """``{"port", "protocol", "device", ...}``; ``device`` names the USB adapter the device is on."""
        said = ", ".join(f"{k}={v}" for k, v in sorted(self.info.items()) if k in ("model", "dri_level", "version")
                         or k.startswith("model:"))
        return {"port": self.port, "protocol": self.protocol, "device": self.adapter,
                "found": DEVICE_NAMES.get(self.protocol, self.protocol) + (f" ({said})" if said else ""),
                "frames_ok": self.frames_ok, "readings": self.readings}


def probe_port(port: str, protocol: str, seconds: float, adapter: str = "",
               sleep: Callable[[float], None] = time.sleep) -> ProbeResult | None:
    """Listen on (and for polled protocols, politely ask) one port with one protocol for ``seconds``."""
    codec = codec_for(protocol)
    hint = codec.link_hint
    try:
        link = serial.serial_for_url(port, baudrate=hint.baudrate, bytesize=hint.bytesize, parity=hint.parity,
                                     stopbits=hint.stopbits, rtscts=hint.rtscts, timeout=0, write_timeout=1.0,
                                     exclusive=True)
    except (serial.SerialException, OSError, ValueError):
        return None
    result = ProbeResult(port, protocol, adapter)
    t0 = time.monotonic()

    def now() -> CodecTime:
        return CodecTime(datetime.now(timezone.utc), time.monotonic())

    try:
        hello = codec.start(now())
        if hello:
            link.write(hello)
        while time.monotonic() - t0 < seconds:
            data = link.read(65536)
            n = now()
            if data:
                codec.receive_data(data, n)
            for event in codec.events():
                if isinstance(event, ReadingEvent):
                    result.readings += 1
                elif isinstance(event, FrameEvent) and event.valid:
                    result.frames_ok += 1
                elif isinstance(event, DeviceInfoEvent):
                    result.info[event.key] = event.value
            codec.tick(n)
            out = codec.data_to_send()
            if codec.needs_restart:
                out += codec.start(n)
            if out:
                link.write(out)
            if result.frames_ok >= MIN_VALID_FRAMES and result.readings:
                break
            if not data:
                sleep(0.02)
        if result.frames_ok:  # leave the device as we found it: cancel the subscription, end the association
            if hasattr(codec, "stop"):
                link.write(codec.stop())
            elif hasattr(codec, "release"):
                codec.release(now())
                link.write(codec.data_to_send())
    except (serial.SerialException, OSError):
        return None
    finally:
        link.close()
    if result.frames_ok >= MIN_VALID_FRAMES or (result.frames_ok and result.readings):
        return result
    return None


def probe(ports: Iterable[tuple[str, str]], seconds: float = 3.0,
          protocols: Iterable[str] = PROBE_ORDER) -> Iterable[ProbeResult]:
    """(port, adapter name) pairs -> what answered; at most one protocol per port (the first that does)."""
    protocols = tuple(protocols)
    for port, adapter in ports:
        for protocol in protocols:
            found = probe_port(port, protocol, seconds, adapter)
            if found is not None:
                yield found
                break

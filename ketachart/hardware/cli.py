"""Headless device tools: ``sim``, ``capture``, ``listen``, ``decode`` and ``ports``.

They exist so that a clinic's IT person can test a cable without the app, and so that the device layer can
be exercised from a shell. Readings are printed as JSON lines (``Reading.to_json``) on stdout; anything
about the link goes to stderr so stdout stays machine-readable.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

from .codecs.base import CodecTime, DeviceInfoEvent, DeviceSettings, FrameEvent, PatientMismatchEvent, ReadingEvent
from .codecs.catalog import codec_for, protocols
from .sim.base import SCENARIOS

PROTOCOLS_HELP = "ge, philips, masimo, hl7 or bbraun"


def add_subcommands(subparsers: argparse._SubParsersAction, common_parent: argparse.ArgumentParser) -> None:
    """Register ``sim``, ``capture``, ``listen``, ``decode`` and ``ports`` on the main ``ketachart`` parser."""
    p = subparsers.add_parser("sim", help="serve a simulated device on a pseudo-terminal")
    p.add_argument("protocol", metavar="PROTOCOL", help=PROTOCOLS_HELP)
    p.add_argument("--scenario", choices=SCENARIOS, default="ketamine",
                   help="what the device plays: " + ", ".join(SCENARIOS) + " (events: sim/scenarios.py)")
    p.add_argument("--speed", type=float, default=1.0, help="device clock runs this many times faster")
    p.add_argument("--seed", type=int, default=1, help="random seed: the same seed sends the same values")
    p.add_argument("--tcp", action="store_true",
                   help="serve on a loopback TCP port (prints PORT socket://127.0.0.1:N) instead of a pseudo-terminal")
    p.add_argument("--start", type=float, default=-120.0, metavar="SECONDS",
                   help="device time at start, in seconds from the infusion start (default -120)")
    p.set_defaults(func=cmd_sim)

    p = subparsers.add_parser("capture", help="print readings from a device as JSON lines")
    p.add_argument("--protocol", required=True, help=PROTOCOLS_HELP)
    p.add_argument("--port", required=True, metavar="PATH", help="serial port, pty path or URL (socket://, listen://)")
    p.add_argument("--seconds", type=float, default=None, metavar="N", help="stop after N seconds (default: Ctrl-C)")
    _device_options(p)
    p.set_defaults(func=cmd_capture)

    p = subparsers.add_parser(
        "listen", help="receive from gateways that push (HL7 over MLLP), several at once",
        description="Listen on a TCP port for devices or gateways that connect and push (HL7 ORU^R01 over MLLP); "
                    "each connection is acknowledged on its own; readings are printed as JSON lines.")
    p.add_argument("--protocol", default="hl7", help="protocol of the senders (default hl7)")
    p.add_argument("--port", required=True, metavar="listen://HOST:PORT", help="address to listen on, e.g. "
                   "listen://0.0.0.0:2575 (port 0: any free port, printed on stderr)")
    p.add_argument("--seconds", type=float, default=None, metavar="N", help="stop after N seconds (default: Ctrl-C)")
    _device_options(p)
    p.set_defaults(func=cmd_listen)

    p = subparsers.add_parser("decode", help="decode a raw device-to-host byte capture")
    p.add_argument("--protocol", required=True, help=PROTOCOLS_HELP)
    p.add_argument("file", metavar="FILE", type=Path, help="the raw capture (bytes as the device sent them)")
    p.add_argument("--frames", action="store_true", help="one line per frame with its validity instead of readings")
    _device_options(p)
    p.set_defaults(func=cmd_decode)

    p = subparsers.add_parser("ports", help="list serial ports and their USB adapters")
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.add_argument("--probe", action="store_true",
                   help="listen on (and politely poll) each port with each protocol; print what answered as JSON "
                        "lines {\"port\", \"protocol\", \"device\" (the USB adapter), ...}")
    p.add_argument("--seconds", type=float, default=3.0, metavar="N", help="with --probe: seconds per protocol")
    p.add_argument("--port", dest="ports", action="append", default=[], metavar="PATH",
                   help="with --probe: probe this port too (e.g. a pseudo-terminal); repeatable")
    p.set_defaults(func=cmd_ports)


def _device_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bed", default=None, help="HL7: chart only this bed (PV1-3, e.g. KETA^CHAIR^07 or 07)")
    p.add_argument("--monitor", default=None, help="HL7: chart only this monitor (MSH-3 or OBX-18 id)")
    p.add_argument("--device-tz", default=None, metavar="ZONE",
                   help="zone of device clocks that send no offset (IANA name; default: this computer's zone)")


def _settings(args: argparse.Namespace) -> DeviceSettings | None:
    """The device settings the options name, or None (message printed) for an unknown zone."""
    settings = DeviceSettings(bed=getattr(args, "bed", None), monitor=getattr(args, "monitor", None),
                              device_tz=getattr(args, "device_tz", None))
    try:
        settings.zone()
    except Exception:
        print(f"ketachart: unknown time zone {settings.device_tz!r} (use an IANA name such as Europe/Berlin)",
              file=sys.stderr)
        return None
    return settings


def _check_protocol(name: str) -> bool:
    if name in protocols():
        return True
    print(f"ketachart: unknown protocol {name!r}; choose one of {', '.join(protocols())}", file=sys.stderr)
    return False


def _out(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def cmd_sim(args: argparse.Namespace) -> int:
    """Serve a simulator until interrupted; the first stdout line is ``PORT <path>``."""
    from .sim.server import SimServer

    if not _check_protocol(args.protocol):
        return 2
    if args.speed <= 0:
        print("ketachart: --speed must be positive", file=sys.stderr)
        return 2
    server = SimServer(args.protocol, scenario=args.scenario, speed=args.speed, seed=args.seed, tcp=args.tcp,
                       start_t=args.start, on_state=lambda s: print(f"device {s}", file=sys.stderr, flush=True))
    server.start()
    print(f"PORT {server.port_url}", flush=True)
    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    return 0


def _port_problem(url: str) -> str | None:
    """Why a port cannot be opened at all (a typo, an unplugged adapter), or None. Busy is not a problem here:
    the link reports it and retries."""
    if url.startswith(("listen://", "loop://")):
        return None
    if url.startswith(("socket://", "tcp://")):
        import socket

        host, _, port = url.split("://", 1)[1].rpartition(":")
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=3).close()
        except (OSError, ValueError) as exc:
            return f"cannot connect to {url}: {getattr(exc, 'strerror', None) or exc}"
        return None
    if "://" in url:
        return None
    import os

    if not os.path.exists(url):
        return f"no such port: {url} (unplugged? see `ketachart ports`)"
    return None


def cmd_capture(args: argparse.Namespace) -> int:
    """Open a device, print its readings until ``--seconds`` have passed (or Ctrl-C); exit 0."""
    if not _check_protocol(args.protocol):
        return 2
    problem = _port_problem(args.port)
    if problem:
        print(f"ketachart: {problem}", file=sys.stderr)
        return 2
    return _run_link(args)


def cmd_listen(args: argparse.Namespace) -> int:
    """Accept devices and gateways on a TCP port (several connections at once) and print their readings."""
    if not _check_protocol(args.protocol):
        return 2
    if not args.port.startswith("listen://"):
        print("ketachart: --port must be listen://HOST:PORT (e.g. listen://0.0.0.0:2575)", file=sys.stderr)
        return 2
    return _run_link(args)


def _run_link(args: argparse.Namespace) -> int:
    from .link import DeviceLink

    settings = _settings(args)
    if settings is None:
        return 2
    lock = threading.Lock()

    def on_reading(reading) -> None:
        with lock:
            _out(reading.to_json())

    def on_state(state: str, detail: str) -> None:
        print(f"link {state}" + (f": {detail}" if detail else ""), file=sys.stderr, flush=True)

    def on_event(event) -> None:
        if isinstance(event, (PatientMismatchEvent, DeviceInfoEvent)) and (
                not isinstance(event, DeviceInfoEvent) or event.key == "warning"):
            print(f"device {event}", file=sys.stderr, flush=True)

    link = DeviceLink(args.protocol, args.port, on_reading, on_state, settings=settings, on_event=on_event)
    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    link.start()
    try:
        done.wait(args.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        link.stop()
    return 0


def decode_bytes(protocol: str, data: bytes, frames: bool, now: CodecTime | None = None,
                 settings: DeviceSettings | None = None):
    """Yield the JSON objects ``decode`` prints for a capture; the last one is the summary (stats)."""
    codec = codec_for(protocol, settings)
    now = now or CodecTime(datetime.now(timezone.utc), 0.0)
    index = 0
    starts = list(range(0, len(data), 4096)) + [None]  # None: end of input, flush a last unterminated line
    for start in starts:
        try:
            if start is None:
                codec.flush(now)
            else:
                codec.receive_data(data[start:start + 4096], now)
        except Exception as exc:  # a codec bug must not become a traceback for the IT person
            yield {"error": f"decoder failed at byte {start if start is not None else len(data)}: "
                            f"{type(exc).__name__}: {exc}"}
            codec = codec_for(protocol, settings)
            continue
        for event in codec.events():
            if frames and isinstance(event, FrameEvent):
                index += 1
                yield {"frame": index, "valid": event.valid, "kind": event.kind, "length": event.length,
                       "detail": event.detail}
            elif not frames and isinstance(event, ReadingEvent):
                yield event.reading.to_json()
        codec.data_to_send()  # ACKs a live link would send: not wanted here
    s = codec.stats
    yield {"summary": True, "bytes": len(data), "frames_ok": s.frames_ok, "frames_bad": s.frames_bad,
           "junk_bytes": s.junk_bytes, "readings": s.readings, "ignored": dict(sorted(s.ignored.items())),
           **codec.summary()}


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode a capture file into JSON lines; junk is skipped and counted (summary on stderr)."""
    if not _check_protocol(args.protocol):
        return 2
    settings = _settings(args)
    if settings is None:
        return 2
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"ketachart: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for obj in decode_bytes(args.protocol, data, args.frames, settings=settings):
        if obj.get("summary") or "error" in obj:
            print(json.dumps(obj), file=sys.stderr, flush=True)
        else:
            _out(obj)
    return 0


def cmd_ports(args: argparse.Namespace) -> int:
    from .link import list_ports

    ports = list_ports()
    if args.probe:
        from .probe import probe

        if args.seconds <= 0:
            print("ketachart: --seconds must be positive", file=sys.stderr)
            return 2
        targets = [(p.device, p.description) for p in ports] + [(path, "n/a") for path in args.ports]
        if not targets:
            print("no serial ports found", file=sys.stderr)
        for found in probe(targets, args.seconds):
            _out(found.to_json())
        return 0
    for p in ports:
        if args.json:
            _out({"device": p.device, "description": p.description, "hwid": p.hwid, "manufacturer": p.manufacturer,
                  "vid": p.vid, "pid": p.pid, "serial_number": p.serial_number})
        else:
            print(f"{p.device}\t{p.description}\t{p.hwid}")
    if not ports and not args.json:
        print("no serial ports found", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m ketachart.hardware.cli``) with the same subcommands."""
    parser = argparse.ArgumentParser(prog="ketachart-devices")
    common = argparse.ArgumentParser(add_help=False)
    sub = parser.add_subparsers(dest="command", required=True)
    add_subcommands(sub, common)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

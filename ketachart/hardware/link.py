"""A device connection: one port, one reader thread, one codec, readings out through a plain callback.

Devices are unreliable strangers, so the link never lets their trouble reach the caller: garbage is the
codec's business, silence is reported ("silent") and answered by re-requesting, errors on the port
("lost") lead to a reopen with bounded back-off, and a busy port is a state with a clear message rather
than an exception. No Qt here: the UI wraps ``on_reading``/``on_state`` in queued signals.

Port URLs: a device path (``/dev/ttyUSB0``, a pty or its symlink) or any pyserial URL (``socket://host:port``
to connect to a device or gateway, ``loop://``), plus ``listen://host:port`` where the device connects to us
(HL7 monitors usually do).
"""

from __future__ import annotations

import logging
import queue
import select
import socket
import threading
from dataclasses import dataclass
from typing import Callable, Sequence

import serial
import serial.tools.list_ports

from ..domain.clock import Clock, SystemClock
from ..domain.readings import Reading
from .codecs.base import Codec, CodecTime, DeviceSettings, FrameEvent, ReadingEvent
from .codecs.catalog import codec_for

log = logging.getLogger(__name__)

CONNECTING, NEGOTIATING, STREAMING, SILENT, LOST = "connecting", "negotiating", "streaming", "silent", "lost"
STATES = (CONNECTING, NEGOTIATING, STREAMING, SILENT, LOST)
BACKOFF_S: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0)
POLL_S = 0.1  # longest the reader blocks before ticking the codec and the watchdog (real seconds)
REOPEN_AFTER_QUIET = 3  # silent for this many quiet times: close and reopen the port
TRANSPORT_FLOOR_S = 2.0  # real seconds: no quiet time is shorter than a few port round trips (see quiet_time)


def close_quietly(*ports) -> None:  # noqa: ANN002
    """Close each port, socket or transport that is there; one already gone has nothing left to report."""
    for port in ports:
        if port is not None:
            try:
                port.close()
            except Exception:
                pass


@dataclass(frozen=True)
class PortInfo:
    """A serial port as the OS sees it; ``description`` names the USB adapter when there is one."""

    device: str
    description: str
    hwid: str
    manufacturer: str | None = None
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None


def list_ports() -> list[PortInfo]:
    """Serial ports with their USB adapter descriptions, sorted by device name."""
    ports = []
    for p in serial.tools.list_ports.comports():
        ports.append(PortInfo(p.device, p.description or "n/a", p.hwid or "n/a", p.manufacturer, p.vid, p.pid,
                              p.serial_number))
    return sorted(ports, key=lambda p: p.device)


class SilenceWatchdog:
    """The one silence watchdog (sans-IO, so tests drive it with a fake clock): no valid frame for
    ``quiet_s`` tells the codec (``Codec.silence``) once per quiet time; the link reports "silent" and, after
    a few quiet times, reopens the port. Codecs never time silence themselves."""

    def __init__(self, quiet_s: float, mono: float) -> None:
        self.quiet_s = quiet_s
        self.last_valid = mono
        self._told = mono

    def alive(self, mono: float) -> None:
        """A valid frame arrived."""
        self.last_valid = mono

    def check(self, codec: Codec, now: CodecTime) -> float | None:
        """Seconds without a valid frame when that is at least the quiet time (else None)."""
        quiet_for = now.mono - self.last_valid
        if quiet_for < self.quiet_s:
            return None
        if now.mono - max(self._told, self.last_valid) >= self.quiet_s:
            self._told = now.mono
            codec.silence(now)
        return quiet_for


class _Nothing(Codec):
    """Stands in for 'every connection' when the listening watchdog fires: silence there needs no answer."""

    def silence(self, now: CodecTime) -> None:
        pass


_NO_CODEC = _Nothing()


class _SerialTransport:
    """pyserial port (device path, pty, socket://, loop://) read in 'first byte, then all there is' steps."""

    def __init__(self, url: str, codec: Codec, poll_s: float) -> None:
        hint = codec.link_hint
        self.port = serial.serial_for_url(
            url, baudrate=hint.baudrate, bytesize=hint.bytesize, parity=hint.parity, stopbits=hint.stopbits,
            rtscts=hint.rtscts, timeout=poll_s, write_timeout=2.0, exclusive=True,
        )
        self.poll_s = poll_s
        self._socket = type(self.port).__module__.endswith("protocol_socket")

    def read_some(self) -> bytes:
        first = self.port.read(1)
        if not first:
            return b""
        if self._socket:
            # socket in_waiting is only 0/1; with timeout 0 one read is one recv of what has arrived.
            self.port.timeout = 0
            try:
                return first + self.port.read(65536)
            finally:
                self.port.timeout = self.poll_s
        n = self.port.in_waiting
        return first + self.port.read(n) if n else first

    def write(self, data: bytes) -> None:
        self.port.write(data)

    def cancel(self) -> None:
        cancel = getattr(self.port, "cancel_read", None)
        if cancel is not None:
            try:
                cancel()
            except Exception:  # not all URL handlers support it
                pass

    def close(self) -> None:
        self.port.close()


class _ListenTransport:
    """``listen://host:port``: we are the TCP server and devices or gateways connect to us, several at once
    (a gateway may open one connection per monitor, or reconnect before its old connection is gone)."""

    MAX_CONNECTIONS = 32

    def __init__(self, url: str, poll_s: float) -> None:
        host, _, port = url[len("listen://"):].rpartition(":")
        self.poll_s = poll_s
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.listener.bind((host or "0.0.0.0", int(port)))
            self.listener.listen(8)
        except (OSError, ValueError):
            self.listener.close()
            raise
        self.conns: list[socket.socket] = []

    @property
    def address(self) -> tuple[str, int]:
        return self.listener.getsockname()

    def poll(self) -> tuple[list[socket.socket], list[tuple[socket.socket, bytes]]]:
        """Wait up to poll_s; return (new connections, [(connection, bytes or b"" when it closed)])."""
        ready, _, _ = select.select([self.listener, *self.conns], [], [], self.poll_s)
        new, data = [], []
        for sock in ready:
            if sock is self.listener:
                conn, _ = self.listener.accept()
                if len(self.conns) >= self.MAX_CONNECTIONS:
                    conn.close()  # a runaway sender must not exhaust the chair's sockets
                    continue
                self.conns.append(conn)
                new.append(conn)
                continue
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.drop(sock)
            data.append((sock, chunk))
        return new, data

    def send(self, conn: socket.socket, data: bytes) -> None:
        try:
            conn.sendall(data)
        except OSError:
            self.drop(conn)

    def drop(self, conn: socket.socket) -> None:
        if conn in self.conns:
            self.conns.remove(conn)
        close_quietly(conn)

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        close_quietly(*self.conns, self.listener)
        self.conns = []


class DeviceLink:
    """Drive one codec over one port from a daemon thread; never blocks and never raises into the caller.

    protocol    codec name (``masimo``, ``hl7``, ``bbraun``, ``ge``, ``philips``)
    port_url    device path or URL (see module docstring)
    on_reading  callback(Reading), called on the link's thread
    on_state    callback(state, detail): state is one of STATES, detail a human-readable reason
    clock       host clock: readings' host_time, the quiet-time watchdog and the codec's time
    backoff     reopen delays in real seconds, the last one repeating (tests pass tiny ones)
    on_event    optional callback(DeviceInfoEvent | FrameEvent | PatientMismatchEvent | HeldResolvedEvent):
                diagnostics, and the "monitor says another patient" question the app puts to the nurse
    settings    the chair's device settings (bed, monitor, device time zone, open patient)
    """

    def __init__(self, protocol: str, port_url: str, on_reading: Callable[[Reading], None],
                 on_state: Callable[[str, str], None] | None = None, clock: Clock | None = None, *,
                 backoff: Sequence[float] = BACKOFF_S, poll_s: float = POLL_S,
                 on_event: Callable[[object], None] | None = None, settings: DeviceSettings | None = None) -> None:
        self.settings = settings or DeviceSettings()
        codec_for(protocol, self.settings)  # a bad protocol name or zone is our mistake: raise in the caller's thread
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self.protocol = protocol
        self.port_url = port_url
        self.on_reading = on_reading
        self.on_state = on_state
        self.on_event = on_event
        self.clock = clock or SystemClock()
        self.backoff = tuple(backoff) or (0.0,)
        self.poll_s = poll_s
        self.state = CONNECTING
        self.detail = ""
        self.last_error: str | None = None
        self.codec: Codec | None = None
        self.readings = 0
        self._stop = threading.Event()
        self._transport: _SerialTransport | _ListenTransport | None = None
        self._thread: threading.Thread | None = None

    # --- caller side ----------------------------------------------------------------------------
    def start(self) -> "DeviceLink":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"link-{self.protocol}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the reader thread and close the port; returns once the thread has ended (or timeout)."""
        self._stop.set()
        transport = self._transport
        if transport is not None:
            transport.cancel()
        if self._thread is not None:
            self._thread.join(timeout)

    def set_patient(self, mrn: str | None) -> None:
        """The open session's patient (None when no session is open); applied on the link's thread."""
        from dataclasses import replace

        self.settings = replace(self.settings, patient_mrn=mrn or None)
        self._commands.put(("patient", mrn or None))

    def resolve_held(self, hold_id: int, accept: bool) -> None:
        """The nurse's answer to a PatientMismatchEvent: chart the held readings here, or drop them."""
        self._commands.put(("resolve", hold_id, bool(accept)))

    def _run_commands(self, codec: Codec, now: CodecTime) -> None:
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return
            if cmd[0] == "patient":
                codec.set_patient(cmd[1])
            elif cmd[0] == "resolve":
                codec.resolve_held(cmd[1], cmd[2], now)

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def __enter__(self) -> "DeviceLink":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the reader thread ----------------------------------------------------------------------
    def _now(self) -> CodecTime:
        return CodecTime(self.clock.now(), self.clock.monotonic())

    def _set_state(self, state: str, detail: str = "") -> None:
        if state == self.state and detail == self.detail:
            return
        self.state, self.detail = state, detail
        if self.on_state is not None:
            try:
                self.on_state(state, detail)
            except Exception:
                log.exception("on_state callback failed")

    def _run(self) -> None:
        """The reader thread. Whatever goes wrong on it (a port error such as termios.error from a pty that
        went away, or a bug in a codec) becomes the device's state with its reason, and the link retries;
        nothing escapes to the thread's traceback printer."""
        try:
            self._run_links()
        except BaseException as exc:  # the last guard: the thread ends with a state, never a traceback
            self.last_error = _describe(exc)
            log.warning("link %s stopped: %s", self.protocol, self.last_error)
            self._set_state(LOST, f"device thread stopped: {self.last_error}")

    def _failed(self, exc: BaseException) -> None:
        """A port or device error: the state says it (no traceback in the log; the type and text are enough)."""
        self.last_error = _describe(exc)
        if not is_port_error(exc):  # our own bug (a codec's): named in the log, once per failure, without a stack
            log.warning("link %s: unexpected %s: %s", self.protocol, type(exc).__name__, self.last_error)
        if not self._stop.is_set():
            self._set_state(LOST, self.last_error)

    def _run_links(self) -> None:
        failures = 0
        self._set_state(CONNECTING, self.port_url)
        while not self._stop.is_set():
            try:
                self._open()
            except Exception as exc:  # busy, missing, or a port that fails while being set up (termios.error)
                self._drop_transport()
                self._failed(exc)
                failures += 1
                # stay "lost" while retrying: the UI should not flicker between lost and connecting
                self._stop.wait(self.backoff[min(failures - 1, len(self.backoff) - 1)])
                continue
            try:
                streamed = self._session()
            except Exception as exc:  # the port failed, or a bug in a codec: never kill the link silently
                streamed = False
                self._failed(exc)
            finally:
                self._close()
            if self._stop.is_set():
                break
            failures = 0 if streamed else failures + 1
            self._stop.wait(self.backoff[min(max(failures - 1, 0), len(self.backoff) - 1)])

    def _open(self) -> None:
        # a fresh codec per connection: the device may have rebooted
        self.codec = codec_for(self.protocol, self.settings)
        if self.port_url.startswith("listen://"):
            self._transport = _ListenTransport(self.port_url, self.poll_s)
        else:
            url = "socket://" + self.port_url[len("tcp://"):] if self.port_url.startswith("tcp://") else self.port_url
            self._transport = _SerialTransport(url, self.codec, self.poll_s)

    def _close(self) -> None:
        codec = self.codec
        if codec is not None and not isinstance(self._transport, _ListenTransport):
            try:
                now = self._now()
                codec.close(now)  # e.g. held HL7 messages: the question to the nurse is withdrawn
                self._deliver(codec, now, SilenceWatchdog(0.0, now.mono))
            except Exception as exc:  # a device-thread error is a state or a log line, never a traceback
                log.warning("link %s: closing the codec failed: %s", self.protocol, _describe(exc))
        self._drop_transport()

    def _drop_transport(self) -> None:
        close_quietly(self._transport)
        self._transport = None

    def quiet_time(self, codec: Codec) -> float:
        """The watchdog's quiet time, in seconds of ``self.clock``.

        A codec's quiet time is a property of the device's protocol (how often it sends, how long it may take
        to answer) and is counted on the clock the device runs on. The port itself works in real time: a
        poll, a request and its answer take tenths of a real second whatever the clock says. With the real
        clock that is far below every codec's quiet time; with the demo's accelerated clock (``speed`` clock
        seconds per real second) one round trip to a polled pump is already ``speed`` x 0.1 s, longer than the
        pump's 15 s, and the pump flapped between streaming and SILENT. So the quiet time is never shorter
        than ``TRANSPORT_FLOOR_S`` real seconds expressed on the clock: unchanged for real devices, and at
        x240 a silent device is still reported within about two real seconds.
        """
        rate = float(getattr(self.clock, "speed", 1.0) or 1.0)  # clock seconds per real second
        return max(codec.link_hint.quiet_time_s, TRANSPORT_FLOOR_S * rate)

    def _deliver(self, codec: Codec, now: CodecTime, watchdog: SilenceWatchdog) -> bool:
        """Hand a codec's events to the callbacks; True when a valid frame was among them."""
        valid = False
        for event in codec.events():
            if isinstance(event, ReadingEvent):
                self.readings += 1
                try:
                    self.on_reading(event.reading)
                except Exception:
                    log.exception("on_reading callback failed")
                continue
            if isinstance(event, FrameEvent) and event.valid:
                watchdog.alive(now.mono)
                valid = True
                if self.state != STREAMING:
                    self._set_state(STREAMING, "")
            if self.on_event is not None:
                try:
                    self.on_event(event)
                except Exception:
                    log.exception("on_event callback failed")
        return valid

    def _listen_session(self, transport: _ListenTransport) -> bool:
        """A listening port: one codec per connection (its own framing and ACKs), one watchdog for all."""
        host, port = transport.address
        self._set_state(CONNECTING, f"listening on {host}:{port}")
        now = self._now()
        watchdog = SilenceWatchdog(self.quiet_time(codec_for(self.protocol)), now.mono)
        codecs: dict[socket.socket, Codec] = {}
        streamed = False
        serial_no = 0
        while not self._stop.is_set():
            new, data = transport.poll()
            now = self._now()
            for conn in new:
                serial_no += 1
                codec = codec_for(self.protocol, self.settings)
                if hasattr(codec, "_next_hold"):
                    codec._next_hold = serial_no * 1_000_000 + 1  # hold ids unique across connections
                codecs[conn] = self.codec = codec
                hello = codec.start(now)
                if hello:
                    transport.send(conn, hello)
            self._run_commands_all(list(codecs.values()), now)
            for conn, chunk in data:
                codec = codecs.get(conn)
                if codec is None:
                    continue
                if chunk:
                    codec.receive_data(chunk, now)
                else:
                    codec.flush(now)
                    codec.close(now)
                    del codecs[conn]
                streamed |= self._deliver(codec, now, watchdog)
            for conn, codec in list(codecs.items()):
                codec.tick(now)
                if codec.needs_restart:
                    transport.send(conn, codec.start(now))
                out = codec.data_to_send()
                if out:
                    transport.send(conn, out)
                streamed |= self._deliver(codec, now, watchdog)
            for conn in [c for c in codecs if c not in transport.conns]:  # dropped while sending
                codec = codecs.pop(conn)
                codec.close(now)
                self._deliver(codec, now, watchdog)
            quiet_for = watchdog.check(_NO_CODEC, now)
            if quiet_for is not None and self.state != SILENT and codecs:
                self._set_state(SILENT, f"no valid data for {quiet_for:.0f} s")
        for codec in codecs.values():
            codec.close(now)
            self._deliver(codec, now, watchdog)
        return streamed

    def _run_commands_all(self, codecs: list[Codec], now: CodecTime) -> None:
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return
            for codec in codecs:
                if cmd[0] == "patient":
                    codec.set_patient(cmd[1])
                elif cmd[0] == "resolve":
                    codec.resolve_held(cmd[1], cmd[2], now)

    def _session(self) -> bool:
        """Run one open port until it fails or we stop. Returns whether the device ever streamed."""
        if isinstance(self._transport, _ListenTransport):
            return self._listen_session(self._transport)
        codec, transport = self.codec, self._transport
        assert codec is not None and transport is not None
        quiet = self.quiet_time(codec)
        now = self._now()
        hello = codec.start(now)
        if hello:
            transport.write(hello)
            self._set_state(NEGOTIATING, "waiting for the device to answer")
        else:
            self._set_state(CONNECTING, "port open, waiting for data")
        watchdog = SilenceWatchdog(quiet, now.mono)
        streamed = False
        while not self._stop.is_set():
            data = transport.read_some()
            now = self._now()
            self._run_commands(codec, now)
            if data:
                codec.receive_data(data, now)
            streamed |= self._deliver(codec, now, watchdog)
            codec.tick(now)
            quiet_for = watchdog.check(codec, now)
            if quiet_for is not None and self.state != SILENT:
                self._set_state(SILENT, f"no valid data for {quiet_for:.0f} s")
            if codec.needs_restart:
                transport.write(codec.start(now))  # re-request / re-associate, as the protocol wants
                if self.state != SILENT:
                    self._set_state(NEGOTIATING, "re-requesting")
            out = codec.data_to_send()
            if out:
                transport.write(out)
            if quiet_for is not None and quiet_for >= REOPEN_AFTER_QUIET * quiet:
                raise ConnectionError(f"silent for {quiet_for:.0f} s: reopening the port")
        return streamed


def is_port_error(exc: BaseException) -> bool:
    """An error of the port or the OS under it (pyserial, OSError, a closed socket, ``termios.error`` from a
    pty or USB adapter that vanished): the device's trouble, reported as its state. termios is named, not
    imported (ketachart/platform.py is the one place that imports POSIX-only modules)."""
    if isinstance(exc, (serial.SerialException, OSError, ConnectionError, ValueError)):
        return True
    return type(exc).__module__ == "termios"


def _describe(exc: BaseException) -> str:
    if type(exc).__module__ == "termios":  # termios.error: (errno, text)
        args = exc.args
        text = f"port error: {args[1] if len(args) > 1 else args[0] if args else 'termios'}"
        return text
    text = str(exc) or type(exc).__name__
    if "exclusively lock" in text or "Resource temporarily unavailable" in text or "busy" in text.lower():
        return f"port busy (another program has it open): {text}"
    if isinstance(exc, FileNotFoundError) or "No such file" in text:
        return f"port not found (unplugged?): {text}"
    return text

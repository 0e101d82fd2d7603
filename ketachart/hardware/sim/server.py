"""Serve a device simulator on a pseudo-terminal (or a loopback TCP port) from a background thread.

The port the host opens is a stable symlink to the current pty slave, so an "unplug" (closing the pty
master) followed by a "replug" (a new pty) looks to the host like a USB adapter coming back under the same
name. The device clock runs ``speed`` times faster than the injected :class:`Clock`, so a 40-minute
infusion can be demonstrated in four minutes and tests can drive it with a FakeClock.
"""

from __future__ import annotations

import errno
import os
import select
import shutil
import socket
import tempfile
import threading
from datetime import timedelta
from typing import Callable

from ...domain.clock import Clock, SystemClock
from ...platform import has_pty, open_raw_pty
from ..link import close_quietly
from .base import DeviceSim
from .catalog import sim_for

HAS_PTY = has_pty()
TICK_S = 0.02  # how often the sim is ticked when the host is quiet (real seconds)
FLAKY_UP_S = 40.0  # flaky: host-clock seconds of good line between drops
FLAKY_DOWN_S = 20.0  # flaky: host-clock seconds the line stays down


class SimServer:
    """One simulated device on one port. Use as ``with SimServer("masimo") as srv: srv.port_url``.

    protocol  codec/sim name; scenario as in ``sim/base.SCENARIOS``; speed: device seconds per clock second
    clock     host clock (FakeClock in tests); start_t: device time (s since infusion start) at start()
    tcp       serve on 127.0.0.1:<free port> (``socket://`` URL) instead of a pty; always so where the
              system has no pseudo-terminals (Windows), so ``--demo`` works there too
    on_state  optional callback(str) for "up", "silent", "unplugged" (the CLI prints it on stderr)
    """

    def __init__(self, protocol: str, scenario: str = "ketamine", speed: float = 1.0, clock: Clock | None = None,
                 seed: int = 1, tcp: bool = False, start_t: float = 0.0, sim: DeviceSim | None = None,
                 on_state: Callable[[str], None] | None = None, tick_s: float = TICK_S) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.protocol = protocol
        self.scenario = scenario
        self.speed = speed
        self.clock = clock or SystemClock()
        self.sim = sim or sim_for(protocol, scenario=scenario, seed=seed)
        self.tcp = tcp or not HAS_PTY
        self.start_t = start_t
        self.on_state = on_state
        self.tick_s = tick_s
        self.bytes_out = 0
        self.bytes_in = 0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mono0 = 0.0
        self._silent = False
        self._plugged = False
        self._master = self._slave = -1
        self._listener: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._tcp_port = 0
        self._dir = tempfile.mkdtemp(prefix="ketachart-sim-")
        self._link_path = os.path.join(self._dir, protocol)
        self._flaky_next = 0.0
        self._flaky_down = False
        self._flaky_count = 0

    # --- public ---------------------------------------------------------------------------------
    @property
    def port_url(self) -> str:
        """What the host opens: the stable pty symlink, or ``socket://127.0.0.1:PORT``."""
        return f"socket://127.0.0.1:{self._tcp_port}" if self.tcp else self._link_path

    def device_time(self) -> float:
        return self.start_t + self.speed * (self.clock.monotonic() - self._mono0)

    def start(self) -> "SimServer":
        self._mono0 = self.clock.monotonic()
        self._flaky_next = self._mono0 + FLAKY_UP_S
        if hasattr(self.sim, "wall_at_zero") and self.sim.wall_at_zero.tzinfo is not None:
            self.sim.wall_at_zero = self.clock.now() - timedelta(seconds=self.start_t)
        self.replug()
        self._thread = threading.Thread(target=self._run, name=f"sim-{self.protocol}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            self._close_port()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "SimServer":
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def unplug(self) -> None:
        """Pull the cable: close the pty master (or the TCP connection and listener)."""
        with self._lock:
            self._close_port()
        self._state("unplugged")

    def replug(self) -> None:
        """Plug it back in: a fresh pty behind the same path (or a listener on the same TCP port)."""
        with self._lock:
            self._close_port()
            self._open_port()
            self._plugged = True
        self._state("up")

    def _open_port(self) -> None:
        if self.tcp:
            self._open_tcp()
        else:
            self._open_pty()

    def set_silent(self, silent: bool) -> None:
        """The device stops answering (bytes from the host are swallowed) but the line stays open."""
        self._silent = silent
        self._state("silent" if silent else "up")

    def write_raw(self, data: bytes) -> int:
        """Put bytes on the line as if the device sent them (benchmarks, fault injection)."""
        with self._lock:
            return self._write(data)

    def serve_forever(self) -> None:
        """Block until ``stop()`` (the ``ketachart sim`` command)."""
        if self._thread is None:
            self.start()
        while not self._stop.wait(0.5):
            pass

    # --- ports ----------------------------------------------------------------------------------
    def _open_pty(self) -> None:
        master, slave, slave_path = open_raw_pty()  # POSIX only (ketachart/platform.py); TCP elsewhere
        tmp = self._link_path + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(slave_path, tmp)
        os.replace(tmp, self._link_path)
        # We keep the slave open too: without it the master reports EIO whenever the host has the port
        # closed, and the device could not "talk into the void" as a real one does.
        self._master, self._slave = master, slave

    def _open_tcp(self) -> None:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self._tcp_port))
        ls.listen(1)
        ls.setblocking(False)
        self._tcp_port = ls.getsockname()[1]
        self._listener = ls

    def _close_port(self) -> None:
        self._plugged = False
        if os.path.lexists(self._link_path):
            os.unlink(self._link_path)
        for fd in (self._master, self._slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = -1
        close_quietly(self._conn, self._listener)
        self._conn = self._listener = None

    def _read_fd(self) -> object | None:
        if self.tcp:
            return self._conn if self._conn is not None else self._listener
        return self._master if self._master >= 0 else None

    def _write(self, data: bytes) -> int:
        if not data or not self._plugged:
            return 0
        try:
            if self.tcp:
                if self._conn is None:
                    return 0
                self._conn.sendall(data)
            else:
                os.write(self._master, data)
        except BlockingIOError:
            return 0  # nobody is reading and the buffer is full: the bytes are lost, as on a cable
        except OSError:
            self._drop_conn()
            return 0
        self.bytes_out += len(data)
        return len(data)

    def _drop_conn(self) -> None:
        close_quietly(self._conn)
        self._conn = None

    # --- the loop -------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            fd = self._read_fd()
            if fd is None:
                self._stop.wait(self.tick_s)
            else:
                try:
                    ready, _, _ = select.select([fd], [], [], self.tick_s)
                except (OSError, ValueError):
                    ready = []
                    self._stop.wait(self.tick_s)
                if ready:
                    self._readable(fd)
            t = self.device_time()
            with self._lock:
                self._flaky()
                self.sim.tick(t)
                out = self.sim.data_to_send()
                if not self._silent:
                    self._write(out)

    def _readable(self, fd: object) -> None:
        with self._lock:
            data = b""
            try:
                if fd is self._listener and self._listener is not None:
                    conn, _ = self._listener.accept()
                    conn.setblocking(False)
                    self._drop_conn()
                    self._conn = conn
                    return
                if self.tcp and self._conn is not None:
                    data = self._conn.recv(65536)
                    if not data:
                        self._drop_conn()
                        return
                elif isinstance(fd, int) and fd == self._master:
                    data = os.read(self._master, 65536)
            except BlockingIOError:
                return
            except OSError as exc:
                if self.tcp:
                    self._drop_conn()
                elif exc.errno == errno.EIO:
                    self._stop.wait(self.tick_s)
                return
            self.bytes_in += len(data)
            if data and not self._silent:
                self.sim.receive_data(data, self.device_time())

    def _flaky(self) -> None:
        """The flaky scenario: alternately go silent and unplug, on the host clock."""
        if self.scenario != "flaky":
            return
        now = self.clock.monotonic()
        if now < self._flaky_next:
            return
        if not self._flaky_down:
            self._flaky_down = True
            self._flaky_next = now + FLAKY_DOWN_S
            self._flaky_count += 1
            if self._flaky_count % 2:
                self._silent = True
                self._state("silent")
            else:
                self._close_port()
                self._state("unplugged")
        else:
            self._flaky_down = False
            self._flaky_next = now + FLAKY_UP_S
            self._silent = False
            if not self._plugged:
                self._open_port()
                self._plugged = True
            self._state("up")

    def _state(self, state: str) -> None:
        if self.on_state is not None:
            try:
                self.on_state(state)
            except Exception:  # a broken listener must not kill the device
                pass

"""End to end over real pseudo-terminals (and loopback TCP): sim server -> pyserial -> DeviceLink.

Protocol time is a FakeClock moved by the test; thread hand-offs are waited for on a condition with a
timeout. Back-off delays are injected tiny so nothing waits for real time to pass.
"""

from __future__ import annotations

import socket

import pytest
import serial

from ketachart.domain.clock import FakeClock
from ketachart.hardware.codecs.hl7_mllp import frame
from ketachart.hardware.link import DeviceLink, PortInfo, list_ports
from ketachart.hardware.sim.server import SimServer

from .devtools import Recorder
from .test_hl7 import EXAMPLE_A

FAST = dict(backoff=(0.01,), poll_s=0.02)


@pytest.fixture
def clock():
    return FakeClock()


def stepper(clock: FakeClock, seconds: float = 1.0):
    return lambda: clock.advance(seconds)


def count(rec: Recorder, param: str) -> int:
    return sum(1 for r in rec.readings if r.parameter.value == param)


def test_masimo_streams_then_survives_unplug_replug_and_reports_silence(clock):
    rec = Recorder()
    with SimServer("masimo", scenario="ketamine", clock=clock, tick_s=0.01) as srv:
        link = DeviceLink("masimo", srv.port_url, rec.on_reading, rec.on_state, clock, **FAST).start()
        try:
            assert rec.wait(lambda: count(rec, "SPO2") >= 3, advance=stepper(clock))
            assert rec.state == "streaming"
            assert all(r.is_valid and r.source == "device:masimo" for r in rec.readings)
            assert rec.readings[0].host_time.tzinfo is not None

            srv.unplug()
            assert rec.wait(lambda: rec.state == "lost")
            srv.replug()
            before = count(rec, "SPO2")
            assert rec.wait(lambda: rec.state == "streaming" and count(rec, "SPO2") > before + 1,
                            advance=stepper(clock))

            srv.set_silent(True)
            clock.advance(11)  # past the Masimo quiet time (10 s), short of the reopen threshold
            assert rec.wait(lambda: rec.state == "silent")
            srv.set_silent(False)
            assert rec.wait(lambda: rec.state == "streaming", advance=stepper(clock, 0.5))
        finally:
            link.stop()
        assert not link.thread.is_alive()
    states = [s for s, _ in rec.states]
    assert states[:1] == ["connecting"] and {"streaming", "lost", "silent"} <= set(states)


def test_bbraun_request_response_over_a_pty_and_replug(clock):
    rec = Recorder()
    with SimServer("bbraun", scenario="ketamine", clock=clock, start_t=600.0, tick_s=0.01) as srv:
        link = DeviceLink("bbraun", srv.port_url, rec.on_reading, rec.on_state, clock, **FAST).start()
        try:
            assert rec.wait(lambda: count(rec, "PUMP_RATE") >= 1)  # ALIVE, GNACK, MEM:GET: no time needed
            assert ("negotiating", "waiting for the device to answer") in rec.states
            rate = [r for r in rec.readings if r.parameter.value == "PUMP_RATE"][0]
            assert rate.value == 52.5 and rate.unit == "mL/h"
            assert rec.wait(lambda: count(rec, "PUMP_RATE") >= 3, advance=stepper(clock))  # polls every 5 s
            assert srv.sim.requests[0] == "ADMIN:ALIVE"

            srv.unplug()
            assert rec.wait(lambda: rec.state == "lost")
            srv.replug()
            n = count(rec, "PUMP_RATE")
            assert rec.wait(lambda: count(rec, "PUMP_RATE") > n, advance=stepper(clock))
            assert srv.sim.requests.count("ADMIN:ALIVE") >= 2  # the link re-ran the handshake on the new port
        finally:
            link.stop()


def test_silent_pump_is_reported_and_re_alived(clock):
    rec = Recorder()
    with SimServer("bbraun", clock=clock, tick_s=0.01) as srv:
        link = DeviceLink("bbraun", srv.port_url, rec.on_reading, rec.on_state, clock, **FAST).start()
        try:
            assert rec.wait(lambda: rec.state == "streaming")
            srv.set_silent(True)
            assert rec.wait(lambda: rec.state == "silent", advance=stepper(clock, 2.0))
            alive_before = srv.sim.requests.count("ADMIN:ALIVE")
            srv.set_silent(False)
            assert rec.wait(lambda: rec.state == "streaming", advance=stepper(clock, 1.0))
            assert srv.sim.requests.count("ADMIN:ALIVE") > alive_before
        finally:
            link.stop()


def test_busy_port_is_a_state_not_an_exception(clock):
    rec = Recorder()
    with SimServer("masimo", clock=clock, tick_s=0.01) as srv:
        holder = serial.Serial(srv.port_url, exclusive=True)
        try:
            link = DeviceLink("masimo", srv.port_url, rec.on_reading, rec.on_state, clock, **FAST).start()
            assert rec.wait(lambda: rec.state == "lost" and "busy" in rec.states[-1][1])
        finally:
            holder.close()
        try:
            assert rec.wait(lambda: count(rec, "SPO2") >= 1, advance=stepper(clock))
        finally:
            link.stop()


def test_missing_port_keeps_retrying_quietly_and_stops_cleanly(clock, tmp_path):
    rec = Recorder()
    link = DeviceLink("masimo", str(tmp_path / "ttyUSB9"), rec.on_reading, rec.on_state, clock, **FAST).start()
    assert rec.wait(lambda: rec.state == "lost")
    assert "not found" in rec.states[-1][1]
    link.stop()
    assert not link.thread.is_alive()
    assert [s for s, _ in rec.states].count("lost") == 1  # retries do not flood the UI with state changes


def test_hl7_over_loopback_tcp_acks_reach_the_monitor(clock):
    rec = Recorder()
    with SimServer("hl7", clock=clock, tcp=True, tick_s=0.01) as srv:
        assert srv.port_url.startswith("socket://127.0.0.1:")
        link = DeviceLink("hl7", srv.port_url, rec.on_reading, rec.on_state, clock, **FAST).start()
        try:
            assert rec.wait(lambda: count(rec, "HR") >= 2, advance=stepper(clock, 2.0))
            assert rec.wait(lambda: len(srv.sim.acks) >= 2)
            assert all(code == "AA" for code, _ in srv.sim.acks)
        finally:
            link.stop()


def test_hl7_listen_mode_accepts_a_monitor_that_connects_to_us(clock):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    rec = Recorder()
    link = DeviceLink("hl7", f"listen://127.0.0.1:{port}", rec.on_reading, rec.on_state, clock, **FAST).start()
    try:
        conn = None
        for _ in range(200):
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=2)
                break
            except ConnectionRefusedError:
                rec.wait(lambda: False, timeout=0.01)
        assert conn is not None
        with conn:
            conn.sendall(frame(EXAMPLE_A))
            ack = b""
            while not ack.endswith(b"\x1c\r"):
                ack += conn.recv(4096)
            assert b"MSA|AA|KS000123" in ack
        assert rec.wait(lambda: count(rec, "HR") == 1)
    finally:
        link.stop()


def test_unknown_protocol_is_our_mistake_and_raises_at_once(clock):
    with pytest.raises(ValueError):
        DeviceLink("nonsense", "loop://", lambda r: None, None, clock)


def test_list_ports_describes_ports():
    ports = list_ports()
    assert all(isinstance(p, PortInfo) and p.device and p.description for p in ports)


def test_flaky_scenario_goes_silent_then_unplugs_and_the_link_follows(clock):
    rec, dev = Recorder(), Recorder()
    with SimServer("masimo", scenario="flaky", clock=clock, tick_s=0.01, on_state=dev.on_state) as srv:
        link = DeviceLink("masimo", srv.port_url, rec.on_reading, rec.on_state, clock, **FAST).start()
        try:
            assert rec.wait(lambda: rec.state == "streaming", advance=stepper(clock))
            assert dev.wait(lambda: dev.state == "silent", advance=stepper(clock, 2.0))
            assert rec.wait(lambda: rec.state == "silent", advance=stepper(clock, 1.0))
            assert dev.wait(lambda: dev.state == "up", advance=stepper(clock, 2.0))
            assert rec.wait(lambda: rec.state == "streaming", advance=stepper(clock, 0.5))
            assert dev.wait(lambda: dev.state == "unplugged", advance=stepper(clock, 2.0))
            assert rec.wait(lambda: rec.state == "lost")
            assert rec.wait(lambda: rec.state == "streaming", advance=stepper(clock, 2.0))
        finally:
            link.stop()


def test_a_termios_error_on_the_device_thread_is_a_state_never_a_traceback(clock, monkeypatch, caplog):
    """Seen under autoplay: termios.error in link-ge (a pty that went away while pyserial set it up or polled
    it). It becomes the device's "lost" state with its reason, the link retries, and the thread prints no
    traceback (neither through threading.excepthook nor the log)."""
    import logging
    import termios
    import threading

    from ketachart.hardware import link as link_mod

    hooked = []
    monkeypatch.setattr(threading, "excepthook", lambda args: hooked.append(args))
    real = link_mod.serial.serial_for_url
    calls = {"n": 0}

    class Flaky:
        """A port whose poll fails once with termios.error, as a vanished pty does."""

        def __init__(self, port):
            self.port = port

        def __getattr__(self, name):
            return getattr(self.port, name)

        @property
        def in_waiting(self):
            raise termios.error(5, "Input/output error")

        def read(self, n=1):
            return b"x" if n == 1 else b""

    def opening(url, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise termios.error(22, "Invalid argument")  # while pyserial configures the port
        port = real(url, **kw)
        return Flaky(port) if calls["n"] == 2 else port

    monkeypatch.setattr(link_mod.serial, "serial_for_url", opening)
    rec = Recorder()
    caplog.set_level(logging.DEBUG, logger="ketachart.hardware.link")
    link = DeviceLink("masimo", "loop://", rec.on_reading, rec.on_state, clock, **FAST).start()
    try:
        assert rec.wait(lambda: calls["n"] >= 3)  # failed opening, failed poll, then it opened again
        assert rec.wait(lambda: link.state != "lost")
        lost = [d for s, d in rec.states if s == "lost"]
        assert lost[0] == "port error: Invalid argument" and "port error: Input/output error" in lost
        assert link.thread.is_alive()
    finally:
        link.stop()
    assert hooked == []
    assert not [r for r in caplog.records if r.exc_info]


def test_a_bug_in_a_codec_is_a_state_and_one_log_line_without_a_stack(clock, monkeypatch, caplog):
    import logging
    import threading

    from ketachart.hardware.codecs.masimo import MasimoCodec

    hooked = []
    monkeypatch.setattr(threading, "excepthook", lambda args: hooked.append(args))

    def broken(self, data, now):
        raise KeyError("boom")

    monkeypatch.setattr(MasimoCodec, "receive_data", broken)
    caplog.set_level(logging.DEBUG, logger="ketachart.hardware.link")
    rec = Recorder()
    with SimServer("masimo", clock=clock, tick_s=0.01) as srv:
        link = DeviceLink("masimo", srv.port_url, rec.on_reading, rec.on_state, clock, **FAST).start()
        try:
            assert rec.wait(lambda: any(s == "lost" and "boom" in d for s, d in rec.states), advance=stepper(clock))
            assert link.thread.is_alive()
        finally:
            link.stop()
    assert hooked == [] and not [r for r in caplog.records if r.exc_info]
    assert any("KeyError" in r.getMessage() for r in caplog.records)

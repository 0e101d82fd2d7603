"""Simulators over TCP as well as pseudo-terminals, ``listen`` for gateways that push, ``ports --probe`` and
``capture`` on a missing port (issues 14 and 18).

Device time is a FakeClock (or a fast sim clock for the real-time probe); the tests wait on conditions with
timeouts, never for a fixed time.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from ketachart.domain.clock import FakeClock, SystemClock
from ketachart.hardware import cli
from ketachart.hardware.codecs.base import DeviceSettings, HeldResolvedEvent, PatientMismatchEvent
from ketachart.hardware.codecs.hl7_mllp import frame
from ketachart.hardware.link import DeviceLink
from ketachart.hardware.sim.server import SimServer

from .devtools import Recorder

FAST = dict(backoff=(0.01,), poll_s=0.02)


def count(rec: Recorder, param: str) -> int:
    return sum(1 for r in rec.readings if r.parameter.value == param)


@pytest.mark.parametrize("tcp", [False, True], ids=["pty", "tcp"])
@pytest.mark.parametrize("protocol,param", [("ge", "HR"), ("masimo", "SPO2"), ("philips", "HR"), ("bbraun", "PUMP_RATE"),
                                            ("hl7", "HR")])
def test_every_simulator_serves_over_pty_and_tcp(protocol, param, tcp):
    clock = FakeClock()
    rec = Recorder()
    with SimServer(protocol, clock=clock, tcp=tcp, tick_s=0.01, start_t=600.0) as srv:
        assert srv.port_url.startswith("socket://127.0.0.1:") == tcp
        link = DeviceLink(protocol, srv.port_url, rec.on_reading, rec.on_state, clock, **FAST).start()
        try:
            assert rec.wait(lambda: count(rec, param) >= 2, timeout=10, advance=lambda: clock.advance(0.5))
            assert rec.state == "streaming"
        finally:
            link.stop()


def test_sim_tcp_command_prints_a_socket_url_the_link_connects_to():
    proc = subprocess.Popen([sys.executable, "-m", "ketachart.hardware.cli", "sim", "ge", "--tcp", "--speed", "50"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("PORT socket://127.0.0.1:")
        rec = Recorder()
        link = DeviceLink("ge", first.split(" ", 1)[1], rec.on_reading, rec.on_state, SystemClock(), **FAST).start()
        try:
            assert rec.wait(lambda: count(rec, "HR") >= 1, timeout=10)
        finally:
            link.stop()
    finally:
        proc.terminate()
        proc.wait(10)


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _connect(port: int, rec: Recorder) -> socket.socket:
    for _ in range(200):
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except ConnectionRefusedError:
            rec.wait(lambda: False, timeout=0.02)
    raise AssertionError("listener never came up")


def _ack(conn: socket.socket) -> bytes:
    ack = b""
    while not ack.endswith(b"\x1c\r"):
        ack += conn.recv(4096)
    return ack


def oru(control: str, mrn: str, bed: str, hr: int, second: int) -> bytes:
    ts = f"202403151030{second:02d}+0000"
    return frame("\r".join([
        f"MSH|^~\\&|GW{control}^1^L|WARD|KETACHART||{ts}||ORU^R01^ORU_R01|{control}|P|2.6",
        f"PID|||{mrn}^^^KETA^MR", f"PV1||I|{bed}", f"OBR|1|||x|||{ts}",
        f"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|{hr}|bpm|||||R|||{ts}",
    ]))


def test_listen_takes_several_gateway_connections_at_once_each_acked_on_its_own():
    clock = FakeClock()
    rec = Recorder()
    port = _free_port()
    link = DeviceLink("hl7", f"listen://127.0.0.1:{port}", rec.on_reading, rec.on_state, clock,
                      settings=DeviceSettings(bed="07", device_tz="UTC"), **FAST).start()
    try:
        a, b = _connect(port, rec), _connect(port, rec)
        with a, b:
            one, two = oru("A1", "MRN1", "KETA^CHAIR^07", 61, 1), oru("B1", "MRN2", "KETA^CHAIR^08", 140, 1)
            a.sendall(one[:40])  # interleaved halves: each connection is framed on its own
            b.sendall(two[:50])
            a.sendall(one[40:])
            b.sendall(two[50:])
            assert b"MSA|AA|A1" in _ack(a)
            assert b"MSA|AA|B1" in _ack(b)  # bed 08 is acknowledged, not charted
            a.sendall(oru("A2", "MRN1", "KETA^CHAIR^07", 62, 2))
            assert b"MSA|AA|A2" in _ack(a)
        assert rec.wait(lambda: count(rec, "HR") == 2)
        assert [r.value for r in rec.readings] == [61.0, 62.0]
    finally:
        link.stop()


def test_listen_holds_another_patient_until_the_nurse_answers():
    clock = FakeClock()
    rec = Recorder()
    events: list = []

    def on_event(e):
        with rec.cond:
            events.append(e)
            rec.cond.notify_all()

    port = _free_port()
    link = DeviceLink("hl7", f"listen://127.0.0.1:{port}", rec.on_reading, rec.on_state, clock,
                      settings=DeviceSettings(device_tz="UTC"), on_event=on_event, **FAST).start()
    try:
        link.set_patient("MRN1")
        conn = _connect(port, rec)
        with conn:
            conn.sendall(oru("C1", "MRN9", "B^1", 88, 1))
            _ack(conn)
            assert rec.wait(lambda: any(isinstance(e, PatientMismatchEvent) for e in events))
            (held,) = [e for e in events if isinstance(e, PatientMismatchEvent)]
            assert (held.device_mrn, held.chart_mrn) == ("MRN9", "MRN1") and rec.readings == []
            link.resolve_held(held.hold_id, True)
            assert rec.wait(lambda: count(rec, "HR") == 1)
            assert any(isinstance(e, HeldResolvedEvent) and e.accepted for e in events)
    finally:
        link.stop()


def test_listen_command_refuses_a_non_listen_port(capsys):
    assert cli.main(["listen", "--port", "/dev/ttyUSB0"]) == 2
    assert "listen://" in capsys.readouterr().err


def test_capture_on_a_missing_port_exits_2_with_a_message(tmp_path, capsys):
    assert cli.main(["capture", "--protocol", "masimo", "--port", str(tmp_path / "ttyUSB7"), "--seconds", "1"]) == 2
    assert "no such port" in capsys.readouterr().err


def test_ports_probe_finds_each_simulator_on_its_pseudo_terminal(capsys, monkeypatch):
    import ketachart.hardware.link as link_module

    monkeypatch.setattr(link_module, "list_ports", lambda: [])  # only the simulators' ports, not the machine's
    with SimServer("ge", speed=40.0, tick_s=0.01, start_t=600.0) as ge, \
            SimServer("masimo", speed=10.0, tick_s=0.01) as masimo, SimServer("bbraun", tick_s=0.01) as pump:
        assert cli.main(["ports", "--probe", "--seconds", "1.5", "--port", ge.port_url, "--port", masimo.port_url,
                         "--port", pump.port_url]) == 0
    found = {o["port"]: o for o in map(json.loads, capsys.readouterr().out.splitlines())}
    assert {p: o["protocol"] for p, o in found.items()} == {ge.port_url: "ge", masimo.port_url: "masimo",
                                                            pump.port_url: "bbraun"}
    assert all(set(o) >= {"port", "protocol", "device"} for o in found.values())
    assert "GE" in found[ge.port_url]["found"]

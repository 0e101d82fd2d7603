"""The headless device tools, as a clinic's IT person would run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ketachart.hardware import cli
from ketachart.hardware.sim.server import SimServer

from .test_bbraun import BLOCK_WIRE
from .test_hl7 import WIRE_A, WIRE_B
from .test_masimo import ALL as MASIMO_LINES

FIELDS = {"param", "value", "unit", "mdc", "loinc", "device_time", "host_time", "flags"}


def run(argv: list[str]) -> int:
    return cli.main(argv)


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("protocol,data,n", [
    ("masimo", MASIMO_LINES, 17), ("hl7", WIRE_A + WIRE_B, 9), ("bbraun", BLOCK_WIRE, 6),
])
def test_decode_prints_readings_and_counts_junk(tmp_path, capsys, protocol, data, n):
    path = tmp_path / "capture.bin"
    path.write_bytes(b"\x00\xffjunk\r\n" + data + b"\xfe trailing junk")
    assert run(["decode", "--protocol", protocol, str(path)]) == 0
    out, err = capsys.readouterr()
    objs = lines(out)
    assert len(objs) == n and all(set(o) == FIELDS for o in objs)
    summary = json.loads(err.strip().splitlines()[-1])
    assert summary["junk_bytes"] >= 6 and summary["readings"] == n


def test_decode_frames_mode(tmp_path, capsys):
    bad = bytearray(BLOCK_WIRE)
    bad[100] ^= 2
    path = tmp_path / "pump.bin"
    path.write_bytes(bytes(bad) + BLOCK_WIRE)
    assert run(["decode", "--protocol", "bbraun", "--frames", str(path)]) == 0
    objs = lines(capsys.readouterr().out)
    assert [o["valid"] for o in objs] == [False, True] and objs[0]["detail"]


@pytest.mark.parametrize("protocol", ["masimo", "hl7", "bbraun", "ge", "philips"])
def test_decode_of_pure_garbage_never_tracebacks(tmp_path, capsys, protocol):
    path = tmp_path / "noise.bin"
    path.write_bytes(os.urandom(5000) + bytes(range(256)) * 4)
    assert run(["decode", "--protocol", protocol, str(path)]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_decode_missing_file_and_unknown_protocol_exit_2(tmp_path, capsys):
    assert run(["decode", "--protocol", "masimo", str(tmp_path / "nope.bin")]) == 2
    assert run(["decode", "--protocol", "nonsense", str(tmp_path / "nope.bin")]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "unknown protocol" in err


def test_capture_prints_json_lines_and_states_and_exits_0(capsys):
    with SimServer("masimo", speed=20.0, start_t=0.0) as srv:
        assert run(["capture", "--protocol", "masimo", "--port", srv.port_url, "--seconds", "0.6"]) == 0
    out, err = capsys.readouterr()
    objs = lines(out)
    assert objs and all(set(o) == FIELDS for o in objs)
    assert {o["param"] for o in objs} == {"SPO2", "PR", "PI"}
    assert "link streaming" in err


def test_ports_subcommand(capsys):
    assert run(["ports", "--json"]) == 0
    for obj in lines(capsys.readouterr().out):
        assert obj["device"]


def test_sim_command_prints_port_first_and_serves_a_real_pty():
    proc = subprocess.Popen([sys.executable, "-m", "ketachart.hardware.cli", "sim", "masimo", "--speed", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("PORT ")
        path = first.split(" ", 1)[1]
        import serial

        with serial.Serial(path, 9600, timeout=5) as port:
            line = port.readline()
        assert b"SPO2=" in line and line.endswith(b"\r\n")
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_main_cli_registers_the_device_subcommands():
    from ketachart.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["capture", "--protocol", "masimo", "--port", "/dev/null", "--seconds", "1"])
    assert args.func is cli.cmd_capture and args.seconds == 1.0
    args = parser.parse_args(["sim", "hl7", "--scenario", "flaky", "--speed", "10"])
    assert args.func is cli.cmd_sim and args.scenario == "flaky" and args.speed == 10.0
    args = parser.parse_args(["decode", "--protocol", "bbraun", "x.bin", "--frames"])
    assert args.func is cli.cmd_decode and args.frames


def test_demo_scenario_option_refuses_an_unknown_name(capsys, monkeypatch):
    from ketachart import cli as main_cli

    monkeypatch.setenv("KETACHART_DEMO_SCENARIO", "")
    assert main_cli.main(["--demo", "--scenario", "nonsense", "--unencrypted"]) == 2
    assert "unknown scenario" in capsys.readouterr().err

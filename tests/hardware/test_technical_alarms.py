"""Monitor technical alarms (issue 11, "Device alarms"): what the protocols carry reaches the chair as a
MONITOR_ALARM reading with its source, repeated while it lasts and "none" once when it ends; a monitor without
technical alarms sends none (ordinary streams and the real captures decode as before)."""

from __future__ import annotations

from pathlib import Path

from ketachart.domain.codes import Parameter
from ketachart.hardware.codecs.ge_dri import Group, GeDriCodec, decode_capture
from ketachart.hardware.codecs.masimo import MasimoCodec

from .devtools import at, readings
from .test_ge_dri import basic_frame

CAPTURES = Path(__file__).parent / "captures"
ECG_OK = 0x0B  # exists, active, HR source ECG
LEADS_OFF = ECG_OK | (1 << 11) | (1 << 12) | (1 << 13)


def alarms(events) -> list[tuple[float, str]]:
    return [(r.value, r.text) for r in readings(events) if r.parameter is Parameter.MONITOR_ALARM]


def ge(*frames: bytes) -> list[list[tuple[float, str]]]:
    """The MONITOR_ALARM readings of each frame, fed one after the other to one codec."""
    codec, out = GeDriCodec(), []
    for i, frame in enumerate(frames):
        codec.receive_data(frame, at(5 * i))
        out.append(alarms(codec.events()))
    return out


def ecg(status: int) -> bytes:
    return basic_frame(ecg=Group(status, 0x0271, {"hr": 72}))


def test_ge_leads_off_is_said_while_it_lasts_and_none_once_when_it_ends():
    got = ge(ecg(ECG_OK), ecg(LEADS_OFF), ecg(LEADS_OFF), ecg(ECG_OK), ecg(ECG_OK))
    assert got == [[], [(1.0, "ecg-leads-off")], [(1.0, "ecg-leads-off")], [(0.0, "none")], []]


def test_ge_one_displayed_lead_is_not_leads_off():
    # the real AS3 capture: ECG status 0x304B (channels 2 and 3 "off", channel 1 on) and CO2 status 0x107
    assert ge(ecg(0x304B)) == [[]]
    events, _ = decode_capture((CAPTURES / "ge-as3" / "AS3Rawoutput1.raw").read_bytes(), at())
    assert alarms(events) == [] and readings(events)


def test_ge_asystole_and_co2_technical_alarms_from_the_status_words():
    co2 = Group(0x03 | (1 << 5) | (1 << 9), 1, {"et": 500, "rr": 14, "amb_press": 7600})  # occlusion, WET
    (got,) = ge(basic_frame(ecg=Group(ECG_OK | (1 << 2), 0, {"hr": 0}), co2=co2))
    assert got == [(3.0, "asystole,co2-occlusion,co2-water-trap")]
    absent = Group((1 << 5) | (1 << 6), 0, {})  # bits of a module that does not exist say nothing
    assert ge(basic_frame(co2=absent)) == [[]]


def masimo(*excs: str) -> list[list[tuple[float, str]]]:
    codec, out = MasimoCodec(), []
    for i, exc in enumerate(excs):
        line = f"01/05/26 09:00:{i:02d} SPO2=097% BPM=070 PI=01.20 ALARM=0000 EXC={exc}\r\n".encode()
        codec.receive_data(line, at(i))
        out.append(alarms(codec.events()))
    return out


def test_masimo_equipment_faults_are_technical_alarms_but_sensor_off_is_left_to_the_chair():
    got = masimo("000800", "000002", "000082", "000800", "000020", "000001", "000008")
    assert got == [[], [(1.0, "sensor-defective")], [(2.0, "sensor-defective,sensor-unrecognised")],
                   [(0.0, "none")], [], [], []]  # off patient, no sensor, pulse search: "no valid SpO2" waits
    assert masimo("00Z2") == [[]]  # an unreadable EXC is questionable values, not an alarm

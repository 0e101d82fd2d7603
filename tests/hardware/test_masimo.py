"""Masimo ASCII 1: the notes' sample lines, the simulator, and a decoder that survives any byte stream."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ketachart.domain.readings import Quality
from ketachart.hardware.codecs.base import DeviceInfoEvent
from ketachart.hardware.codecs.catalog import codec_for
from ketachart.hardware.codecs.masimo import MasimoCodec
from ketachart.hardware.sim.catalog import sim_for
from ketachart.hardware.sim.masimo import blue_line

from .devtools import at, feed, frames, readings, run_pair, values

RAD8_NO_SENSOR = b"03/19/16 13:37:12 SN=0000093112 SPO2=---% BPM=--- DESAT=-- # PIDELTA=+-- ALARM=0000 EXC=000001\r\n"
COLOR = (b"03/17/16 19:19:36 SN=---------- SPO2=098% BPM=123 PI=00.55 SPCO=--% SPMET=--.-% SPHB=--.- SPOC=-- "
         b"RESVD=--- DESAT=-- PIDELTA=+-- PVI=--- ALARM=000000 EXC=0000C00 EXC1=00000000\r\n")
BLUE = (b"05/15/07 08:12:21 SN=0000070986 SPO2=---% BPM=--- PI=--.--% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- "
        b"PVI=--- ALARM=0000 EXC=000000\r\n")
TREND_1 = b"09/21/08 09:56:10 SpO2=000 PR=000 PI=00.00 EXC=828:Search,OffPat,SET\r\n"
TREND_2 = b"09/21/08 09:56:12 SpO2=097 PR=069 PI=04.69 EXC=800:SET\r\n"
TREND_3 = b"09/21/08 09:56:14 SpO2=096 PR=074 PI=02.28 EXC=C00:LowSigIQ,SET\r\n"
ALL = RAD8_NO_SENSOR + COLOR + BLUE + TREND_1 + TREND_2 + TREND_3


def test_colour_line_decodes_to_documented_values_and_flags():
    ev = feed(codec_for("masimo"), COLOR)
    rs = {r.parameter.value: r for r in readings(ev)}
    assert (rs["SPO2"].value, rs["PR"].value, rs["PI"].value) == (98.0, 123.0, 0.55)
    assert rs["SPO2"].flags == {Quality.LOW_SIGNAL_IQ}
    assert rs["SPO2"].device_time == datetime(2016, 3, 17, 19, 19, 36, tzinfo=timezone.utc)  # zone: the codec's device_tz
    assert rs["PR"].unit == "/min" and rs["SPO2"].unit == "%"


@pytest.mark.parametrize("line", [RAD8_NO_SENSOR, BLUE, TREND_1])
def test_no_value_lines_never_become_numbers(line):
    rs = readings(feed(codec_for("masimo"), line))
    assert rs and all(r.value is None and not r.is_valid for r in rs)


def test_exception_bits_veto_printed_digits():
    rs = readings(feed(codec_for("masimo"), TREND_1))
    assert all({Quality.SENSOR_OFF, Quality.INVALID} <= r.flags for r in rs)  # off patient + pulse search


def test_trend_lines_use_aliases():
    assert values(feed(codec_for("masimo"), TREND_2)) == {"SPO2": 97.0, "PR": 69.0, "PI": 4.69}
    rs = readings(feed(codec_for("masimo"), TREND_3))
    assert all(Quality.LOW_SIGNAL_IQ in r.flags for r in rs) and rs[0].value == 96.0


def test_implausible_value_is_not_a_number():
    line = b"01/01/26 10:00:00 SPO2=150% BPM=300 PI=00.01 EXC=000000\r\n"
    rs = readings(feed(codec_for("masimo"), line))
    assert all(r.value is None and Quality.OUT_OF_RANGE in r.flags for r in rs)


def test_repeated_line_gives_no_duplicate_readings():
    assert len(readings(feed(codec_for("masimo"), TREND_2 + TREND_2))) == 3


def test_sim_encodes_the_blue_layout_exactly():
    assert blue_line(datetime(2007, 5, 15, 8, 12, 21), "---", "---", "--.--").encode() == BLUE


@pytest.mark.parametrize("chunks", ["whole", "bytes", "random"])
def test_stream_in_any_chunking_gives_the_same_readings(chunks):
    whole = [(r.parameter, r.value, r.flags) for r in readings(feed(codec_for("masimo"), ALL))]
    other = [(r.parameter, r.value, r.flags) for r in readings(feed(codec_for("masimo"), ALL, chunks, seed=3))]
    assert other == whole and len(whole) == 17


def test_garbage_around_lines_is_counted_and_skipped():
    codec = codec_for("masimo")
    ev = feed(codec, b"\x00\xff garbage \x13\r\n" + TREND_2 + b"\xfe\xfe\r\n" + TREND_3, "random", seed=1)
    assert values(ev)["SPO2"] == 96.0 and len(readings(ev)) == 6
    assert codec.stats.frames_bad == 2 and codec.stats.junk_bytes > 0


def test_flipped_byte_does_not_lose_the_next_line():
    bad = bytearray(TREND_2)
    bad[3] ^= 0x40  # the date no longer parses: the line must be rejected
    codec = codec_for("masimo")
    ev = feed(codec, bytes(bad) + TREND_3)
    assert [f.valid for f in frames(ev)] == [False, True]
    assert values(ev) == {"SPO2": 96.0, "PR": 74.0, "PI": 2.28}


def test_half_line_running_into_the_next_resyncs_on_the_last_timestamp():
    ev = feed(codec_for("masimo"), TREND_2[:30] + TREND_3)
    rs = readings(ev)
    assert values(ev) == {"SPO2": 96.0, "PR": 74.0, "PI": 2.28}
    assert all(r.device_time == datetime(2008, 9, 21, 9, 56, 14, tzinfo=timezone.utc) for r in rs)


def test_wrong_mode_is_reported_once():
    codec = MasimoCodec()
    codec.receive_data(b"\x02\x7f\x80" * 50 + b"\r\n", at(0))
    codec.tick(at(11))
    codec.tick(at(30))
    warnings = [e for e in codec.events() if isinstance(e, DeviceInfoEvent)]
    assert len(warnings) == 1 and "ASCII 1" in warnings[0].value


def test_sim_round_trip_matches_the_simulated_patient():
    sim = sim_for("masimo", scenario="ketamine", seed=4)
    _, ev = run_pair("masimo", sim, 0.0, 120.0)
    rs = readings(ev)
    assert len([r for r in rs if r.parameter.value == "SPO2"]) >= 100
    v = sim.patient.vitals_at(120.0)
    last = {r.parameter.value: r.value for r in rs}
    assert last["SPO2"] == v.spo2 and last["PR"] == v.hr
    assert all(r.is_valid for r in rs)


def test_artifacts_sim_produces_flagged_and_valid_readings_without_errors():
    codec, ev = run_pair("masimo", sim_for("masimo", scenario="artifacts"), 0.0, 200.0)
    rs = readings(ev)
    assert any(Quality.SENSOR_OFF in r.flags and r.value is None for r in rs)
    assert any(Quality.INVALID in r.flags for r in rs)
    assert sum(r.is_valid for r in rs) > len(rs) / 2
    assert codec.stats.frames_bad > 0


GOOD = TREND_2


def _resynced(events: list) -> None:
    """The good line after garbage gives its vitals; a technical alarm a garbled EXC word raised is cleared
    (MONITOR_ALARM 0), never left standing or turned into a vital."""
    got = values(events)
    assert got.pop("MONITOR_ALARM", 0.0) == 0.0
    assert got == {"SPO2": 97.0, "PR": 69.0, "PI": 4.69}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_never_raise(data):
    codec = codec_for("masimo")
    codec.receive_data(data, at(0))
    codec.events()
    codec.tick(at(20))
    codec.receive_data(b"\r\n" + GOOD, at(21))
    _resynced(codec.events())


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(COLOR) - 1), st.integers(0, len(COLOR) - 1), st.integers(1, 255))
@example(0, 159, 8)  # EXC=0000C80: a garbled exception word raises a technical alarm the good line clears
def test_fuzz_truncated_and_mutated_lines_then_resync(cut, pos, xor):
    mutated = bytearray(COLOR)
    mutated[pos] ^= xor
    codec = codec_for("masimo")
    codec.receive_data(COLOR[:cut] + b"\r\n" + bytes(mutated) + b"\r\n", at(0))
    for r in readings(codec.events()):
        assert r.value is None or r.is_valid
    codec.receive_data(GOOD, at(1))
    _resynced(codec.events())


def test_masimo_readings_can_be_charted(tmp_path):
    """A decoded reading goes into the chart as it is: device times must be aware for the store."""
    from ketachart.domain.clock import FakeClock
    from ketachart.hardware.codecs import codec_for
    from ketachart.hardware.codecs.base import CodecTime, ReadingEvent
    from ketachart.store.repository import ChartStore

    clock = FakeClock()
    codec = codec_for("masimo")
    line = b"03/17/16 19:19:36 SN=0000111111 SPO2=098% BPM=072 PI=02.50% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000000\r\n"
    codec.receive_data(line, CodecTime(clock.now(), clock.monotonic()))
    readings = [e.reading for e in codec.events() if isinstance(e, ReadingEvent)]
    assert readings
    with ChartStore.open(tmp_path / "c.db", clock) as store:
        assert store.add_readings(None, readings) == len(readings)


# --- issue 14: Masimo as real oximeters send it --------------------------------------------------------
def _line(ts: str, spo2: str = "098", bpm: str = "070", exc: str = "000000") -> bytes:
    return f"01/05/26 {ts} SN=0000093112 SPO2={spo2}% BPM={bpm} PI=02.10 ALARM=0000 EXC={exc}\r\n".encode()


def test_same_values_at_a_new_second_are_a_new_sample():
    c = codec_for("masimo")
    rs = readings(feed(c, _line("10:00:00") + _line("10:00:01") + _line("10:00:01")))
    assert [r.device_time.second for r in rs if r.parameter.value == "SPO2"] == [0, 1]
    assert c.stats.ignored["repeat"] == 1


def test_nul_and_control_bytes_before_a_line_are_skipped():
    rs = readings(feed(codec_for("masimo"), b"\x00\x00\x00" + _line("10:00:00") + b"\x00\x11\x13" + _line("10:00:01")))
    assert [r.value for r in rs if r.parameter.value == "PR"] == [70.0, 70.0]


def test_decode_flushes_a_final_unterminated_line():
    from ketachart.hardware.cli import decode_bytes

    data = _line("10:00:00") + _line("10:00:01", bpm="072").rstrip(b"\r\n")
    out = list(decode_bytes("masimo", data, frames=False))
    assert [o["value"] for o in out if o.get("param") == "PR"] == [70.0, 72.0]
    assert out[-1]["readings"] == 6


@pytest.mark.parametrize("exc,flag", [("000001", Quality.SENSOR_OFF), ("000020", Quality.SENSOR_OFF),
                                      ("000004", Quality.LOW_PERFUSION), ("000400", Quality.LOW_SIGNAL_IQ),
                                      ("000010", Quality.ARTIFACT), ("000008", Quality.INVALID)])
def test_exception_bits_become_flags(exc, flag):
    rs = readings(feed(codec_for("masimo"), _line("10:00:00", exc=exc)))
    assert all(flag in r.flags for r in rs)


def test_trend_mnemonics_and_alarm_word():
    ev = feed(codec_for("masimo"), b"01/05/26 10:00:00 SpO2=000 PR=000 PI=00.00 EXC=zz:OffPat,Search ALARM=0012\r\n")
    rs = readings(ev)
    assert all(r.value is None and Quality.SENSOR_OFF in r.flags for r in rs)
    assert any(getattr(e, "key", "") == "alarm" and e.value == "0x0012" for e in ev)


@pytest.mark.parametrize("bpm", ["07_0", "\u0667\u0660", "nan", "inf", "7e1"])
def test_strict_numbers_are_junk(bpm):
    (pr,) = [r for r in readings(feed(codec_for("masimo"), _line("10:00:00", bpm=bpm))) if r.parameter.value == "PR"]
    assert pr.value is None

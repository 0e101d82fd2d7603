"""HL7 ORU^R01 over MLLP: the notes' examples, the ACK, vendor variants, the sim, and fuzzing."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketachart.domain.readings import Quality
from ketachart.hardware.codecs.catalog import codec_for
from ketachart.hardware.codecs.hl7_mllp import build_ack, frame, parse_hl7_time
from ketachart.hardware.sim.catalog import sim_for
from ketachart.hardware.sim.hl7_mllp import DIA, HR, MEAN, NIBP_PR, PR, RR, SPO2, SYS, TEMP, build_oru

from .devtools import at, feed, frames, readings, run_pair, values

PROFILE = "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
MSH_A = ("MSH|^~\\&|KETASIM^0012A3FFFE4B5C6D^EUI-64||KETACHART||20240315103000+0000||ORU^R01^ORU_R01|KS000123|P|2.6"
         f"|||AL|NE||UNICODE UTF-8|||{PROFILE}")
EXAMPLE_A = "\r".join([
    MSH_A,
    "PID|||MRN4711^^^KETA^MR||DOE^JANE^^^^^L",
    "PV1||I|KETA^CHAIR^07",
    "OBR|1|KS000123^KETASIM^0012A3FFFE4B5C6D^EUI-64|KS000123^KETASIM^0012A3FFFE4B5C6D^EUI-64|182777000^monitoring of "
    "patient^SCT|||20240315103000+0000",
    "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||0012A3FFFE4B5C6D^EUI-64",
    "OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.147842|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||20240315103000+0000",
    "OBX|3|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.150456|98|262688^MDC_DIM_PERCENT^MDC|||||R|||20240315103000+0000",
    "OBX|4|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.2.1.149530|71|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||"
    "20240315103000+0000",
    "OBX|5|NM|151562^MDC_RESP_RATE^MDC|1.4.1.151562|16|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R|||20240315103000+0000",
    "OBX|6|NM|150344^MDC_TEMP^MDC|1.5.1.150344|36.8|268192^MDC_DIM_DEGC^MDC|||||R|||20240315103000+0000",
])
T_B = "20240315103148+0000"
EXAMPLE_B = "\r".join([
    MSH_A.replace("20240315103000", "20240315103215").replace("KS000123", "KS000124"),
    "PID|||MRN4711^^^KETA^MR||DOE^JANE^^^^^L",
    "PV1||I|KETA^CHAIR^07",
    f"OBR|1|KS000124^KETASIM^0012A3FFFE4B5C6D^EUI-64|KS000124^KETASIM^0012A3FFFE4B5C6D^EUI-64|182777000^monitoring of "
    f"patient^SCT|||{T_B}",
    f"OBX|1||150020^MDC_PRESS_BLD_NONINV^MDC|1.3.1.150020|||||||X|||{T_B}",
    f"OBX|2|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.3.1.150021|120|266016^MDC_DIM_MMHG^MDC|||||R|||{T_B}|||^APERIODIC",
    f"OBX|3|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.3.1.150022|80|266016^MDC_DIM_MMHG^MDC|||||R|||{T_B}|||^APERIODIC",
    f"OBX|4|NM|150023^MDC_PRESS_BLD_NONINV_MEAN^MDC|1.3.1.150023|93|266016^MDC_DIM_MMHG^MDC|||||R|||{T_B}|||^APERIODIC",
    f"OBX|5|NM|149546^MDC_PULS_RATE_NON_INV^MDC|1.3.1.149546|74|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||{T_B}|||"
    "^APERIODIC",
])
ACK_A_HEX = (
    "0b 4d 53 48 7c 5e 7e 5c 26 7c 4b 45 54 41 43 48 41 52 54 7c 7c 4b 45 54 41 53 49 4d 5e 30 30 31 32 41 33 46 46 46 "
    "45 34 42 35 43 36 44 5e 45 55 49 2d 36 34 7c 7c 32 30 32 34 30 33 31 35 31 30 33 30 30 31 2b 30 30 30 30 7c 7c 41 "
    "43 4b 5e 52 30 31 5e 41 43 4b 7c 4b 43 30 30 30 30 30 31 7c 50 7c 32 2e 36 0d 4d 53 41 7c 41 41 7c 4b 53 30 30 30 "
    "31 32 33 0d 1c 0d"
)
WIRE_A, WIRE_B = frame(EXAMPLE_A), frame(EXAMPLE_B)
UTC = timezone.utc


def test_examples_have_the_documented_framed_lengths():
    assert (len(WIRE_A), len(WIRE_B)) == (1046, 985)


def test_sim_builds_examples_a_and_b_byte_for_byte():
    t = datetime(2024, 3, 15, 10, 30, tzinfo=UTC)
    a = build_oru("KS000123", t, t, [(HR, "72"), (SPO2, "98"), (PR, "71"), (RR, "16"), (TEMP, "36.8")])
    b = build_oru("KS000124", datetime(2024, 3, 15, 10, 32, 15, tzinfo=UTC), datetime(2024, 3, 15, 10, 31, 48, tzinfo=UTC),
                  [(SYS, "120"), (DIA, "80"), (MEAN, "93"), (NIBP_PR, "74")], nibp=True)
    assert frame(a) == WIRE_A and frame(b) == WIRE_B


def test_ack_encodes_exactly():
    ack = build_ack("KETASIM^0012A3FFFE4B5C6D^EUI-64", "2.6", "KS000123", "KC000001",
                    datetime(2024, 3, 15, 10, 30, 1, tzinfo=UTC))
    assert ack == bytes.fromhex(ACK_A_HEX) and len(ack) == 120


def test_example_a_decodes_and_is_acked():
    codec = codec_for("hl7")
    codec.receive_data(WIRE_A, at(0).__class__(datetime(2024, 3, 15, 10, 30, 1, tzinfo=UTC), 1.0))
    rs = readings(codec.events())
    assert {r.parameter.value: r.value for r in rs} == {"HR": 72, "SPO2": 98, "PR": 71, "RR": 16, "TEMP": 36.8}
    assert {r.unit for r in rs} == {"/min", "%", "Cel"}
    assert all(r.device_time == datetime(2024, 3, 15, 10, 30, tzinfo=UTC) for r in rs)
    assert codec.data_to_send() == bytes.fromhex(ACK_A_HEX)


def test_example_b_decodes_nibp_at_the_measurement_time():
    ev = feed(codec_for("hl7"), WIRE_B)
    assert values(ev) == {"NIBP_SYS": 120, "NIBP_DIA": 80, "NIBP_MEAN": 93, "PR": 74}
    assert {r.device_time for r in readings(ev)} == {datetime(2024, 3, 15, 10, 31, 48, tzinfo=UTC)}


def test_resent_nibp_is_not_charted_twice():
    codec = codec_for("hl7")
    assert len(readings(feed(codec, WIRE_B))) == 4
    assert readings(feed(codec, WIRE_B)) == []
    assert codec.data_to_send().count(b"MSA|AA|KS000124") == 2  # but both copies are acknowledged


@pytest.mark.parametrize("chunks", ["bytes", "random"])
def test_stream_chunking_and_garbage(chunks):
    codec = codec_for("hl7")
    ev = feed(codec, b"junk\x00\xff" + WIRE_A + b"\r\n noise " + WIRE_B + b"trailing", chunks, seed=7)
    assert len(readings(ev)) == 9 and [f.valid for f in frames(ev)] == [True, True]
    assert codec.data_to_send().count(b"MSA|AA|") == 2
    assert codec.stats.junk_bytes >= len(b"junk\x00\xff\r\n noise trailing")


def test_flipped_start_byte_loses_only_that_message():
    bad = bytearray(WIRE_A)
    bad[0] ^= 0x01
    ev = feed(codec_for("hl7"), bytes(bad) + WIRE_B)
    assert values(ev) == {"NIBP_SYS": 120, "NIBP_DIA": 80, "NIBP_MEAN": 93, "PR": 74}


def test_flipped_byte_in_a_value_never_crashes_and_next_message_decodes():
    bad = bytearray(WIRE_A)
    bad[WIRE_A.index(b"|72|") + 1] ^= 0x40  # '7' -> 'w': not a number any more
    codec = codec_for("hl7")
    ev = feed(codec, bytes(bad) + WIRE_B)
    assert "HR" not in values(ev) and values(ev)["NIBP_SYS"] == 120


def test_half_message_then_new_start_block_restarts_the_frame():
    ev = feed(codec_for("hl7"), WIRE_A[:300] + WIRE_B)
    assert [f.valid for f in frames(ev)] == [False, True] and values(ev)["NIBP_MEAN"] == 93


def obx(ident: str, value: str, unit: str = "", status: str = "R", flag: str = "", when: str = "20240315103000") -> str:
    return f"OBX|1|NM|{ident}|1.1.1.1|{value}|{unit}||{flag}|||{status}|||{when}"


def message(*rows: str, sep: str = "\r") -> bytes:
    return frame(sep.join([MSH_A] + list(rows)))


@pytest.mark.parametrize("row,param,value", [
    (obx("149522^MDC_PULS_RATE^MDC", "70", "bpm"), "PR", 70),  # Comen: wrong code, right name
    (obx("150021^MDC_PRESS_BLD_ART_SYS^MDC", "121", "mmHg"), "NIBP_SYS", 121),  # code wins over a wrong name
    (obx("8867-4^Heart Rate^LN", "66", "/min"), "HR", 66),
    (obx("151708^MDC_AWAY_CO2_ET^MDC", "38", "266016^MDC_DIM_MMHG^MDC"), "ETCO2", 38),
    (obx("151728^MDC_AWAY_CO2_ET^MDC", "5.0", "265987^MDC_DIM_KILO_PASCAL^MDC"), "ETCO2", pytest.approx(37.5, abs=0.1)),
    (obx("150344^MDC_TEMP^MDC", "98.6", "[degF]"), "TEMP", pytest.approx(37.0)),
    (obx("150303^MDC_PRESS_CUFF_MEAN^MDC", "39.00", "mmHg"), "NIBP_MEAN", 39),
])
def test_vendor_variants_map_to_canonical_parameters(row, param, value):
    assert values(feed(codec_for("hl7"), message(row))) == {param: value}


@pytest.mark.parametrize("row,flag", [
    (obx("150456^MDC_PULS_OXIM_SAT_O2^MDC", "8388607", "%"), Quality.INVALID),
    (obx("150456^MDC_PULS_OXIM_SAT_O2^MDC", "97", "%", status="X"), Quality.INVALID),
    (obx("150456^MDC_PULS_OXIM_SAT_O2^MDC", "", "%"), Quality.UNAVAILABLE),
    (obx("150456^MDC_PULS_OXIM_SAT_O2^MDC", "97", "%", flag="DEMO"), Quality.DEMO),
])
def test_invalid_markers_never_become_numbers(row, flag):
    (r,) = readings(feed(codec_for("hl7"), message(row)))
    assert r.value is None and flag in r.flags


def test_unknown_codes_text_values_and_containment_rows_are_skipped():
    rows = [obx("2279^COMEN_PAIN_LEVEL^99COMEN", "3"), obx("147842^MDC_ECG_HEART_RATE^MDC", "Other"),
            "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X"]
    codec = codec_for("hl7")
    assert readings(feed(codec, message(*rows))) == []
    assert b"MSA|AA|KS000123" in codec.data_to_send()


def test_lf_separators_and_missing_final_cr_are_accepted():
    wire = message(obx("147842^MDC_ECG_HEART_RATE^MDC", "80", "bpm"), sep="\n")[:-1]
    codec = codec_for("hl7")
    ev = feed(codec, wire + WIRE_B)
    assert values(ev)["HR"] == 80 and values(ev)["NIBP_SYS"] == 120


def test_other_message_types_are_acked_but_not_charted():
    adt = frame("MSH|^~\\&|GW||KETACHART||20240315103000||ADT^A08|ADT1|P|2.5\rOBX|1|NM|8867-4^HR^LN||70")
    codec = codec_for("hl7")
    assert readings(feed(codec, adt)) == []
    assert b"MSA|AA|ADT1" in codec.data_to_send()


def test_non_hl7_payload_is_rejected_with_ar():
    codec = codec_for("hl7")
    feed(codec, frame("hello"))
    assert b"MSA|AR|" in codec.data_to_send()


def test_hl7_time_parsing():
    assert parse_hl7_time("20240315103000.25-0500") == datetime(2024, 3, 15, 10, 30, 0, 250000).replace(
        tzinfo=timezone(__import__("datetime").timedelta(hours=-5)))
    assert parse_hl7_time("202403151030") == datetime(2024, 3, 15, 10, 30, tzinfo=timezone.utc)  # no offset sent
    assert parse_hl7_time("2024031510\u00b330") is None and parse_hl7_time("20240315+0\u00b300") is None
    assert parse_hl7_time("2024") is None and parse_hl7_time("20241399") is None and parse_hl7_time("x") is None


def test_sim_round_trip_every_message_acked_and_nibp_charted():
    sim = sim_for("hl7", scenario="ketamine", seed=2)
    _, ev = run_pair("hl7", sim, -60.0, 900.0)
    v = values(ev)
    assert {"HR", "SPO2", "PR", "RR", "TEMP", "NIBP_SYS", "NIBP_DIA", "NIBP_MEAN"} <= set(v)
    assert sim.acks and all(code == "AA" for code, _ in sim.acks)
    assert not sim._pending  # nothing waiting to be resent
    nibp = [r for r in readings(ev) if r.parameter.value == "NIBP_SYS"]
    assert 2 <= len(nibp) <= 6  # one per cuff cycle (3-5 min), not one per message


def test_sim_resends_once_without_ack():
    sim = sim_for("hl7", scenario="baseline")
    sim.tick(0.0)
    first = sim.data_to_send()
    sim.tick(10.0)
    again = sim.data_to_send()
    assert first in again  # resent with the same control id, alongside the next periodic message
    sim.tick(20.0)
    sim.tick(30.0)
    assert sim.data_to_send().count(first) == 0


def test_artifacts_sim_decodes_without_errors_and_flags_bad_values():
    codec, ev = run_pair("hl7", sim_for("hl7", scenario="artifacts"), 0.0, 600.0)
    rs = readings(ev)
    assert any(Quality.DEMO in r.flags for r in rs) and any(r.value is None for r in rs)
    assert sum(r.is_valid for r in rs) > 100
    assert codec.stats.frames_bad > 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=800))
def test_fuzz_random_bytes_then_resync(data):
    codec = codec_for("hl7")
    codec.receive_data(data, at(0))
    codec.events()
    codec.receive_data(WIRE_B, at(1))
    assert values(codec.events()) == {"NIBP_SYS": 120, "NIBP_DIA": 80, "NIBP_MEAN": 93, "PR": 74}


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(WIRE_A)), st.integers(0, len(WIRE_A) - 1), st.integers(1, 255))
def test_fuzz_truncated_and_mutated_messages(cut, pos, xor):
    mutated = bytearray(WIRE_A)
    mutated[pos] ^= xor
    codec = codec_for("hl7")
    codec.receive_data(WIRE_A[:cut] + bytes(mutated), at(0))
    codec.events()
    codec.data_to_send()
    codec.receive_data(WIRE_B, at(1))
    assert values(codec.events()) == {"NIBP_SYS": 120, "NIBP_DIA": 80, "NIBP_MEAN": 93, "PR": 74}


def test_non_ascii_digits_in_codes_and_times_are_junk_not_a_crash():
    """str.isdigit() is True for '³' (0xB3 in Latin-1) but int() refuses it: found by fuzzing."""
    msg = WIRE_A.replace(b"147842^", b"14784\xb3^").replace(b"20240315103000+0000", b"2024031510300\xb3+0000")
    assert msg != WIRE_A
    codec = codec_for("hl7")
    codec.receive_data(msg, at(0))
    codec.events()
    codec.receive_data(WIRE_B, at(1))
    assert values(codec.events())["NIBP_DIA"] == 80

"""B. Braun BCC: the notes' frames, stuffing, the ACK/NAK dance, the pump sim's infusion, and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketachart.domain.readings import Quality
from ketachart.hardware.codecs.base import DeviceInfoEvent
from ketachart.hardware.codecs.catalog import codec_for
from ketachart.hardware.codecs.bbraun_bcc import ACK, NAK, BBraunCodec, build_frame, destuff, parse_frame, stuff
from ketachart.hardware.sim.catalog import sim_for
from ketachart.hardware.sim.bbraun_bcc import BBraunSim

from .devtools import at, feed, frames, readings, run_pair

ALIVE_PLAIN = bytes.fromhex(
    "01 30 30 30 33 31 02 31 2f 31 2f 31 3e 41 44 4d 49 4e 3a 41 4c 49 56 45 03 30 30 30 36 31 04")
ALIVE_STUFFED = bytes.fromhex(
    "01 30 30 30 33 31 02 31 2f 31 2f 31 3e 41 45 58 4d 49 4e 3a 41 4c 49 56 45 45 03 30 30 30 36 31 04")
MEMGET_STUFFED = bytes.fromhex(
    "01 30 30 30 33 31 02 42 45 45 45 58 30 31 2f 31 2f 31 3e 4d 45 45 4d 3a 47 45 45 54 03 30 30 30 32 39 04")
RS = "\x1e"
BLOCK_INFO = RS.join([
    "130,50100,FMNOR,1", "130,50111,GNMODEL,688F030006", "130,50111,INRT,5.00", "130,50111,INVI,12.4",
    "130,50111,INVTB,50.0", "130,50111,INSOL,Propofol 1%", "130,50111,INM2,0", "130,50111,INM3,1",
    "130,50111,INDORT,0.500", "130,50111,INDORTU,69", "130,50111,INA1,0", "130,50111,INA3,0",
])
BLOCK_PLAIN = build_frame("BED01", BLOCK_INFO, last=False, stuffing=False)
BLOCK_WIRE = stuff(BLOCK_PLAIN)


@pytest.mark.parametrize("bed,info,stuffed,length,checksum", [
    ("BED01", "128,50100,GNACK,0", "\x0100041\x02BEEEX01/1/1>128,50100,GNACK,0\x0300206\x04", 41, 206),
    ("BED01", "MEM:GET", "\x0100031\x02BEEEX01/1/1>MEEM:GEET\x0300029\x04", 31, 29),
    ("BED01", "ADMIN:VERSION", "\x0100037\x02BEEEX01/1/1>AEXMIN:VEERSION\x0300243\x04", 37, 243),
    ("BED01", "MEM:GETSLOT#13", "\x0100038\x02BEEEX01/1/1>MEEM:GEETSLOT#13\x0300237\x04", 38, 237),
    ("BED01", "214,50100,GNERR,51", "\x0100042\x02BEEEX01/1/1>214,50100,GNEERR,51\x0300027\x04", 42, 27),
])
def test_table_vectors_encode_and_parse(bed, info, stuffed, length, checksum):
    wire = build_frame(bed, info)
    assert wire == stuffed.encode()
    plain = build_frame(bed, info, stuffing=False)
    assert int(plain[1:6]) == length == len(plain) and int(plain[-6:-1]) == checksum
    parsed = parse_frame(wire)
    assert parsed.bed_id == bed and parsed.info == info.encode() and parsed.last and parsed.stuffed is True


def test_alive_vectors():
    assert build_frame("1", "ADMIN:ALIVE", stuffing=False) == ALIVE_PLAIN
    assert build_frame("1", "ADMIN:ALIVE") == ALIVE_STUFFED
    assert BBraunCodec().start(at(0)) == ALIVE_STUFFED
    assert build_frame("BED01", "MEM:GET") == MEMGET_STUFFED


def test_destuffing_is_one_left_to_right_pass():
    assert destuff(b"EEX") == b"EX" and destuff(b"EEEX") == b"ED" and destuff(stuff(b"DEdeXEED")) == b"DEdeXEED"


def test_pump_block_vector_length_checksum_and_stuffed_spellings():
    assert (int(BLOCK_PLAIN[1:6]), int(BLOCK_PLAIN[-6:-1])) == (271, 250)
    for word in (b"GNMOEXEEL", b"INEXORT,", b"INEXORTU", b"BEEEX01"):
        assert word in BLOCK_WIRE


def connected_codec() -> BBraunCodec:
    codec = BBraunCodec()
    codec.start(at(0))
    codec.receive_data(build_frame("BED01", "128,50100,GNACK,0"), at(0.1))
    codec.events()
    codec.data_to_send()
    return codec


def test_pump_block_decodes_to_documented_values_and_is_acked():
    codec = connected_codec()
    ev = feed(codec, BLOCK_WIRE)
    rs = {r.parameter.value: r for r in readings(ev)}
    assert rs["PUMP_RATE"].value == 5.0 and rs["PUMP_RATE"].unit == "mL/h"
    assert rs["PUMP_VI"].value == 12.4 and rs["PUMP_VTBI"].value == 50.0
    assert rs["PUMP_DOSE_RATE"].value == 0.5 and rs["PUMP_DOSE_RATE"].unit == "mg/kg/h"
    assert rs["PUMP_STATE"].text == "pumping" and rs["PUMP_ALARM"].text == "none"
    assert rs["PUMP_STATE"].to_json()["value"] == "pumping"
    info = {e.key: e.value for e in ev if isinstance(e, DeviceInfoEvent)}
    assert info["drug:50111"] == "Propofol 1%" and info["model:50111"] == "688F030006"
    assert codec.data_to_send() == ACK


def test_handshake_alive_then_polls_on_tick_every_five_seconds():
    codec = BBraunCodec()
    assert codec.start(at(0)) == ALIVE_STUFFED
    codec.receive_data(build_frame("BED01", "128,50100,GNACK,0"), at(0.2))
    assert codec.bed_id == "BED01" and codec.data_to_send() == ACK
    codec.tick(at(0.3))
    assert codec.data_to_send() == MEMGET_STUFFED
    codec.receive_data(build_frame("BED01", BLOCK_INFO), at(0.5))
    assert codec.data_to_send() == ACK
    codec.tick(at(3.0))
    assert codec.data_to_send() == b""
    codec.tick(at(5.6))
    assert codec.data_to_send() == MEMGET_STUFFED


def test_no_answer_to_alive_asks_for_a_restart():
    codec = BBraunCodec()
    codec.start(at(0))
    codec.tick(at(1))
    assert not codec.needs_restart
    codec.tick(at(3.5))
    assert codec.needs_restart


def test_unanswered_polls_are_repeated_then_alive_again():
    codec = connected_codec()
    codec.tick(at(1))
    assert codec.data_to_send() == MEMGET_STUFFED
    codec.tick(at(4.5))
    assert codec.data_to_send() == MEMGET_STUFFED
    codec.tick(at(8))
    codec.tick(at(12))
    assert codec.needs_restart


def test_flipped_byte_is_naked_and_the_next_frame_still_decodes():
    bad = bytearray(BLOCK_WIRE)
    bad[120] ^= 0x01
    codec = connected_codec()
    ev = feed(codec, bytes(bad) + BLOCK_WIRE)
    assert [f.valid for f in frames(ev)] == [False, True]
    assert codec.data_to_send() == NAK + ACK
    assert len(readings(ev)) == 6


@pytest.mark.parametrize("chunks", ["bytes", "random"])
def test_chunking_and_garbage(chunks):
    codec = connected_codec()
    ev = feed(codec, b"\xff\x00junk" + BLOCK_WIRE + b"\x06\x15more" + BLOCK_WIRE[:50] + BLOCK_WIRE, chunks, seed=5)
    assert [f.valid for f in frames(ev)] == [True, False, True]
    assert len(readings(ev)) == 12


def test_unstuffed_link_is_detected():
    codec = connected_codec()
    ev = feed(codec, BLOCK_PLAIN)  # contains D: only valid unstuffed
    assert len(readings(ev)) == 6 and codec.stuffing is False
    assert any(isinstance(e, DeviceInfoEvent) and e.key == "stuffing" for e in ev)


def test_no_value_and_alarms():
    info = RS.join(["1,50111,INRT,_NV", "1,50111,INVI,_NA", "1,50111,INVTB,99999", "1,50111,INM3,0",
                    "1,50111,INA3,1", "1,50111,INA7,1"])
    rs = {r.parameter.value: r for r in readings(feed(connected_codec(), build_frame("BED01", info)))}
    assert rs["PUMP_RATE"].value is None and Quality.UNAVAILABLE in rs["PUMP_RATE"].flags
    assert rs["PUMP_VI"].value is None
    assert rs["PUMP_VTBI"].value is None and Quality.OUT_OF_RANGE in rs["PUMP_VTBI"].flags
    assert rs["PUMP_ALARM"].text == "occlusion,end-of-volume" and rs["PUMP_ALARM"].value == 2
    assert rs["PUMP_STATE"].text == "stopped"


def test_status_words_decimal_or_hex():
    info = RS.join(["1,50111,STATUS1,1152", "1,50111,ALARM1,0x0", "1,50111,ALARM2,0"])  # bit 7 + bit 10
    rs = {r.parameter.value: r for r in readings(feed(connected_codec(), build_frame("BED01", info)))}
    assert rs["PUMP_STATE"].text == "bolus" and rs["PUMP_ALARM"].text == "none"
    info = RS.join(["1,50111,STATUS1,80", "1,50111,ALARM1,400"])  # hex: bit 7 running; bit 10 pressure
    rs = {r.parameter.value: r for r in readings(feed(connected_codec(), build_frame("BED01", info)))}
    assert rs["PUMP_STATE"].text == "stopped"  # decimal 80 = bits 4 and 6: not running
    assert rs["PUMP_ALARM"].value == 3  # decimal 400 = bits 4, 7, 8


def test_alarm_bit_words_are_named_as_the_ina_flags_are():
    """A 3.3x pump sends ALARM1/ALARM2 bit words instead of INA flags: the same alarm keys come out (so the
    chair words them the same: "Occlusion", "Air in line"), and an unlisted bit is still an alarm."""
    words = RS.join(["1,50111,ALARM1," + str((1 << 10) | (1 << 28) | (1 << 29)), "1,50111,ALARM2," + str(1 << 20)])
    rs = {r.parameter.value: r for r in readings(feed(connected_codec(), build_frame("BED01", words)))}
    assert rs["PUMP_ALARM"].text == "occlusion,air-alarm,alarm2-bit-20" and rs["PUMP_ALARM"].value == 3


def test_sim_answers_wrong_bed_and_bad_checksum_with_gnerr_68():
    sim = BBraunSim()
    sim.receive_data(build_frame("OTHER", "MEM:GET"), 0)
    assert b"GNEERR,68" in sim.data_to_send()
    bad = bytearray(build_frame("BED01", "MEM:GET"))
    bad[-3] ^= 0x01
    sim.receive_data(bytes(bad), 0)
    assert b"GNEERR,68" in sim.data_to_send()


def test_sim_advances_on_ack_repeats_on_nak_restarts_on_request():
    sim = BBraunSim(pumps=2)
    sim.receive_data(build_frame("BED01", "MEM:GET"), 0)
    first = sim.data_to_send()
    assert parse_frame(first).last is False
    sim.receive_data(NAK, 0)
    assert sim.data_to_send() == first
    sim.receive_data(ACK, 0)
    second = sim.data_to_send()
    assert parse_frame(second).last is True and b"50112" in second
    sim.receive_data(ACK, 0)
    assert sim.data_to_send() == b""
    sim.receive_data(build_frame("BED01", "MEM:GET"), 0)
    assert parse_frame(sim.data_to_send()).last is False


def test_sim_round_trip_two_pumps_and_the_ketamine_infusion():
    sim = sim_for("bbraun", scenario="ketamine")
    sim.pumps = 2
    codec, ev = run_pair("bbraun", sim, 1190.0, 1205.0)
    rs = readings(ev)
    by_source = {r.source for r in rs}
    assert by_source == {"device:bbraun/11", "device:bbraun/12"}
    pump = {r.parameter.value: r for r in rs if r.source.endswith("/11")}
    assert pump["PUMP_RATE"].value == 52.5 and pump["PUMP_VTBI"].value == 35.0
    assert pump["PUMP_VI"].value == pytest.approx(52.5 * 1205 / 3600, abs=0.2)
    assert pump["PUMP_DOSE_RATE"].value == 0.75 and pump["PUMP_STATE"].text == "pumping"
    assert sim.requests[0] == "ADMIN:ALIVE" and set(sim.requests[1:]) == {"MEM:GET"}
    assert codec.stats.frames_bad == 0


def test_pump_sim_volume_rises_and_ends_with_end_of_volume_alarm():
    sim = BBraunSim()
    vi = [float(dict(sim.pump_values(t))["INVI"]) for t in (-60, 0, 600, 1200, 2399, 2500)]
    assert vi == sorted(vi) and vi[0] == 0 and vi[-1] == 35.0
    end = dict(sim.pump_values(2410))
    assert end["INA7"] == "1" and end["INM3"] == "0" and end["INRT"] == "0.00"


def test_artifacts_sim_is_naked_and_recovers():
    codec, ev = run_pair("bbraun", sim_for("bbraun", scenario="artifacts"), 590.0, 700.0)
    rs = readings(ev)
    assert codec.stats.frames_bad > 0
    assert any(r.parameter.value == "PUMP_ALARM" and "occlusion" in (r.text or "") for r in rs)
    assert any(r.parameter.value == "PUMP_DOSE_RATE" and r.value is None for r in rs)
    assert len([r for r in rs if r.parameter.value == "PUMP_RATE"]) >= 15


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_then_resync(data):
    codec = connected_codec()
    codec.receive_data(data, at(1))
    codec.events()
    codec.receive_data(b"\x04" + BLOCK_WIRE, at(2))  # an EOT closes whatever half frame the junk opened
    assert len(readings(codec.events())) == 6


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(BLOCK_WIRE)), st.integers(0, len(BLOCK_WIRE) - 1), st.integers(1, 255))
def test_fuzz_truncated_and_mutated_frames(cut, pos, xor):
    mutated = bytearray(BLOCK_WIRE)
    mutated[pos] ^= xor
    codec = connected_codec()
    codec.receive_data(BLOCK_WIRE[:cut] + bytes(mutated), at(1))
    rs = readings(codec.events())
    assert len(rs) in (0, 6)  # a damaged frame is rejected whole, never half-believed
    codec.receive_data(b"\x04" + BLOCK_WIRE, at(2))
    assert len(readings(codec.events())) == 6



def test_non_ascii_unit_code_is_not_a_crash():
    """'\u00b3'.isdigit() is True but int() refuses it: a Latin-1 superscript in a unit code is junk."""
    codec = connected_codec()
    info = BLOCK_INFO.replace("INDORTU,69", "INDORTU,6\u00b3")
    rs = {r.parameter.value: r for r in readings(feed(codec, stuff(build_frame("BED01", info, last=False, stuffing=False))))}
    assert rs["PUMP_RATE"].value == 5.0 and rs["PUMP_DOSE_RATE"].value == 0.5 and rs["PUMP_DOSE_RATE"].unit == "{unit-unknown}"


def test_state_is_inferred_without_inm_or_status_fields():
    """Real ComDevice set-ups send only rate, VI and VTBI: the state comes from the rate and a rising VI."""
    codec = connected_codec()

    def answer(rate: str, vi: str) -> dict:
        info = RS.join([f"1,50111,INRT,{rate}", f"1,50111,INVI,{vi}", "1,50111,INVTB,50.0"])
        return {r.parameter.value: r for r in readings(feed(codec, build_frame("BED01", info)))}

    assert "PUMP_STATE" not in answer("60.0", "1.0")  # one answer: a programmed rate is not proof of running
    s = answer("60.0", "1.2")["PUMP_STATE"]
    assert (s.text, s.flags) == ("pumping", {Quality.INFERRED})
    assert answer("60.0", "1.2")["PUMP_STATE"].text == "stopped"  # VI did not move
    assert answer("0", "1.2")["PUMP_STATE"].text == "stopped"


@pytest.mark.parametrize("raw", ["1_0", "\u0661\u0660", "nan", "inf", "1e1"])
def test_strict_numbers_are_junk(raw):
    rs = {r.parameter.value: r for r in readings(feed(connected_codec(), build_frame("BED01", f"1,50111,INRT,{raw}")))}
    assert rs["PUMP_RATE"].value is None and Quality.INVALID in rs["PUMP_RATE"].flags

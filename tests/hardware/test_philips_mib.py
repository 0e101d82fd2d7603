"""Philips IntelliVue MIB data export: the spec's test vectors, the host codec against the simulated
monitor, re-association, RelativeTime rollover, and fuzzing. Nothing sleeps: time is a loop variable."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketachart.domain.codes import Parameter
from ketachart.domain.readings import Quality, Reading
from ketachart.hardware.codecs import philips_mib as mib
from ketachart.hardware.codecs.base import CodecTime, DeviceInfoEvent, FrameEvent, ReadingEvent
from ketachart.hardware.codecs.catalog import codec_for
from ketachart.hardware.codecs.philips_mib import PhilipsMibCodec
from ketachart.hardware.sim.catalog import sim_for
from ketachart.hardware.link import SilenceWatchdog
from ketachart.hardware.sim import philips_wire as wire
from ketachart.hardware.sim.philips_mib import PhilipsMibSim

WALL0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
MONO0 = 1000.0


def at(elapsed: float) -> CodecTime:
    return CodecTime(WALL0 + timedelta(seconds=elapsed), MONO0 + elapsed)


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


# ------------------------------------------------------------------------------------------------------
# Test vectors, copied from shared/protocols/philips-intellivue-mib.md section 12
# ------------------------------------------------------------------------------------------------------
ASSOC_REQUEST_WIRE = hx("""
c0 11 01 00 ee 0d ec 05 08 13 01 00 16 01 02 80 00 14 02 00 02 7d e1 dc 31 80 a0 80 80 01 01 00
00 a2 80 a0 03 00 00 01 a4 80 30 80 02 01 01 06 04 52 01 00 01 30 80 06 02 51 01 00 00 00 00 30
80 02 01 02 06 0c 2a 86 48 ce 14 02 01 00 00 00 01 01 30 80 06 0c 2a 86 48 ce 14 02 01 00 00 00
02 01 00 00 00 00 00 00 61 80 30 80 02 01 01 a0 80 60 80 a1 80 06 0c 2a 86 48 ce 14 02 01 00 00
00 03 01 00 00 be 80 28 80 06 0c 2a 86 48 ce 14 02 01 00 00 00 01 01 02 01 02 81 48 80 00 00 00
40 00 00 00 00 00 00 00 80 00 00 00 20 00 00 00 00 00 00 00 00 01 00 2c 00 01 00 28 80 00 00 00
00 00 09 c4 00 00 09 c4 00 00 03 e8 ff ff ff ff 60 00 00 00 00 01 00 0c f0 01 00 08 8c 00 00 00
00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 e8 b4 c1
""")
EXT_POLL_WIRE = hx("""
c0 11 01 00 30 e1 00 00 02 00 01 00 28 00 01 00 07 00 22 00 21 00 00 00 00 00 00 00 00 f1 3b 00 14
00 01 00 01 00 06 00 00 00 01 00 08 f1 3e 00 04 00 03 a9 80 58 71 c1
""")
MDS_RESULT_WIRE = hx("""
c0 11 01 00 1c e1 00 00 02 00 02 00 14 00 01 00 01 00 0e 00 21 00 00 00 00 00 0a bd 00 0d 06 00 00 39 17 c1
""")
KEEPALIVE_WIRE = hx("""
c0 11 01 00 24 e1 00 00 02 00 01 00 1c 00 08 00 07 00 16 00 21 00 00 00 00 00 00 00 00 0c 16 00 08
00 07 00 01 00 36 08 11 47 06 c1
""")
RELEASE_REQUEST_WIRE = hx("""
c0 11 01 00 1a 09 18 7d e1 16 61 80 30 80 02 01 01 a0 80 62 80 80 01 00 00 00 00 00 00 00 00 00 41 08 c1
""")
REFUSE_WIRE = hx("c0 11 01 00 05 0c 03 32 01 00 85 ee c1")
ACCEPT_WIRE = hx("""
c0 11 01 00 d0 0e ce 05 08 13 01 00 16 01 02 80 00 14 02 00 02 7d e1 be 31 80 a0 80 80 01 01 00
00 a2 80 a0 03 00 00 01 a5 80 30 80 80 01 00 81 02 51 01 00 00 30 80 80 01 00 81 0c 2a 86 48 ce
14 02 01 00 00 00 02 01 00 00 00 00 61 80 30 80 02 01 01 a0 80 61 80 a1 80 06 0c 2a 86 48 ce 14
02 01 00 00 00 03 01 00 00 a2 03 02 01 00 a3 05 a1 03 02 01 00 be 80 28 80 02 01 02 81 48 80 00
00 00 40 00 00 00 00 00 00 00 00 80 00 00 20 00 00 00 00 00 00 00 00 01 00 2c 00 01 00 28 80 00
00 00 00 00 09 c4 00 00 09 c4 00 00 03 e8 ff ff ff ff 60 00 00 00 00 01 00 0c f0 01 00 08 8c 00
00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 a0 95 c1
""")
MDS_CREATE_WIRE = hx("""
c0 11 01 00 3a e1 00 00 02 00 01 00 32 00 01 00 01 00 2c 00 21 00 00 00 00 3a de 4f f0 0d 06 00
1e 00 21 00 00 00 00 00 02 00 14 09 87 00 08 20 24 03 15 10 30 00 00 09 8f 00 04 3a de 4f f0 f3
40 c1
""")
MDS_CREATE_HOST_RESULT = hx("e1 00 00 02 00 02 00 14 00 01 00 01 00 0e 00 21 00 00 00 00 3a de 4f f0 0d 06 00 00")
POLL_RESULT_WIRE = hx("""
c0 11 01 00 a4 e1 00 00 02 00 02 00 9c 00 01 00 07 00 96 00 21 00 00 00 00 f1 3b 00 8c 00 01 00
00 3a de 50 00 20 24 03 15 10 30 00 00 00 01 00 06 00 00 00 01 00 72 00 00 00 03 00 6c 00 10 00
02 00 16 09 24 00 04 00 02 41 82 09 50 00 0a 41 82 00 00 0a a0 00 00 00 48 00 11 00 02 00 16 09
24 00 04 00 02 4b b8 09 50 00 0a 4b b8 00 00 02 20 00 00 00 62 00 12 00 02 00 2e 09 24 00 04 00
02 4a 04 09 4b 00 22 00 03 00 1e 4a 05 00 00 0f 20 00 00 00 78 4a 06 00 00 0f 20 00 00 00 50 4a
07 00 00 0f 20 00 00 00 5d a7 ef c1
""")
POLL_RESULT_VALUES = {
    Parameter.HR: 72.0,
    Parameter.SPO2: 98.0,
    Parameter.NIBP_SYS: 120.0,
    Parameter.NIBP_DIA: 80.0,
    Parameter.NIBP_MEAN: 93.0,
}
DEVICE_CLOCK = datetime(2024, 3, 15, 10, 30, 0)


def poll_result_contexts(states: dict[int, int] | None = None, raws: dict[int, int] | None = None,
                         units: dict[int, int] | None = None, nibp_stamp: int | None = None):
    """The three objects of vector 12.5, with optional state/value/unit overrides per physio id."""
    states, raws, units = states or {}, raws or {}, units or {}

    def v(physio: int, unit: int, raw: int) -> tuple[int, int, int, int]:
        return physio, states.get(physio, 0), units.get(physio, unit), raws.get(physio, raw)

    nibp_attrs = [wire.ava_label(0x00024A04), wire.ava_compound([
        v(0x4A05, 0x0F20, 0x78), v(0x4A06, 0x0F20, 0x50), v(0x4A07, 0x0F20, 0x5D)])]
    if nibp_stamp is not None:
        nibp_attrs.append(wire.ava_time_stamp_rel(nibp_stamp))
    return [(0, [
        (0x0010, [wire.ava_label(0x00024182), wire.ava_numeric(*v(0x4182, 0x0AA0, 0x48))]),
        (0x0011, [wire.ava_label(0x00024BB8), wire.ava_numeric(*v(0x4BB8, 0x0220, 0x62))]),
        (0x0012, nibp_attrs),
    ])]


def encode_12_5(**kw) -> bytes:
    linked = kw.pop("linked", None)
    rel = kw.pop("rel", 987648000)
    return wire.encode_poll_reply(1, 1, 0, rel, DEVICE_CLOCK, poll_result_contexts(**kw), linked=linked)


# (wire, name) for every framed vector; used by the stream-robustness tests.
ALL_WIRE_VECTORS = {
    "assoc-request": ASSOC_REQUEST_WIRE,
    "ext-poll": EXT_POLL_WIRE,
    "mds-create-result": MDS_RESULT_WIRE,
    "keep-alive": KEEPALIVE_WIRE,
    "release-request": RELEASE_REQUEST_WIRE,
    "refuse": REFUSE_WIRE,
    "assoc-accept": ACCEPT_WIRE,
    "mds-create": MDS_CREATE_WIRE,
    "poll-result": POLL_RESULT_WIRE,
}


# ------------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------------
def frames_in(*chunks: bytes) -> list[bytes]:
    """User data of every good frame found in the byte stream (the codec's own framing layer)."""
    dec = mib.FrameDecoder()
    out = []
    for chunk in chunks:
        for raw in dec.feed(chunk):
            if not raw.reason:
                user, _ = mib.check_frame(raw.body)
                if user is not None:
                    out.append(user)
    return out


def unframe(wire: bytes) -> bytes:
    (user,) = frames_in(wire)
    return user


def random_chunks(data: bytes, rng: random.Random) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 17)
        out.append(data[i : i + n])
        i += n
    return out


def readings_of(events: list) -> list[Reading]:
    return [e.reading for e in events if isinstance(e, ReadingEvent)]


def infos_of(events: list, key: str = "association") -> list[str]:
    return [e.value for e in events if isinstance(e, DeviceInfoEvent) and e.key == key]


def values_of(events: list) -> dict[Parameter, float | None]:
    return {r.parameter: r.value for r in readings_of(events)}


def polling_codec() -> PhilipsMibCodec:
    """A codec that has associated and answered the MDS create of vectors 12.3/12.4."""
    codec = PhilipsMibCodec()
    codec.start(at(0))
    codec.receive_data(ACCEPT_WIRE + MDS_CREATE_WIRE, at(0.1))
    codec.events()
    codec.data_to_send()
    assert codec.state == mib.POLLING
    return codec


def flips(wire: bytes):
    """Every position changed to a few values, including the framing bytes themselves."""
    for pos in range(len(wire)):
        for new in {wire[pos] ^ 0x01, wire[pos] ^ 0xFF, mib.BOF, mib.EOF, mib.ESC} - {wire[pos]}:
            yield pos, wire[:pos] + bytes((new,)) + wire[pos + 1 :]


# ------------------------------------------------------------------------------------------------------
# 12.1 FCS
# ------------------------------------------------------------------------------------------------------
def test_fcs_table_entries():
    assert (mib.FCS_TABLE[1], mib.FCS_TABLE[128], mib.FCS_TABLE[255]) == (0x1189, 0x8408, 0x0F78)


@pytest.mark.parametrize("data, register, sent", [
    (b"123456789", 0x6F91, hx("6e 90")),
    (hx("3a 71"), 0xD964, hx("9b 26")),
    (hx("3a 91"), 0x3E6A, hx("95 c1")),
])
def test_fcs_vectors(data, register, sent):
    assert mib.fcs16(data) == register
    assert mib.fcs_bytes(data) == sent
    assert mib.fcs16(data + sent) == mib.FCS_GOOD_RESIDUE


@pytest.mark.parametrize("payload, wire", [
    (hx("3a 71"), hx("c0 3a 71 9b 26 c1")),
    (hx("3a 91"), hx("c0 3a 91 95 7d e1 c1")),  # the FCS byte 0xC1 is escaped
])
def test_fcs_framing_vectors_both_ways(payload, wire):
    assert mib.wrap(payload) == wire
    (raw,) = mib.FrameDecoder().feed(wire)
    assert raw.reason == "" and raw.body == payload + mib.fcs_bytes(payload)
    assert mib.fcs16(raw.body) == mib.FCS_GOOD_RESIDUE


# ------------------------------------------------------------------------------------------------------
# Encode: our builders produce exactly the documented bytes
# ------------------------------------------------------------------------------------------------------
def test_encode_association_request_12_2():
    user = mib.encode_association_request()
    assert len(user) == 238 and user[:2] == hx("0d ec")
    assert mib.frame(user) == ASSOC_REQUEST_WIRE
    assert len(ASSOC_REQUEST_WIRE) == 247


def test_codec_start_sends_the_association_request():
    codec = codec_for("philips")
    assert codec.start(at(0)) == ASSOC_REQUEST_WIRE
    assert infos_of(codec.events()) == ["requested"]


def test_encode_host_pdus():
    assert mib.frame(mib.encode_extended_poll_request(1, 1, 240000)) == EXT_POLL_WIRE
    assert mib.frame(mib.encode_mds_create_result(1, 0x000ABD00)) == MDS_RESULT_WIRE
    assert mib.frame(mib.encode_single_poll_request(8, 7)) == KEEPALIVE_WIRE
    assert mib.frame(mib.RELEASE_REQUEST) == RELEASE_REQUEST_WIRE
    assert mib.frame(mib.REFUSE) == REFUSE_WIRE
    assert len(mib.RELEASE_REQUEST) == len(mib.RELEASE_RESPONSE) == 26 and len(mib.ABORT) == 48


def test_encode_monitor_pdus_12_3_to_12_5():
    assert mib.frame(wire.encode_association_accept()) == ACCEPT_WIRE
    assert mib.frame(wire.encode_mds_create_report(1, 0x3ADE4FF0, DEVICE_CLOCK, 0x3ADE4FF0)) == MDS_CREATE_WIRE
    assert mib.encode_mds_create_result(1, 0x3ADE4FF0) == MDS_CREATE_HOST_RESULT
    assert mib.frame(encode_12_5()) == POLL_RESULT_WIRE


@pytest.mark.parametrize("raw, value", [
    (0xFD007D00, 32.0), (0xFF000140, 32.0), (0x01000140, 3200.0), (0x02000020, 3200.0), (0x00000048, 72.0),
    (0xFF0003D4, 98.0), (0xFE002E36, 118.30), (0xFFFFFFF6, -1.0),
])
def test_float_table_12_6(raw, value):
    assert mib.decode_float(raw) == (value, "")


@pytest.mark.parametrize("raw, name", [
    (0x007FFFFF, "nan"), (0x00800000, "nres"), (0x007FFFFE, "+inf"), (0x00800002, "-inf"),
])
def test_float_specials_12_6(raw, name):
    assert mib.decode_float(raw) == (None, name)


@pytest.mark.parametrize("value, decimals, raw", [
    (72, 0, 0x00000048), (98.0, 1, 0xFF0003D4), (118.3, 2, 0xFE002E36), (-1.0, 1, 0xFFFFFFF6), (None, 0, 0x007FFFFF),
])
def test_float_encode(value, decimals, raw):
    assert wire.encode_float(value, decimals) == raw


def test_abs_time_bcd_both_ways():
    assert wire.encode_abs_time(DEVICE_CLOCK) == hx("20 24 03 15 10 30 00 00")
    assert mib.decode_abs_time(hx("20 24 03 15 10 30 00 00")) == DEVICE_CLOCK
    assert mib.decode_abs_time(b"\xff" * 8) is None
    assert mib.decode_abs_time(hx("20 24 13 15 10 30 00 00")) is None  # month 13
    assert mib.decode_abs_time(hx("20 2a 03 15 10 30 00 00")) is None  # not BCD


# ------------------------------------------------------------------------------------------------------
# Decode: the documented bytes give the tabulated values
# ------------------------------------------------------------------------------------------------------
def test_decode_poll_result_12_5():
    codec = codec_for("philips")
    codec.receive_data(POLL_RESULT_WIRE, at(5))
    events = codec.events()
    frames = [e for e in events if isinstance(e, FrameEvent)]
    assert frames == [FrameEvent(True, "poll-result", 0xA4)]
    readings = readings_of(events)
    assert {r.parameter: r.value for r in readings} == POLL_RESULT_VALUES
    by = {r.parameter: r for r in readings}
    assert by[Parameter.HR].unit == "/min" and by[Parameter.SPO2].unit == "%"
    assert by[Parameter.NIBP_SYS].unit == "mm[Hg]"
    for r in readings:
        assert r.flags == frozenset() and r.is_valid
        assert r.host_time == at(5).wall and r.source == "device:philips"
        # no MDS anchor yet: the reply's own absolute stamp
        assert r.device_time == DEVICE_CLOCK.replace(tzinfo=timezone.utc)
    assert codec.stats.readings == 5 and codec.stats.frames_ok == 1


def test_decode_poll_result_uses_mds_anchor_for_device_time():
    codec = polling_codec()
    codec.receive_data(POLL_RESULT_WIRE, at(1))
    readings = readings_of(codec.events())
    # rel 0x3ADE5000 is 16 ticks (2 ms) after the MDS anchor 0x3ADE4FF0 at 10:30:00
    assert {r.device_time for r in readings} == {datetime(2024, 3, 15, 10, 30, 0, 2000, tzinfo=timezone.utc)}


def test_decode_linked_result_same_as_rors():
    codec = codec_for("philips")
    codec.receive_data(mib.frame(encode_12_5(linked=(3, 2))), at(0))
    events = codec.events()
    assert [e.kind for e in events if isinstance(e, FrameEvent)] == ["poll-result"]
    assert values_of(events) == POLL_RESULT_VALUES


def test_decode_accept_12_3():
    codec = codec_for("philips")
    codec.start(at(0))
    codec.events()
    codec.receive_data(ACCEPT_WIRE, at(0.2))
    events = codec.events()
    assert [e.kind for e in events if isinstance(e, FrameEvent)] == ["assoc-accept"]
    assert infos_of(events) == ["accepted"]
    assert infos_of(events, "min-poll-period-ms") == ["312.5"]
    assert codec.state == mib.CONFIGURING
    info = codec.monitor_info
    assert info.system_type == mib.SYST_SERVER and info.min_poll_period == 2500
    assert info.max_mtu_tx == 1000 and info.poll_ext_options == 0x8C000000
    assert codec.association_timeout_s == 10.0


def test_decode_mds_create_12_4_answers_with_result_then_poll():
    codec = codec_for("philips")
    codec.start(at(0))
    codec.receive_data(ACCEPT_WIRE + MDS_CREATE_WIRE, at(0.2))
    events = codec.events()
    assert infos_of(events) == ["requested", "accepted", "polling"]
    assert infos_of(events, "device-clock") == ["2024-03-15T10:30:00"]
    sent = frames_in(codec.data_to_send())
    assert sent[0] == MDS_CREATE_HOST_RESULT
    poll = mib.parse_action_request(mib.parse_ro(sent[1]))
    assert (poll.action, poll.obj_type, poll.attr_group) == (mib.NOM_ACT_POLL_MDIB_DATA_EXT, mib.NUMERICS, 0)
    assert poll.period_ticks == 600 * 8000
    assert len(sent) == 2


def test_decode_refuse_aborts_stale_association_and_restarts_later():
    codec = codec_for("philips")
    codec.start(at(0))
    codec.receive_data(REFUSE_WIRE, at(0.1))
    assert infos_of(codec.events()) == ["requested", "refused"]
    assert frames_in(codec.data_to_send()) == [mib.ABORT]
    codec.tick(at(0.1 + mib.RESTART_WAIT_S - 0.01))
    assert not codec.needs_restart
    codec.tick(at(0.1 + mib.RESTART_WAIT_S))
    assert codec.needs_restart
    assert codec.start(at(2.2)) == ASSOC_REQUEST_WIRE and not codec.needs_restart


def test_decode_release_request_from_monitor_is_answered():
    codec = polling_codec()
    codec.receive_data(RELEASE_REQUEST_WIRE, at(1))
    assert infos_of(codec.events()) == ["released"]
    assert frames_in(codec.data_to_send()) == [mib.RELEASE_RESPONSE]
    codec.tick(at(1 + mib.RESTART_WAIT_S))
    assert codec.needs_restart


def test_decode_host_vectors_by_the_sim():
    sim = PhilipsMibSim(seed=1)
    sim.rel_epoch, sim.device_epoch = 0x3ADE4FF0, DEVICE_CLOCK
    sim.receive_data(ASSOC_REQUEST_WIRE, 0.0)
    # the simulator's answer for the documented state is exactly vectors 12.3 then 12.4
    assert sim.data_to_send() == ACCEPT_WIRE + MDS_CREATE_WIRE
    assert sim.associated and sim.timeout_s == 10.0
    sim.receive_data(mib.frame(MDS_CREATE_HOST_RESULT), 0.1)
    assert sim.mds_confirmed
    sim.receive_data(KEEPALIVE_WIRE, 0.2)
    (reply,) = frames_in(sim.data_to_send())
    ro = mib.parse_ro(reply)
    single = mib.parse_poll_reply(ro)
    assert (ro.invoke_id, single.action, single.poll_number, single.obj_type) == (8, 0x0C16, 7, (1, 54))
    sim.receive_data(EXT_POLL_WIRE, 0.3)
    (result,) = frames_in(sim.data_to_send())
    ro = mib.parse_ro(result)
    reply = mib.parse_poll_reply(ro)
    assert (ro.invoke_id, reply.poll_number, reply.sequence_no, reply.obj_type) == (1, 1, 1, (1, 6))
    sim.receive_data(ASSOC_REQUEST_WIRE, 0.4)  # a second association is refused
    assert sim.data_to_send() == REFUSE_WIRE
    sim.receive_data(RELEASE_REQUEST_WIRE, 0.5)
    assert frames_in(sim.data_to_send()) == [mib.RELEASE_RESPONSE] and not sim.associated


def test_sim_result_decodes_to_the_patient():
    sim = PhilipsMibSim(scenario="baseline", seed=4)
    codec = codec_for("philips")
    sim.receive_data(codec.start(at(0)), 100.0)
    codec.receive_data(sim.data_to_send(), at(0))
    sim.receive_data(codec.data_to_send(), 100.0)
    codec.receive_data(sim.data_to_send(), at(0))
    got = values_of(codec.events())
    v = sim.patient.vitals_at(100.0)
    nibp = sim.patient.nibp_at(max(x for x in sim._nibp_times if x <= 100.0))
    assert got == {
        Parameter.HR: v.hr, Parameter.SPO2: v.spo2, Parameter.PR: v.hr, Parameter.RR: v.rr,
        Parameter.ETCO2: v.etco2, Parameter.TEMP: v.temp, Parameter.PI: v.pi,
        Parameter.NIBP_SYS: nibp.sys, Parameter.NIBP_DIA: nibp.dia, Parameter.NIBP_MEAN: nibp.mean,
    }


# ------------------------------------------------------------------------------------------------------
# Stream robustness: byte at a time, random chunks, garbage around, one byte flipped
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(ALL_WIRE_VECTORS))
def test_stream_robustness_framing(name):
    wire = ALL_WIRE_VECTORS[name]
    user = unframe(wire)
    rng = random.Random(name)
    assert frames_in(*[wire[i : i + 1] for i in range(len(wire))]) == [user]
    for _ in range(20):
        assert frames_in(*random_chunks(wire + wire, rng)) == [user, user]
    garbage = bytes(rng.randrange(256) for _ in range(200)) + hx("c0 11 7d")  # ends inside a frame, mid-escape
    assert frames_in(garbage + wire + garbage) == [user]
    for pos, bad in flips(wire):
        assert frames_in(bad + wire) == [user], f"flip at {pos} not rejected or lost the next frame"


def test_stream_robustness_codec_poll_result():
    rng = random.Random(7)
    codec = codec_for("philips")
    codec.receive_data(POLL_RESULT_WIRE, at(0))
    expected = values_of(codec.events())
    assert expected == POLL_RESULT_VALUES

    def decode(*chunks: bytes) -> tuple[list, PhilipsMibCodec]:
        c = codec_for("philips")
        for ch in chunks:
            c.receive_data(ch, at(0))
        return c.events(), c

    events, _ = decode(*[POLL_RESULT_WIRE[i : i + 1] for i in range(len(POLL_RESULT_WIRE))])
    assert values_of(events) == expected
    events, _ = decode(*random_chunks(POLL_RESULT_WIRE, rng))
    assert values_of(events) == expected
    garbage = bytes(rng.randrange(256) for _ in range(300))
    events, c = decode(*random_chunks(garbage + POLL_RESULT_WIRE + garbage, rng))
    assert values_of(events) == expected and c.stats.frames_ok == 1
    assert c.stats.junk_bytes + c.stats.frames_bad > 0
    for pos, bad in flips(POLL_RESULT_WIRE):
        events, c = decode(bad, POLL_RESULT_WIRE)
        assert len(readings_of(events)) == 5 and values_of(events) == expected, pos
        assert c.stats.frames_ok == 1


def test_frame_abort_sequences():
    good = unframe(POLL_RESULT_WIRE)
    assert frames_in(POLL_RESULT_WIRE[:40] + hx("7d c1") + POLL_RESULT_WIRE) == [good]
    assert frames_in(POLL_RESULT_WIRE[:40] + POLL_RESULT_WIRE) == [good]  # BOF aborts the half frame
    dec = mib.FrameDecoder()
    reasons = [r.reason for r in dec.feed(POLL_RESULT_WIRE[:40] + hx("7d c1") + POLL_RESULT_WIRE[:30] + REFUSE_WIRE)]
    assert reasons == ["aborted", "aborted", ""]


def test_bad_frames_are_reported_and_counted():
    codec = codec_for("philips")
    body = unframe(POLL_RESULT_WIRE)
    wrong_protocol = mib.wrap(b"\x12\x01" + len(body).to_bytes(2, "big") + body)
    wrong_length = mib.wrap(b"\x11\x01" + (len(body) + 1).to_bytes(2, "big") + body)
    bad_fcs = POLL_RESULT_WIRE[:-3] + bytes((POLL_RESULT_WIRE[-3] ^ 1,)) + POLL_RESULT_WIRE[-1:]
    too_long = b"\xc0" + b"\x00" * (mib.MAX_USER_DATA + 20)
    short = hx("c0 11 01 c1")
    codec.receive_data(wrong_protocol + wrong_length + bad_fcs + short + too_long + POLL_RESULT_WIRE, at(0))
    events = codec.events()
    frames = [(e.valid, e.kind) for e in events if isinstance(e, FrameEvent)]
    assert frames == [(False, "bad-protocol"), (False, "bad-length"), (False, "bad-fcs"), (False, "too-short"),
                      (False, "too-long"), (True, "poll-result")]
    assert codec.stats.frames_bad == 5 and codec.stats.frames_ok == 1
    assert values_of(events) == POLL_RESULT_VALUES


def test_malformed_pdu_inside_a_good_frame_is_counted_not_raised():
    codec = polling_codec()
    truncated = encode_12_5()[:60]
    lying = bytearray(encode_12_5())
    lying[46:48] = b"\x00\x05"  # PollInfoList count 5 with the length of 1
    codec.receive_data(mib.frame(truncated) + mib.frame(bytes(lying)) + POLL_RESULT_WIRE, at(1))
    events = codec.events()
    frames = [(e.valid, e.kind) for e in events if isinstance(e, FrameEvent)]
    assert frames[0] == (False, "malformed")
    assert frames[-1] == (True, "poll-result")
    assert codec.counters["malformed"] >= 1


# ------------------------------------------------------------------------------------------------------
# Measurement states, units, NIBP newness
# ------------------------------------------------------------------------------------------------------
def decode_one(contexts_kw: dict, codec: PhilipsMibCodec | None = None) -> dict[Parameter, Reading]:
    codec = codec or codec_for("philips")
    codec.receive_data(mib.frame(encode_12_5(**contexts_kw)), at(0))
    return {r.parameter: r for r in readings_of(codec.events())}


@pytest.mark.parametrize("state, flag, has_number", [
    (mib.MS_INVALID, Quality.INVALID, False),
    (mib.MS_QUESTIONABLE, Quality.QUESTIONABLE, False),
    (mib.MS_UNAVAILABLE, Quality.UNAVAILABLE, False),
    (mib.MS_CALIBRATION_ONGOING, Quality.CALIBRATING, False),
    (mib.MS_TEST_DATA, Quality.DEMO, False),
    (mib.MS_DEMO_DATA, Quality.DEMO, True),
    (mib.MS_INVALID | mib.MS_DEMO_DATA, Quality.INVALID, False),
])
def test_measurement_state_flags(state, flag, has_number):
    hr = decode_one({"states": {0x4182: state}})[Parameter.HR]
    assert flag in hr.flags
    assert (hr.value == 72.0) if has_number else (hr.value is None)


def test_alarm_and_validated_bits_do_not_block():
    hr = decode_one({"states": {0x4182: mib.MS_IN_ALARM | mib.MS_VALIDATED_DATA}})[Parameter.HR]
    assert hr.value == 72.0 and hr.flags == frozenset()


@pytest.mark.parametrize("raw, flag", [
    (0x007FFFFF, Quality.UNAVAILABLE), (0x00800000, Quality.OUT_OF_RANGE), (0x007FFFFE, Quality.OUT_OF_RANGE),
])
def test_special_floats_are_not_numbers(raw, flag):
    spo2 = decode_one({"raws": {0x4BB8: raw}})[Parameter.SPO2]
    assert spo2.value is None and flag in spo2.flags


def test_units_are_converted_or_refused():
    got = decode_one({"units": {0x4A05: mib.UNIT_KPA, 0x4182: 0x0F20}, "raws": {0x4A05: wire.encode_float(16.0, 1)}})
    assert got[Parameter.NIBP_SYS].value == pytest.approx(120.01, abs=0.01)
    assert got[Parameter.NIBP_SYS].unit == "mm[Hg]"
    assert got[Parameter.HR].value is None and Quality.QUESTIONABLE in got[Parameter.HR].flags  # HR in mmHg?


def test_etco2_and_temperature_units():
    ctx = [(0, [
        (1, [wire.ava_label(0x000250AC), wire.ava_numeric(0x50B0, 0, mib.UNIT_KPA, wire.encode_float(5.0, 1))]),
        (2, [wire.ava_numeric(0x4B48, 0, mib.UNIT_DEGF, wire.encode_float(98.6, 1))]),
        (3, [wire.ava_numeric(0x50B0, 0, mib.UNIT_PERCENT, wire.encode_float(5.1, 1))]),
        (4, [wire.ava_numeric(0x5012, 0, mib.UNIT_RESP_PER_MIN, 12)]),
        (5, [wire.ava_numeric(0x7777, 0, mib.UNIT_BPM, 12)]),  # unknown physio id: ignored
    ])]
    codec = codec_for("philips")
    codec.receive_data(mib.frame(wire.encode_poll_reply(1, 1, 1, 0, None, ctx)), at(0))
    readings = readings_of(codec.events())
    assert [(r.parameter, r.unit) for r in readings] == [
        (Parameter.ETCO2, "mm[Hg]"), (Parameter.TEMP, "Cel"), (Parameter.ETCO2, "%"), (Parameter.RR, "/min")]
    assert readings[0].value == pytest.approx(37.5, abs=0.05)
    assert readings[1].value == pytest.approx(37.0)
    assert readings[2].value == pytest.approx(5.1) and readings[3].value == 12.0
    assert all(r.device_time is None for r in readings)  # no anchor, no absolute stamp
    assert codec.counters["unknown_physio"] == 1


def nibp_values(codec: PhilipsMibCodec, **kw) -> tuple | None:
    got = decode_one(kw, codec)
    if Parameter.NIBP_SYS not in got:
        return None
    return tuple(got[p].value for p in (Parameter.NIBP_SYS, Parameter.NIBP_DIA, Parameter.NIBP_MEAN))


def test_nibp_new_reading_by_values():
    codec = codec_for("philips")
    assert nibp_values(codec) == (120.0, 80.0, 93.0)
    assert nibp_values(codec) is None  # same tuple: not a new measurement
    assert nibp_values(codec, states={0x4A05: mib.MS_MSMT_ONGOING}, raws={0x4A05: 0x80}) is None
    assert nibp_values(codec, states={0x4A05: mib.MS_INVALID}, raws={0x4A05: 0x81}) is None
    assert nibp_values(codec, raws={0x4A05: 0x7FFFFF}) is None
    assert nibp_values(codec, raws={0x4A05: 0x82}) == (130.0, 80.0, 93.0)
    assert nibp_values(codec) == (120.0, 80.0, 93.0)  # back to 120/80: changed again, so new


def test_nibp_new_reading_by_time_stamp():
    codec = polling_codec()
    assert nibp_values(codec, nibp_stamp=0x3ADE4FF0 - 8000 * 60) == (120.0, 80.0, 93.0)
    assert nibp_values(codec, nibp_stamp=0x3ADE4FF0 - 8000 * 60) is None
    got = decode_one({"nibp_stamp": 0x3ADE4FF0 + 8000 * 5}, codec)  # same numbers, new cuff cycle
    assert got[Parameter.NIBP_SYS].value == 120.0
    assert got[Parameter.NIBP_SYS].device_time == datetime(2024, 3, 15, 10, 30, 5, tzinfo=timezone.utc)
    assert got[Parameter.HR].device_time == datetime(2024, 3, 15, 10, 30, 0, 2000, tzinfo=timezone.utc)
    got = decode_one({"nibp_stamp": 0x3ADE4FF0 + 8000 * 300, "states": {0x4A06: mib.MS_INVALID}}, codec)
    assert got[Parameter.NIBP_DIA].value is None and Quality.INVALID in got[Parameter.NIBP_DIA].flags


def test_remote_error_is_reported():
    codec = polling_codec()
    codec.receive_data(mib.frame(wire.encode_error(4, 9)), at(1))
    events = codec.events()
    assert infos_of(events, "remote-error") == ["invoke 4: error 9"]


# ------------------------------------------------------------------------------------------------------
# Relative time
# ------------------------------------------------------------------------------------------------------
def test_signed_tick_delta_across_rollover():
    assert mib.signed_tick_delta(0xFFFFFFF0, 0x10) == 0x20
    assert mib.signed_tick_delta(0x10, 0xFFFFFFF0) == -0x20
    assert mib.signed_tick_delta(5, 5) == 0


def test_relative_timeline_rollover_and_small_steps_back():
    tl = mib.RelativeTimeline(DEVICE_CLOCK, 0xFFFFF000)
    assert tl.advance(0xFFFFF000 + 800) == DEVICE_CLOCK + timedelta(milliseconds=100)
    assert tl.advance(0x00000FA0) == DEVICE_CLOCK + timedelta(microseconds=125 * (0x1000 + 0xFA0))
    assert tl.peek(0xFFFFF000) == DEVICE_CLOCK  # an older stamp from before the wrap
    # keep going for more than one full 6.2-day wrap in 1-day steps
    raw, when = 0x00000FA0, tl.advance(0x00000FA0)
    for _ in range(8):
        raw = (raw + 86400 * 8000) % mib.REL_TIME_MODULUS
        nxt = tl.advance(raw)
        assert nxt - when == timedelta(days=1)
        when = nxt


def test_codec_device_time_across_rollover():
    codec = codec_for("philips")
    codec.start(at(0))
    anchor = 0xFFFFFFFF - 8000 * 2  # two seconds before the wrap
    codec.receive_data(
        ACCEPT_WIRE + mib.frame(wire.encode_mds_create_report(3, anchor, DEVICE_CLOCK, anchor)), at(0.1))
    codec.events()
    times = []
    for k in range(6):
        rel = (anchor + 8000 * k) % mib.REL_TIME_MODULUS
        codec.receive_data(mib.frame(encode_12_5(rel=rel)), at(0.2 + k))
        times.append({r.device_time for r in readings_of(codec.events()) if r.parameter == Parameter.HR}.pop())
    assert times == [DEVICE_CLOCK.replace(tzinfo=timezone.utc) + timedelta(seconds=k) for k in range(6)]


# ------------------------------------------------------------------------------------------------------
# Codec <-> simulator conversations, in simulated time
# ------------------------------------------------------------------------------------------------------
@dataclass
class Conversation:
    """Drives codec and sim like the link and the sim server would, on one simulated clock."""

    sim: PhilipsMibSim
    codec: PhilipsMibCodec = field(default_factory=PhilipsMibCodec)
    t0: float = -30.0  # sim time when the conversation starts
    step: float = 0.05
    elapsed: float = 0.0
    events: list = field(default_factory=list)  # (elapsed, event)
    host_to_sim: bool = True
    sim_to_host: bool = True
    started: bool = False

    def run(self, seconds: float, chunker: random.Random | None = None) -> None:
        if not self.started:
            self.started = True
            self.watchdog = SilenceWatchdog(self.codec.link_hint.quiet_time_s, at(0).mono)
            self._to_sim(self.codec.start(at(0)))
        end = self.elapsed + seconds
        while self.elapsed < end - 1e-9:
            self.elapsed = round(self.elapsed + self.step, 6)
            now, t = at(self.elapsed), self.t0 + self.elapsed
            self.sim.tick(t)
            data = self.sim.data_to_send()
            if self.sim_to_host:
                for chunk in random_chunks(data, chunker) if chunker else [data]:
                    self.codec.receive_data(chunk, now)
            new = self.codec.events()
            if any(isinstance(e, FrameEvent) and e.valid for e in new):
                self.watchdog.alive(now.mono)
            self.events += [(self.elapsed, e) for e in new]
            self.codec.tick(now)
            self.watchdog.check(self.codec, now)  # the link's watchdog: the one owner of silence
            out = self.codec.start(now) if self.codec.needs_restart else b""
            out += self.codec.data_to_send()
            self.events += [(self.elapsed, e) for e in self.codec.events()]
            self._to_sim(out)

    def _to_sim(self, data: bytes) -> None:
        if self.host_to_sim and data:
            self.sim.receive_data(data, self.t0 + self.elapsed)

    def readings(self, since: float = 0.0) -> list[Reading]:
        return [e.reading for t, e in self.events if t >= since and isinstance(e, ReadingEvent)]

    def association(self) -> list[tuple[float, str]]:
        return [(t, e.value) for t, e in self.events if isinstance(e, DeviceInfoEvent) and e.key == "association"]

    def sim_t(self, r: Reading) -> float:
        """The sim time a reading's device stamp names (the sim's clock is device_epoch + t)."""
        return (r.device_time.replace(tzinfo=None) - self.sim.device_epoch) / timedelta(microseconds=1) / 1e6


CONTINUOUS = {
    Parameter.HR: "hr", Parameter.PR: "hr", Parameter.SPO2: "spo2", Parameter.RR: "rr",
    Parameter.ETCO2: "etco2", Parameter.TEMP: "temp", Parameter.PI: "pi",
}


def assert_readings_match_patient(conv: Conversation, readings: list[Reading]) -> None:
    patient = conv.sim.patient
    for r in readings:
        t = conv.sim_t(r)
        if r.parameter in CONTINUOUS:
            if r.value is not None:
                assert r.value == getattr(patient.vitals_at(t), CONTINUOUS[r.parameter]), (r, t)
        else:
            assert t in conv.sim._nibp_times, (r, t)
            n = patient.nibp_at(t)
            expected = {Parameter.NIBP_SYS: n.sys, Parameter.NIBP_DIA: n.dia, Parameter.NIBP_MEAN: n.mean}
            if r.value is not None:
                assert r.value == expected[r.parameter]


def test_full_conversation():
    conv = Conversation(PhilipsMibSim(scenario="ketamine", seed=2), t0=2300.0)
    conv.run(240.0)
    codec, sim = conv.codec, conv.sim
    assert [v for _, v in conv.association()] == ["requested", "accepted", "polling"]
    assert codec.state == mib.POLLING and sim.associated and sim.mds_confirmed
    assert sim.counters["associations"] == 1 and sim.counters["ext_polls"] == 1
    # keep-alives at about a third of the 10 s association timeout, each answered
    assert 60 <= sim.counters["keepalives"] <= 80
    assert codec.counters["keepalives_sent"] == sim.counters["keepalives"]
    assert codec.stats.frames_bad == 0 and codec.stats.junk_bytes == 0

    readings = conv.readings()
    assert all(r.is_valid and r.flags == frozenset() for r in readings)
    assert_readings_match_patient(conv, readings)
    hr = [r for r in readings if r.parameter == Parameter.HR]
    assert 238 <= len(hr) <= 241
    stamps = [conv.sim_t(r) for r in hr]
    assert all(0.99 <= b - a <= 1.06 for a, b in zip(stamps, stamps[1:]))
    assert stamps[0] == pytest.approx(2300.05, abs=0.06)
    # every cuff cycle of the window arrives once, plus the one on the monitor's screen at association
    sys_times = [conv.sim_t(r) for r in readings if r.parameter == Parameter.NIBP_SYS]
    schedule = sim._nibp_times
    expected = [max(x for x in schedule if x <= 2300.05)] + [x for x in schedule if 2300.05 < x <= 2540.0]
    assert sys_times == expected and len(expected) >= 2
    assert all(r.source == "device:philips" and r.host_time.tzinfo for r in readings)


def test_conversation_in_random_chunks_and_long_poll_renewal():
    conv = Conversation(PhilipsMibSim(scenario="baseline", seed=5))
    conv.codec.poll_period_s, conv.codec.poll_renew_s = 30.0, 25.0
    conv.run(130.0, chunker=random.Random(1))
    assert conv.sim.counters["ext_polls"] == 6  # first + one every 25 s
    assert conv.codec.counters["poll_stalls"] == 0
    hr = [conv.sim_t(r) for r in conv.readings() if r.parameter == Parameter.HR]
    assert all(b - a <= 1.06 for a, b in zip(hr, hr[1:])) and len(hr) >= 128
    assert_readings_match_patient(conv, conv.readings())


def test_poll_stall_is_repaired():
    conv = Conversation(PhilipsMibSim(scenario="baseline", seed=5))
    conv.codec.poll_period_s, conv.codec.poll_renew_s = 10.0, 1000.0  # the monitor stops after 10 s
    conv.run(40.0)
    assert conv.codec.counters["poll_stalls"] >= 2
    hr = [conv.sim_t(r) for r in conv.readings() if r.parameter == Parameter.HR]
    assert max(b - a for a, b in zip(hr, hr[1:])) <= 6.1
    assert [v for _, v in conv.association()] == ["requested", "accepted", "polling"]


def test_reassociation_after_monitor_goes_silent():
    conv = Conversation(PhilipsMibSim(seed=3))
    conv.run(20.0)
    conv.sim_to_host = False  # cable from the monitor broken
    conv.run(10.0)
    last_rx = conv.codec.last_valid_mono - MONO0
    assert 19.0 <= last_rx <= 20.0
    lost = [(t, v) for t, v in conv.association() if v == "lost"]
    assert len(lost) == 1 and lost[0][0] == pytest.approx(last_rx + mib.SILENCE_LOST_S, abs=0.06)
    assert conv.sim.counters["dropped:abort"] == 1  # our Abort freed the monitor's side
    conv.sim_to_host = True
    conv.run(20.0)
    assert conv.codec.state == mib.POLLING
    after = [t for t, v in conv.association() if v == "polling" and t > 30]
    assert after and after[0] <= 33.0
    readings = conv.readings(since=after[0])
    assert len([r for r in readings if r.parameter == Parameter.HR]) >= 15
    assert_readings_match_patient(conv, readings)


def test_reassociation_after_host_goes_silent():
    conv = Conversation(PhilipsMibSim(seed=3))
    conv.run(20.0)
    conv.host_to_sim = False  # our transmit line broken: the monitor times us out
    conv.run(16.0)
    assert conv.sim.counters["timeouts"] == 1 and not conv.sim.associated
    # the monitor stopped sending when it dropped us; we noticed 5 s later and keep asking every 2 s
    dropped_at = conv.sim._last_host_rx + conv.sim.timeout_s - conv.t0  # in conversation seconds
    assert 20.0 - 10.0 / 3 - 0.1 <= dropped_at - conv.sim.timeout_s <= 20.0  # our last keep-alive
    vals = [(t, v) for t, v in conv.association() if t > 20]
    assert vals[0][1] == "lost"
    assert dropped_at + mib.SILENCE_LOST_S - 1.1 <= vals[0][0] <= dropped_at + mib.SILENCE_LOST_S + 0.1
    assert {v for _, v in vals[1:]} <= {"requested"}
    conv.host_to_sim = True
    conv.run(20.0)
    vals = [v for t, v in conv.association() if t > 20]
    assert vals[0] == "lost" and vals[-3:] == ["requested", "accepted", "polling"]
    assert conv.sim.counters["associations"] == 2
    assert conv.codec.state == mib.POLLING and conv.sim.associated
    assert_readings_match_patient(conv, conv.readings())


@pytest.mark.parametrize("inject, event", [("inject_abort", "aborted"), ("inject_release", "released")])
def test_reassociation_after_monitor_abort_or_release(inject, event):
    conv = Conversation(PhilipsMibSim(seed=3))
    conv.run(10.0)
    getattr(conv.sim, inject)()
    conv.run(10.0)
    vals = [(t, v) for t, v in conv.association() if t > 10]
    assert [v for _, v in vals] == [event, "requested", "accepted", "polling"]
    assert vals[1][0] == pytest.approx(vals[0][0] + mib.RESTART_WAIT_S, abs=0.06)
    assert conv.sim.counters["associations"] == 2
    assert_readings_match_patient(conv, conv.readings())
    assert any(r.parameter == Parameter.HR for r in conv.readings(since=vals[-1][0]))


def test_second_host_is_refused_then_recovers():
    sim = PhilipsMibSim(seed=3)
    first = Conversation(sim)
    first.run(5.0)
    second = Conversation(sim, t0=first.t0 + first.elapsed)  # host restarted; monitor still associated
    second.run(10.0)
    vals = [v for _, v in second.association()]
    assert vals[:2] == ["requested", "refused"]
    assert vals[-1] == "polling" and second.codec.state == mib.POLLING
    assert sim.counters["refused"] == 1 and sim.counters["associations"] == 2


def test_relative_time_rollover_in_conversation():
    sim = PhilipsMibSim(seed=6)
    sim.rel_epoch = mib.REL_TIME_MODULUS - 8000 * 40  # the monitor's counter wraps at sim t = 40 s
    conv = Conversation(sim, t0=0.0)
    conv.run(80.0)
    hr = [r for r in conv.readings() if r.parameter == Parameter.HR]
    stamps = [conv.sim_t(r) for r in hr]
    assert stamps[0] < 40 < stamps[-1]
    assert all(0.99 <= b - a <= 1.06 for a, b in zip(stamps, stamps[1:]))
    assert_readings_match_patient(conv, conv.readings())


def test_artifacts_scenario():
    conv = Conversation(PhilipsMibSim(scenario="artifacts", seed=9))
    conv.run(300.0, chunker=random.Random(2))
    sim, codec = conv.sim, conv.codec
    for kind in ("garbage", "half-frame", "esc-abort", "corrupt"):
        assert sim.counters[f"artifact:{kind}"] > 0, kind
    assert codec.stats.frames_bad > 10 and codec.stats.junk_bytes > 0
    assert [v for _, v in conv.association()] == ["requested", "accepted", "polling"]  # never lost
    readings = conv.readings()
    flagged = [r for r in readings if r.flags]
    assert {Quality.INVALID, Quality.QUESTIONABLE, Quality.UNAVAILABLE, Quality.CALIBRATING, Quality.DEMO} <= {
        f for r in flagged for f in r.flags}
    for r in readings:
        if r.flags - {Quality.DEMO}:
            assert r.value is None, r
    assert_readings_match_patient(conv, readings)
    good_hr = [r for r in readings if r.parameter == Parameter.HR and r.value is not None]
    assert len(good_hr) > 240  # lost frames cost single seconds, never the stream


def test_release_by_host():
    conv = Conversation(PhilipsMibSim(seed=3))
    conv.run(5.0)
    conv.codec.release(at(conv.elapsed))
    conv.run(1.0)
    assert conv.codec.state == mib.CLOSED and not conv.sim.associated
    assert [v for _, v in conv.association()][-1] == "closed"
    conv.run(10.0)
    assert not conv.codec.needs_restart and conv.sim.counters["associations"] == 1


def test_association_retried_while_no_answer():
    codec = codec_for("philips")
    codec.start(at(0))
    for k in range(1, 101):
        codec.tick(at(k * 0.1))
    assert frames_in(codec.data_to_send()) == [mib.encode_association_request()] * 5
    assert not codec.needs_restart


def test_mds_create_never_comes():
    codec = codec_for("philips")
    codec.start(at(0))
    codec.receive_data(ACCEPT_WIRE, at(0.1))
    codec.tick(at(0.1 + mib.MDS_CREATE_TIMEOUT_S))
    assert infos_of(codec.events())[-1] == "lost" and frames_in(codec.data_to_send()) == [mib.ABORT]


def test_link_hint():
    hint = PhilipsMibCodec.link_hint
    assert (hint.baudrate, hint.bytesize, hint.parity, hint.stopbits, hint.rtscts) == (115200, 8, "N", 1, False)
    assert hint.quiet_time_s == mib.SILENCE_LOST_S
    assert sim_for("philips").protocol == "philips"


# ------------------------------------------------------------------------------------------------------
# Fuzzing: nothing escapes, and the next valid frame always decodes
# ------------------------------------------------------------------------------------------------------
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VECTOR_NAMES = sorted(ALL_WIRE_VECTORS)


def feed_all(target, chunks: list[bytes], now_or_t) -> None:
    for chunk in chunks:
        target.receive_data(chunk, now_or_t)


def resyncs_to_poll_result(codec: PhilipsMibCodec) -> None:
    codec.events()
    codec.receive_data(POLL_RESULT_WIRE, at(9))
    events = codec.events()
    frames = [e for e in events if isinstance(e, FrameEvent)]
    assert frames[-1] == FrameEvent(True, "poll-result", 0xA4)
    assert {r.parameter: r.value for r in readings_of(events)}.items() >= {
        Parameter.HR: 72.0, Parameter.SPO2: 98.0}.items()


@FUZZ
@given(st.binary(max_size=3000), st.integers(1, 64), st.booleans())
def test_fuzz_random_bytes(data, chunk, associated):
    codec = polling_codec() if associated else codec_for("philips")
    feed_all(codec, [data[i : i + chunk] for i in range(0, len(data), chunk)], at(1))
    codec.tick(at(2))
    resyncs_to_poll_result(codec)


@FUZZ
@given(st.sampled_from(VECTOR_NAMES), st.integers(0, 300), st.binary(max_size=20))
def test_fuzz_truncated_frames(name, cut, tail):
    wire = ALL_WIRE_VECTORS[name]
    codec = polling_codec()
    codec.receive_data(wire[: cut % len(wire)] + tail, at(1))
    resyncs_to_poll_result(codec)


@FUZZ
@given(st.sampled_from(VECTOR_NAMES), st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), min_size=1,
                                              max_size=6))
def test_fuzz_mutated_frames(name, mutations):
    wire = bytearray(ALL_WIRE_VECTORS[name])
    for pos, value in mutations:
        wire[pos % len(wire)] = value
    codec = polling_codec()
    codec.receive_data(bytes(wire), at(1))
    resyncs_to_poll_result(codec)


@FUZZ
@given(st.sampled_from(VECTOR_NAMES), st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), max_size=6),
       st.integers(0, 300))
def test_fuzz_mutated_pdus_with_good_fcs(name, mutations, cut):
    """The PDU parser meets nonsense that passed the FCS: it must count it, never raise."""
    user = bytearray(unframe(ALL_WIRE_VECTORS[name]))
    for pos, value in mutations:
        user[pos % len(user)] = value
    user = bytes(user[: max(1, len(user) - cut % len(user))])
    codec = polling_codec()
    codec.receive_data(mib.frame(user), at(1))
    codec.tick(at(1.5))
    resyncs_to_poll_result(codec)
    sim = PhilipsMibSim(seed=1)
    sim.receive_data(ASSOC_REQUEST_WIRE + mib.frame(user), 0.0)
    sim.tick(0.5)


@FUZZ
@given(st.binary(max_size=400), st.sampled_from([b"", b"\xe1\x00\x00\x02", b"\xe1\x00\x00\x02\x00\x02",
                                                  b"\xe1\x00\x00\x02\x00\x05", b"\x0e", b"\x0d"]))
def test_fuzz_random_pdus_with_good_fcs(body, prefix):
    user = prefix + body or b"\x00"
    codec = polling_codec()
    codec.receive_data(mib.frame(user), at(1))
    resyncs_to_poll_result(codec)
    sim = PhilipsMibSim(seed=1)
    sim.receive_data(ASSOC_REQUEST_WIRE + mib.frame(user), 0.0)
    sim.receive_data(bytes(body), 0.1)
    sim.tick(1.0)
    sim.data_to_send()
    sim.receive_data(KEEPALIVE_WIRE, 1.1)
    answered = [mib.classify(u)[0] for u in frames_in(sim.data_to_send())]
    # still associated -> the keep-alive is answered; otherwise the nonsense was a goodbye it understood
    assert answered == (["single-poll-result"] if sim.associated else [])
    if not sim.associated:
        assert sum(v for k, v in sim.counters.items() if k.startswith("dropped:")) == 1


@FUZZ
@given(st.binary(max_size=2000), st.integers(1, 64))
def test_fuzz_sim_random_bytes(data, chunk):
    sim = PhilipsMibSim(scenario="artifacts", seed=2)
    sim.receive_data(ASSOC_REQUEST_WIRE, 0.0)
    feed_all(sim, [data[i : i + chunk] for i in range(0, len(data), chunk)], 0.5)
    sim.data_to_send()
    sim.receive_data(EXT_POLL_WIRE, 1.0)
    kinds = [mib.classify(u)[0] for u in frames_in(sim.data_to_send())]
    assert kinds == ["poll-result"]


def test_the_codec_never_times_silence_itself_the_link_does():
    """One owner for the silence watchdog: without the link's watchdog a polling codec stays associated."""
    conv = Conversation(PhilipsMibSim(seed=3))
    conv.run(20.0)
    assert conv.codec.state == mib.POLLING
    conv.sim_to_host = False
    for k in range(1, 200):
        conv.codec.tick(at(20.0 + k * 0.1))
    assert conv.codec.state == mib.POLLING
    conv.codec.silence(at(40.0))
    assert conv.codec.state == mib.LOST

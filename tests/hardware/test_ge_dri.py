"""GE S/5 Computer Interface (DRI): spec vectors, decoding rules, stream robustness, sim round trip, fuzzing.

Vectors are section 10 of /work/shared/protocols/ge-s5-dri.md, copied as hex.
"""

from __future__ import annotations

import random
import struct
import weakref
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketachart.domain.codes import Parameter
from ketachart.domain.readings import Quality
from ketachart.hardware.codecs.base import CODECS, CodecTime, DeviceInfoEvent, FrameEvent, ReadingEvent
from ketachart.hardware.codecs.catalog import codec_for
from ketachart.hardware.codecs.ge_dri import (
    raw_quality,
    CLASS_EXT1,
    CLASSES_ALL,
    DATA_DISCONT,
    DATA_INVALID,
    DATA_NOT_CALIBRATED,
    DATA_NOT_UPDATED,
    DATA_OVER_RANGE,
    DATA_UNDER_RANGE,
    MT_PHDB,
    NIBP_AUTO,
    NIBP_CALIBRATING,
    NIBP_MEASURING,
    NIBP_OLD,
    PH_60S_TREND,
    PH_AUX_INFO,
    PH_DISPL,
    BASIC_GROUPS,
    Deframer,
    GeDriCodec,
    Group,
    Phdb,
    PhdbRequest,
    WaveRequest,
    build_record,
    check_frame,
    decode_capture,
    displ_request,
    encode_aux,
    encode_frame,
    encode_phdb,
    parse_phdb,
    parse_phdb_record,
    parse_phdb_request,
    parse_wave_request,
    phdb_request,
    stop_displ_request,
    wave_request,
)
from ketachart.hardware.sim.base import SIMS
from ketachart.hardware.sim.catalog import sim_for
from ketachart.hardware.sim.ge_dri import NIBP_INFLATE_S, NIBP_OLD_AFTER_S, GeDriSim

from .devtools import Watch

HOST_T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def at(t: float = 0.0) -> CodecTime:
    return CodecTime(HOST_T0 + timedelta(seconds=t), 1000.0 + t)


def hx(s: str) -> bytes:
    return bytes.fromhex(" ".join(s.split()))


# --- section 10.1 -------------------------------------------------------------------------------
REQ_VECTORS = {
    "start-displ-10s-all": (
        hx("""7e 31 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ff 00 00 00
              00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 0a 00 0e 00 00 00 00 00 49 7e"""),
        lambda: phdb_request(PH_DISPL, 10, CLASSES_ALL),
        PhdbRequest(PH_DISPL, 10, 0x0E),
    ),
    "stop-displ": (
        hx("""7e 31 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ff 00 00 00
              00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00 31 7e"""),
        stop_displ_request,
        PhdbRequest(PH_DISPL, 0, 0),
    ),
    "start-trend-60s": (
        hx("""7e 31 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ff 00 00 00
              00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 03 3c 00 0e 00 00 00 00 00 7d 5d 7e"""),
        lambda: phdb_request(PH_60S_TREND, 60, CLASSES_ALL),
        PhdbRequest(PH_60S_TREND, 60, 0x0E),
    ),
    "stop-trend-60s": (
        hx("""7e 31 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ff 00 00 00
              00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00 00 33 7e"""),
        lambda: phdb_request(PH_60S_TREND, 0, 0),
        PhdbRequest(PH_60S_TREND, 0, 0),
    ),
    "start-wave-ecg1": (
        hx("""7e 48 00 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 ff 00 00 00 00 00 00 00 00 00
              00 00 00 00 00 00 00 00 00 00 00 00 00 01 ff 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
              00 00 00 00 00 00 00 00 00 48 7e"""),
        lambda: wave_request(0, [1]),
        WaveRequest(0, (1,)),
    ),
    "stop-wave": (
        hx("""7e 48 00 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 ff 00 00 00 00 00 00 00 00 00
              00 00 00 00 00 00 00 00 00 01 00 00 00 ff 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
              00 00 00 00 00 00 00 00 00 48 7e"""),
        lambda: wave_request(1, []),
        WaveRequest(1, ()),
    ),
}

# --- section 10.2 -------------------------------------------------------------------------------
RECORD_VECTOR = hx("""
7e 3e 01 00 0b 00 00 7d 5d f1 53 65 00 00 00 00 00 00 00 00 01 00 00 ff 00 00 00 00 00 00 00 00
00 00 00 00 00 00 00 00 00 00 7d 5d f1 53 65 0b 00 00 00 71 02 48 00 01 80 01 80 01 80 01 80 00
00 00 00 00 00 01 80 01 80 01 80 01 80 00 00 00 00 00 00 01 80 01 80 01 80 01 80 00 00 00 00 00
00 01 80 01 80 01 80 01 80 00 00 00 00 00 00 01 80 01 80 01 80 01 80 03 00 00 00 08 00 e0 2e 40
1f 54 24 01 80 00 00 00 00 00 00 01 80 00 00 00 00 00 00 01 80 00 00 00 00 00 00 01 80 00 00 00
00 00 00 01 80 03 00 00 00 00 00 48 26 47 00 fa 00 01 80 00 00 00 00 00 00 01 80 01 80 01 80 01
80 00 00 00 00 00 00 01 80 01 80 00 00 00 00 00 00 01 80 01 80 00 00 00 00 00 00 01 80 01 80 01
80 00 00 00 00 00 00 01 80 01 80 01 80 01 80 01 80 01 80 01 80 01 80 00 00 00 00 00 00 01 80 01
80 01 80 01 80 00 00 00 00 00 00 01 80 01 80 01 80 48 00 01 80 01 80 00 00 00 00 00 00 01 80 00
00 00 00 00 00 01 80 01 80 01 80 01 80 00 00 00 00 00 00 01 80 01 80 01 80 01 80 00 00 00 00 00
00 05 7e""")
VECTOR_TIME = 1700000125
VECTOR_DT = datetime(2023, 11, 14, 22, 15, 25, tzinfo=timezone.utc)
# What the 10.2 record must decode to: numbers, or None for "no value" (flagged).
VECTOR_READINGS = {
    Parameter.HR: 72.0,
    Parameter.SPO2: 98.0,
    Parameter.PR: 71.0,
    Parameter.NIBP_SYS: 120.0,
    Parameter.NIBP_DIA: 80.0,
    Parameter.NIBP_MEAN: 93.0,
    Parameter.TEMP: None,
    Parameter.ETCO2: None,
    Parameter.RR: None,
}


def vector_phdb() -> Phdb:
    return Phdb(
        VECTOR_TIME,
        groups={
            "ecg": Group(0x0B, 0x0271, {"hr": 72}),
            "nibp": Group(0x03, NIBP_AUTO, {"sys": 12000, "dia": 8000, "mean": 9300}),
            "spo2": Group(0x03, 0, {"spo2": 9800, "pr": 71, "ir_amp": 250}),
            "ecg_extra": Group(values={"hr_ecg": 72}),
        },
    )


def vector_record() -> bytes:
    return build_record(MT_PHDB, [(PH_DISPL, encode_phdb(vector_phdb()))], dri_level=11, r_time=VECTOR_TIME)


ALL_VECTORS = {**{k: v[0] for k, v in REQ_VECTORS.items()}, "record-10.2": RECORD_VECTOR}


# --- helpers -------------------------------------------------------------------------------------
def feed(chunks, codec: GeDriCodec | None = None, now: CodecTime | None = None) -> tuple[list, GeDriCodec]:
    codec = codec or GeDriCodec()
    for c in chunks:
        codec.receive_data(c, now or at())
    return codec.events(), codec


def valid_frames(events) -> list[FrameEvent]:
    return [e for e in events if isinstance(e, FrameEvent) and e.valid]


def readings(events):
    return [e.reading for e in events if isinstance(e, ReadingEvent)]


def by_param(events) -> dict[Parameter, list]:
    out: dict[Parameter, list] = {}
    for r in readings(events):
        out.setdefault(r.parameter, []).append(r)
    return out


def summary(events) -> tuple:
    """What a stream decoded to, comparable across chunkings."""
    frames = tuple((e.kind, e.length) for e in valid_frames(events))
    vals = tuple((r.parameter, r.value, r.device_time, r.flags) for r in readings(events))
    return frames, vals


def random_chunks(data: bytes, rng: random.Random) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 64)
        out.append(data[i : i + n])
        i += n
    return out


def basic_frame(time: int = VECTOR_TIME, **groups: Group) -> bytes:
    sub = vector_phdb()
    sub.time = time
    sub.groups.update(groups)
    return encode_frame(build_record(MT_PHDB, [(PH_DISPL, encode_phdb(sub))], dri_level=11, r_time=time))


def nibp_frame(time: int, label: int, sys: int = 12000, dia: int = 8000, mean: int = 9300, status: int = 3) -> bytes:
    return basic_frame(time, nibp=Group(status, label, {"sys": sys, "dia": dia, "mean": mean}))


def nibp_values(events) -> list[tuple]:
    p = by_param(events)
    return [
        (s.value, d.value, m.value)
        for s, d, m in zip(p.get(Parameter.NIBP_SYS, []), p.get(Parameter.NIBP_DIA, []), p.get(Parameter.NIBP_MEAN, []))
    ]


# =================================================================================================
# Registration and link hint
# =================================================================================================
def test_registered_under_ge_for_link_and_cli():
    assert CODECS["ge"] is GeDriCodec and isinstance(codec_for("ge"), GeDriCodec)
    assert SIMS["ge"] is GeDriSim and isinstance(sim_for("ge", "baseline"), GeDriSim)


def test_link_hint_is_19200_8e1_rtscts_with_quiet_time_of_three_intervals():
    h = GeDriCodec.link_hint
    assert (h.baudrate, h.bytesize, h.parity, h.stopbits, h.rtscts, h.tcp) == (19200, 8, "E", 1, True, False)
    assert h.quiet_time_s == 30.0


def test_start_sends_appendix_a_displayed_values_request():
    codec = GeDriCodec()
    codec.needs_restart = True
    assert codec.start(at()) == REQ_VECTORS["start-displ-10s-all"][0]
    assert codec.needs_restart is False
    assert codec.stop() == REQ_VECTORS["stop-displ"][0]


def test_displ_interval_below_five_seconds_is_our_mistake_and_raises():
    with pytest.raises(ValueError):
        displ_request(4)
    with pytest.raises(ValueError):
        GeDriCodec(interval_s=2)


# =================================================================================================
# Vectors, way 1: encode
# =================================================================================================
@pytest.mark.parametrize("name", sorted(REQ_VECTORS))
def test_request_vector_encodes_exactly(name):
    wire, build, _ = REQ_VECTORS[name]
    assert build() == wire


def test_record_vector_encodes_exactly_with_both_escapes():
    wire = encode_frame(vector_record())
    assert wire == RECORD_VECTOR
    assert len(wire) == 323
    assert wire[7:9] == b"\x7d\x5d" and wire[42:44] == b"\x7d\x5d"
    assert len(vector_record()) == 318 and sum(vector_record()) & 0xFF == 0x05  # checksum only on the wire


# =================================================================================================
# Vectors, way 2: decode
# =================================================================================================
@pytest.mark.parametrize("name", sorted(REQ_VECTORS))
def test_request_vector_decodes_to_its_fields(name):
    wire, _, expected = REQ_VECTORS[name]
    (raw,) = Deframer().feed(wire)
    record, reason = check_frame(raw.data)
    assert reason == "" and record is not None
    parsed = parse_phdb_request(record) if isinstance(expected, PhdbRequest) else parse_wave_request(record)
    assert parsed == expected
    # The host codec recognises it as a request frame (valid, no readings).
    events, codec = feed([wire])
    kind = "phdb-request" if isinstance(expected, PhdbRequest) else "wave-request"
    assert [(e.kind, e.length) for e in valid_frames(events)] == [(kind, len(wire))]
    assert readings(events) == [] and codec.stats.frames_ok == 1 and codec.stats.frames_bad == 0


def test_record_vector_decodes_to_tabulated_values():
    events, codec = feed([RECORD_VECTOR])
    (frame,) = valid_frames(events)
    assert (frame.kind, frame.length) == ("phdb", 323)
    got = {r.parameter: r for r in readings(events)}
    assert set(got) == set(VECTOR_READINGS)
    for param, value in VECTOR_READINGS.items():
        r = got[param]
        assert r.value == value, param
        assert r.device_time == VECTOR_DT and r.host_time == HOST_T0
        assert r.source == "device:ge" and r.unit == param.unit
        if value is None:
            assert r.flags and not r.is_valid  # a marker is a flag, never -327.67
        else:
            assert r.flags == frozenset()
    assert got[Parameter.TEMP].flags == {Quality.UNAVAILABLE}  # T1 status 0: no module
    assert codec.stats.readings == len(VECTOR_READINGS)
    assert DeviceInfoEvent("dri_level", "11") in events


def test_record_vector_fields_at_spec_offsets():
    (raw,) = Deframer().feed(RECORD_VECTOR)
    record, _ = check_frame(raw.data)
    rec = parse_phdb_record(record)
    assert (rec.header.r_len, rec.header.dri_level, rec.header.r_time) == (318, 11, VECTOR_TIME)
    ((sr_type, sub),) = rec.phdb
    assert (sr_type, sub.cls, sub.time) == (PH_DISPL, 0, VECTOR_TIME)
    ecg = sub.group("ecg")
    assert ecg.raw("hr") == 72 and (ecg.status >> 3) & 0xF == 1  # HR source ECG
    assert sub.group("nibp").label == NIBP_AUTO and sub.group("nibp").raw("hr") == DATA_INVALID
    assert sub.group("spo2").raw("ir_amp") == 250 and sub.group("spo2").raw("svo2") == DATA_INVALID
    assert sub.group("ecg_extra").raw("hr_ecg") == 72
    assert struct.unpack_from("<h", record, 50)[0] == 72  # spec: ECG hr at record offset 50
    assert struct.unpack_from("<hhh", record, 122) == (12000, 8000, 9300)
    assert struct.unpack_from("<h", record, 270)[0] == 72


# =================================================================================================
# Vectors, way 3: stream robustness
# =================================================================================================
@pytest.mark.parametrize("name", sorted(ALL_VECTORS))
def test_vector_byte_at_a_time_and_random_chunks_decode_the_same(name):
    wire = ALL_VECTORS[name]
    whole = summary(feed([wire])[0])
    assert whole[0]  # one valid frame
    assert summary(feed([wire[i : i + 1] for i in range(len(wire))])[0]) == whole
    rng = random.Random(name)
    for _ in range(5):
        assert summary(feed(random_chunks(wire, rng))[0]) == whole


GARBAGE = [
    b"hello\r\n",
    bytes(range(256)),  # contains both 0x7E and 0x7D
    b"\x7d",  # an escape right before the frame's flag: the broken frame is dropped, the flag opens ours
    b"\x7e\x7e\x7e",
    b"\x7e" + bytes(60) + b"\x7e",  # a flagged frame with a bad checksum
]


@pytest.mark.parametrize("name", sorted(ALL_VECTORS))
@pytest.mark.parametrize("junk", GARBAGE, ids=range(len(GARBAGE)))
def test_vector_survives_garbage_before_and_after(name, junk):
    wire = ALL_VECTORS[name]
    whole = summary(feed([wire])[0])
    events, codec = feed([junk + wire + junk])
    assert summary(events) == whole and codec.stats.frames_ok == 1
    # Two copies with junk between them decode like two clean copies (NIBP is charted only once).
    events, _ = feed(random_chunks(junk + wire + junk + wire, random.Random(len(junk))))
    assert summary(events) == summary(feed([wire + wire])[0])
    assert len(valid_frames(events)) == 2


@pytest.mark.parametrize("name", sorted(ALL_VECTORS))
def test_one_flipped_byte_is_rejected_and_the_next_good_frame_survives(name):
    wire = ALL_VECTORS[name]
    whole = summary(feed([wire])[0])
    for pos in range(len(wire)):
        for mask in (0x01, 0x80):
            bad = bytearray(wire)
            bad[pos] ^= mask
            events, codec = feed([bytes(bad) + wire])
            assert summary(events) == whole, (pos, mask)
            if 0 < pos < len(wire) - 1:
                assert codec.stats.frames_bad >= 1, (pos, mask)


def test_bad_frames_are_counted_and_listed_never_raised():
    good = RECORD_VECTOR
    short = b"\x7e" + bytes(10) + b"\x7e"
    (raw,) = Deframer().feed(good)
    wrong_len = bytearray(raw.data)
    wrong_len[0] += 1  # r_len 319, checksum fixed up: the length check must catch it
    wrong_len[-1] = (wrong_len[-1] + 1) & 0xFF
    broken = good[:100] + b"\x7d"  # then the next flag
    events, codec = feed([b"junk!", short, good])
    events2, codec2 = feed([broken, good])
    bad_kinds = [e.kind for e in events + events2 if isinstance(e, FrameEvent) and not e.valid]
    assert "bad-short" in bad_kinds and "bad-broken" in bad_kinds
    assert codec.stats.junk_bytes >= 5 + len(short)
    assert len(valid_frames(events)) == 1 and len(valid_frames(events2)) == 1
    # r_len disagreeing with the real length
    rec = bytes(wrong_len[:-1])
    ev3, c3 = feed([encode_frame(rec)])
    assert [e.kind for e in ev3 if isinstance(e, FrameEvent)] == ["bad-length"] and c3.stats.frames_bad == 1


def test_overlong_garbage_is_bounded_and_decoding_recovers():
    junk = b"\x7e" + bytes(random.Random(3).randrange(0x7F, 256) for _ in range(5000))  # no flag inside
    events, codec = feed([junk[i : i + 700] for i in range(0, len(junk), 700)] + [RECORD_VECTOR])
    assert codec._deframer.pending <= 3000
    assert len(valid_frames(events)) == 1 and codec.stats.frames_bad >= 1
    assert nibp_values(events) == [(120.0, 80.0, 93.0)]


def test_decode_capture_helper_lists_frames_and_stats():
    capture = b"\x00\x01" + RECORD_VECTOR + b"\x7e\x7d\x7e" + REQ_VECTORS["stop-displ"][0]
    events, codec = decode_capture(capture, at(), chunk=7)
    frames = [e for e in events if isinstance(e, FrameEvent)]
    assert [(f.valid, f.kind) for f in frames] == [(True, "phdb"), (False, "bad-broken"), (True, "phdb-request")]
    assert codec.stats.frames_ok == 2 and codec.stats.frames_bad == 1 and codec.stats.junk_bytes >= 2


# =================================================================================================
# Decoding rules
# =================================================================================================
@pytest.mark.parametrize(
    "raw, quality",
    [
        (DATA_INVALID, Quality.INVALID),
        (DATA_NOT_UPDATED, Quality.UNAVAILABLE),
        (DATA_DISCONT, Quality.ARTIFACT),
        (DATA_UNDER_RANGE, Quality.OUT_OF_RANGE),
        (DATA_OVER_RANGE, Quality.OUT_OF_RANGE),
        (DATA_NOT_CALIBRATED, Quality.CALIBRATING),
        (-32001, Quality.INVALID),  # any other control code
    ],
)
def test_special_values_become_no_value_with_a_flag(raw, quality):
    frame = basic_frame(spo2=Group(3, 0, {"spo2": raw, "pr": raw}), t1=Group(3, 6, {"temp": raw}))
    p = by_param(feed([frame])[0])
    for param in (Parameter.SPO2, Parameter.PR, Parameter.TEMP):
        (r,) = p[param]
        assert r.value is None and r.flags == {quality}


def test_smallest_real_value_is_a_number_then_screened_for_plausibility():
    """-32000 is a real raw number (not a control code), but -320 degC is impossible: charted as invalid with
    the out-of-range flag, never as a number (domain/plausibility.py)."""
    assert raw_quality(-32000) is None
    p = by_param(feed([basic_frame(t1=Group(3, 6, {"temp": -32000}))])[0])
    assert p[Parameter.TEMP][0].value is None
    assert p[Parameter.TEMP][0].flags == {Quality.INVALID, Quality.OUT_OF_RANGE}
    p = by_param(feed([basic_frame(t1=Group(3, 6, {"temp": 3650}))])[0])
    assert p[Parameter.TEMP][0].value == 36.5


def test_group_status_gates_values():
    off = basic_frame(spo2=Group(0x01, 0, {"spo2": 9700, "pr": 60}))  # probe off: exists, not active
    absent = basic_frame(spo2=Group(0x00, 0, {"spo2": 9700, "pr": 60}))
    assert by_param(feed([off])[0])[Parameter.SPO2][0].flags == {Quality.SENSOR_OFF}
    assert by_param(feed([absent])[0])[Parameter.SPO2][0].flags == {Quality.UNAVAILABLE}
    assert by_param(feed([off])[0])[Parameter.SPO2][0].value is None


def test_units_are_scaled_and_etco2_uses_ambient_pressure():
    frame = basic_frame(
        t1=Group(3, 6, {"temp": 3672}),
        co2=Group(3, 1, {"et": 500, "fi": 0, "rr": 13, "amb_press": 7600}),
        ecg=Group(0x0B, 0x0271, {"hr": 64, "imp_rr": 18}),
    )
    p = by_param(feed([frame])[0])
    assert p[Parameter.TEMP][0].value == pytest.approx(36.72)
    assert p[Parameter.ETCO2][0].value == 38.0
    assert p[Parameter.RR][0].value == 13.0  # CO2-derived preferred
    assert p[Parameter.HR][0].value == 64.0


def test_rr_falls_back_to_impedance_and_follows_the_co2_label_source():
    no_co2 = basic_frame(ecg=Group(0x0B, 0, {"hr": 60, "imp_rr": 17}))
    assert by_param(feed([no_co2])[0])[Parameter.RR][0].value == 17.0
    label_says_ecg = basic_frame(
        ecg=Group(0x0B, 0, {"hr": 60, "imp_rr": 17}), co2=Group(3, 2, {"et": 500, "rr": 12, "amb_press": 7600})
    )
    assert by_param(feed([label_says_ecg])[0])[Parameter.RR][0].value == 17.0


def test_etco2_without_ambient_pressure_or_while_calibrating_has_no_number():
    no_amb = basic_frame(co2=Group(3, 1, {"et": 500, "rr": 12}))
    calib = basic_frame(co2=Group(3 | (1 << 3), 1, {"et": 500, "rr": 12, "amb_press": 7600}))
    assert by_param(feed([no_amb])[0])[Parameter.ETCO2][0].value is None
    r = by_param(feed([calib])[0])[Parameter.ETCO2][0]
    assert r.value is None and Quality.CALIBRATING in r.flags


def test_ecg_artifact_bit_flags_hr_but_keeps_the_number():
    r = by_param(feed([basic_frame(ecg=Group(0x0B | (1 << 8), 0, {"hr": 90}))])[0])[Parameter.HR][0]
    assert r.value == 90.0 and r.flags == {Quality.ARTIFACT}


def test_class_is_taken_from_the_subrecord_not_its_position():
    basic = vector_phdb()
    ext = Phdb(VECTOR_TIME, cls=CLASS_EXT1)
    rec = build_record(MT_PHDB, [(PH_DISPL, encode_phdb(ext)), (PH_DISPL, encode_phdb(basic))], r_time=VECTOR_TIME)
    events, _ = feed([encode_frame(rec)])
    assert by_param(events)[Parameter.HR][0].value == 72.0
    assert len(readings(events)) == len(VECTOR_READINGS)
    assert "ext1/" not in valid_frames(events)[0].detail and "displ/ext1" in valid_frames(events)[0].detail


def test_subrecord_overrunning_the_record_is_noted_not_raised():
    rec = bytearray(vector_record())
    struct.pack_into("<h", rec, 16, 100)  # descriptor points past the end
    events, codec = feed([encode_frame(bytes(rec))])
    (f,) = valid_frames(events)
    assert "overruns" in f.detail and readings(events) == []


# --- NIBP: once per new measurement (section 7) ---------------------------------------------------
def test_nibp_emitted_once_not_on_every_record():
    frames = [nibp_frame(VECTOR_TIME + 10 * k, NIBP_AUTO) for k in range(5)]
    frames += [nibp_frame(VECTOR_TIME + 60 + 10 * k, NIBP_AUTO | NIBP_OLD) for k in range(3)]
    assert nibp_values(feed(frames)[0]) == [(120.0, 80.0, 93.0)]


def test_nibp_cycle_emits_after_measuring_even_with_identical_values():
    t = VECTOR_TIME
    frames = [
        nibp_frame(t, NIBP_AUTO),
        nibp_frame(t + 10, NIBP_AUTO | NIBP_MEASURING),
        nibp_frame(t + 20, NIBP_AUTO | NIBP_MEASURING),
        nibp_frame(t + 30, NIBP_AUTO),  # same numbers, but a cycle just finished
        nibp_frame(t + 40, NIBP_AUTO | NIBP_MEASURING, 13000, 8500, 10000),
        nibp_frame(t + 50, NIBP_AUTO, 13000, 8500, 10000),
        nibp_frame(t + 60, NIBP_AUTO, 13000, 8500, 10000),
    ]
    events, _ = feed(frames)
    assert nibp_values(events) == [(120.0, 80.0, 93.0), (120.0, 80.0, 93.0), (130.0, 85.0, 100.0)]
    times = [r.device_time for r in by_param(events)[Parameter.NIBP_SYS]]
    assert times == [VECTOR_DT, VECTOR_DT + timedelta(seconds=30), VECTOR_DT + timedelta(seconds=50)]


def test_nibp_old_values_at_connect_and_calibration_are_not_emitted():
    assert nibp_values(feed([nibp_frame(VECTOR_TIME, NIBP_AUTO | NIBP_OLD)])[0]) == []
    assert nibp_values(feed([nibp_frame(VECTOR_TIME, NIBP_CALIBRATING)])[0]) == []
    # A changed tuple without the old bit (a measurement we missed the cycle of) is new.
    events, _ = feed([nibp_frame(VECTOR_TIME, NIBP_AUTO), nibp_frame(VECTOR_TIME + 10, NIBP_AUTO, 11000, 7000, 8300)])
    assert nibp_values(events) == [(120.0, 80.0, 93.0), (110.0, 70.0, 83.0)]


def test_nibp_state_survives_a_restart_so_the_same_reading_is_not_charted_twice():
    codec = GeDriCodec()
    feed([nibp_frame(VECTOR_TIME, NIBP_AUTO)], codec)
    codec.start(at(100))
    events, _ = feed([nibp_frame(VECTOR_TIME + 100, NIBP_AUTO)], codec)
    assert nibp_values(events) == []


def test_nibp_cycle_without_values_says_so_once_as_no_value():
    frames = [
        nibp_frame(VECTOR_TIME, NIBP_AUTO | NIBP_MEASURING),
        nibp_frame(VECTOR_TIME + 10, NIBP_AUTO, DATA_INVALID, DATA_INVALID, DATA_INVALID),
        nibp_frame(VECTOR_TIME + 20, NIBP_AUTO, DATA_INVALID, DATA_INVALID, DATA_INVALID),
    ]
    p = by_param(feed(frames)[0])
    assert [(r.value, r.flags) for r in p[Parameter.NIBP_SYS]] == [(None, {Quality.INVALID})]


def test_nibp_aux_time_is_authoritative_and_timestamps_the_reading():
    def frame(t, nibp_time, label=NIBP_AUTO):
        sub = vector_phdb()
        sub.time = t
        sub.groups["nibp"] = Group(3, label, {"sys": 12000, "dia": 8000, "mean": 9300})
        rec = build_record(MT_PHDB, [(PH_DISPL, encode_phdb(sub)), (PH_AUX_INFO, encode_aux(nibp_time))], r_time=t)
        return encode_frame(rec)

    t = VECTOR_TIME
    events, _ = feed([frame(t, t - 5), frame(t + 10, t - 5), frame(t + 20, t + 15), frame(t + 30, t + 15)])
    sys = by_param(events)[Parameter.NIBP_SYS]
    assert [r.value for r in sys] == [120.0, 120.0]
    assert [r.device_time for r in sys] == [VECTOR_DT - timedelta(seconds=5), VECTOR_DT + timedelta(seconds=15)]


# --- quiet time ------------------------------------------------------------------------------------
def test_silence_beyond_quiet_time_asks_for_a_new_request_once():
    """The link's watchdog (the one owner of silence) tells the codec; the codec re-requests."""
    codec = GeDriCodec()
    watch = Watch(codec, 0, at)
    assert watch.dog.quiet_s == 30.0
    codec.start(at(0))
    watch.check(29)
    assert not codec.needs_restart
    codec.receive_data(RECORD_VECTOR, at(25))
    watch.see(codec.events(), 25)
    watch.check(50)
    assert not codec.needs_restart  # a frame at 25 s keeps it alive
    watch.check(55.5)
    assert codec.needs_restart
    assert codec.start(at(56)) == displ_request()
    watch.check(80)
    assert not codec.needs_restart  # the watchdog tells once per quiet time
    watch.check(86.5)
    assert codec.needs_restart


def test_garbage_does_not_count_as_life():
    codec = GeDriCodec()
    watch = Watch(codec, 0, at)
    codec.start(at(0))
    codec.receive_data(b"\x7e" + bytes(50) + b"\x7e", at(20))
    watch.see(codec.events(), 20)
    watch.check(31)
    assert codec.needs_restart


def test_codecs_never_time_silence_themselves():
    codec = GeDriCodec()
    codec.start(at(0))
    codec.tick(at(1000))
    assert not codec.needs_restart


def test_no_re_request_before_the_link_ever_started():
    codec = GeDriCodec()
    codec.tick(at(1000))
    assert not codec.needs_restart


# =================================================================================================
# Simulator against the vectors, and the sim <-> codec round trip
# =================================================================================================
def test_sim_is_silent_until_asked_and_follows_start_stop_vectors_split_across_reads():
    sim = GeDriSim("ketamine", seed=1)
    for t in range(0, 30):
        sim.tick(float(t))
    assert sim.data_to_send() == b""
    start = REQ_VECTORS["start-displ-10s-all"][0]
    for i, b in enumerate(start):
        sim.receive_data(bytes([b]), 30.0)
    for t in range(30, 61):
        sim.tick(float(t))
    out = sim.data_to_send()
    events, _ = feed([out])
    frames = valid_frames(events)
    assert len(frames) == 4  # t = 30, 40, 50, 60
    assert all(f.detail.endswith("displ/basic,displ/ext1,displ/ext2,displ/ext3") for f in frames)
    assert all(f.length >= 1 + 40 + 4 * 278 + 1 + 1 for f in frames)
    sim.receive_data(REQ_VECTORS["stop-displ"][0], 61.0)
    for t in range(61, 200):
        sim.tick(float(t))
    assert sim.data_to_send() == b""


def test_sim_ignores_corrupted_requests_and_trends_need_displ_first():
    sim = GeDriSim("baseline", seed=2)
    bad = bytearray(REQ_VECTORS["start-displ-10s-all"][0])
    bad[-2] ^= 0x01
    sim.receive_data(bytes(bad), 0.0)
    sim.receive_data(REQ_VECTORS["start-trend-60s"][0], 0.0)  # before DISPL: ignored
    for t in range(0, 130):
        sim.tick(float(t))
    assert sim.data_to_send() == b""
    sim.receive_data(displ_request(10, 0), 130.0)
    sim.receive_data(REQ_VECTORS["start-trend-60s"][0], 130.0)
    for t in range(130, 251):
        sim.tick(float(t))
    frames = valid_frames(feed([sim.data_to_send()])[0])
    kinds = [f.detail.split()[-1] for f in frames]
    assert kinds.count("displ/basic") == 13 and kinds.count("trend60/basic") == 2


def test_sim_single_request_is_rate_limited():
    sim = GeDriSim("baseline", seed=2)
    requests = {0: 1, 2: 1, 6: 1}  # the one at 2 s comes within 5 s of the first: ignored
    for t in range(0, 40):
        if t in requests:
            sim.receive_data(displ_request(-1, 0), float(t))
        sim.tick(float(t))
    assert len(valid_frames(feed([sim.data_to_send()])[0])) == 2


WATCHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def run(sim: GeDriSim, codec: GeDriCodec, t0: float, t1: float, step: float = 0.5, events=None):
    """Drive device and host together on one simulated timeline (no real time passes)."""
    events = [] if events is None else events
    t = t0
    watch = WATCHES.setdefault(codec, Watch(codec, t, at))  # one watchdog per conversation, as one link
    while t < t1:
        sim.tick(t)
        codec.receive_data(sim.data_to_send(), at(t))
        codec.tick(at(t))
        events += watch.see(codec.events(), t)
        watch.check(t)
        out = codec.data_to_send()
        if codec.needs_restart:
            out += codec.start(at(t))
        if out:
            sim.receive_data(out, t)
        t += step
    return events


def check_against_patient(sim: GeDriSim, events) -> dict[Parameter, int]:
    """Every decoded number equals the patient's value at the device second it was stamped with."""
    counts: dict[Parameter, int] = {}
    for r in readings(events):
        if r.value is None or r.parameter in (Parameter.NIBP_SYS, Parameter.NIBP_DIA, Parameter.NIBP_MEAN):
            continue
        s = r.device_time.timestamp() - sim.epoch
        v = sim.patient.vitals_at(s)
        expected = {
            Parameter.HR: v.hr,
            Parameter.PR: v.hr,
            Parameter.SPO2: v.spo2,
            Parameter.RR: v.rr,
            Parameter.TEMP: v.temp,
            Parameter.ETCO2: v.etco2,
        }[r.parameter]
        assert r.value == pytest.approx(expected, abs=1e-9), (r.parameter, s)
        counts[r.parameter] = counts.get(r.parameter, 0) + 1
    return counts


def check_nibp(sim: GeDriSim, events, t_from: float, t_to: float) -> int:
    sys = by_param(events).get(Parameter.NIBP_SYS, [])
    got = list(zip(sys, by_param(events)[Parameter.NIBP_DIA], by_param(events)[Parameter.NIBP_MEAN]))
    matched = []
    for s, d, m in got:
        dev = s.device_time.timestamp() - sim.epoch
        done = max(T for T in sim._nibp_times if T <= dev)  # the cuff result shown at that second
        assert dev - done < NIBP_OLD_AFTER_S, dev  # old results are never charted
        n = sim.patient.nibp_at(done)
        assert (s.value, d.value, m.value) == (n.sys, n.dia, n.mean)
        matched.append(done)
    expected = [T for T in sim._nibp_times if t_from + NIBP_INFLATE_S + 10 < T < t_to - 10]
    assert set(expected) <= set(matched)
    assert len(matched) == len(set(matched))  # once per cuff cycle
    return len(matched)


@pytest.mark.parametrize("seed", [1, 2])
def test_round_trip_ketamine_session_decodes_the_patient(seed):
    sim, codec = GeDriSim("ketamine", seed=seed), GeDriCodec()
    sim.receive_data(codec.start(at(-60)), -60.0)
    events = run(sim, codec, -60.0, 50 * 60.0)
    counts = check_against_patient(sim, events)
    records = sim.sent_records
    assert records == len(valid_frames(events)) >= 300
    assert all(counts[p] == records for p in (Parameter.HR, Parameter.SPO2, Parameter.ETCO2, Parameter.TEMP))
    assert check_nibp(sim, events, -60.0, 50 * 60.0) >= 8
    assert codec.stats.frames_bad == 0 and codec.stats.junk_bytes == 0
    # the ketamine BP rise shows in the charted values
    sys = [r.value for r in by_param(events)[Parameter.NIBP_SYS]]
    assert max(sys) > sys[0] + 5


def test_round_trip_artifacts_loses_no_record_and_never_charts_a_marker():
    sim, codec = GeDriSim("artifacts", seed=5), GeDriCodec()
    sim.receive_data(codec.start(at(0)), 0.0)
    events = run(sim, codec, 0.0, 30 * 60.0, step=0.7)
    check_against_patient(sim, events)
    check_nibp(sim, events, 0.0, 30 * 60.0)
    assert len(valid_frames(events)) == sim.sent_records  # garbage, half frames, bad copies all skipped
    assert codec.stats.frames_bad > 10 and codec.stats.junk_bytes > 1000
    injected = {what for _, what in sim.log}
    assert {"spo2-off", "temp-stale", "et-over", "hr-invalid", "half frame", "corrupted copy"} <= injected
    nones = [r for r in readings(events) if r.value is None]
    marker_seconds = {t for t, what in sim.log if what in ("spo2-off", "temp-stale", "et-over", "hr-invalid")}
    assert nones and all(r.device_time.timestamp() - sim.epoch in marker_seconds for r in nones)
    assert all(r.flags for r in nones)
    assert {Quality.SENSOR_OFF, Quality.UNAVAILABLE, Quality.OUT_OF_RANGE, Quality.INVALID} <= {
        f for r in nones for f in r.flags
    }


def test_round_trip_recovers_after_monitor_power_cycle():
    sim, codec = GeDriSim("baseline", seed=3), GeDriCodec()
    sim.receive_data(codec.start(at(0)), 0.0)
    events = run(sim, codec, 0.0, 120.0)
    before = len(valid_frames(events))
    sim.power_cycle()  # last record was at t=110; the monitor now waits for a request
    silent = run(sim, codec, 120.0, 140.0)
    assert valid_frames(silent) == [] and not codec.needs_restart
    after = run(sim, codec, 140.0, 300.0)
    first = readings(after)[0].device_time.timestamp() - sim.epoch
    assert before == 12 and 140.0 <= first <= 141.0  # re-requested once 30 s of silence had passed
    assert len(valid_frames(after)) == 16
    check_against_patient(sim, after)


def test_sim_holds_records_while_cts_is_off():
    sim, codec = GeDriSim("baseline", seed=3), GeDriCodec()
    sim.receive_data(codec.start(at(0)), 0.0)
    sim.cts = False
    assert valid_frames(run(sim, codec, 0.0, 25.0)) == []
    sim.cts = True
    assert len(valid_frames(run(sim, codec, 25.0, 55.0))) == 3


# =================================================================================================
# Fuzzing
# =================================================================================================
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GOOD = RECORD_VECTOR


def decodes_good_frame_last(events) -> bool:
    frames = valid_frames(events)
    return bool(frames) and frames[-1].length == len(GOOD) and frames[-1].kind == "phdb"


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes_never_raise(data):
    codec = GeDriCodec()
    codec.receive_data(data, at())
    codec.tick(at(100))
    for e in codec.events():
        assert isinstance(e, (FrameEvent, ReadingEvent, DeviceInfoEvent))
    assert codec.stats.frames_ok + codec.stats.frames_bad <= data.count(0x7E)


@FUZZ
@given(st.binary(max_size=600), st.integers(1, 97))
def test_fuzz_junk_then_valid_frame_is_decoded(junk, chunk):
    stream = junk + GOOD
    events, _ = feed([stream[i : i + chunk] for i in range(0, len(stream), chunk)])
    assert decodes_good_frame_last(events)
    hr = [r for r in readings(events) if r.parameter is Parameter.HR]
    assert hr[-1].value == 72.0 and hr[-1].device_time == VECTOR_DT


@FUZZ
@given(st.integers(0, len(GOOD) - 2))  # without only its closing flag a frame is whole: the next flag ends it
def test_fuzz_truncated_frame_then_valid_frame(cut):
    events, codec = feed([GOOD[:cut], GOOD])
    assert len(valid_frames(events)) == 1 and decodes_good_frame_last(events)
    assert nibp_values(events) == [(120.0, 80.0, 93.0)]


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_fuzz_mutated_frame_then_valid_frame(mutations):
    bad = bytearray(GOOD)
    for pos, val in mutations:
        bad[pos] = val
    events, _ = feed([bytes(bad), GOOD])
    assert decodes_good_frame_last(events)
    for r in readings(events):
        assert r.value is None or -400.0 <= r.value <= 33000.0  # never a control code as a number


@FUZZ
@given(st.data())
def test_fuzz_any_chunking_decodes_the_same(data):
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    stream = b"\x00\x7d" + GOOD + b"zz" + REQ_VECTORS["start-trend-60s"][0] + GOOD
    assert summary(feed(random_chunks(stream, rng))[0]) == summary(feed([stream])[0])


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(sorted(BASIC_GROUPS)),
        st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 0xFFFF), st.lists(st.integers(-32768, 32767), max_size=8)),
    ),
    st.integers(0, 2**32 - 1),
)
def test_fuzz_phdb_encode_parse_round_trip(groups, time):
    sub = Phdb(time)
    for name, (status, label, vals) in groups.items():
        spec = BASIC_GROUPS[name]
        g = Group(status if spec.header else 0, label if spec.header else 0, dict(zip(spec.fields, vals)))
        sub.groups[name] = g
    back = parse_phdb(encode_phdb(sub))
    assert back.time == time
    for name, spec in BASIC_GROUPS.items():
        g = sub.group(name)
        b = back.group(name)
        assert (b.status, b.label) == (g.status, g.label)
        assert [b.raw(f) for f in spec.fields] == [g.raw(f) for f in spec.fields]


@pytest.mark.parametrize("status,apnea", [(0x0107, True), (0x0083, True), (0x0103, False), (0x0003, False)])
def test_co2_apnea_bits_become_flags_on_etco2_and_rr(status, apnea):
    """Bit 2 (apnea from CO2) or bit 7 (from respiration); bit 8 only says the apnea alarm is off."""
    p = by_param(feed([basic_frame(co2=Group(status, 0x0009, {"et": 0, "fi": 0, "rr": 0, "amb_press": 7652}))])[0])
    for param in (Parameter.ETCO2, Parameter.RR):
        (r,) = p[param]
        assert r.value == 0.0 and (Quality.APNEA in r.flags) is apnea

"""The fast Philips parsers and their bounds-checked twins agree on every input (issue 10 item 5).

The fast forms read well-formed PDUs with struct at absolute offsets and hand anything that does not fit to
the checked form; so the public parser must give exactly what the checked one gives, or raise the same
Malformed with the same message, whatever bytes a device sends.
"""

from __future__ import annotations

import struct
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketachart.hardware.codecs.philips_mib import pdus
from ketachart.hardware.sim import philips_wire as wire

NUMERIC_IDS = (0x4182, 0x480A, 0x4BB8, 0x4A05, 0x4A06, 0x4A07, 0x500A, 0x50B0, 0x4B48)


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except pdus.Malformed as exc:
        return ("malformed", str(exc))


def checked_poll_reply(ro):
    return pdus._parse_poll_reply_checked(ro)


@st.composite
def poll_replies(draw) -> bytes:
    """A real extended or single poll reply from the simulator's encoders, with random content."""
    observations = []
    for handle in range(draw(st.integers(0, 4))):
        attrs = []
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["num", "cmpd", "label", "rel", "abs"]))
            if kind == "num":
                attrs.append(wire.ava_numeric(draw(st.sampled_from(NUMERIC_IDS)), draw(st.integers(0, 0xFFFF)),
                                              draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFFFFFF))))
            elif kind == "cmpd":
                attrs.append(wire.ava_compound([(0x4A05 + i, 0, 0x0F20, draw(st.integers(0, 0xFFFFFFFF)))
                                                for i in range(draw(st.integers(0, 3)))]))
            elif kind == "label":
                attrs.append(wire.ava_label(draw(st.integers(0, 0xFFFFFFFF))))
            elif kind == "rel":
                attrs.append(wire.ava_time_stamp_rel(draw(st.integers(0, 0xFFFFFFFF))))
            else:
                attrs.append((0x0990, draw(st.binary(min_size=8, max_size=8))))
        observations.append((handle, attrs))
    contexts = [(draw(st.integers(0, 0xFFFF)), observations)] if observations or draw(st.booleans()) else []
    when = draw(st.none() | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)))
    if draw(st.booleans()):
        return wire.encode_poll_reply(draw(st.integers(0, 0xFFFF)), 1, 2, draw(st.integers(0, 0xFFFFFFFF)), when,
                                      contexts)
    return wire.encode_single_poll_reply(7, 1, draw(st.integers(0, 0xFFFFFFFF)), when, contexts=contexts)


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(poll_replies()))
    for _ in range(draw(st.integers(0, 4))):
        what = draw(st.sampled_from(["flip", "cut", "grow", "length"]))
        if what == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
        elif what == "cut" and data:
            del data[draw(st.integers(0, len(data) - 1)):]
        elif what == "grow":
            data += draw(st.binary(max_size=16))
        elif what == "length" and len(data) >= 2:
            i = draw(st.integers(0, len(data) - 2))
            struct.pack_into(">H", data, i, draw(st.sampled_from([0, 1, 2, 3, 0xFFFF, len(data), len(data) + 1])))
    return bytes(data)


def _agree(user_data: bytes) -> None:
    ro_fast = outcome(pdus.parse_ro, user_data)
    assert ro_fast == outcome(pdus._parse_ro_checked, user_data)
    if ro_fast[0] != "ok":
        return
    ro = ro_fast[1]
    assert outcome(pdus.ro_kind, ro) == outcome(pdus._ro_kind_checked, ro)
    assert outcome(pdus.parse_poll_reply, ro) == outcome(checked_poll_reply, ro)
    try:
        fast = outcome(pdus._parse_poll_reply_fast, ro)
    except struct.error:  # the public parser falls back to the checked form on these
        return
    if fast[0] == "ok" and fast[1] is not None:  # where the fast form answers, it answers what checked does
        assert fast == outcome(checked_poll_reply, ro)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fast_and_checked_parsers_agree_on_real_and_mutated_replies(user_data):
    _agree(user_data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_fast_and_checked_parsers_agree_on_any_bytes(user_data):
    _agree(user_data)
    _agree(b"\xe1\x00\x00\x02" + user_data)  # past the session id, so the remote-operation parsers run


@settings(max_examples=200, deadline=None)
@given(poll_replies())
def test_fast_parser_really_is_used_on_well_formed_replies(user_data):
    ro = pdus.parse_ro(user_data)
    assert pdus._parse_poll_reply_fast(ro) == checked_poll_reply(ro)


SHARED_SEEN: dict = {}  # one connection's memory, shared across examples on purpose


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated(), min_size=1, max_size=4))
def test_remembered_observations_give_exactly_what_parsing_gives(replies):
    """parse_poll_reply's per-connection memory (observations by their exact bytes) never changes a result."""
    for user_data in replies:
        ro = outcome(pdus.parse_ro, user_data)
        if ro[0] != "ok":
            continue
        assert outcome(pdus.parse_poll_reply, ro[1], SHARED_SEEN) == outcome(checked_poll_reply, ro[1])


def _codec_events(stream: bytes, checked: bool, chunk: int = 997) -> list:
    from datetime import timedelta, timezone

    from ketachart.hardware.codecs.base import CodecTime

    from ketachart.hardware.codecs.catalog import codec_for

    codec = codec_for("philips")
    codec.checked_readings = checked
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    events = []
    for k, i in enumerate(range(0, len(stream), chunk)):  # every chunk a second later: host times differ
        codec.receive_data(stream[i:i + chunk], CodecTime(t0 + timedelta(seconds=k), 1000.0 + k))
        events += codec.events()
    return events + [("readings", codec.stats.readings, "bad", codec.stats.frames_bad, dict(codec.counters))]


def _sim_stream() -> bytes:
    from bench.bench_devices import device_capture

    return device_capture("philips", 240.0)


SIM_STREAM: list[bytes] = []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_readings_stamped_from_checked_templates_equal_readings_built_one_by_one(data):
    """The codec's fast path (a value word seen before is stamped from a Reading its own constructor built)
    gives exactly the events of building every Reading through the constructor, on a real conversation and
    on the same bytes damaged (flipped, dropped, repeated), including the plausibility screen's results."""
    if not SIM_STREAM:
        SIM_STREAM.append(_sim_stream())
    stream = bytearray(SIM_STREAM[0])
    for _ in range(data.draw(st.integers(0, 6))):
        at = data.draw(st.integers(0, len(stream) - 1))
        how = data.draw(st.sampled_from(["flip", "drop", "repeat"]))
        if how == "flip":
            stream[at] ^= 1 << data.draw(st.integers(0, 7))
        elif how == "drop":
            del stream[at:at + data.draw(st.integers(1, 40))]
        elif how == "repeat":
            stream[at:at] = stream[at:at + data.draw(st.integers(1, 400))]
    fast, checked = _codec_events(bytes(stream), False), _codec_events(bytes(stream), True)
    assert fast == checked
    assert sum(1 for e in fast if type(e).__name__ == "ReadingEvent") > 0 or len(stream) < len(SIM_STREAM[0])


@st.composite
def numeric_replies(draw) -> bytes:
    """An extended poll reply of charted parameters in their own units: random numbers (in range, out of
    range, NaN and the other FLOAT specials), state bits mostly clear, now and then any."""
    from ketachart.hardware.codecs.philips_mib.values import PHYSIO_PARAMETER, UNITS

    combos = [(pid, unit) for pid, param in PHYSIO_PARAMETER.items() for unit in UNITS.get(param, {})]
    attrs = []
    for _ in range(draw(st.integers(1, 6))):
        pid, unit = draw(st.sampled_from(combos))
        number = draw(st.one_of(st.integers(-50, 400), st.integers(-0x7FFFFD, 0x7FFFFD)))
        raw = draw(st.one_of(st.just(wire.encode_float(number)), st.sampled_from([0x7FFFFF, 0x800000, 0x7FFFFE,
                                                                                  0x800002, 0x800001]),
                             st.integers(0, 0xFFFFFFFF)))
        state = draw(st.one_of(st.just(0), st.integers(0, 0xFFFF)))
        attrs.append(wire.ava_numeric(pid, state, unit, raw))
    when = draw(st.none() | st.just(datetime(2026, 1, 5, 9, 0)))
    return wire.encode_poll_reply(1, 1, 2, draw(st.integers(0, 0xFFFFFFFF)), when, [(1, [(1, attrs)])])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(numeric_replies() | poll_replies(), min_size=1, max_size=5))
def test_stamped_readings_equal_checked_ones_for_any_values(replies):
    """Random numerics (NaN/inf/sentinel FLOATs, any state bits, unknown units, implausible numbers), each reply
    sent twice so every value word is met again and stamped from its template: the same events as building
    every Reading one by one (blocking flags drop the number, the plausibility screen still applies)."""
    from ketachart.hardware.codecs.philips_mib.framing import frame

    stream = b"".join(frame(r) for r in replies) * 2
    assert _codec_events(stream, False, chunk=len(stream)) == _codec_events(stream, True, chunk=len(stream))

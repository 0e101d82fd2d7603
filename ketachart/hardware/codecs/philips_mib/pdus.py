"""PDUs (sections 5 and 6): the association (session) PDUs, the data-export remote operations, the
host-side encoders and the parsers. Every parser is bounds-checked: a PDU that lies about its lengths is
``Malformed``, never an IndexError. The fast poll-reply parser and its checked twin agree on every input
(tests/hardware/test_philips_agreement.py)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Sequence

from .values import (
    decode_abs_time,
)


# ----------------------------------------------------------------------------------------------------------
# Bounds-checked reading: a device PDU that lies about its lengths becomes _Malformed, never an IndexError
# ----------------------------------------------------------------------------------------------------------
class Malformed(Exception):
    """A frame passed its FCS but its PDU does not parse (device nonsense, counted, never escapes)."""


class _Reader:
    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise Malformed(f"need {n} bytes at {self.pos}, have {self.end - self.pos}")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def sub(self, n: int) -> _Reader:
        start = self.pos
        self.take(n)
        return _Reader(self.buf, start, start + n)


def _u16(v: int) -> bytes:
    return struct.pack(">H", v)


def _u32(v: int) -> bytes:
    return struct.pack(">I", v)


# ----------------------------------------------------------------------------------------------------------
# Association PDUs (section 5)
# ----------------------------------------------------------------------------------------------------------
SPDU_CN = 0x0D  # association request
SPDU_AC = 0x0E  # accept
SPDU_RF = 0x0C  # refuse
SPDU_FN = 0x09  # release request
SPDU_DN = 0x0A  # release response
SPDU_AB = 0x19  # abort
SESSION_PARAMS = bytes.fromhex("0508130100160102800014020002")
USER_DATA_PARAM = 0xC1
USER_INFO_TAG = 0x81
AARQ_PRESENTATION_HEADER = bytes.fromhex(
    "3180a0808001010000a280a003000001a4803080020101060452010001308006025101000000003080020102060c2a8648ce14"
    "020100000001013080060c2a8648ce140201000000020100000000000061803080020101a0806080a180060c2a8648ce140201"
    "00000003010000be802880060c2a8648ce140201000000010102010281"
)
PRESENTATION_TRAILER = bytes(16)
RELEASE_REQUEST = bytes.fromhex("0918c116618030800201" "01a0806280800100") + bytes(8)
RELEASE_RESPONSE = bytes.fromhex("0a18c116618030800201" "01a0806380800100") + bytes(8)
ABORT = (
    bytes.fromhex("192e110103c129a080a080308002010106025101000000006180308002010" "1a0806480800101")
    + bytes(10)
)
REFUSE = bytes.fromhex("0c0332010" "0")

MDDL_VERSION1 = 0x80000000
NOMEN_VERSION = 0x40000000
SYST_CLIENT = 0x80000000
SYST_SERVER = 0x00800000
COLD_START = 0x20000000
NOM_POLL_PROFILE_SUPPORT = 0x0001
POLL_PROFILE_REV_0 = 0x80000000
NOM_ATTR_POLL_PROFILE_EXT = 0xF001
P_OPT_DYN_CREATE_OBJECTS = 0x40000000
P_OPT_DYN_DELETE_OBJECTS = 0x20000000
POLL_EXT_PERIOD_NU_1SEC = 0x80000000
POLL_EXT_PERIOD_RTSA = 0x08000000
POLL_EXT_ENUM = 0x04000000
DEFAULT_MIN_POLL_PERIOD = 2500  # ticks = 312.5 ms
DEFAULT_MAX_MTU_RX = 2500
DEFAULT_MAX_MTU_TX = 1000
DEFAULT_MAX_BW_TX = 0xFFFFFFFF
DEFAULT_POLL_EXT_OPTIONS = POLL_EXT_PERIOD_NU_1SEC | POLL_EXT_PERIOD_RTSA | POLL_EXT_ENUM


def session_li(n: int) -> bytes:
    """Session length indicator: one byte below 255, else FF hi lo."""
    return bytes((n,)) if n < 255 else b"\xff" + _u16(n)


def ber_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    if n < 0x100:
        return bytes((0x81, n))
    return b"\x82" + _u16(n)


@dataclass(frozen=True)
class UserInfo:
    """The parts of MDSEUserInfoStd we use."""

    protocol_version: int
    system_type: int
    startup_mode: int
    min_poll_period: int | None = None
    max_mtu_rx: int | None = None
    max_mtu_tx: int | None = None
    options: int | None = None
    poll_ext_options: int | None = None


def encode_user_info(
    system_type: int,
    min_poll_period: int = DEFAULT_MIN_POLL_PERIOD,
    poll_ext_options: int = DEFAULT_POLL_EXT_OPTIONS,
) -> bytes:
    """MDSEUserInfoStd with one poll profile (72 bytes)."""
    ext = _u16(1) + _u16(12) + _u16(NOM_ATTR_POLL_PROFILE_EXT) + _u16(8) + _u32(poll_ext_options) + _u16(0) + _u16(0)
    profile = (
        _u32(POLL_PROFILE_REV_0) + _u32(min_poll_period) + _u32(DEFAULT_MAX_MTU_RX) + _u32(DEFAULT_MAX_MTU_TX)
        + _u32(DEFAULT_MAX_BW_TX) + _u32(P_OPT_DYN_CREATE_OBJECTS | P_OPT_DYN_DELETE_OBJECTS) + ext
    )
    profiles = _u16(1) + _u16(4 + len(profile)) + _u16(NOM_POLL_PROFILE_SUPPORT) + _u16(len(profile)) + profile
    return (
        _u32(MDDL_VERSION1) + _u32(NOMEN_VERSION) + _u32(0) + _u32(system_type) + _u32(COLD_START)
        + _u16(0) + _u16(0) + profiles
    )


def parse_user_info(raw: bytes) -> UserInfo:
    r = _Reader(raw)
    version, _nomen, _fu, system_type, startup = r.u32(), r.u32(), r.u32(), r.u32(), r.u32()
    r.u16()
    r.sub(r.u16())  # option list
    info = {}
    for attr, val in _attributes(r):
        if attr != NOM_POLL_PROFILE_SUPPORT:
            continue
        profile = _Reader(val)
        profile.u32()
        info.update(min_poll_period=profile.u32(), max_mtu_rx=profile.u32(), max_mtu_tx=profile.u32())
        profile.u32()
        info["options"] = profile.u32()
        for pid, pval in _attributes(profile):
            if pid == NOM_ATTR_POLL_PROFILE_EXT and len(pval) >= 4:
                info["poll_ext_options"] = _I(pval, 0)[0]
    return UserInfo(version, system_type, startup, **info)


def _association_pdu(kind: int, header: bytes, user_info: bytes) -> bytes:
    ud = header + ber_length(len(user_info)) + user_info + PRESENTATION_TRAILER
    body = SESSION_PARAMS + bytes((USER_DATA_PARAM,)) + session_li(len(ud)) + ud
    return bytes((kind,)) + session_li(len(body)) + body


def encode_association_request(
    min_poll_period: int = DEFAULT_MIN_POLL_PERIOD, poll_ext_options: int = DEFAULT_POLL_EXT_OPTIONS
) -> bytes:
    return _association_pdu(
        SPDU_CN, AARQ_PRESENTATION_HEADER, encode_user_info(SYST_CLIENT, min_poll_period, poll_ext_options)
    )


def find_user_info(pdu: bytes) -> UserInfo | None:
    """Search for the ``81``+length that ends the presentation header (its size is not fixed)."""
    start = 0
    while True:
        i = pdu.find(USER_INFO_TAG, start)
        if i < 0 or i + 2 > len(pdu):
            return None
        start = i + 1
        first = pdu[i + 1]
        if first < 0x80:
            n, off = first, i + 2
        elif first == 0x81 and i + 3 <= len(pdu):
            n, off = pdu[i + 2], i + 3
        elif first == 0x82 and i + 4 <= len(pdu):
            n, off = struct.unpack_from(">H", pdu, i + 2)[0], i + 4
        else:
            continue
        if n < 24 or off + n > len(pdu) or pdu[off : off + 4] != _u32(MDDL_VERSION1):
            continue
        try:
            return parse_user_info(pdu[off : off + n])
        except Malformed:
            continue


# ----------------------------------------------------------------------------------------------------------
# Data export PDUs (section 6)
# ----------------------------------------------------------------------------------------------------------
SP_SESSION_ID = 0xE100
P_CONTEXT_ID = 2
ROIV, RORS, ROER, ROLRS = 1, 2, 3, 5
CMD_EVENT_REPORT = 0
CMD_CONFIRMED_EVENT_REPORT = 1
CMD_GET = 3
CMD_SET = 4
CMD_CONFIRMED_SET = 5
CMD_CONFIRMED_ACTION = 7
NOM_PART_OBJ = 1
NOM_MOC_VMS_MDS = 33
NOM_MOC_VMO_METRIC_NU = 6
NOM_MOC_VMO_METRIC_SA_RT = 9
NOM_MOC_PT_DEMOG = 42
NOM_MOC_VMO_AL_MON = 54
NOM_NOTI_MDS_CREAT = 0x0D06
NOM_ACT_POLL_MDIB_DATA = 0x0C16
NOM_ACT_POLL_MDIB_DATA_EXT = 0xF13B
NOM_ATTR_TIME_PD_POLL = 0xF13E
NOM_ATTR_GRP_METRIC_VAL_OBS = 0x0803
NOM_ATTR_GRP_VMO_STATIC = 0x0811
NOM_ATTR_TIME_ABS = 0x0987
NOM_ATTR_TIME_REL = 0x098F
NOM_ATTR_ID_HANDLE = 0x0921
NOM_ATTR_ID_LABEL = 0x0924
NOM_ATTR_ID_LABEL_STRING = 0x0927
NOM_ATTR_NU_CMPD_VAL_OBS = 0x094B
NOM_ATTR_NU_VAL_OBS = 0x0950
NOM_ATTR_TIME_STAMP_ABS = 0x0990
NOM_ATTR_TIME_STAMP_REL = 0x0991
NUMERICS = (NOM_PART_OBJ, NOM_MOC_VMO_METRIC_NU)
ALERT_MONITOR = (NOM_PART_OBJ, NOM_MOC_VMO_AL_MON)
MDS_OBJECT = (NOM_MOC_VMS_MDS, 0, 0)

def mds_object_id(obj: tuple[int, int, int] = MDS_OBJECT) -> bytes:
    return _u16(obj[0]) + _u16(obj[1]) + _u16(obj[2])


def attribute_list(avas: Sequence[tuple[int, bytes]]) -> bytes:
    """AttributeList: u16 count, u16 length, AVAs."""
    body = b"".join(_u16(a) + _u16(len(v)) + bytes(v) for a, v in avas)
    return _u16(len(avas)) + _u16(len(body)) + body


def encode_ro(
    ro_type: int, invoke_id: int, command: int, body: bytes, linked: tuple[int, int] | None = None
) -> bytes:
    """SPpdu + ROapdus + the RO header: a whole data-export user data."""
    head = _u16(invoke_id) + _u16(command) + _u16(len(body))
    if ro_type == ROLRS:
        state, count = linked or (1, 1)
        head = bytes((state, count)) + head
    ro = head + body
    return _u16(SP_SESSION_ID) + _u16(P_CONTEXT_ID) + _u16(ro_type) + _u16(len(ro)) + ro


def encode_mds_create_result(invoke_id: int, event_time: int, obj: tuple[int, int, int] = MDS_OBJECT) -> bytes:
    """Host's answer to the MDS Create Event Report (6.2)."""
    return encode_ro(
        RORS, invoke_id, CMD_CONFIRMED_EVENT_REPORT,
        mds_object_id(obj) + _u32(event_time) + _u16(NOM_NOTI_MDS_CREAT) + _u16(0),
    )


def _action(invoke_id: int, action: int, payload: bytes) -> bytes:
    body = mds_object_id() + _u32(0) + _u16(action) + _u16(len(payload)) + payload
    return encode_ro(ROIV, invoke_id, CMD_CONFIRMED_ACTION, body)


def encode_extended_poll_request(
    invoke_id: int,
    poll_number: int,
    period_ticks: int,
    obj_type: tuple[int, int] = NUMERICS,
    attr_group: int = 0,
) -> bytes:
    """Extended poll (6.3): results keep coming for ``period_ticks``."""
    payload = (
        _u16(poll_number) + _u16(obj_type[0]) + _u16(obj_type[1]) + _u16(attr_group)
        + attribute_list([(NOM_ATTR_TIME_PD_POLL, _u32(period_ticks))])
    )
    return _action(invoke_id, NOM_ACT_POLL_MDIB_DATA_EXT, payload)


def encode_single_poll_request(
    invoke_id: int, poll_number: int, obj_type: tuple[int, int] = ALERT_MONITOR,
    attr_group: int = NOM_ATTR_GRP_VMO_STATIC,
) -> bytes:
    """Single poll; with the defaults it is the cheap keep-alive of section 10."""
    payload = _u16(poll_number) + _u16(obj_type[0]) + _u16(obj_type[1]) + _u16(attr_group)
    return _action(invoke_id, NOM_ACT_POLL_MDIB_DATA, payload)


# --- parsing ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RoPdu:
    """A data-export PDU split at the remote-operation header; ``command`` is the error value for ROER."""

    ro_type: int
    invoke_id: int
    command: int
    body: bytes
    linked_state: int = 0
    linked_count: int = 0


@dataclass(frozen=True)
class MdsCreate:
    invoke_id: int
    obj: tuple[int, int, int]
    event_time: int
    abs_time: datetime | None
    rel_time: int | None


class NuObs(NamedTuple):
    """One NU-observed value (a tuple: built for every value of every poll reply, so built cheaply)."""

    physio_id: int
    state: int
    unit: int
    raw: int


class ObservationPoll(NamedTuple):
    context_id: int
    handle: int
    label: int | None
    values: tuple[NuObs, ...]
    stamp_rel: int | None
    stamp_abs: bytes | None


@dataclass(frozen=True)
class PollReply:
    invoke_id: int
    action: int
    poll_number: int
    sequence_no: int | None
    rel_time: int
    abs_time: datetime | None
    obj_type: tuple[int, int]
    attr_group: int
    observations: tuple[ObservationPoll, ...]


@dataclass(frozen=True)
class ActionRequest:
    """A host's poll request as the monitor sees it."""

    invoke_id: int
    action: int
    poll_number: int
    obj_type: tuple[int, int]
    attr_group: int
    period_ticks: int | None


_U16 = struct.Struct(">H").unpack_from
_HH = struct.Struct(">HH").unpack_from
_HHH = struct.Struct(">HHH").unpack_from
_HHHH = struct.Struct(">HHHH").unpack_from
_HHI = struct.Struct(">HHI").unpack_from
_HI = struct.Struct(">HI").unpack_from
_HHHHH = struct.Struct(">HHHHH").unpack_from
_I = struct.Struct(">I").unpack_from
_NU_OBS = struct.Struct(">HHHI").unpack_from  # physio id, state, unit, FLOAT

# The parsers below read well-formed PDUs with struct at absolute offsets. Whenever a length does not fit
# they hand the PDU to the _Reader form (``_checked``), which raises the same Malformed, with the same
# message, as it always did: the fast forms only ever succeed where the checked forms succeed, identically.


def parse_ro(user_data: bytes) -> RoPdu:
    n = len(user_data)
    if n >= 8:
        sp, _context, ro_type, length = _HHHH(user_data, 0)
        end = 8 + length
        if sp == SP_SESSION_ID and end <= n:
            pos, state, count = 8, 0, 0
            if ro_type == ROLRS and end >= 10:
                state, count = user_data[8], user_data[9]
                pos = 10
            if ro_type in (ROIV, RORS, ROER, ROLRS) and pos + 6 <= end:
                invoke_id, command, blen = _HHH(user_data, pos)
                pos += 6
                if pos + blen <= end:
                    return RoPdu(ro_type, invoke_id, command, user_data[pos : pos + blen], state, count)
    return _parse_ro_checked(user_data)


def _parse_ro_checked(user_data: bytes) -> RoPdu:
    r = _Reader(user_data)
    if r.u16() != SP_SESSION_ID:
        raise Malformed("not a data export PDU")
    r.u16()
    ro_type, length = r.u16(), r.u16()
    ro = r.sub(length)
    state = count = 0
    if ro_type == ROLRS:
        state, count = ro.u8(), ro.u8()
    elif ro_type not in (ROIV, RORS, ROER):
        raise Malformed(f"unknown ro_type {ro_type}")
    invoke_id, command, blen = ro.u16(), ro.u16(), ro.u16()
    return RoPdu(ro_type, invoke_id, command, ro.take(blen), state, count)


def _attributes(r: _Reader) -> list[tuple[int, bytes]]:
    count, length = r.u16(), r.u16()
    lst = r.sub(length)
    out = []
    for _ in range(count):
        if lst.remaining < 4:
            break
        attr, alen = lst.u16(), lst.u16()
        out.append((attr, lst.take(alen)))
    return out


def _object_id(r: _Reader) -> tuple[int, int, int]:
    return r.u16(), r.u16(), r.u16()


_POLL_RESULT_KINDS = {NOM_ACT_POLL_MDIB_DATA_EXT: "poll-result", NOM_ACT_POLL_MDIB_DATA: "single-poll-result"}


def ro_kind(ro: RoPdu) -> tuple[str, int]:
    """(kind, event/action type) of a data-export PDU, without parsing its payload."""
    ro_type, command, body = ro.ro_type, ro.command, ro.body
    if ro_type in (RORS, ROLRS) and command == CMD_CONFIRMED_ACTION and len(body) >= 8:  # the usual one
        (act,) = _U16(body, 6)
        return _POLL_RESULT_KINDS.get(act, "action-result"), act
    return _ro_kind_checked(ro)


def _ro_kind_checked(ro: RoPdu) -> tuple[str, int]:
    r = _Reader(ro.body)
    if ro.ro_type == ROER:
        return "error", 0
    if ro.ro_type == ROIV and ro.command in (CMD_EVENT_REPORT, CMD_CONFIRMED_EVENT_REPORT):
        _object_id(r)
        r.u32()
        ev = r.u16()
        return ("mds-create" if ev == NOM_NOTI_MDS_CREAT else "event-report"), ev
    if ro.ro_type == ROIV and ro.command == CMD_CONFIRMED_ACTION:
        _object_id(r)
        r.u32()
        act = r.u16()
        kinds = {NOM_ACT_POLL_MDIB_DATA_EXT: "poll-request", NOM_ACT_POLL_MDIB_DATA: "single-poll-request"}
        return kinds.get(act, "action-request"), act
    if ro.ro_type == RORS and ro.command == CMD_CONFIRMED_EVENT_REPORT:
        return "event-report-result", 0
    if ro.ro_type in (RORS, ROLRS) and ro.command == CMD_CONFIRMED_ACTION:
        _object_id(r)
        act = r.u16()
        kinds = {NOM_ACT_POLL_MDIB_DATA_EXT: "poll-result", NOM_ACT_POLL_MDIB_DATA: "single-poll-result"}
        return kinds.get(act, "action-result"), act
    return "data-export", 0


def parse_mds_create(ro: RoPdu) -> MdsCreate:
    r = _Reader(ro.body)
    obj = _object_id(r)
    event_time, _ev, ilen = r.u32(), r.u16(), r.u16()
    info = r.sub(ilen)
    _object_id(info)
    abs_time = rel_time = None
    for attr, val in _attributes(info):
        if attr == NOM_ATTR_TIME_ABS and len(val) == 8:
            abs_time = decode_abs_time(val)
        elif attr == NOM_ATTR_TIME_REL and len(val) == 4:
            rel_time = struct.unpack(">I", val)[0]
    return MdsCreate(ro.invoke_id, obj, event_time, abs_time, rel_time)


def _nu_obs(r: _Reader) -> NuObs:
    return NuObs(r.u16(), r.u16(), r.u16(), r.u32())


def _observation(context_id: int, r: _Reader) -> ObservationPoll:
    handle = r.u16()
    label = stamp_rel = stamp_abs = None
    values: list[NuObs] = []
    for attr, val in _attributes(r):
        v = _Reader(val)
        if attr == NOM_ATTR_NU_VAL_OBS:
            values.append(_nu_obs(v))
        elif attr == NOM_ATTR_NU_CMPD_VAL_OBS:
            count, length = v.u16(), v.u16()
            lst = v.sub(length)
            for _ in range(count):
                if lst.remaining < 10:
                    break
                values.append(_nu_obs(lst))
        elif attr == NOM_ATTR_ID_LABEL and len(val) == 4:
            label = v.u32()
        elif attr == NOM_ATTR_TIME_STAMP_REL and len(val) == 4:
            stamp_rel = v.u32()
        elif attr == NOM_ATTR_TIME_STAMP_ABS and len(val) == 8:
            stamp_abs = bytes(val)
    return ObservationPoll(context_id, handle, label, tuple(values), stamp_rel, stamp_abs)


def parse_poll_reply(ro: RoPdu, seen: dict | None = None) -> PollReply:
    """The poll reply in ``ro``. ``seen`` (one per connection) remembers observations by their exact bytes:
    a monitor repeats most of them unchanged from one second to the next."""
    try:
        reply = _parse_poll_reply_fast(ro, seen)
    except struct.error:
        reply = None
    return reply if reply is not None else _parse_poll_reply_checked(ro)


SEEN_OBSERVATIONS = 4096  # per connection: a few hundred distinct observations per minute at most


def _parse_poll_reply_fast(ro: RoPdu, seen: dict | None = None) -> PollReply | None:
    """parse_poll_reply for a PDU whose lengths all fit; None as soon as one does not."""
    b = ro.body
    n = len(b)
    if n < 10:
        return None
    action, rlen = _HH(b, 6)
    pos, end = 10, 10 + rlen
    ext = action == NOM_ACT_POLL_MDIB_DATA_EXT
    if end > n or end - pos < (26 if ext else 24):  # reply header up to the PollInfoList count and length
        return None
    if ext:
        poll_number, seq, rel_time = _HHI(b, pos)
        pos += 8
    else:
        poll_number, rel_time = _HI(b, pos)
        seq = None
        pos += 6
    abs_time = decode_abs_time(b[pos : pos + 8])
    obj_partition, obj_code, group, count, length = _HHHHH(b, pos + 8)
    pos += 18
    list_end = pos + length
    if list_end > end:
        return None
    observations: list[ObservationPoll] = []
    append = observations.append
    # locals: this loop runs for every value
    nu_obs, unpack_nu, unpack_hh, unpack_hhh, unpack_i = NuObs, _NU_OBS, _HH, _HHH, _I
    val_obs, cmpd_obs, id_label = NOM_ATTR_NU_VAL_OBS, NOM_ATTR_NU_CMPD_VAL_OBS, NOM_ATTR_ID_LABEL
    stamp_rel_attr, stamp_abs_attr, observation = NOM_ATTR_TIME_STAMP_REL, NOM_ATTR_TIME_STAMP_ABS, ObservationPoll
    for _ in range(count):
        if list_end - pos < 6:
            break
        context_id, ocount, olen = unpack_hhh(b, pos)
        pos += 6
        obs_end = pos + olen
        if obs_end > list_end:
            return None
        for _ in range(ocount):
            if obs_end - pos < 6:
                break
            handle, acount, alen = unpack_hhh(b, pos)  # handle, then the AttributeList's count and length
            start = pos
            pos += 6
            attrs_end = pos + alen
            if attrs_end > obs_end:
                return None
            if seen is not None:
                key = (context_id, b[start:attrs_end])
                known = seen.get(key)
                if known is not None:  # the same bytes parse to the same observation
                    append(known)
                    pos = attrs_end
                    continue
            label = stamp_rel = stamp_abs = None
            values: list[NuObs] = []
            for _ in range(acount):
                if attrs_end - pos < 4:
                    break
                attr, vlen = unpack_hh(b, pos)
                pos += 4
                val_end = pos + vlen
                if val_end > attrs_end:
                    return None
                if attr == val_obs:
                    if vlen < 10:
                        return None
                    values.append(nu_obs(*unpack_nu(b, pos)))
                elif attr == cmpd_obs:
                    if vlen < 4:
                        return None
                    ccount, clen = unpack_hh(b, pos)
                    cpos = pos + 4
                    cend = cpos + clen
                    if cend > val_end:
                        return None
                    for _ in range(ccount):
                        if cend - cpos < 10:
                            break
                        values.append(nu_obs(*unpack_nu(b, cpos)))
                        cpos += 10
                elif attr == id_label and vlen == 4:
                    (label,) = unpack_i(b, pos)
                elif attr == stamp_rel_attr and vlen == 4:
                    (stamp_rel,) = unpack_i(b, pos)
                elif attr == stamp_abs_attr and vlen == 8:
                    stamp_abs = bytes(b[pos:val_end])
                pos = val_end
            pos = attrs_end
            obs = observation(context_id, handle, label, tuple(values), stamp_rel, stamp_abs)
            append(obs)
            if seen is not None:
                if len(seen) >= SEEN_OBSERVATIONS:
                    seen.clear()
                seen[key] = obs
        pos = obs_end
    return PollReply(ro.invoke_id, action, poll_number, seq, rel_time, abs_time, (obj_partition, obj_code), group,
                     tuple(observations))


def _parse_poll_reply_checked(ro: RoPdu) -> PollReply:
    r = _Reader(ro.body)
    _object_id(r)
    action, rlen = r.u16(), r.u16()
    p = r.sub(rlen)
    poll_number = p.u16()
    seq = p.u16() if action == NOM_ACT_POLL_MDIB_DATA_EXT else None
    rel_time = p.u32()
    abs_time = decode_abs_time(p.take(8))
    obj_type = (p.u16(), p.u16())
    group = p.u16()
    observations: list[ObservationPoll] = []
    count, length = p.u16(), p.u16()
    lst = p.sub(length)
    for _ in range(count):
        if lst.remaining < 6:
            break
        context_id, ocount, olen = lst.u16(), lst.u16(), lst.u16()
        obs = lst.sub(olen)
        for _ in range(ocount):
            if obs.remaining < 6:
                break
            observations.append(_observation(context_id, obs))
    return PollReply(ro.invoke_id, action, poll_number, seq, rel_time, abs_time, obj_type, group, tuple(observations))


def parse_action_request(ro: RoPdu) -> ActionRequest:
    r = _Reader(ro.body)
    _object_id(r)
    r.u32()
    action, alen = r.u16(), r.u16()
    a = r.sub(alen)
    poll_number = a.u16()
    obj_type = (a.u16(), a.u16())
    group = a.u16()
    period = None
    if action == NOM_ACT_POLL_MDIB_DATA_EXT and a.remaining >= 4:
        for attr, val in _attributes(a):
            if attr == NOM_ATTR_TIME_PD_POLL and len(val) == 4:
                period = struct.unpack(">I", val)[0]
    return ActionRequest(ro.invoke_id, action, poll_number, obj_type, group, period)


SESSION_KINDS = {
    SPDU_CN: "assoc-request",
    SPDU_AC: "assoc-accept",
    SPDU_RF: "assoc-refuse",
    SPDU_FN: "release-request",
    SPDU_DN: "release-response",
    SPDU_AB: "abort",
}


def classify(user_data: bytes) -> tuple[str, RoPdu | None]:
    """Name a PDU (for FrameEvents and dispatch); data-export PDUs come back split. Raises Malformed."""
    if not user_data:
        raise Malformed("empty user data")
    if user_data[0] == SP_SESSION_ID >> 8:
        ro = parse_ro(user_data)
        return ro_kind(ro)[0], ro
    return SESSION_KINDS.get(user_data[0], "unknown"), None

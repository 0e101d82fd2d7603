"""Philips IntelliVue Data Export over the MIB/RS-232 port (host side), plus the wire encoders.

The host associates, answers the monitor's MDS Create event, asks for numerics with an extended poll and
keeps the association alive; the monitor answers about once a second. Layouts and constants follow
``shared/protocols/philips-intellivue-mib.md`` (section numbers below refer to it). The frame, PDU and value
encoders/decoders live here as plain functions so the simulator (``sim/philips_mib.py``) speaks from the
same description.

How the link learns that a new association is needed: after a Refuse, Abort or Release from the monitor, or
after :data:`SILENCE_LOST_S` without a valid frame, the codec queues an Abort (on silence), waits
:data:`RESTART_WAIT_S` and then sets ``needs_restart``; the link answers with ``start(now)``.
"""

from __future__ import annotations

import struct
from binascii import crc_hqx
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Sequence

from ...domain.codes import Parameter
from ...domain.readings import Quality, Reading
from .base import Codec, CodecTime, DeviceInfoEvent, FrameEvent, LinkHint, ReadingEvent, register

# ----------------------------------------------------------------------------------------------------------
# Framing (section 2)
# ----------------------------------------------------------------------------------------------------------
BOF = 0xC0
EOF = 0xC1
ESC = 0x7D
ESC_XOR = 0x20
PROTOCOL_ID = 0x11
MSG_TYPE = 0x01
FCS_INIT = 0xFFFF
FCS_GOOD_RESIDUE = 0xF0B8
FRAME_HEADER_LEN = 4
FCS_LEN = 2
# We advertise max_mtu_rx 2500; a "frame" much longer than that is noise, and dropping it early resyncs.
MAX_USER_DATA = 4096


def _fcs_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        v = n
        for _ in range(8):
            v = (v >> 1) ^ 0x8408 if v & 1 else v >> 1
        table.append(v)
    return tuple(table)


FCS_TABLE = _fcs_table()


# The FCS is the bit-reflected twin of CRC-CCITT (0x1021, MSB first), which binascii.crc_hqx computes in C:
# reversing the bits of every data byte and of the 16-bit register turns one into the other, so the whole
# frame is checked by two C calls instead of a Python step per byte. FCS_TABLE stays the reference.
_BIT_REVERSED = bytes(int(f"{n:08b}"[::-1], 2) for n in range(256))


def _reverse16(v: int) -> int:
    return (_BIT_REVERSED[v & 0xFF] << 8) | _BIT_REVERSED[v >> 8]


def fcs16(data: bytes, fcs: int = FCS_INIT) -> int:
    """The PPP FCS-16 register after ``data`` (not complemented)."""
    if not 0 <= fcs <= 0xFFFF:  # not a register value: keep the table walk's exact arithmetic
        table = FCS_TABLE
        for b in data:
            fcs = (fcs >> 8) ^ table[(fcs ^ b) & 0xFF]
        return fcs
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    return _reverse16(crc_hqx(data.translate(_BIT_REVERSED), _reverse16(fcs)))


def fcs_bytes(data: bytes) -> bytes:
    """The two FCS bytes as sent: complemented register, low byte first."""
    v = ~fcs16(data) & 0xFFFF
    return bytes((v & 0xFF, v >> 8))


def escape(data: bytes) -> bytes:
    """Transparency: BOF, EOF and ESC inside a frame become ESC, byte ^ 0x20."""
    data = bytes(data)
    # ESC first, so the escapes added for BOF and EOF are not escaped again.
    return data.replace(b"\x7d", b"\x7d\x5d").replace(b"\xc0", b"\x7d\xe0").replace(b"\xc1", b"\x7d\xe1")


def wrap(body: bytes) -> bytes:
    """BOF + escaped(body + FCS(body)) + EOF; ``body`` is whatever the FCS covers."""
    return bytes((BOF,)) + escape(bytes(body) + fcs_bytes(body)) + bytes((EOF,))


def frame(user_data: bytes) -> bytes:
    """One wire frame carrying ``user_data`` (an association or data-export PDU)."""
    if len(user_data) > 0xFFFF:
        raise ValueError("user data longer than a frame can carry")
    return wrap(bytes((PROTOCOL_ID, MSG_TYPE)) + struct.pack(">H", len(user_data)) + bytes(user_data))


@dataclass(frozen=True)
class RawFrame:
    """What the byte-level decoder found between BOF and EOF (unescaped), or why it gave up."""

    body: bytes
    reason: str = ""  # "" = complete frame (still to be checked); "aborted" / "too-long" otherwise


class FrameDecoder:
    """Byte stream -> unescaped frame bodies. Resynchronises on every BOF; counts bytes outside frames."""

    def __init__(self, max_body: int = MAX_USER_DATA + FRAME_HEADER_LEN + FCS_LEN) -> None:
        self.max_body = max_body
        self.junk = 0
        self._buf = bytearray()
        self._in_frame = False
        self._esc = False

    def feed(self, data: bytes) -> list[RawFrame]:
        # Works on runs: bytes.find jumps to the next BOF/EOF, and a run between them is unescaped with
        # slices (one step per ESC, not per byte). The result, including junk counts, is that of walking
        # the bytes one at a time (see _walk_run, which does exactly that where a run could grow too long).
        out: list[RawFrame] = []
        n = len(data)
        find = data.find
        buf = self._buf
        max_body = self.max_body
        i = 0
        next_bof = find(BOF)  # positions at or after i once refreshed; -1 = none left in data
        next_eof = -2  # not looked up yet
        while i < n:
            if not self._in_frame:
                if 0 <= next_bof < i:
                    next_bof = find(BOF, i)
                if next_bof < 0:
                    self.junk += n - i
                    break
                self.junk += next_bof - i
                i = next_bof + 1
                self._in_frame, self._esc = True, False
                buf.clear()
                continue
            if 0 <= next_bof < i:
                next_bof = find(BOF, i)
            if next_eof == -2 or 0 <= next_eof < i:
                next_eof = find(EOF, i)
            # [i, end) holds no BOF/EOF: only data bytes and escapes
            if next_bof < 0:
                end = n if next_eof < 0 else next_eof
            elif next_eof < 0 or next_bof < next_eof:
                end = next_bof
            else:
                end = next_eof
            if end > i:
                if len(buf) + (end - i) <= max_body:  # unescaping never lengthens: cannot overflow here
                    self._unescape_run(data, i, end)
                else:
                    stop = self._walk_run(data, i, end, out)
                    if stop >= 0:  # too long: the frame is dropped, we are outside a frame again
                        i = stop
                        continue
            if end >= n:
                break
            i = end + 1
            if data[end] == BOF:  # a BOF is never escaped: the open frame is abandoned, a new one starts
                if buf or self._esc:
                    out.append(RawFrame(bytes(buf), "aborted"))
                buf.clear()
                self._esc = False
            else:  # EOF
                self._in_frame = False
                if self._esc:  # 7D C1: the sender aborted this frame
                    out.append(RawFrame(bytes(buf), "aborted"))
                elif buf:
                    out.append(RawFrame(bytes(buf)))
                else:
                    self.junk += 2  # "C0 C1": nothing to report as a frame
                self._esc = False
                buf.clear()
        return out

    def _unescape_run(self, data: bytes, i: int, end: int) -> None:
        """Append data[i:end] (no BOF/EOF in it) to the frame, undoing the transparency escapes."""
        buf = self._buf
        if self._esc:  # the escape arrived at the end of the previous run/chunk
            buf.append(data[i] ^ ESC_XOR)
            self._esc = False
            i += 1
        esc = data.find(ESC, i, end)
        while esc >= 0:
            buf += data[i:esc]
            if esc + 1 >= end:  # the escaped byte is still to come
                self._esc = True
                return
            buf.append(data[esc + 1] ^ ESC_XOR)
            i = esc + 2
            esc = data.find(ESC, i, end)
        buf += data[i:end]

    def _walk_run(self, data: bytes, i: int, end: int, out: list[RawFrame]) -> int:
        """Byte-by-byte form of _unescape_run that stops at the byte making the frame too long.

        Returns the index after that byte (the frame is then reported and dropped), or -1.
        """
        buf = self._buf
        for k in range(i, end):
            b = data[k]
            if self._esc:
                buf.append(b ^ ESC_XOR)
                self._esc = False
            elif b == ESC:
                self._esc = True
            else:
                buf.append(b)
            if len(buf) > self.max_body:
                out.append(RawFrame(bytes(buf), "too-long"))
                buf.clear()
                self._in_frame = self._esc = False
                return k + 1
        return -1


def check_frame(body: bytes) -> tuple[bytes | None, str]:
    """(user data, "") for a good frame body, else (None, reason)."""
    if len(body) < FRAME_HEADER_LEN + FCS_LEN:
        return None, "too-short"
    if fcs16(body) != FCS_GOOD_RESIDUE:
        return None, "bad-fcs"
    if body[0] != PROTOCOL_ID:
        return None, "bad-protocol"
    (length,) = struct.unpack_from(">H", body, 2)
    if length != len(body) - FRAME_HEADER_LEN - FCS_LEN:
        return None, "bad-length"
    return bytes(body[FRAME_HEADER_LEN:-FCS_LEN]), ""


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
# Values: FLOAT-Type, MeasurementState, time (sections 7 and 9)
# ----------------------------------------------------------------------------------------------------------
FLOAT_NAN = 0x7FFFFF
FLOAT_NRES = 0x800000
FLOAT_POS_INF = 0x7FFFFE
FLOAT_NEG_INF = 0x800002
FLOAT_SPECIALS = {FLOAT_NAN: "nan", FLOAT_NRES: "nres", FLOAT_POS_INF: "+inf", FLOAT_NEG_INF: "-inf"}


def decode_float(raw: int) -> tuple[float | None, str]:
    """(value, "") or (None, special name). Specials are checked on the raw 24-bit mantissa."""
    mant = raw & 0xFFFFFF
    special = FLOAT_SPECIALS.get(mant)
    if special:
        return None, special
    exp = (raw >> 24) & 0xFF
    if exp >= 0x80:
        exp -= 0x100
    if mant >= 0x800000:
        mant -= 0x1000000
    # Divide for negative exponents so 11830 e-2 is exactly the float 118.3.
    return (float(mant * 10**exp) if exp >= 0 else mant / 10 ** (-exp)), ""


def encode_float(value: float | None, decimals: int = 0) -> int:
    """FLOAT-Type with ``decimals`` digits after the point; None -> NaN."""
    if value is None:
        return FLOAT_NAN
    mant = round(value * 10**decimals)
    if not -0x7FFFFD <= mant <= 0x7FFFFD:
        raise ValueError(f"{value} does not fit a FLOAT-Type at {decimals} decimals")
    return ((-decimals & 0xFF) << 24) | (mant & 0xFFFFFF)


MS_INVALID = 0x8000
MS_QUESTIONABLE = 0x4000
MS_UNAVAILABLE = 0x2000
MS_CALIBRATION_ONGOING = 0x1000
MS_TEST_DATA = 0x0800
MS_DEMO_DATA = 0x0400
MS_VALIDATED_DATA = 0x0080
MS_EARLY_INDICATION = 0x0040
MS_MSMT_ONGOING = 0x0020
MS_IN_ALARM = 0x0002
MS_AL_INHIBITED = 0x0001

STATE_QUALITY: tuple[tuple[int, Quality], ...] = (
    (MS_INVALID, Quality.INVALID),
    (MS_QUESTIONABLE, Quality.QUESTIONABLE),
    (MS_UNAVAILABLE, Quality.UNAVAILABLE),
    (MS_CALIBRATION_ONGOING, Quality.CALIBRATING),
    (MS_TEST_DATA, Quality.DEMO),  # test signal: not this patient, like demo data
    (MS_DEMO_DATA, Quality.DEMO),
)
# Section 7: chart a number only when these are clear (calibration added: the domain blocks it anyway).
NO_NUMBER_STATES = MS_INVALID | MS_QUESTIONABLE | MS_UNAVAILABLE | MS_TEST_DATA | MS_CALIBRATION_ONGOING
SPECIAL_QUALITY = {
    "nan": Quality.UNAVAILABLE,
    "nres": Quality.OUT_OF_RANGE,
    "+inf": Quality.OUT_OF_RANGE,
    "-inf": Quality.OUT_OF_RANGE,
}
_QUALITY_STATES = 0  # every MeasurementState bit STATE_QUALITY looks at
for _bit, _quality in STATE_QUALITY:
    _QUALITY_STATES |= _bit
del _bit, _quality


def _reading_flags(quality_states: int, special: str, unknown_unit: bool) -> frozenset[Quality]:
    """A reading's quality flags from its MeasurementState bits, FLOAT special and unit."""
    flags = {q for bit, q in STATE_QUALITY if quality_states & bit}
    if special:
        flags.add(SPECIAL_QUALITY[special])
    if unknown_unit:
        flags.add(Quality.QUESTIONABLE)
    return frozenset(flags)


# (quality state bits, special, unknown unit) -> flags; at most 64 * 5 * 2 entries, filled as seen
_FLAGS: dict[tuple[int, str, bool], frozenset[Quality]] = {}

TICKS_PER_SECOND = 8000  # RelativeTime counts 125 us
REL_TIME_MODULUS = 1 << 32
# UNCONFIRMED: which zone the monitor's wall clock is in. The store wants aware times; set per clinic.
DEVICE_CLOCK_TZ: tzinfo = timezone.utc


def rel_ticks(seconds: float) -> int:
    return int(round(seconds * TICKS_PER_SECOND))


def signed_tick_delta(from_raw: int, to_raw: int) -> int:
    """``to - from`` on the 32-bit RelativeTime circle, as the shortest signed step (handles rollover)."""
    d = (to_raw - from_raw) % REL_TIME_MODULUS
    return d - REL_TIME_MODULUS if d >= REL_TIME_MODULUS // 2 else d


def _bcd(b: int) -> int:
    hi, lo = b >> 4, b & 0x0F
    if hi > 9 or lo > 9:
        raise ValueError("not BCD")
    return hi * 10 + lo


def _to_bcd(v: int) -> int:
    return ((v // 10) << 4) | (v % 10)


ABS_TIME_UNSET = b"\xff" * 8


def _bcd_or_none(b: int) -> int | None:
    try:
        return _bcd(b)
    except ValueError:
        return None


_BCD_VALUE = tuple(_bcd_or_none(b) for b in range(256))  # None: not a BCD byte


def decode_abs_time(raw: bytes) -> datetime | None:
    """AbsoluteTime (8 BCD bytes: century, year, month, day, hour, minute, second, 1/100 s); naive."""
    if len(raw) != 8 or raw == ABS_TIME_UNSET:
        return None
    digits = [_BCD_VALUE[b] for b in raw]
    if None in digits:
        return None
    c, y, mo, d, h, mi, s, f = digits
    try:
        return datetime(c * 100 + y, mo, d, h, mi, s, f * 10000)
    except ValueError:
        return None


def encode_abs_time(when: datetime | None) -> bytes:
    if when is None:
        return ABS_TIME_UNSET
    return bytes(
        _to_bcd(v)
        for v in (when.year // 100, when.year % 100, when.month, when.day, when.hour, when.minute, when.second,
                  when.microsecond // 10000)
    )


class RelativeTimeline:
    """Maps the monitor's RelativeTime to its wall clock from the MDS Create anchors (section 9).

    Keeps a running unwrapped tick count so a 32-bit rollover (every 6.2 days) or a slightly older stamp
    does not jump the clock by days.
    """

    def __init__(self, anchor_abs: datetime, anchor_rel: int) -> None:
        self.anchor_abs = anchor_abs
        self._last_raw = anchor_rel
        self._ticks = 0  # since the anchor

    def advance(self, raw: int) -> datetime | None:
        """Wall time of a reply stamp; moves the timeline forward."""
        self._ticks += signed_tick_delta(self._last_raw, raw)
        self._last_raw = raw
        return self._at(self._ticks)

    def peek(self, raw: int) -> datetime | None:
        """Wall time of a stamp near the current position (e.g. an NIBP measured a while ago)."""
        return self._at(self._ticks + signed_tick_delta(self._last_raw, raw))

    def _at(self, ticks: int) -> datetime | None:
        try:
            return self.anchor_abs + timedelta(microseconds=ticks * 125)
        except OverflowError:
            return None


def association_timeout_s(min_poll_period_ticks: int) -> float:
    """How long the monitor keeps a silent association (section 10 rule)."""
    p = min_poll_period_ticks / TICKS_PER_SECOND
    if p <= 3.3:
        return 10.0
    if p <= 43.0:
        return 3.0 * p
    return 130.0


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
# UNCONFIRMED: a real monitor's accept header; taken from a public simulator. Clients never rely on it.
AARE_PRESENTATION_HEADER = bytes.fromhex(
    "3180a0808001010000a280a003000001a58030808001008102510100003080800100810c2a8648ce1402010000000201000000"
    "0061803080020101a0806180a180060c2a8648ce14020100000003010000a203020100a305a103020100be80288002010281"
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
    count, length = r.u16(), r.u16()
    profiles = r.sub(length)
    for _ in range(count):
        if profiles.remaining < 4:
            break
        attr, alen = profiles.u16(), profiles.u16()
        val = profiles.sub(alen)
        if attr != NOM_POLL_PROFILE_SUPPORT:
            continue
        val.u32()
        info.update(min_poll_period=val.u32(), max_mtu_rx=val.u32(), max_mtu_tx=val.u32())
        val.u32()
        info["options"] = val.u32()
        pcount, plen = val.u16(), val.u16()
        pkgs = val.sub(plen)
        for _ in range(pcount):
            if pkgs.remaining < 4:
                break
            pid, plen2 = pkgs.u16(), pkgs.u16()
            pval = pkgs.sub(plen2)
            if pid == NOM_ATTR_POLL_PROFILE_EXT and pval.remaining >= 4:
                info["poll_ext_options"] = pval.u32()
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


def encode_association_accept(
    min_poll_period: int = DEFAULT_MIN_POLL_PERIOD, poll_ext_options: int = DEFAULT_POLL_EXT_OPTIONS
) -> bytes:
    return _association_pdu(
        SPDU_AC, AARE_PRESENTATION_HEADER, encode_user_info(SYST_SERVER, min_poll_period, poll_ext_options)
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

# Physio ids (partition 2) and units (partition 4), section 8.
NOM_ECG_CARD_BEAT_RATE = 0x4182
NOM_PULS_RATE = 0x480A
NOM_PLETH_PULS_RATE = 0x4822
NOM_PULS_OXIM_SAT_O2 = 0x4BB8
NOM_PULS_OXIM_PERF_REL = 0x4BB0
NOM_PRESS_BLD_NONINV = 0x4A04
NOM_PRESS_BLD_NONINV_SYS = 0x4A05
NOM_PRESS_BLD_NONINV_DIA = 0x4A06
NOM_PRESS_BLD_NONINV_MEAN = 0x4A07
NOM_RESP_RATE = 0x500A
NOM_AWAY_RESP_RATE = 0x5012
NOM_AWAY_CO2 = 0x50AC
NOM_AWAY_CO2_ET = 0x50B0
NOM_TEMP = 0x4B48
TEMP_SITES = (0x4B60, 0x4B64, 0x4B6C, 0x4B74, 0x4B78, 0xE004, 0xE014, 0xF108, 0xF10C)
LABEL_PARTITION = 0x00020000

UNIT_NOS = 0x0000
UNIT_DIMLESS = 0x0200
UNIT_PERCENT = 0x0220
UNIT_BPM = 0x0AA0
UNIT_RESP_PER_MIN = 0x0AE0
UNIT_MMHG = 0x0F20
UNIT_KPA = 0x0F03
UNIT_DEGC = 0x17A0
UNIT_DEGF = 0x1140

PHYSIO_PARAMETER: dict[int, Parameter] = {
    NOM_ECG_CARD_BEAT_RATE: Parameter.HR,
    NOM_PULS_RATE: Parameter.PR,
    NOM_PLETH_PULS_RATE: Parameter.PR,
    NOM_PULS_OXIM_SAT_O2: Parameter.SPO2,
    NOM_PULS_OXIM_PERF_REL: Parameter.PI,
    NOM_PRESS_BLD_NONINV_SYS: Parameter.NIBP_SYS,
    NOM_PRESS_BLD_NONINV_DIA: Parameter.NIBP_DIA,
    NOM_PRESS_BLD_NONINV_MEAN: Parameter.NIBP_MEAN,
    NOM_RESP_RATE: Parameter.RR,
    NOM_AWAY_RESP_RATE: Parameter.RR,
    NOM_AWAY_CO2_ET: Parameter.ETCO2,
    NOM_TEMP: Parameter.TEMP,
    **{site: Parameter.TEMP for site in TEMP_SITES},
}
NIBP_PHYSIO = frozenset({NOM_PRESS_BLD_NONINV_SYS, NOM_PRESS_BLD_NONINV_DIA, NOM_PRESS_BLD_NONINV_MEAN})
# A compound NIBP with any of these set is not a new reading (section 6.5, tuple rule).
NIBP_NOT_NEW_STATES = MS_INVALID | MS_QUESTIONABLE | MS_UNAVAILABLE | MS_MSMT_ONGOING

KPA_TO_MMHG = 760.0 / 101.325


_NO_UNITS: dict[int, tuple[str, object]] = {}


def _same(v: float) -> float:
    return v


# unit code -> (UCUM unit, conversion to it), per parameter. Anything else is not charted.
UNITS: dict[Parameter, dict[int, tuple[str, object]]] = {
    Parameter.HR: {UNIT_BPM: ("/min", _same)},
    Parameter.PR: {UNIT_BPM: ("/min", _same)},
    Parameter.RR: {UNIT_RESP_PER_MIN: ("/min", _same), UNIT_BPM: ("/min", _same)},
    Parameter.SPO2: {UNIT_PERCENT: ("%", _same)},
    Parameter.PI: {UNIT_PERCENT: ("%", _same)},
    Parameter.NIBP_SYS: {UNIT_MMHG: ("mm[Hg]", _same), UNIT_KPA: ("mm[Hg]", lambda v: v * KPA_TO_MMHG)},
    Parameter.NIBP_DIA: {UNIT_MMHG: ("mm[Hg]", _same), UNIT_KPA: ("mm[Hg]", lambda v: v * KPA_TO_MMHG)},
    Parameter.NIBP_MEAN: {UNIT_MMHG: ("mm[Hg]", _same), UNIT_KPA: ("mm[Hg]", lambda v: v * KPA_TO_MMHG)},
    Parameter.TEMP: {UNIT_DEGC: ("Cel", _same), UNIT_DEGF: ("Cel", lambda v: (v - 32.0) * 5.0 / 9.0)},
    # etCO2 in % needs the barometric pressure to become mmHg: keep it in % rather than guess.
    Parameter.ETCO2: {
        UNIT_MMHG: ("mm[Hg]", _same),
        UNIT_KPA: ("mm[Hg]", lambda v: v * KPA_TO_MMHG),
        UNIT_PERCENT: ("%", _same),
    },
}


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


def encode_mds_create_report(
    invoke_id: int, event_time: int, abs_time: datetime | None, rel_time: int,
    extra_attrs: Sequence[tuple[int, bytes]] = (),
) -> bytes:
    """Monitor's MDS Create Event Report (6.1), minimal attribute list plus ``extra_attrs``."""
    attrs = [(NOM_ATTR_TIME_ABS, encode_abs_time(abs_time)), (NOM_ATTR_TIME_REL, _u32(rel_time)), *extra_attrs]
    info = mds_object_id() + attribute_list(attrs)
    body = mds_object_id() + _u32(event_time) + _u16(NOM_NOTI_MDS_CREAT) + _u16(len(info)) + info
    return encode_ro(ROIV, invoke_id, CMD_CONFIRMED_EVENT_REPORT, body)


def nu_obs_value(physio_id: int, state: int, unit: int, raw_float: int) -> bytes:
    return _u16(physio_id) + _u16(state) + _u16(unit) + _u32(raw_float)


def ava_label(label: int) -> tuple[int, bytes]:
    return NOM_ATTR_ID_LABEL, _u32(label)


def ava_numeric(physio_id: int, state: int, unit: int, raw_float: int) -> tuple[int, bytes]:
    return NOM_ATTR_NU_VAL_OBS, nu_obs_value(physio_id, state, unit, raw_float)


def ava_compound(values: Sequence[tuple[int, int, int, int]]) -> tuple[int, bytes]:
    body = b"".join(nu_obs_value(*v) for v in values)
    return NOM_ATTR_NU_CMPD_VAL_OBS, _u16(len(values)) + _u16(len(body)) + body


def ava_time_stamp_rel(ticks: int) -> tuple[int, bytes]:
    return NOM_ATTR_TIME_STAMP_REL, _u32(ticks)


Observation = tuple[int, Sequence[tuple[int, bytes]]]  # (handle, attributes)


def _poll_info_list(contexts: Sequence[tuple[int, Sequence[Observation]]]) -> bytes:
    parts = []
    for context_id, observations in contexts:
        obs = b"".join(_u16(handle) + attribute_list(list(attrs)) for handle, attrs in observations)
        parts.append(_u16(context_id) + _u16(len(observations)) + _u16(len(obs)) + obs)
    body = b"".join(parts)
    return _u16(len(contexts)) + _u16(len(body)) + body


def encode_poll_reply(
    invoke_id: int, poll_number: int, sequence_no: int, rel_time: int, abs_time: datetime | None,
    contexts: Sequence[tuple[int, Sequence[Observation]]], obj_type: tuple[int, int] = NUMERICS,
    attr_group: int = 0, linked: tuple[int, int] | None = None,
) -> bytes:
    """Extended poll result (6.4) as RORS, or one ROLRS part when ``linked=(state, count)``."""
    reply = (
        _u16(poll_number) + _u16(sequence_no) + _u32(rel_time) + encode_abs_time(abs_time)
        + _u16(obj_type[0]) + _u16(obj_type[1]) + _u16(attr_group) + _poll_info_list(contexts)
    )
    body = mds_object_id() + _u16(NOM_ACT_POLL_MDIB_DATA_EXT) + _u16(len(reply)) + reply
    return encode_ro(ROLRS if linked else RORS, invoke_id, CMD_CONFIRMED_ACTION, body, linked)


def encode_single_poll_reply(
    invoke_id: int, poll_number: int, rel_time: int, abs_time: datetime | None,
    obj_type: tuple[int, int] = ALERT_MONITOR, attr_group: int = NOM_ATTR_GRP_VMO_STATIC,
    contexts: Sequence[tuple[int, Sequence[Observation]]] = (),
) -> bytes:
    reply = (
        _u16(poll_number) + _u32(rel_time) + encode_abs_time(abs_time)
        + _u16(obj_type[0]) + _u16(obj_type[1]) + _u16(attr_group) + _poll_info_list(contexts)
    )
    body = mds_object_id() + _u16(NOM_ACT_POLL_MDIB_DATA) + _u16(len(reply)) + reply
    return encode_ro(RORS, invoke_id, CMD_CONFIRMED_ACTION, body)


def encode_error(invoke_id: int, error_value: int) -> bytes:
    return encode_ro(ROER, invoke_id, error_value, b"")


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


@dataclass(frozen=True)
class NuObs:
    physio_id: int
    state: int
    unit: int
    raw: int


@dataclass(frozen=True)
class ObservationPoll:
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


def parse_poll_reply(ro: RoPdu) -> PollReply:
    try:
        reply = _parse_poll_reply_fast(ro)
    except struct.error:
        reply = None
    return reply if reply is not None else _parse_poll_reply_checked(ro)


def _parse_poll_reply_fast(ro: RoPdu) -> PollReply | None:
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
    nu_obs, unpack_nu, unpack_hh = NuObs, _NU_OBS, _HH  # locals: this loop runs for every value
    for _ in range(count):
        if list_end - pos < 6:
            break
        context_id, ocount, olen = _HHH(b, pos)
        pos += 6
        obs_end = pos + olen
        if obs_end > list_end:
            return None
        for _ in range(ocount):
            if obs_end - pos < 6:
                break
            handle, acount, alen = _HHH(b, pos)  # handle, then the AttributeList's count and length
            pos += 6
            attrs_end = pos + alen
            if attrs_end > obs_end:
                return None
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
                if attr == NOM_ATTR_NU_VAL_OBS:
                    if vlen < 10:
                        return None
                    values.append(nu_obs(*unpack_nu(b, pos)))
                elif attr == NOM_ATTR_NU_CMPD_VAL_OBS:
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
                elif attr == NOM_ATTR_ID_LABEL and vlen == 4:
                    (label,) = _I(b, pos)
                elif attr == NOM_ATTR_TIME_STAMP_REL and vlen == 4:
                    (stamp_rel,) = _I(b, pos)
                elif attr == NOM_ATTR_TIME_STAMP_ABS and vlen == 8:
                    stamp_abs = bytes(b[pos:val_end])
                pos = val_end
            pos = attrs_end
            append(ObservationPoll(context_id, handle, label, tuple(values), stamp_rel, stamp_abs))
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


HOST_KINDS = frozenset({"assoc-request", "poll-request", "single-poll-request", "action-request", "event-report-result"})
MONITOR_KINDS = frozenset({"assoc-accept", "assoc-refuse", "mds-create", "poll-result", "single-poll-result"})
HOST_TRAFFIC_AFTER = 3  # host-only PDUs and not one from a monitor: host traffic


# ----------------------------------------------------------------------------------------------------------
# The host's codec
# ----------------------------------------------------------------------------------------------------------
# Timing (section 10). Sources: OpenICE for retry/silence/keep-alive, mindleaving for the MDS wait.
ASSOC_RETRY_S = 2.0  # resend the association request while no answer
MDS_CREATE_TIMEOUT_S = 10.0  # accepted but no MDS Create Event -> start again
SILENCE_LOST_S = 5.0  # no valid frame for this long while associated -> association lost
KEEPALIVE_IDLE_RX_S = 4.0  # nothing received for this long -> keep-alive now
KEEPALIVE_MIN_GAP_S = 1.0  # never more than one keep-alive per second
# Ours: keep-alive at a third of the monitor's timeout so two lost keep-alives still do not drop us.
KEEPALIVE_FRACTION = 1.0 / 3.0
RESTART_WAIT_S = 2.0  # after refuse/abort/release/loss, before asking for a new association
RELEASE_WAIT_S = 2.0
# UNCONFIRMED (inferred from three clients): how long one extended poll keeps the monitor sending.
POLL_PERIOD_S = 600.0
POLL_RENEW_S = 540.0
POLL_STALL_S = 5.0  # associated, frames arriving, but no poll result for this long -> poll again

IDLE = "idle"
ASSOCIATING = "associating"
CONFIGURING = "configuring"  # accepted, waiting for the MDS Create Event
POLLING = "polling"
RELEASING = "releasing"
LOST = "lost"  # waiting RESTART_WAIT_S before needs_restart
CLOSED = "closed"


@register("philips")
class PhilipsMibCodec(Codec):
    """Host side of the IntelliVue MIB data export: association, MDS create, extended poll, keep-alive."""

    link_hint = LinkHint(baudrate=115200, bytesize=8, parity="N", stopbits=1, rtscts=False,
                         quiet_time_s=SILENCE_LOST_S)
    source = "device:philips"

    def __init__(self) -> None:
        super().__init__()
        self.counters: Counter[str] = Counter()  # finer than stats: why frames were bad, what was ignored
        self.state = IDLE
        self.device_tz: tzinfo = DEVICE_CLOCK_TZ
        self.min_poll_period = DEFAULT_MIN_POLL_PERIOD  # what we ask for
        self.poll_period_s = POLL_PERIOD_S
        self.poll_renew_s = POLL_RENEW_S
        self.association_timeout_s = association_timeout_s(DEFAULT_MIN_POLL_PERIOD)
        self.monitor_info: UserInfo | None = None
        self._decoder = FrameDecoder()
        self._state_since = 0.0
        self._invoke = 0
        self._poll_number = 0
        self._timeline: RelativeTimeline | None = None
        self._assoc_sent_at = 0.0
        self._poll_sent_at = 0.0
        self._last_result_at: float | None = None
        self._last_tx = 0.0
        self._last_keepalive = float("-inf")
        self._last_nibp: tuple | None = None
        self._host_pdus = 0  # PDUs only a host sends (association/poll requests, event-report results)
        self._monitor_pdus = 0  # PDUs only a monitor sends
        self.host_traffic = False

    def summary(self) -> dict:
        return {"host_traffic": self.host_traffic}

    # --- driven by the link ---------------------------------------------------------------------------
    def start(self, now: CodecTime) -> bytes:
        """A fresh association request; forgets the previous association."""
        super().start(now)
        self._outgoing.clear()
        self._timeline = None
        self._last_result_at = None
        self.monitor_info = None
        self._set_state(ASSOCIATING, now)
        self._assoc_sent_at = self._last_tx = now.mono
        self._emit(DeviceInfoEvent("association", "requested"))
        return frame(encode_association_request(self.min_poll_period))

    def release(self, now: CodecTime) -> None:
        """Polite goodbye before the port closes (queues a Release Request)."""
        if self.state in (CONFIGURING, POLLING, ASSOCIATING):
            self._send_pdu(RELEASE_REQUEST, now)
            self._set_state(RELEASING, now)

    def tick(self, now: CodecTime) -> None:
        m = now.mono
        since = m - self._state_since
        if self.state == ASSOCIATING:
            if m - self._assoc_sent_at >= ASSOC_RETRY_S:
                self.counters["assoc_retries"] += 1
                self._assoc_sent_at = m
                self._send_pdu(encode_association_request(self.min_poll_period), now)
        elif self.state == CONFIGURING:
            if since >= MDS_CREATE_TIMEOUT_S:
                self._lose(now, f"no MDS Create Event within {MDS_CREATE_TIMEOUT_S:g} s", abort=True)
        elif self.state == POLLING:
            last_rx = self.last_valid_mono if self.last_valid_mono is not None else self._state_since
            silent = m - max(last_rx, self._state_since)
            if silent >= SILENCE_LOST_S:
                self._lose(now, f"no valid frame for {silent:.1f} s", abort=True)
                return
            last_result = self._last_result_at if self._last_result_at is not None else self._poll_sent_at
            if m - self._poll_sent_at >= self.poll_renew_s:
                self._send_poll(now)
            elif m - max(self._poll_sent_at, last_result) >= POLL_STALL_S:
                self.counters["poll_stalls"] += 1
                self._send_poll(now)
            every = max(KEEPALIVE_MIN_GAP_S, self.association_timeout_s * KEEPALIVE_FRACTION)
            due = silent >= KEEPALIVE_IDLE_RX_S or m - self._last_tx >= every
            if due and m - self._last_keepalive >= KEEPALIVE_MIN_GAP_S:
                self._send_keepalive(now)
        elif self.state == RELEASING:
            if since >= RELEASE_WAIT_S:
                self._set_state(CLOSED, now)
                self._emit(DeviceInfoEvent("association", "closed"))
        elif self.state == LOST:
            if since >= RESTART_WAIT_S and not self.needs_restart:
                self.needs_restart = True

    # --- parsing --------------------------------------------------------------------------------------
    def _feed(self, data: bytes, now: CodecTime) -> None:
        before = self._decoder.junk
        raws = self._decoder.feed(data)
        self.stats.junk_bytes += self._decoder.junk - before
        for raw in raws:
            if raw.reason:
                self._bad(raw.reason, len(raw.body))
                continue
            user_data, reason = check_frame(raw.body)
            if user_data is None:
                self._bad(reason, len(raw.body))
                continue
            try:
                kind, ro = classify(user_data)
                parsed = self._parse(kind, ro, user_data)
            except Malformed as exc:
                self._bad("malformed", len(user_data), str(exc))
                continue
            self.stats.frames_ok += 1
            self.last_valid_mono = now.mono
            self._emit(FrameEvent(True, kind, len(user_data)))
            self._act(kind, ro, parsed, now)

    def _bad(self, reason: str, length: int, detail: str = "") -> None:
        self.stats.frames_bad += 1
        self.counters[reason] += 1
        self._emit(FrameEvent(False, reason, length, detail))

    @staticmethod
    def _parse(kind: str, ro: RoPdu | None, user_data: bytes) -> object:
        """Everything that can be Malformed happens here, before any state changes."""
        if kind == "assoc-accept":
            return find_user_info(user_data)
        if kind == "mds-create":
            return parse_mds_create(ro)
        if kind in ("poll-result", "single-poll-result"):
            return parse_poll_reply(ro)
        return None

    # --- acting ---------------------------------------------------------------------------------------
    def _direction(self, kind: str) -> None:
        """Tell a capture of what a host sent (another program's side of the cable, or a loop-back) from a
        monitor: it decodes cleanly but holds no data, and the IT person must hear why nothing is charted."""
        if kind in HOST_KINDS:
            self._host_pdus += 1
        elif kind in MONITOR_KINDS:
            self._monitor_pdus += 1
        if not self.host_traffic and self._host_pdus >= HOST_TRAFFIC_AFTER and self._monitor_pdus == 0:
            self.host_traffic = True
            self._emit(DeviceInfoEvent(
                "warning", "host-side traffic: these are a host's requests to a monitor, not a monitor's data "
                           "(wrong end of the cable, a loop-back, or a capture of the host's output)"))

    def _act(self, kind: str, ro: RoPdu | None, parsed: object, now: CodecTime) -> None:
        self._direction(kind)
        if kind == "assoc-accept":
            self._on_accept(parsed, now)
        elif kind == "assoc-refuse":
            if self.state == ASSOCIATING:
                # On RS-232 only we can hold the monitor's association: a refusal means a stale one of ours
                # (e.g. its Accept was lost), so abort it before trying again.
                self._lose(now, "refused by the monitor", abort=True, event="refused")
        elif kind == "release-request":
            self._send_pdu(RELEASE_RESPONSE, now)
            if self.state in (ASSOCIATING, CONFIGURING, POLLING):
                self._lose(now, "monitor released the association", event="released")
        elif kind == "release-response":
            if self.state == RELEASING:
                self._set_state(CLOSED, now)
                self._emit(DeviceInfoEvent("association", "closed"))
        elif kind == "abort":
            if self.state in (ASSOCIATING, CONFIGURING, POLLING, RELEASING):
                self._lose(now, "monitor aborted the association", event="aborted")
        elif kind == "mds-create":
            self._on_mds_create(parsed, now)
        elif kind == "poll-result":
            self._on_poll_result(parsed, now)
        elif kind == "error":
            assert ro is not None
            self._emit(DeviceInfoEvent("remote-error", f"invoke {ro.invoke_id}: error {ro.command}"))
        else:
            self.counters[f"ignored:{kind}"] += 1

    def _on_accept(self, info: UserInfo | None, now: CodecTime) -> None:
        if self.state != ASSOCIATING:
            self.counters["unexpected_accept"] += 1
            return
        self.monitor_info = info
        period = info.min_poll_period if info and info.min_poll_period else self.min_poll_period
        self.association_timeout_s = association_timeout_s(period)
        self._set_state(CONFIGURING, now)
        self._emit(DeviceInfoEvent("association", "accepted"))
        self._emit(DeviceInfoEvent("min-poll-period-ms", f"{period / 8:g}"))

    def _on_mds_create(self, mds: MdsCreate, now: CodecTime) -> None:
        if self.state not in (ASSOCIATING, CONFIGURING, POLLING):
            self.counters["ignored:mds-create"] += 1
            return
        if self.state == ASSOCIATING:  # the Accept was lost on the wire; the monitor considers us associated
            self.counters["implied_accept"] += 1
            self._emit(DeviceInfoEvent("association", "accepted"))
        anchor_rel = mds.rel_time if mds.rel_time is not None else mds.event_time
        self._timeline = RelativeTimeline(mds.abs_time, anchor_rel) if mds.abs_time else None
        if mds.abs_time:
            self._emit(DeviceInfoEvent("device-clock", mds.abs_time.isoformat()))
        self._send_pdu(encode_mds_create_result(mds.invoke_id, mds.event_time, mds.obj), now)
        self._set_state(POLLING, now)
        self._send_poll(now)
        self._emit(DeviceInfoEvent("association", "polling"))

    def _on_poll_result(self, reply: PollReply, now: CodecTime) -> None:
        if reply.obj_type != NUMERICS:
            self.counters["ignored:non-numeric-poll"] += 1
            return
        self._last_result_at = now.mono
        if self._timeline is not None:
            reply_time = self._timeline.advance(reply.rel_time)
        else:
            reply_time = reply.abs_time
        # What _object_time gives an object without its own stamp, worked out once per reply.
        plain_time = reply_time
        if plain_time is not None and plain_time.tzinfo is None:
            plain_time = plain_time.replace(tzinfo=self.device_tz)
        emit_value = self._emit_value
        for obs in reply.observations:
            if obs.stamp_rel is None and obs.stamp_abs is None:
                obs_time = plain_time
            else:
                obs_time = self._object_time(obs, reply, reply_time)
            nibp: list[NuObs] = []
            for v in obs.values:
                if v.physio_id in NIBP_PHYSIO:
                    nibp.append(v)
                else:
                    emit_value(v, obs_time, now)
            if nibp and self._nibp_is_new(obs, nibp):
                for v in nibp:
                    emit_value(v, obs_time, now)

    def _object_time(self, obs: ObservationPoll, reply: PollReply, reply_time: datetime | None) -> datetime | None:
        when = reply_time
        if obs.stamp_rel is not None:
            if self._timeline is not None:
                when = self._timeline.peek(obs.stamp_rel)
            elif reply_time is not None:
                try:
                    when = reply_time + timedelta(microseconds=125 * signed_tick_delta(reply.rel_time, obs.stamp_rel))
                except OverflowError:
                    when = None
        elif obs.stamp_abs is not None:
            when = decode_abs_time(obs.stamp_abs) or reply_time
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=self.device_tz)
        return when

    def _nibp_is_new(self, obs: ObservationPoll, values: list[NuObs]) -> bool:
        """Section 6.5 rule: a changed per-object time stamp, else a changed valid (sys, dia, mean)."""
        if obs.stamp_rel is not None or obs.stamp_abs is not None:
            key: tuple = ("stamp", obs.stamp_rel, obs.stamp_abs)
        else:
            if any(v.state & NIBP_NOT_NEW_STATES or decode_float(v.raw)[0] is None for v in values):
                return False
            key = ("values", tuple(sorted((v.physio_id, v.raw) for v in values)))
        if key == self._last_nibp:
            return False
        self._last_nibp = key
        return True

    def _emit_value(self, v: NuObs, device_time: datetime | None, now: CodecTime) -> None:
        param = PHYSIO_PARAMETER.get(v.physio_id)
        if param is None:
            self.counters["unknown_physio"] += 1
            return
        state = v.state
        value, special = decode_float(v.raw)
        conversion = UNITS.get(param, _NO_UNITS).get(v.unit)
        if conversion is None:
            self.counters["unknown_unit"] += 1
            unit = param.unit
            value = None
        else:
            unit = conversion[0]
            if value is not None:
                value = conversion[1](value)  # type: ignore[operator]
        if state & NO_NUMBER_STATES:
            value = None
        key = (state & _QUALITY_STATES, special, conversion is None)
        flags = _FLAGS.get(key)
        if flags is None:
            flags = _FLAGS[key] = _reading_flags(*key)
        self._emit(ReadingEvent(Reading(
            param, value, now.wall, unit=unit, device_time=device_time, flags=flags, source=self.source,
        )))

    # --- sending --------------------------------------------------------------------------------------
    def _send_pdu(self, user_data: bytes, now: CodecTime) -> None:
        self._send(frame(user_data))
        self._last_tx = now.mono

    def _next_invoke(self) -> int:
        self._invoke = self._invoke % 0xFFFF + 1
        return self._invoke

    def _next_poll_number(self) -> int:
        self._poll_number = self._poll_number % 0xFFFF + 1
        return self._poll_number

    def _send_poll(self, now: CodecTime) -> None:
        period = min(rel_ticks(self.poll_period_s), REL_TIME_MODULUS - 1)
        self._send_pdu(encode_extended_poll_request(self._next_invoke(), self._next_poll_number(), period), now)
        self._poll_sent_at = now.mono
        self.counters["polls_sent"] += 1

    def _send_keepalive(self, now: CodecTime) -> None:
        self._send_pdu(encode_single_poll_request(self._next_invoke(), self._next_poll_number()), now)
        self._last_keepalive = now.mono
        self.counters["keepalives_sent"] += 1

    def _set_state(self, state: str, now: CodecTime) -> None:
        self.state = state
        self._state_since = now.mono

    def _lose(self, now: CodecTime, reason: str, abort: bool = False, event: str = "lost") -> None:
        """End this association; needs_restart follows after RESTART_WAIT_S (see tick)."""
        if abort:
            self._send_pdu(ABORT, now)  # free the monitor's side in case it still thinks we are there
        self._set_state(LOST, now)
        self._timeline = None
        self.counters[f"association_{event}"] += 1
        self._emit(DeviceInfoEvent("association", event))
        self._emit(DeviceInfoEvent("association-reason", reason))

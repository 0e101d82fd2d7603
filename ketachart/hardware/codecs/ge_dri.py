"""GE Datex-Ohmeda S/5 Computer Interface: DRI records in 0x7E-flagged frames (sans-IO).

Spec: /work/shared/protocols/ge-s5-dri.md (section numbers below refer to it). The module holds both
directions so the simulator (``hardware/sim/ge_dri.py``) is this codec seen from the monitor's side:

- framing: :func:`encode_frame`, :class:`Deframer`, :func:`check_frame`;
- records: :func:`build_record`, :func:`parse_header`, :func:`phdb_request`, :func:`wave_request`,
  :func:`encode_phdb`, :func:`parse_phdb`, :func:`encode_aux`;
- :class:`GeDriCodec` (host side) and :func:`decode_capture` for a whole raw capture.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import ClassVar, Iterable

from ...domain.codes import Parameter
from ...domain.readings import Quality, Reading
from .base import Codec, CodecTime, DeviceInfoEvent, FrameEvent, LinkHint, ReadingEvent, register

# --- framing (section 3) ------------------------------------------------------------------------
FLAG = 0x7E
ESC = 0x7D
ESC_BIT = 0x20
HEADER_LEN = 40
MIN_FRAME_LEN = HEADER_LEN + 1  # header + checksum, unescaped
MAX_RECORD_LEN = HEADER_LEN + 1450
# Every byte may be escaped; anything longer than this between flags cannot be a frame.
MAX_WIRE_BODY = 2 * (MAX_RECORD_LEN + 1)

# --- record types (sections 4, 5) ---------------------------------------------------------------
MT_PHDB = 0
MT_WAVE = 1
MT_ALARM = 4
MAINTYPE_NAMES = {MT_PHDB: "phdb", MT_WAVE: "wave", MT_ALARM: "alarm", 5: "network", 8: "fo"}
SR_REQUEST = 0  # sr_type 0 in a request record = "transmission request"
SR_EOL = 0xFF
MAX_SUBRECORDS = 8

PH_DISPL = 1
PH_10S_TREND = 2
PH_60S_TREND = 3
PH_AUX_INFO = 4
PH_TYPE_NAMES = {PH_DISPL: "displ", PH_10S_TREND: "trend10", PH_60S_TREND: "trend60", PH_AUX_INFO: "aux"}

REQ_BASIC = 0x0000
DENY_BASIC = 0x0001
REQ_EXT1 = 0x0002
REQ_EXT2 = 0x0004
REQ_EXT3 = 0x0008
CLASSES_ALL = REQ_EXT1 | REQ_EXT2 | REQ_EXT3  # Appendix A "all classes" (basic is implicit)
CLASS_BASIC, CLASS_EXT1, CLASS_EXT2, CLASS_EXT3 = 0, 1, 2, 3
CLASS_NAMES = {CLASS_BASIC: "basic", CLASS_EXT1: "ext1", CLASS_EXT2: "ext2", CLASS_EXT3: "ext3"}

PHDB_LEN = 278  # one displayed/trend subrecord
AUX_LEN = 114
PHDB_REQ_LEN = 9
WAVE_REQ_LEN = 32

# --- special values (section 6) -----------------------------------------------------------------
DATA_INVALID = -32767
DATA_NOT_UPDATED = -32766
DATA_DISCONT = -32765  # UNCONFIRMED: only in VSCapture, not in [DRI]
DATA_UNDER_RANGE = -32764
DATA_OVER_RANGE = -32763
DATA_NOT_CALIBRATED = -32762
SPECIAL_LIMIT = -32001  # raw values <= this are control codes, never numbers

SPECIAL_QUALITY: dict[int, Quality] = {
    DATA_INVALID: Quality.INVALID,
    DATA_NOT_UPDATED: Quality.UNAVAILABLE,
    DATA_DISCONT: Quality.ARTIFACT,
    DATA_UNDER_RANGE: Quality.OUT_OF_RANGE,
    DATA_OVER_RANGE: Quality.OUT_OF_RANGE,
    DATA_NOT_CALIBRATED: Quality.CALIBRATING,
}

ST_EXISTS = 0x0001
ST_ACTIVE = 0x0002

# Group specific bits we act on.
ECG_ST_NOISE = 1 << 7
ECG_ST_ARTIFACT = 1 << 8
CO2_ST_APNEA = 1 << 2  # apnea detected from CO2
CO2_ST_APNEA_RESP = 1 << 7  # apnea detected from respiration (impedance)
CO2_ST_CALIBRATING = 1 << 3
CO2_ST_ZEROING = 1 << 4
CO2_RR_SOURCE_MASK = 0x0007  # CO2 label bits 0..2: 0 none, 1 CO2, 2 ECG impedance
RR_SOURCE_CO2 = 1
RR_SOURCE_IMPEDANCE = 2
# The monitor's own alarms carried in the status words (section 6), passed on as technical alarms with the
# monitor as their source. ECG channels 2 and 3 read "off" on a monitor showing one lead (the AS3 capture:
# status 0x304B), so only all three off means the leads are off. The alarm record (maintype 4) is
# CARESCAPE-only with an undocumented layout: not requested.
ECG_ST_ASYSTOLE = 1 << 2
ECG_ST_CHANNELS_OFF = (1 << 11) | (1 << 12) | (1 << 13)
CO2_ST_OCCLUSION = 1 << 5
CO2_ST_AIR_LEAK = 1 << 6
CO2_ST_WET = 1 << 9

NIBP_AUTO = 0x0008
NIBP_STAT = 0x0010
NIBP_MEASURING = 0x0020
NIBP_STASIS = 0x0040
NIBP_CALIBRATING = 0x0080
NIBP_OLD = 0x0100

# --- behaviour constants -------------------------------------------------------------------------
DEFAULT_INTERVAL_S = 10  # the Appendix A request
MIN_DISPL_INTERVAL_S = 5
QUIET_FACTOR = 3  # section 11: re-request after > 3 * tx_ival of silence
DEFAULT_REQUEST_CLASSES = CLASSES_ALL  # start() sends the Appendix A bytes; only BASIC is decoded
REQUEST_AUX = False  # UNCONFIRMED whether serial monitors serve DRI_PH_AUX_INFO (section 9)


@dataclass(frozen=True)
class GroupSpec:
    start: int  # offset within the subrecord
    fields: tuple[str, ...]
    header: bool = True

    @property
    def size(self) -> int:
        return (6 if self.header else 0) + 2 * len(self.fields)


_P = ("sys", "dia", "mean", "hr")
_T = ("temp",)
BASIC_GROUPS: dict[str, GroupSpec] = {
    "ecg": GroupSpec(4, ("hr", "st1", "st2", "st3", "imp_rr")),
    "p1": GroupSpec(20, _P),
    "p2": GroupSpec(34, _P),
    "p3": GroupSpec(48, _P),
    "p4": GroupSpec(62, _P),
    "nibp": GroupSpec(76, _P),
    "t1": GroupSpec(90, _T),
    "t2": GroupSpec(98, _T),
    "t3": GroupSpec(106, _T),
    "t4": GroupSpec(114, _T),
    "spo2": GroupSpec(122, ("spo2", "pr", "ir_amp", "svo2")),
    "co2": GroupSpec(136, ("et", "fi", "rr", "amb_press")),
    "o2": GroupSpec(150, ("et", "fi")),
    "n2o": GroupSpec(160, ("et", "fi")),
    "aa": GroupSpec(170, ("et", "fi", "mac_sum")),
    "flow_vol": GroupSpec(
        182, ("rr", "ppeak", "peep", "pplat", "tv_insp", "tv_exp", "compliance", "mv_exp")
    ),
    "co_wedge": GroupSpec(204, ("co", "blood_temp", "ref", "pcwp")),
    "nmt": GroupSpec(218, ("t1", "tratio", "ptc")),
    "ecg_extra": GroupSpec(230, ("hr_ecg", "hr_max", "hr_min"), header=False),
    "svo2": GroupSpec(236, ("svo2",)),
    "p5": GroupSpec(244, _P),
    "p6": GroupSpec(258, _P),
}
PHDB_MARKER_OFS = 274
PHDB_CLASS_OFS = 276


# =================================================================================================
# Framing
# =================================================================================================
def checksum(record: bytes) -> int:
    """8-bit sum of the unescaped record (section 3)."""
    return sum(record) & 0xFF


def escape(data: bytes) -> bytes:
    """Escape 0x7E/0x7D as 0x7D + (byte with bit 5 cleared)."""
    if FLAG not in data and ESC not in data:
        return bytes(data)
    out = bytearray()
    for b in data:
        if b == FLAG or b == ESC:
            out += bytes((ESC, b & ~ESC_BIT & 0xFF))
        else:
            out.append(b)
    return bytes(out)


def unescape(body: bytes) -> bytes | None:
    """Undo escaping; None if the body ends in a dangling escape (a broken frame)."""
    if ESC not in body:
        return bytes(body)
    out = bytearray()
    it = iter(body)
    for b in it:
        if b == ESC:
            nxt = next(it, None)
            if nxt is None:
                return None
            out.append(nxt | ESC_BIT)
        else:
            out.append(b)
    return bytes(out)


def encode_frame(record: bytes) -> bytes:
    """Wire frame for one record: flag, escaped(record + checksum), flag. The checksum is escaped too."""
    return bytes((FLAG,)) + escape(bytes(record) + bytes((checksum(record),))) + bytes((FLAG,))


@dataclass(frozen=True)
class RawFrame:
    """What the deframer found between two flags: the unescaped bytes, or None if broken."""

    data: bytes | None  # unescaped record + checksum; None for a broken/overlong frame
    wire_len: int  # bytes on the wire including both flags
    problem: str = ""  # "broken" (0x7D before the flag) or "overflow"


class Deframer:
    """Splits a byte stream at 0x7E flags. The closing flag of one frame also opens the next, so a frame
    whose opening flag was lost or corrupted is still found; an empty frame (two flags) just resyncs."""

    def __init__(self) -> None:
        self._in_frame = False
        self._body = bytearray()
        self.junk_bytes = 0  # bytes seen while hunting for the first flag or dropped for overflow

    def feed(self, data: bytes) -> list[RawFrame]:
        out: list[RawFrame] = []
        i, n = 0, len(data)
        while i < n:
            j = data.find(FLAG, i)
            if not self._in_frame:
                if j < 0:
                    self.junk_bytes += n - i
                    return out
                self.junk_bytes += j - i
                self._in_frame = True
                self._body.clear()
                i = j + 1
                continue
            end = n if j < 0 else j
            self._body += data[i:end]
            if len(self._body) > MAX_WIRE_BODY:
                out.append(RawFrame(None, len(self._body) + 1, "overflow"))
                self._body.clear()
                self._in_frame = False  # hunt for the next flag
                i = end
                continue
            if j < 0:
                return out
            i = j + 1
            if not self._body:
                continue  # two adjacent flags: re-synchronised
            body = bytes(self._body)
            self._body.clear()
            unesc = unescape(body)
            out.append(RawFrame(unesc, len(body) + 2, "" if unesc is not None else "broken"))
        return out

    @property
    def pending(self) -> int:
        """Bytes held for an unfinished frame."""
        return len(self._body)


def check_frame(data: bytes) -> tuple[bytes | None, str]:
    """Validate an unescaped frame; returns (record without checksum, "") or (None, reason)."""
    if len(data) < MIN_FRAME_LEN:
        return None, "short"
    record, csum = data[:-1], data[-1]
    if checksum(record) != csum:
        return None, "checksum"
    if len(record) > MAX_RECORD_LEN:
        return None, "length"
    (r_len,) = struct.unpack_from("<h", record, 0)
    if r_len != len(record):
        return None, "length"
    return record, ""


# =================================================================================================
# Records
# =================================================================================================
@dataclass(frozen=True)
class Header:
    r_len: int
    r_nbr: int
    dri_level: int
    plug_id: int
    r_time: int
    maintype: int
    subrecords: tuple[tuple[int, int], ...]  # (sr_offset, sr_type), without the 0xFF terminator


_HEADER = struct.Struct("<hBBHIBBHh")  # 16 bytes, then 8 x (int16 offset, uint8 type)
_DESC = struct.Struct("<hB")


def build_record(
    maintype: int,
    subrecords: Iterable[tuple[int, bytes]],
    *,
    r_nbr: int = 0,
    dri_level: int = 0,
    plug_id: int = 0,
    r_time: int = 0,
) -> bytes:
    """A DRI record (no framing): 40-byte header with descriptors, then the subrecord bodies in order."""
    subs = list(subrecords)
    if len(subs) > MAX_SUBRECORDS:
        raise ValueError("a DRI record holds at most 8 subrecords")
    body = bytearray()
    desc = bytearray()
    for sr_type, data in subs:
        desc += _DESC.pack(len(body), sr_type)
        body += data
    if len(subs) < MAX_SUBRECORDS:
        desc += _DESC.pack(0, SR_EOL)
    desc += bytes(3 * MAX_SUBRECORDS - len(desc))
    r_len = HEADER_LEN + len(body)
    if r_len > MAX_RECORD_LEN:
        raise ValueError(f"record too long: {r_len}")
    head = _HEADER.pack(r_len, r_nbr & 0xFF, dri_level, plug_id, r_time & 0xFFFFFFFF, 0, 0, 0, maintype)
    return head + bytes(desc) + bytes(body)


def parse_header(record: bytes) -> Header:
    """Header of a checked record (see :func:`check_frame`)."""
    r_len, r_nbr, level, plug, r_time, _s, _r2, _r3, maintype = _HEADER.unpack_from(record, 0)
    subs = []
    for k in range(MAX_SUBRECORDS):
        ofs, sr_type = _DESC.unpack_from(record, 16 + 3 * k)
        if sr_type == SR_EOL:
            break
        subs.append((ofs, sr_type))
    return Header(r_len, r_nbr, level, plug, r_time, maintype, tuple(subs))


def frame_kind(head: Header) -> str:
    """'phdb', 'phdb-request', 'wave', 'wave-request', 'alarm', ... for ``decode --frames``."""
    name = MAINTYPE_NAMES.get(head.maintype, f"type{head.maintype}")
    if head.subrecords and head.subrecords[0][1] == SR_REQUEST:
        return name + "-request"
    return name


@dataclass(frozen=True)
class PhdbRequest:
    rcrd_type: int
    tx_ival: int
    class_bf: int


def phdb_request(rcrd_type: int, tx_ival: int, class_bf: int = REQ_BASIC) -> bytes:
    """Wire frame of a physiological data request (section 5)."""
    if rcrd_type not in PH_TYPE_NAMES:
        raise ValueError(f"unknown phdb record type {rcrd_type}")
    if not -1 <= tx_ival <= 32767:
        raise ValueError(f"tx_ival out of range: {tx_ival}")
    req = struct.pack("<BhIh", rcrd_type, tx_ival, class_bf, 0)
    return encode_frame(build_record(MT_PHDB, [(SR_REQUEST, req)]))


def displ_request(interval_s: int = DEFAULT_INTERVAL_S, classes: int = DEFAULT_REQUEST_CLASSES) -> bytes:
    """Start pushing displayed values every ``interval_s`` (>= 5), or -1 for one single record."""
    if interval_s != -1 and interval_s < MIN_DISPL_INTERVAL_S:
        raise ValueError(f"DISPL interval must be >= {MIN_DISPL_INTERVAL_S} s or -1, not {interval_s}")
    return phdb_request(PH_DISPL, interval_s, classes)


def stop_displ_request() -> bytes:
    """Cancel displayed-value transmission."""
    return phdb_request(PH_DISPL, 0, REQ_BASIC)


def parse_phdb_request(record: bytes) -> PhdbRequest | None:
    """The request carried by a checked phdb-request record, or None if it is malformed."""
    head = parse_header(record)
    if head.maintype != MT_PHDB or head.r_len != HEADER_LEN + PHDB_REQ_LEN:
        return None
    if not head.subrecords or head.subrecords[0] != (0, SR_REQUEST):
        return None
    rtype, ival, cbf, _res = struct.unpack_from("<BhIh", record, HEADER_LEN)
    return PhdbRequest(rtype, ival, cbf)


@dataclass(frozen=True)
class WaveRequest:
    req_type: int  # 0 start, 1 stop
    types: tuple[int, ...]  # waveform types, without the 0xFF terminator


def wave_request(req_type: int, types: Iterable[int] = ()) -> bytes:
    """Wire frame of a waveform start/stop request (Appendix A; ketachart does not use waveforms)."""
    t = list(types)
    if len(t) > 7:
        raise ValueError("at most 7 waveform types")
    typ = bytes(t) + bytes((SR_EOL,)) + bytes(8 - len(t) - 1)
    req = struct.pack("<hh", req_type, 0) + typ + bytes(16) + bytes(4)
    return encode_frame(build_record(MT_WAVE, [(SR_REQUEST, req)]))


def parse_wave_request(record: bytes) -> WaveRequest | None:
    head = parse_header(record)
    if head.maintype != MT_WAVE or head.r_len != HEADER_LEN + WAVE_REQ_LEN:
        return None
    req_type, _res = struct.unpack_from("<hh", record, HEADER_LEN)
    raw = record[HEADER_LEN + 4 : HEADER_LEN + 12]
    types = tuple(raw[: raw.index(SR_EOL)]) if SR_EOL in raw else tuple(raw)
    return WaveRequest(req_type, types)


@dataclass
class Group:
    """One measurement group of the BASIC class; fields not given are DATA_INVALID."""

    status: int = 0
    label: int = 0
    values: dict[str, int] = field(default_factory=dict)

    def raw(self, name: str) -> int:
        return self.values.get(name, DATA_INVALID)

    @property
    def usable(self) -> bool:
        return self.status & (ST_EXISTS | ST_ACTIVE) == (ST_EXISTS | ST_ACTIVE)


@dataclass
class Phdb:
    """One displayed/trend subrecord. ``groups`` is filled for the BASIC class only."""

    time: int
    cls: int = CLASS_BASIC
    groups: dict[str, Group] = field(default_factory=dict)
    marker: int = 0
    class_data: bytes | None = None  # the raw 270 bytes (kept for EXT classes)

    def group(self, name: str) -> Group:
        return self.groups.get(name) or Group()


def encode_phdb(sub: Phdb) -> bytes:
    """278-byte subrecord. BASIC groups come from ``sub.groups``; other classes from ``class_data``."""
    buf = bytearray(PHDB_LEN)
    struct.pack_into("<I", buf, 0, sub.time & 0xFFFFFFFF)
    if sub.cls == CLASS_BASIC:
        for name, spec in BASIC_GROUPS.items():
            g = sub.groups.get(name) or Group()
            ofs = spec.start
            if spec.header:
                struct.pack_into("<IH", buf, ofs, g.status, g.label)
                ofs += 6
            for k, fname in enumerate(spec.fields):
                struct.pack_into("<h", buf, ofs + 2 * k, g.raw(fname))
    elif sub.class_data is not None:
        buf[4:274] = sub.class_data[:270].ljust(270, b"\0")
    else:
        # An EXT class we do not model: every int16 invalid, headers zero (module absent).
        buf[4:274] = struct.pack("<h", DATA_INVALID) * 135
    buf[PHDB_MARKER_OFS] = sub.marker & 0xFF
    struct.pack_into("<H", buf, PHDB_CLASS_OFS, (sub.cls & 0xF) << 8)
    return bytes(buf)


def parse_phdb(data: bytes) -> Phdb:
    """Decode a 278-byte subrecord (caller checks the length)."""
    (time,) = struct.unpack_from("<I", data, 0)
    (cl,) = struct.unpack_from("<H", data, PHDB_CLASS_OFS)
    cls = (cl >> 8) & 0xF
    sub = Phdb(time=time, cls=cls, marker=data[PHDB_MARKER_OFS], class_data=bytes(data[4:274]))
    if cls == CLASS_BASIC:
        for name, spec in BASIC_GROUPS.items():
            ofs = spec.start
            status = label = 0
            if spec.header:
                status, label = struct.unpack_from("<IH", data, ofs)
                ofs += 6
            vals = struct.unpack_from(f"<{len(spec.fields)}h", data, ofs)
            sub.groups[name] = Group(status, label, dict(zip(spec.fields, vals)))
    return sub


def encode_aux(nibp_time: int, pat_bsa: int = DATA_INVALID) -> bytes:
    """114-byte auxiliary subrecord (section 9)."""
    buf = bytearray(AUX_LEN)
    struct.pack_into("<IhIIh", buf, 0, nibp_time & 0xFFFFFFFF, 0, 0, 0, pat_bsa)
    return bytes(buf)


def parse_aux_nibp_time(data: bytes) -> int:
    return struct.unpack_from("<I", data, 0)[0]


@dataclass
class PhdbRecord:
    header: Header
    phdb: list[tuple[int, Phdb]]  # (sr_type, subrecord) for DISPL/trend subrecords
    aux_nibp_time: int | None = None
    problems: list[str] = field(default_factory=list)


def parse_phdb_record(record: bytes) -> PhdbRecord:
    """Split a checked monitor PHDB record into subrecords; bad descriptors are noted, not raised."""
    head = parse_header(record)
    out = PhdbRecord(head, [])
    for ofs, sr_type in head.subrecords:
        start = HEADER_LEN + ofs
        if sr_type in (PH_DISPL, PH_10S_TREND, PH_60S_TREND):
            if ofs < 0 or start + PHDB_LEN > len(record):
                out.problems.append(f"subrecord {sr_type} at {ofs} overruns the record")
                continue
            out.phdb.append((sr_type, parse_phdb(record[start : start + PHDB_LEN])))
        elif sr_type == PH_AUX_INFO:
            if ofs < 0 or start + AUX_LEN > len(record):
                out.problems.append(f"aux subrecord at {ofs} overruns the record")
                continue
            out.aux_nibp_time = parse_aux_nibp_time(record[start : start + AUX_LEN])
        else:
            out.problems.append(f"unknown subrecord type {sr_type}")
    return out


# =================================================================================================
# Value mapping
# =================================================================================================
def raw_quality(raw: int) -> Quality | None:
    """None if ``raw`` is a real number, else the quality flag for its control code."""
    if raw > SPECIAL_LIMIT:
        return None
    return SPECIAL_QUALITY.get(raw, Quality.INVALID)


def group_quality(g: Group) -> Quality | None:
    """Why a group's values cannot be used, from its status bits (None if usable)."""
    if not g.status & ST_EXISTS:
        return Quality.UNAVAILABLE
    if not g.status & ST_ACTIVE:
        return Quality.SENSOR_OFF
    return None


def technical_alarms(ecg_status: int, co2_status: int) -> tuple[str, ...]:
    """The monitor's alarms in the ECG and CO2 status words (apnea is a flag on RR/etCO2, not here)."""
    words: list[str] = []
    if ecg_status & ST_EXISTS:
        if ecg_status & ECG_ST_ASYSTOLE:
            words.append("asystole")
        if ecg_status & ECG_ST_CHANNELS_OFF == ECG_ST_CHANNELS_OFF:
            words.append("ecg-leads-off")
    if co2_status & ST_EXISTS:
        for bit, word in ((CO2_ST_OCCLUSION, "co2-occlusion"), (CO2_ST_AIR_LEAK, "co2-air-leak"),
                          (CO2_ST_WET, "co2-water-trap")):
            if co2_status & bit:
                words.append(word)
    return tuple(words)


def unix_to_dt(t: int) -> datetime | None:
    return datetime.fromtimestamp(t, tz=timezone.utc) if t > 0 else None


# =================================================================================================
# The codec
# =================================================================================================
_FLAG_SETS: dict[tuple[frozenset[Quality], Quality | None], frozenset[Quality]] = {}  # a handful, reused
_NO_FLAGS: frozenset[Quality] = frozenset()
_APNEA = frozenset({Quality.APNEA})
_ARTIFACT = frozenset({Quality.ARTIFACT})

@register("ge")
class GeDriCodec(Codec):
    """Host side: asks for displayed values, decodes pushed PHDB records into Readings.

    Each DISPL/BASIC subrecord yields one reading each of HR, SPO2, PR, RR, TEMP, ETCO2 (value None plus a
    flag when the monitor marks it or the module is absent) and NIBP_SYS/DIA/MEAN only for a new cuff
    measurement. ``stats.junk_bytes`` counts bytes outside any frame plus the bytes of rejected frames.
    """

    link_hint: ClassVar[LinkHint] = LinkHint(
        baudrate=19200,
        bytesize=8,
        parity="E",
        stopbits=1,
        rtscts=True,
        quiet_time_s=float(QUIET_FACTOR * DEFAULT_INTERVAL_S),
    )

    def __init__(self, interval_s: int = DEFAULT_INTERVAL_S, classes: int = DEFAULT_REQUEST_CLASSES) -> None:
        super().__init__()
        if interval_s < MIN_DISPL_INTERVAL_S:
            raise ValueError(f"interval must be >= {MIN_DISPL_INTERVAL_S} s")
        self.interval_s = interval_s
        self.classes = classes
        # the link's silence watchdog re-requests after 3 missed records (section 11)
        self.link_hint = replace(type(self).link_hint, quiet_time_s=float(QUIET_FACTOR * interval_s))
        self._deframer = Deframer()
        self._junk_seen = 0
        self._requested_mono: float | None = None
        # NIBP new-measurement state survives restarts on purpose (section 7 rule 5).
        self._nibp_last: tuple[int, int, int] | None = None
        self._nibp_prev_measuring = False
        self._nibp_last_time: int | None = None
        self._info: dict[str, str] = {}

    # --- commands ---------------------------------------------------------------------------------
    def start(self, now: CodecTime) -> bytes:
        """The DISPL request (Appendix A bytes for the defaults); also sent again after silence."""
        self.needs_restart = False
        self._requested_mono = now.mono
        out = displ_request(self.interval_s, self.classes)
        if REQUEST_AUX:
            out += phdb_request(PH_AUX_INFO, self.interval_s, REQ_BASIC)
        return out

    def stop(self) -> bytes:
        """Bytes that cancel the subscription (for a clean close)."""
        self._requested_mono = None
        return stop_displ_request()

    def silence(self, now: CodecTime) -> None:
        """The link's watchdog saw no valid frame for the quiet time (3 x the interval): a power-cycled
        monitor forgets its subscription and never says so, so ask again (``needs_restart``)."""
        if self._requested_mono is not None:
            self.needs_restart = True

    # --- decoding ---------------------------------------------------------------------------------
    def _feed(self, data: bytes, now: CodecTime) -> None:
        for raw in self._deframer.feed(data):
            self._frame(raw, now)
        self.stats.junk_bytes += self._deframer.junk_bytes - self._junk_seen
        self._junk_seen = self._deframer.junk_bytes

    def _bad(self, raw: RawFrame, reason: str, detail: str = "") -> None:
        self.stats.frames_bad += 1
        self.stats.junk_bytes += raw.wire_len
        self._emit(FrameEvent(False, f"bad-{reason}", raw.wire_len, detail))

    def _frame(self, raw: RawFrame, now: CodecTime) -> None:
        if raw.data is None:
            self._bad(raw, raw.problem or "broken")
            return
        record, reason = check_frame(raw.data)
        if record is None:
            self._bad(raw, reason, f"{len(raw.data)} bytes unescaped")
            return
        head = parse_header(record)
        kind = frame_kind(head)
        self.stats.frames_ok += 1
        self.last_valid_mono = now.mono
        if kind != "phdb":
            self._emit(FrameEvent(True, kind, raw.wire_len, f"r_len={head.r_len}"))
            return
        rec = parse_phdb_record(record)
        parts = [f"{PH_TYPE_NAMES.get(t, t)}/{CLASS_NAMES.get(s.cls, s.cls)}" for t, s in rec.phdb]
        if rec.aux_nibp_time is not None:
            parts.append("aux")
        detail = f"nbr={head.r_nbr} level={head.dri_level} time={head.r_time} " + ",".join(parts)
        if rec.problems:
            detail += " (" + "; ".join(rec.problems) + ")"
        self._emit(FrameEvent(True, kind, raw.wire_len, detail))
        self._device_info("dri_level", str(head.dri_level))
        self._device_info("plug_id", str(head.plug_id))
        for sr_type, sub in rec.phdb:
            if sr_type == PH_DISPL and sub.cls == CLASS_BASIC:
                self._basic(sub, head, rec.aux_nibp_time, now)

    def _device_info(self, key: str, value: str) -> None:
        if self._info.get(key) != value:
            self._info[key] = value
            self._emit(DeviceInfoEvent(key, value))

    def _reading(
        self,
        param: Parameter,
        value: float | None,
        q: Quality | None,
        dev: datetime | None,
        now: CodecTime,
        extra: frozenset[Quality] = _NO_FLAGS,
    ) -> None:
        flags = _FLAG_SETS.get((extra, q))
        if flags is None:
            flags = _FLAG_SETS[(extra, q)] = extra | ({q} if q is not None else frozenset())
        self._emit(ReadingEvent(Reading(param, None if q is not None else value, now.wall, "", dev, flags,
                                        "device:ge")))

    def _scaled(self, g: Group, name: str, scale: float) -> tuple[float | None, Quality | None]:
        q = group_quality(g)
        raw = g.raw(name)
        if q is None:
            q = raw_quality(raw)
        if q is not None:
            return None, q
        return raw / scale, None

    def _basic(self, sub: Phdb, head: Header, aux_nibp_time: int | None, now: CodecTime) -> None:
        dev = unix_to_dt(sub.time) or unix_to_dt(head.r_time)
        ecg, spo2, co2 = sub.group("ecg"), sub.group("spo2"), sub.group("co2")

        v, q = self._scaled(ecg, "hr", 1)
        artifact = _ARTIFACT if ecg.status & (ECG_ST_NOISE | ECG_ST_ARTIFACT) else _NO_FLAGS
        self._reading(Parameter.HR, v, q, dev, now, artifact)

        v, q = self._scaled(spo2, "spo2", 100)
        self._reading(Parameter.SPO2, v, q, dev, now)
        v, q = self._scaled(spo2, "pr", 1)
        self._reading(Parameter.PR, v, q, dev, now)

        co2_busy = bool(co2.status & (CO2_ST_CALIBRATING | CO2_ST_ZEROING))
        # The monitor's apnea detection (bit 8, "apnea alarm deactivated", is a setting, not a finding).
        apnea = _APNEA if co2.status & ST_EXISTS and co2.status & (CO2_ST_APNEA | CO2_ST_APNEA_RESP) else _NO_FLAGS
        self._reading(Parameter.RR, *self._rr(ecg, co2, co2_busy), dev, now, apnea)

        temp = next((sub.group(t) for t in ("t1", "t2", "t3", "t4") if sub.group(t).status & ST_EXISTS), None)
        v, q = self._scaled(temp or sub.group("t1"), "temp", 100)
        self._reading(Parameter.TEMP, v, q, dev, now)

        self._reading(Parameter.ETCO2, *self._etco2(co2, co2_busy), dev, now, apnea)
        self._nibp(sub.group("nibp"), dev, aux_nibp_time, now)
        self._technical_alarms(technical_alarms(ecg.status, co2.status), now, "device:ge")

    def _rr(self, ecg: Group, co2: Group, co2_busy: bool) -> tuple[float | None, Quality | None]:
        """CO2-derived RR first, ECG impedance as fallback, unless the CO2 label names the source."""
        source = co2.label & CO2_RR_SOURCE_MASK if co2.status & ST_EXISTS else 0
        co2_rr = self._scaled(co2, "rr", 1)
        if co2_busy and co2_rr[1] is None:
            co2_rr = (None, Quality.CALIBRATING)
        imp_rr = self._scaled(ecg, "imp_rr", 1)
        if source == RR_SOURCE_IMPEDANCE:
            return imp_rr
        if source == RR_SOURCE_CO2 or co2_rr[1] is None:
            return co2_rr
        return imp_rr if imp_rr[1] is None else co2_rr

    def _etco2(self, co2: Group, co2_busy: bool) -> tuple[float | None, Quality | None]:
        """mmHg = et[1/100 %] * amb_press[1/10 mmHg] / 100000 (section 6)."""
        et, q = self._scaled(co2, "et", 1)
        if q is not None:
            return None, q
        if co2_busy:
            return None, Quality.CALIBRATING
        amb, q = self._scaled(co2, "amb_press", 1)
        if q is not None or not amb or amb <= 0:
            return None, q or Quality.INVALID
        return round(et * amb / 100000.0, 1), None

    def _nibp(self, g: Group, dev: datetime | None, aux_time: int | None, now: CodecTime) -> None:
        """Emit sys/dia/mean once per new cuff measurement (section 7)."""
        label = g.label if g.status & ST_EXISTS else 0
        measuring = bool(label & NIBP_MEASURING)
        busy = measuring or bool(label & NIBP_CALIBRATING)
        old = bool(label & NIBP_OLD)
        raws = (g.raw("sys"), g.raw("dia"), g.raw("mean"))
        gq = group_quality(g)
        quals = [gq or raw_quality(r) for r in raws]
        valid = all(q is None for q in quals)
        prev_measuring = self._nibp_prev_measuring
        self._nibp_prev_measuring = measuring
        if busy:
            return
        tup = (raws[0], raws[1], raws[2])
        if not valid:
            if prev_measuring:  # a cycle ended without values: say so once, as "no value"
                for param, q in zip((Parameter.NIBP_SYS, Parameter.NIBP_DIA, Parameter.NIBP_MEAN), quals):
                    self._reading(param, None, q or Quality.INVALID, dev, now)
            return
        if aux_time:  # the AUX time is the authoritative "new reading" signal when present
            new = aux_time != self._nibp_last_time and not (old and tup == self._nibp_last)
            if new:
                dev = unix_to_dt(aux_time) or dev
        else:
            if old and tup == self._nibp_last:
                return
            new = prev_measuring or (tup != self._nibp_last and not old)
        if not new:
            return
        self._nibp_last = tup
        self._nibp_last_time = aux_time
        for param, raw in zip((Parameter.NIBP_SYS, Parameter.NIBP_DIA, Parameter.NIBP_MEAN), tup):
            self._reading(param, raw / 100, None, dev, now)


def decode_capture(data: bytes, now: CodecTime, chunk: int = 0) -> tuple[list[object], GeDriCodec]:
    """Decode a whole raw capture (e.g. for ``ketachart decode``): all events plus the codec (for stats).
    ``chunk`` > 0 feeds it in pieces of that size, as a port would deliver it."""
    codec = GeDriCodec()
    if chunk <= 0:
        codec.receive_data(data, now)
    else:
        for i in range(0, len(data), chunk):
            codec.receive_data(data[i : i + chunk], now)
    return codec.events(), codec


__all__ = [
    "Deframer",
    "GeDriCodec",
    "Group",
    "Phdb",
    "build_record",
    "check_frame",
    "decode_capture",
    "displ_request",
    "encode_aux",
    "encode_frame",
    "encode_phdb",
    "parse_header",
    "parse_phdb",
    "parse_phdb_record",
    "parse_phdb_request",
    "parse_wave_request",
    "phdb_request",
    "stop_displ_request",
    "wave_request",
]

"""HL7 v2 ORU^R01 (IHE PCD-01 style) in MLLP framing: the monitor or gateway pushes, we parse and ACK.

Real clinics send through gateways that serve many beds, so a message is charted only when it is for this
chair: the bed (PV1-3) and/or the monitor (MSH-3, OBX-18) named in the chair's device settings, and the
open session's patient (PID-3). Messages for other beds are ignored and counted; a message naming another
patient is held until the nurse confirms or rejects it (``PatientMismatchEvent``, ``resolve_held``).

Vendors disagree on codes, units and separators (notes section 7), so an observation is identified by its
MDC code (or Philips MDIL ``0002-4182``), then by the reference-id text, then by LOINC; units are converted
to UCUM; every message gets exactly one ACK, in order, because monitors wait for it.
See ../shared/protocols/hl7-oru-mllp.md.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo

from ...domain.codes import MDC_ALIASES, Parameter
from ...domain.readings import Quality, Reading
from .base import (
    Codec,
    CodecTime,
    DeviceInfoEvent,
    DeviceSettings,
    FrameEvent,
    HeldResolvedEvent,
    LinkHint,
    PatientMismatchEvent,
    ReadingEvent,
    parse_decimal,
    register,
)

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"
MAX_MESSAGE = 1 << 20
NAN_MANTISSA = "8388607"  # 11073 FLOAT NaN, sent by at least one monitor with the probe off
APP_NAME = "KETACHART"
POSITIVE_ACK = "AA"  # UNCONFIRMED whether some monitors want CA when MSH-15 = AL
MAX_HELD = 7200  # readings kept per hold (an hour of 1 Hz HR and SpO2): older ones are dropped, counted

# Reference-id text -> parameter, for senders whose numeric code is wrong or private (vendor variants).
REF_IDS: dict[str, Parameter] = {
    "MDC_ECG_HEART_RATE": Parameter.HR,
    "MDC_ECG_CARD_BEAT_RATE": Parameter.HR,
    "MDC_PULS_RATE": Parameter.PR,
    "MDC_PULS_OXIM_PULS_RATE": Parameter.PR,
    "MDC_PULS_RATE_NON_INV": Parameter.PR,
    "MDC_PLETH_PULS_RATE": Parameter.PR,
    "MDC_PULS_OXIM_SAT_O2": Parameter.SPO2,
    "MDC_SAT_O2": Parameter.SPO2,
    "MDC_PRESS_BLD_NONINV_SYS": Parameter.NIBP_SYS,
    "MDC_PRESS_BLD_NONINV_DIA": Parameter.NIBP_DIA,
    "MDC_PRESS_BLD_NONINV_MEAN": Parameter.NIBP_MEAN,
    "MDC_PRESS_CUFF_SYS": Parameter.NIBP_SYS,
    "MDC_PRESS_CUFF_DIA": Parameter.NIBP_DIA,
    "MDC_PRESS_CUFF_MEAN": Parameter.NIBP_MEAN,
    "MDC_RESP_RATE": Parameter.RR,
    "MDC_TTHOR_RESP_RATE": Parameter.RR,
    "MDC_CO2_RESP_RATE": Parameter.RR,
    "MDC_AWAY_RESP_RATE": Parameter.RR,
    "MDC_AWAY_CO2_ET": Parameter.ETCO2,
    "MDC_CONC_AWAY_CO2_ET": Parameter.ETCO2,
    "MDC_TEMP": Parameter.TEMP,
    "MDC_TEMP_BODY": Parameter.TEMP,
    "MDC_PULS_OXIM_PERF_REL": Parameter.PI,
}

# Philips MDIL labels (OBX-3.2 with system MDIL) for senders whose code is private.
MDIL_LABELS: dict[str, Parameter] = {
    "HR": Parameter.HR, "PULSE": Parameter.PR, "SPO2": Parameter.SPO2, "SPO2 R": Parameter.SPO2,
    "NBPS": Parameter.NIBP_SYS, "NBPD": Parameter.NIBP_DIA, "NBPM": Parameter.NIBP_MEAN, "NBP S": Parameter.NIBP_SYS,
    "NBP D": Parameter.NIBP_DIA, "NBP M": Parameter.NIBP_MEAN, "RR": Parameter.RR, "RESP": Parameter.RR,
    "AWRR": Parameter.RR, "ETCO2": Parameter.ETCO2, "TEMP": Parameter.TEMP, "PERF": Parameter.PI,
}

# Numeric codes beyond the domain's aliases that monitors send for our parameters (MDC and Philips terms).
EXTRA_CODES: dict[int, Parameter] = {
    149538: Parameter.PR,  # 0x4822 pleth pulse rate (Philips NOM_PLETH_PULS_RATE)
}

# Temperature sites: MDC / Philips codes and reference ids -> the site kept on the reading.
TEMP_SITE_CODES: dict[int, str] = {
    150364: "body", 150368: "core", 150372: "esophageal", 150380: "nasopharyngeal", 150388: "skin",
    150392: "tympanic", 188420: "rectal", 188424: "oral", 188436: "blood", 188452: "axillary", 188456: "ear",
    188460: "ear", 192776: "oral", 192780: "axillary",
}
TEMP_SITE_REFS: dict[str, str] = {
    "MDC_TEMP_BODY": "body", "MDC_TEMP_CORE": "core", "MDC_TEMP_ESOPH": "esophageal",
    "MDC_TEMP_NASOPH": "nasopharyngeal", "MDC_TEMP_SKIN": "skin", "MDC_TEMP_TYMP": "tympanic",
    "MDC_TEMP_RECT": "rectal", "MDC_TEMP_ORAL": "oral", "MDC_TEMP_BLD": "blood", "MDC_TEMP_AXILLA": "axillary",
    "MDC_TEMP_AXIL": "axillary", "MDC_TEMP_EAR": "ear", "MDC_TEMP_CORE_BODY": "core",
    "TSKIN": "skin", "TCORE": "core", "TAXIL": "axillary", "TRECT": "rectal", "TORAL": "oral", "TBLOOD": "blood",
    "TESOPH": "esophageal", "TNASOP": "nasopharyngeal", "TTYMP": "tympanic",
}

LOINCS: dict[str, Parameter] = {
    "8867-4": Parameter.HR,
    "59408-5": Parameter.SPO2,
    "8480-6": Parameter.NIBP_SYS,
    "8462-4": Parameter.NIBP_DIA,
    "8478-0": Parameter.NIBP_MEAN,
    "9279-1": Parameter.RR,
    "8310-5": Parameter.TEMP,
    "19889-5": Parameter.ETCO2,
}

# Units: MDC unit code or free text -> UCUM; then converted into the parameter's canonical unit.
_MMHG_PER_KPA = 7.500615
_MMHG_PER_CMH2O = 0.7355592
UNIT_CODES: dict[str, str] = {
    "262688": "%",
    "264864": "/min",
    "264928": "/min",
    "266016": "mm[Hg]",
    "265987": "kPa",
    "266048": "cm[H2O]",
    "268192": "Cel",
    "266560": "[degF]",
    "268160": "[degF]",
}
UNIT_TEXT: dict[str, str] = {
    "%": "%", "PERCENT": "%", "MDC_DIM_PERCENT": "%",
    "/MIN": "/min", "BPM": "/min", "BEATS/MIN": "/min", "RPM": "/min", "BRPM": "/min", "{BEATS}/MIN": "/min",
    "{BREATHS}/MIN": "/min", "{BEAT}/MIN": "/min", "{BREATH}/MIN": "/min", "1/MIN": "/min",
    "MDC_DIM_BEAT_PER_MIN": "/min", "MDC_DIM_RESP_PER_MIN": "/min",
    "MMHG": "mm[Hg]", "MM[HG]": "mm[Hg]", "MM HG": "mm[Hg]", "MDC_DIM_MMHG": "mm[Hg]",
    "KPA": "kPa", "MDC_DIM_KILO_PASCAL": "kPa",
    "CMH2O": "cm[H2O]", "CM[H2O]": "cm[H2O]", "CM H2O": "cm[H2O]", "MDC_DIM_CM_H2O": "cm[H2O]",
    "CEL": "Cel", "DEGC": "Cel", "°C": "Cel", "C": "Cel", "MDC_DIM_DEGC": "Cel", "DEG C": "Cel",
    "[DEGF]": "[degF]", "DEGF": "[degF]", "°F": "[degF]", "F": "[degF]", "MDC_DIM_FAHR": "[degF]", "DEG F": "[degF]",
}
# (from UCUM, to UCUM) -> function
_CONVERSIONS = {
    ("kPa", "mm[Hg]"): lambda v: v * _MMHG_PER_KPA,
    ("cm[H2O]", "mm[Hg]"): lambda v: v * _MMHG_PER_CMH2O,
    ("[degF]", "Cel"): lambda v: (v - 32.0) * 5.0 / 9.0,
}

_DEDUP_SIZE = 4096
_MISSING = object()
_MDIL_CODE = re.compile(r"([0-9A-Fa-f]{4})-([0-9A-Fa-f]{4})")


def parse_hl7_time(text: str, default_zone: tzinfo = timezone.utc) -> datetime | None:
    """``YYYYMMDD[HH[MM[SS[.S...]]]][+/-ZZZZ]`` -> aware datetime, or None.

    A time sent without an offset is in the sender's local zone, which the wire does not say: it is read in
    ``default_zone`` (the device time zone of the chair's device settings, the chair's own zone by default)."""
    text = text.strip()
    if not text or not text.isascii():  # str.isdigit() accepts '³' and friends, which int() refuses
        return None
    zone = default_zone
    for sign in "+-":
        i = text.find(sign, 8)
        if i > 0:
            z = text[i + 1:]
            if len(z) != 4 or not z.isdigit() or int(z[:2]) > 23 or int(z[2:]) > 59:  # +2400: no such zone
                return None
            minutes = int(z[:2]) * 60 + int(z[2:])
            zone = timezone(timedelta(minutes=minutes if sign == "+" else -minutes))
            text = text[:i]
            break
    frac = 0
    if "." in text:
        text, f = text.split(".", 1)
        if not f.isdigit():
            return None
        frac = int((f + "000000")[:6])
    if not text.isdigit() or len(text) < 8 or len(text) % 2:
        return None
    parts = [int(text[0:4]), int(text[4:6]), int(text[6:8])] + [int(text[i:i + 2]) for i in range(8, len(text), 2)]
    try:
        return datetime(*parts[:6], frac, tzinfo=zone)  # type: ignore[misc]
    except (TypeError, ValueError):
        return None


def format_hl7_time(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S+0000")


def unescape(text: str, enc: str = "^~\\&") -> str:
    """HL7 escape sequences (``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\Xhh\\``) back to text; formatting ones dropped."""
    comp, rep, esc, sub = (enc + "^~\\&"[len(enc):])[:4] if len(enc) < 4 else enc[:4]
    if esc not in text:
        return text
    simple = {"F": "|", "S": comp, "T": sub, "R": rep, "E": esc}
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        j = text.find(esc, i + 1) if c == esc else -1
        if j < 0:
            out.append(c)
            i += 1
            continue
        seq = text[i + 1:j]
        if seq in simple:
            out.append(simple[seq])
        elif seq[:1] == "X" and len(seq) > 1 and len(seq) % 2 == 1:
            try:
                out.append(bytes.fromhex(seq[1:]).decode("latin-1"))
            except ValueError:
                pass
        # \.br\, \H\, \N\, \Cxxyy\ ...: formatting and character-set switches carry no text for us
        i = j + 1
    return "".join(out)


def frame(message: str) -> bytes:
    """Wrap one HL7 message (segments joined by CR) in MLLP start and end blocks."""
    body = message if message.endswith("\r") else message + "\r"
    return SB + body.encode("utf-8") + EB + CR


def build_ack(sender_app: str, version: str, control_id: str, ack_id: str, when: datetime, code: str = "AA",
              error: str | None = None, sender_facility: str = "", trigger: str = "R01") -> bytes:
    """The MLLP-framed ACK we send for one message (notes section 6): addressed back to the sender's
    application and facility (MSH-3/MSH-4 become our MSH-5/MSH-6), trigger event echoed."""
    segs = [
        f"MSH|^~\\&|{APP_NAME}||{sender_app}|{sender_facility}|{format_hl7_time(when)}||ACK^{trigger}^ACK|{ack_id}"
        f"|P|{version}",
        f"MSA|{code}|{control_id}",
    ]
    if error:
        segs.append(f"ERR||{error}")
    return frame("\r".join(segs))


def unit_of(unit_field: list[str]) -> str:
    """UCUM unit named by an OBX-6 field (MDC code, then text), or "" when not recognised."""
    ucum = ""
    if unit_field and unit_field[0]:
        ucum = UNIT_CODES.get(unit_field[0]) or UNIT_TEXT.get(unit_field[0].upper(), "")
        if not ucum and unit_field[0] in ("Cel", "kPa", "mm[Hg]", "cm[H2O]", "[degF]", "%", "/min"):
            ucum = unit_field[0]
    if not ucum and len(unit_field) > 1 and unit_field[1]:
        ucum = UNIT_TEXT.get(unit_field[1].upper(), "")
    return ucum


def convert_unit(param: Parameter, value: float, unit_field: list[str]) -> tuple[float, str, bool]:
    """Value in the parameter's canonical unit, the unit, and whether the unit was recognised."""
    ucum = unit_of(unit_field)
    canonical = param.unit
    if not ucum:
        known = not any(unit_field)
        return value, canonical, known
    if ucum == canonical:
        return value, canonical, True
    convert = _CONVERSIONS.get((ucum, canonical))
    if convert is not None:
        return convert(value), canonical, True
    return value, canonical, False


def _same(v: float) -> float:
    return v


def _conversion(param: Parameter, unit_field: list[str]) -> tuple[str, object]:
    """(canonical unit, converter) for a parameter and an OBX-6; converter None: unit not recognised."""
    ucum = unit_of(unit_field)
    if not ucum:
        return param.unit, (_same if not any(unit_field) else None)
    if ucum == param.unit:
        return param.unit, _same
    return param.unit, _CONVERSIONS.get((ucum, param.unit))


def identify(ident: list[str]) -> tuple[Parameter | None, str | None]:
    """OBX-3 components -> (parameter, temperature site)."""
    code = ident[0] if ident else ""
    ref = ident[1] if len(ident) > 1 else ""
    system = (ident[2] if len(ident) > 2 else "").upper()
    number: int | None = None
    if code.isascii() and code.isdigit() and system in ("MDC", ""):  # '³'.isdigit() is True
        number = int(code)
    elif system in ("MDIL", "MDC", "") and code.isascii():
        m = _MDIL_CODE.fullmatch(code)
        if m is not None:  # Philips MDIL: partition-term in hex, e.g. 0002-4182 (ECG heart rate)
            number = int(m.group(1), 16) * 65536 + int(m.group(2), 16)
    ref_key = ref.strip().upper()
    site = None
    if number is not None and number in TEMP_SITE_CODES:
        site = TEMP_SITE_CODES[number]
    elif ref_key in TEMP_SITE_REFS:
        site = TEMP_SITE_REFS[ref_key]
    if site is not None:
        return Parameter.TEMP, (None if site == "body" else site)
    param = None
    if number is not None:
        param = MDC_ALIASES.get(number) or EXTRA_CODES.get(number)
    if param is None and ref_key:
        param = REF_IDS.get(ref_key)
        if param is None and system == "MDIL":
            param = MDIL_LABELS.get(ref_key)
    if param is None and system == "LN":
        param = LOINCS.get(code)
    return param, None


def _same_place(configured: str, location: str, comp: str) -> bool:
    """Does PV1-3 (``unit^room^bed`` ...) name the configured bed? A setting with components must match
    them all (trailing empty ones ignored); a single word matches the whole field, its bed component
    (PV1-3.3) or its only non-empty component."""
    want = [c.strip().upper() for c in configured.split("^")]
    have = [c.strip().upper() for c in location.split(comp)]
    while want and not want[-1]:
        want.pop()
    while have and not have[-1]:
        have.pop()
    if not want or not have:
        return False
    if len(want) > 1:
        return want == have
    nonempty = [c for c in have if c]
    return want[0] in ("^".join(have), have[2] if len(have) > 2 else None) or nonempty == want


def _same_device(configured: str, field_value: str, comp: str) -> bool:
    """MSH-3 (HD) or OBX-18 (EI): the whole field or any of its non-empty components."""
    if not field_value:
        return False
    want = configured.strip().upper()
    parts = [p.strip().upper() for p in field_value.split(comp)]
    return want == field_value.strip().upper() or want in [p for p in parts if p]


@dataclass
class _Hold:
    hold_id: int
    mrn: str
    location: str
    readings: list[Reading] = field(default_factory=list)


@register("hl7")
class Hl7Codec(Codec):
    """MLLP deframer + ORU^R01 parser; ACKs every framed message through ``data_to_send``."""

    link_hint = LinkHint(baudrate=9600, quiet_time_s=90.0, tcp=True)

    def __init__(self) -> None:
        super().__init__()
        self._buf = bytearray()
        self._in_frame = False
        self._ack_seq = 0
        self._seen: OrderedDict[tuple, None] = OrderedDict()
        self.positive_ack = POSITIVE_ACK
        self.device_tz: tzinfo = timezone.utc  # zone of times sent without an offset (device settings)
        self._holds: dict[int, _Hold] = {}
        self._hold_by_mrn: dict[str, int] = {}
        self._accepted_mrns: set[str] = set()
        self._rejected_mrns: set[str] = set()
        self._next_hold = 1
        self._first_location: str | None = None
        self._beds_warned = False
        self._times: dict[str, datetime | None] = {}  # one message repeats its time in MSH, OBR and every OBX
        self._idents: dict[str, tuple[Parameter | None, str | None]] = {}
        self._units: dict[tuple[Parameter, str], tuple[str, object]] = {}

    def _time(self, text: str) -> datetime | None:
        when = self._times.get(text, _MISSING)
        if when is _MISSING:
            if len(self._times) > 256:
                self._times.clear()
            when = self._times[text] = parse_hl7_time(text, self.device_tz)
        return when  # type: ignore[return-value]

    def configure(self, settings: DeviceSettings) -> None:
        """Apply the chair's settings; the zone may have changed, so cached times are forgotten."""
        super().configure(settings)
        self._times.clear()

    # --- the open patient and held messages -------------------------------------------------------
    def set_patient(self, mrn: str | None) -> None:
        """A new chart is open (or none): holds for the previous one are dropped, its answers forgotten."""
        if (mrn or None) == self.settings.patient_mrn:
            return
        super().set_patient(mrn)
        self._drop_holds()
        self._accepted_mrns.clear()
        self._rejected_mrns.clear()

    def close(self, now: CodecTime) -> None:
        """The connection ended: its held messages can no longer be answered (the question is withdrawn)."""
        self._drop_holds()

    def _drop_holds(self) -> None:
        for hold in list(self._holds.values()):
            self.stats.ignored["held-dropped"] += len(hold.readings)
            self._emit(HeldResolvedEvent(hold.hold_id, False, len(hold.readings)))
        self._holds.clear()
        self._hold_by_mrn.clear()

    def resolve_held(self, hold_id: int, accept: bool, now: CodecTime) -> None:
        """The nurse confirmed (the monitor's patient is this chart's) or rejected a hold. A confirmed MRN is
        charted from then on; a rejected one is ignored (counted) until another chart is opened."""
        hold = self._holds.pop(hold_id, None)
        if hold is None:
            return
        self._hold_by_mrn.pop(hold.mrn, None)
        if accept:
            self._accepted_mrns.add(hold.mrn)
            for reading in hold.readings:
                self._emit(ReadingEvent(reading))
        else:
            self._rejected_mrns.add(hold.mrn)
            self.stats.ignored["rejected"] += len(hold.readings)
        self._emit(HeldResolvedEvent(hold_id, accept, len(hold.readings)))

    @property
    def held(self) -> dict[int, int]:
        """Open holds: hold id -> readings held."""
        return {h.hold_id: len(h.readings) for h in self._holds.values()}

    # --- framing ----------------------------------------------------------------------------------
    def _feed(self, data: bytes, now: CodecTime) -> None:
        buf = self._buf
        buf += data
        pos = 0
        n = len(buf)
        while pos < n:
            if not self._in_frame:
                sb = buf.find(SB, pos)
                if sb < 0:
                    self._junk(n - pos)
                    pos = n
                    break
                self._junk(sb - pos)
                pos = sb + 1
                self._in_frame = True
            eb = buf.find(EB, pos)
            sb2 = buf.find(SB, pos, eb if eb >= 0 else n)
            if sb2 >= 0:
                # A new start block before the end: the previous frame was cut off.
                self._bad_frame(sb2 - pos + 1, "start block inside a message: restarted")
                pos = sb2 + 1
                continue
            if eb < 0:
                if n - pos > MAX_MESSAGE:
                    self._bad_frame(n - pos, "message over 1 MiB dropped")
                    self._in_frame = False
                    pos = n
                break
            self._message(bytes(buf[pos:eb]), now)
            self._in_frame = False
            pos = eb + 1
            if pos < n and buf[pos] == 0x0D:
                pos += 1
        if self._in_frame:
            # keep the unfinished message (without its start block) for the next chunk
            del buf[:pos]
        else:
            buf.clear()

    def _junk(self, count: int) -> None:
        if count > 0:
            self.stats.junk_bytes += count

    def _bad_frame(self, length: int, why: str) -> None:
        self.stats.frames_bad += 1
        self.stats.junk_bytes += length
        self._emit(FrameEvent(False, "mllp", length, why))

    # --- messages ---------------------------------------------------------------------------------
    def _message(self, raw: bytes, now: CodecTime) -> None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        segments = [s for s in text.replace("\n", "\r").split("\r") if s]
        if not segments or not segments[0].startswith("MSH") or len(segments[0]) < 8:
            self._bad_frame(len(raw), "not an HL7 message (no MSH)")
            self._ack(now, "", "", "2.6", "", "AR", "R01")
            return
        msh_seg = segments[0]
        sep = msh_seg[3]
        msh = msh_seg.split(sep)
        enc = _get(msh, 1) or "^~\\&"
        comp = enc[0]
        # MSH-n is msh[n-1]
        sender = _get(msh, 2)
        facility = _get(msh, 3)
        msh_time = _get(msh, 6)
        mtype = _get(msh, 8).split(comp)
        control = _get(msh, 9)
        version = _get(msh, 11) or "2.6"
        kind = "^".join(mtype[:2])
        trigger = mtype[1] if len(mtype) > 1 and mtype[1] else "R01"
        self.stats.frames_ok += 1
        self.last_valid_mono = now.mono
        if mtype[:2] != ["ORU", "R01"]:
            self.stats.ignored["adt" if mtype[:1] == ["ADT"] else "not-oru"] += 1
            self._emit(FrameEvent(True, kind or "unknown", len(raw), "not ORU^R01: acknowledged and ignored"))
            self._ack(now, sender, facility, version, control, self.positive_ack, trigger)
            return
        count = self._oru(segments, sep, enc, sender, msh_time, now)
        self._emit(FrameEvent(True, kind, len(raw), f"control={control} readings={count}"))
        self._ack(now, sender, facility, version, control, self.positive_ack, trigger)

    def _oru(self, segments: list[str], sep: str, enc: str, sender: str, msh_time: str, now: CodecTime) -> int:
        comp = enc[0]
        settings = self.settings
        sender_parts = sender.split(comp)
        device_id = sender_parts[1] if len(sender_parts) > 1 and sender_parts[1] else sender
        mrns: list[str] = []
        location = ""
        for seg in segments[1:4]:
            tag = seg[:3]
            if tag == "PID":
                mrns = _mrns(_get(seg.split(sep), 3), enc)
            elif tag == "PV1":
                location = unescape(_get(seg.split(sep), 3), enc)
        # Which bed: the configured one. Unconfigured, every bed is read (the patient check still guards the
        # chart), and the nurse is told once when the connection carries several beds.
        if settings.bed:
            if not _same_place(settings.bed, location, comp):
                self.stats.ignored["other-bed"] += 1
                return 0
        elif location:
            if self._first_location is None:
                self._first_location = location
            elif location != self._first_location and not self._beds_warned:
                self._beds_warned = True
                self._emit(DeviceInfoEvent(
                    "warning", "messages for several beds on this connection: set this chair's bed (PV1-3) "
                               "in the device settings"))
        whole_monitor = not settings.monitor or _same_device(settings.monitor, unescape(sender, enc), comp)
        # Whose data: the open chart's patient, or held until the nurse says.
        hold: _Hold | None = None
        chart = (settings.patient_mrn or "").strip()
        if chart and mrns and chart.upper() not in (m.upper() for m in mrns):
            device_mrn = mrns[0]
            if device_mrn in self._rejected_mrns:
                self.stats.ignored["other-patient"] += 1
                return 0
            if device_mrn not in self._accepted_mrns:
                hold_id = self._hold_by_mrn.get(device_mrn)
                if hold_id is None:
                    hold_id = self._next_hold
                    self._next_hold += 1
                    self._holds[hold_id] = _Hold(hold_id, device_mrn, location)
                    self._hold_by_mrn[device_mrn] = hold_id
                hold = self._holds[hold_id]
        patient = mrns[0] if mrns else ""
        batch_time = self._time(msh_time)
        equipment = ""
        readings: list[Reading] = []
        for seg in segments[1:]:
            tag = seg[:3]
            if tag == "OBR":
                t = self._time(_get(seg.split(sep), 7))
                if t is not None:
                    batch_time = t
            elif tag == "OBX":
                f = seg.split(sep)
                eq = unescape(_get(f, 18), enc)
                if eq:
                    equipment = eq  # a containment row's equipment applies to the rows below it
                if not whole_monitor and not _same_device(settings.monitor or "", equipment, comp):
                    if _get(f, 2) in ("NM", "SN"):
                        self.stats.ignored["other-monitor"] += 1
                    continue
                r = self._obx(f, enc, batch_time, (patient, location, device_id), now)
                if r is not None:
                    readings.append(r)
        if hold is not None:
            hold.readings.extend(readings)
            if len(hold.readings) > MAX_HELD:
                self.stats.ignored["held-overflow"] += len(hold.readings) - MAX_HELD
                del hold.readings[:len(hold.readings) - MAX_HELD]
            self.stats.ignored["held"] += len(readings)
            self._emit(PatientMismatchEvent(hold.hold_id, hold.mrn, chart, location, len(hold.readings)))
            return 0
        for r in readings:
            self._emit(ReadingEvent(r))
        return len(readings)

    def _obx(self, f: list[str], enc: str, batch_time: datetime | None, who: tuple[str, str, str],
             now: CodecTime) -> Reading | None:
        vtype = _get(f, 2)
        if vtype not in ("NM", "SN"):
            return None  # containment rows, text, waveforms: not charted
        comp = enc[0]
        code_field = f[3] if len(f) > 3 else ""
        known = self._idents.get(code_field)
        if known is None:
            if len(self._idents) > 512:
                self._idents.clear()
            known = self._idents[code_field] = identify([unescape(c, enc) for c in code_field.split(comp)])
        param, site = known
        if param is None:
            self._emit(DeviceInfoEvent("unknown-observation", unescape(code_field, enc)))
            return None
        obs_time = (self._time(f[14]) if len(f) > 14 else None) or batch_time
        if obs_time is not None:
            key = (*who, _get(f, 3), _get(f, 4), obs_time)
            if key in self._seen:
                self.stats.ignored["repeat"] += 1
                return None  # monitors resend the last NIBP (and sometimes whole messages) unchanged
            self._seen[key] = None
            if len(self._seen) > _DEDUP_SIZE:
                self._seen.popitem(last=False)
        raw = _get(f, 5).strip()
        flags: set[Quality] = set()
        value: float | None = None
        unit = param.unit
        if vtype == "SN":
            raw, extra = _structured_numeric(raw, comp)
            flags |= extra
        if _get(f, 11) == "X" or not raw or raw == NAN_MANTISSA:
            flags.add(Quality.INVALID if raw or flags else Quality.UNAVAILABLE)
        else:
            value = parse_decimal(raw)
            if value is None:
                return None  # NM-typed text ("Other"), Unicode digits, nan: junk, as some vendors do routinely
            unit_field = f[6] if len(f) > 6 else ""
            conversion = self._units.get((param, unit_field))
            if conversion is None:
                if len(self._units) > 512:
                    self._units.clear()
                conversion = self._units[(param, unit_field)] = _conversion(
                    param, [unescape(c, enc) for c in unit_field.split(comp)])
            unit, convert = conversion
            if convert is None:
                flags.add(Quality.QUESTIONABLE)
            elif convert is not _same:
                value = convert(value)  # type: ignore[operator]
        if "DEMO" in _get(f, 8).upper():
            flags |= {Quality.DEMO, Quality.INVALID}  # never chart demo data as the patient's
        return Reading(param, value, now.wall, unit=unit, device_time=obs_time, flags=frozenset(flags),
                       source="device:hl7", site=site)

    def _ack(self, now: CodecTime, sender: str, facility: str, version: str, control: str, code: str,
             trigger: str) -> None:
        self._ack_seq += 1
        self._send(build_ack(sender, version, control, f"KC{self._ack_seq:06d}", now.wall, code,
                             sender_facility=facility, trigger=trigger))


def _structured_numeric(raw: str, comp: str) -> tuple[str, set[Quality]]:
    """SN ``[comparator]^num1[^separator^num2]`` -> (the number's text, flags). ``=`` or no comparator is
    a plain value; ``<``/``>`` (beyond the measuring range) and ratios or ranges are not one number."""
    parts = raw.split(comp)
    comparator = parts[0].strip()
    num1 = parts[1].strip() if len(parts) > 1 else (parts[0] if len(parts) == 1 and comparator not in "<>" else "")
    if len(parts) == 1:
        return raw, set()
    if len(parts) > 2 and any(p.strip() for p in parts[2:]):
        return "", {Quality.INVALID}
    if comparator in ("", "="):
        return num1, set()
    return "", {Quality.INVALID, Quality.OUT_OF_RANGE}


def _mrns(pid3: str, enc: str) -> list[str]:
    """Patient ids in PID-3 (repetitions of ``id^^^authority^type``), MR-typed ones first."""
    comp, rep = enc[0], enc[1] if len(enc) > 1 else "~"
    mr, other = [], []
    for cx in pid3.split(rep):
        parts = cx.split(comp)
        ident = unescape(parts[0], enc).strip()
        if not ident:
            continue
        (mr if len(parts) > 4 and parts[4].strip().upper() == "MR" else other).append(ident)
    return mr or other


def _get(fields: list[str], i: int) -> str:
    return fields[i] if i < len(fields) else ""

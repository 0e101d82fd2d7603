"""HL7 v2 ORU^R01 (IHE PCD-01 style) in MLLP framing: the monitor or gateway pushes, we parse and ACK.

Vendors disagree on codes, units and separators (notes section 7), so an observation is identified by
its MDC code, then by the reference-id text, then by LOINC; units are converted to UCUM; every message
gets exactly one ACK, in order, because monitors wait for it. See ../shared/protocols/hl7-oru-mllp.md.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta, timezone, tzinfo

from ...domain.codes import MDC_ALIASES, Parameter
from ...domain.readings import Quality, Reading
from .base import Codec, CodecTime, DeviceInfoEvent, FrameEvent, LinkHint, ReadingEvent, register

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"
MAX_MESSAGE = 1 << 20
NAN_MANTISSA = "8388607"  # 11073 FLOAT NaN, sent by at least one monitor with the probe off
APP_NAME = "KETACHART"
POSITIVE_ACK = "AA"  # UNCONFIRMED whether some monitors want CA when MSH-15 = AL

# Reference-id text -> parameter, for senders whose numeric code is wrong or private (vendor variants).
REF_IDS: dict[str, Parameter] = {
    "MDC_ECG_HEART_RATE": Parameter.HR,
    "MDC_ECG_CARD_BEAT_RATE": Parameter.HR,
    "MDC_PULS_RATE": Parameter.PR,
    "MDC_PULS_OXIM_PULS_RATE": Parameter.PR,
    "MDC_PULS_RATE_NON_INV": Parameter.PR,
    "MDC_PULS_OXIM_SAT_O2": Parameter.SPO2,
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
    "MDC_TEMP": Parameter.TEMP,
    "MDC_TEMP_BODY": Parameter.TEMP,
    "MDC_PULS_OXIM_PERF_REL": Parameter.PI,
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

# Units: MDC unit code or free text -> (UCUM, scale, offset) into the parameter's canonical unit.
_MMHG_PER_KPA = 7.500615
UNIT_CODES: dict[str, str] = {
    "262688": "%",
    "264864": "/min",
    "264928": "/min",
    "266016": "mm[Hg]",
    "265987": "kPa",
    "268192": "Cel",
    "266560": "[degF]",
    "268160": "[degF]",
}
UNIT_TEXT: dict[str, str] = {
    "%": "%", "PERCENT": "%", "MDC_DIM_PERCENT": "%",
    "/MIN": "/min", "BPM": "/min", "BEATS/MIN": "/min", "RPM": "/min", "BRPM": "/min", "{BEATS}/MIN": "/min",
    "{BREATHS}/MIN": "/min", "MDC_DIM_BEAT_PER_MIN": "/min", "MDC_DIM_RESP_PER_MIN": "/min",
    "MMHG": "mm[Hg]", "MM[HG]": "mm[Hg]", "MDC_DIM_MMHG": "mm[Hg]",
    "KPA": "kPa", "MDC_DIM_KILO_PASCAL": "kPa",
    "CEL": "Cel", "DEGC": "Cel", "°C": "Cel", "C": "Cel", "MDC_DIM_DEGC": "Cel",
    "[DEGF]": "[degF]", "DEGF": "[degF]", "°F": "[degF]", "F": "[degF]", "MDC_DIM_FAHR": "[degF]",
}

_DEDUP_SIZE = 512


def parse_hl7_time(text: str, default_zone: tzinfo = timezone.utc) -> datetime | None:
    """``YYYYMMDD[HH[MM[SS[.S...]]]][+/-ZZZZ]`` -> aware datetime, or None.

    A time sent without an offset is in the sender's local zone, which the wire does not say: it is read in
    ``default_zone`` (the codec's configurable ``device_tz``, UTC unless the clinic sets it)."""
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


def frame(message: str) -> bytes:
    """Wrap one HL7 message (segments joined by CR) in MLLP start and end blocks."""
    body = message if message.endswith("\r") else message + "\r"
    return SB + body.encode("utf-8") + EB + CR


def build_ack(sender_app: str, version: str, control_id: str, ack_id: str, when: datetime, code: str = "AA",
              error: str | None = None) -> bytes:
    """The MLLP-framed ACK we send for one message (notes section 6)."""
    segs = [
        f"MSH|^~\\&|{APP_NAME}||{sender_app}||{format_hl7_time(when)}||ACK^R01^ACK|{ack_id}|P|{version}",
        f"MSA|{code}|{control_id}",
    ]
    if error:
        segs.append(f"ERR||{error}")
    return frame("\r".join(segs))


def convert_unit(param: Parameter, value: float, unit_field: list[str]) -> tuple[float, str, bool]:
    """Value in the parameter's canonical unit, the unit, and whether the unit was recognised."""
    ucum = ""
    if unit_field and unit_field[0]:
        ucum = UNIT_CODES.get(unit_field[0]) or UNIT_TEXT.get(unit_field[0].upper(), "")
    if not ucum and len(unit_field) > 1 and unit_field[1]:
        ucum = UNIT_TEXT.get(unit_field[1].upper(), "")
    canonical = param.unit
    if not ucum:
        known = not any(unit_field)
        return value, canonical, known
    if ucum == canonical:
        return value, canonical, True
    if ucum == "kPa" and canonical == "mm[Hg]":
        return value * _MMHG_PER_KPA, canonical, True
    if ucum == "[degF]" and canonical == "Cel":
        return (value - 32.0) * 5.0 / 9.0, canonical, True
    return value, canonical, False


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
        self.device_tz: tzinfo = timezone.utc  # zone of times sent without an offset (clinic setting)

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
            self._ack(now, "", "2.6", "", "AR")
            return
        msh_seg = segments[0]
        sep = msh_seg[3]
        comp = msh_seg[4] if len(msh_seg) > 4 else "^"
        msh = msh_seg.split(sep)
        # MSH-n is msh[n-1]
        sender = _get(msh, 2)
        msh_time = _get(msh, 6)
        mtype = _get(msh, 8).split(comp)
        control = _get(msh, 9)
        version = _get(msh, 11) or "2.6"
        kind = "^".join(mtype[:2])
        if mtype[:2] != ["ORU", "R01"]:
            self.stats.frames_ok += 1
            self.last_valid_mono = now.mono
            self._emit(FrameEvent(True, kind or "unknown", len(raw), "not ORU^R01: acknowledged and ignored"))
            self._ack(now, sender, version, control, self.positive_ack)
            return
        self.stats.frames_ok += 1
        self.last_valid_mono = now.mono
        device_id = sender.split(comp)[1] if comp in sender and sender.split(comp)[1] else sender
        batch_time = parse_hl7_time(msh_time, self.device_tz)
        count = 0
        for seg in segments[1:]:
            tag = seg[:3]
            if tag == "OBR":
                f = seg.split(sep)
                t = parse_hl7_time(_get(f, 7), self.device_tz)
                if t is not None:
                    batch_time = t
            elif tag == "OBX":
                count += self._obx(seg.split(sep), comp, batch_time, device_id, now)
        self._emit(FrameEvent(True, kind, len(raw), f"control={control} readings={count}"))
        self._ack(now, sender, version, control, self.positive_ack)

    def _obx(self, f: list[str], comp: str, batch_time: datetime | None, device: str, now: CodecTime) -> int:
        if _get(f, 2) != "NM":
            return 0  # containment rows, text, waveforms: not charted
        ident = _get(f, 3).split(comp)
        code = ident[0] if ident else ""
        ref = ident[1] if len(ident) > 1 else ""
        system = ident[2] if len(ident) > 2 else ""
        param = None
        if code.isascii() and code.isdigit() and system in ("MDC", ""):  # '³'.isdigit() is True
            param = MDC_ALIASES.get(int(code))
        if param is None and ref:
            param = REF_IDS.get(ref)
        if param is None and system == "LN":
            param = LOINCS.get(code)
        if param is None:
            self._emit(DeviceInfoEvent("unknown-observation", _get(f, 3)))
            return 0
        obs_time = parse_hl7_time(_get(f, 14), self.device_tz) or batch_time
        if obs_time is not None:
            key = (device, _get(f, 3), _get(f, 4), obs_time)
            if key in self._seen:
                return 0  # monitors resend the last NIBP (and sometimes whole messages) unchanged
            self._seen[key] = None
            if len(self._seen) > _DEDUP_SIZE:
                self._seen.popitem(last=False)
        raw = _get(f, 5).strip()
        flags: set[Quality] = set()
        value: float | None = None
        unit = param.unit
        if _get(f, 11) == "X" or not raw or raw == NAN_MANTISSA:
            flags.add(Quality.INVALID if raw else Quality.UNAVAILABLE)
        else:
            try:
                value = float(raw)
            except ValueError:
                return 0  # NM-typed text ("Other"): skipped, as some vendors do this routinely
            if value != value or value in (float("inf"), float("-inf")):
                value = None
                flags.add(Quality.INVALID)
            else:
                value, unit, known = convert_unit(param, value, _get(f, 6).split(comp))
                if not known:
                    flags.add(Quality.QUESTIONABLE)
        if "DEMO" in _get(f, 8).upper():
            flags |= {Quality.DEMO, Quality.INVALID}  # never chart demo data as the patient's
        self._emit(
            ReadingEvent(
                Reading(param, value, now.wall, unit=unit, device_time=obs_time, flags=frozenset(flags),
                        source="device:hl7")
            )
        )
        return 1

    def _ack(self, now: CodecTime, sender: str, version: str, control: str, code: str) -> None:
        self._ack_seq += 1
        self._send(build_ack(sender, version, control, f"KC{self._ack_seq:06d}", now.wall, code))


def _get(fields: list[str], i: int) -> str:
    return fields[i] if i < len(fields) else ""

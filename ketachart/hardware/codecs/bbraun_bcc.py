"""B. Braun Space "BCC" (SpaceCom / ComDevice), read-only: ALIVE, then MEM:GET polls, ACK every block.

Frames carry a length and an 8-bit sum (both on the unstuffed frame), so a flipped byte is caught and
NAKed; the ComDevice then repeats the block. The codec accepts any valid frame in any state so that a
cyclic-mode ComDevice or a replayed capture still decodes. See ../shared/protocols/bbraun-bcc.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...domain.codes import Parameter
from ...domain.readings import Quality, Reading
from .base import Codec, CodecTime, DeviceInfoEvent, FrameEvent, LinkHint, ReadingEvent, parse_decimal, register

SOH, STX, ETX, EOT, ETB, RS = 0x01, 0x02, 0x03, 0x04, 0x17, 0x1E
ACK, NAK = b"\x06", b"\x15"
DEFAULT_BED = "1"
POLL_S = 5.0  # notes: ketachart polls every 5 s (configurable, floor 1 s)
ANSWER_TIMEOUT_S = 3.0  # no answer to a request in this long: ask again
MAX_FRAME = 65536
ALIVE_RETRIES = 3

_DESTUFF = re.compile(rb"E[EX]|e[ex]")
_DESTUFF_MAP = {b"EE": b"E", b"EX": b"D", b"ee": b"e", b"ex": b"d"}

# Dose-rate / concentration unit codes ([BCC] 3.4.2.3); the subset a ketamine clinic meets, in UCUM.
UNIT_CODES: dict[int, str] = {
    1: "mL/h", 2: "mL", 24: "mg", 25: "ug", 26: "g", 31: "mg/mL", 32: "ug/mL", 38: "mg/kg", 39: "ug/kg",
    44: "ng/min", 45: "ng/h", 47: "mg/min", 48: "mg/h", 49: "mg/d", 50: "ug/min", 51: "ug/h", 52: "ug/d",
    53: "g/min", 54: "g/h", 65: "ng/kg/min", 66: "ng/kg/h", 68: "mg/kg/min", 69: "mg/kg/h", 70: "mg/kg/d",
    71: "ug/kg/min", 72: "ug/kg/h", 73: "ug/kg/d", 74: "g/kg/min", 75: "g/kg/h", 106: "mg/m2/min",
    107: "mg/m2/h",
}

ALARM_NAMES: dict[str, str] = {
    "INA1": "battery-empty", "INA2": "syringe-empty", "INA3": "occlusion", "INA5": "standby-over",
    "INA6": "cc-alarm", "INA7": "end-of-volume", "INA8": "time-over", "INA9": "syringe-alarm",
    "INA11": "battery-pre-alarm", "INA12": "syringe-empty-pre-alarm", "INA13": "door-open",
    "INA14": "drop-alarm", "INA15": "air-alarm", "INA16": "kvo-end",
}

# ALARM1/ALARM2 bit words of SpaceCom 3.3x pumps (../shared/protocols/bbraun-bcc.md) as the same alarm keys the
# INA flags use (their words and severity are in domain/signal_alarms.py); a bit not listed keeps its number, so
# it still becomes an alert, never dropped.
ALARM_BITS: dict[str, dict[int, str]] = {
    "ALARM1": {
        1: "pump-data-corrupt", 2: "battery-alarm", 3: "pump-data-corrupt", 4: "pump-data-corrupt",
        5: "battery-empty", 6: "battery-missing", 7: "battery-empty", 8: "battery-cover-open", 9: "syringe-empty",
        10: "occlusion", 11: "occlusion", 12: "standby-over", 13: "end-of-volume", 14: "time-over",
        15: "claw-malfunction", 16: "pressure-sensor-defect", 17: "syringe-holder-open", 18: "syringe-misplaced",
        19: "kvo-end", 20: "upstream-occlusion", 22: "drop-alarm", 23: "drop-alarm", 24: "drop-alarm",
        25: "drop-alarm", 26: "free-flow", 27: "drop-sensor-missing", 28: "air-alarm", 29: "air-alarm",
        30: "air-alarm", 31: "air-sensor-fault",
    },
    "ALARM2": {
        1: "data-lock-manipulated", 2: "pca-limit", 3: "sgc-end", 4: "take-over-alarm", 5: "take-over-alarm",
        6: "take-over-alarm", 7: "free-flow",
    },
}
STATE_CODES = {"stopped": 0.0, "pumping": 1.0, "bolus": 2.0, "off": -1.0}
_VOLUMES = (("INRT", Parameter.PUMP_RATE), ("INVI", Parameter.PUMP_VI), ("INVTB", Parameter.PUMP_VTBI))
_NO_FLAGS: frozenset[Quality] = frozenset()
_NOT_AVAILABLE = frozenset({Quality.UNAVAILABLE})
_INVALID = frozenset({Quality.INVALID})
_INFERRED = frozenset({Quality.INFERRED})


def stuff(frame: bytes) -> bytes:
    """Character stuffing: D -> EX, E -> EE (and lower case), applied after the checksum is computed."""
    return frame.replace(b"E", b"EE").replace(b"e", b"ee").replace(b"D", b"EX").replace(b"d", b"ex")


def destuff(data: bytes) -> bytes:
    """One left-to-right pass (never search-and-replace): ``EEX`` -> ``EX``, ``EEEX`` -> ``ED``."""
    return _DESTUFF.sub(lambda m: _DESTUFF_MAP[m.group()], data) if b"E" in data or b"e" in data else data


def build_frame(bed_id: str, info: bytes | str, last: bool = True, stuffing: bool = True) -> bytes:
    """A whole BCC frame: SOH length STX bedId/1/1> info ETX|ETB checksum EOT."""
    if isinstance(info, str):
        info = info.encode("utf-8")
    body = b"\x02" + bed_id.encode("ascii") + b"/1/1>" + info + (b"\x03" if last else b"\x17")
    length = 1 + 5 + len(body) + 5 + 1
    head = b"\x01" + f"{length:05d}".encode()
    checksum = sum(head + body) % 256
    raw = head + body + f"{checksum:05d}".encode() + b"\x04"
    return stuff(raw) if stuffing else raw


@dataclass
class ParsedFrame:
    bed_id: str
    info: bytes
    last: bool
    stuffed: bool | None  # None: the frame reads the same either way


def parse_frame(wire: bytes) -> ParsedFrame | str:
    """Check one SOH..EOT frame (destuffed first, then as sent); return it parsed, or why it is invalid."""
    destuffed = destuff(wire)
    candidates = [(True, destuffed)] if destuffed == wire else [(True, destuffed), (False, wire)]
    first_reason = ""
    for stuffed, raw in candidates:
        reason = _check(raw)
        if reason is None:
            gt = raw.find(b">", 7)
            bed = raw[7:gt]
            if not bed.endswith(b"/1/1"):
                return "no bedId/1/1> address"
            if b"D" in wire or b"d" in wire:
                mode: bool | None = False  # a stuffed frame never contains D or d
            else:
                mode = None if destuffed == wire else stuffed
            return ParsedFrame(bed[:-4].decode("ascii", "replace"), raw[gt + 1:-7], raw[-7] == ETX, mode)
        first_reason = first_reason or reason
    return first_reason


def _check(raw: bytes) -> str | None:
    if len(raw) < 20 or raw[0] != SOH or raw[6] != STX or raw[-1] != EOT or raw[-7] not in (ETX, ETB):
        return "malformed frame"
    length, check = raw[1:6], raw[-6:-1]
    if not (length.isdigit() and check.isdigit()):
        return "malformed length or checksum"
    if int(length) != len(raw):
        return f"length {int(length)} != {len(raw)}"
    if int(check) != sum(raw[:-6]) % 256:
        return "checksum mismatch"
    if raw.find(b">", 7) < 0:
        return "no address"
    return None


def parse_number(text: str) -> float | None:
    if not text or text in ("_NV", "_NA"):
        return None
    return parse_decimal(text)  # strict: '1_0', Unicode digits, nan and inf are junk


_BITS = re.compile(r"[0-9]{1,10}|[0-9A-Fa-f]{1,8}")  # a u32: up to 10 decimal or 8 hex digits


def parse_bits(text: str) -> int | None:
    """ALARM1/STATUS1 words: decimal, or hex when they contain A-F (textual form UNCONFIRMED)."""
    if not text or text in ("_NV", "_NA") or _BITS.fullmatch(text) is None:
        return None
    value = int(text, 16) if any(c in "ABCDEFabcdef" for c in text) else int(text)
    return value if value <= 0xFFFFFFFF else None


@dataclass
class PumpBlock:
    """All quadruples of one pump address from one answer."""

    address: str
    values: dict[str, str] = field(default_factory=dict)


@register("bbraun")
class BBraunCodec(Codec):
    """Host side of BCC in request mode (tolerates cyclic packages)."""

    link_hint = LinkHint(baudrate=9600, bytesize=8, parity="N", stopbits=1, quiet_time_s=15.0)

    def __init__(self, poll_s: float = POLL_S, stuffing: bool = True) -> None:
        super().__init__()
        self.poll_s = max(1.0, poll_s)
        self.stuffing = stuffing
        self.bed_id: str | None = None
        self._buf = bytearray()
        self._state = "idle"  # idle -> alive -> polling -> waiting
        self._sent_mono: float | None = None
        self._next_poll: float | None = None
        self._retries = 0
        self._last_vi: dict[str, float] = {}  # pump address -> volume infused at the previous answer

    # --- requests ---------------------------------------------------------------------------------
    def start(self, now: CodecTime) -> bytes:
        """ADMIN:ALIVE with the default bedId: (re)starts the link."""
        self.needs_restart = False
        self._state = "alive"
        self._sent_mono = now.mono
        self._buf.clear()
        return build_frame(DEFAULT_BED, "ADMIN:ALIVE", stuffing=self.stuffing)

    def request(self, info: str) -> bytes:
        if self.bed_id is None:
            raise RuntimeError("no bedId yet: the ComDevice has not answered ADMIN:ALIVE")
        return build_frame(self.bed_id, info, stuffing=self.stuffing)

    def tick(self, now: CodecTime) -> None:
        if self._state == "alive":
            if self._sent_mono is not None and now.mono - self._sent_mono >= ANSWER_TIMEOUT_S:
                self.needs_restart = True  # the link sends start() again
        elif self._state == "polling":
            if self._next_poll is None or now.mono >= self._next_poll:
                self._poll(now)
        elif self._state == "waiting":
            if self._sent_mono is not None and now.mono - self._sent_mono >= ANSWER_TIMEOUT_S:
                self._retries += 1
                if self._retries >= ALIVE_RETRIES:
                    self._retries = 0
                    self.needs_restart = True
                else:
                    self._poll(now)

    def _poll(self, now: CodecTime) -> None:
        if self.bed_id is None:  # never got a GNACK: start over with ALIVE
            self._state, self.needs_restart = "alive", True
            return
        self._send(self.request("MEM:GET"))
        self._state = "waiting"
        self._sent_mono = now.mono

    # --- frames -----------------------------------------------------------------------------------
    def _feed(self, data: bytes, now: CodecTime) -> None:
        buf = self._buf
        buf += data
        pos = 0
        n = len(buf)
        while True:
            soh = buf.find(b"\x01", pos)
            if soh < 0:
                self.stats.junk_bytes += n - pos
                pos = n
                break
            self.stats.junk_bytes += soh - pos
            eot = buf.find(b"\x04", soh + 1)
            nxt = buf.find(b"\x01", soh + 1, eot if eot >= 0 else n)
            if nxt >= 0:
                self._bad(nxt - soh, "start of a new frame inside a frame")
                pos = nxt
                continue
            if eot < 0:
                if n - soh > MAX_FRAME:
                    self._bad(n - soh, "frame too long")
                    pos = n
                else:
                    pos = soh
                break
            self._frame(bytes(buf[soh:eot + 1]), now)
            pos = eot + 1
        del buf[:pos]

    def _bad(self, length: int, why: str) -> None:
        self.stats.frames_bad += 1
        self.stats.junk_bytes += length
        self._emit(FrameEvent(False, "bcc", length, why))

    def _frame(self, wire: bytes, now: CodecTime) -> None:
        parsed = parse_frame(wire)
        if isinstance(parsed, str):
            self._bad(len(wire), parsed)
            self._send(NAK)
            return
        self.stats.frames_ok += 1
        self.last_valid_mono = now.mono
        if parsed.stuffed is not None and parsed.stuffed != self.stuffing:
            self.stuffing = parsed.stuffed
            self._emit(DeviceInfoEvent("stuffing", "on" if parsed.stuffed else "off"))
        self._send(ACK)
        self._emit(FrameEvent(True, "block" if not parsed.last else "last-block", len(wire), parsed.bed_id))
        self._quadruples(parsed, now)
        if parsed.last and self._state in ("waiting", "alive"):
            if self._state == "alive":
                self._state = "polling"
                self._next_poll = now.mono  # poll straight away after ALIVE
            else:
                self._state = "polling"
                self._next_poll = now.mono + self.poll_s
            self._retries = 0
        elif self._state == "waiting":
            self._sent_mono = now.mono  # more blocks follow: the answer is still coming

    def _quadruples(self, parsed: ParsedFrame, now: CodecTime) -> None:
        text = parsed.info.decode("utf-8", "replace")
        pumps: dict[str, PumpBlock] = {}
        for quad in text.split("\x1e"):
            parts = quad.split(",", 3)
            if len(parts) < 3:
                continue
            _t, addr, param = parts[0], parts[1], parts[2]
            value = parts[3].rstrip("\r") if len(parts) > 3 else ""
            if param == "GNACK":
                if self.bed_id != parsed.bed_id:
                    self.bed_id = parsed.bed_id
                    self._emit(DeviceInfoEvent("bed-id", parsed.bed_id))
                continue
            if param == "GNERR":
                self._emit(DeviceInfoEvent("error", f"{addr}:{value}"))
                if self._state == "alive":
                    self.needs_restart = True
                continue
            if len(parts) == 3 and param.startswith("V"):
                self._emit(DeviceInfoEvent("version", param))
                continue
            if addr.startswith("501") and addr != "50100" and len(addr) == 5:
                pumps.setdefault(addr, PumpBlock(addr)).values[param] = value
        if self.bed_id is None and parsed.bed_id and parsed.bed_id != DEFAULT_BED:
            self.bed_id = parsed.bed_id
        for pump in pumps.values():
            self._pump(pump, now)

    def _pump(self, pump: PumpBlock, now: CodecTime) -> None:
        v = pump.values
        source = f"device:bbraun/{pump.address[3:]}"
        for key in ("GNNEW", "GNMODEL"):
            if key in v and v[key] not in ("_NV", "_NA"):
                self._emit(DeviceInfoEvent(f"model:{pump.address}", v[key]))
        drug = v.get("INSOL")
        if drug in (None, "_NV", "_NA", ""):
            drug = v.get("INSOLSN")
        if drug not in (None, "_NV", "_NA", ""):
            self._emit(DeviceInfoEvent(f"drug:{pump.address}", drug))
        numbers: dict[str, float | None] = {}
        for key, param in _VOLUMES:
            if key in v:
                numbers[key] = self._number(param, v[key], now, source)
        dose, unit_code = None, None
        if "DORT" in v:
            dose, unit_code = v["DORT"], v.get("DORTU")
        elif "INDORT" in v and v.get("INDOCAL", "1") != "0":
            dose, unit_code = v["INDORT"], v.get("INDORTU")
        if dose is not None:
            unit = UNIT_CODES.get(int(unit_code), f"{{unit-{unit_code}}}") if (unit_code or "").isascii() and (unit_code or "").isdigit() else "{unit-unknown}"  # never a guessed mg/h
            self._number(Parameter.PUMP_DOSE_RATE, dose, now, source, unit)
        if "INBOCNT" in v and (parse_number(v["INBOCNT"]) or 0) > 0:
            self._emit(DeviceInfoEvent(f"bolus:{pump.address}", f"{v['INBOCNT']} x {v.get('INBOVAL', '?')} mL"))
        state = self._state_of(v)
        flags = _NO_FLAGS
        if state is None:
            state = self._inferred_state(pump.address, numbers)
            flags = _INFERRED
        if "INVI" in numbers:
            vi = numbers["INVI"]
            if vi is None:
                self._last_vi.pop(pump.address, None)
            else:
                self._last_vi[pump.address] = vi
        if state is not None:
            self._emit(ReadingEvent(Reading(Parameter.PUMP_STATE, STATE_CODES[state], now.wall, source=source,
                                            text=state, flags=flags)))
        alarms = self._alarms_of(v)
        if alarms is not None:
            self._emit(ReadingEvent(Reading(Parameter.PUMP_ALARM, float(len(alarms)), now.wall, source=source,
                                            text=",".join(alarms) if alarms else "none")))

    def _inferred_state(self, address: str, numbers: dict[str, float | None]) -> str | None:
        """No INM2/INM3/STATUS1 (ComDevices set up to send only rate, VI and VTBI): a pump whose volume
        infused rose since the last answer with a rate set is pumping; a rate of 0, or a volume that did not
        move, is stopped. The first answer says nothing yet (a programmed rate alone is not running)."""
        rate = numbers.get("INRT")
        vi = numbers.get("INVI")
        before = self._last_vi.get(address)
        if rate == 0.0:
            return "stopped"
        if vi is None or before is None or rate is None:
            return None
        return "pumping" if vi > before else "stopped"

    def _number(self, param: Parameter, raw: str, now: CodecTime, source: str, unit: str = "") -> float | None:
        """Emit one numeric reading; returns the number as sent (None when there is none)."""
        value = parse_number(raw)
        flags: frozenset[Quality] = _NO_FLAGS
        if value is None:
            flags = _NOT_AVAILABLE if raw in ("_NV", "_NA") else _INVALID
        self._emit(ReadingEvent(Reading(param, value, now.wall, unit, None, flags, source)))
        return value

    @staticmethod
    def _state_of(v: dict[str, str]) -> str | None:
        if v.get("DSSTATUS") == "00050":
            return "off"
        status = parse_bits(v.get("STATUS1", ""))
        if status is not None:
            if status & ((1 << 10) | (1 << 11)):
                return "bolus"
            return "pumping" if status & (1 << 7) else "stopped"
        if "INM2" not in v and "INM3" not in v:
            return None
        if v.get("INM2") == "1":
            return "bolus"
        return "pumping" if v.get("INM3") == "1" else "stopped"

    @staticmethod
    def _alarms_of(v: dict[str, str]) -> list[str] | None:
        seen = False
        alarms: list[str] = []
        for key, name in ALARM_NAMES.items():
            if key in v:
                seen = True
                if v[key] == "1":
                    alarms.append(name)
        for key in ("ALARM1", "ALARM2"):
            bits = parse_bits(v.get(key, ""))
            if bits is not None:
                seen = True
                names = ALARM_BITS[key]
                for bit in range(1, 32):  # bit 0 is "no alarm"
                    word = names.get(bit, f"{key.lower()}-bit-{bit}")
                    if bits & (1 << bit) and word not in alarms:
                        alarms.append(word)
        run = parse_bits(v.get("RUNSTATE", ""))
        if run is not None:
            seen = True
            if run & 4 and not alarms:
                alarms.append("alarm")
        return alarms if seen else None

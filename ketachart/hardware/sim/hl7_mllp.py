"""HL7 ORU^R01 sender (a monitor's HL7 export): periodic vitals, an NIBP message after each cuff cycle.

It waits for the MLLP ACK of every message and resends once with the same control id when none comes,
as monitors do. ``artifacts`` injects the deviations seen in public captures (hl7-oru-mllp.md section 9).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ..codecs.hl7_mllp import EB, SB, format_hl7_time, frame
from .base import DeviceSim, register

SENDER = "KETASIM^0012A3FFFE4B5C6D^EUI-64"
EUI = "0012A3FFFE4B5C6D"
PROFILE = "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
NIBP_SEND_DELAY_S = 27.0

# (metric code, reference id, sub-id, unit code, unit reference)
HR = ("147842", "MDC_ECG_HEART_RATE", "1.1.1.147842", "264864", "MDC_DIM_BEAT_PER_MIN")
SPO2 = ("150456", "MDC_PULS_OXIM_SAT_O2", "1.2.1.150456", "262688", "MDC_DIM_PERCENT")
PR = ("149530", "MDC_PULS_OXIM_PULS_RATE", "1.2.1.149530", "264864", "MDC_DIM_BEAT_PER_MIN")
RR = ("151562", "MDC_RESP_RATE", "1.4.1.151562", "264928", "MDC_DIM_RESP_PER_MIN")
TEMP = ("150344", "MDC_TEMP", "1.5.1.150344", "268192", "MDC_DIM_DEGC")
SYS = ("150021", "MDC_PRESS_BLD_NONINV_SYS", "1.3.1.150021", "266016", "MDC_DIM_MMHG")
DIA = ("150022", "MDC_PRESS_BLD_NONINV_DIA", "1.3.1.150022", "266016", "MDC_DIM_MMHG")
MEAN = ("150023", "MDC_PRESS_BLD_NONINV_MEAN", "1.3.1.150023", "266016", "MDC_DIM_MMHG")
NIBP_PR = ("149546", "MDC_PULS_RATE_NON_INV", "1.3.1.149546", "264864", "MDC_DIM_BEAT_PER_MIN")


def segment(tag: str, fields: dict[int, str]) -> str:
    """A segment from {field number: text}; missing fields are empty."""
    top = max(fields) if fields else 0
    return "|".join([tag] + [fields.get(i, "") for i in range(1, top + 1)])


def build_oru(control: str, sent: datetime, measured: datetime, rows: list[tuple[tuple, str]],
              nibp: bool = False, flags: dict[int, str] | None = None) -> str:
    """One ORU^R01 message in the layout of the notes' examples A (periodic) and B (``nibp=True``)."""
    ts, tm = format_hl7_time(sent), format_hl7_time(measured)
    segs = [
        f"MSH|^~\\&|{SENDER}||KETACHART||{ts}||ORU^R01^ORU_R01|{control}|P|2.6|||AL|NE||UNICODE UTF-8|||{PROFILE}",
        "PID|||MRN4711^^^KETA^MR||DOE^JANE^^^^^L",
        "PV1||I|KETA^CHAIR^07",
        segment("OBR", {1: "1", 2: f"{control}^{SENDER}", 3: f"{control}^{SENDER}",
                        4: "182777000^monitoring of patient^SCT", 7: tm}),
    ]
    if nibp:
        segs.append(segment("OBX", {1: "1", 3: "150020^MDC_PRESS_BLD_NONINV^MDC", 4: "1.3.1.150020", 11: "X",
                                    14: tm}))
    else:
        segs.append(segment("OBX", {1: "1", 3: "69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC", 4: "1.0.0.0",
                                    11: "X", 18: f"{EUI}^EUI-64"}))
    for i, (m, value) in enumerate(rows, start=2):
        f = {1: str(i), 2: "NM", 3: f"{m[0]}^{m[1]}^MDC", 4: m[2], 5: value, 6: f"{m[3]}^{m[4]}^MDC", 11: "R",
             14: tm}
        if nibp:
            f[17] = "^APERIODIC"
        if flags and i in flags:
            f[8] = flags[i]
        segs.append(segment("OBX", f))
    return "\r".join(segs)


@register("hl7")
class Hl7Sim(DeviceSim):
    period_s = 10.0
    ack_timeout_s = 10.0

    def __init__(self, scenario: str = "ketamine", seed: int = 1) -> None:
        super().__init__(scenario, seed)
        self.wall_at_zero = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
        self._next: float | None = None
        self._nibp_times = self.patient.nibp_times(-3600.0, 8 * 3600.0)
        self._nibp_idx = 0
        self._seq = 0
        self._pending: dict[str, tuple[float, bytes, bool]] = {}
        self._rx = bytearray()
        self.acks: list[tuple[str, str]] = []  # (MSA-1, MSA-2) seen, for tests

    def receive_data(self, data: bytes, t: float) -> None:
        self._rx += data
        while True:
            sb = self._rx.find(SB)
            eb = self._rx.find(EB, sb + 1) if sb >= 0 else -1
            if sb < 0 or eb < 0:
                if sb < 0:
                    self._rx.clear()
                return
            msg = self._rx[sb + 1:eb].decode("utf-8", "replace")
            del self._rx[:eb + 1]
            for seg in msg.replace("\n", "\r").split("\r"):
                if seg.startswith("MSA|"):
                    f = seg.split("|")
                    if len(f) > 2:
                        self.acks.append((f[1], f[2]))
                        self._pending.pop(f[2], None)

    def tick(self, t: float) -> None:
        if self._next is None or t - self._next > 3 * self.period_s:
            self._next = t
        while t >= self._next:
            self._periodic(self._next)
            self._next += self.period_s
        times = self._nibp_times
        while self._nibp_idx < len(times) and t >= times[self._nibp_idx] + NIBP_SEND_DELAY_S:
            nt = times[self._nibp_idx]
            self._nibp_idx += 1
            if t - nt < 300:  # a cuff cycle long before the sim started is not reported
                self._nibp(nt, t)
        for control, (sent_t, data, resent) in list(self._pending.items()):
            if t - sent_t >= self.ack_timeout_s:
                if resent:
                    del self._pending[control]  # logged by a real device; we give up
                else:
                    self._pending[control] = (t, data, True)
                    self._send(data)

    def _wall(self, t: float) -> datetime:
        return self.wall_at_zero + timedelta(seconds=round(t))

    def _control(self) -> str:
        self._seq += 1
        return f"KS{self._seq:06d}"

    def _periodic(self, t: float) -> None:
        v = self.patient.vitals_at(t)
        control = self._control()
        probe_off = self.scenario == "artifacts" and self._seq % 8 == 0 or self.patient.probe_off(t)
        pulse = v.hr - 1 if v.pr is None else v.pr
        rows = [(HR, f"{v.hr:g}"), (SPO2, "8388607" if probe_off else f"{v.spo2:g}"),
                (PR, "8388607" if probe_off else f"{pulse:g}"),
                (RR, f"{v.rr:g}"), (TEMP, f"{v.temp:.1f}")]
        msg = build_oru(control, self._wall(t), self._wall(t), rows)
        data = self._artifact(msg, t) if self.scenario == "artifacts" else frame(msg)
        self._pending[control] = (t, data, False)
        self._send(data)

    def _nibp(self, measured_t: float, t: float) -> None:
        bp = self.patient.nibp_at(measured_t)
        rows = [(SYS, f"{bp.sys:g}"), (DIA, f"{bp.dia:g}"), (MEAN, f"{bp.mean:g}"), (NIBP_PR, f"{bp.pulse:g}")]
        control = self._control()
        data = frame(build_oru(control, self._wall(t), self._wall(measured_t), rows, nibp=True))
        self._pending[control] = (t, data, False)
        self._send(data)

    def _artifact(self, msg: str, t: float) -> bytes:
        """Vendor deviations and line faults, one per message in turn."""
        k = self._seq % 8
        if k == 1:
            return b"\x00garbage\xff" + frame(msg.replace("\r", "\n"))  # LF separators
        if k == 2:
            return frame(msg)[:-1]  # no final CR after the end block
        if k == 3:
            return b"\x0b" + frame(msg)[:40] + frame(msg)  # half frame, then the whole message
        if k == 4:
            return frame(msg) + b"\r\n"  # trailing junk after the end block
        if k == 5:
            adt = f"MSH|^~\\&|{SENDER}||KETACHART||{format_hl7_time(self._wall(t))}||ADT^A08|ADT{self._seq}|P|2.6"
            return frame(adt) + frame(msg)
        if k == 6:
            return frame(msg + "\rOBX|9|NM|2279^COMEN_PAIN_LEVEL^99COMEN|1.9.1.2279|3||||||R")
        if k == 7:
            return frame(msg.replace("|||||R|||", "||DEMO|||R|||", 1))
        return frame(msg)

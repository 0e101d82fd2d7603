"""A GE S/5-family monitor on the Computer Interface: silent until asked, then pushes PHDB records.

Built from the codec module's encoder so the sim and the codec share one definition of the bytes
(spec: /work/shared/protocols/ge-s5-dri.md, section 8 is the behaviour checklist).
"""

from __future__ import annotations

import bisect
import math
import random

from ..codecs.ge_dri import (
    CLASS_BASIC,
    CLASS_EXT1,
    CLASS_EXT2,
    CLASS_EXT3,
    CO2_ST_APNEA,
    DATA_INVALID,
    DATA_NOT_UPDATED,
    DATA_OVER_RANGE,
    DENY_BASIC,
    MIN_DISPL_INTERVAL_S,
    MT_PHDB,
    NIBP_AUTO,
    NIBP_MEASURING,
    NIBP_OLD,
    PH_10S_TREND,
    PH_60S_TREND,
    PH_DISPL,
    REQ_EXT1,
    REQ_EXT2,
    REQ_EXT3,
    SR_REQUEST,
    Deframer,
    Group,
    Phdb,
    build_record,
    check_frame,
    encode_frame,
    encode_phdb,
    parse_header,
    parse_phdb_request,
)
from .base import DeviceSim, register

DRI_LEVEL = 11  # CARESCAPE '15
SIM_EPOCH = 1_767_600_000  # Unix seconds of infusion start t=0 (2026-01-05T08:00:00Z): device clock
NIBP_INFLATE_S = 35.0  # UNCONFIRMED (illustrative): cuff busy before the result appears
NIBP_OLD_AFTER_S = 60.0  # label bit 8 set this long after the measurement ended
SINGLE_RATE_LIMIT_S = 5.0  # a second -1 request within 5 s is ignored
TREND_PERIOD_S = {PH_10S_TREND: 10.0, PH_60S_TREND: 60.0}
AMB_PRESS = 7600  # 760.0 mmHg
AMB_PRESS_ESCAPED = 0x1D7E  # 755.0 mmHg: contains 0x7E, so every record needs escaping (artifacts)
NIBP_WINDOW_S = (-3600.0, 12 * 3600.0)  # when the cuff schedule is generated for

# Status words: exists|active; ECG adds "HR source = ECG" (bits 3..6 = 1).
ST_ON = 0x0003
ST_PROBE_OFF = 0x0001
ECG_STATUS = 0x000B
ECG_LABEL = 0x0271  # II, V, I
CO2_LABEL_RR_FROM_CO2 = 0x0001
TEMP_LABEL_AXIL = 6

# Artifact scenario rates (per pushed record).
P_GARBAGE = 0.3
P_HALF_FRAME = 0.15
P_BAD_CHECKSUM = 0.1
P_INVALID_MARKER = 0.2


@register("ge")
class GeDriSim(DeviceSim):
    """Device side of :class:`~ketachart.hardware.codecs.ge_dri.GeDriCodec`.

    ``log`` records what an artifact run injected (t, what) so tests can check the decoder against it.
    ``cts`` False models the host holding CTS off: records due meanwhile are not sent.
    ``patient_case`` gates the trend subscriptions, as on the monitor.
    """

    def __init__(self, scenario: str = "ketamine", seed: int = 1) -> None:
        super().__init__(scenario=scenario, seed=seed)
        self.epoch = SIM_EPOCH
        self.cts = True
        self.patient_case = True
        self.log: list[tuple[float, str]] = []
        self.sent_records = 0
        self._rng = random.Random(seed * 7717 + 1)
        self._rx = Deframer()
        self._nbr = 0
        self._nibp_times = self.patient.nibp_times(*NIBP_WINDOW_S)
        self.power_cycle()

    # --- host side ---------------------------------------------------------------------------------
    def power_cycle(self) -> None:
        """Forget every subscription, as a monitor that was switched off and on."""
        self._displ_ival: float | None = None
        self._displ_next = 0.0
        self._classes = 0
        self._single_due: float | None = None
        self._last_single: float | None = None
        self._trends: dict[int, float] = {}  # sr_type -> next due

    def receive_data(self, data: bytes, t: float) -> None:
        """Requests may arrive split across reads; malformed ones are ignored silently."""
        for raw in self._rx.feed(data):
            if raw.data is None:
                continue
            record, _ = check_frame(raw.data)
            if record is None:
                continue
            head = parse_header(record)
            if head.maintype != MT_PHDB or not head.subrecords or head.subrecords[0][1] != SR_REQUEST:
                continue  # waveform/alarm requests: this monitor has nothing to send
            req = parse_phdb_request(record)
            if req is not None:
                self._request(req.rcrd_type, req.tx_ival, req.class_bf, t)

    def _request(self, rtype: int, ival: int, classes: int, t: float) -> None:
        if rtype == PH_DISPL:
            if ival == 0:
                self._displ_ival = None
                self._trends.clear()  # trends need DISPL
            elif ival == -1:
                if self._last_single is None or t - self._last_single >= SINGLE_RATE_LIMIT_S:
                    self._last_single = t
                    self._single_due = t
                    self._classes = classes
            elif ival > 0:
                self._displ_ival = float(max(ival, MIN_DISPL_INTERVAL_S))  # 1..4 clamped: UNCONFIRMED
                self._displ_next = t
                self._classes = classes
        elif rtype in TREND_PERIOD_S:
            if ival == 0:
                self._trends.pop(rtype, None)
            elif self._displ_ival is not None:
                self._trends[rtype] = t + TREND_PERIOD_S[rtype]

    # --- device clock ------------------------------------------------------------------------------
    def tick(self, t: float) -> None:
        if self._single_due is not None and t >= self._single_due:
            self._single_due = None
            self._push(t, PH_DISPL)
        if self._displ_ival is not None and t >= self._displ_next:
            self._push(t, PH_DISPL)
            # Keep the cadence on the grid; skip missed slots rather than bursting.
            steps = math.floor((t - self._displ_next) / self._displ_ival) + 1
            self._displ_next += steps * self._displ_ival
        for rtype, due in list(self._trends.items()):
            if t >= due:
                if self.patient_case:
                    self._push(t, rtype)
                self._trends[rtype] = due + TREND_PERIOD_S[rtype] * (
                    math.floor((t - due) / TREND_PERIOD_S[rtype]) + 1
                )

    def _push(self, t: float, sr_type: int) -> None:
        if not self.cts:
            self.log.append((t, "cts-off: record dropped"))
            return
        stamp = math.floor(t)
        subs = [(sr_type, encode_phdb(self.basic_at(stamp)))] if not self._classes & DENY_BASIC else []
        for bit, cls in ((REQ_EXT1, CLASS_EXT1), (REQ_EXT2, CLASS_EXT2), (REQ_EXT3, CLASS_EXT3)):
            if self._classes & bit:
                subs.append((sr_type, encode_phdb(Phdb(self.epoch + stamp, cls=cls))))
        record = build_record(
            MT_PHDB, subs, r_nbr=self._nbr, dri_level=DRI_LEVEL, r_time=self.epoch + stamp
        )  # r_nbr increments per record: UNCONFIRMED
        self._nbr = (self._nbr + 1) & 0xFF
        frame = encode_frame(record)
        if self.scenario == "artifacts":
            self._artifacts(t, frame)
        self._send(frame)
        self.sent_records += 1

    def _artifacts(self, t: float, frame: bytes) -> None:
        """Junk the codec must skip without losing the real frame that follows it."""
        rng = self._rng
        if rng.random() < P_GARBAGE:
            junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
            self._send(junk)
            self.log.append((t, f"garbage {len(junk)}"))
        if rng.random() < P_HALF_FRAME:
            self._send(frame[: rng.randint(2, len(frame) - 2)])
            self.log.append((t, "half frame"))
        if rng.random() < P_BAD_CHECKSUM:
            bad = bytearray(frame)
            k = rng.randrange(1, len(bad) - 1)
            bad[k] = (bad[k] + 1) & 0xFF
            if bad[k] in (0x7E, 0x7D):
                bad[k] = 0x33
            self._send(bytes(bad))
            self.log.append((t, "corrupted copy"))

    # --- the displayed values ----------------------------------------------------------------------
    def nibp_state(self, t: float) -> tuple[tuple[int, int, int] | None, int]:
        """(sys, dia, mean) in 1/100 mmHg shown at device time t, and the NIBP label word."""
        times = self._nibp_times
        label = NIBP_AUTO
        # A cycle at T inflates during [T - NIBP_INFLATE_S, T) and shows nibp_at(T) from T on.
        k = bisect.bisect_right(times, t) - 1  # last result time <= t
        nxt = times[k + 1] if k + 1 < len(times) else None
        if nxt is not None and t >= nxt - NIBP_INFLATE_S:
            label |= NIBP_MEASURING
        if k < 0:
            return None, label
        done = times[k]
        n = self.patient.nibp_at(done)
        if t >= done + NIBP_OLD_AFTER_S:
            label |= NIBP_OLD
        return (round(n.sys * 100), round(n.dia * 100), round(n.mean * 100)), label

    def basic_at(self, stamp: int) -> Phdb:
        """The BASIC subrecord for device second ``stamp`` (values from the patient at that second)."""
        v = self.patient.vitals_at(stamp)
        amb = AMB_PRESS_ESCAPED if self.scenario == "artifacts" else AMB_PRESS
        groups = {
            "ecg": Group(ECG_STATUS, ECG_LABEL, {"hr": int(v.hr), "imp_rr": int(v.rr)}),
            "ecg_extra": Group(values={"hr_ecg": int(v.hr)}),
            "spo2": Group(ST_ON, 0, {"spo2": round(v.spo2 * 100), "pr": int(v.pulse), "ir_amp": round(v.pi * 100)}),
            "co2": Group(
                ST_ON | (CO2_ST_APNEA if self.patient.apnea(stamp) else 0),
                CO2_LABEL_RR_FROM_CO2,
                {"et": round(v.etco2 * 100000 / amb), "fi": 0, "rr": int(v.rr), "amb_press": amb},
            ),
            "t1": Group(ST_ON, TEMP_LABEL_AXIL, {"temp": round(v.temp * 100)}),
        }
        tup, label = self.nibp_state(stamp)
        nibp = Group(ST_ON, label)
        if tup is not None:
            nibp.values.update(sys=tup[0], dia=tup[1], mean=tup[2])
        groups["nibp"] = nibp
        if self.patient.probe_off(stamp):
            groups["spo2"] = Group(ST_PROBE_OFF, 0, {})
        if self.scenario == "artifacts" and self._rng.random() < P_INVALID_MARKER:
            self._invalid_marker(stamp, groups)
        return Phdb(self.epoch + stamp, CLASS_BASIC, groups)

    def _invalid_marker(self, stamp: int, groups: dict[str, Group]) -> None:
        which = self._rng.choice(("spo2-off", "temp-stale", "et-over", "hr-invalid"))
        if which == "spo2-off":
            groups["spo2"] = Group(ST_PROBE_OFF, 0, {})
        elif which == "temp-stale":
            groups["t1"].values["temp"] = DATA_NOT_UPDATED
        elif which == "et-over":
            groups["co2"].values["et"] = DATA_OVER_RANGE
        else:
            groups["ecg"].values["hr"] = DATA_INVALID
        self.log.append((float(stamp), which))

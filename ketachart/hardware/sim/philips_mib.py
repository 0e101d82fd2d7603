"""An IntelliVue monitor's end of the MIB/RS-232 data export, fed by the simulated patient.

It waits for the host's association request, accepts it (refusing a second one), sends the MDS Create
Event, answers extended polls for numerics about once a second until the poll period ends, answers
single polls (keep-alives) and releases, and silently drops an association the host has left quiet for the
negotiated timeout. Frames and PDUs come from the codec module, so both ends share one description.

Device clock: ``device_epoch`` is the monitor's wall clock at sim time 0 and ``rel_epoch`` its
RelativeTime there; both are attributes so tests can put the 32-bit rollover where they want it.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..codecs import philips_mib as mib
from . import philips_wire as wire
from .base import DeviceSim, register

SIM_DEVICE_EPOCH = datetime(2024, 3, 15, 10, 30, 0)  # monitor wall clock (local, naive) at t = 0
SIM_REL_EPOCH = 0x3ADE4FF0
RESULT_INTERVAL_S = 1.0
NIBP_SCHEDULE_START_S = -3600.0  # the cuff cycles on the patient's schedule from an hour before the start
NIBP_SCHEDULE_END_S = 12 * 3600.0

# "artifacts" scenario: chance per poll result of each kind of trouble.
P_GARBAGE = 0.15
P_HALF_FRAME = 0.10
P_ESC_ABORT = 0.05
P_CORRUPT = 0.05
P_BAD_STATE = 0.08
# Handles chosen so every artifacts frame carries bytes that must be escaped.
ARTIFACT_HANDLES = {"hr": 0x7DC0, "spo2": 0xC17D}

# One numeric each: (key, handle, label, physio id, unit, decimals).
SIM_NUMERICS = (
    ("hr", 0x0010, mib.NOM_ECG_CARD_BEAT_RATE, mib.NOM_ECG_CARD_BEAT_RATE, mib.UNIT_BPM, 0),
    ("spo2", 0x0011, mib.NOM_PULS_OXIM_SAT_O2, mib.NOM_PULS_OXIM_SAT_O2, mib.UNIT_PERCENT, 0),
    ("pr", 0x0013, mib.NOM_PLETH_PULS_RATE, mib.NOM_PLETH_PULS_RATE, mib.UNIT_BPM, 0),
    ("rr", 0x0014, mib.NOM_RESP_RATE, mib.NOM_RESP_RATE, mib.UNIT_RESP_PER_MIN, 0),
    ("etco2", 0x0015, mib.NOM_AWAY_CO2, mib.NOM_AWAY_CO2_ET, mib.UNIT_MMHG, 0),
    ("temp", 0x0016, mib.NOM_TEMP, mib.NOM_TEMP, mib.UNIT_DEGC, 1),
    ("pi", 0x0017, mib.NOM_PULS_OXIM_PERF_REL, mib.NOM_PULS_OXIM_PERF_REL, mib.UNIT_PERCENT, 2),
)
NIBP_HANDLE = 0x0012

# (state bits, replace the value by NaN) for the artifacts scenario's bad measurement states.
BAD_STATES = (
    (mib.MS_INVALID, False),
    (mib.MS_QUESTIONABLE, False),
    (mib.MS_UNAVAILABLE, True),
    (mib.MS_CALIBRATION_ONGOING, False),
    (mib.MS_DEMO_DATA, False),
    (0, True),
)


@dataclass
class _Poll:
    invoke_id: int
    poll_number: int
    expires_at: float
    next_at: float
    sequence_no: int = 0


@register("philips")
class PhilipsMibSim(DeviceSim):
    """A monitor that speaks IntelliVue data export (see module docstring)."""

    def __init__(self, scenario: str = "ketamine", seed: int = 1) -> None:
        super().__init__(scenario=scenario, seed=seed)
        self.device_epoch = SIM_DEVICE_EPOCH
        self.rel_epoch = SIM_REL_EPOCH
        self.result_interval_s = RESULT_INTERVAL_S
        self.counters: Counter[str] = Counter()
        self.associated = False
        self.mds_confirmed = False
        self.timeout_s = mib.association_timeout_s(mib.DEFAULT_MIN_POLL_PERIOD)
        self._decoder = mib.FrameDecoder()
        self._rng = random.Random(seed)
        self._last_host_rx = 0.0
        self._invoke = 0
        self._poll: _Poll | None = None
        self._nibp_times = self.patient.nibp_times(NIBP_SCHEDULE_START_S, NIBP_SCHEDULE_END_S)

    # --- device clock ---------------------------------------------------------------------------------
    def rel_time(self, t: float) -> int:
        return (self.rel_epoch + mib.rel_ticks(t)) % mib.REL_TIME_MODULUS

    def wall_time(self, t: float) -> datetime:
        return self.device_epoch + timedelta(microseconds=125 * mib.rel_ticks(t))

    # --- from the host --------------------------------------------------------------------------------
    def receive_data(self, data: bytes, t: float) -> None:
        for raw in self._decoder.feed(bytes(data)):
            if raw.reason:
                self.counters["host_bad_frames"] += 1
                continue
            user_data, _reason = mib.check_frame(raw.body)
            if user_data is None:
                self.counters["host_bad_frames"] += 1
                continue
            try:
                kind, ro = mib.classify(user_data)
                self._on_pdu(kind, ro, user_data, t)
            except mib.Malformed:
                self.counters["host_malformed"] += 1

    def _on_pdu(self, kind: str, ro: mib.RoPdu | None, user_data: bytes, t: float) -> None:
        self.counters[f"rx:{kind}"] += 1
        if kind == "assoc-request":
            self._on_association_request(user_data, t)
            return
        if not self.associated:
            self.counters["ignored_unassociated"] += 1
            return
        self._last_host_rx = t
        if kind == "release-request":
            self._send_pdu(mib.RELEASE_RESPONSE)
            self._drop("released")
        elif kind in ("abort", "release-response"):
            self._drop(kind)
        elif kind == "event-report-result":
            self.mds_confirmed = True
        elif kind in ("poll-request", "single-poll-request"):
            assert ro is not None
            self._on_poll_request(mib.parse_action_request(ro), t)
        elif kind == "action-request":
            assert ro is not None
            self._send_pdu(wire.encode_error(ro.invoke_id, 9))  # no such action

    def _on_association_request(self, user_data: bytes, t: float) -> None:
        if self.associated:
            self._send_pdu(mib.REFUSE)
            self.counters["refused"] += 1
            return
        info = mib.find_user_info(user_data)
        period = info.min_poll_period if info and info.min_poll_period else mib.DEFAULT_MIN_POLL_PERIOD
        self.timeout_s = mib.association_timeout_s(period)
        self.associated, self.mds_confirmed, self._poll = True, False, None
        self._last_host_rx = t
        self.counters["associations"] += 1
        self._send_pdu(wire.encode_association_accept(period))
        # The anchor pair names one instant: a whole device second, so its BCD form is exact.
        anchor_t = math.floor(t)
        self._send_pdu(wire.encode_mds_create_report(
            self._next_invoke(), self.rel_time(t), self.wall_time(anchor_t), self.rel_time(anchor_t)
        ))

    def _on_poll_request(self, req: mib.ActionRequest, t: float) -> None:
        if req.action == mib.NOM_ACT_POLL_MDIB_DATA:
            self.counters["keepalives"] += 1
            self._send_pdu(wire.encode_single_poll_reply(
                req.invoke_id, req.poll_number, self.rel_time(t), None, req.obj_type, req.attr_group
            ))
            return
        if req.obj_type != mib.NUMERICS:  # waves, alerts...: one empty answer, nothing periodic
            self._send_pdu(wire.encode_poll_reply(
                req.invoke_id, req.poll_number, 1, self.rel_time(t), None, [], req.obj_type, req.attr_group
            ))
            return
        period_s = (req.period_ticks or 0) / mib.TICKS_PER_SECOND
        self._poll = _Poll(req.invoke_id, req.poll_number, t + period_s, t)
        self.counters["ext_polls"] += 1
        self._send_results(t)

    # --- time passes ----------------------------------------------------------------------------------
    def tick(self, t: float) -> None:
        if self.associated and t - self._last_host_rx >= self.timeout_s:
            self.counters["timeouts"] += 1
            self._drop("timeout")
        self._send_results(t)

    def _send_results(self, t: float) -> None:
        poll = self._poll
        if poll is None or not self.associated:
            return
        if t >= poll.expires_at:
            self._poll = None
            return
        if t < poll.next_at:
            return
        poll.sequence_no = poll.sequence_no % 0xFFFF + 1
        # After a long gap in ticks do not burst: resume the one-second cadence from now.
        poll.next_at = max(poll.next_at + self.result_interval_s, t + self.result_interval_s / 2)
        self.counters["results"] += 1
        self._send_frame(self._numerics_reply(poll, t), artifacts=self.scenario == "artifacts")

    def _numerics_reply(self, poll: _Poll, t: float) -> bytes:
        tq = mib.rel_ticks(t) / mib.TICKS_PER_SECOND  # the instant the stamp names
        v = self.patient.vitals_at(tq)
        values = {"hr": v.hr, "spo2": v.spo2, "pr": v.pulse, "rr": v.rr, "etco2": v.etco2, "temp": v.temp, "pi": v.pi}
        artifacts = self.scenario == "artifacts"
        observations: list[wire.Observation] = []
        for key, handle, label, physio, unit, decimals in SIM_NUMERICS:
            state, value = self._state_and_value(values[key], artifacts)
            if artifacts:
                handle = ARTIFACT_HANDLES.get(key, handle)
            raw = wire.encode_float(value, decimals)
            observations.append((handle, [wire.ava_label(mib.LABEL_PARTITION | label),
                                          wire.ava_numeric(physio, state, unit, raw)]))
        observations.append(self._nibp_observation(t, artifacts))
        return wire.encode_poll_reply(
            poll.invoke_id, poll.poll_number, poll.sequence_no, self.rel_time(tq), self.wall_time(tq),
            [(0, observations)],
        )

    def _nibp_observation(self, t: float, artifacts: bool) -> wire.Observation:
        attrs = [wire.ava_label(mib.LABEL_PARTITION | mib.NOM_PRESS_BLD_NONINV)]
        done = [x for x in self._nibp_times if x <= t]
        if not done:
            nan = wire.encode_float(None)
            compound = [(p, mib.MS_UNAVAILABLE, mib.UNIT_MMHG, nan) for p in sorted(mib.NIBP_PHYSIO)]
            attrs.append(wire.ava_compound(compound))
            return NIBP_HANDLE, attrs
        cuff_t = done[-1]
        nibp = self.patient.nibp_at(cuff_t)
        state, _ = self._state_and_value(0.0, artifacts)
        compound = [
            (mib.NOM_PRESS_BLD_NONINV_SYS, state, mib.UNIT_MMHG, wire.encode_float(nibp.sys)),
            (mib.NOM_PRESS_BLD_NONINV_DIA, state, mib.UNIT_MMHG, wire.encode_float(nibp.dia)),
            (mib.NOM_PRESS_BLD_NONINV_MEAN, state, mib.UNIT_MMHG, wire.encode_float(nibp.mean)),
        ]
        attrs += [wire.ava_compound(compound), wire.ava_time_stamp_rel(self.rel_time(cuff_t))]
        return NIBP_HANDLE, attrs

    def _state_and_value(self, value: float, artifacts: bool) -> tuple[int, float | None]:
        if artifacts and self._rng.random() < P_BAD_STATE:
            state, nan = self._rng.choice(BAD_STATES)
            return state, None if nan else value
        return 0, value

    # --- to the host ----------------------------------------------------------------------------------
    def inject_abort(self) -> None:
        """The monitor ends the association on its own (fault injection)."""
        if self.associated:
            self._send_pdu(mib.ABORT)
            self._drop("injected abort")

    def inject_release(self) -> None:
        """The monitor asks to release the association (e.g. data export switched off)."""
        if self.associated:
            self._send_pdu(mib.RELEASE_REQUEST)
            self._drop("injected release")

    def _drop(self, why: str) -> None:
        self.associated = self.mds_confirmed = False
        self._poll = None
        self.counters[f"dropped:{why}"] += 1

    def _next_invoke(self) -> int:
        self._invoke = self._invoke % 0xFFFF + 1
        return self._invoke

    def _send_pdu(self, user_data: bytes) -> None:
        self._send(mib.frame(user_data))

    def _send_frame(self, user_data: bytes, artifacts: bool) -> None:
        wire = mib.frame(user_data)
        if not artifacts:
            self._send(wire)
            return
        rng = self._rng
        out = bytearray()
        if rng.random() < P_GARBAGE:
            out += bytes(rng.randrange(256) for _ in range(rng.randint(1, 24)))
            self.counters["artifact:garbage"] += 1
        if rng.random() < P_HALF_FRAME:
            out += wire[: rng.randrange(2, len(wire) - 1)]
            self.counters["artifact:half-frame"] += 1
        if rng.random() < P_ESC_ABORT:
            out += wire[: rng.randrange(2, len(wire) - 1)] + bytes((mib.ESC, mib.EOF))
            self.counters["artifact:esc-abort"] += 1
        if rng.random() < P_CORRUPT:
            pos = rng.randrange(1, len(wire) - 1)
            wire = wire[:pos] + bytes((wire[pos] ^ (1 << rng.randrange(8)),)) + wire[pos + 1 :]
            self.counters["artifact:corrupt"] += 1
        self._send(bytes(out) + wire)

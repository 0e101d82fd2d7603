"""The host's codec: associate, answer the MDS Create event, poll numerics, keep the association alive
(section 10). Silence is the link's to notice (``DeviceLink``'s watchdog calls ``silence``); the codec
only decides what a lost association means for the protocol."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone, tzinfo

from ....domain.plausibility import PLAUSIBLE
from ....domain.readings import Reading
from ..base import Codec, CodecTime, DeviceInfoEvent, FrameEvent, LinkHint, ReadingEvent, register
from .framing import (
    check_frame,
    frame,
    FrameDecoder,
)
from .pdus import (
    ABORT,
    classify,
    DEFAULT_MIN_POLL_PERIOD,
    encode_association_request,
    encode_extended_poll_request,
    encode_mds_create_result,
    encode_single_poll_request,
    find_user_info,
    Malformed,
    MdsCreate,
    NUMERICS,
    NuObs,
    ObservationPoll,
    parse_mds_create,
    parse_poll_reply,
    PollReply,
    RELEASE_REQUEST,
    RELEASE_RESPONSE,
    RoPdu,
    UserInfo,
)
from .values import (
    association_timeout_s,
    decode_abs_time,
    decode_float,
    DEVICE_CLOCK_TZ,
    _FLAGS,
    NIBP_NOT_NEW_STATES,
    NIBP_PHYSIO,
    NO_NUMBER_STATES,
    _NO_UNITS,
    PHYSIO_PARAMETER,
    _QUALITY_STATES,
    _reading_flags,
    _same,
    rel_ticks,
    REL_TIME_MODULUS,
    RelativeTimeline,
    signed_tick_delta,
    UNITS,
)

HOST_KINDS = frozenset(
    {"assoc-request", "poll-request", "single-poll-request", "action-request", "event-report-result"}
)
MONITOR_KINDS = frozenset({"assoc-accept", "assoc-refuse", "mds-create", "poll-result", "single-poll-result"})
HOST_TRAFFIC_AFTER = 3  # host-only PDUs and not one from a monitor: host traffic

# (physio id, state, unit) -> (parameter or None, UCUM unit, converter or None, no number, quality state bits,
# unknown unit): a monitor sends a handful of these combinations, over and over.
_SPECS: dict[tuple[int, int, int], tuple] = {}
MEANINGS_KEPT = 8192  # distinct value words remembered per connection
_new = object.__new__
_GOOD_FRAMES: dict[tuple[str, int], FrameEvent] = {}
_TEMPLATE_TIME = datetime(2000, 1, 1, tzinfo=timezone.utc)  # replaced in every reading stamped from a template


def _value_spec(physio_id: int, state: int, unit_code: int) -> tuple:
    param = PHYSIO_PARAMETER.get(physio_id)
    if param is None:
        spec: tuple = (None, "", None, True, 0, False)
    else:
        conversion = UNITS.get(param, _NO_UNITS).get(unit_code)
        unknown = conversion is None
        unit = param.unit if unknown else conversion[0]  # type: ignore[index]
        convert = None if unknown or conversion[1] is _same else conversion[1]  # type: ignore[index]
        spec = (param, unit, convert, unknown or bool(state & NO_NUMBER_STATES), state & _QUALITY_STATES, unknown)
    if len(_SPECS) < 65536:
        _SPECS[(physio_id, state, unit_code)] = spec
    return spec


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
    # True: every reading goes through Reading's constructor and the base _emit (the decoder as it was before
    # issue 17): the same-run baseline of ``python -m bench devices`` and the reference the tests compare with.
    checked_readings = False

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
        self._seen_observations: dict = {}  # parse_poll_reply's memory of this connection's observations
        self._meanings: dict[NuObs, tuple] = {}  # value word -> (parameter, number, unit, flags, problem)
        self._fast: dict[NuObs, dict] = {}  # value word -> checked Reading fields (see _meaning)
        self._obs_templates: dict[int, tuple] = {}  # id(observation) -> (it, its values' templates), no NIBP

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

    def silence(self, now: CodecTime) -> None:
        """The link's watchdog saw no valid frame for SILENCE_LOST_S: while polling, the association is gone
        (Abort to free the monitor's side, then start again after RESTART_WAIT_S). Associating and lost
        states already retry on their own clock."""
        if self.state == POLLING:
            last_rx = self.last_valid_mono if self.last_valid_mono is not None else self._state_since
            self._lose(now, f"no valid frame for {now.mono - max(last_rx, self._state_since):.1f} s", abort=True)

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
            silent = m - max(last_rx, self._state_since)  # for the keep-alive only: silence is the link's
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
                parsed = self._parse(kind, ro, user_data, self._seen_observations)
            except Malformed as exc:
                self._bad("malformed", len(user_data), str(exc))
                continue
            self.stats.frames_ok += 1
            self.last_valid_mono = now.mono
            key = (kind, len(user_data))
            event = _GOOD_FRAMES.get(key)  # immutable: the same event object for the same kind and length
            if event is None:
                event = FrameEvent(True, *key)
                if len(_GOOD_FRAMES) < 4096:
                    _GOOD_FRAMES[key] = event
            self._emit(event)
            self._act(kind, ro, parsed, now)

    def _bad(self, reason: str, length: int, detail: str = "") -> None:
        self.stats.frames_bad += 1
        self.counters[reason] += 1
        self._emit(FrameEvent(False, reason, length, detail))

    @staticmethod
    def _parse(kind: str, ro: RoPdu | None, user_data: bytes, seen: dict | None = None) -> object:
        """Everything that can be Malformed happens here, before any state changes."""
        if kind == "assoc-accept":
            return find_user_info(user_data)
        if kind == "mds-create":
            return parse_mds_create(ro)
        if kind in ("poll-result", "single-poll-result"):
            return parse_poll_reply(ro, seen)
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
        wall = now.wall
        # An observation whose every value word was seen before (and none NIBP) is stamped from the words'
        # checked templates (see _meaning); any other, and every one when a time is zone-less (Reading refuses
        # it), takes the full path.
        known = None if self.checked_readings or wall.tzinfo is None else self._fast.get
        events, new, update, event_type, nibp_ids = self._events, _new, dict.update, ReadingEvent, NIBP_PHYSIO
        by_obs = self._obs_templates
        stamped = 0
        for obs in reply.observations:
            if obs.stamp_rel is None and obs.stamp_abs is None:
                obs_time = plain_time
            else:
                obs_time = self._object_time(obs, reply, reply_time)
            fast = known if obs_time is None or obs_time.tzinfo is not None else None
            if fast is not None:
                # parse_poll_reply hands back the same object for the same bytes: its templates, once
                cached = by_obs.get(id(obs))
                if cached is not None and cached[0] is obs:
                    templates = cached[1]
                else:
                    templates = [fast(v) for v in obs.values if v.physio_id not in nibp_ids]
                    if len(templates) == len(obs.values) and None not in templates:
                        if len(by_obs) >= MEANINGS_KEPT:
                            by_obs.clear()
                        by_obs[id(obs)] = (obs, templates)  # holds obs: its id cannot be reused meanwhile
                    else:
                        templates = None
                if templates is not None:
                    for template in templates:
                        reading = new(Reading)
                        fields = reading.__dict__
                        update(fields, template)
                        fields["host_time"] = wall
                        fields["device_time"] = obs_time
                        event = new(event_type)
                        event.__dict__["reading"] = reading
                        events.append(event)
                    stamped += len(templates)
                    continue
            nibp: list[NuObs] = []
            for v in obs.values:
                if v.physio_id in nibp_ids:
                    nibp.append(v)
                else:
                    emit_value(v, obs_time, now)
            if nibp and self._nibp_is_new(obs, nibp):
                for v in nibp:
                    emit_value(v, obs_time, now)
        self.stats.readings += stamped

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
        # Runs for every value of every poll reply, and a monitor repeats most values unchanged: what a
        # value word means (parameter, number, unit, flags) is worked out once per distinct word.
        meaning = self._meanings.get(v)
        if meaning is None:
            meaning = self._meaning(v)
        param, value, unit, flags, problem = meaning
        if problem:
            self.counters[problem] += 1
            if param is None:
                return
        self._emit(ReadingEvent(Reading(param, value, now.wall, unit, device_time, flags, self.source)))

    def _meaning(self, v: NuObs) -> tuple:
        spec = _SPECS.get((v.physio_id, v.state, v.unit))
        if spec is None:
            spec = _value_spec(v.physio_id, v.state, v.unit)
        param, unit, convert, no_number, quality_states, unknown_unit = spec
        if param is None:
            meaning: tuple = (None, None, "", frozenset(), "unknown_physio")
        else:
            value, special = decode_float(v.raw)
            if no_number:
                value = None
            elif value is not None and convert is not None:
                value = convert(value)
            key = (quality_states, special, unknown_unit)
            flags = _FLAGS.get(key)
            if flags is None:
                flags = _FLAGS[key] = _reading_flags(*key)
            meaning = (param, value, unit, flags, "unknown_unit" if unknown_unit else "")
        if len(self._meanings) >= MEANINGS_KEPT:
            self._meanings.clear()
            self._fast.clear()
            self._obs_templates.clear()
        self._meanings[v] = meaning
        param, value, unit, flags, problem = meaning
        if not problem and (value is None or self._plausible(param, value)):
            # Built once by Reading's own constructor: its checks (finite number, blocking flags drop the
            # number, unit) hold for every later reading of this word, which only changes the two times.
            self._fast[v] = Reading(param, value, _TEMPLATE_TIME, unit, None, flags, self.source).__dict__
        return meaning

    @staticmethod
    def _plausible(param, value: float) -> bool:
        """The base _emit's screen, decided once per value word (values outside it take the full path)."""
        bounds = PLAUSIBLE.get(param)
        return bounds is None or bounds[0] <= value <= bounds[1]

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

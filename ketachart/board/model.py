"""The clinic board's picture: one tile per chair, computed from what the chairs charted. No Qt.

A refresh (:meth:`BoardModel.refresh`) reads only the chairs named by a notification (or all of them at the
start and on the slow fallback poll). Between refreshes the tiles are recomputed from the rows already read and
the board's clock, so the clocks and ages keep moving without a query.

Times: ``heard_at`` is server time; chart times are the chair's own clock. The board measures the server's
clock at each read (offset to its own clock), and each chair's offset from its heartbeat (``heard_at`` minus
the chair time it sent), so an age on the board is right even for a chair whose clock is off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Iterable

from ..domain.clock import Clock
from ..domain.errors import IllegalTransition
from ..domain.policy import DEFAULT_POLICY, ClinicPolicy
from ..domain.session import SessionEvent, SessionState, next_state
from ..domain.timeline import StateChange, compute_clocks, format_duration
from ..domain.vitals import NIBP_SAME_MEASUREMENT_S
from .queries import ChairData, ChairRef

STALE_AFTER_S = 30.0  # a chair silent longer than this is shown stale, never as if live (issue 15)


class Phase(str, Enum):
    CHECKED_IN = "checked in"
    INFUSING = "infusing"
    PAUSED = "paused"
    RECOVERY = "recovery"
    READY = "ready for discharge"
    FREE = "free"


@dataclass(frozen=True)
class Vital:
    label: str
    text: str  # "112" or "148/92"
    age: timedelta
    age_text: str  # "12 s ago"


@dataclass(frozen=True)
class TileAlert:
    message: str
    severity: str
    age: timedelta
    age_text: str


@dataclass(frozen=True)
class ChairTile:
    device_id: str
    chair_name: str
    session_id: str | None
    phase: Phase
    patient_text: str
    route: str
    elapsed_text: str
    next_bp_text: str
    bp_overdue: bool
    discharge_text: str
    vitals: tuple[Vital, ...]  # HR, SpO2, BP, in that order, those that exist
    trend: dict[str, tuple[tuple[float, float], ...]]  # parameter -> ((minutes before newest, value), ...)
    alerts: tuple[TileAlert, ...]  # unacknowledged, oldest first
    devices_text: str
    heard_age: timedelta | None
    stale: bool
    last_heard_text: str

    @property
    def alerting(self) -> bool:
        return bool(self.alerts)


def ago(delta: timedelta | None) -> str:
    """'12 s ago', '2 min ago', '1 h 5 min ago' - what a nurse reads across the room."""
    if delta is None:
        return "never"
    s = max(0, int(delta.total_seconds()))
    if s < 60:
        return f"{s} s ago"
    if s < 3600:
        return f"{s // 60} min ago"
    h, m = divmod(s // 60, 60)
    return f"{h} h {m} min ago" if m else f"{h} h ago"


def patient_text(patient: dict | None, initials_only: bool) -> str:
    if not patient:
        return "Patient not on the central yet"
    mrn = f"MRN {patient['mrn']}"
    given, family = (patient.get("given_name") or "").strip(), (patient.get("family_name") or "").strip()
    if initials_only:
        initials = "".join(f"{n[0].upper()}." for n in (given, family) if n)
        return f"{initials} · {mrn}" if initials else mrn
    return f"{family}, {given} · {mrn}" if given else f"{family} · {mrn}"


def display_name(name: str) -> str:
    """'chair-12' (an enrolled login name) -> 'Chair 12' on the wall; 'Recliner B' stays as it is."""
    text = name.replace("-", " ").replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else name


def _state(events: list[dict]) -> tuple[SessionState, list[StateChange]]:
    """The session's state folded from its events; a row the state machine refuses is skipped, not fatal."""
    state, changes = SessionState.PLANNED, []
    for e in sorted(events, key=lambda e: (e["effective_at"], e["device_seq"])):
        try:
            event = SessionEvent(e["event"])
            state = next_state(state, event)
        except (ValueError, IllegalTransition):
            continue
        changes.append(StateChange(event, e["effective_at"]))
    return state, changes


def build_tile(ref: ChairRef, data: ChairData | None, server_now: datetime, policy: ClinicPolicy, *,
               initials_only: bool = False, stale_after_s: float = STALE_AFTER_S) -> ChairTile:
    hb = data.heartbeat if data else None
    heard_age = (server_now - hb["heard_at"]) if hb else None
    stale = heard_age is None or heard_age.total_seconds() > stale_after_s
    last_heard = "never heard" if heard_age is None else f"last heard {ago(heard_age)}"
    chair_offset = (hb["heard_at"] - hb["chair_time"]) if hb and hb.get("chair_time") else timedelta(0)
    chair_now = server_now - chair_offset
    states = (hb or {}).get("device_states") or {}
    devices = " · ".join(f"{k} {v}" for k, v in sorted(states.items())) if isinstance(states, dict) else ""
    name = (ref.name or (hb or {}).get("chair") or ((data.session or {}).get("chair") if data else None)
            or ref.device_id)
    common = dict(device_id=ref.device_id, chair_name=display_name(name), devices_text=devices, heard_age=heard_age,
                  stale=stale, last_heard_text=last_heard)
    session = data.session if data else None
    state, changes = _state(data.events) if session else (SessionState.PLANNED, [])
    if session is None or state.is_final:
        return ChairTile(session_id=None, phase=Phase.FREE, patient_text="", route="", elapsed_text="",
                         next_bp_text="", bp_overdue=False, discharge_text="", vitals=(), trend={}, alerts=(),
                         **common)
    last_bp = data.latest.get("NIBP_SYS")
    clocks = compute_clocks(changes, chair_now, policy, data.planned_minutes, last_bp[1] if last_bp else None)
    if state in (SessionState.PLANNED, SessionState.CHECKED_IN):
        phase = Phase.CHECKED_IN
    elif state is SessionState.INFUSING:
        phase = Phase.INFUSING
    elif state is SessionState.PAUSED:
        phase = Phase.PAUSED
    else:
        due = clocks.discharge_remaining is not None and clocks.discharge_remaining <= timedelta(0)
        phase = Phase.READY if (data.discharge_check_passed or due) else Phase.RECOVERY
    if clocks.infusion_started_at:
        elapsed = f"Elapsed {format_duration(chair_now - clocks.infusion_started_at)}"
    else:
        checked = next((c.at for c in changes if c.event is SessionEvent.CHECK_IN), None)
        elapsed = f"Checked in {ago(chair_now - checked)}" if checked else "Not checked in"
    next_bp, overdue = "", False
    if clocks.next_bp_due_at is not None and state in (SessionState.INFUSING, SessionState.PAUSED, SessionState.RECOVERY):
        overdue = clocks.bp_overdue
        gap = clocks.next_bp_due_at - chair_now
        next_bp = (f"BP OVERDUE by {format_duration(-gap)}" if overdue else f"Next BP in {format_duration(gap)}")
    discharge = ""
    if clocks.discharge_remaining is not None:
        discharge = ("Discharge check due" if clocks.discharge_remaining <= timedelta(0)
                     else f"Discharge in {format_duration(clocks.discharge_remaining)}")
    if data.discharge_check_passed:
        discharge = "Discharge check passed"
    vitals = []
    # ECG heart rate when there is one, pulse rate only when there is none (ketachart.domain.vitals).
    rate = ("HR", "HR") if "HR" in data.latest else ("PR", "PR")
    for param, label in (rate, ("SPO2", "SpO2")):
        if param in data.latest:
            value, at = data.latest[param]
            vitals.append(Vital(label, f"{value:.0f}", chair_now - at, ago(chair_now - at)))
    if "NIBP_SYS" in data.latest:
        sys_v, at = data.latest["NIBP_SYS"]
        dia = data.latest.get("NIBP_DIA")
        same = dia and abs((dia[1] - at).total_seconds()) <= NIBP_SAME_MEASUREMENT_S  # one cuff measurement
        text = f"{sys_v:.0f}/{dia[0]:.0f}" if same else f"{sys_v:.0f}/-"
        vitals.append(Vital("BP", text, chair_now - at, ago(chair_now - at)))
    newest = max((at for _, at in data.latest.values()), default=None)
    trend = {
        param: tuple(((t - newest).total_seconds() / 60.0, v) for t, v in points)
        for param, points in data.trend.items() if newest is not None
    }
    alerts = tuple(TileAlert(a["message"], a["severity"], chair_now - a["effective_at"], ago(chair_now - a["effective_at"]))
                   for a in data.alerts)
    return ChairTile(session_id=session["id"], phase=phase, patient_text=patient_text(data.patient, initials_only),
                     route=session["route"], elapsed_text=elapsed, next_bp_text=next_bp, bp_overdue=overdue,
                     discharge_text=discharge, vitals=tuple(vitals), trend=trend, alerts=alerts, **common)


class BoardModel:
    """The board's tiles, refreshed per chair. Holds rows read from the central, never writes anything."""

    def __init__(self, source, clock: Clock, *, policy: ClinicPolicy | None = None, initials_only: bool | None = None,
                 stale_after_s: float = STALE_AFTER_S) -> None:
        self.source = source
        self.clock = clock
        self.policy = policy
        self.initials_only = initials_only
        self.stale_after_s = stale_after_s
        self.chairs: list[ChairRef] = []
        self._data: dict[str, ChairData] = {}
        self._offset = timedelta(0)
        self.refreshes = 0

    def refresh(self, device_ids: Iterable[str] | None = None) -> set[str]:
        """Re-read the named chairs (all chairs when None, '*' or a chair the board does not know yet).
        Returns the device ids read."""
        wanted = None if device_ids is None else set(device_ids)
        known = {c.device_id for c in self.chairs}
        if wanted is None or "*" in wanted or not wanted <= known or not self.chairs:
            self.chairs = self.source.list_chairs()
            if self.policy is None or wanted is None:
                self._load_policy()
            wanted = {c.device_id for c in self.chairs}
        before = self.clock.now()
        data = self.source.read(sorted(wanted))
        after = self.clock.now()
        if data:
            read_at = next(iter(data.values())).read_at
            self._offset = read_at - (before + (after - before) / 2)
        self._data.update(data)
        self.refreshes += 1
        return set(data)

    def _load_policy(self) -> None:
        text = self.source.clinic_policy_json()
        try:
            self.policy = ClinicPolicy.from_json(text) if text else DEFAULT_POLICY
        except Exception:  # a policy this version cannot read: the defaults, never a dead board
            self.policy = DEFAULT_POLICY

    def server_now(self) -> datetime:
        return self.clock.now() + self._offset

    def tiles(self) -> list[ChairTile]:
        now = self.server_now()
        policy = self.policy or DEFAULT_POLICY
        initials = policy.board_initials_only if self.initials_only is None else self.initials_only
        return [build_tile(c, self._data.get(c.device_id), now, policy, initials_only=initials,
                           stale_after_s=self.stale_after_s) for c in self.chairs]

    def tile(self, device_id: str) -> ChairTile:
        return next(t for t in self.tiles() if t.device_id == device_id)

    def sounding(self) -> bool:
        """The board sounds while any chair has an alert not yet acknowledged at the chair."""
        return any(t.alerting for t in self.tiles())

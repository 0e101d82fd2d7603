"""Simulated chairs for ``ketachart board --demo``, the screenshot, the end-to-end test and the benchmark. No Qt.

A simulated chair is a real chart file written through the real ``ChartStore`` and pushed by the real
``LivePush`` (sync + heartbeat). Its history up to "now" is written with a back-dated FakeClock; from then on it
charts one HR and SpO2 reading per tick on the chair's own clock.

Run one as a process (what the end-to-end test and ``bench board`` do)::

    python -m ketachart.board.simulate --central URL --db PATH --name "Chair 3" [--scenario N] [--tick-s 1]

It reads commands on stdin: ``alert TEXT`` raises an alert (and prints ``raised <alert id> <unix time>``),
``ack`` acknowledges every open alert at the chair, ``quit`` stops. It prints ``ready <device id>`` once its
history is pushed.
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Callable

from ..domain.clock import Clock, FakeClock, SystemClock
from ..domain.codes import Parameter
from ..domain.dosing import iv_dose
from ..domain.readings import Reading
from ..domain.vocabulary import Kind
from ..domain.session import SessionEvent, SessionState
from ..store.repository import ChartStore
from ..sync.live import LivePush
from ..sync.service import SyncService

PATIENTS = [
    ("Rivera", "Jordan"), ("Okafor", "Chidi"), ("Lindqvist", "Maja"), ("Tanaka", "Hiro"), ("Dubois", "Claire"),
    ("Nguyen", "Bao"), ("Haddad", "Leila"), ("Kowalski", "Piotr"), ("Mensah", "Ama"), ("O'Brien", "Siobhan"),
    ("Silva", "Rafael"), ("Berg", "Ingrid"), ("Ibrahim", "Yusuf"), ("Moreau", "Luc"), ("Chen", "Wei"),
    ("Novak", "Petra"), ("Adeyemi", "Tunde"), ("Fischer", "Anna"), ("Kaur", "Simran"), ("Walsh", "Conor"),
]


@dataclass(frozen=True)
class Scenario:
    """Where a chair's session stands when the demo starts."""

    minutes: float | None  # minutes since the infusion started (None: no session, the chair is free)
    state: SessionState = SessionState.INFUSING
    bp_every_min: float = 15.0  # 0: no BP since the start (the board shows BP overdue)
    alert: str | None = None  # an unacknowledged alert raised a few minutes ago
    hr: float = 78.0
    monitor: str = "connected"


SCENARIOS = (
    Scenario(12),
    Scenario(34, bp_every_min=0),
    Scenario(22, state=SessionState.PAUSED, hr=92),
    Scenario(70, state=SessionState.RECOVERY),
    Scenario(124, state=SessionState.RECOVERY, hr=70),
    Scenario(-6, state=SessionState.CHECKED_IN),
    Scenario(None),
    Scenario(27, alert="HR 128 above 120 for 5 min", hr=128),
    Scenario(5),
    Scenario(48, state=SessionState.RECOVERY, hr=84, monitor="silent"),
    Scenario(31, alert="SpO2 90 below 92", hr=88),
    Scenario(16, hr=101),
)


class SimulatedChair:
    """One chair: a chart file, a live pusher, one reading per tick."""

    def __init__(self, db: Path, central: str | Callable[[str, str], str], name: str, scenario: Scenario, *,
                 seed: int = 0, clock: Clock | None = None, push_interval_s: float | None = None,
                 watch_s: float = 0.1) -> None:
        """``central``: the chair's URL, or ``url_for(device_id, name)`` (enrols the chair where needed)."""
        self.clock = clock or SystemClock()
        self.store = ChartStore.open(db, self.clock)
        if callable(central):
            central = central(self.store.device_id, name)
        self.store.author = "demo.nurse"
        self.name = name
        self.scenario = scenario
        self.rng = random.Random(seed)
        self.seed = seed
        self.session_id: str | None = None
        self.live = LivePush(SyncService(self.store, central), chair_name=name, interval_s=push_interval_s,
                             watch_s=watch_s, device_states=self.device_states)
        self._last_bp: float | None = None

    def device_states(self) -> dict:
        if self.scenario.minutes is None:
            return {"monitor": "idle", "pump": "idle"}
        pump = "running" if self._state() is SessionState.INFUSING else "stopped"
        return {"monitor": self.scenario.monitor, "pump": pump}

    def _state(self) -> SessionState:
        return self.store.session_state(self.session_id) if self.session_id else SessionState.DISCHARGED

    # --- history ----------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Chart the session up to now (back-dated FakeClock), then switch to the chair's clock."""
        sc = self.scenario
        if sc.minutes is None:
            return
        now = self.clock.now()
        start = now - timedelta(minutes=sc.minutes)
        fake = FakeClock(start - timedelta(minutes=8))
        self.store.clock = fake
        try:
            family, given = PATIENTS[self.seed % len(PATIENTS)]
            p = self.store.create_patient(f"K{40210 + self.seed * 37:06d}", family, given, "1980-05-01", "female",
                                          round(60 + self.rng.uniform(0, 35), 1))
            c = self.store.create_course(p["patient_id"])
            s = self.store.create_session(p["patient_id"], "IV", c["id"], chair=self.name)
            self.session_id = sid = s["id"]
            self.store.session_event(sid, SessionEvent.CHECK_IN)
            if sc.state is SessionState.CHECKED_IN:
                return
            self.store.record_dose(sid, iv_dose(p["weight_kg"], 0.5, 1.0, 40, self.store.policy), lot="DEMO")
            fake.set(start)
            self.store.session_event(sid, SessionEvent.START_INFUSION)
            end = now - timedelta(seconds=1)
            events = []
            if sc.state is SessionState.PAUSED:
                events.append((now - timedelta(minutes=3), SessionEvent.PAUSE))
            if sc.state is SessionState.RECOVERY:
                events.append((start + timedelta(minutes=40), SessionEvent.STOP_INFUSION))
            if sc.alert:
                events.append((now - timedelta(minutes=2), "alert"))
            batch: list[Reading] = []
            t = start
            while t < end:
                fake.set(t)
                while events and events[0][0] <= t:
                    _, what = events.pop(0)
                    self._flush(batch)
                    if what == "alert":
                        self.store.raise_alert(sid, "demo", "high", sc.alert)
                    elif what is SessionEvent.PAUSE:
                        self.store.session_event(sid, what, reason="patient asked for a pause")
                    else:
                        self.store.session_event(sid, what)
                batch.extend(self._vitals(t))
                minute = (t - start).total_seconds() / 60
                if sc.bp_every_min and (self._last_bp is None or minute - self._last_bp >= sc.bp_every_min):
                    self._last_bp = minute
                    batch.extend(self._bp(t))
                if len(batch) >= 400:
                    self._flush(batch)
                t += timedelta(seconds=5)
            self._flush(batch)
            self.store.observe(sid, Kind.NOTE, text="Settled, music on")
        finally:
            self.store.clock = self.clock

    def _flush(self, batch: list[Reading]) -> None:
        if batch:
            self.store.add_readings(self.session_id, list(batch))
            batch.clear()

    def _vitals(self, t) -> list[Reading]:
        hr = self.scenario.hr + self.rng.uniform(-3, 3)
        spo2 = min(100.0, 97.0 + self.rng.uniform(-1, 2))
        if self.scenario.alert and "SpO2" in self.scenario.alert:
            spo2 = 90.0 + self.rng.uniform(-1, 1)
        return [Reading(Parameter.HR, round(hr), t, source="device:demo"),
                Reading(Parameter.SPO2, round(spo2), t, source="device:demo")]

    def _bp(self, t) -> list[Reading]:
        sys_v = 124 + self.rng.uniform(-6, 14)
        return [Reading(Parameter.NIBP_SYS, round(sys_v), t, source="device:demo"),
                Reading(Parameter.NIBP_DIA, round(sys_v * 0.62), t, source="device:demo")]

    # --- live -------------------------------------------------------------------------------------
    def tick(self) -> None:
        """One second at the chair: a reading when a session is monitored."""
        if self.session_id is None or self._state().is_final:
            return
        self.store.add_readings(self.session_id, self._vitals(self.clock.now()))

    def raise_alert(self, message: str) -> dict:
        if self.session_id is None:
            raise RuntimeError("no session on this chair")
        return self.store.raise_alert(self.session_id, "demo", "high", message)

    def acknowledge_all(self, action: str = "Checked the patient") -> int:
        if self.session_id is None:
            return 0
        open_alerts = self.store.unacknowledged_alerts(self.session_id)
        for a in open_alerts:
            self.store.acknowledge_alert(a["id"], action)
        return len(open_alerts)

    def close(self) -> None:
        self.live.stop()
        self.store.close()


def device_id_of(db: Path) -> str:
    """Create the chart file if needed and return its device id (to enrol the chair before it runs)."""
    store = ChartStore.open(db)
    try:
        return store.device_id
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ketachart.board.simulate")
    parser.add_argument("--central", required=True)
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--scenario", type=int, default=0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--tick-s", type=float, default=1.0, help="seconds between readings")
    parser.add_argument("--push-s", type=float, default=None, help="push interval (default: clinic policy)")
    args = parser.parse_args(argv)
    scenario = SCENARIOS[args.scenario % len(SCENARIOS)]
    chair = SimulatedChair(args.db, args.central, args.name, scenario,
                           seed=args.scenario if args.seed is None else args.seed, push_interval_s=args.push_s)
    commands: queue.Queue[str] = queue.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            commands.put(line.strip())
        commands.put("quit")

    threading.Thread(target=read_stdin, daemon=True).start()
    try:
        chair.prepare()
        chair.live.pass_once()
        chair.live.start()
        print(f"ready {chair.store.device_id}", flush=True)
        next_tick = time.monotonic()
        while True:
            timeout = max(0.0, next_tick - time.monotonic())
            try:
                command = commands.get(timeout=timeout)
            except queue.Empty:
                chair.tick()
                next_tick += args.tick_s
                continue
            if command == "quit":
                break
            if command.startswith("alert "):
                row = chair.raise_alert(command[6:])
                print(f"raised {row['id']} {time.time():.6f}", flush=True)
            elif command == "ack":
                print(f"acked {chair.acknowledge_all()}", flush=True)
            elif command == "state":
                print("state " + json.dumps({"passes": chair.live.passes, "pending": chair.live.service.pending_count()}),
                      flush=True)
    finally:
        chair.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

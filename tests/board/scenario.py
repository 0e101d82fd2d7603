"""A chair charting a real session through the real store, for the board tests (FakeClock time)."""

from __future__ import annotations

from ketachart.domain.clock import FakeClock
from ketachart.domain.codes import Parameter
from ketachart.domain.dosing import iv_dose
from ketachart.domain.readings import Reading
from ketachart.domain.session import SessionEvent
from ketachart.store.repository import ChartStore


def start_infusion(store: ChartStore, chair: str, mrn: str, family: str = "Rivera", given: str = "Jordan",
                   minutes_of_vitals: int = 10) -> str:
    """Patient checked in at ``chair``, dose recorded, infusion running; HR/SpO2 each second and a BP."""
    clock: FakeClock = store.clock
    p = store.create_patient(mrn, family, given, "1984-03-12", "female", 70.0)
    c = store.create_course(p["patient_id"])
    s = store.create_session(p["patient_id"], "IV", c["id"], chair=chair)
    sid = s["id"]
    store.session_event(sid, SessionEvent.CHECK_IN)
    store.record_dose(sid, iv_dose(70.0, 0.5, 1.0, 40, store.policy), lot="L1")
    clock.advance(60)
    store.session_event(sid, SessionEvent.START_INFUSION)
    store.add_readings(sid, [Reading(Parameter.NIBP_SYS, 128.0, clock.now(), source="device:test"),
                             Reading(Parameter.NIBP_DIA, 82.0, clock.now(), source="device:test")])
    vitals(store, sid, minutes_of_vitals * 60)
    return sid


def vitals(store: ChartStore, sid: str, seconds: int, hr: float = 80.0, spo2: float = 97.0) -> None:
    clock: FakeClock = store.clock
    batch = []
    for i in range(seconds):  # committed every 10 s as they arrive (the chair seals each finished minute)
        clock.advance(1)
        batch.append(Reading(Parameter.HR, hr + i % 5, clock.now(), source="device:test"))
        batch.append(Reading(Parameter.SPO2, spo2, clock.now(), source="device:test"))
        if len(batch) == 20:
            store.add_readings(sid, batch)
            batch = []
    if batch:
        store.add_readings(sid, batch)
    store.seal_readings()  # as the minute ends: the board tests read what the central holds

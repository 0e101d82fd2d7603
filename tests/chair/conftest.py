"""The chair service on a real chart file with a FakeClock: two nurses who sign with their own PINs."""

from __future__ import annotations

import pytest

from ketachart.auth import Accounts, Signatures
from ketachart.chair import ChairService, PresessionForm
from ketachart.domain.codes import Parameter
from ketachart.domain.readings import Reading
from ketachart.domain.records import ITEM_BY_KEY, NO, YES
from ketachart.store.open import open_store
from tests.ui.helpers import FAST_HASHER, PINS, without_order_requirement


# the complete pre-session items answered as for a patient who may be dosed (issue 16)
ALL_ITEMS_ANSWERED = {k: (YES if i.safe_answer == YES else NO) for k, i in ITEM_BY_KEY.items()}


@pytest.fixture
def store(tmp_path, clock):
    s = open_store(tmp_path / "chart.db", unencrypted=True, clock=clock)
    s.create_user("nurse.a", "Ada Nurse, RN", "nurse", FAST_HASHER.hash(PINS["nurse.a"]))
    s.create_user("nurse.b", "Ben Okafor, RN", "nurse", FAST_HASHER.hash(PINS["nurse.b"]))
    without_order_requirement(s)
    yield s
    s.close()


@pytest.fixture
def signatures(store):
    accounts = Accounts(store, hasher=FAST_HASHER)
    accounts.sign_in("nurse.a", PINS["nurse.a"])  # store.author is now nurse.a
    return Signatures(store, accounts)


@pytest.fixture
def chair(store, clock, signatures):
    c = ChairService(store, clock, writer_interval_s=0.01)
    c.signatures = signatures
    c.messages = []
    c.on_message = lambda text, kind: c.messages.append((kind, text))
    yield c
    c.shutdown()


def presession_form(**changes) -> PresessionForm:
    values = dict(items=ALL_ITEMS_ANSWERED, consent=True, escort_name="Pat Rivera", escort_phone="555-0142", no_driving=True, weight_kg="80",
                  baseline_sys="124", baseline_dia="78", baseline_hr="72", lot="KET123", waste_mg="10",
                  waste_method="sharps container, rendered unrecoverable", waste_witness="nurse.b")
    values.update(changes)
    return PresessionForm(**values)


def monitor(chair, clock, minutes: float = 0.0, every_s: int = 10, hr=72, spo2=97, rr=14, bp=(122, 78)) -> None:
    """A calm monitor streaming into ``chair`` for ``minutes`` (the clock moves), ending with a batch now:
    HR, pulse rate, SpO2 and RR every ``every_s`` seconds, an NIBP every 5 minutes."""
    steps = int(minutes * 60 // every_s)
    for i in range(steps + 1):
        now = clock.now()
        batch = [Reading(Parameter.HR, hr, now, source="device:ge"), Reading(Parameter.PR, hr, now, source="device:ge"),
                 Reading(Parameter.SPO2, spo2, now, source="device:ge"), Reading(Parameter.RR, rr, now, source="device:ge")]
        if i % (300 // every_s) == 0:
            batch += [Reading(Parameter.NIBP_SYS, bp[0], now, source="device:ge"),
                      Reading(Parameter.NIBP_DIA, bp[1], now, source="device:ge")]
        chair.feed(batch)
        if i < steps:
            clock.advance(every_s)

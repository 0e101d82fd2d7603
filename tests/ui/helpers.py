"""UI test helpers and fixtures: a real chart file, a FakeClock shared by store and window, the real main window."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from ketachart.auth import Accounts
from ketachart.auth.passwords import HashParams, SecretHasher
from ketachart.domain.codes import Parameter
from ketachart.domain.readings import Reading
from ketachart.store.open import open_store


# Cheap argon2id parameters keep the UI tests fast (tests/auth checks the real defaults).
FAST_HASHER = SecretHasher(HashParams(time_cost=1, memory_kib=8 * 1024, parallelism=1))
PINS = {"nurse.a": "2468", "nurse.b": "1357", "admin": "admin-pass"}


def without_order_requirement(store) -> None:
    """Policy version 2: doses without the prescriber's order. For the tests of everything else the pre-session
    leads to; the order step runs under the default policy in tests/chair/test_records_presession.py and
    tests/e2e/test_presession_order.py (a new clinic's chart requires the order, docs/DECISIONS.md)."""
    store.set_policy(store.policy.changed(order_required_before_dose=False))


def signed_in(store, user_id: str = "nurse.a") -> Accounts:
    """Accounts over ``store`` with ``user_id`` signed in (store.author is then that user)."""
    acc = Accounts(store, hasher=FAST_HASHER)
    acc.sign_in(user_id, PINS[user_id])
    return acc


def sign(dialog, pin: str, user_id: str | None = None) -> bool:
    """Fill a re-authentication dialog (user id, PIN) and press Sign."""
    if user_id is not None:
        dialog.user_id.setText(user_id)
    dialog.secret.setText(pin)
    return dialog.submit()


@pytest.fixture
def store(tmp_path, clock):
    s = open_store(tmp_path / "chart.db", unencrypted=True, clock=clock)
    s.author = "nurse.a"
    s.create_user("nurse.a", "Ada Nurse, RN", "nurse", FAST_HASHER.hash(PINS["nurse.a"]))
    s.create_user("nurse.b", "Ben Okafor, RN", "nurse", FAST_HASHER.hash(PINS["nurse.b"]))
    yield s
    try:
        s.close()
    except Exception:
        pass


@pytest.fixture
def accounts(store):
    return signed_in(store)


def open_window(qtbot, store, clock, accounts):
    """The chair's main window at 1280x800, shown, its writer quick; idle lock off (these tests move the fake
    clock by minutes without input; tests/ui/test_chair_auth.py locks)."""
    from ketachart.app import create_main_window

    w = create_main_window(store, clock, repaint_ms=50, accounts=accounts, idle_min=0, lock_tick_ms=20)
    w.c.writer.interval_s = 0.05
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    return w


@pytest.fixture
def window(qtbot, store, clock, accounts):
    without_order_requirement(store)
    w = open_window(qtbot, store, clock, accounts)
    yield w
    w.close()


def feed(window, qtbot, readings, *, from_thread: bool = True) -> None:
    """Hand readings to the bridge as a device thread would, and wait until the GUI thread took them."""
    before = window.c.bridge.delivered
    if from_thread:
        t = threading.Thread(target=window.c.bridge.submit_many, args=(readings,))
        t.start()
        t.join()
    else:
        window.c.bridge.submit_many(readings)
    qtbot.waitUntil(lambda: window.c.bridge.delivered >= before + len(readings), timeout=5000)


def vitals(clock, seconds: int, hr: float = 72, spo2: float = 98, step: int = 1, source: str = "device:ge"):
    """``seconds`` of 1 Hz HR/SpO2 readings, advancing the fake clock as they 'arrive'."""
    out = []
    for _ in range(0, seconds, step):
        now = clock.advance(step)
        out += [Reading(Parameter.HR, hr, now, source=source), Reading(Parameter.SPO2, spo2, now, source=source)]
    return out


def nibp(clock, sys_: float, dia: float, mean: float | None = None, source: str = "device:ge"):
    now = clock.now()
    out = [Reading(Parameter.NIBP_SYS, sys_, now, source=source), Reading(Parameter.NIBP_DIA, dia, now, source=source)]
    if mean is not None:
        out.append(Reading(Parameter.NIBP_MEAN, mean, now, source=source))
    return out


def calm(clock, minutes: float, step: int = 10, hr: float = 72, spo2: float = 98, rr: float = 14,
         bp: tuple[float, float] = (122, 78), source: str = "device:ge"):
    """``minutes`` of a calm monitor (HR, SpO2, RR every ``step`` s; an NIBP every 5 min), advancing the fake
    clock as they 'arrive': the chart of a session whose monitor kept streaming."""
    out = []
    for i in range(int(minutes * 60 // step)):
        now = clock.advance(step)
        out += [Reading(Parameter.HR, hr, now, source=source), Reading(Parameter.SPO2, spo2, now, source=source),
                Reading(Parameter.RR, rr, now, source=source)]
        if (i * step) % 300 == 0:
            out += [Reading(Parameter.NIBP_SYS, bp[0], now, source=source),
                    Reading(Parameter.NIBP_DIA, bp[1], now, source=source)]
    return out


def go(clock, minutes: float) -> None:
    clock.advance(timedelta(minutes=minutes).total_seconds())


def wait_writer(window, qtbot) -> None:
    window.c.writer.flush_soon()
    qtbot.waitUntil(lambda: window.c.writer.pending == 0, timeout=5000)

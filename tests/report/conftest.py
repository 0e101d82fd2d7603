"""A real demo session in a real (unencrypted) chart file, shared by the report tests of one module."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ketachart.demo import write_demo_session
from ketachart.domain.clock import FakeClock
from ketachart.store.open import open_store

PRINTED_AT = datetime(2026, 1, 5, 15, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "chart.db"
    store = open_store(path, unencrypted=True, clock=FakeClock(datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)))
    session_id = write_demo_session(store, seed=0)
    store.clock.advance(timedelta(hours=6).total_seconds())
    yield store, session_id
    store.close()

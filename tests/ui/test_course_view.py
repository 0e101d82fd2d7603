"""The patients screen's course view numbers sessions within their course, as the chart and the summary do."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ketachart.demo import write_demo_session
from ketachart.domain.clock import FakeClock
from ketachart.store.repository import ChartStore
from ketachart.store.views import session_view
from ketachart.ui.viewmodels import course_vm


def test_a_patient_moved_from_iv_to_intranasal_starts_a_new_count(tmp_path):
    start = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    store = ChartStore.open(tmp_path / "c.db", FakeClock(start))
    try:
        iv = [write_demo_session(store, seed=0, start=start + timedelta(days=d)) for d in (0, 3)]
        spravato = write_demo_session(store, seed=0, start=start + timedelta(days=7), route="IN")
        pid = session_view(store, spravato).patient["patient_id"]
        vm = course_vm(store, pid, start + timedelta(days=8))
        assert [(s["id"], s["n"], s["route"]) for s in vm.sessions] == [
            (iv[0], 1, "IV"), (iv[1], 2, "IV"), (spravato, 1, "IN")]
        assert session_view(store, spravato).session_number == 1  # what the session screen's title says
        assert vm.next_due.startswith("session 2 due")  # the intranasal course's second, not the patient's fourth
        assert "twice a week" in vm.phase  # the intranasal induction's rhythm
    finally:
        store.close()

"""The board model against the real PostgreSQL: chairs chart through the real store and sync; the board reads
with its read-only login; time is a FakeClock on both sides."""

from __future__ import annotations

from datetime import timedelta

from ketachart.board.model import BoardModel, Phase, ago
from ketachart.board.queries import BoardSource
from ketachart.domain.clock import FakeClock
from ketachart.domain.session import SessionEvent
from ketachart.sync.live import LivePush
from ketachart.sync.service import SyncService

from .scenario import start_infusion, vitals


class CountingSource(BoardSource):
    def __init__(self, conn):
        super().__init__(conn)
        self.reads: list[list[str]] = []

    def read(self, device_ids):
        self.reads.append(list(device_ids))
        return super().read(device_ids)


def _push(store, url_for, name, states=None):
    live = LivePush(SyncService(store, url_for(store, name)), chair_name=name,
                    device_states=lambda: states or {"monitor": "connected", "pump": "connected"})
    result = live.pass_once()
    assert result.error is None, result.error
    return live


def _board(board_url, clock, **kw):
    source = BoardSource.connect(board_url)
    return CountingSource(source.conn), BoardModel(CountingSource(source.conn), clock, **kw)


def test_tiles_show_phase_patient_vitals_clocks_alerts_and_free_chairs(central, board_url, make_chair, chair_url):
    a = make_chair("a", FakeClock())
    sid = start_infusion(a, "Chair 2", "MRN-77", minutes_of_vitals=35)
    alert = a.raise_alert(sid, "hr-high", "high", "HR 132 above 120 for 5 min")
    _push(a, chair_url, "chair-2")
    b = make_chair("b", FakeClock())
    sid_b = start_infusion(b, "Chair 10", "MRN-88", family="Okafor", given="Chidi", minutes_of_vitals=2)
    b.session_event(sid_b, SessionEvent.STOP_INFUSION)
    b.session_event(sid_b, SessionEvent.DISCHARGE)
    _push(b, chair_url, "chair-10", {"monitor": "silent"})

    clock = FakeClock()
    source = BoardSource.connect(board_url)
    model = BoardModel(source, clock)
    model.refresh()
    tiles = model.tiles()
    assert [t.chair_name for t in tiles] == ["Chair 2", "Chair 10"]  # natural order
    t = tiles[0]
    assert t.phase is Phase.INFUSING and t.route == "IV" and t.session_id == sid
    assert t.patient_text == "Rivera, Jordan · MRN MRN-77"
    assert [v.label for v in t.vitals] == ["HR", "SpO2", "BP"]
    assert t.vitals[2].text == "128/82"
    assert t.vitals[0].age_text in ("0 s ago", "1 s ago", "2 s ago", "3 s ago")
    assert t.vitals[2].age >= timedelta(minutes=35)
    # Server time moves on (real time, up to seconds on a loaded machine) between the heartbeat and the read.
    assert t.elapsed_text in ("Elapsed 35:00", "Elapsed 35:01", "Elapsed 35:02", "Elapsed 35:03")
    assert t.bp_overdue and t.next_bp_text.startswith("BP OVERDUE by 20:")  # 15-min interval, last BP at start
    assert t.discharge_text in ("Discharge in 1:25:00", "Discharge in 1:24:59", "Discharge in 1:24:58",
                                "Discharge in 1:24:57")
    assert [x.message for x in t.alerts] == ["HR 132 above 120 for 5 min"] and model.sounding()
    hr = t.trend["HR"]
    assert 55 <= len(hr) <= 61 and hr[0][0] >= -30.5 and hr[-1][0] <= 0
    assert not t.stale and t.last_heard_text.endswith("s ago")
    assert "monitor connected" in t.devices_text
    free = tiles[1]
    assert free.phase is Phase.FREE and free.patient_text == "" and not free.alerting
    assert free.devices_text == "monitor silent"

    # Acknowledged at the chair (the board never acknowledges): after the chair's push the tile is calm.
    a.acknowledge_alert(alert["id"], "HR rechecked, patient calm")
    _push(a, chair_url, "chair-2")
    model.refresh([a.device_id])
    assert not model.tile(a.device_id).alerting and not model.sounding()
    source.close()


def test_silent_chair_turns_stale_and_says_since_when(central, board_url, make_chair, chair_url):
    a = make_chair("a", FakeClock())
    start_infusion(a, "Chair 1", "MRN-1", minutes_of_vitals=1)
    _push(a, chair_url, "chair-1")
    clock = FakeClock()
    model = BoardModel(BoardSource.connect(board_url), clock)
    model.refresh()
    assert not model.tile(a.device_id).stale
    clock.advance(29)
    assert not model.tile(a.device_id).stale
    clock.advance(2)
    assert model.tile(a.device_id).stale
    clock.advance(90)
    assert model.tile(a.device_id).last_heard_text == "last heard 2 min ago"
    model.source.close()


def test_initials_only_policy_and_phases_through_recovery(central, board_url, make_chair, chair_url):
    a = make_chair("a", FakeClock())
    sid = start_infusion(a, "Chair 1", "MRN-5", family="Lindqvist", given="Maja", minutes_of_vitals=1)
    a.session_event(sid, SessionEvent.PAUSE, reason="nausea")
    _push(a, chair_url, "chair-1")
    clock = FakeClock()
    model = BoardModel(BoardSource.connect(board_url), clock, initials_only=True)
    model.refresh()
    t = model.tile(a.device_id)
    assert t.phase is Phase.PAUSED and t.patient_text == "M.L. · MRN MRN-5"
    a.session_event(sid, SessionEvent.RESUME)
    a.clock.advance(40 * 60)
    a.session_event(sid, SessionEvent.STOP_INFUSION)
    _push(a, chair_url, "chair-1")
    model.refresh([a.device_id])
    assert model.tile(a.device_id).phase is Phase.RECOVERY
    a.clock.advance(80 * 60)  # two hours after the start: the discharge check is due
    vitals(a, sid, 1)
    _push(a, chair_url, "chair-1")
    model.refresh([a.device_id])
    t = model.tile(a.device_id)
    assert t.phase is Phase.READY and t.discharge_text == "Discharge check due"
    model.source.close()


def test_a_refresh_reads_only_the_chairs_that_changed(central, board_url, make_chair, chair_url):
    chairs = []
    for i in range(3):
        s = make_chair(f"c{i}", FakeClock())
        start_infusion(s, f"Chair {i + 1}", f"MRN-{i}", minutes_of_vitals=1)
        _push(s, chair_url, f"chair-{i + 1}")
        chairs.append(s)
    from ketachart.board.queries import BoardSource as _BS

    base = _BS.connect(board_url)
    source = CountingSource(base.conn)
    model = BoardModel(source, FakeClock())
    model.refresh()
    assert sorted(source.reads[-1]) == sorted(c.device_id for c in chairs)
    assert model.refresh([chairs[1].device_id]) == {chairs[1].device_id}
    assert source.reads[-1] == [chairs[1].device_id]
    new = make_chair("new", FakeClock())
    start_infusion(new, "Chair 9", "MRN-9", minutes_of_vitals=1)
    _push(new, chair_url, "chair-9")
    model.refresh([new.device_id])  # a chair the board has not seen: the chair list is read again
    assert len(model.tiles()) == 4
    base.close()


def test_ago_words():
    assert ago(timedelta(seconds=12)) == "12 s ago"
    assert ago(timedelta(minutes=2, seconds=59)) == "2 min ago"
    assert ago(timedelta(hours=1, minutes=5)) == "1 h 5 min ago"
    assert ago(None) == "never"


def test_flagged_readings_are_never_numbers_on_the_board_and_pulse_rate_stands_in(central, board_url, make_chair,
                                                                                 chair_url):
    from ketachart.domain.codes import Parameter
    from ketachart.domain.readings import Quality, Reading

    a = make_chair("a", FakeClock())
    sid = start_infusion(a, "Chair 1", "MRN-1", minutes_of_vitals=2)
    a.clock.advance(1)
    a.add_readings(sid, [Reading(Parameter.HR, 188.0, a.clock.now(), source="device:test",
                                 flags=frozenset({Quality.ARTIFACT})),
                         Reading(Parameter.SPO2, 71.0, a.clock.now(), source="device:test",
                                 flags=frozenset({Quality.ARTIFACT}))])
    _push(a, chair_url, "chair-1")
    b = make_chair("b", FakeClock())
    sid_b = start_infusion(b, "Chair 2", "MRN-2", minutes_of_vitals=0)
    b.add_readings(sid_b, [Reading(Parameter.PR, 91.0, b.clock.now(), source="device:test")])
    _push(b, chair_url, "chair-2")
    model = BoardModel(BoardSource.connect(board_url), FakeClock())
    model.refresh()
    vitals = {v.label: v.text for v in model.tile(a.device_id).vitals}
    assert vitals["HR"] != "188" and vitals["SpO2"] != "71"
    assert all(v < 150 for _, v in model.tile(a.device_id).trend["HR"])
    assert {v.label: v.text for v in model.tile(b.device_id).vitals}["PR"] == "91"
    model.source.close()


def test_a_record_an_admin_linked_shows_as_the_kept_patient(central, board_url, make_chair, chair_url):
    """Issue 13: the board reads a linked (merged) record as its kept patient, once an admin login carried it."""
    from ketachart.store.patient_links import link_patients

    a = make_chair("a", FakeClock())
    kept = a.create_patient("MRN-77", "Rivera", "Jordan", "1984-03-12", "female", 70.0)["patient_id"]
    assert SyncService(a, chair_url(a, "chair-1")).run_once().error is None
    b = make_chair("b", FakeClock())
    start_infusion(b, "Chair 3", "MRN-77", given="Jordn", minutes_of_vitals=1)  # registered again, offline
    _push(b, chair_url, "chair-3")
    model = BoardModel(BoardSource.connect(board_url), FakeClock())
    model.refresh()
    assert model.tile(b.device_id).patient_text == "Rivera, Jordn · MRN MRN-77"
    assert SyncService(a, chair_url(a, "chair-1")).run_once().error is None  # a sees b's record
    merged = next(p["patient_id"] for p in a.patients() if p["patient_id"] != kept)
    link_patients(a, kept, merged, "one person, name mistyped at chair 3", author="admin")
    assert SyncService(a, chair_url(a, "chair-1")).run_once().error is None  # a chair login: not carried
    model.refresh()
    assert model.tile(b.device_id).patient_text == "Rivera, Jordn · MRN MRN-77"
    assert SyncService(a, central.admin_url).run_once().error is None  # the admin login carries it, vouched
    model.refresh()
    assert model.tile(b.device_id).patient_text == "Rivera, Jordan · MRN MRN-77"

"""The chair remembers its devices (issue 14): the set-up is saved per chair and reconnected on start."""

from __future__ import annotations

import json
import threading

import pytest

from ketachart.domain.clock import FakeClock
from ketachart.domain.errors import ClinicalInputError
from ketachart.hardware.devices import DeviceManager, DeviceSetup, SetupFile, setup_path_for
from ketachart.hardware.sim.server import SimServer

from .devtools import Recorder


class Bridge:
    """The thread-safe sink DeviceManager feeds (the UI's ReadingBridge in the app)."""

    def __init__(self) -> None:
        self.rec = Recorder()
        self.states: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def submit(self, reading) -> None:
        self.rec.on_reading(reading)

    def submit_state(self, name: str, state: str) -> None:
        with self.lock:
            self.states.append((name, state))


def test_setup_is_saved_on_connect_and_reconnected_on_the_next_start(tmp_path):
    clock = FakeClock()
    file = SetupFile(setup_path_for(tmp_path / "chart.db"))
    assert file.path == tmp_path / "chart.db.devices.json"
    with SimServer("masimo", clock=clock, tick_s=0.01) as srv:
        first = DeviceManager(Bridge(), clock, file)
        first.connect("masimo", srv.port_url, bed="07", device_tz="Europe/Berlin")
        saved = json.loads(file.path.read_text())["devices"]
        assert saved == [{"name": "monitor", "protocol": "masimo", "port_url": srv.port_url, "bed": "07",
                          "monitor": None, "device_tz": "Europe/Berlin"}]
        first.stop_all()  # the app closes: the set-up stays
        assert file.load() == [DeviceSetup("monitor", "masimo", srv.port_url, "07", None, "Europe/Berlin")]

        bridge = Bridge()
        second = DeviceManager(bridge, clock, file)
        try:
            (conn,) = second.reconnect_saved()
            assert (conn.protocol, conn.port_url, conn.settings.device_tz) == ("masimo", srv.port_url,
                                                                                "Europe/Berlin")
            assert bridge.rec.wait(lambda: len(bridge.rec.readings) >= 3, advance=lambda: clock.advance(1.0))
            assert str(bridge.rec.readings[0].device_time.tzinfo) == "Europe/Berlin"
        finally:
            second.stop_all()


def test_a_device_the_nurse_disconnects_is_forgotten(tmp_path):
    clock = FakeClock()
    file = SetupFile(tmp_path / "d.json")
    with SimServer("masimo", clock=clock, tick_s=0.01) as mon, SimServer("bbraun", clock=clock, tick_s=0.01) as pump:
        m = DeviceManager(Bridge(), clock, file)
        try:
            m.connect("masimo", mon.port_url)
            m.connect("bbraun", pump.port_url)
            assert [s.protocol for s in file.load()] == ["masimo", "bbraun"]
            m.disconnect("pump")
            assert [s.protocol for s in file.load()] == ["masimo"]
        finally:
            m.stop_all()


def test_a_missing_port_is_reconnected_anyway_and_waits_for_the_adapter(tmp_path):
    file = SetupFile(tmp_path / "d.json")
    file.save([DeviceSetup("monitor", "ge", str(tmp_path / "ttyUSB3"))])
    bridge = Bridge()
    m = DeviceManager(bridge, FakeClock(), file)
    try:
        (conn,) = m.reconnect_saved()
        assert bridge.rec.wait(lambda: conn.state == "lost", timeout=5)
        assert "not found" in conn.detail
    finally:
        m.stop_all()


def test_demo_devices_are_never_saved(tmp_path):
    file = SetupFile(tmp_path / "d.json")
    m = DeviceManager(Bridge(), FakeClock(), file)
    try:
        m.connect_demo(monitor="masimo", pump="")
        assert not file.path.exists()
    finally:
        m.stop_all()


@pytest.mark.parametrize("text", ["{not json", "[]", '{"devices": [{"name": "monitor"}, 7, {"protocol": 1}]}', ""])
def test_a_damaged_setup_file_is_ignored_not_fatal(tmp_path, text):
    file = SetupFile(tmp_path / "d.json")
    file.path.write_text(text)
    assert file.load() == []
    assert DeviceManager(Bridge(), FakeClock(), file).reconnect_saved() == []


def test_bad_saved_entries_do_not_stop_the_good_ones(tmp_path):
    clock = FakeClock()
    file = SetupFile(tmp_path / "d.json")
    with SimServer("masimo", clock=clock, tick_s=0.01) as srv:
        file.save([DeviceSetup("monitor 2", "nonsense", srv.port_url), DeviceSetup("monitor", "masimo", srv.port_url)])
        m = DeviceManager(Bridge(), clock, file)
        try:
            assert [c.protocol for c in m.reconnect_saved()] == ["masimo"]
        finally:
            m.stop_all()


def test_an_unknown_device_zone_is_refused_and_changes_nothing(tmp_path):
    file = SetupFile(tmp_path / "d.json")
    m = DeviceManager(Bridge(), FakeClock(), file)
    with pytest.raises(ClinicalInputError, match="time zone"):
        m.connect("hl7", "listen://127.0.0.1:0", device_tz="Mars/Olympus")
    assert m.connections == {} and not file.path.exists()


def test_the_open_patient_reaches_every_link(tmp_path):
    m = DeviceManager(Bridge(), FakeClock())
    try:
        conn = m.connect("hl7", "listen://127.0.0.1:0")
        m.set_patient("MRN1")
        assert conn.link.settings.patient_mrn == "MRN1"
        later = m.connect("hl7", "listen://127.0.0.1:0", name="monitor 2")
        assert later.link.settings.patient_mrn == "MRN1"
    finally:
        m.stop_all()

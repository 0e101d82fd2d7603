"""Device connections for the chair: which monitor and pump are attached, and what state each is in.

The chair remembers its set-up (protocol, port or URL, bed, monitor, device time zone per connection) in a
small JSON file beside its chart (``SetupFile``), written whenever the nurse connects or disconnects a real
device, and ``reconnect_saved`` brings it back on start, so nobody picks the ports again each session.

A connection wraps a :class:`~ketachart.hardware.link.DeviceLink` (reader thread, reconnects, watchdog); its
readings and states go to a sink with ``submit(reading)`` and ``submit_state(name, state)`` that any thread may
call (the UI's ``ReadingBridge``), never straight to widgets. No Qt here. ``--demo`` adds
built-in simulators served on pseudo-terminals, so the demo exercises the real ports, links and parsers.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..domain.clock import Clock
from .codecs.base import DeviceSettings

log = logging.getLogger(__name__)

MONITOR_PROTOCOLS = ("ge", "philips", "masimo", "hl7")
PUMP_PROTOCOLS = ("bbraun",)
PROTOCOL_LABELS = {
    "ge": "GE (S/5 DRI)", "philips": "Philips IntelliVue (MIB)", "masimo": "Masimo Radical-7",
    "hl7": "HL7 v2 / MLLP gateway", "bbraun": "B. Braun Space (BCC)",
}


@dataclass(frozen=True)
class DeviceSetup:
    """One remembered connection of this chair."""

    name: str
    protocol: str
    port_url: str
    bed: str | None = None
    monitor: str | None = None
    device_tz: str | None = None


class SetupFile:
    """The chair's device set-up on disk: JSON, written atomically; a damaged file is reported and ignored
    (the nurse connects again), never a reason not to start."""

    VERSION = 1

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def load(self) -> list[DeviceSetup]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("device set-up %s unreadable (%s): not reconnecting", self.path, exc)
            return []
        out = []
        for entry in data.get("devices", []) if isinstance(data, dict) else []:
            try:
                setup = DeviceSetup(**{k: entry.get(k) for k in ("name", "protocol", "port_url", "bed", "monitor",
                                                                   "device_tz")})
            except (TypeError, AttributeError):
                continue
            if all(isinstance(getattr(setup, k), str) and getattr(setup, k) for k in ("name", "protocol", "port_url")):
                out.append(setup)
        return out

    def save(self, setups: list[DeviceSetup]) -> None:
        text = json.dumps({"version": self.VERSION, "devices": [asdict(s) for s in setups]}, indent=2)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


def setup_path_for(chart_path: Path | str) -> Path:
    """Where a chart's chair keeps its device set-up: beside the chart file (one chart per chair)."""
    chart = Path(chart_path)
    return chart.with_name(chart.name + ".devices.json")


def role_of(protocol: str) -> str:
    return "pump" if protocol in PUMP_PROTOCOLS else "monitor"


@dataclass
class Connection:
    name: str  # "monitor" / "pump" / "monitor 2"
    protocol: str
    port_url: str
    link: object | None = None
    server: object | None = None  # demo simulator
    state: str = "connecting"
    detail: str = ""
    simulated: bool = False
    extra: dict = field(default_factory=dict)
    settings: DeviceSettings = field(default_factory=DeviceSettings)

    @property
    def source(self) -> str:
        return f"device:{self.protocol}"

    @property
    def label(self) -> str:
        return PROTOCOL_LABELS.get(self.protocol, self.protocol)


def available_ports() -> list[tuple[str, str]]:
    """(device, description) of the serial ports the OS sees."""
    try:
        from .link import list_ports

        return [(p.device, p.description) for p in list_ports()]
    except Exception:
        return []


def check_port(port_url: str) -> None:
    """Open and close a local serial port once, so a busy or missing port is refused before anything changes.

    URLs (``socket://``, ``tcp://``, ``listen://``) are not probed: the link reports them as it connects."""
    if "://" in port_url:
        return
    from ..domain.errors import ClinicalInputError
    from .link import _describe

    try:
        import serial

        port = serial.Serial(port_url, timeout=0, exclusive=True)
        port.close()
    except (OSError, ValueError, Exception) as exc:  # serial.SerialException is an OSError subclass
        raise ClinicalInputError(f"cannot use {port_url}: {_describe(exc)}. Nothing was changed.") from None


class DeviceManager:
    """Owns the chair's device connections. Start/stop from the GUI thread; callbacks arrive on link threads."""

    def __init__(self, bridge, clock: Clock, setup_file: SetupFile | None = None) -> None:
        # bridge: the thread-safe sink for readings and states; setup_file: where this chair's set-up is kept
        self.bridge = bridge
        self.clock = clock
        self.setup_file = setup_file
        self.connections: dict[str, Connection] = {}
        self.patient_mrn: str | None = None

    def use_setup_file(self, setup_file: SetupFile | None) -> None:
        """Remember real connections there from now on (``--demo`` never does: its devices are simulated)."""
        self.setup_file = setup_file

    def reconnect_saved(self) -> list[Connection]:
        """Connect what this chair had connected last time. A port that is missing now is connected anyway:
        its link says "not found" and picks the device up when it is plugged in."""
        if self.setup_file is None:
            return []
        out = []
        for setup in self.setup_file.load():
            try:
                out.append(self.connect(setup.protocol, setup.port_url, setup.name, bed=setup.bed,
                                        monitor=setup.monitor, device_tz=setup.device_tz, check=False))
            except Exception as exc:  # a bad entry (unknown protocol or zone) must not stop the others
                log.warning("saved device %s not reconnected: %s", setup.name, exc)
        return out

    def set_patient(self, mrn: str | None) -> None:
        """The open session's patient (None: none): HL7 messages naming another patient are held."""
        self.patient_mrn = mrn or None
        for conn in self.connections.values():
            if conn.link is not None:
                conn.link.set_patient(self.patient_mrn)

    def resolve_held(self, name: str, hold_id: int, accept: bool) -> bool:
        """The nurse's answer to "monitor says another patient" on connection ``name`` (False: it is gone)."""
        conn = self.connections.get(name)
        if conn is None or conn.link is None:
            return False
        conn.link.resolve_held(hold_id, accept)
        return True

    def _remember(self) -> None:
        if self.setup_file is None:
            return
        setups = [DeviceSetup(c.name, c.protocol, c.port_url, c.settings.bed, c.settings.monitor,
                              c.settings.device_tz) for c in self.connections.values() if not c.simulated]
        try:
            self.setup_file.save(setups)
        except OSError as exc:
            log.warning("device set-up not saved (%s): it will not be reconnected on the next start", exc)

    def connect(self, protocol: str, port_url: str, name: str | None = None, server=None, *,
                bed: str | None = None, monitor: str | None = None, device_tz: str | None = None,
                check: bool = True, on_event=None) -> Connection:
        """Connect a device (replacing the one of that name). ``bed``/``monitor``: which bed and monitor an
        HL7 connection charts; ``device_tz``: zone of device clocks without an offset (default: the chair's).
        ``on_event``: device information and "monitor says another patient" questions, on the link's thread."""
        from .link import DeviceLink

        settings = DeviceSettings(bed=bed or None, monitor=monitor or None, device_tz=device_tz or None,
                                  patient_mrn=self.patient_mrn)
        if device_tz:
            from ..domain.errors import ClinicalInputError

            try:
                settings.zone()
            except Exception:
                raise ClinicalInputError(f"unknown time zone {device_tz!r} (use a name such as Europe/Berlin). "
                                         "Nothing was changed.") from None
        name = name or role_of(protocol)
        held = self.connections.get(name)
        if check and server is None and not (held is not None and held.port_url == port_url):  # (our link holds it)
            check_port(port_url)  # a busy or missing port: a clear message, the current device stays connected
        if server is None and held is not None and held.port_url == port_url and held.server is not None:
            server, held.server = held.server, None  # same simulated port, another protocol: keep the simulator
        if name in self.connections:
            self._disconnect(name)
        conn = Connection(name, protocol, port_url, server=server, simulated=server is not None, settings=settings)

        def on_state(state: str, detail: str = "", _conn=conn) -> None:
            _conn.state, _conn.detail = state, detail
            self.bridge.submit_state(_conn.name, state)

        if on_event is None and hasattr(self.bridge, "submit_event"):  # questions for the nurse go to the chair
            def on_event(event, _name=name) -> None:
                self.bridge.submit_event(_name, event)
        conn.link = DeviceLink(protocol, port_url, self.bridge.submit, on_state, self.clock, settings=settings,
                               on_event=on_event)
        self.connections[name] = conn
        conn.link.start()
        self.bridge.submit_state(name, conn.state)
        if not conn.simulated:
            self._remember()
        return conn

    def connect_demo(self, monitor: str = "ge", pump: str = "bbraun", start_t: float = -900.0,
                     hypertensive: bool = False, seed: int = 7) -> list[Connection]:
        """Serve simulated devices on ptys (clock = the app's clock) and link to them."""
        from .sim.catalog import sim_for
        from .sim.physiology import Patient
        from .sim.server import TICK_S, SimServer

        # The app's demo (a ScaledClock) ticks its devices every 0.1 s of real time at 1x (a 1 Hz monitor is late
        # by at most that; a pump answers a query at once, on the readable port): five times fewer wake-ups than
        # the simulator's default, which the demo's battery figure (ui.app_cpu_pct) pays. Faster clocks tick as
        # finely as before, and so does a clock without a speed (tests step a FakeClock by whole seconds).
        speed = getattr(self.clock, "speed", None)
        tick_s = max(TICK_S, 0.1 / float(speed)) if speed else TICK_S
        out = []
        for protocol in (monitor, pump):
            if not protocol:
                continue
            sim = sim_for(protocol, scenario="ketamine", seed=seed)
            if hypertensive and hasattr(sim, "patient"):
                sim.patient = Patient(seed=seed, scenario="ketamine", hypertensive=True)
                if hasattr(sim, "_nibp_times"):
                    from .sim.ge_dri import NIBP_WINDOW_S

                    sim._nibp_times = sim.patient.nibp_times(*NIBP_WINDOW_S)
            server = SimServer(protocol, clock=self.clock, speed=1.0, start_t=start_t, sim=sim, tick_s=tick_s).start()
            out.append(self.connect(protocol, server.port_url, server=server))
        return out

    def disconnect(self, name: str) -> None:
        """The nurse disconnects a device: it is not reconnected on the next start either."""
        conn = self._disconnect(name)
        if conn is not None and not conn.simulated:
            self._remember()

    def _disconnect(self, name: str) -> Connection | None:
        conn = self.connections.pop(name, None)
        if conn is None:
            return
        if conn.link is not None:
            conn.link.stop()
        if conn.server is not None:
            conn.server.stop()
        self.bridge.submit_state(name, "disconnected")
        return conn

    def stop_all(self) -> None:
        """The app closes: every link stops, the set-up stays remembered for the next start."""
        for name in list(self.connections):
            self._disconnect(name)

    def monitors(self) -> list[Connection]:
        return [c for c in self.connections.values() if role_of(c.protocol) == "monitor"]

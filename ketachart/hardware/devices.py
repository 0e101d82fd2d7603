"""Device connections for the chair: which monitor and pump are attached, and what state each is in.

A connection wraps a :class:`~ketachart.hardware.link.DeviceLink` (reader thread, reconnects, watchdog); its
readings and states go to a sink with ``submit(reading)`` and ``submit_state(name, state)`` that any thread may
call (the UI's ``ReadingBridge``), never straight to widgets. No Qt here. ``--demo`` adds
built-in simulators served on pseudo-terminals, so the demo exercises the real ports, links and parsers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..domain.clock import Clock

MONITOR_PROTOCOLS = ("ge", "philips", "masimo", "hl7")
PUMP_PROTOCOLS = ("bbraun",)
PROTOCOL_LABELS = {
    "ge": "GE (S/5 DRI)", "philips": "Philips IntelliVue (MIB)", "masimo": "Masimo Radical-7",
    "hl7": "HL7 v2 / MLLP gateway", "bbraun": "B. Braun Space (BCC)",
}


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

    def __init__(self, bridge, clock: Clock) -> None:  # bridge: the thread-safe sink for readings and states
        self.bridge = bridge
        self.clock = clock
        self.connections: dict[str, Connection] = {}

    def connect(self, protocol: str, port_url: str, name: str | None = None, server=None) -> Connection:
        from .link import DeviceLink

        name = name or role_of(protocol)
        held = self.connections.get(name)
        if server is None and not (held is not None and held.port_url == port_url):  # (our own link holds it)
            check_port(port_url)  # a busy or missing port: a clear message, the current device stays connected
        if server is None and held is not None and held.port_url == port_url and held.server is not None:
            server, held.server = held.server, None  # same simulated port, another protocol: keep the simulator
        if name in self.connections:
            self.disconnect(name)
        conn = Connection(name, protocol, port_url, server=server, simulated=server is not None)

        def on_state(state: str, detail: str = "", _conn=conn) -> None:
            _conn.state, _conn.detail = state, detail
            self.bridge.submit_state(_conn.name, state)

        conn.link = DeviceLink(protocol, port_url, self.bridge.submit, on_state, self.clock)
        self.connections[name] = conn
        conn.link.start()
        self.bridge.submit_state(name, conn.state)
        return conn

    def connect_demo(self, monitor: str = "ge", pump: str = "bbraun", start_t: float = -900.0,
                     hypertensive: bool = False, seed: int = 7) -> list[Connection]:
        """Serve simulated devices on ptys (clock = the app's clock) and link to them."""
        from .sim.base import sim_for
        from .sim.physiology import Patient
        from .sim.server import SimServer

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
            server = SimServer(protocol, clock=self.clock, speed=1.0, start_t=start_t, sim=sim).start()
            out.append(self.connect(protocol, server.port_url, server=server))
        return out

    def disconnect(self, name: str) -> None:
        conn = self.connections.pop(name, None)
        if conn is None:
            return
        if conn.link is not None:
            conn.link.stop()
        if conn.server is not None:
            conn.server.stop()
        self.bridge.submit_state(name, "disconnected")

    def stop_all(self) -> None:
        for name in list(self.connections):
            self.disconnect(name)

    def monitors(self) -> list[Connection]:
        return [c for c in self.connections.values() if role_of(c.protocol) == "monitor"]

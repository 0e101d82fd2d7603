"""The contract every device simulator keeps: the device's end of a codec.

The simulator server (``sim/server.py``) owns the pseudo-terminal or socket and drives a sim like this::

    sim = sim_for("philips", scenario="ketamine", seed=1)
    sim.receive_data(bytes_from_host, t)   # t: device-clock seconds since the infusion started (may be < 0)
    sim.tick(t)                            # called often (e.g. every 50 ms of device time)
    port.write(sim.data_to_send())

A sim waits for the host's request or association where the real device does, pushes at the device's
cadence, answers keep-alives. Physiology comes from :class:`~.physiology.Patient`. The ``artifacts``
scenario makes the sim itself inject garbage bytes, values that need escaping, invalid markers and half
frames; ``flaky`` (dropping and restoring the line) is done by the server, not the sim.
"""

from __future__ import annotations

from typing import Callable, ClassVar

import os

from ..registry import registrar
from .physiology import Patient
from .scenarios import EVENTS, ScenarioPatient

SCENARIOS = ("baseline", "ketamine", "artifacts", "flaky", *EVENTS)
DEMO_SCENARIO_ENV = "KETACHART_DEMO_SCENARIO"  # ``ketachart --demo --scenario NAME`` sets it


class DeviceSim:
    protocol: ClassVar[str] = ""

    def __init__(self, scenario: str = "ketamine", seed: int = 1) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
        self.scenario = scenario
        self.seed = seed
        if scenario in EVENTS:
            self.patient: Patient = ScenarioPatient(scenario, seed=seed)
        else:
            self.patient = Patient(seed=seed, scenario="baseline" if scenario == "baseline" else "ketamine")
        self._outgoing = bytearray()

    def receive_data(self, data: bytes, t: float) -> None:
        """Bytes written by the host. Devices that never listen ignore them."""

    def tick(self, t: float) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def data_to_send(self) -> bytes:
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    def _send(self, data: bytes) -> None:
        self._outgoing += data


def use_demo_scenario(name: str) -> bool:
    """``ketachart --demo --scenario NAME``: the demo's simulated devices play NAME (False: unknown name, said
    on stderr)."""
    if name not in EVENTS:
        import sys

        print(f"ketachart: unknown scenario {name!r}; choose one of {', '.join(EVENTS)}", file=sys.stderr)
        return False
    os.environ[DEMO_SCENARIO_ENV] = name
    return True


SIMS: dict[str, Callable[..., DeviceSim]] = {}


register = registrar(SIMS)  # ``@register("ge")``: the simulator ``sim_for`` finds under that name

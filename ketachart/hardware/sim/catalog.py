"""The simulators by protocol name: every simulator module (each registers itself in ``base.SIMS``) and the
lookup. Add a line when adding a protocol.

Listed explicitly and imported without suppression: a protocol that fails to import is a bug to see at
once, not a device that silently disappears from the registry.
"""

from __future__ import annotations

import os

from . import bbraun_bcc, ge_dri, hl7_mllp, masimo, philips_mib  # noqa: F401
from .base import DEMO_SCENARIO_ENV, SIMS, DeviceSim
from .scenarios import EVENTS


def sim_for(name: str, scenario: str = "ketamine", seed: int = 1) -> DeviceSim:
    """A simulated device. The demo's ``ketamine`` devices play the scenario ``--demo --scenario`` chose."""
    if scenario == "ketamine" and os.environ.get(DEMO_SCENARIO_ENV) in EVENTS:
        scenario = os.environ[DEMO_SCENARIO_ENV]
    try:
        return SIMS[name](scenario=scenario, seed=seed)
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; choose one of {', '.join(sorted(SIMS))}") from None

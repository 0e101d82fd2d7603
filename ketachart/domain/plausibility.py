"""What a device may plausibly say about a patient in a chair: one range per parameter, in one place.

Devices and gateways send "no value" as numbers (-999, -100, -99.9, 0x7FFFFF ...) and, now and then,
impossible ones (a temperature of 384.5). A value outside its range is not a measurement: it is charted
with ``invalid`` and ``out-of-range`` and no number, so it never reaches the plot, an alarm or the paper.
The ranges are wide on purpose (they catch nonsense, not illness): every codec and any manual entry path
asks this module, never a copy of it. Values are in the parameter's canonical unit.
"""

from __future__ import annotations

import math
from dataclasses import replace

from .codes import Parameter
from .readings import Quality, Reading

# (lowest, highest) inclusive, canonical unit. Parameters without an entry (enumerations) are not checked.
PLAUSIBLE: dict[Parameter, tuple[float, float]] = {
    Parameter.HR: (20.0, 250.0),  # /min; 0 is a lead-off marker on several monitors, not a rate
    Parameter.PR: (20.0, 250.0),
    Parameter.SPO2: (1.0, 100.0),  # %
    Parameter.NIBP_SYS: (40.0, 300.0),  # mm[Hg]
    Parameter.NIBP_DIA: (15.0, 250.0),
    Parameter.NIBP_MEAN: (20.0, 280.0),
    Parameter.RR: (0.0, 120.0),  # /min; 0 is real (apnea) and carries the device's apnea flag
    Parameter.TEMP: (25.0, 45.0),  # Cel
    Parameter.ETCO2: (0.0, 150.0),  # mm[Hg]; 0 with apnea is a real reading
    Parameter.PI: (0.02, 20.0),  # %
    Parameter.WEIGHT: (2.0, 500.0),  # kg
    Parameter.PUMP_RATE: (0.0, 1800.0),  # mL/h (the Space pump's own maximum)
    Parameter.PUMP_VI: (0.0, 9999.9),  # mL
    Parameter.PUMP_VTBI: (0.0, 9999.9),
    Parameter.PUMP_DOSE_RATE: (0.0, 1e6),  # any unit: only sentinels and negatives are caught
}

IMPLAUSIBLE_FLAGS = frozenset({Quality.INVALID, Quality.OUT_OF_RANGE})


def is_plausible(parameter: Parameter, value: float) -> bool:
    """True when ``value`` (canonical unit) can be a measurement of ``parameter``."""
    if isinstance(value, bool) or not math.isfinite(value):
        return False
    bounds = PLAUSIBLE.get(parameter)
    return bounds is None or bounds[0] <= value <= bounds[1]


def screen(reading: Reading) -> Reading:
    """The reading as it may be charted: an implausible number becomes no number, flagged invalid and
    out-of-range. A value in another unit than the canonical one is only checked where the range is
    unit-free (the pump's dose rate)."""
    value = reading.value
    if value is None or reading.parameter not in PLAUSIBLE:
        return reading
    if reading.unit != reading.parameter.unit and reading.parameter is not Parameter.PUMP_DOSE_RATE:
        return reading
    if is_plausible(reading.parameter, value):
        return reading
    return replace(reading, value=None, flags=reading.flags | IMPLAUSIBLE_FLAGS)

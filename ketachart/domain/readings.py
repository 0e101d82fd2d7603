"""A normalized measurement, whatever device or person produced it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from .codes import Parameter


class Quality(str, Enum):
    """Why a reading may not be taken at face value. A reading with a blocking flag has no number."""

    INVALID = "invalid"
    QUESTIONABLE = "questionable"
    ARTIFACT = "artifact"
    CALIBRATING = "calibrating"
    DEMO = "demo"
    SENSOR_OFF = "sensor-off"
    LOW_PERFUSION = "low-perfusion"
    LOW_SIGNAL_IQ = "low-signal-iq"
    OUT_OF_RANGE = "out-of-range"
    UNAVAILABLE = "unavailable"
    MANUAL = "manual"
    APNEA = "apnea"  # the device reports apnea (GE CO2 group): a real 0, not a missing value
    INFERRED = "inferred"  # not said by the device but worked out from what it said (pump state from VI)


# Flags under which a value must never be shown or stored as a number.
BLOCKING = frozenset({Quality.INVALID, Quality.SENSOR_OFF, Quality.UNAVAILABLE, Quality.CALIBRATING})


@dataclass(frozen=True)
class Reading:
    """One value of one parameter.

    parameter   canonical parameter
    value       the number in ``unit``; None when the device marked it invalid/unavailable
    unit        UCUM unit (defaults to the parameter's canonical unit)
    device_time when the device says it measured (may be None or wrong: recorded, never trusted)
    host_time   when this computer received it (UTC, from the injected clock)
    flags       quality flags
    source      'device:<protocol>' or 'manual'
    text        for enumerated parameters (pump state, alarm): the device's word
    site        where it was measured when the device says so (temperature: axillary, skin, core ...)
    """

    parameter: Parameter
    value: float | None
    host_time: datetime
    unit: str = ""
    device_time: datetime | None = None
    flags: frozenset[Quality] = field(default_factory=frozenset)
    source: str = "device"
    text: str | None = None
    site: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.parameter, Parameter):
            object.__setattr__(self, "parameter", Parameter(self.parameter))
        if not self.unit:
            object.__setattr__(self, "unit", self.parameter.unit)
        if not isinstance(self.flags, frozenset):
            object.__setattr__(self, "flags", frozenset(Quality(f) for f in self.flags))
        if self.host_time.tzinfo is None:
            raise ValueError("host_time must be timezone-aware")
        if self.device_time is not None and self.device_time.tzinfo is None:
            # A codec must say which zone the device clock is in (usually configured, default UTC): the
            # chart stores aware times only, and a naive one would fail far away, in the vitals writer.
            raise ValueError("device_time must be timezone-aware")
        if self.value is not None:
            if isinstance(self.value, bool) or not math.isfinite(float(self.value)):
                raise ValueError(f"not a finite number: {self.value!r}")
            object.__setattr__(self, "value", float(self.value))
        if self.flags & BLOCKING and self.value is not None:
            # A value the device marks invalid is never presented as a number.
            object.__setattr__(self, "value", None)

    @property
    def is_valid(self) -> bool:
        return self.value is not None and not (self.flags & BLOCKING)

    @property
    def worth_charting(self) -> bool:
        """False for "no such measurement on this device" (a module that is not fitted): a monitor without CO2
        says so for ETCO2 every few seconds, which tells the chart nothing. Invalid, sensor-off or artefact
        readings are charted: they say when a measurement the nurse relied on was missing."""
        return not (self.value is None and self.flags == {Quality.UNAVAILABLE})

    @property
    def mdc(self) -> int | None:
        return self.parameter.mdc

    @property
    def loinc(self) -> str | None:
        return self.parameter.loinc

    def to_json(self) -> dict:
        """The JSON line shape used by ``ketachart capture`` and ``decode``."""
        return {
            "param": self.parameter.value,
            "value": self.value if self.text is None else self.text,
            "unit": self.unit,
            "mdc": self.mdc,
            "loinc": self.loinc,
            "device_time": self.device_time.isoformat() if self.device_time else None,
            "host_time": self.host_time.isoformat(),
            "flags": sorted(f.value for f in self.flags),
            **({"site": self.site} if self.site else {}),
        }

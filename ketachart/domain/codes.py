"""Clinical parameters with their interoperability codes (CLINICAL.md section 6).

A :class:`Parameter` is the canonical name used everywhere in KetaChart (``HR``, ``NIBP_SYS`` ...).
MDC code = partition x 65536 + term code. ``None`` means no confirmed code: we never invent one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class ParameterInfo:
    label: str  # what a nurse reads on screen
    unit: str  # UCUM
    loinc: str | None
    mdc: int | None
    mdc_ref: str | None
    decimals: int  # how many decimals to show


class Parameter(str, Enum):
    HR = "HR"
    PR = "PR"
    SPO2 = "SPO2"
    NIBP_SYS = "NIBP_SYS"
    NIBP_DIA = "NIBP_DIA"
    NIBP_MEAN = "NIBP_MEAN"
    RR = "RR"
    TEMP = "TEMP"
    ETCO2 = "ETCO2"
    PI = "PI"
    WEIGHT = "WEIGHT"
    PUMP_RATE = "PUMP_RATE"
    PUMP_VI = "PUMP_VI"
    PUMP_VTBI = "PUMP_VTBI"
    PUMP_DOSE_RATE = "PUMP_DOSE_RATE"
    PUMP_STATE = "PUMP_STATE"
    PUMP_ALARM = "PUMP_ALARM"
    MONITOR_ALARM = "MONITOR_ALARM"  # the monitor's technical alarms now (text: their words), not a vital

    @property
    def info(self) -> ParameterInfo:
        return PARAMETERS[self]

    @property
    def unit(self) -> str:
        return PARAMETERS[self].unit

    @property
    def loinc(self) -> str | None:
        return PARAMETERS[self].loinc

    @property
    def mdc(self) -> int | None:
        return PARAMETERS[self].mdc

    @property
    def label(self) -> str:
        return PARAMETERS[self].label


PARAMETERS: dict[Parameter, ParameterInfo] = {
    Parameter.HR: ParameterInfo("Heart rate", "/min", "8867-4", 147842, "MDC_ECG_HEART_RATE", 0),
    Parameter.PR: ParameterInfo("Pulse rate", "/min", "8867-4", 149530, "MDC_PULS_OXIM_PULS_RATE", 0),
    Parameter.SPO2: ParameterInfo("SpO2", "%", "59408-5", 150456, "MDC_PULS_OXIM_SAT_O2", 0),
    Parameter.NIBP_SYS: ParameterInfo("Systolic BP", "mm[Hg]", "8480-6", 150021, "MDC_PRESS_BLD_NONINV_SYS", 0),
    Parameter.NIBP_DIA: ParameterInfo("Diastolic BP", "mm[Hg]", "8462-4", 150022, "MDC_PRESS_BLD_NONINV_DIA", 0),
    Parameter.NIBP_MEAN: ParameterInfo("Mean BP", "mm[Hg]", "8478-0", 150023, "MDC_PRESS_BLD_NONINV_MEAN", 0),
    Parameter.RR: ParameterInfo("Respiratory rate", "/min", "9279-1", 151562, "MDC_RESP_RATE", 0),
    Parameter.TEMP: ParameterInfo("Temperature", "Cel", "8310-5", 150344, "MDC_TEMP", 1),
    Parameter.ETCO2: ParameterInfo("End-tidal CO2", "mm[Hg]", "19889-5", 151708, "MDC_AWAY_CO2_ET", 0),
    Parameter.PI: ParameterInfo("Perfusion index", "%", None, 150488, "MDC_PULS_OXIM_PERF_REL", 2),
    Parameter.WEIGHT: ParameterInfo("Body weight", "kg", "29463-7", 188736, "MDC_MASS_BODY_ACTUAL", 1),
    Parameter.PUMP_RATE: ParameterInfo("Pump rate", "mL/h", None, None, None, 1),
    Parameter.PUMP_VI: ParameterInfo("Volume infused", "mL", None, None, None, 1),
    Parameter.PUMP_VTBI: ParameterInfo("Volume to be infused", "mL", None, None, None, 1),
    Parameter.PUMP_DOSE_RATE: ParameterInfo("Dose rate", "mg/h", None, None, None, 2),
    Parameter.PUMP_STATE: ParameterInfo("Pump state", "{state}", None, None, None, 0),
    Parameter.PUMP_ALARM: ParameterInfo("Pump alarm", "{alarm}", None, None, None, 0),
    Parameter.MONITOR_ALARM: ParameterInfo("Monitor alarm", "{alarm}", None, None, None, 0),
}

BP_PANEL_LOINC = "85354-9"
BP_PANEL_MDC = 150020
PHQ9_TOTAL_LOINC = "44261-6"
PHQ9_PANEL_LOINC = "44249-1"

# Extra MDC codes a device may send for a parameter we know (HL7 vendor variants, section 5 of the notes).
MDC_ALIASES: dict[int, Parameter] = {
    147842: Parameter.HR,
    149514: Parameter.PR,
    149530: Parameter.PR,
    149546: Parameter.PR,
    150456: Parameter.SPO2,
    150021: Parameter.NIBP_SYS,
    150022: Parameter.NIBP_DIA,
    150023: Parameter.NIBP_MEAN,
    150301: Parameter.NIBP_SYS,
    150302: Parameter.NIBP_DIA,
    150303: Parameter.NIBP_MEAN,
    151562: Parameter.RR,
    151578: Parameter.RR,
    151594: Parameter.RR,
    151570: Parameter.RR,
    151708: Parameter.ETCO2,
    151728: Parameter.ETCO2,
    150344: Parameter.TEMP,
    150364: Parameter.TEMP,
    150488: Parameter.PI,
}


def mdc_code(partition: int, term: int) -> int:
    """MDC context-free code from partition and term code."""
    return partition * 65536 + term

"""Dose calculation for IV ketamine and intranasal esketamine (CLINICAL.md section 1).

The calculator shows its arithmetic (``steps``) so the nurse can check it, and refuses anything outside
clinic policy with a reason. Nothing here is saved; the store records the result the nurse accepts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ClinicalInputError
from .policy import ClinicPolicy

KETAMINE = "ketamine"
ESKETAMINE = "esketamine"


def _number(value: object, what: str) -> float:
    if isinstance(value, str):
        text = value.strip().replace(",", ".")
        try:
            value = float(text)
        except ValueError:
            raise ClinicalInputError(f"{what} must be a number, not {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ClinicalInputError(f"{what} must be a number")
    if not math.isfinite(value):
        raise ClinicalInputError(f"{what} must be a finite number")
    return float(value)


@dataclass(frozen=True)
class IvDose:
    weight_kg: float
    mg_per_kg: float
    concentration_mg_per_ml: float
    minutes: int
    dose_mg: float
    volume_ml: float
    rate_mg_per_h: float
    rate_ml_per_h: float
    policy_version: int
    drug: str = KETAMINE
    route: str = "IV"

    @property
    def steps(self) -> list[str]:
        return [
            f"dose = {self.weight_kg:g} kg x {self.mg_per_kg:g} mg/kg = {self.dose_mg:.1f} mg",
            f"volume = {self.dose_mg:.1f} mg / {self.concentration_mg_per_ml:g} mg/mL = {self.volume_ml:.1f} mL",
            f"rate = {self.dose_mg:.1f} mg / ({self.minutes} min / 60) = {self.rate_mg_per_h:.1f} mg/h",
            f"pump rate = {self.rate_mg_per_h:.1f} mg/h / {self.concentration_mg_per_ml:g} mg/mL"
            f" = {self.rate_ml_per_h:.1f} mL/h",
        ]


@dataclass(frozen=True)
class IntranasalDose:
    dose_mg: int
    devices: int  # 28 mg devices
    policy_version: int
    drug: str = ESKETAMINE
    route: str = "IN"

    @property
    def steps(self) -> list[str]:
        return [f"{self.dose_mg} mg = {self.devices} x 28 mg nasal spray devices"]


def check_weight(weight_kg: object, policy: ClinicPolicy) -> float:
    weight = _number(weight_kg, "Weight")
    if not (policy.weight_min_kg <= weight <= policy.weight_max_kg):
        raise ClinicalInputError(
            f"Weight {weight:g} kg is outside {policy.weight_min_kg:g}-{policy.weight_max_kg:g} kg; check the scale reading"
        )
    return weight


def iv_dose(
    weight_kg: object,
    mg_per_kg: object,
    concentration_mg_per_ml: object,
    minutes: object,
    policy: ClinicPolicy,
) -> IvDose:
    """IV ketamine: dose_mg = weight x mg/kg; rate = dose / hours; mL/h = rate / concentration."""
    weight = check_weight(weight_kg, policy)
    per_kg = _number(mg_per_kg, "mg/kg")
    if not (policy.mg_per_kg_min <= per_kg <= policy.mg_per_kg_max):
        raise ClinicalInputError(
            f"{per_kg:g} mg/kg is outside the clinic's range {policy.mg_per_kg_min:g}-{policy.mg_per_kg_max:g} mg/kg"
        )
    conc = _number(concentration_mg_per_ml, "Concentration")
    if not (0.1 <= conc <= 100):
        raise ClinicalInputError(f"Concentration {conc:g} mg/mL is not plausible (0.1-100 mg/mL)")
    mins = _number(minutes, "Duration")
    if mins != int(mins):
        raise ClinicalInputError("Duration must be whole minutes")
    lo, hi = policy.infusion_min_range
    if not (lo <= mins <= hi):
        raise ClinicalInputError(f"Infusion duration {mins:g} min is outside {lo}-{hi} min")
    dose = round(weight * per_kg, 1)
    if dose > policy.dose_cap_mg:
        raise ClinicalInputError(
            f"Dose {dose:.1f} mg is over the clinic's hard cap of {policy.dose_cap_mg:g} mg; it cannot be given"
        )
    rate_mg_h = dose / (mins / 60.0)
    return IvDose(
        weight_kg=weight,
        mg_per_kg=per_kg,
        concentration_mg_per_ml=conc,
        minutes=int(mins),
        dose_mg=dose,
        volume_ml=round(dose / conc, 1),
        rate_mg_per_h=round(rate_mg_h, 1),
        rate_ml_per_h=round(rate_mg_h / conc, 1),
        policy_version=policy.version,
    )


def intranasal_dose(dose_mg: object, policy: ClinicPolicy) -> IntranasalDose:
    """Spravato: 56 or 84 mg, given as 28 mg devices."""
    dose = _number(dose_mg, "Dose")
    if dose not in policy.intranasal_doses_mg:
        allowed = " or ".join(str(d) for d in policy.intranasal_doses_mg)
        raise ClinicalInputError(f"Intranasal esketamine dose must be {allowed} mg, not {dose:g} mg")
    return IntranasalDose(dose_mg=int(dose), devices=int(dose) // 28, policy_version=policy.version)

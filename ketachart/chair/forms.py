"""What a nurse types, as typed: the pre-session form and the one way a typed number becomes a value."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..domain.errors import ClinicalInputError


def number(text: object, what: str, lo: float | None = None, hi: float | None = None, required: bool = True) -> float | None:
    """A typed number or a clear message (letters in a weight field are a ClinicalInputError, not a crash)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        if required:
            raise ClinicalInputError(f"{what} is required")
        return None
    try:
        value = float(str(text).strip().replace(",", "."))
    except ValueError:
        raise ClinicalInputError(f"{what} must be a number, not {text!r}") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ClinicalInputError(f"{what} {value:g} is outside {lo:g}-{hi:g}; check it")
    return value


@dataclass
class PresessionForm:
    """What the pre-session screen collects, as typed (strings) - validated by the chair service."""

    consent: bool = False
    fasting_hours: str = ""
    current_meds: str = ""
    rems: dict = field(default_factory=dict)  # benzodiazepines, sedative_hypnotics, psychostimulants, maois, opioids
    escort_name: str = ""
    escort_phone: str = ""
    no_driving: bool = False
    weight_kg: str = ""
    baseline_sys: str = ""
    baseline_dia: str = ""
    baseline_hr: str = ""
    baseline_spo2: str = ""
    baseline_source: str = "typed"  # or "monitor"
    phq9_items: list = field(default_factory=list)  # 9 strings, or empty
    route: str = "IV"
    mg_per_kg: str = ""
    concentration: str = ""
    minutes: str = ""
    in_dose_mg: str = "56"
    lot: str = ""
    waste_mg: str = ""
    waste_method: str = ""
    waste_witness: str = ""
    # complete pre-session items (domain/records.py): key -> "yes" | "no" | "not-asked"; unticked is absent
    items: dict = field(default_factory=dict)
    vial_strength_mg_per_ml: str = ""  # the product: strength, vial size and expiry (an expired lot is refused)
    vial_ml: str = ""
    expiry: str = ""  # YYYY-MM-DD
    # the prescriber's order: "" cites the standing order in force for the patient's course; a prescriber's user
    # id means that prescriber signs the dose on screen as the course's new order, first, in the same save
    order_prescriber: str = ""

    def waste(self) -> float:
        """The wasted amount in mg (0 when none was typed)."""
        return number(self.waste_mg, "Waste amount (mg)", 0, 1000, required=False) or 0.0

"""Clinic policy: thresholds, dose limits and timer lengths (CLINICAL.md sections 1-2).

Policy is data: versioned and stored; every alert and check records the ``version`` it used. The defaults
here are what a new clinic starts with; an admin may change them (a new version is a new row).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace

from .errors import ClinicalInputError


@dataclass(frozen=True)
class ClinicPolicy:
    version: int = 1
    # Dose (IV ketamine)
    weight_min_kg: float = 20.0
    weight_max_kg: float = 350.0
    mg_per_kg_min: float = 0.1
    mg_per_kg_max: float = 1.0
    mg_per_kg_default: float = 0.5
    dose_cap_mg: float = 150.0  # hard cap on one IV dose, whatever the weight
    infusion_min_default: int = 40
    infusion_min_range: tuple[int, int] = (20, 90)
    concentration_mg_per_ml_default: float = 1.0
    intranasal_doses_mg: tuple[int, ...] = (56, 84)
    # Monitoring
    nibp_interval_min: int = 15
    nibp_at_min_after_start: int = 40
    discharge_min_after_start: int = 120
    late_entry_after_min: int = 15
    # Spravato REMS form: the ~40 min BP is the one nearest 40 min within this many minutes either side; the
    # BP "before completion" is the last one within this many minutes before the end of monitoring
    rems_bp_window_min: int = 10
    rems_completion_bp_window_min: int = 30
    # Complete pre-session items (domain/records.py) that must be answered Yes or No before dosing
    presession_required: tuple[str, ...] = (
        "pregnant_or_breastfeeding", "allergies", "alcohol_substance_24h", "psychosis_mania_history",
        "aneurysmal_vascular_disease", "arteriovenous_malformation", "intracerebral_haemorrhage",
        "identity_two_identifiers", "fasting_food_2h", "fasting_liquids_30min", "fasting_iv_policy")
    # A prescriber's signed order before the chair may prepare a dose (off until the chair screen has the order
    # step; records.RecordsCommands always asks for it, and the cs-log flags a dose without one)
    order_required_before_dose: bool = False
    monitor_silent_s: int = 30
    idle_lock_min: int = 5
    # Sign-in (ketachart.auth): failures before a lockout, and how long the lockout lasts
    signin_max_failures: int = 5
    signin_lockout_min: int = 15
    # Alerts (CLINICAL.md section 2)
    sys_high_repeat: int = 180
    sys_high_once: int = 200
    dia_high_repeat: int = 110
    dia_high_once: int = 120
    repeat_window_min: int = 5
    predose_sys_warn: int = 140
    predose_dia_warn: int = 90
    hr_high: int = 120
    hr_high_sustained_min: int = 5
    hr_low: int = 50
    spo2_low: int = 92
    # Discharge
    padss_pass: int = 9
    vitals_near_baseline_pct: int = 20
    nausea_antiemetic_at: int = 4
    # Clinic board (issue 15): how often a chair with an open session pushes, and whether the wall screen shows
    # initials and MRN instead of the patient's name
    board_push_s: int = 5
    board_initials_only: bool = False
    # CADSS-6 item wording (items 1, 2, 6, 7, 15, 22) needs the author's permission, so the clinic enters it;
    # empty means the form shows item numbers only.
    cadss6_item_text: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (0 < self.weight_min_kg < self.weight_max_kg):
            raise ClinicalInputError("policy: weight range must be positive and increasing")
        if not (0 < self.mg_per_kg_min <= self.mg_per_kg_default <= self.mg_per_kg_max):
            raise ClinicalInputError("policy: mg/kg default must lie within the mg/kg range")
        if self.dose_cap_mg <= 0:
            raise ClinicalInputError("policy: the dose cap must be positive")
        if self.cadss6_item_text and len(self.cadss6_item_text) != 6:
            raise ClinicalInputError("policy: CADSS-6 wording needs six items (1, 2, 6, 7, 15, 22) or none")
        if self.cadss6_item_text and not all(isinstance(t, str) and t.strip() for t in self.cadss6_item_text):
            raise ClinicalInputError("policy: each CADSS-6 item needs its wording (or leave all six empty)")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if not math.isfinite(value) or value < 0:
                    raise ClinicalInputError(f"policy: {f.name} must be a number of zero or more")
        for name in POSITIVE:
            if getattr(self, name) <= 0:
                raise ClinicalInputError(f"policy: {name} must be above zero")
        low, high = self.infusion_min_range if len(self.infusion_min_range) == 2 else (0, 0)
        if not (0 < low <= self.infusion_min_default <= high):
            raise ClinicalInputError("policy: the default infusion length must lie within an increasing range [min, max]")
        from .records import ITEM_BY_KEY

        unknown = [k for k in self.presession_required if k not in ITEM_BY_KEY]
        if unknown:
            raise ClinicalInputError(f"policy: unknown pre-session item(s) {', '.join(map(str, unknown))}; "
                                     f"known: {', '.join(ITEM_BY_KEY)}")
        if not all(isinstance(d, (int, float)) and d > 0 for d in self.intranasal_doses_mg):
            raise ClinicalInputError("policy: intranasal doses must be positive numbers of mg")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ClinicPolicy":
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        clean = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in known}
        return cls(**clean)

    def changed(self, **changes: object) -> "ClinicPolicy":
        """A new policy version with some values changed."""
        return replace(self, version=self.version + 1, **changes)


# Settings where zero would switch a safety check off or make a timer fire continuously.
POSITIVE = ("concentration_mg_per_ml_default", "nibp_interval_min", "discharge_min_after_start", "monitor_silent_s",
            "signin_max_failures", "repeat_window_min", "board_push_s", "hr_high_sustained_min", "padss_pass")

DEFAULT_POLICY = ClinicPolicy()

"""Clinic policy: thresholds, dose limits and timer lengths (CLINICAL.md sections 1-2).

Policy is data: versioned and stored; every alert and check records the ``version`` it used. The defaults
here are what a new clinic starts with; an admin may change them (a new version is a new row), but not past
the safe bounds in :data:`BOUNDS` (each with its source, docs/CLINICAL.md "Policy guard rails").
"""

from __future__ import annotations

import json
import math
from dataclasses import InitVar, asdict, dataclass, fields, replace

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
    # A prescriber's signed order (the course's standing order, or signed at the chair in the pre-session) before
    # the chair may prepare a dose; the cs-log flags a dose without one
    order_required_before_dose: bool = True
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
    rr_low: int = 8  # breaths/min; below this is a respiratory-depression alarm
    hr_pr_disagree_per_min: int = 20  # ECG HR and oximeter PR further apart than this: a signal-quality warning
    hr_pr_disagree_s: int = 5  # ... for at least this long
    no_valid_signal_s: int = 30  # sensor off / invalid SpO2 or HR this long during a session: "no valid SpO2"
    bp_overdue_grace_min: int = 5  # an NIBP later than due by more than this: "BP overdue"
    # Discharge
    padss_pass: int = 9
    vitals_near_baseline_pct: int = 20
    nausea_antiemetic_at: int = 4
    vitals_window_min: int = 15  # discharge reads the vitals of the last N minutes
    discharge_min_after_end: int = 30  # and needs this long since administration ended (pauses shorten nothing)
    dissociation_resolved_max: int = 0  # clinician global 0-4: "resolved" is at or below this
    override_cosign_early_spravato: bool = True  # a discharge override before 120 min after a Spravato dose ...
    override_cosign_all: bool = False  # ... (or any override) needs a second clinician's signature
    # Clinic board (issue 15): how often a chair with an open session pushes, and whether the wall screen shows
    # initials and MRN instead of the patient's name
    board_push_s: int = 5
    board_initials_only: bool = False
    # CADSS-6 item wording (items 1, 2, 6, 7, 15, 22) needs the author's permission, so the clinic enters it;
    # empty means the form shows item numbers only.
    cadss6_item_text: tuple[str, ...] = ()
    # False only when reading back a stored version (see from_json): history is not re-judged by today's bounds.
    check_bounds: InitVar[bool] = True

    def __post_init__(self, check_bounds: bool = True) -> None:
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
        problems = self.out_of_bounds() if check_bounds else []
        if problems:
            raise ClinicalInputError(f"policy: {problems[0]}")

    def out_of_bounds(self) -> list[str]:
        """Every setting outside its safe bound, as a message naming the bound and its source."""
        problems = []
        for name, bound in BOUNDS.items():
            value = getattr(self, name)
            if not bound.low <= value <= bound.high:
                problems.append(f"{name} {value:g} is outside the safe range {bound.text} ({bound.source})")
        allowed = INTRANASAL_DEVICE_DOSES_MG
        odd = [d for d in self.intranasal_doses_mg if d not in allowed]
        if odd or not self.intranasal_doses_mg:
            problems.append(f"intranasal_doses_mg must be whole 28 mg devices: one or more of "
                            f"{', '.join(map(str, allowed))} mg, not {list(self.intranasal_doses_mg)} "
                            "(Spravato label: 28 mg per device, doses 56 or 84 mg)")
        if self.sys_high_repeat > self.sys_high_once:
            problems.append("sys_high_repeat must not be above sys_high_once (a repeated limit above the single one)")
        if self.dia_high_repeat > self.dia_high_once:
            problems.append("dia_high_repeat must not be above dia_high_once (a repeated limit above the single one)")
        return problems

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ClinicPolicy":
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        clean = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in known}
        # A version recorded before a bound existed stays readable (it is what was in force); the next change
        # must bring every setting within bounds (``changed`` checks them all).
        return cls(**clean, check_bounds=False)

    def changed(self, **changes: object) -> "ClinicPolicy":
        """A new policy version with some values changed."""
        return replace(self, version=self.version + 1, **changes)


# How the admin dialog names the settings the bedside-safety rules added, by the dialog group they join.
SAFETY_SETTINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "Alert thresholds": (
        ("rr_low", "Respiratory rate low (/min)"),
        ("no_valid_signal_s", "No valid SpO2 or HR alarm after (s)"),
        ("hr_pr_disagree_per_min", "HR and pulse rate disagree by (/min)"),
        ("hr_pr_disagree_s", "HR and pulse rate disagree for (s)"),
        ("bp_overdue_grace_min", "BP overdue alarm after due time plus (min)"),
    ),
    "Discharge": (
        ("vitals_window_min", "Discharge reads vitals of the last (min)"),
        ("discharge_min_after_end", "Earliest discharge after administration ends (min)"),
        ("dissociation_resolved_max", "Dissociation resolved at or below (0-4)"),
        ("override_cosign_early_spravato", "Override before 120 min after Spravato needs a 2nd signature"),
        ("override_cosign_all", "Every discharge override needs a 2nd signature"),
    ),
}


def with_safety_settings(groups: tuple) -> tuple:
    """The admin dialog's groups with the bedside-safety settings added to the group each belongs to."""
    return tuple((title, tuple(entries) + SAFETY_SETTINGS.get(title, ())) for title, entries in groups)


# Settings where zero would switch a safety check off or make a timer fire continuously.
POSITIVE = ("concentration_mg_per_ml_default", "nibp_interval_min", "discharge_min_after_start", "monitor_silent_s",
            "signin_max_failures", "repeat_window_min", "board_push_s", "hr_high_sustained_min", "padss_pass")


@dataclass(frozen=True)
class Bound:
    """The safe range an admin may set a policy value within, and where it comes from."""

    low: float
    high: float
    unit: str
    source: str

    @property
    def text(self) -> str:
        return f"{self.low:g}-{self.high:g} {self.unit}".strip()


BP_STAGE2 = "hypertension stage 2 starts at 140/90, a crisis is above 180/120"
DOSE = "0.5 mg/kg is the standard dose, published series go to 1.0, none beyond 1.5"
BOUNDS: dict[str, Bound] = {
    # Alerts: a limit outside these either alarms on healthy readings or stays quiet through real harm.
    "spo2_low": Bound(80, 95, "%", "modified Aldrete: full marks only above 92 %; below 80 % is severe hypoxaemia"),
    "hr_high": Bound(100, 160, "/min", "tachycardia is above 100/min; 160/min is the highest useful alarm"),
    "hr_low": Bound(40, 60, "/min", "bradycardia is below 60/min; 40/min is the lowest useful alarm"),
    "sys_high_repeat": Bound(140, 220, "mmHg", BP_STAGE2),
    "sys_high_once": Bound(140, 220, "mmHg", BP_STAGE2),
    "dia_high_repeat": Bound(90, 130, "mmHg", BP_STAGE2),
    "dia_high_once": Bound(90, 130, "mmHg", BP_STAGE2),
    "predose_sys_warn": Bound(120, 180, "mmHg", "Spravato label: check BP before dosing, caution at 140/90 or more"),
    "predose_dia_warn": Bound(80, 110, "mmHg", "Spravato label: check BP before dosing, caution at 140/90 or more"),
    "rr_low": Bound(6, 12, "/min", "respiratory depression under sedation: RR below 8-10/min"),
    "hr_pr_disagree_per_min": Bound(10, 40, "/min", "clean ECG HR and pulse rate agree within a few beats"),
    "hr_pr_disagree_s": Bound(3, 60, "s", "shorter is noise; longer hides a real change"),
    "no_valid_signal_s": Bound(10, 120, "s", "like the monitor-silent alert (30 s): longer leaves the patient unwatched"),
    "monitor_silent_s": Bound(5, 120, "s", "no reading for 30 s while connected (CLINICAL.md section 2)"),
    "bp_overdue_grace_min": Bound(1, 15, "min", "NIBP every 10-15 min (CLINICAL.md section 1)"),
    "nibp_interval_min": Bound(5, 30, "min", "NIBP every 10-15 min (CLINICAL.md section 1)"),
    # Discharge
    "padss_pass": Bound(8, 10, "points", "PADSS (Chung): discharge at 9 or more of 10"),
    "discharge_min_after_start": Bound(120, 480, "min", "Spravato label and REMS: at least 2 hours after the dose; "
                                       "the IV checklist asks the same (CLINICAL.md section 4)"),
    "discharge_min_after_end": Bound(15, 240, "min", "dissociation and the BP rise settle within 30-60 min of the end"),
    "vitals_window_min": Bound(5, 30, "min", "the discharge vitals must be recent: NIBP every 10-15 min"),
    "dissociation_resolved_max": Bound(0, 1, "points", "clinician global 0-4: resolved is none (0) or at most mild (1)"),
    # Dose
    "mg_per_kg_min": Bound(0.1, 1.5, "mg/kg", DOSE),
    "mg_per_kg_max": Bound(0.1, 1.5, "mg/kg", DOSE),
    "mg_per_kg_default": Bound(0.1, 1.5, "mg/kg", DOSE),
    "dose_cap_mg": Bound(1, 200, "mg", DOSE + "; 200 mg is the most any one IV dose may be"),
}
INTRANASAL_DEVICE_DOSES_MG = (28, 56, 84)  # whole 28 mg Spravato devices (1, 2 or 3)
SPRAVATO_LABEL_DISCHARGE_MIN = 120  # the label's minimum monitoring after a dose: not policy, the law of the label

DEFAULT_POLICY = ClinicPolicy()

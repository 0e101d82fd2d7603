"""Scales used at the chair (docs/CLINICAL.md) and the discharge scores.

Each validator returns the value to store or raises :class:`ClinicalInputError` with a readable reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ClinicalInputError

MOAAS_LABELS = {
    5: "Responds readily to name spoken in normal tone",
    4: "Lethargic response to name spoken in normal tone",
    3: "Responds only after name is called loudly and/or repeatedly",
    2: "Responds only after mild prodding or shaking",
    1: "Responds only after painful trapezius squeeze",
    0: "No response after painful trapezius squeeze",
}
DISSOCIATION_LABELS = {0: "None", 1: "Mild", 2: "Moderate", 3: "Severe", 4: "Extreme"}
CADSS6_ITEMS = (1, 2, 6, 7, 15, 22)  # item numbers of the 23-item CADSS; wording is entered by the clinic
PHQ9_BANDS = ((20, "severe"), (15, "moderately severe"), (10, "moderate"), (5, "mild"), (0, "minimal"))


def whole_number_in(value: object, lo: int, hi: int, what: str) -> int:
    try:
        number = int(str(value).strip()) if not isinstance(value, int) or isinstance(value, bool) else value
    except ValueError:
        raise ClinicalInputError(f"{what} must be a whole number from {lo} to {hi}") from None
    if isinstance(value, float) and value != int(value):
        raise ClinicalInputError(f"{what} must be a whole number from {lo} to {hi}")
    if not lo <= number <= hi:
        raise ClinicalInputError(f"{what} must be from {lo} to {hi}, not {number}")
    return number


def moaas(value: object) -> int:
    return whole_number_in(value, 0, 5, "MOAA/S")


def dissociation(value: object) -> int:
    return whole_number_in(value, 0, 4, "Dissociation")


def nausea(value: object) -> int:
    return whole_number_in(value, 0, 10, "Nausea")


def nausea_band(score: int) -> str:
    if score <= 1:
        return "none"
    if score < 4:
        return "mild"
    if score < 7:
        return "moderate"
    return "severe"


def cadss6_labels(item_text: tuple[str, ...] = ()) -> list[tuple[int, str]]:
    """(item number, label) for the form: the clinic's licensed wording when entered, else the number."""
    if item_text and len(item_text) == len(CADSS6_ITEMS):
        return [(n, f"{n}. {text}") for n, text in zip(CADSS6_ITEMS, item_text)]
    return [(n, f"Item {n}") for n in CADSS6_ITEMS]


def cadss6_total(items: dict[int, object]) -> int:
    keys = {int(k) for k in items}
    if keys != set(CADSS6_ITEMS):
        raise ClinicalInputError(f"CADSS-6 needs items {', '.join(map(str, CADSS6_ITEMS))}")
    return sum(whole_number_in(v, 0, 4, f"CADSS item {k}") for k, v in items.items())


@dataclass(frozen=True)
class Phq9Result:
    total: int
    band: str
    self_harm_flag: bool  # item 9 > 0 must raise a visible flag


def phq9(items: list[object]) -> Phq9Result:
    if len(items) != 9:
        raise ClinicalInputError("PHQ-9 has 9 items")
    scores = [whole_number_in(v, 0, 3, f"PHQ-9 item {i + 1}") for i, v in enumerate(items)]
    total = sum(scores)
    band = next(name for floor, name in PHQ9_BANDS if total >= floor)
    return Phq9Result(total, band, scores[8] > 0)


# --- discharge ---------------------------------------------------------------------------------

# The criteria the chart decides (domain/discharge.py computes them from what is charted).
CHART_DISCHARGE_ITEMS = (
    ("min_120", "At least 120 minutes since the start of administration"),
    ("sedation_resolved", "Sedation resolved (MOAA/S 5)"),
    ("dissociation_resolved", "Dissociation resolved"),
    ("vitals_ok", "Vital signs acceptable and near baseline"),
)
# The nurse's ticks (keys as stored in the discharge checklist).
NURSE_DISCHARGE_ITEMS = (
    ("alert_oriented", "Alert and oriented"),
    ("steady_gait", "Steady gait"),
    ("nausea_minimal", "Nausea none or minimal"),
    ("escort_present", "Escort present"),
    ("no_driving", "No-driving instructions given"),
    ("written_instructions", "Written instructions given"),
)
# The whole checklist, in the order the screen and the paper show it.
DISCHARGE_ITEMS = CHART_DISCHARGE_ITEMS + NURSE_DISCHARGE_ITEMS

# Modified PADSS (Chung), surgical bleeding not applicable here: 5 items, 0-2 each, 10 in all.
PADSS_ITEMS = (
    ("vital_signs", "Vital signs", {2: "Within 20% of baseline", 1: "20-40% of baseline", 0: "More than 40% of baseline"}),
    ("activity", "Activity and mental status", {2: "Oriented and steady gait", 1: "Oriented or steady gait", 0: "Neither"}),
    ("nausea_vomiting", "Nausea / vomiting", {2: "Minimal", 1: "Moderate", 0: "Severe"}),
    ("pain", "Pain", {2: "Acceptable, controlled by oral medication", 1: "Not quite acceptable", 0: "Not acceptable"}),
    ("ambulation", "Ambulation", {2: "Steady gait, no dizziness", 1: "With assistance", 0: "Unable"}),
)


def vital_signs_padss(current: float, baseline: float) -> int:
    """2 within 20 % of baseline, 1 within 20-40 %, 0 beyond."""
    if baseline <= 0:
        raise ClinicalInputError("baseline must be positive")
    change = abs(current - baseline) / baseline * 100
    return 2 if change <= 20 else 1 if change <= 40 else 0


def padss_total(scores: dict[str, object]) -> int:
    keys = {k for k, _, _ in PADSS_ITEMS}
    if set(scores) != keys:
        raise ClinicalInputError("PADSS needs a score for every item")
    return sum(whole_number_in(scores[k], 0, 2, label) for k, label, _ in PADSS_ITEMS)


@dataclass(frozen=True)
class DischargeDecision:
    minutes_since_start: float
    checklist_complete: bool
    padss: int
    passed: bool
    needs_override: bool
    reasons: tuple[str, ...]


def evaluate_discharge(
    minutes_since_start: float,
    checklist: dict[str, bool],
    padss_scores: dict[str, object],
    *,
    min_minutes: int,
    padss_pass: int,
) -> DischargeDecision:
    """Whether discharge may proceed, and why not. Early or failing discharge needs an override reason."""
    total = padss_total(padss_scores)
    reasons = []
    if minutes_since_start < min_minutes:
        reasons.append(f"only {minutes_since_start:.0f} of {min_minutes} minutes since the start of administration")
    if total < padss_pass:
        reasons.append(f"PADSS {total} is below the passing score of {padss_pass}")
    missing = [label for key, label in DISCHARGE_ITEMS if key != "min_120" and not checklist.get(key)]
    if missing:
        reasons.append("not yet: " + "; ".join(missing))
    passed = not reasons
    return DischargeDecision(minutes_since_start, not missing, total, passed, not passed, tuple(reasons))

"""Admins change thresholds, but not past safe bounds: every bound refuses the value just outside it, accepts
the value at its edge, and says the bound in the message."""

from __future__ import annotations

import pytest

from ketachart.domain.errors import ClinicalInputError
from ketachart.domain.policy import BOUNDS, DEFAULT_POLICY, INTRANASAL_DEVICE_DOSES_MG, ClinicPolicy


# key, the safe edges, other settings that keep the older cross-field rules out of the way
EDGES = [
    ("spo2_low", 80, 95, {}),
    ("hr_high", 100, 160, {}),
    ("sys_high_once", 140, 220, {"sys_high_repeat": 140}),
    ("sys_high_repeat", 140, 220, {"sys_high_once": 220}),
    ("padss_pass", 8, 10, {}),
    ("discharge_min_after_start", 120, 480, {}),
    ("mg_per_kg_max", 0.1, 1.5, {"mg_per_kg_min": 0.1, "mg_per_kg_default": 0.1}),  # below: max < min first
    ("mg_per_kg_min", 0.1, 1.5, {"mg_per_kg_max": 1.5, "mg_per_kg_default": 1.5}),  # above: min > max first
    ("dose_cap_mg", 1, 200, {}),
    ("rr_low", 6, 12, {}),
    ("vitals_window_min", 5, 30, {}),
    ("discharge_min_after_end", 15, 240, {}),
    ("no_valid_signal_s", 10, 120, {}),
    ("bp_overdue_grace_min", 1, 15, {}),
    ("hr_pr_disagree_per_min", 10, 40, {}),
]


@pytest.mark.parametrize("key, low, high, context", EDGES)
def test_the_edges_pass_and_beyond_them_is_refused_with_the_bound(key, low, high, context):
    base = ClinicPolicy(**context)
    assert getattr(base.changed(**{key: low}), key) == low
    assert getattr(base.changed(**{key: high}), key) == high
    bound = BOUNDS[key]
    step = 0.05 if isinstance(low, float) else 1
    for value in (bound.low - step, bound.high + step):
        if value <= 0 or (key == "mg_per_kg_max" and value < low) or (key == "mg_per_kg_min" and value > high):
            continue  # refused first by the older rules (above zero; min <= default <= max)
        with pytest.raises(ClinicalInputError) as err:
            base.changed(**{key: value})
        assert key in str(err.value) and bound.text in str(err.value) and bound.source in str(err.value)


def test_the_named_bounds_of_the_issue():
    expected = {"spo2_low": (80, 95), "hr_high": (100, 160), "sys_high_once": (140, 220), "sys_high_repeat": (140, 220),
                "padss_pass": (8, 10), "mg_per_kg_min": (0.1, 1.5), "mg_per_kg_max": (0.1, 1.5)}
    for key, (low, high) in expected.items():
        assert (BOUNDS[key].low, BOUNDS[key].high) == (low, high)
    assert BOUNDS["dose_cap_mg"].high == 200
    assert BOUNDS["discharge_min_after_start"].low == 120  # the Spravato label's 2 hours
    assert all(b.source.strip() for b in BOUNDS.values())  # every bound names where it comes from


def test_spo2_97_is_refused_with_the_range_in_the_message():
    with pytest.raises(ClinicalInputError, match=r"spo2_low 97 is outside the safe range 80-95 %"):
        DEFAULT_POLICY.changed(spo2_low=97)


@pytest.mark.parametrize("doses, ok", [
    ((56, 84), True), ((28, 56, 84), True), ((84,), True),
    ((50,), False), ((56, 100), False), ((), False), ((112,), False),
])
def test_intranasal_doses_are_whole_devices_only(doses, ok):
    if ok:
        assert DEFAULT_POLICY.changed(intranasal_doses_mg=doses).intranasal_doses_mg == doses
    else:
        with pytest.raises(ClinicalInputError, match="28, 56, 84"):
            DEFAULT_POLICY.changed(intranasal_doses_mg=doses)
    assert INTRANASAL_DEVICE_DOSES_MG == (28, 56, 84)


def test_a_repeated_bp_limit_above_the_single_one_is_refused():
    with pytest.raises(ClinicalInputError, match="sys_high_repeat must not be above sys_high_once"):
        DEFAULT_POLICY.changed(sys_high_repeat=210, sys_high_once=200)


def test_older_rules_still_speak_first():
    with pytest.raises(ClinicalInputError, match="mg/kg default"):
        DEFAULT_POLICY.changed(mg_per_kg_default=5)
    with pytest.raises(ClinicalInputError, match="above zero"):
        DEFAULT_POLICY.changed(nibp_interval_min=0)


def test_a_stored_version_from_before_the_bounds_stays_readable_but_cannot_be_carried_forward():
    old = ClinicPolicy.from_json('{"version": 3, "dose_cap_mg": 300.0, "spo2_low": 88}')
    assert old.dose_cap_mg == 300.0 and old.version == 3  # what was in force is read as recorded
    assert [p.split()[0] for p in old.out_of_bounds()] == ["dose_cap_mg"]
    with pytest.raises(ClinicalInputError, match="dose_cap_mg 300 is outside"):
        old.changed(spo2_low=90)  # the next version must come back within bounds
    fixed = old.changed(spo2_low=90, dose_cap_mg=150)
    assert fixed.version == 4 and not fixed.out_of_bounds()


def test_the_defaults_are_within_every_bound_and_round_trip():
    assert DEFAULT_POLICY.out_of_bounds() == []
    assert ClinicPolicy.from_json(DEFAULT_POLICY.to_json()) == DEFAULT_POLICY
    assert DEFAULT_POLICY.override_cosign_early_spravato is True and DEFAULT_POLICY.override_cosign_all is False

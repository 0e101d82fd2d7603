import pytest

from ketachart.domain.dosing import intranasal_dose, iv_dose
from ketachart.domain.errors import ClinicalInputError
from ketachart.domain.policy import DEFAULT_POLICY as P


def test_standard_iv_dose_and_its_arithmetic():
    d = iv_dose(80, 0.5, 1, 40, P)
    assert (d.dose_mg, d.volume_ml, d.rate_mg_per_h, d.rate_ml_per_h) == (40.0, 40.0, 60.0, 60.0)
    assert d.steps[0] == "dose = 80 kg x 0.5 mg/kg = 40.0 mg"
    assert d.policy_version == P.version


def test_concentration_changes_volume_and_pump_rate():
    d = iv_dose("72,5", "0.5", "2", "40", P)  # typed text with a decimal comma
    assert d.dose_mg == 36.2 and d.volume_ml == 18.1 and d.rate_ml_per_h == pytest.approx(27.2, abs=0.1)


@pytest.mark.parametrize(
    "args, message",
    [
        (("abc", 0.5, 1, 40), "Weight must be a number"),
        ((900, 0.5, 1, 40), "outside 20-350 kg"),
        ((10, 0.5, 1, 40), "outside 20-350 kg"),
        ((80, 2.0, 1, 40), "outside the clinic's range"),
        ((200, 1.0, 1, 40), "hard cap"),
        ((80, 0.5, 0, 40), "Concentration"),
        ((80, 0.5, 1, 400), "duration"),
        ((80, 0.5, 1, 40.5), "whole minutes"),
        ((float("nan"), 0.5, 1, 40), "finite"),
    ],
)
def test_impossible_doses_are_refused_with_a_reason(args, message):
    with pytest.raises(ClinicalInputError, match=message):
        iv_dose(*args, P)


def test_intranasal_doses():
    assert intranasal_dose(84, P).devices == 3
    with pytest.raises(ClinicalInputError, match="56 or 84"):
        intranasal_dose(70, P)


def test_policy_round_trips_and_versions():
    from ketachart.domain.policy import ClinicPolicy

    changed = P.changed(dose_cap_mg=120)
    assert changed.version == P.version + 1
    assert ClinicPolicy.from_json(changed.to_json()) == changed

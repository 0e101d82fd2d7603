"""`ketachart policy set` refuses a value past its safe bound: exit 2, the bound in the message, nothing saved.

Every bound is checked in tests/domain/test_policy_bounds.py; here a few go through the real command."""

from __future__ import annotations

import pytest

from tests.auth.test_policy_cli import db, run  # noqa: F401  (the fixture: a chart with an admin)


@pytest.mark.parametrize("change, bound", [
    ("spo2_low=97", "80-95 %"),
    ("dose_cap_mg=250", "1-200 mg"),
    ("intranasal_doses_mg=[50]", "28, 56, 84 mg"),
])
def test_out_of_bounds_values_exit_2_with_the_bound_and_change_nothing(db, change, bound):  # noqa: F811
    r = run(db, "policy", "set", change, "--reason", "memo", "--as", "admin.a", stdin="4321\n")
    assert r.returncode == 2, r.stderr
    assert bound in r.stderr and "nothing was changed" in r.stderr
    assert "version=1" in run(db, "policy", "show").stdout.splitlines()


def test_a_value_at_the_bound_is_accepted(db):  # noqa: F811
    r = run(db, "policy", "set", "spo2_low=95", "rr_low=10", "--reason", "memo", "--as", "admin.a", stdin="4321\n")
    assert r.returncode == 0, r.stderr
    shown = run(db, "policy", "show").stdout.splitlines()
    assert "spo2_low=95" in shown and "rr_low=10" in shown and "version=2" in shown

"""The admin dialog's Clinic policy page refuses a value past its safe bound, says the bound, saves nothing."""

from __future__ import annotations

import pytest

from ketachart.store.models import PolicyVersion
from tests.ui.test_policy_admin import admin_accounts, page  # noqa: F401  (fixtures)


@pytest.mark.parametrize("key, value, bound", [
    ("spo2_low", "97", "80-95 %"),
    ("dose_cap_mg", "250", "1-200 mg"),
    ("intranasal_doses_mg", "[56, 100]", "28, 56, 84 mg"),
    ("override_cosign_all", "true", None),  # a yes/no setting: accepted
])
def test_the_page_refuses_out_of_bounds_values_with_the_bound(page, store, key, value, bound):  # noqa: F811
    assert key in page.fields  # the new bedside-safety settings are on the page too
    page.fields[key].setText(value)
    page.reason.setText("memo")
    dlg = page.save()
    if bound is None:
        assert dlg is not None  # valid: the PIN is asked next
        dlg.reject()
        return
    assert dlg is None and page.pin_dialog is None  # refused before any PIN is asked
    assert bound in page.message.text() and "nothing was changed" in page.message.text()
    assert store.policy.version == 1 and len(store.rows(PolicyVersion)) == 1

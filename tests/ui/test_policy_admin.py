"""The admin dialog's Clinic policy page: edit, give a reason, confirm with the admin's PIN -> a new audited
policy version in force; a wrong PIN or a bad value saves nothing; nurses cannot reach it; CADSS-6 wording
entered here labels the session screen's form."""

from __future__ import annotations

import json

import pytest

from ketachart.auth import Accounts, PermissionDenied
from ketachart.store.models import AuditEvent, PolicyVersion
from ketachart.ui.auth import AdminDialog
from ketachart.ui.auth.policy_page import PolicyPage
from tests.ui.helpers import FAST_HASHER, PINS, sign, signed_in
from tests.ui.test_chair_screen import infusing

WORDING = ["first item text", "second item text", "third item text", "fourth item text", "fifth item text",
           "sixth item text"]


@pytest.fixture
def admin_accounts(store) -> Accounts:
    store.create_user("admin", "Pat Admin", "admin", FAST_HASHER.hash(PINS["admin"]))
    return signed_in(store, "admin")


@pytest.fixture
def page(qtbot, admin_accounts) -> PolicyPage:
    dlg = AdminDialog(admin_accounts, admin_accounts.current.user)
    qtbot.addWidget(dlg)
    assert dlg.tabs.tabText(dlg.tabs.indexOf(dlg.policy_page)) == "Clinic policy"
    return dlg.policy_page


def policy_events(store) -> list[dict]:
    return [e for e in store.rows(AuditEvent) if e["action"] == "policy-change"]


def test_page_shows_every_setting_and_the_version_in_force(page, store):
    from dataclasses import fields

    keys = {f.name for f in fields(store.policy)} - {"version", "cadss6_item_text"}
    assert set(page.fields) == keys
    assert page.fields["dose_cap_mg"].text() == "150.0" and page.fields["infusion_min_range"].text() == "[20, 90]"
    assert "version 1" in page.version_label.text()
    assert page.history_table.rowCount() == 1 and page.history_table.item(0, 0).text() == "1"


def test_admin_changes_dose_cap_and_nibp_interval_with_reason_and_pin(page, store, clock):
    page.fields["dose_cap_mg"].setText("120")
    page.fields["nibp_interval_min"].setText("10")
    page.reason.setText("medical director memo 2024-07")
    dlg = page.save()
    assert dlg is not None and len(store.rows(PolicyVersion)) == 1  # nothing written before the PIN
    assert sign(dlg, PINS["admin"])
    assert store.policy.version == 2 and store.policy.dose_cap_mg == 120.0 and store.policy.nibp_interval_min == 10
    (event,) = policy_events(store)
    details = json.loads(event["details"])
    assert details == {"keys": ["dose_cap_mg", "nibp_interval_min"], "reason": "medical director memo 2024-07"}
    assert event["author"] == "admin" and event["target"] == "policy_versions:2"
    assert "version 2 is now in force" in page.message.text() and "version 2" in page.version_label.text()
    assert page.history_table.item(0, 0).text() == "2" and page.history_table.item(0, 2).text() == "admin"
    assert page.history_table.item(0, 3).text() == "dose_cap_mg, nibp_interval_min"
    assert page.history_table.item(0, 4).text() == "medical director memo 2024-07"
    assert page.reason.text() == "" and page.fields["dose_cap_mg"].text() == "120.0"
    # the PIN was asked again: a reauth event for this purpose
    assert any(e["action"] == "reauth" and "policy-change" in (e["details"] or "") for e in store.rows(AuditEvent))


def test_wrong_pin_saves_nothing(page, store, clock):
    page.fields["dose_cap_mg"].setText("120")
    page.reason.setText("memo")
    dlg = page.save()
    assert not sign(dlg, "not-the-pin")
    assert "not recognised" in dlg.error.text()
    assert store.policy.version == 1 and len(store.rows(PolicyVersion)) == 1 and not policy_events(store)
    dlg.reject()
    assert "Not saved" in page.message.text() and page.pin_dialog is None


@pytest.mark.parametrize("key, value, message", [
    ("mg_per_kg_default", "5", "mg/kg default"),
    ("dose_cap_mg", "lots", "needs a float"),
    ("dose_cap_mg", "nan", "needs a float"),
    ("nibp_interval_min", "0", "above zero"),
    ("infusion_min_range", "[90, 20]", "range"),
])
def test_invalid_value_shows_a_message_and_saves_nothing(page, store, key, value, message):
    page.fields[key].setText(value)
    page.reason.setText("memo")
    assert page.save() is None and page.pin_dialog is None  # refused before any PIN is asked
    assert message in page.message.text() and "nothing was changed" in page.message.text()
    assert store.policy.version == 1 and len(store.rows(PolicyVersion)) == 1 and not policy_events(store)


def test_a_reason_and_a_real_change_are_needed(page, store):
    page.reason.setText("memo")
    assert page.save() is None and "No value differs" in page.message.text()
    page.reason.clear()
    page.fields["hr_low"].setText("45")
    assert page.save() is None and "reason" in page.message.text()
    assert store.policy.version == 1


def test_a_nurse_cannot_reach_the_policy_page(qtbot, store, accounts):
    nurse = accounts.current.user
    with pytest.raises(PermissionDenied):
        AdminDialog(accounts, nurse)
    with pytest.raises(PermissionDenied):
        PolicyPage(accounts, nurse)


def test_cadss_wording_saved_here_labels_the_session_form(window, qtbot, store, clock, accounts):
    store.create_user("admin", "Pat Admin", "admin", FAST_HASHER.hash(PINS["admin"]))
    accounts.hand_over("admin", PINS["admin"])
    assert window.auth.open_admin() is not None
    page = window.auth.admin_dialog.policy_page
    for edit, text in zip(page.cadss_fields[:3], WORDING):
        edit.setText(text)
    page.reason.setText("licence received")
    assert page.save() is None and "all six" in page.message.text()  # three of six: refused
    for edit, text in zip(page.cadss_fields, WORDING):
        edit.setText(text)
    assert sign(page.save(), PINS["admin"])
    assert store.policy.cadss6_item_text == tuple(WORDING)
    assert json.loads(policy_events(store)[0]["details"])["keys"] == ["cadss6_item_text"]
    window.auth.admin_dialog.close()
    accounts.hand_over("nurse.a", PINS["nurse.a"])

    infusing(window, store, clock)
    qtbot.keyClick(window.session, "c")
    form = window.session.dialog.form_box.layout()
    labels = [form.itemAt(i, form.ItemRole.LabelRole).widget().text() for i in range(6)]
    assert labels == [f"{n}. {t}" for n, t in zip((1, 2, 6, 7, 15, 22), WORDING)]

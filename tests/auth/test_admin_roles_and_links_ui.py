"""The admin dialog gives the charge-nurse role (as a new user, or to an existing one, with a reason) and links
two records of one person from its "Patient records" page (issue 13, issue 15)."""

from __future__ import annotations

import pytest

from ketachart.auth import PermissionDenied
from ketachart.domain.ids import new_id
from ketachart.store.models import Patient, User
from ketachart.ui.auth import AdminDialog


def _row_of(table, text):
    return next(i for i in range(table.rowCount()) if table.item(i, 0).text() == text)


def test_admin_creates_and_assigns_the_charge_nurse_role(qtbot, accounts):
    admin = accounts.sign_in("admin", "admin-pass").user
    dlg = AdminDialog(accounts, admin)
    qtbot.addWidget(dlg)
    dlg.new_id.setText("c.charge")
    dlg.new_name.setText("Cam Charge, RN")
    dlg.new_role.setCurrentText("charge-nurse")
    dlg.new_secret.setText("8642")
    assert dlg.add_user()
    assert accounts.user("c.charge")["role"] == "charge-nurse"
    dlg.users_table.selectRow(_row_of(dlg.users_table, "a.morgan"))
    dlg.new_role.setCurrentText("charge-nurse")
    assert not dlg.set_role_selected() and "reason" in dlg.message.text()  # a reason is required
    dlg.reason.setText("takes the charge shift")
    assert dlg.set_role_selected()
    assert accounts.user("a.morgan")["role"] == "charge-nurse"
    versions = [u for u in accounts.store.rows(User) if u["user_id"] == "a.morgan"]
    assert [v["role"] for v in versions] == ["nurse", "charge-nurse"]  # an amendment; the old row stays
    accounts.sign_out()
    nurse_now_charge = accounts.sign_in("a.morgan", "2468").user
    assert nurse_now_charge.can("view-board") and not nurse_now_charge.can("manage-users")


def test_a_signed_in_admin_demoted_elsewhere_loses_admin_rights_at_once(accounts):
    admin = accounts.sign_in("admin", "admin-pass").user
    accounts.add_user(admin, "b.admin", "Bea Admin", "admin", "bea-admin-9753")
    accounts.sign_out()
    second = accounts.sign_in("b.admin", "bea-admin-9753").user
    accounts.set_role(second, "admin", "nurse", "moved to the floor")
    with pytest.raises(PermissionDenied, match="sign in again"):
        accounts.require(admin, "manage-users")


def test_admin_links_and_unlinks_records_in_the_dialog(qtbot, accounts):
    store = accounts.store
    kept = store.create_patient("MRN-5", "Doe", "Jane", "1980-02-03", "female")["patient_id"]
    merged = store.append(Patient, patient_id=new_id(), mrn="MRN-5", family_name="Doe", given_name="Jane",
                          birth_date="1980-02-03", sex="female")["patient_id"]
    admin = accounts.sign_in("admin", "admin-pass").user
    dlg = AdminDialog(accounts, admin)
    qtbot.addWidget(dlg)
    page = dlg.patients_page
    assert page.records.rowCount() == 2
    page.records.selectRow(_row_of(page.records, kept))
    assert (page.keep.text(), page.merge.text()) == (kept, merged)
    assert not page.link() and "reason" in page.message.text()
    page.reason.setText("registered twice")
    assert page.link()
    assert page.records.rowCount() == 0 and page.links.rowCount() == 1
    assert [p["patient_id"] for p in store.patients()] == [kept]
    page.merge.setText(merged)
    page.reason.setText("twins after all")
    assert page.unlink()
    assert page.records.rowCount() == 2 and page.links.rowCount() == 0


def test_the_patient_records_page_is_admins_only(accounts):
    from ketachart.ui.auth.patient_links_page import PatientLinksPage

    nurse = accounts.sign_in("a.morgan", "2468").user
    with pytest.raises(PermissionDenied):
        PatientLinksPage(accounts, nurse)


def test_a_nurse_made_admin_needs_a_new_admin_length_password(accounts):
    """A 4-digit nurse PIN never becomes an admin's secret: the promotion carries a new password of 8+."""
    from ketachart.auth.errors import WeakSecret
    from ketachart.domain.errors import ClinicalInputError

    admin = accounts.sign_in("admin", "admin-pass").user
    with pytest.raises(ClinicalInputError, match="new password"):
        accounts.set_role(admin, "a.morgan", "admin", "covers the clinic lead")
    with pytest.raises(WeakSecret):
        accounts.set_role(admin, "a.morgan", "admin", "covers the clinic lead", "2468")
    assert accounts.user("a.morgan")["role"] == "nurse"  # nothing changed
    accounts.set_role(admin, "a.morgan", "admin", "covers the clinic lead", "morgan-admin-1")
    accounts.sign_out()
    assert accounts.sign_in("a.morgan", "morgan-admin-1").user.role == "admin"

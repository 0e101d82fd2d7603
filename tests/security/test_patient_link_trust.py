"""Issue 13: the admin's link of two records of one person reaches the other chairs only through an admin login
(like users and policy); a chair login cannot write one, and a link nobody vouched for is ignored everywhere."""

from __future__ import annotations

import psycopg
import pytest

from ketachart.domain.ids import new_id
from ketachart.store.models import PatientLink
from ketachart.store.patient_links import link_patients, unlink_patients
from ketachart.sync.service import SyncService
from tests.security.test_central_trust import _forged, _insert


def _sync(store, url):
    result = SyncService(store, url).run_once()
    assert result.error is None, result.error
    return result


def _ids(store):
    return sorted(p["patient_id"] for p in store.patients())


def test_a_link_takes_effect_elsewhere_only_through_an_admin_login(central, make_chair):
    a, b = make_chair("a"), make_chair("b")
    pa = a.create_patient("MRN-7", "Doe", "Jane", "1980-02-03", "female")["patient_id"]
    pb = b.create_patient("MRN-7", "Doe", "Jane", "1980-02-03", "female")["patient_id"]  # offline, same person
    sb = b.create_session(pb, "IV")
    for store in (a, b, a):
        _sync(store, central.url_for(store))
    assert _ids(a) == _ids(b) == sorted([pa, pb])
    assert b.possible_duplicates() == [sorted([pa, pb])]

    link_patients(a, pa, pb, "same person registered on chair b offline", author="admin")
    assert _ids(a) == [pa]  # at once where the admin linked
    first = _sync(a, central.url_for(a))
    assert first.awaiting_admin == 1  # a chair login does not carry it
    _sync(b, central.url_for(b))
    assert _ids(b) == sorted([pa, pb])  # not in effect on chair b

    by_admin = _sync(a, central.admin_url)  # clinic IT's admin login carries it, vouched
    assert by_admin.awaiting_admin == 0
    _sync(b, central.url_for(b))
    assert _ids(b) == [pa] and b.patients()[0]["merged_ids"] == [pb]
    assert sb["id"] in {s["id"] for s in b.sessions_for_patient(pa)}
    assert b.patient(pb)["patient_id"] == pa
    assert b.verify_chain() == []

    unlink_patients(a, pb, "twins, not one person", author="admin")
    _sync(a, central.admin_url)
    _sync(b, central.url_for(b))
    assert _ids(b) == sorted([pa, pb])  # unlinking is a further amendment; the link rows stay
    assert len(b.rows(PatientLink)) == 2


def test_a_chair_login_cannot_link_and_a_forged_link_is_ignored(central, make_chair):
    a, b = make_chair("a"), make_chair("b")
    pa = a.create_patient("MRN-8", "Roe", "Ann", "1970-01-01", "female")["patient_id"]
    pb = b.create_patient("MRN-8", "Roe", "Ann", "1970-01-01", "female")["patient_id"]
    for store in (a, b):
        _sync(store, central.url_for(store))
    forged = _forged(PatientLink, a.device_id, 9999, kept_id=pa, merged_id=pb, active=True)
    forged["reason"] = "forged"
    with central.conn_for(a) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _insert(conn, "patient_links", forged)
    # A link that reaches the central without an admin's vouch (a superuser's slip) is ignored by every chair.
    forged["device_id"], forged["id"] = "chair-attacker", new_id()
    with central.admin() as conn:
        conn.execute("SET session_replication_role = replica")  # skip the vouching trigger, as a bypass would
        _insert(conn, "patient_links", forged)
    result = _sync(b, central.url_for(b))
    assert forged["id"] in [r["id"] for r in result.to_json()["ignored"]]
    assert _ids(b) == sorted([pa, pb])

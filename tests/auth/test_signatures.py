"""E-signatures: re-authentication, nobody signs as someone else, binding to the exact content signed."""

from __future__ import annotations

import pytest

from ketachart.auth import PermissionDenied, Signatures, WrongCredentials
from ketachart.auth.signatures import AMENDED, SIGNED
from ketachart.store.models import AuditEvent, Observation, Signature


@pytest.fixture
def signatures(store, accounts) -> Signatures:
    return Signatures(store, accounts)


@pytest.fixture
def waste(store, accounts):
    accounts.sign_in("a.morgan", "2468")
    return store.observe(None, "waste", 12.0, text="12 mg ketamine wasted into sharps", data={"manner": "sharps"})


def test_sign_records_printed_name_time_meaning_and_content_hash(signatures, store, waste, clock):
    sig = signatures.sign(Observation, waste["id"], user_id="a.morgan", secret="2468", meaning="performed")
    assert sig["printed_name"] == "Alex Morgan, RN"
    assert sig["meaning"] == "performed" and sig["user_id"] == "a.morgan" and sig["author"] == "a.morgan"
    assert sig["recorded_at"] == clock.now()
    assert len(sig["content_hash"]) == 64
    status = signatures.status(sig)
    assert status.content_matches and not status.amended and status.label == SIGNED
    assert "Alex Morgan, RN - performed - 2026-01-05 09:00 UTC" == status.line
    assert [r["action"] for r in store.rows(AuditEvent)][-2:] == ["reauth", "sign"]


def test_wrong_password_signs_nothing(signatures, store, waste):
    with pytest.raises(WrongCredentials):
        signatures.sign(Observation, waste["id"], user_id="a.morgan", secret="1111", meaning="performed")
    assert store.rows(Signature) == []


def test_signing_as_another_user_is_refused_without_their_own_secret(signatures, store, waste, accounts):
    assert accounts.current.user_id == "a.morgan"
    # a.morgan tries to sign as s.patel using her own PIN
    with pytest.raises(WrongCredentials):
        signatures.sign(Observation, waste["id"], user_id="s.patel", secret="2468", meaning="witnessed")
    assert store.rows(Signature) == []


def test_a_witness_signs_with_their_own_credentials(signatures, store, waste, clock):
    signatures.sign(Observation, waste["id"], user_id="a.morgan", secret="2468", meaning="performed")
    with pytest.raises(PermissionDenied):  # the performer cannot also be the witness
        signatures.sign(Observation, waste["id"], user_id="a.morgan", secret="2468", meaning="witnessed")
    wit = signatures.sign(Observation, waste["id"], user_id="s.patel", secret="1357", meaning="witnessed")
    assert wit["printed_name"] == "Sam Patel, RN" and wit["author"] == "s.patel"
    assert [s["meaning"] for s in signatures.signatures_on(Observation, waste["id"])] == ["performed", "witnessed"]


def test_amending_a_signed_row_shows_signed_version_amended(signatures, store, waste):
    sig = signatures.sign(Observation, waste["id"], user_id="a.morgan", secret="2468", meaning="performed")
    fixed = store.amend(Observation, waste["id"], "amount mistyped", value=10.0, text="10 mg ketamine wasted")
    status = signatures.status(sig)
    assert status.amended and status.amended_by == (fixed["id"],)
    assert status.content_matches  # the signed version itself is unchanged
    assert status.label == AMENDED and status.line.endswith("[signed version amended]")
    # from the current version, the history shows the earlier signature as amended
    history = signatures.history(Observation, fixed["id"])
    assert [h.label for h in history] == [AMENDED]


def test_signature_is_bound_to_exact_content(signatures, store, waste, tmp_path):
    """If the signed row's bytes change (only possible by hand), the hash no longer matches."""
    import sqlite3

    sig = signatures.sign(Observation, waste["id"], user_id="a.morgan", secret="2468", meaning="performed")
    con = sqlite3.connect(tmp_path / "chart.db")
    con.execute("DROP TRIGGER observations_no_update")
    con.execute("UPDATE observations SET value = 2.0 WHERE id = ?", (waste["id"],))
    con.commit()
    con.close()
    status = signatures.status(sig)
    assert not status.content_matches and status.label == "signature does not match the signed content"

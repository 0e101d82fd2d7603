"""The admin's link of two records of one person (issue 13), behind the admin's permission.

The store writes the link (:mod:`ketachart.store.patient_links`); here it is refused to anyone signed in
without ``link-patients`` (admins only), and the link is authored by the admin who proved their PIN.
"""

from __future__ import annotations

from ..store import patient_links
from .accounts import Accounts, SignedInUser


def duplicates(accounts: Accounts, actor: SignedInUser) -> list[list[dict]]:
    """Groups of records sharing an MRN that are not linked yet, each record's current demographics."""
    accounts.require(actor, "link-patients")
    records = {p["patient_id"]: p for p in accounts.store.patient_records()}
    return [[records[i] for i in group] for group in accounts.store.possible_duplicates()]


def links(accounts: Accounts, actor: SignedInUser) -> list[dict]:
    accounts.require(actor, "link-patients")
    return patient_links.describe_links(accounts.store)


def link(accounts: Accounts, actor: SignedInUser, keep: str, merge: str, reason: str) -> dict:
    accounts.require(actor, "link-patients")
    return patient_links.link_patients(accounts.store, keep, merge, reason, author=actor.user_id)


def unlink(accounts: Accounts, actor: SignedInUser, merge: str, reason: str) -> dict:
    accounts.require(actor, "link-patients")
    return patient_links.unlink_patients(accounts.store, merge, reason, author=actor.user_id)

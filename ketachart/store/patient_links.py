"""Linking two records of one person (issue 13): an admin's amendment, nothing deleted.

Two chairs offline can register the same person twice (same MRN, two ``patient_id``). An admin links them:
a ``patient_links`` row says the *merged* record reads as the *kept* one. Every read of a patient goes through
:func:`link_map` (the patient list, a patient's sessions and course scores, the summary, the FHIR patient, the
board), so the person shows once; the rows charted on either record stay exactly as they were. Unlinking is a
new row amending the link (``active`` false), re-linking amends that again: one amendment chain per merged
record, folded like any versioned entity (causal order, not wall clocks).

Trust: a link is clinic-wide like users and policy, so a chair acts only on its own link rows and on pulled ones
the central vouched for (an admin login carried them); who may link is checked by the caller (the admin
permission in :mod:`ketachart.auth`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

from ..domain.errors import ClinicalInputError
from .errors import NotFound
from .models import PatientLink

if TYPE_CHECKING:
    from .repository import ChartStore

MAX_HOPS = 16  # a chain of links longer than this is a loop made offline; it is not followed


def link_rows(store: "ChartStore") -> list[dict]:
    """Every link row this chair trusts (own, or vouched by the central), oldest first."""
    from .repository import row_dict

    stmt = select(PatientLink).where(store._trusted(PatientLink)).order_by(PatientLink.effective_at,
                                                                          PatientLink.device_seq)
    with OrmSession(store._bind()) as s:
        return [row_dict(o) for o in s.scalars(stmt)]


def current_links(store: "ChartStore") -> dict[str, dict]:
    """The current link row of each merged record (active or not), by ``merged_id``."""
    from .repository import latest_versions

    return latest_versions(link_rows(store), "merged_id")


def link_map(store: "ChartStore") -> dict[str, str]:
    """merged patient_id -> the patient_id it reads as (followed through chains; a loop links nothing)."""
    direct = {m: r["kept_id"] for m, r in current_links(store).items() if r["active"]}
    out = {}
    for merged in direct:
        cur, seen = merged, {merged}
        while cur in direct and len(seen) <= MAX_HOPS:
            cur = direct[cur]
            if cur in seen:
                cur = None
                break
            seen.add(cur)
        if cur is not None and cur != merged and cur not in direct:
            out[merged] = cur
    return out


def resolve(store: "ChartStore", patient_id: str) -> str:
    """The patient_id ``patient_id`` reads as (itself when not merged)."""
    return link_map(store).get(patient_id, patient_id)


def patient_ids_of(store: "ChartStore", patient_id: str) -> list[str]:
    """Every record that reads as the same person as ``patient_id`` (the kept one first)."""
    links = link_map(store)
    kept = links.get(patient_id, patient_id)
    return [kept, *sorted(m for m, k in links.items() if k == kept)]


def _reason(reason: str | None) -> str:
    if not (reason or "").strip():
        raise ClinicalInputError("linking or unlinking patient records needs a reason")
    return reason.strip()


def link_patients(store: "ChartStore", keep: str, merge: str, reason: str, *, author: str) -> dict:
    """Link record ``merge`` into ``keep`` (both stay; ``merge`` reads as ``keep`` from now on)."""
    reason = _reason(reason)
    keep, merge = (keep or "").strip(), (merge or "").strip()
    if keep == merge:
        raise ClinicalInputError("a patient record cannot be linked to itself")
    raw = {r["patient_id"] for r in store.patient_records()}
    for pid in (keep, merge):
        if pid not in raw:
            raise ClinicalInputError(f"no patient record {pid}")
    links = link_map(store)
    if merge in links:
        raise ClinicalInputError(f"{merge} is already linked to {links[merge]}; unlink it first")
    if keep in links:
        raise ClinicalInputError(f"{keep} is itself linked to {links[keep]}; keep {links[keep]} instead")
    if any(k == merge for k in links.values()):
        raise ClinicalInputError(f"other records are linked to {merge}; link {merge} by keeping it, or unlink them first")
    with store.atomic():
        previous = current_links(store).get(merge)
        values = dict(kept_id=keep, merged_id=merge, active=True, reason=reason,
                      amends=previous["id"] if previous else None, effective_at=store.clock.now())
        row = store.append(PatientLink, author=author, **values)
        store.audit("patient-link", f"patients:{merge}", {"kept": keep, "link": row["id"]}, author=author)
    return row


def unlink_patients(store: "ChartStore", merge: str, reason: str, *, author: str) -> dict:
    """End the link of record ``merge``: it reads as itself again (the link stays in the record)."""
    reason = _reason(reason)
    merge = (merge or "").strip()
    previous = current_links(store).get(merge)
    if previous is None or not previous["active"]:
        raise ClinicalInputError(f"patient record {merge} is not linked to another")
    with store.atomic():
        row = store.append(PatientLink, author=author, kept_id=previous["kept_id"], merged_id=merge, active=False,
                           amends=previous["id"], reason=reason, effective_at=store.clock.now())
        store.audit("patient-unlink", f"patients:{merge}", {"kept": previous["kept_id"], "link": row["id"]},
                    author=author)
    return row


def describe_links(store: "ChartStore") -> list[dict]:
    """The links in force, for the admin: merged and kept ids, who linked, when and why."""
    out = []
    for merged, row in sorted(current_links(store).items()):
        if row["active"]:
            out.append({"merged_id": merged, "kept_id": row["kept_id"], "author": row["author"],
                        "recorded_at": row["recorded_at"], "reason": row["reason"], "link_id": row["id"]})
    return out


__all__ = ["link_map", "resolve", "patient_ids_of", "link_patients", "unlink_patients", "describe_links",
           "NotFound"]

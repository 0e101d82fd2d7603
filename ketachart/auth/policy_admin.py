"""Changing the clinic policy: the one code path behind ``ketachart policy set`` and the admin dialog's
Clinic policy page (no Qt).

:func:`change_policy` parses ``KEY=VALUE`` strings into typed values (:func:`parse_policy_changes`),
validates the new version through :class:`~ketachart.domain.policy.ClinicPolicy` (its ``__post_init__``
rules), and only then asks ``authenticate()`` who is changing it (the CLI signs the admin in; the dialog asks
the signed-in admin's PIN again). It then records the new version with ``store.set_policy`` and an audit
event ``policy-change`` holding the changed keys and the reason, in one transaction. Anything refused
changes nothing.

:func:`policy_history` reads the versions back with who recorded them and the audit event's keys and reason.
"""

from __future__ import annotations

import json
import math
import typing
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Callable

from ..domain.errors import ClinicalInputError
from ..domain.policy import ClinicPolicy, with_safety_settings
from ..errors import UserError
from .accounts import Accounts, SignedInUser

CHANGE_ACTION = "policy-change"

# How the admin dialog groups and names the settings (every ClinicPolicy field but ``version`` appears once).
POLICY_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Dose limits (IV ketamine)", (
        ("weight_min_kg", "Lowest weight accepted (kg)"),
        ("weight_max_kg", "Highest weight accepted (kg)"),
        ("mg_per_kg_min", "Lowest dose (mg/kg)"),
        ("mg_per_kg_max", "Highest dose (mg/kg)"),
        ("mg_per_kg_default", "Default dose (mg/kg)"),
        ("dose_cap_mg", "Hard cap on one IV dose (mg)"),
        ("infusion_min_default", "Default infusion length (min)"),
        ("infusion_min_range", "Infusion length range (min), as [min, max]"),
        ("concentration_mg_per_ml_default", "Default concentration (mg/mL)"),
        ("intranasal_doses_mg", "Intranasal doses offered (mg), as [56, 84]"),
    )),
    ("Monitoring and timers", (
        ("nibp_interval_min", "Blood pressure every (min)"),
        ("nibp_at_min_after_start", "Blood pressure due at (min after start)"),
        ("discharge_min_after_start", "Earliest discharge (min after start)"),
        ("late_entry_after_min", "Entry counts as late after (min)"),
        ("monitor_silent_s", "Monitor silent alert after (s)"),
        ("idle_lock_min", "Idle chair locks after (min)"),
    )),
    ("Alert thresholds", (
        ("sys_high_repeat", "Systolic high, repeated (mmHg)"),
        ("sys_high_once", "Systolic high, once (mmHg)"),
        ("dia_high_repeat", "Diastolic high, repeated (mmHg)"),
        ("dia_high_once", "Diastolic high, once (mmHg)"),
        ("repeat_window_min", "Repeat window (min)"),
        ("predose_sys_warn", "Pre-dose systolic warning (mmHg)"),
        ("predose_dia_warn", "Pre-dose diastolic warning (mmHg)"),
        ("hr_high", "Heart rate high (/min)"),
        ("hr_high_sustained_min", "Heart rate high sustained for (min)"),
        ("hr_low", "Heart rate low (/min)"),
        ("spo2_low", "SpO2 low (%)"),
    )),
    ("Discharge", (
        ("padss_pass", "PADSS pass score (at least)"),
        ("vitals_near_baseline_pct", "Vitals near baseline within (%)"),
        ("nausea_antiemetic_at", "Offer antiemetic at nausea score"),
    )),
    ("Sign-in", (
        ("signin_max_failures", "Failed attempts before lockout"),
        ("signin_lockout_min", "Lockout length (min)"),
    )),
    ("Clinic board", (
        ("board_push_s", "A chair with an open session sends its chart every (s)"),
        ("board_initials_only", "Wall board shows initials and MRN only (true/false)"),
    )),
    ("Records (REMS form, pre-session)", (
        ("rems_bp_window_min", "REMS ~40 min BP: within (min either side)"),
        ("rems_completion_bp_window_min", "REMS BP before completion: within (min before the end)"),
        ("presession_required", "Pre-session items required before dosing (keys)"),
        ("order_required_before_dose", "A prescriber's signed order before the dose is prepared (true/false)"),
    )),
)
POLICY_GROUPS = with_safety_settings(POLICY_GROUPS)  # alarm and discharge-readiness settings (domain.policy)
CADSS_FIELD = "cadss6_item_text"
LABELS: dict[str, str] = {key: label for _, group in POLICY_GROUPS for key, label in group}
LABELS[CADSS_FIELD] = "CADSS-6 item wording"


def _element_type(name: str) -> type | None:
    """Element type of a tuple setting (``tuple[int, ...]`` -> int), from ClinicPolicy's annotations."""
    args = typing.get_args(typing.get_type_hints(ClinicPolicy)[name])
    kinds = {a for a in args if a is not Ellipsis}
    return kinds.pop() if len(kinds) == 1 else None


def _nothing(change: str, why: str) -> UserError:
    return UserError(f"{change!r}: {why}; nothing was changed")


def parse_policy_changes(policy: ClinicPolicy, changes: list[str]) -> dict:
    """``KEY=VALUE`` strings -> typed values for ``ClinicPolicy.changed``; unknown keys and bad values refused.

    Numbers must be finite; tuples are JSON lists whose items have the setting's item type.
    """
    types = {f.name: type(getattr(policy, f.name)) for f in fields(policy)}
    out: dict = {}
    for change in changes:
        key, sep, raw = change.partition("=")
        key = key.strip()
        if not sep or key not in types or key == "version":
            raise _nothing(change, "not a policy setting (see `ketachart policy show`)")
        kind = types[key]
        try:
            if kind is tuple:
                value = json.loads(raw)
                if not isinstance(value, list):
                    raise ValueError
                item = _element_type(key)
                if item is int and not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                    raise ValueError
                if item is str and not all(isinstance(v, str) for v in value):
                    raise ValueError
                out[key] = tuple(value)
            elif kind is bool:
                out[key] = raw.strip().lower() in ("1", "true", "yes")
            else:
                out[key] = kind(raw.strip())
                if kind is float and not math.isfinite(out[key]):
                    raise ValueError
        except ValueError:
            raise _nothing(change, f"{key} needs a {kind.__name__} (tuples as JSON lists)") from None
    return out


def policy_value_text(policy: ClinicPolicy, key: str) -> str:
    """How ``key`` is written after ``KEY=`` (what :func:`parse_policy_changes` reads back)."""
    value = getattr(policy, key)
    if isinstance(value, tuple):
        return json.dumps(list(value), ensure_ascii=False)
    return str(value)


@dataclass(frozen=True)
class PolicyChange:
    policy: ClinicPolicy  # the version now in force
    keys: tuple[str, ...]  # the settings whose value changed
    author: str


def check_policy_change(current: ClinicPolicy, changes: list[str], reason: str) -> tuple[ClinicPolicy, tuple[str, ...]]:
    """The new version ``changes`` would make, and the keys whose value differs. Raises for a missing reason,
    a bad value or a rule of ``ClinicPolicy`` broken (before anyone is asked for a PIN). Writes nothing."""
    if not (reason or "").strip():
        raise UserError("give a reason for the policy change (kept in the audit trail); nothing was changed")
    parsed = parse_policy_changes(current, changes)
    keys = tuple(sorted(k for k, v in parsed.items() if getattr(current, k) != v))
    if not keys:
        raise UserError(f"no value differs from policy version {current.version}; nothing was changed")
    try:
        new = current.changed(**{k: parsed[k] for k in keys})  # ClinicPolicy.__post_init__ validates
    except ClinicalInputError as exc:
        raise ClinicalInputError(f"{exc}; nothing was changed") from None
    return new, keys


def change_policy(accounts: Accounts, changes: list[str], reason: str,
                  authenticate: Callable[[], SignedInUser]) -> PolicyChange:
    """Record a new policy version with ``changes`` (``KEY=VALUE``), audited with ``reason``.

    Order: reason given, values parsed and validated, at least one value differs, then ``authenticate()``
    (raises ``AuthError`` on a wrong PIN), then the ``manage-policy`` permission, then the write. Raises
    ``UserError`` or ``ClinicalInputError`` for bad input; nothing is written unless everything passed.
    """
    reason = (reason or "").strip()
    store = accounts.store
    current = store.policy
    new, keys = check_policy_change(current, changes, reason)
    who = authenticate()
    accounts.require(who, "manage-policy")
    if store.policy.version != current.version:  # someone else recorded a version meanwhile
        raise ClinicalInputError("the clinic policy changed meanwhile; review it and try again. Nothing was changed")
    with store.atomic():
        store.set_policy(new, author=who.user_id)
        store.audit(CHANGE_ACTION, f"policy_versions:{new.version}", {"keys": list(keys), "reason": reason},
                    author=who.user_id)
    return PolicyChange(new, keys, who.user_id)


@dataclass(frozen=True)
class PolicyHistoryRow:
    version: int
    recorded_at: datetime
    author: str
    keys: tuple[str, ...]
    reason: str


def policy_history(store) -> list[PolicyHistoryRow]:  # noqa: ANN001
    """Every recorded policy version, newest first, with the keys and reason of its ``policy-change`` event."""
    versions = store.policy_versions()
    events = store.audit_details(CHANGE_ACTION)
    why: dict[str, dict] = {}
    for target, details in events:
        try:
            why[target] = json.loads(details) if details else {}
        except ValueError:
            why[target] = {}
    out = []
    for version, recorded_at, author in versions:
        d = why.get(f"policy_versions:{version}", {})
        reason = str(d.get("reason", "")) if d else ("clinic defaults" if version == 1 else "")
        keys = tuple(d.get("keys", ()))
        out.append(PolicyHistoryRow(version, recorded_at, author, keys, reason))
    return out


__all__ = ["CHANGE_ACTION", "LABELS", "POLICY_GROUPS", "PolicyChange", "PolicyHistoryRow", "change_policy",
           "check_policy_change",
           "parse_policy_changes", "policy_history", "policy_value_text"]

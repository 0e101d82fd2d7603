"""Accounts, sign-in, lock/unlock, hand-over and re-authentication over a :class:`ChartStore`.

Users are chart rows (``users`` table): a new PIN or a deactivation is a new row amending the previous one,
so a deactivated user's old entries still show who wrote them. Every sign-in, sign-out, failure, lock,
unlock, hand-over and account change is an audit event targeting ``users:<user_id>``; audit details hold
ids, purposes and counts only, never patient data. Failed attempts are throttled and locked out from those
events (:mod:`.policy`), so a restart does not reset the count.

The signed-in user id is ``store.author`` while a session is active, so every row charted carries it.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..domain.clock import Clock
from ..domain.errors import ClinicalInputError
from ..domain.ids import new_id
from ..store.models import User
from ..store.repository import SYSTEM_AUTHOR, USER_ROLES, ChartStore
from .errors import (
    AccountInactive,
    AccountLocked,
    AuthError,
    NoSecretSet,
    PermissionDenied,
    TryAgainLater,
    WrongCredentials,
)
from .passwords import SecretHasher, check_admin_secret, check_secret
from .policy import AuthPolicy, FailureState, fold_failures

log = logging.getLogger(__name__)

ROLES = USER_ROLES  # nurse, charge-nurse, prescriber, admin: the store refuses any other
USER_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")

# What each role may do beyond charting (every role may chart and sign).
PERMISSIONS: dict[str, frozenset[str]] = {
    "nurse": frozenset({"chart", "sign"}),
    "charge-nurse": frozenset({"chart", "sign", "view-board"}),  # runs the floor: sees every chair (issue 15)
    "prescriber": frozenset({"chart", "sign", "prescribe"}),
    "admin": frozenset({"chart", "sign", "manage-users", "manage-policy", "view-audit", "export-audit", "view-board",
                        "link-patients"}),
}

FAILURE = "sign-in-failed"
# Events after which the failure count starts again: a proven secret, or an admin reset.
RESETS = ("sign-in", "unlock", "reauth", "hand-over", "pin-reset", "first-admin", "user-add")


@dataclass(frozen=True)
class SignedInUser:
    """Someone whose secret was just checked. ``display_name`` is the printed name on signatures."""

    user_id: str
    display_name: str
    role: str

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())


@dataclass(frozen=True)
class AuthSession:
    """One signed-in stretch at this chair (ends at sign-out or hand-over)."""

    session_id: str
    user: SignedInUser
    started_at: datetime
    device_id: str

    @property
    def user_id(self) -> str:
        return self.user.user_id


def _public(row: dict) -> dict:
    """A user row without its password hash (for lists and the admin dialog)."""
    out = {k: v for k, v in row.items() if k != "password_hash"}
    out["has_secret"] = bool(row.get("password_hash"))
    return out


class Accounts:
    """The accounts service. One per open store; ``current`` is who is signed in at this chair."""

    def __init__(self, store: ChartStore, *, hasher: SecretHasher | None = None, policy: AuthPolicy | None = None,
                 clock: Clock | None = None) -> None:
        self.store = store
        self.hasher = hasher or SecretHasher()
        self._policy = policy
        self._clock = clock
        self.current: AuthSession | None = None
        self.locked = False

    @property
    def clock(self) -> Clock:
        return self._clock or self.store.clock

    @property
    def policy(self) -> AuthPolicy:
        return self._policy or AuthPolicy.from_clinic(self.store.policy)

    # --- reading users ----------------------------------------------------------------------------
    def _row(self, user_id: str) -> dict | None:
        for row in self.store.users():
            if row["user_id"] == user_id:
                return row
        return None

    def user(self, user_id: str) -> dict | None:
        """The current version of a user (active or not), without the hash."""
        row = self._row(_norm(user_id))
        return _public(row) if row else None

    def users(self, include_inactive: bool = True) -> list[dict]:
        rows = [_public(r) for r in self.store.users() if include_inactive or r["active"]]
        return sorted(rows, key=lambda r: r["user_id"])

    def display_name(self, user_id: str) -> str:
        """Printed name for any user id ever used here (deactivated users keep their name)."""
        row = self._row(user_id)
        if row is None:
            return user_id
        return row["display_name"] + ("" if row["active"] else " (inactive)")

    def needs_first_admin(self) -> bool:
        """True on a first start: no active admin who can sign in. The app then asks for one."""
        return not any(r["role"] == "admin" and r["active"] and r["password_hash"] for r in self.store.users())

    # --- managing users -------------------------------------------------------------------------
    def create_first_admin(self, user_id: str, display_name: str, secret: str) -> AuthSession:
        """First start: create the admin and sign them in. Refused once an admin exists."""
        if not self.needs_first_admin():
            raise PermissionDenied("An admin already exists; ask them to add accounts.")
        user_id = _check_new_user(user_id, display_name, "admin")
        if self._row(user_id) is not None:
            raise ClinicalInputError(f"user {user_id} already exists")
        check_admin_secret(secret)
        self.store.create_user(user_id, display_name.strip(), "admin", self.hasher.hash(secret))
        self._audit("first-admin", user_id, {"role": "admin"}, author=user_id)
        return self._start(self._signed_in(self._row(user_id)), "sign-in", {"via": "first-start"})

    def add_user(self, actor: SignedInUser, user_id: str, display_name: str, role: str, secret: str) -> dict:
        self.require(actor, "manage-users")
        user_id = _check_new_user(user_id, display_name, role)
        if role == "admin":
            check_admin_secret(secret)
        row = self.store.create_user(user_id, display_name.strip(), role, self.hasher.hash(secret))
        self._audit("user-add", user_id, {"role": role}, author=actor.user_id)
        return _public(row)

    def deactivate(self, actor: SignedInUser, user_id: str, reason: str) -> dict:
        """Mark a user inactive (a new amending row). Their charted rows and signatures stay readable."""
        self.require(actor, "manage-users")
        row = self._existing(user_id)
        if not row["active"]:
            raise ClinicalInputError(f"{row['user_id']} is already inactive")
        if row["role"] == "admin" and not any(
            r["role"] == "admin" and r["active"] and r["user_id"] != row["user_id"] for r in self.store.users()
        ):
            raise PermissionDenied("This is the last active admin; add another admin first.")
        new = self._amend_user(row, reason or "deactivated", active=False, author=actor.user_id)
        self._audit("user-deactivate", row["user_id"], None, author=actor.user_id)
        if self.current and self.current.user_id == row["user_id"]:
            self.sign_out(reason="deactivated")
        return _public(new)

    def reset_secret(self, actor: SignedInUser, user_id: str, new_secret: str) -> dict:
        """Admin sets a new PIN/password (also lifts a lockout)."""
        self.require(actor, "manage-users")
        row = self._existing(user_id)
        if row["role"] == "admin":
            check_admin_secret(new_secret)
        new = self._amend_user(row, "PIN reset by admin", password_hash=self.hasher.hash(new_secret),
                               author=actor.user_id)
        self._audit("pin-reset", row["user_id"], {"by": actor.user_id}, author=actor.user_id)
        return _public(new)

    def set_role(self, actor: SignedInUser, user_id: str, role: str, reason: str,
                 new_secret: str | None = None) -> dict:
        """Give a user another role (e.g. a nurse who takes the charge-nurse shift): a new amending row. Made
        admin, the user gets a new password of admin length in the same row (a nurse's 4-digit PIN must never
        become an admin's secret; only its hash is known, so its length cannot be checked)."""
        self.require(actor, "manage-users")
        if role not in ROLES:
            raise ClinicalInputError(f"role must be one of: {', '.join(ROLES)}")
        if not (reason or "").strip():
            raise ClinicalInputError("a change of role needs a reason")
        changes: dict = {}
        if role == "admin":
            if not new_secret:
                raise ClinicalInputError("a new admin needs a new password (at least 8 characters) with the role")
            check_admin_secret(new_secret)
            changes["password_hash"] = self.hasher.hash(new_secret)
        row = self._existing(user_id)
        if row["role"] == role:
            raise ClinicalInputError(f"{row['user_id']} already has the role {role}")
        if row["role"] == "admin" and row["active"] and not any(
            r["role"] == "admin" and r["active"] and r["user_id"] != row["user_id"] for r in self.store.users()
        ):
            raise PermissionDenied("This is the last active admin; add another admin first.")
        new = self._amend_user(row, reason.strip(), role=role, author=actor.user_id, **changes)
        self._audit("role-change", row["user_id"], {"from": row["role"], "to": role}, author=actor.user_id)
        return _public(new)

    def change_own_secret(self, user_id: str, old_secret: str, new_secret: str) -> None:
        who = self._check(user_id, old_secret, "change-secret")
        (check_admin_secret if who.role == "admin" else check_secret)(new_secret)
        row = self._existing(who.user_id)
        self._amend_user(row, "PIN changed by its owner", password_hash=self.hasher.hash(new_secret),
                         author=who.user_id)
        self._audit("pin-change", who.user_id, None, author=who.user_id)

    def require(self, actor: SignedInUser | None, permission: str) -> None:
        if actor is None or not actor.can(permission):
            raise PermissionDenied(f"Only an admin may do this ({permission}).")
        row = self._row(actor.user_id)
        if row is None or not row["active"]:
            raise PermissionDenied(f"{actor.user_id} is no longer an active account.")
        if row["role"] != actor.role:
            raise PermissionDenied(f"{actor.user_id}'s role changed to {row['role']}; sign in again.")

    # --- credentials ------------------------------------------------------------------------------
    def failure_state(self, user_id: str) -> FailureState:
        rows = self.store.audit_events_for(f"users:{_norm(user_id)}", (FAILURE, *RESETS))
        events = [(when, action == FAILURE) for when, action in rows]
        return fold_failures(events, self.clock.now(), self.policy)

    def _check(self, user_id: str, secret: str, purpose: str) -> SignedInUser:
        """Verify ``secret`` for ``user_id``: throttle, lockout, hash, active. Audits refusals and failures."""
        user_id = _norm(user_id)
        row = self._row(user_id) if user_id else None
        now = self.clock.now()
        if row is None:
            self.hasher.verify(None, secret)  # same cost as a real check: no hint that the id is unknown
            self._audit(FAILURE, None, {"purpose": purpose, "reason": "unknown-user"}, author=SYSTEM_AUTHOR)
            log.info("sign-in failed (%s): unknown user id", purpose)
            raise WrongCredentials()
        state = self.failure_state(user_id)
        if state.locked(now):
            self._audit("sign-in-refused", user_id, {"purpose": purpose, "reason": "locked"}, author=SYSTEM_AUTHOR)
            raise AccountLocked(user_id, state.locked_until)
        wait = state.wait_s(now, self.policy)
        if wait > 0:
            self._audit("sign-in-refused", user_id, {"purpose": purpose, "reason": "throttled"}, author=SYSTEM_AUTHOR)
            raise TryAgainLater(wait)
        if not row["password_hash"]:
            raise NoSecretSet(user_id)
        if not self.hasher.verify(row["password_hash"], secret):
            failures = state.failures + 1
            self._audit(FAILURE, user_id, {"purpose": purpose, "failures": failures}, author=SYSTEM_AUTHOR)
            log.info("sign-in failed (%s) for %s: %d consecutive", purpose, user_id, failures)
            after = self.failure_state(user_id)
            if after.locked(self.clock.now()):
                self._audit("lockout", user_id, {"failures": failures, "minutes": self.policy.lockout_min},
                            author=SYSTEM_AUTHOR)
                raise AccountLocked(user_id, after.locked_until)
            raise WrongCredentials(self.policy.max_failures - after.failures)
        if not row["active"]:
            self._audit("sign-in-refused", user_id, {"purpose": purpose, "reason": "inactive"}, author=SYSTEM_AUTHOR)
            raise AccountInactive(user_id)
        if self.hasher.needs_rehash(row["password_hash"]):
            self._amend_user(row, "re-hashed with current parameters", password_hash=self.hasher.hash(secret),
                             author=user_id)
        return self._signed_in(row)

    def verify_for_signature(self, user_id: str, secret: str, purpose: str = "signature") -> SignedInUser:
        """Re-authenticate ``user_id`` with *their own* secret (e-signatures, witnesses, a policy change).
        Audited as ``reauth`` with ``purpose``."""
        who = self._check(user_id, secret, purpose)
        self._audit("reauth", who.user_id, {"purpose": purpose}, author=who.user_id)
        return who

    # --- sessions ---------------------------------------------------------------------------------
    def sign_in(self, user_id: str, secret: str) -> AuthSession:
        if self.current is not None:
            raise AuthError(f"{self.current.user_id} is signed in; use switch user to hand over.")
        who = self._check(user_id, secret, "sign-in")
        return self._start(who, "sign-in", {"via": "sign-in"})

    def sign_in_demo(self, user_id: str, demo_db: Path | None = None) -> AuthSession:
        """``--demo`` only: sign a demo user in without a secret, and only on the demo database."""
        from ..paths import demo_db_path

        allowed = Path(demo_db or demo_db_path()).expanduser().resolve()
        if Path(self.store.path).resolve() != allowed:
            raise PermissionDenied("Automatic demo sign-in is only possible on the demo database.")
        row = self._row(_norm(user_id))
        if row is None or not row["active"]:
            raise WrongCredentials()
        return self._start(self._signed_in(row), "sign-in", {"via": "demo"})

    def sign_out(self, reason: str = "sign-out") -> None:
        if self.current is None:
            return
        uid = self.current.user_id
        self._audit("sign-out", uid, {"reason": reason, "session": self.current.session_id}, author=uid)
        log.info("%s signed out (%s)", uid, reason)
        self.current = None
        self.locked = False
        self.store.author = SYSTEM_AUTHOR

    def lock(self, reason: str = "idle") -> None:
        """The privacy screen went up. Charting by devices continues under the same author."""
        if self.current is None or self.locked:
            return
        self.locked = True
        self._audit("lock", self.current.user_id, {"reason": reason, "session": self.current.session_id},
                    author=self.current.user_id)

    def unlock(self, secret: str) -> AuthSession:
        """Unlock by the same user (their own secret)."""
        if self.current is None:
            raise AuthError("Nobody is signed in.")
        who = self._check(self.current.user_id, secret, "unlock")
        self.locked = False
        self._audit("unlock", who.user_id, {"session": self.current.session_id}, author=who.user_id)
        return self.current

    def hand_over(self, user_id: str, secret: str) -> AuthSession:
        """Switch user: the new user signs in with their own secret; the hand-over is recorded."""
        who = self._check(user_id, secret, "hand-over")
        previous = self.current
        if previous is not None and previous.user_id == who.user_id:
            self.locked = False
            self._audit("unlock", who.user_id, {"session": previous.session_id}, author=who.user_id)
            return previous
        if previous is not None:
            self._audit("sign-out", previous.user_id, {"reason": "hand-over", "session": previous.session_id},
                        author=previous.user_id)
        self.current = None
        self.locked = False
        return self._start(who, "hand-over", {"from": previous.user_id if previous else None, "to": who.user_id})

    # --- helpers ----------------------------------------------------------------------------------
    def _start(self, who: SignedInUser, action: str, details: dict) -> AuthSession:
        session = AuthSession(new_id(), who, self.clock.now(), self.store.device_id)
        self.current = session
        self.locked = False
        self.store.author = who.user_id
        self._audit(action, who.user_id, {**details, "session": session.session_id}, author=who.user_id)
        log.info("%s signed in (%s) as %s", who.user_id, action, who.role)
        return session

    def _signed_in(self, row: dict) -> SignedInUser:
        return SignedInUser(row["user_id"], row["display_name"], row["role"])

    def _existing(self, user_id: str) -> dict:
        row = self._row(_norm(user_id))
        if row is None:
            raise ClinicalInputError(f"no user {user_id}")
        return row

    def _amend_user(self, row: dict, reason: str, *, author: str, **changes: object) -> dict:
        previous_author = self.store.author
        self.store.author = author
        try:
            return self.store.amend(User, row["id"], reason, **changes)
        finally:
            self.store.author = previous_author

    def _audit(self, action: str, user_id: str | None, details: dict | None, *, author: str) -> dict:
        return self.store.audit(action, f"users:{user_id}" if user_id else None, details, author=author)


def _norm(user_id: str) -> str:
    return (user_id or "").strip().lower()


def _check_new_user(user_id: str, display_name: str, role: str) -> str:
    user_id = _norm(user_id)
    if not USER_ID_RE.match(user_id):
        raise ClinicalInputError(
            "a user id is 2-64 lower-case letters, digits, dots, dashes or underscores (e.g. a.morgan)"
        )
    if role not in ROLES:
        raise ClinicalInputError(f"role must be one of: {', '.join(ROLES)}")
    if not (display_name or "").strip():
        raise ClinicalInputError("the printed name is required (it appears on signatures)")
    return user_id


def audit_rows(store: ChartStore, limit: int | None = None) -> list[dict]:
    """The audit trail, newest first, with details decoded (for the admin view and export)."""
    rows = store.audit_trail(limit)
    for r in rows:
        try:
            r["details_obj"] = json.loads(r["details"]) if r["details"] else {}
        except ValueError:
            r["details_obj"] = {}
    return rows


__all__ = ["ROLES", "PERMISSIONS", "Accounts", "AuthSession", "SignedInUser", "audit_rows"]

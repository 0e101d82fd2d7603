"""Failed sign-in throttling and lockout, computed from audit events and an injected clock.

After the k-th consecutive failure the next attempt is allowed ``min(base * 2**(k-1), max_delay)`` seconds
later; after ``max_failures`` consecutive failures the account is locked for ``lockout_min`` minutes. A
success (or an admin PIN reset) clears the count. The failures are audit events in the chart, so a
restart, or another chair after sync, sees the same state. Nothing here sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class AuthPolicy:
    max_failures: int = 5
    lockout_min: float = 15.0
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0

    @classmethod
    def from_clinic(cls, clinic_policy: object) -> "AuthPolicy":
        """Clinic policy may carry ``signin_max_failures``/``signin_lockout_min`` (admin-set); else defaults."""
        d = cls()
        return cls(
            max_failures=int(getattr(clinic_policy, "signin_max_failures", d.max_failures)),
            lockout_min=float(getattr(clinic_policy, "signin_lockout_min", d.lockout_min)),
            base_delay_s=float(getattr(clinic_policy, "signin_base_delay_s", d.base_delay_s)),
            max_delay_s=float(getattr(clinic_policy, "signin_max_delay_s", d.max_delay_s)),
        )

    def delay_after(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return min(self.base_delay_s * 2 ** (failures - 1), self.max_delay_s)


@dataclass(frozen=True)
class FailureState:
    failures: int  # consecutive failures still counting
    last_failure: datetime | None
    locked_until: datetime | None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def wait_s(self, now: datetime, policy: AuthPolicy) -> float:
        if self.last_failure is None or self.failures == 0:
            return 0.0
        ready = self.last_failure + timedelta(seconds=policy.delay_after(self.failures))
        return max(0.0, (ready - now).total_seconds())


def fold_failures(events: list[tuple[datetime, bool]], now: datetime, policy: AuthPolicy) -> FailureState:
    """``events``: (time, is_failure) in time order, where a non-failure is a success or reset."""
    failures, last, locked_until = 0, None, None
    for when, is_failure in events:
        if not is_failure:
            failures, last, locked_until = 0, None, None
            continue
        if locked_until is not None and when >= locked_until:
            failures, locked_until = 0, None
        failures += 1
        last = when
        if failures >= policy.max_failures and locked_until is None:
            locked_until = when + timedelta(minutes=policy.lockout_min)
    if locked_until is not None and now >= locked_until:
        failures, last, locked_until = 0, None, None
    return FailureState(failures, last, locked_until)

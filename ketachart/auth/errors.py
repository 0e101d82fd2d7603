"""Sign-in and permission errors. Messages are shown to users verbatim and never name a patient."""

from __future__ import annotations

from datetime import datetime

# the package hands these on (``from ketachart.auth import AccountLocked``)
__all__ = ["AuthError", "WrongCredentials", "TryAgainLater", "AccountLocked", "AccountInactive", "NoSecretSet",
           "WeakSecret", "PermissionDenied"]


class AuthError(RuntimeError):
    """A sign-in, re-authentication or permission problem the user can act on."""


class WrongCredentials(AuthError):
    """User id or secret not recognised (deliberately the same message for both)."""

    def __init__(self, failures_left: int | None = None) -> None:
        self.failures_left = failures_left
        extra = ""
        if failures_left is not None and failures_left <= 2:
            extra = f" {failures_left} more wrong attempt{'s' if failures_left != 1 else ''} will lock the account."
        super().__init__("User id or PIN/password not recognised." + extra)


class TryAgainLater(AuthError):
    """Too soon after a failed attempt (exponential delay)."""

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s
        super().__init__(f"Too many wrong attempts. Try again in {max(1, round(wait_s))} s.")


class AccountLocked(AuthError):
    """Locked after repeated failures; an admin can reset the PIN, or wait."""

    def __init__(self, user_id: str, until: datetime) -> None:
        self.user_id = user_id
        self.until = until
        super().__init__(
            f"Account {user_id} is locked after repeated wrong attempts until {until:%H:%M} UTC. "
            "Ask an admin to reset the PIN, or try again then."
        )


class AccountInactive(AuthError):
    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        super().__init__(f"Account {user_id} is deactivated. Ask an admin.")


class NoSecretSet(AuthError):
    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        super().__init__(f"Account {user_id} has no PIN or password yet. Ask an admin to set one.")


class WeakSecret(AuthError):
    pass


class PermissionDenied(AuthError):
    pass

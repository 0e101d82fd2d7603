"""Who is charting: accounts, sign-in, lockout, hand-over and electronic signatures (no Qt).

- :mod:`.passwords`   argon2id hashing of passwords and PINs
- :mod:`.policy`      failed sign-in throttling and lockout
- :mod:`.accounts`    :class:`Accounts` service over a ChartStore; :class:`SignedInUser`, :class:`AuthSession`
- :mod:`.signatures`  :class:`Signatures` (re-authenticated e-signatures) and "signed version amended"
- :mod:`.policy_admin` changing the clinic policy (shared by ``ketachart policy set`` and the admin dialog)
- :mod:`.cli`         ``ketachart users ...``, ``ketachart verify``, ``ketachart encrypt-db``
"""

from .accounts import ROLES, Accounts, AuthSession, SignedInUser
from .errors import (
    AccountInactive,
    AccountLocked,
    AuthError,
    NoSecretSet,
    PermissionDenied,
    TryAgainLater,
    WeakSecret,
    WrongCredentials,
)
from .signatures import SignatureStatus, Signatures

__all__ = [
    "ROLES", "Accounts", "AuthSession", "SignedInUser", "Signatures", "SignatureStatus", "AuthError",
    "AccountInactive", "AccountLocked", "NoSecretSet", "PermissionDenied", "TryAgainLater", "WeakSecret",
    "WrongCredentials",
]

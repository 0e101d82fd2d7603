"""Who is charting: accounts, sign-in, lockout, hand-over and electronic signatures (no Qt).

- :mod:`.passwords`   argon2id hashing of passwords and PINs
- :mod:`.policy`      failed sign-in throttling and lockout
- :mod:`.accounts`    :class:`Accounts` service over a ChartStore; :class:`SignedInUser`, :class:`AuthSession`
- :mod:`.signatures`  :class:`Signatures` (re-authenticated e-signatures) and "signed version amended"
- :mod:`.policy_admin` changing the clinic policy (shared by ``ketachart policy set`` and the admin dialog)
- :mod:`.cli`         ``ketachart users ...``, ``ketachart verify``, ``ketachart encrypt-db``
"""

from . import errors
from .accounts import ROLES, Accounts, AuthSession, SignedInUser
from .errors import *  # noqa: F403 - every sign-in error, listed once in errors.__all__
from .signatures import SignatureStatus, Signatures

__all__ = ["ROLES", "Accounts", "AuthSession", "SignedInUser", "Signatures", "SignatureStatus", *errors.__all__]

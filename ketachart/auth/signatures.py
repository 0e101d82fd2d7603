"""Electronic signatures: re-authenticated, printed name + time + meaning, bound to the content signed.

:meth:`Signatures.verify` checks the signer's *own* secret once (``Accounts.verify_for_signature``: throttled,
one ``reauth`` audit row) and returns a :class:`Reauthenticated`; :meth:`Signatures.sign_as` signs with it,
once. So nobody can sign as another user, a witness signs with their own credentials, and an entry that is
written only when signed (dose, discharge) is signed inside its own transaction without asking for the PIN
twice. :meth:`Signatures.sign` is both steps for a row that already exists. The signature row stores the
printed name from the user's account, the meaning (performed, reviewed, witnessed), the time
(``recorded_at``) and a SHA-256 of exactly the row signed (``ChartStore.sign``).

:meth:`Signatures.status` tells, for a signature, whether the signed version was later amended (a row
``amends`` it) and whether its hash still matches; the report and the UI show ``label``
("signed version amended").
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..domain.errors import ClinicalInputError
from ..store.models import MODEL_BY_TABLE, Signature
from ..store.repository import ChartStore
from .accounts import Accounts, SignedInUser
from .errors import PermissionDenied

MEANINGS = ("performed", "reviewed", "witnessed")

SIGNED = "signed"
AMENDED = "signed version amended"
BROKEN = "signature does not match the signed content"
WITNESS_MUST_DIFFER = "A witness must be a different person from the one who performed it."


@dataclass(frozen=True)
class SignatureStatus:
    """What a signature still proves. ``signature`` is the stored row."""

    signature: dict
    content_matches: bool  # the signed row still hashes to the signature's content_hash
    amended: bool  # a later row amends the signed row
    amended_by: tuple[str, ...]  # ids of those amending rows

    @property
    def label(self) -> str:
        if not self.content_matches:
            return BROKEN
        return AMENDED if self.amended else SIGNED

    @property
    def line(self) -> str:
        """``Alex Morgan, RN - performed - 2026-01-05 09:40 UTC [signed version amended]``."""
        s = self.signature
        text = f"{s['printed_name']} - {s['meaning']} - {s['recorded_at']:%Y-%m-%d %H:%M} UTC"
        return text if self.label == SIGNED else f"{text} [{self.label}]"


@dataclass(frozen=True, eq=False)
class Reauthenticated:
    """Someone who has just re-entered their own secret to sign with ``meaning``: good for one signature,
    and only with the :class:`Signatures` that issued it (constructing one by hand signs nothing)."""

    user: SignedInUser
    meaning: str

    @property
    def user_id(self) -> str:
        return self.user.user_id

    @property
    def printed_name(self) -> str:
        return self.user.display_name


class Signatures:
    def __init__(self, store: ChartStore, accounts: Accounts) -> None:
        self.store = store
        self.accounts = accounts
        self._unused: dict[int, Reauthenticated] = {}  # issued by verify(), not yet signed with
        self._lock = threading.Lock()

    def verify(self, user_id: str, secret: str, meaning: str) -> Reauthenticated:
        """Check ``user_id``'s own ``secret`` for a signature with ``meaning`` (audited once, as ``reauth``).

        Raises an ``AuthError`` (wrong secret, locked, inactive) or ``ClinicalInputError`` (bad meaning)."""
        if meaning not in MEANINGS:
            raise ClinicalInputError("signature meaning must be performed, reviewed or witnessed")
        who = Reauthenticated(self.accounts.verify_for_signature(user_id, secret), meaning)
        with self._lock:
            self._unused[id(who)] = who
        return who

    def sign(self, model: type, target_id: str, *, user_id: str, secret: str, meaning: str) -> dict:
        """Sign an existing row ``target_id`` as ``user_id`` after checking that user's own ``secret``.

        Raises an ``AuthError`` (wrong secret, locked, inactive) or ``ClinicalInputError`` (bad meaning,
        a witness who is also the performer) and saves nothing then.
        """
        if meaning not in MEANINGS:
            raise ClinicalInputError("signature meaning must be performed, reviewed or witnessed")
        self.store.get(model, target_id)  # NotFound before asking for a secret
        return self.sign_as(model, target_id, self.verify(user_id, secret, meaning))

    def sign_as(self, model: type, target_id: str, signer: Reauthenticated) -> dict:
        """Sign ``target_id`` with a re-authentication from :meth:`verify` (used up, even if this fails).

        Inside a ``store.atomic()`` block the row may be one written by that same block."""
        with self._lock:
            fresh = self._unused.get(id(signer)) is signer
            if fresh:
                del self._unused[id(signer)]
        if not fresh:
            raise ClinicalInputError("this signature needs the signer's PIN again")
        meaning = signer.meaning
        target = self.store.get(model, target_id)
        who = signer.user
        if meaning == "witnessed":
            performers = {s["user_id"] for s in self.signatures_on(model, target_id) if s["meaning"] == "performed"}
            if who.user_id in performers or who.user_id == target["author"]:
                raise PermissionDenied(WITNESS_MUST_DIFFER)
        if any(s["user_id"] == who.user_id and s["meaning"] == meaning for s in self.signatures_on(model, target_id)):
            raise ClinicalInputError(f"{who.display_name} has already signed this as {meaning}")
        return self.store.sign(model, target_id, user_id=who.user_id, printed_name=who.display_name, meaning=meaning)

    def signatures_on(self, model: type, target_id: str) -> list[dict]:
        return self.store.rows(Signature, target_table=model.__tablename__, target_id=target_id)

    def status(self, signature: dict) -> SignatureStatus:
        model = MODEL_BY_TABLE[signature["target_table"]]
        amendments = self.store.rows(model, amends=signature["target_id"])
        return SignatureStatus(
            signature=signature,
            content_matches=self.store.signature_valid(signature),
            amended=bool(amendments),
            amended_by=tuple(r["id"] for r in amendments),
        )

    def history(self, model: type, row_id: str) -> list[SignatureStatus]:
        """Signatures on this entry and on every earlier version of it (oldest version first)."""
        chain: list[str] = []
        current: str | None = row_id
        while current and current not in chain:
            chain.append(current)
            current = self.store.get(model, current)["amends"]
        out: list[SignatureStatus] = []
        for version in reversed(chain):
            out.extend(self.status(s) for s in self.signatures_on(model, version))
        return out

"""The signing workflow for entries that are written only once they are signed (dose and waste, discharge).

A :class:`SigningFlow` lists the signatures an entry needs (:class:`SignatureStep`: who, what meaning, what
they are shown). The screen asks each signer for their own PIN; ``Signatures.verify`` checks it once and
returns a :class:`~ketachart.auth.signatures.Reauthenticated`, which the screen hands to :meth:`SigningFlow.give`.
With the last one the flow writes the entry and signs it with those re-authentications, in one transaction.
The screen holds no PIN and no clinical state; the flow holds only the re-authentications, each good once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..auth.errors import PermissionDenied
from ..auth.signatures import WITNESS_MUST_DIFFER, Reauthenticated
from ..domain.errors import ClinicalInputError


@dataclass(frozen=True)
class SignatureStep:
    meaning: str  # performed | witnessed
    what: str  # the sentence the signer reads before typing their PIN
    user_id: str = ""  # who is expected to sign (editable by the signer)
    not_user: str = ""  # who may not sign this step (the performer, for a witness)
    role: str = ""  # the role the signer must have ("prescriber" for an order); "" = anyone who may sign
    title: str = "Sign - KetaChart"
    cancelled: str = "not signed; nothing was saved"


class SigningFlow:
    """Signatures collected one at a time; ``save(signers)`` runs with the last one and its result is kept."""

    def __init__(self, steps: list[SignatureStep], save: Callable[[list[Reauthenticated]], object]) -> None:
        self.steps = steps
        self._save = save
        self._given: list[Reauthenticated] = []
        self.result: object = None
        self.done = False

    @property
    def step(self) -> SignatureStep | None:
        """The signature asked for now (None once saved)."""
        return None if self.done else self.steps[len(self._given)]

    def give(self, signer: Reauthenticated) -> object:
        """Take the current step's re-authentication; with the last one, write and sign (all or nothing)."""
        step = self.step
        if step is None:
            raise ClinicalInputError("this entry is already signed and saved")
        if signer.meaning != step.meaning:
            raise ClinicalInputError(f"this step needs a signature meaning {step.meaning}")
        if step.not_user and signer.user_id == step.not_user.strip().lower():
            raise PermissionDenied(WITNESS_MUST_DIFFER)
        if step.role and signer.user.role != step.role:
            raise PermissionDenied(f"{signer.printed_name} is not a {step.role}; a {step.role} signs this")
        self._given.append(signer)
        if len(self._given) < len(self.steps):
            return None
        try:
            self.result = self._save(list(self._given))
        except BaseException:
            self._given.clear()  # used up by the failed attempt: every signer signs again
            raise
        self.done = True
        return self.result

    def cancel(self) -> None:
        self._given.clear()

"""Errors a nurse or admin can act on. Their message is shown as-is: say what is wrong and what to do."""


class ClinicalInputError(ValueError):
    """Input that would be unsafe or impossible to chart (a weight of 900 kg, a dose over the cap)."""


class IllegalTransition(RuntimeError):
    """A session was asked to move to a state it cannot reach from where it is."""

"""Store errors. Messages are shown to users verbatim: say what happened and what to do."""

from ..domain.errors import ClinicalInputError


class StoreError(RuntimeError):
    pass


class DatabaseRefused(StoreError):
    """The file cannot be opened as a KetaChart chart (newer schema, not SQLite, corrupt, wrong key).

    Raised before anything is written: the file is left untouched.
    """


class DatabaseInUse(StoreError):
    """Another KetaChart instance has this database open."""


class ImmutableRecordError(StoreError):
    """Someone tried to change or delete a committed chart row. Amend it instead."""


class NotFound(StoreError):
    pass


class HistoryConflict(StoreError, ClinicalInputError):
    """This chair's file is older than, or diverges from, what the central holds for its device.

    Charting stops (nothing new is written) until an admin resolves it; see docs/SYNC.md. Also a
    ClinicalInputError, so the screens show its message where they show any refused entry."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"charting is stopped on this chair: {reason}. Nothing new is saved until an admin resolves it "
            "(docs/SYNC.md, 'History cannot fork')."
        )
        self.reason = reason


class StorageProblem(StoreError, ClinicalInputError):
    """The disk is full or the location is read-only: nothing was saved (the transaction rolled back).

    Also a ClinicalInputError, so every screen that shows a nurse why something was not saved shows this."""


def raise_storage_error(exc: Exception, path: object) -> None:
    """Turn SQLite's disk-full and read-only errors into a clear ``StorageProblem``; re-raise anything else."""
    text = str(getattr(exc, "orig", exc)).lower()
    if "disk is full" in text or "disk full" in text:
        raise StorageProblem(f"the disk holding {path} is full: nothing was saved. Free some space, then try again.") from None
    if "readonly" in text or "read-only" in text:
        raise StorageProblem(f"{path} is in a read-only location: nothing was saved. Move it somewhere writable.") from None
    raise exc

"""Store errors. Messages are shown to users verbatim: say what happened and what to do."""


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

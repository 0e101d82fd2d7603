"""The durable, append-only chart: SQLAlchemy 2.x on SQLite (WAL, synchronous=FULL).

The rest of the app talks to :class:`ketachart.store.repository.ChartStore` only.
"""

from .errors import DatabaseInUse, DatabaseRefused, ImmutableRecordError, StoreError

__all__ = ["DatabaseInUse", "DatabaseRefused", "ImmutableRecordError", "StoreError"]

"""Offline-first sync of chart rows to the clinic's central PostgreSQL. Imports store, never Qt.

The app uses :class:`SyncService` (``run_once() -> SyncResult``, ``pending_count()``) in a worker thread;
``ketachart sync`` and ``ketachart central init`` are the headless commands. See docs/SYNC.md.
"""

from .config import CentralConfig, CentralRefused


def __getattr__(name: str):
    """The service (and with it psycopg, the PostgreSQL driver) loads when first used: a chair without a
    central, and ``ketachart verify`` asking whether one is configured, never import the driver."""
    if name in ("SyncResult", "SyncService"):
        from . import service

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CentralConfig", "CentralRefused", "SyncResult", "SyncService"]

"""Offline-first sync of chart rows to the clinic's central PostgreSQL. Imports store, never Qt.

The app uses :class:`SyncService` (``run_once() -> SyncResult``, ``pending_count()``) in a worker thread;
``ketachart sync`` and ``ketachart central init`` are the headless commands. See docs/SYNC.md.
"""

from .config import CentralConfig, CentralRefused
from .service import SyncResult, SyncService

__all__ = ["CentralConfig", "CentralRefused", "SyncResult", "SyncService"]

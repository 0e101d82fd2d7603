"""Open the chart database the way the app and CLI should: one place that decides on encryption.

Until encryption at rest lands (the accountability issue), every file is plain SQLite and
``unencrypted`` is accepted for forward compatibility.
"""

from __future__ import annotations

from pathlib import Path

from ..domain.clock import Clock
from .repository import ChartStore


def open_store(
    path: Path, *, unencrypted: bool = False, holder: str = "KetaChart", clock: Clock | None = None,
    lock: bool = True,
) -> ChartStore:
    return ChartStore.open(path, clock, holder=holder, lock=lock)

"""An accelerated clock for ``--demo --speed X``: wall time and monotonic both run ``speed`` times faster.

Everything that reads the injected :class:`~ketachart.domain.clock.Clock` (the store's ``recorded_at``, the
session clocks, the device links, the simulators) sees the same accelerated time, so a two-hour session can
be shown in minutes and still be charted consistently. Never used for real patients.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone


class ScaledClock:
    """A thread-safe clock that runs ``speed`` times faster than real time from ``start``."""

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = float(speed)
        self._wall0 = (start or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self._real0 = time.monotonic()
        self._lock = threading.Lock()

    def _elapsed(self) -> float:
        return (time.monotonic() - self._real0) * self.speed

    def now(self) -> datetime:
        with self._lock:
            return self._wall0 + timedelta(seconds=self._elapsed())

    def monotonic(self) -> float:
        with self._lock:
            return 1000.0 + self._elapsed()

    def real_seconds(self, clock_seconds: float) -> float:
        """How many real seconds ``clock_seconds`` of this clock take."""
        return clock_seconds / self.speed

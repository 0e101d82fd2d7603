"""One injectable clock for the whole app.

Timers are computed from persisted wall-clock timestamps (``now()``), never from counted ticks, so a
restart shows the right numbers. ``monotonic()`` is for measuring intervals (watchdogs, back-off).
Tests use :class:`FakeClock` and never sleep for real time.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current UTC wall time (timezone-aware)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to; thread-safe so device threads may read it."""

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._now = start.astimezone(timezone.utc)
        self._mono = 1000.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float = 0.0, **kwargs: float) -> datetime:
        """Move both clocks forward by ``seconds`` (plus any ``timedelta`` keyword parts)."""
        delta = timedelta(seconds=seconds, **kwargs)
        if delta < timedelta(0):
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += delta
            self._mono += delta.total_seconds()
            return self._now

    def set(self, when: datetime) -> None:
        """Jump the wall clock (e.g. to simulate a chair whose clock is wrong); monotonic is untouched."""
        with self._lock:
            self._now = when.astimezone(timezone.utc)


def utc(dt: datetime) -> datetime:
    """Normalise a datetime to aware UTC; naive values are taken to be UTC already (as SQLite returns them)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def system_zone() -> tuple[tzinfo, str]:
    """This computer's zone and its name: a real (DST-aware) IANA zone where the OS names one (TZ,
    /etc/localtime), else the current offset. One rule for the device clocks and the printed summary."""
    import os
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        if name:
            try:
                return ZoneInfo(name), name
            except (ZoneInfoNotFoundError, ValueError):
                continue
    local = datetime.now(timezone.utc).astimezone()
    return local.tzinfo or timezone.utc, local.tzname() or "local time"

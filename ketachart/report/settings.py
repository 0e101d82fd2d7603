"""Clinic facts the paper needs (name, address, contacts, time zone), apart from the summary they go on.

Sources, first found wins: explicit values, the environment (``KETACHART_CLINIC_NAME``,
``KETACHART_CLINIC_ADDRESS``, ``KETACHART_CLINIC_PHONE``, ``KETACHART_CLINIC_EMAIL``, ``KETACHART_TZ``), the
chart's ``store_meta`` keys of the same names in lower case without the prefix (``clinic_name``,
``clinic_tz`` ...), then defaults (the system zone).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..store.readmodels import store_meta
from ..store.repository import ChartStore

DEFAULT_CLINIC_NAME = "Ketamine Infusion Clinic"


def _system_zone() -> tuple[tzinfo, str]:
    """The system's local zone with an IANA name when one can be found (TZ, /etc/localtime)."""
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
    local = datetime.now().astimezone().tzinfo or timezone.utc
    return local, datetime.now().astimezone().tzname() or "local time"


@dataclass(frozen=True)
class ReportSettings:
    """Clinic facts the paper needs (see the module docstring for where each comes from)."""

    clinic_name: str = DEFAULT_CLINIC_NAME
    clinic_address: str = ""
    clinic_phone: str = ""
    clinic_email: str = ""
    tz_name: str = ""  # IANA name; empty: the system local zone

    KEYS = ("clinic_name", "clinic_address", "clinic_phone", "clinic_email", "clinic_tz")

    @classmethod
    def resolve(cls, store: ChartStore | None = None, **explicit: str | None) -> "ReportSettings":
        meta: dict[str, str] = {}
        if store is not None:
            try:
                meta = store_meta(store, cls.KEYS)
            except Exception:  # a settings lookup must never stop a print
                meta = {}
        values = {}
        for key in cls.KEYS:
            attr = "tz_name" if key == "clinic_tz" else key
            env = os.environ.get("KETACHART_" + ("TZ" if key == "clinic_tz" else key.upper()))
            value = explicit.get(attr) or env or meta.get(key)
            if value:
                values[attr] = value
        return cls(**values)

    def zone(self) -> tuple[tzinfo, str]:
        if self.tz_name:
            try:
                return ZoneInfo(self.tz_name), self.tz_name
            except (ZoneInfoNotFoundError, ValueError):
                pass
        return _system_zone()


def offset_label(zone: tzinfo, name: str, at: datetime) -> str:
    """"Europe/Berlin (UTC+01:00)": the zone named on the page, with its offset on the session's date."""
    offset = at.astimezone(zone).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hh, mm = divmod(abs(minutes), 60)
    return f"{name} (UTC{sign}{hh:02d}:{mm:02d})"


class LocalClock:
    """Chart times (UTC) as the clinic reads them on paper."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone

    def local(self, dt: datetime) -> datetime:
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.astimezone(self.zone)

    def hm(self, dt: datetime | None) -> str:
        return "-" if dt is None else self.local(dt).strftime("%H:%M")

    def hms(self, dt: datetime | None) -> str:
        return "-" if dt is None else self.local(dt).strftime("%H:%M:%S")

    def full(self, dt: datetime | None) -> str:
        return "-" if dt is None else self.local(dt).strftime("%Y-%m-%d %H:%M")

    def date(self, dt: datetime) -> str:
        return self.local(dt).strftime("%Y-%m-%d (%a)")

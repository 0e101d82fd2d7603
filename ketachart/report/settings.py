"""Clinic facts the paper needs (name, address, contacts, time zone), apart from the summary they go on.

Sources, first found wins: explicit values, the clinic settings in the chart (admin-managed, versioned:
``ketachart clinic set``, :mod:`ketachart.store.records`), the environment (``KETACHART_CLINIC_NAME``,
``KETACHART_CLINIC_ADDRESS``, ``KETACHART_CLINIC_PHONE``, ``KETACHART_CLINIC_EMAIL``, ``KETACHART_TZ``,
``KETACHART_MRN_SYSTEM``, ``KETACHART_STAFF_SYSTEM``, ``KETACHART_MRN_NAMESPACE``), the chart's ``store_meta``
keys of the same names in lower case without the prefix (``clinic_name``, ``clinic_tz``, ``mrn_system`` ...),
then defaults (the system zone; no MRN system). Exports read the clinic's identity only through :meth:`resolve`, so
where it is kept can change underneath them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..domain.clock import system_zone
from ..store.readmodels import store_meta
from ..store.records import clinic_history
from ..store.repository import ChartStore

DEFAULT_CLINIC_NAME = "Ketamine Infusion Clinic"


@dataclass(frozen=True)
class ReportSettings:
    """Clinic facts the paper needs (see the module docstring for where each comes from)."""

    clinic_name: str = DEFAULT_CLINIC_NAME
    clinic_address: str = ""
    clinic_phone: str = ""
    clinic_email: str = ""
    tz_name: str = ""  # IANA name; empty: the system local zone
    mrn_system: str = ""  # the URI the clinic's EHR names its MRNs by (FHIR Identifier.system); empty: not set
    staff_system: str = ""  # the URI of the clinic's staff ids; empty: derived from the MRN system
    mrn_namespace: str = ""  # HL7 v2 assigning authority namespace id (PID-3 CX.4.1) of the clinic's MRNs
    after_hours_phone: str = ""
    discharge_instructions: str = ""
    settings_version: int = 0  # the clinic settings version read from the chart (0: none set)

    KEYS = ("clinic_name", "clinic_address", "clinic_phone", "clinic_email", "clinic_tz", "mrn_system",
            "staff_system", "mrn_namespace", "after_hours_phone", "discharge_instructions")
    ATTRS = {"clinic_tz": "tz_name"}
    ENV = {"clinic_tz": "KETACHART_TZ"}

    @classmethod
    def resolve(cls, store: ChartStore | None = None, **explicit: str | None) -> "ReportSettings":
        meta: dict[str, str] = {}
        clinic: dict[str, str] = {}
        version = 0
        if store is not None:
            try:
                meta = store_meta(store, cls.KEYS)
            except Exception:  # a settings lookup must never stop a print
                meta = {}
            try:
                history = clinic_history(store)
                if history:
                    clinic, version = history[-1].settings, history[-1].version
            except Exception:  # noqa: BLE001 - as above
                clinic = {}
        values: dict = {"settings_version": version}
        for key in cls.KEYS:
            attr = cls.ATTRS.get(key, key)
            env = os.environ.get(cls.ENV.get(key, "KETACHART_" + key.upper()))
            value = explicit.get(attr) or clinic.get(key) or env or meta.get(key)
            if value:
                values[attr] = value
        return cls(**values)

    def zone(self) -> tuple[tzinfo, str]:
        if self.tz_name:
            try:
                return ZoneInfo(self.tz_name), self.tz_name
            except (ZoneInfoNotFoundError, ValueError):
                pass
        return system_zone()


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

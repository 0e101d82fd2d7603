"""The rules every view of the vitals shares: which readings count, which NIBP values belong together, which
heart rate to show, when the drug was running, and how a stored row becomes a reading again.

Live alarms, the live plot, the printed summary's minimum/maximum and plot, FHIR and CSV all use these, so a
reading the monitor flagged as an artefact is left out everywhere or nowhere (docs/DECISIONS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, NamedTuple, TypeVar

from .codes import Parameter
from .readings import BLOCKING, Quality, Reading
from .session import SessionEvent

T = TypeVar("T")

# --- the validity rule ------------------------------------------------------------------------------

# A reading with any of these flags is charted (it says when a measurement was missing) but is never a number
# for an alarm, a minimum/maximum, a plot line or an exported value.
UNUSABLE = BLOCKING | {Quality.ARTIFACT}
_UNUSABLE_TEXT = frozenset(q.value for q in UNUSABLE)


def usable(reading: Reading) -> bool:
    """True when the reading's number may be used (alarms, plots, min/max, exports)."""
    return reading.value is not None and not (reading.flags & UNUSABLE)


def usable_value(value: float | None, flags: str | Iterable[str] | None) -> float | None:
    """The same rule on a stored row: its value when usable, else None. ``flags`` as stored ("a,b") or a set."""
    if value is None:
        return None
    if flags:
        names = flags.split(",") if isinstance(flags, str) else [getattr(f, "value", f) for f in flags]
        if not _UNUSABLE_TEXT.isdisjoint(names):
            return None
    return float(value)


def flags_from_text(text: str | None) -> frozenset[Quality]:
    """Stored flags ("artifact,questionable") as Quality values; an unknown word is skipped, never guessed."""
    out = set()
    for name in (text or "").split(","):
        try:
            out.add(Quality(name))
        except ValueError:
            continue
    return frozenset(out)


def _aware(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    dt = datetime.fromisoformat(str(value))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def reading_from_row(row: dict) -> Reading:
    """A stored ``vital_readings`` row as the Reading it was, flags, source and text included (raises
    ValueError for a parameter this version does not know)."""
    return Reading(
        Parameter(row["parameter"]), row["value"], _aware(row["effective_at"]),
        unit=row.get("unit") or "", device_time=_aware(row["device_time"]) if row.get("device_time") else None,
        flags=flags_from_text(row.get("flags")), source=row.get("source") or "device", text=row.get("text"),
    )


# --- NIBP: which values are one measurement -----------------------------------------------------------

# Systolic, diastolic and mean of one cuff measurement arrive within a second or two (one frame, or one HL7
# message per value); two measurements are at least a cuff cycle (~30 s) apart. 5 s joins the first and never
# the second.
NIBP_SAME_MEASUREMENT_S = 5.0
NIBP_PARTS = {Parameter.NIBP_SYS: "sys", Parameter.NIBP_DIA: "dia", Parameter.NIBP_MEAN: "mean"}


def group_nibp(items: Iterable[T], at: Callable[[T], datetime], parameter: Callable[[T], Parameter]) -> list[dict]:
    """Group NIBP values (in time order) into measurements: ``[{"at": first time, "parts": {"sys": item, ...}}]``.
    A value joins the open group when it is within :data:`NIBP_SAME_MEASUREMENT_S` of the group's first value
    and the group has no value of that part yet. Items that are not NIBP are skipped."""
    groups: list[dict] = []
    tolerance = timedelta(seconds=NIBP_SAME_MEASUREMENT_S)
    for item in items:
        part = NIBP_PARTS.get(parameter(item))
        if part is None:
            continue
        t = at(item)
        group = groups[-1] if groups else None
        if group is None or abs(t - group["at"]) > tolerance or part in group["parts"]:
            group = {"at": t, "parts": {}}
            groups.append(group)
        group["parts"][part] = item
    return groups


class NibpPair(NamedTuple):
    """One cuff measurement (or a typed BP) with usable systolic and diastolic values."""

    at: datetime
    sys: float
    dia: float
    mean: float | None = None
    manual: bool = False


def nibp_pairs(groups: list[dict], value: Callable[[object], float | None]) -> list[NibpPair]:
    """Measurements with a usable systolic and diastolic value (``value(item)`` applies the validity rule)."""
    out = []
    for g in groups:
        parts = g["parts"]
        s = value(parts["sys"]) if "sys" in parts else None
        d = value(parts["dia"]) if "dia" in parts else None
        if s is not None and d is not None:
            m = value(parts["mean"]) if "mean" in parts else None
            out.append(NibpPair(g["at"], s, d, m))
    return out


# --- heart rate: ECG or pulse --------------------------------------------------------------------------


class HeartRateChoice:
    """ECG heart rate when there is one, pulse rate only when there is none: once a usable ECG HR has been
    seen, pulse-rate readings (from the oximeter, any device) no longer feed the heart-rate line. Fed in time
    order, so the live screen and the summary choose the same readings."""

    def __init__(self) -> None:
        self.ecg_seen = False

    def accept(self, parameter: Parameter, is_usable: bool) -> bool:
        if parameter is Parameter.HR:
            self.ecg_seen = self.ecg_seen or is_usable
            return True
        if parameter is Parameter.PR:
            return not self.ecg_seen
        return False


def heart_rate(items: Iterable[T], parameter: Callable[[T], Parameter], is_usable: Callable[[T], bool]) -> list[T]:
    """The items (in time order) that make the heart-rate series, by :class:`HeartRateChoice`."""
    choice = HeartRateChoice()
    return [i for i in items if choice.accept(parameter(i), is_usable(i))]


# --- when the drug was running -----------------------------------------------------------------------

_RUN = (SessionEvent.START_INFUSION, SessionEvent.RESUME)
_END = (SessionEvent.PAUSE, SessionEvent.STOP_INFUSION, SessionEvent.DISCHARGE, SessionEvent.ABORT)


@dataclass(frozen=True)
class InfusionSpan:
    start: datetime
    end: datetime | None  # None: still running (or still paused)
    paused: bool = False


def infusion_spans(events: Iterable[tuple[str | SessionEvent, datetime]]) -> list[InfusionSpan]:
    """Running and paused spans from the session's state changes (``(event, effective_at)`` in time order).
    A run starts at start-infusion or resume and ends at pause, stop, discharge or abort; a pause ends at
    resume, stop, discharge or abort. The same spans shade the screen and the paper and bound FHIR's
    infusion segments."""
    spans: list[InfusionSpan] = []
    running: datetime | None = None
    paused: datetime | None = None
    for event, at in events:
        try:
            ev = SessionEvent(event)
        except ValueError:
            continue
        if paused is not None and ev is not SessionEvent.PAUSE:
            spans.append(InfusionSpan(paused, at, True))
            paused = None
        if ev in _RUN and running is None:
            running = at
        elif ev in _END and running is not None:
            spans.append(InfusionSpan(running, at))
            running = None
            if ev is SessionEvent.PAUSE:
                paused = at
    if running is not None:
        spans.append(InfusionSpan(running, None))
    if paused is not None:
        spans.append(InfusionSpan(paused, None, True))
    return spans


def running_spans(spans: list[InfusionSpan]) -> list[InfusionSpan]:
    return [s for s in spans if not s.paused]

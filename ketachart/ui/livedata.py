"""Live vitals for the chair screen: numpy ring buffers per trace, NIBP cycles and the latest values.

No Qt here: the bridge appends batches on the GUI thread, the plot reads array views when the repaint timer
fires. A gap (no reading for ``gap_s`` seconds, or a reading that is not usable by the one validity rule:
invalid, sensor off, artefact) is stored as a NaN point so the plot draws a gap instead of a line across
missing data. numpy is imported with the first point (not at start-up: the app opens on the patient list).
Which heart rate shows and which NIBP values pair follow :mod:`ketachart.domain.vitals`, as on
paper and in the exports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

from ..domain.codes import Parameter
from ..domain.readings import Reading
from ..domain.vitals import NIBP_SAME_MEASUREMENT_S, HeartRateChoice, reading_from_row, usable

TRACE_PARAMETERS = (Parameter.HR, Parameter.SPO2, Parameter.NIBP_SYS, Parameter.NIBP_DIA)


class Trace:
    """A growing array pair (epoch seconds, value) with a fixed capacity: the oldest points fall off."""

    def __init__(self, capacity: int = 40_000, gap_s: float = 30.0) -> None:
        self.capacity = capacity
        self.gap_s = gap_s
        self.t = self.v = None  # numpy arrays of ``capacity`` from the first point on
        self.n = 0
        self.version = 0  # bumps on every change; the plot redraws only what changed

    def _make_room(self, k: int = 1) -> None:
        if self.t is None:
            import numpy as np

            self.t = np.empty(self.capacity, dtype=np.float64)
            self.v = np.empty(self.capacity, dtype=np.float64)
        if self.n + k <= self.capacity:
            return
        drop = max(k, self.capacity // 10)
        keep = self.n - drop
        self.t[:keep] = self.t[drop:self.n]
        self.v[:keep] = self.v[drop:self.n]
        self.n = keep

    def append(self, t: float, value: float | None) -> None:
        if self.n and t < self.t[self.n - 1]:
            return  # out of order (device clock noise); the stored record keeps it, the live plot does not
        if self.n and t - self.t[self.n - 1] > self.gap_s and not math.isnan(self.v[self.n - 1]):
            self._make_room(1)
            self.t[self.n] = self.t[self.n - 1] + 1e-3
            self.v[self.n] = math.nan
            self.n += 1
        self._make_room(1)
        self.t[self.n] = t
        self.v[self.n] = math.nan if value is None else value
        self.n += 1
        self.version += 1

    def extend(self, ts: np.ndarray, vs: np.ndarray) -> None:
        """Bulk load (history after a restart); inserts NaN gaps where points are ``gap_s`` apart."""
        if len(ts) == 0:
            return
        import numpy as np

        order = np.argsort(ts, kind="stable")
        ts, vs = np.asarray(ts, dtype=np.float64)[order], np.asarray(vs, dtype=np.float64)[order]
        gaps = np.nonzero(np.diff(ts) > self.gap_s)[0]
        if len(gaps):
            ts = np.insert(ts, gaps + 1, ts[gaps] + 1e-3)
            vs = np.insert(vs, gaps + 1, np.nan)
        if len(ts) > self.capacity:
            ts, vs = ts[-self.capacity:], vs[-self.capacity:]
        self._make_room(len(ts))
        self.t[self.n:self.n + len(ts)] = ts
        self.v[self.n:self.n + len(ts)] = vs
        self.n += len(ts)
        self.version += 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self.t is None:
            import numpy as np

            return np.empty(0, dtype=np.float64), np.empty(0, dtype=np.float64)
        return self.t[:self.n], self.v[:self.n]

    def clear(self) -> None:
        self.n = 0
        self.version += 1


@dataclass
class Latest:
    value: float | None  # usable by the one validity rule, else None
    at: datetime
    source: str
    raw: float | None = None  # the number the device sent (an artefact's too): shown as questionable
    flags: frozenset = frozenset()


class LiveData:
    """Everything the live part of the chair screen shows, fed reading batches in arrival order."""

    def __init__(self, gap_s: float = 30.0, capacity: int = 40_000) -> None:
        self.hr = Trace(capacity, gap_s)
        self.spo2 = Trace(capacity, gap_s)
        self.nibp: list[tuple[float, float | None, float | None, float | None]] = []  # (t, sys, dia, mean)
        self.nibp_version = 0
        self.latest: dict[Parameter, Latest] = {}
        self.last_reading_at: dict[str, datetime] = {}  # by source ('device:ge' ...)
        self.count = 0
        self.heart_rate = HeartRateChoice()

    def set_gap(self, gap_s: float) -> None:
        self.hr.gap_s = self.spo2.gap_s = gap_s

    def feed(self, readings: list[Reading]) -> None:
        for r in readings:
            self.count += 1
            self.last_reading_at[r.source] = r.host_time
            p = r.parameter
            value = r.value if usable(r) else None
            if p in (Parameter.HR, Parameter.PR) and not self.heart_rate.accept(p, value is not None):
                continue  # pulse rate while an ECG heart rate is charted
            if p in (Parameter.HR, Parameter.PR):
                self.hr.append(r.host_time.timestamp(), value)
                self.latest[Parameter.HR] = Latest(value, r.host_time, r.source, r.value, r.flags)
            elif p is Parameter.SPO2:
                self.spo2.append(r.host_time.timestamp(), value)
                self.latest[Parameter.SPO2] = Latest(value, r.host_time, r.source, r.value, r.flags)
            elif p in (Parameter.NIBP_SYS, Parameter.NIBP_DIA, Parameter.NIBP_MEAN):
                self._nibp(p, r.host_time.timestamp(), value)
                if value is not None:
                    self.latest[p] = Latest(value, r.host_time, r.source)
            elif p is not None:
                self.latest[p] = Latest(value, r.host_time, r.source, r.value, r.flags)

    def _nibp(self, p: Parameter, t: float, value: float | None) -> None:
        slot = {Parameter.NIBP_SYS: 1, Parameter.NIBP_DIA: 2, Parameter.NIBP_MEAN: 3}[p]
        if self.nibp and abs(self.nibp[-1][0] - t) <= NIBP_SAME_MEASUREMENT_S and self.nibp[-1][slot] is None:
            row = list(self.nibp[-1])
            row[slot] = value
            self.nibp[-1] = tuple(row)  # type: ignore[assignment]
        else:
            row = [t, None, None, None]
            row[slot] = value
            self.nibp.append(tuple(row))  # type: ignore[arg-type]
        self.nibp_version += 1

    def last_nibp(self) -> tuple[datetime, float, float, float | None] | None:
        sys_, dia = self.latest.get(Parameter.NIBP_SYS), self.latest.get(Parameter.NIBP_DIA)
        if not sys_ or not dia or sys_.value is None or dia.value is None:
            return None
        mean = self.latest.get(Parameter.NIBP_MEAN)
        mean_v = mean.value if mean and abs((mean.at - sys_.at).total_seconds()) < 10 else None
        return sys_.at, sys_.value, dia.value, mean_v

    def load_history(self, rows: list[dict]) -> None:
        """Fill from stored vital_readings rows (relaunch after a crash), flags included, by the same rules."""
        readings = []
        for row in rows:
            try:
                readings.append(reading_from_row(row))
            except (ValueError, KeyError):
                continue
        readings.sort(key=lambda r: r.host_time)
        hr: list[Reading] = []
        spo2: list[Reading] = []
        rest: list[Reading] = []
        for r in readings:
            if r.parameter in (Parameter.HR, Parameter.PR):
                if self.heart_rate.accept(r.parameter, usable(r)):
                    hr.append(r)
            else:
                (spo2 if r.parameter is Parameter.SPO2 else rest).append(r)
        for param, trace, series in ((Parameter.HR, self.hr, hr), (Parameter.SPO2, self.spo2, spo2)):
            if series:
                values = [r.value if usable(r) else None for r in series]
                trace.extend([r.host_time.timestamp() for r in series],
                             [math.nan if v is None else v for v in values])
                last = series[-1]
                self.latest[param] = Latest(values[-1], last.host_time, last.source)
        self.feed(rest)

"""The live session plot: HR and SpO2 lines, NIBP as systolic/diastolic markers joined by a bar with the mean
marked, the infusion shaded, observations and alerts as markers with their details on hover or tap.

The plot reads :class:`~.livedata.LiveData` and the session view model; it never stores clinical data. It is
repainted only by :meth:`LivePlot.refresh`, which the main window's single repaint timer calls, and it skips
work when nothing it draws has changed.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGraphicsItem, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from .plot_markers import infusion_spans, marker_text, plot_markers  # noqa: F401  (re-exported: tests, older callers)
from .theme import Palette

WINDOWS = (("15 min", 15 * 60), ("30 min", 30 * 60), ("1 h", 3600), ("2 h", 7200), ("All", 0))


class _TimeAxis(pg.DateAxisItem):
    """Local clock time, large enough to read from the chair."""


class LivePlot(QWidget):
    marker_clicked = Signal(str)  # details of a tapped marker
    marker_clicked_at = Signal(str, object)  # ... and where it is on screen (QPoint, global): a popover beside it

    def __init__(self, palette: Palette, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=False, useOpenGL=False)
        self.palette = palette
        self.follow = True
        self.window_s = 30 * 60
        self._versions: tuple = ()
        self.last_refresh_ms = 0.0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)

        bar = QHBoxLayout()
        bar.setSpacing(6)
        self.window_buttons: list[QPushButton] = []
        for label, seconds in WINDOWS:
            b = QPushButton(label)
            b.setCheckable(True)
            b.setChecked(seconds == self.window_s)
            b.setMinimumHeight(44)
            b.clicked.connect(lambda _=False, s=seconds: self.set_window(s))
            bar.addWidget(b)
            self.window_buttons.append(b)
        self.legend = QLabel()
        self.legend.setObjectName("plotLegend")
        self.legend.setWordWrap(True)
        self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.legend.setAlignment(Qt.AlignmentFlag.AlignCenter)
        bar.addWidget(self.legend, 1)
        self.live_button = QPushButton("● LIVE")
        self.live_button.setObjectName("liveButton")
        self.live_button.setCheckable(True)
        self.live_button.setChecked(True)
        self.live_button.setMinimumHeight(44)
        self.live_button.setToolTip("Follow the newest readings (scroll or drag the plot to look back)")
        self.live_button.clicked.connect(self.set_follow)
        bar.addWidget(self.live_button)
        layout.addLayout(bar)

        self.glw = pg.GraphicsLayoutWidget()
        self.glw.ci.setContentsMargins(0, 0, 8, 0)
        self.glw.ci.setSpacing(2)
        layout.addWidget(self.glw, 1)
        font = QFont()
        font.setPixelSize(15)
        self.top = self.glw.addPlot(row=0, col=0, axisItems={"bottom": _TimeAxis(orientation="bottom")})
        self.bottom = self.glw.addPlot(row=1, col=0, axisItems={"bottom": _TimeAxis(orientation="bottom")})
        self.glw.ci.layout.setRowStretchFactor(0, 3)
        self.glw.ci.layout.setRowStretchFactor(1, 1)
        self.bottom.setXLink(self.top)
        for p, label in ((self.top, "HR /min · BP mmHg"), (self.bottom, "SpO2 %")):
            p.showGrid(x=False, y=False)
            p.setMenuEnabled(False)
            p.hideButtons()
            p.getViewBox().setMouseEnabled(x=True, y=False)
            p.getViewBox().sigRangeChangedManually.connect(self._manual_range)
            for axis in ("left", "bottom"):
                p.getAxis(axis).setTickFont(font)
            p.getAxis("left").setWidth(56)
            p.setLabel("left", label)
        self.top.getAxis("bottom").setStyle(showValues=False)
        self.top.setYRange(30, 220, padding=0)
        self.bottom.setYRange(80, 101, padding=0)
        self._live = None  # the LiveData last drawn: a pan or zoom re-slices the curves from it
        self.top.getViewBox().sigXRangeChanged.connect(self._x_moved)

        self.infusion_regions: list[pg.LinearRegionItem] = []
        # Curves get only what is on screen, one min/max pair per pixel column at most (see visible_trace):
        # pyqtgraph's own clip-to-view and downsampling went over all 4 h of every trace on every refresh.
        # Each trace is two curves: what was there at the last redraw, kept as a picture of itself (a cached
        # pixmap, redrawn only when the view steps or every TAIL_MAX new points), and the newest points since.
        self.hr_curve = pg.PlotCurveItem(connect="finite")
        self.hr_tail = pg.PlotCurveItem(connect="finite")
        for curve in (self.hr_curve, self.hr_tail):
            self.top.addItem(curve)
        self._drawn: dict[str, tuple] = {}  # trace -> what its history curve shows (see _draw_curves)
        self._x_target: tuple[float, float] | None = None
        self.nibp_bars = pg.PlotCurveItem([], [], connect="finite")  # not clipped: sys-dia bars stay paired
        self.top.addItem(self.nibp_bars)
        self.sys_points = pg.ScatterPlotItem(symbol="t", size=16)
        self.dia_points = pg.ScatterPlotItem(symbol="t1", size=16)
        self.mean_points = pg.ScatterPlotItem(symbol="d", size=10)
        for item in (self.sys_points, self.dia_points, self.mean_points):
            self.top.addItem(item)
        # BPs taken by hand (and the typed baseline): hollow, like on paper; never joined to the monitor's
        self.manual_sys = pg.ScatterPlotItem(symbol="t", size=16, hoverable=True, tip=self._tip)
        self.manual_dia = pg.ScatterPlotItem(symbol="t1", size=16)
        self.top.addItem(self.manual_sys)
        self.top.addItem(self.manual_dia)
        self._manual: tuple = ()
        self.spo2_curve = pg.PlotCurveItem(connect="finite")
        self.spo2_tail = pg.PlotCurveItem(connect="finite")
        for curve in (self.spo2_curve, self.spo2_tail):
            self.bottom.addItem(curve)
        for item in (self.hr_curve, self.spo2_curve, *(p.getAxis(a) for p in (self.top, self.bottom)
                                                       for a in ("left", "bottom"))):
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)  # repainted only when they change
        self.spo2_limit = pg.InfiniteLine(angle=0, movable=False)
        self.bottom.addItem(self.spo2_limit)
        self.sys_limit = pg.InfiniteLine(angle=0, movable=False)
        self.top.addItem(self.sys_limit)
        self.events = pg.ScatterPlotItem(symbol="s", size=18, hoverable=True, tip=self._tip)
        self.alerts = pg.ScatterPlotItem(symbol="star", size=24, hoverable=True, tip=self._tip)
        self.top.addItem(self.events)
        self.top.addItem(self.alerts)
        self.events.sigClicked.connect(self._clicked)
        self.alerts.sigClicked.connect(self._clicked)
        self.now_line = pg.InfiniteLine(angle=90, movable=False)
        self.top.addItem(self.now_line)
        for item in (self.sys_points, self.dia_points, self.mean_points, self.nibp_bars, self.manual_sys,
                     self.manual_dia, self.events, self.alerts):
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)  # they change a few times an hour
        self.apply_palette(palette)

    # --- look -------------------------------------------------------------------------------------
    def apply_palette(self, pal: Palette) -> None:
        self.palette = pal
        self.glw.setBackground(pal.plot_bg)
        for p in (self.top, self.bottom):
            for axis in ("left", "bottom"):
                ax = p.getAxis(axis)
                ax.setPen(pg.mkPen(pal.plot_axis))
                ax.setTextPen(pg.mkPen(pal.text))
        for curve in (self.hr_curve, self.hr_tail):
            curve.setPen(pg.mkPen(pal.hr, width=2))
        for curve in (self.spo2_curve, self.spo2_tail):
            curve.setPen(pg.mkPen(pal.spo2, width=2))
        self.nibp_bars.setPen(pg.mkPen(pal.bp, width=3))
        self.sys_points.setBrush(pg.mkBrush(pal.bp))
        self.sys_points.setPen(pg.mkPen(pal.plot_bg))
        self.dia_points.setBrush(pg.mkBrush(pal.bp))
        self.dia_points.setPen(pg.mkPen(pal.plot_bg))
        self.mean_points.setBrush(pg.mkBrush(pal.plot_bg))
        self.mean_points.setPen(pg.mkPen(pal.bp, width=2))
        for item in (self.manual_sys, self.manual_dia):
            item.setPen(pg.mkPen(pal.bp, width=2))
            item.setBrush(pg.mkBrush(None))
        self.spo2_limit.setPen(pg.mkPen(pal.alarm, width=1, style=Qt.PenStyle.DashLine))
        self.sys_limit.setPen(pg.mkPen(pal.alarm, width=1, style=Qt.PenStyle.DashLine))
        self.events.setBrush(pg.mkBrush(pal.event))
        self.events.setPen(pg.mkPen(pal.plot_bg))
        self.alerts.setBrush(pg.mkBrush(pal.alarm))
        self.alerts.setPen(pg.mkPen(pal.text))
        self.now_line.setPen(pg.mkPen(pal.plot_axis, width=1, style=Qt.PenStyle.DotLine))
        self.legend.setText(
            f"<span style='color:{pal.hr}'>━ HR</span> &nbsp; <span style='color:{pal.bp}'>▼▲ BP sys/dia, ◇ mean</span>"
            f" &nbsp; <span style='color:{pal.spo2}'>━ SpO2</span> &nbsp; <span style='color:{pal.event}'>■ entry</span>"
            f" &nbsp; <span style='color:{pal.alarm}'>★ alert</span> &nbsp; <span style='color:{pal.infusion_text}'>"
            f"▒ infusion</span>")
        self._versions = ()

    # --- interaction --------------------------------------------------------------------------------
    def set_window(self, seconds: int) -> None:
        self.window_s = seconds
        for (label, s), b in zip(WINDOWS, self.window_buttons):
            b.setChecked(s == seconds)
        self.set_follow(True)

    def set_follow(self, on: bool = True) -> None:
        self.follow = bool(on)
        self._x_target = None  # back to live sets the range again, even within the same step
        self.live_button.setChecked(self.follow)
        self.live_button.setText("● LIVE" if self.follow else "▶ Back to live")
        self._versions = ()

    def _manual_range(self, *_):
        if self.follow:
            self.set_follow(False)

    def _tip(self, x: float, y: float, data) -> str:
        return str(data or "")

    def _clicked(self, _item, points, *_):
        if len(points):
            text = str(points[0].data() or "")
            self.marker_clicked.emit(text)
            self.marker_clicked_at.emit(text, self.marker_global_pos(points[0].pos()))

    def marker_global_pos(self, pos):
        """Screen position of a point given in the top plot's data coordinates (time, value)."""
        scene = self.top.getViewBox().mapViewToScene(pos)
        return self.glw.viewport().mapToGlobal(self.glw.mapFromScene(scene))

    # --- drawing --------------------------------------------------------------------------------------
    def refresh(self, live, now_s: float, infusion: list[tuple[float, float | None, bool]], markers: list, alerts: list,
                policy=None, manual: list | None = None) -> None:
        """Redraw what changed. infusion: [(start, end or None, paused)], markers/alerts: [(t, text)],
        manual: [(at, sys, dia, label)] BPs charted by hand (hollow)."""
        t0 = time.perf_counter()
        manual_key = tuple((m[0].timestamp(), m[1], m[2], m[3]) for m in manual or ())
        if manual_key != self._manual:
            self._manual = manual_key
            self.manual_sys.setData([m[0] for m in manual_key], [m[1] for m in manual_key],
                                    data=[f"BP {m[1]:.0f}/{m[2]:.0f} ({m[3]})" for m in manual_key])
            self.manual_dia.setData([m[0] for m in manual_key], [m[2] for m in manual_key])
        parts = {
            "hr": live.hr.version, "spo2": live.spo2.version, "nibp": live.nibp_version,
            "markers": (len(markers), markers[-1] if markers else None, len(alerts), alerts[-1] if alerts else None),
            "infusion": tuple(infusion), "view": (self.follow, self.window_s, id(self.palette)),
        }
        old = dict(self._versions) if self._versions else {}
        changed = {k for k, v in parts.items() if old.get(k) != v} if "view" in old and old["view"] == parts["view"] else set(parts)
        self._versions = tuple(parts.items())
        self._live = live
        if "nibp" in changed:
            self._draw_nibp(live.nibp)
        if "infusion" in changed:
            self._draw_infusion(infusion, now_s)
        if "markers" in changed:
            self._draw_markers(markers, alerts)
        if policy is not None and "view" in changed:
            self.spo2_limit.setValue(policy.spo2_low)
            self.sys_limit.setValue(policy.sys_high_repeat)
        self.now_line.setValue(now_s)
        if self.follow:
            target = follow_range(now_s, self.window_s, self._start(live, infusion, now_s))
            if target != self._x_target:  # the view steps, so most refreshes leave axes and grid as they were
                self._x_target = target
                self.top.setXRange(*target, padding=0)
        if infusion and infusion[-1][1] is None:
            self._draw_infusion(infusion, now_s)
        self._draw_curves(live)
        self.last_refresh_ms = (time.perf_counter() - t0) * 1000

    @staticmethod
    def _start(live, infusion, now_s: float) -> float:
        """Where "All" starts: the first reading or the infusion start, whichever is earlier."""
        return min([x for x in (live.hr.t[0] if live.hr.n else None, infusion[0][0] if infusion else None)
                    if x is not None] or [now_s - 600])

    def _x_moved(self, *_) -> None:
        if self._live is not None:
            self._draw_curves(self._live)

    TAIL_MAX = 120  # newest points drawn as they are before the history curve is redrawn to include them

    def _draw_curves(self, live) -> None:
        """Each trace: its history curve holds what is on screen, peak-decimated to one min/max pair per two
        pixel columns (a 2 px pen: the same picture), and is redrawn only when the view, the plot's width or
        the trace's start changed, or the tail grew past TAIL_MAX; the tail curve carries on from its last
        point with the readings since."""
        (x0, x1) = self.top.viewRange()[0]
        columns = max(1, int(self.top.getViewBox().width()) // 2)
        for key, curve, tail, trace in (("hr", self.hr_curve, self.hr_tail, live.hr),
                                        ("spo2", self.spo2_curve, self.spo2_tail, live.spo2)):
            t, v = trace.arrays()
            n = len(t)
            view = (id(trace), x0, x1, columns, float(t[0]) if n else None)
            drawn = self._drawn.get(key)
            if drawn is not None and drawn[0] == view and drawn[1] <= n and (drawn[1] == 0 or t[drawn[1] - 1] == drawn[2]):
                split = drawn[1]
                if n == drawn[3]:
                    continue  # nothing new
                if n - split <= self.TAIL_MAX:
                    start = max(0, split - 1)  # from the history's last point: the line stays joined
                    tail.setData(t[start:].copy(), v[start:].copy(), connect="finite", skipFiniteCheck=True)
                    self._drawn[key] = (view, split, drawn[2], n)
                    continue
            x, y = visible_trace(t, v, x0, x1, columns)
            curve.setData(x, y, connect="finite", skipFiniteCheck=True)
            tail.setData([], [])
            self._drawn[key] = (view, n, float(t[n - 1]) if n else None, n)

    def _draw_nibp(self, nibp) -> None:
        rows = [r for r in nibp if r[1] is not None and r[2] is not None]
        if not rows:
            for item in (self.sys_points, self.dia_points, self.mean_points):
                item.setData([], [])
            self.nibp_bars.setData([], [])
            return
        arr = np.array([(r[0], r[1], r[2], np.nan if r[3] is None else r[3]) for r in rows], dtype=float)
        t, s, d, m = arr.T
        self.sys_points.setData(t, s, data=[f"BP {a:.0f}/{b:.0f}" for a, b in zip(s, d)])
        self.dia_points.setData(t, d)
        ok = ~np.isnan(m)
        self.mean_points.setData(t[ok], m[ok])
        bx = np.repeat(t, 3)
        by = np.empty(len(t) * 3)
        by[0::3], by[1::3], by[2::3] = s, d, np.nan
        self.nibp_bars.setData(bx, by, connect="finite")

    def _draw_infusion(self, infusion, now_s: float) -> None:
        while len(self.infusion_regions) > len(infusion) * 2:
            plot, region = self.infusion_regions.pop()
            plot.removeItem(region)
        while len(self.infusion_regions) < len(infusion) * 2:
            for plot in (self.top, self.bottom):
                region = pg.LinearRegionItem(movable=False)
                region.setZValue(-10)
                region.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
                for line in region.lines:
                    line.setPen(pg.mkPen(None))
                plot.addItem(region)
                self.infusion_regions.append((plot, region))
        (x0, x1), width = self.top.viewRange()[0], max(1.0, self.top.getViewBox().width())
        pixel = max(1e-6, (x1 - x0) / width)
        open_end = math.ceil(now_s / pixel) * pixel  # a running infusion's edge moves a whole pixel at a time
        for i, (start, end, paused) in enumerate(infusion):
            fill = self.palette.paused_fill if paused else self.palette.infusion_fill
            for _plot, region in self.infusion_regions[2 * i: 2 * i + 2]:
                region.setRegion((start, end if end is not None else open_end))
                if getattr(region, "_fill", None) != fill:
                    region._fill = fill
                    region.setBrush(pg.mkBrush(fill))
                    region.update()  # the region is cached as a picture: a new colour must redraw it

    def _draw_markers(self, markers, alerts) -> None:
        if markers:
            self.events.setData([m[0] for m in markers], [212] * len(markers), data=[m[1] for m in markers])
        else:
            self.events.setData([], [])
        if alerts:
            self.alerts.setData([a[0] for a in alerts], [200] * len(alerts), data=[a[1] for a in alerts])
        else:
            self.alerts.setData([], [])


def follow_range(now_s: float, window_s: int, start_s: float) -> tuple[float, float]:
    """The x range while following live: the last ``window_s`` seconds always in view, the view stepping
    forward by 4 % of the window (a whole minute for "All", from ``start_s``) instead of by every second, so
    between steps a refresh redraws the new points only, not the axes and the grid."""
    if window_s:
        step = window_s * 0.04
        right = (math.floor(now_s / step) + 1) * step
        return right - window_s - step, right
    return start_s, (math.floor(now_s / 60) + 1) * 60


def visible_trace(t: np.ndarray, v: np.ndarray, x0: float, x1: float, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """The samples of (t, v) between x0 and x1 (and one either side, so the line runs to the edge), with at
    most about ``columns`` min/max pairs: peak downsampling, so every spike stays (each column's lowest and
    highest value are drawn) and a NaN inside a column makes the whole column a gap, as pyqtgraph's "peak"
    mode did. ``t`` ascending."""
    i0 = max(0, int(np.searchsorted(t, x0, side="left")) - 1)
    i1 = min(len(t), int(np.searchsorted(t, x1, side="right")) + 1)
    t, v = t[i0:i1], v[i0:i1]
    n = len(t)
    ds = n // max(1, columns)
    if ds < 2:
        return t.copy(), v.copy()
    m = (n - 1) // ds  # the last sample is kept as it is: the line ends where the trace does
    head_t, head_v = t[:m * ds].reshape(m, ds), v[:m * ds].reshape(m, ds)
    x = np.empty(2 * m)
    y = np.empty(2 * m)
    x[0::2] = head_t[:, 0]
    x[1::2] = head_t[:, -1]
    y[0::2] = head_v.min(axis=1)  # NaN-propagating on purpose: a column with a gap stays a gap
    y[1::2] = head_v.max(axis=1)
    return np.concatenate((x, t[m * ds:])), np.concatenate((y, v[m * ds:]))

"""What the live plot draws (issue 17 made it draw less): every spike, every gap, the newest reading, always
the last window of time in view."""

from __future__ import annotations

import numpy as np
import pytest

from ketachart.ui.livedata import LiveData
from ketachart.ui.plot import LivePlot, follow_range, visible_trace
from ketachart.ui.theme import DARK

T0 = 1_767_600_000.0


def test_peak_decimation_keeps_every_columns_extremes_and_the_last_sample():
    n = 4 * 3600
    t = T0 + np.arange(n, dtype=float)
    v = 75 + 5 * np.sin(t / 300)
    v[9001] = 190.0  # one-second spike
    v[4000] = 31.0
    x, y = visible_trace(t, v, t[0], t[-1], 550)
    assert len(x) <= 2 * 550 + 60  # about one min/max pair per column
    assert np.nanmax(y) == 190.0 and np.nanmin(y) == 31.0  # spikes survive decimation
    assert x[-1] == t[-1] and y[-1] == v[-1]  # the line ends where the trace ends
    assert np.all(np.diff(x) >= 0)


def test_a_gap_inside_a_column_stays_a_gap():
    t = T0 + np.arange(3600, dtype=float)
    v = np.full(3600, 80.0)
    v[1800] = np.nan  # the NaN point Trace inserts for a gap
    _, y = visible_trace(t, v, t[0], t[-1], 100)
    assert np.isnan(y).sum() >= 1
    assert np.isnan(visible_trace(t, v, t[0], t[-1], 10_000)[1]).sum() == 1  # undecimated: exactly the gap


def test_only_the_visible_span_is_given_to_the_curve_plus_one_point_either_side():
    t = T0 + np.arange(1000, dtype=float)
    x, _ = visible_trace(t, t, T0 + 100.5, T0 + 200.5, 10_000)
    assert x[0] == T0 + 100 and x[-1] == T0 + 201


@pytest.mark.parametrize("window", [15 * 60, 30 * 60, 3600, 7200])
def test_following_live_always_shows_the_last_window_and_steps(window):
    ranges = set()
    for k in range(0, 3 * window):
        now = T0 + k * 0.5
        x0, x1 = follow_range(now, window, T0)
        assert x0 <= now - window and now < x1 <= now + window * 0.04 + 1e-6
        ranges.add((x0, x1))
    assert len(ranges) <= 3 * 0.5 * window / (window * 0.04) + 2  # steps, not a new range every refresh


def test_all_view_runs_from_the_start_and_steps_by_the_minute():
    assert follow_range(T0 + 3601, 0, T0) == (T0, (np.floor((T0 + 3601) / 60) + 1) * 60)


def test_the_plot_shows_the_newest_reading_and_every_point_of_the_window(qtbot):
    live = LiveData()
    n = 3 * 3600
    ts = T0 + np.arange(n, dtype=float)
    live.hr.extend(ts, 70 + (ts - T0) % 20)
    plot = LivePlot(DARK)
    qtbot.addWidget(plot)
    plot.resize(1200, 560)
    plot.show()
    plot.set_window(30 * 60)
    for i in range(LivePlot.TAIL_MAX + 30):  # past TAIL_MAX: the history curve is redrawn to take them in
        now = T0 + n + i
        live.hr.append(now, 100 + i % 3)
        plot.refresh(live, now, [], [], [])
        shown = np.concatenate([plot.hr_curve.getData()[0], plot.hr_tail.getData()[0]])
        assert now in shown  # the newest reading is on screen at once
        (x0, x1) = plot.top.viewRange()[0]
        assert x0 <= now - 30 * 60 and now < x1
    t, v = live.hr.arrays()
    inside = (t >= x0) & (t <= x1)
    x, y = plot.hr_curve.getData()
    xt, yt = plot.hr_tail.getData()
    drawn = np.concatenate([y, yt])
    assert np.nanmax(drawn) == np.nanmax(v[inside]) and np.nanmin(drawn) == np.nanmin(v[inside])
    plot.set_window(0)
    plot.refresh(live, T0 + n + 200, [], [], [])
    x, y = plot.hr_curve.getData()
    assert x[0] <= T0 and len(x) < n / 4 and y.max() == v[~np.isnan(v)].max()  # "All": decimated, peaks kept


def test_back_to_live_after_looking_back_shows_now_again(qtbot):
    live = LiveData()
    ts = T0 + np.arange(7200, dtype=float)
    live.hr.extend(ts, np.full(7200, 80.0))
    plot = LivePlot(DARK)
    qtbot.addWidget(plot)
    plot.resize(1200, 560)
    plot.show()
    now = T0 + 7200
    plot.refresh(live, now, [], [], [])
    live_range = plot.top.viewRange()[0]
    plot.set_follow(False)
    plot.top.setXRange(T0, T0 + 600, padding=0)  # the nurse drags back to the start
    plot.refresh(live, now + 1, [], [], [])
    assert plot.top.viewRange()[0][1] < now - 3600
    assert T0 + 300 in plot.hr_curve.getData()[0]  # the curve follows the pan (the slice is redone)
    plot.set_follow(True)  # "Back to live", within the same view step
    plot.refresh(live, now + 2, [], [], [])
    assert plot.top.viewRange()[0] == pytest.approx(live_range)

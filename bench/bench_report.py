"""``report.pdf_s``: seconds to produce the printed summary of a 4-hour session, in process (build + render);
``cpu_s`` and ``build_cpu_s`` are the CPU seconds of the same run (judge by them on a shared machine). The same on
the year-sized chart: ``report.pdf_s.year`` in ``bench_scale``."""

from __future__ import annotations

import os
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path


def run(quick: bool):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    from ketachart.demo import write_demo_session
    from ketachart.domain.clock import FakeClock
    from ketachart.report.model import build_summary
    from ketachart.report.render import render_pdf
    from ketachart.store.open import open_store

    app = QGuiApplication.instance() or QGuiApplication(["bench"])
    minutes = 60 if quick else 240
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "bench.db", unencrypted=True,
                           clock=FakeClock(datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)))
        try:
            sid = write_demo_session(store, seed=0, monitoring_minutes=minutes)
            now = store.clock.now() + timedelta(hours=6)
            timings, pages = [], 0
            for i in range(1 if quick else 3):
                t0, c0 = time.perf_counter(), time.process_time()
                summary = build_summary(store, sid, now)
                t1, c1 = time.perf_counter(), time.process_time()
                pages = render_pdf(summary, Path(tmp) / f"summary-{i}.pdf")
                t2, c2 = time.perf_counter(), time.process_time()
                timings.append((t2 - t0, t1 - t0, t2 - t1, c2 - c0, c1 - c0))
            best = min(timings)
            yield {"name": "report.pdf_s", "value": round(best[0], 3), "unit": "s", "goal": 0.3,
                   "build_s": round(best[1], 3), "render_s": round(best[2], 3),
                   "cpu_s": round(min(t[3] for t in timings), 3), "build_cpu_s": round(min(t[4] for t in timings), 3),
                   "pages": pages,
                   "monitoring_minutes": minutes, "readings": summary.row_count}
        finally:
            store.close()
    del app

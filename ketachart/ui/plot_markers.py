"""What the live plot marks, as plain numbers and text: observation and alert markers, infusion spans.

Kept apart from :mod:`.plot` (pyqtgraph, numpy) so the session screen's repaint can compute them without the
plotting library being imported before the plot is first shown.
"""

from __future__ import annotations

from ..domain.vitals import infusion_spans as domain_infusion_spans
from ..domain.vocabulary import Kind


def marker_text(entry) -> str:
    return f"{entry.time}  {entry.text}" + ("".join(f"\n{f}" for f in entry.flags)) + "".join(f"\n{h}" for h in entry.history)


def plot_markers(entries) -> tuple[list, list]:
    markers, alerts = [], []
    for e in entries:
        if e.table == "alerts":
            alerts.append((e.at.timestamp(), marker_text(e)))
        elif e.table == "observations" and e.kind not in (Kind.PRECHECK,):
            markers.append((e.at.timestamp(), marker_text(e)))
        elif e.table in ("rate_changes", "session_events"):
            markers.append((e.at.timestamp(), marker_text(e)))
    markers.sort()
    alerts.sort()
    return markers, alerts


def infusion_spans(view, now) -> list[tuple[float, float | None, bool]]:
    """(start, end, paused) spans in epoch seconds, by the one rule (:func:`ketachart.domain.vitals.infusion_spans`)."""
    if view is None:
        return []
    spans = domain_infusion_spans((e["event"], e["effective_at"]) for e in view.events)
    return [(s.start.timestamp(), s.end.timestamp() if s.end else None, s.paused) for s in spans]

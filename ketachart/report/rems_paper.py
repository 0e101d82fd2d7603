"""The Spravato REMS patient monitoring form as one page ready to submit, and the "REMS forms due" list.

The page prints the fields of :func:`ketachart.report.rems.rems_form` (the same figures as the summary) in the
form's order, dates as MM/DD/YYYY; "not recorded" fields are flagged in red so nobody submits a gap unseen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..domain.records import REMS_SUBMIT_DAYS, rems_days_left, us_date
from ..domain.session import SessionState
from ..store.records import in_sessions, rems_submission
from ..store.repository import ChartStore
from ..store.views import session_view
from .model import Summary
from .paper_model import Doc, Fields, Heading, Para
from .settings import LocalClock


def rems_doc(summary: Summary) -> Doc:
    """One page: the form's sections in order, numbered as on the form."""
    if summary.rems is None:
        raise ValueError("only intranasal esketamine sessions have a REMS monitoring form")
    blocks: list = []
    n = 1
    for title, fields in summary.rems:
        blocks.append(Heading(title))
        blocks.append(Fields(fields, label_width=250, numbered_from=n))
        n += len(fields)
    gaps = [f.label for _, fields in summary.rems for f in fields if f.flag]
    blocks.append(Para("Fields in red are missing from the chart or outside the expected range: check them before "
                       "submitting." if gaps else "Every field was filled from the chart.", "small"))
    blocks.append(Para("Submitted by: ______________________   Date (MM/DD/YYYY): ____________", "small"))
    status = " - IN PROGRESS, not final" if summary.in_progress else ""
    return Doc(
        title="SPRAVATO REMS - Patient Monitoring Form",
        subtitle=[f"{summary.clinic_name} - {summary.patient_name} - session {summary.session_id}{status}",
                  f"Filled from the chart; times in {summary.tz_label}. Submit within {REMS_SUBMIT_DAYS} days."],
        blocks=blocks,
        footer=f"KetaChart - record fingerprint {summary.fingerprint_short} - printed {summary.printed_at}",
        pdf_title=f"Spravato REMS patient monitoring form {summary.session_id}",
    )


@dataclass(frozen=True)
class DueForm:
    session_id: str
    patient: str
    mrn: str
    session_date: str  # MM/DD/YYYY
    days_left: int

    @property
    def status(self) -> str:
        if self.days_left < 0:
            return f"OVERDUE by {-self.days_left} day(s)"
        return f"{self.days_left} day(s) left"


def rems_due(store: ChartStore, today: date, clk: LocalClock) -> list[DueForm]:
    """Every finished Spravato session (discharged, or ended after administration) whose form is not marked
    submitted, most urgent first."""
    out = []
    for s in in_sessions(store):
        state = store.session_state(s["id"])
        if not state.is_final or rems_submission(store, s["id"]) is not None:
            continue
        view = session_view(store, s["id"])
        started = view.infusion_started_at
        if state is SessionState.ABORTED and started is None:
            continue  # ended before any dose: no monitoring form
        day = clk.local(started or s["effective_at"]).date()
        p = view.patient
        out.append(DueForm(s["id"], f"{p['family_name'].upper()}, {p['given_name']}", p["mrn"], us_date(day),
                           rems_days_left(day, today)))
    return sorted(out, key=lambda d: (d.days_left, d.session_id))

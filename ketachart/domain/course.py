"""Where a patient is in a course of sessions, and when the next one is due (docs/CLINICAL.md, section 1).

IV ketamine: 2-3 sessions a week for the first 4 weeks, then weekly, then monthly or as needed. Intranasal
esketamine (Spravato label): twice a week in weeks 1-4, weekly in weeks 5-8, then weekly or every 2 weeks.
The due date is the last completed session plus the phase's usual gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class CoursePhase:
    phase: str  # "Induction, week 2 of 4 (twice a week)"
    next_due: datetime  # the last completed session + the phase's gap
    overdue: bool


def course_phase(first_done: datetime, last_done: datetime, route: str, now: datetime) -> CoursePhase:
    """The phase from the first completed session, the next due date from the last one."""
    weeks = (now - first_done).days / 7
    intranasal = route == "IN"
    if weeks < 4:
        phase, gap = f"Induction, week {int(weeks) + 1} of 4 ({'twice' if intranasal else '2-3 times'} a week)", 3
    elif weeks < 8:
        phase, gap = f"Weekly phase, week {int(weeks) + 1}", 7
    elif intranasal:
        phase, gap = "Maintenance (weekly or every 2 weeks)", 14
    else:
        phase, gap = "Maintenance (monthly or as needed)", 28
    due = last_done + timedelta(days=gap)
    return CoursePhase(phase, due, due < now)

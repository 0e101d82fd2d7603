"""The patient's discharge handout: the clinic's discharge instructions (clinic settings, versioned) with the
escort and whom to call, printed with the summary set. Giving it is charted with the instructions' version
(:meth:`ketachart.chair.records.RecordsCommands.give_handout`)."""

from __future__ import annotations

from datetime import datetime

from ..domain.records import instruction_lines
from ..domain.vocabulary import Kind, route_words
from ..store.repository import ChartStore
from ..store.views import session_view
from .fields import Field
from .paper_model import Doc, Fields, Heading, Para
from .settings import LocalClock, ReportSettings


def handout_doc(store: ChartStore, session_id: str, now: datetime, settings: ReportSettings | None = None) -> Doc:
    settings = settings or ReportSettings.resolve(store)
    zone, _ = settings.zone()
    clk = LocalClock(zone)
    view = session_view(store, session_id)
    p = view.patient
    pre = {o.data.get("item"): o.data.get("answer") for o in view.observations_of(Kind.PRECHECK)}
    escort = pre.get("escort_name") or "________________"
    escort_phone = pre.get("escort_phone") or ""
    started = view.infusion_started_at
    call = settings.clinic_phone or "________________"
    after = settings.after_hours_phone or "911 (emergency)"
    blocks: list = [
        Fields([
            Field("Patient", f"{p['given_name']} {p['family_name']}"),
            Field("Treatment", f"{route_words(view.session['route']).session}, "
                               f"{clk.full(started or view.session['effective_at'])}"),
            Field("Going home with", f"{escort} {escort_phone}".strip()),
        ], label_width=130),
        Heading("For the rest of today"),
    ]
    for line in instruction_lines(settings.discharge_instructions):
        blocks.append(Para(line, bullet=True))
    blocks += [
        Heading("Whom to call"),
        Fields([Field(f"{settings.clinic_name}", call), Field("After hours", after),
                Field("Emergency", "911")], label_width=130),
        Para("Bring this sheet to your next visit if you had any problem after today's treatment.", "small"),
        Para("Given by: ______________________   Patient / escort: ______________________", "bold"),
    ]
    version = settings.settings_version
    return Doc(
        title="After your treatment today",
        subtitle=[settings.clinic_name + (f" - {settings.clinic_address}" if settings.clinic_address else ""),
                  f"Discharge instructions, clinic settings version {version}" if version
                  else "Discharge instructions (built-in text; the clinic has not set its own)"],
        blocks=blocks, footer=f"{settings.clinic_name} - printed {clk.full(now)}",
        pdf_title=f"Discharge instructions {session_id}",
    )

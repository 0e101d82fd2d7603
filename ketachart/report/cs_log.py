"""The controlled-substance log (ketamine and esketamine are Schedule III): every administration and waste in
a period with the lot, amounts, who prepared, who administered, who witnessed the waste, and whether the vial
reconciles. Read from the chart (no Qt here except through :mod:`.paper` for the PDF)."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from typing import TextIO

from ..domain.records import reconcile
from ..domain.session import SessionEvent
from ..domain.vocabulary import Kind
from ..store.records import all_sessions, data_of_row, order_of, order_text, product_of, reconciliation_of
from ..store.repository import ChartStore
from ..store.views import SessionView, session_view
from .paper_model import Doc, Para, Table
from .settings import LocalClock, ReportSettings


@dataclass(frozen=True)
class CsRow:
    when: str  # local date and time
    entry: str  # administration | waste
    session_id: str
    patient: str
    mrn: str
    drug: str
    route: str
    order: str
    lot: str
    product: str
    ordered_mg: str
    prepared_mg: str
    delivered_mg: str
    waste_mg: str
    remaining_mg: str
    prepared_by: str
    administered_by: str
    witness: str
    reconciliation: str
    flag: bool = False  # no order, no lot, no witness, a discrepancy: shown in red


def _g(v: float | None) -> str:
    return "" if v is None else f"{v:g}"


def delivered_mg(view: SessionView) -> float | None:
    """Delivered amount: typed or pump volume at Stop (``delivered_mg`` or ``volume_ml`` x concentration); an
    intranasal dose is delivered when administration completed."""
    dose = view.dose.row if view.dose else None
    if dose is None:
        return None
    stop = next((e for e in view.events if e["event"] == SessionEvent.STOP_INFUSION.value), None)
    if dose["route"] == "IN":
        return dose["dose_mg"] if stop is not None else None
    if stop is None:
        return None
    d = stop["details"]
    if d.get("delivered_mg") is not None:
        return float(d["delivered_mg"])
    if d.get("volume_ml") is not None and dose.get("concentration_mg_per_ml"):
        return round(float(d["volume_ml"]) * float(dose["concentration_mg_per_ml"]), 2)
    return None


def cs_log_rows(store: ChartStore, first: date, last: date, clk: LocalClock) -> list[CsRow]:
    users = {u["user_id"]: u["display_name"] for u in store.users()}

    def who(uid: str | None) -> str:
        return users.get(uid or "", uid or "")

    out: list[tuple[datetime, int, CsRow]] = []
    for s in all_sessions(store):
        view = session_view(store, s["id"])
        if view.dose is None:
            continue
        dose = view.dose.row
        at = view.infusion_started_at or dose["effective_at"]
        if not (first <= clk.local(at).date() <= last):
            continue
        p = view.patient
        order = order_of(store, s["id"])
        product = product_of(store, s["id"])
        pdata = data_of_row(product)
        wastes = view.observations_of(Kind.WASTE)
        waste_total = sum(float(w.data.get("amount_mg", w.row["value"]) or 0) for w in wastes)
        witnesses = ", ".join(who(w.data.get("witness")) or "NO WITNESS" for w in wastes)
        vial_mg = pdata.get("vial_mg") or next((w.data.get("vial_mg") for w in wastes if w.data.get("vial_mg")), None)
        delivered = delivered_mg(view)
        rec_row = reconciliation_of(store, s["id"])
        if rec_row is not None:
            rd = data_of_row(rec_row)
            status = "reconciled" if rd.get("reconciled") else (
                f"DISCREPANCY {rd.get('discrepancy_mg', 0):+g} mg, signed: {rd.get('note', '')}")
            remaining = rd.get("remaining_mg")
            bad = False
        elif vial_mg and delivered is not None:
            rec = reconcile(float(vial_mg), delivered, waste_total, 0.0)
            status = "reconciled (from the chart)" if rec.reconciled else (
                f"DISCREPANCY {rec.discrepancy_mg:+g} mg, not signed")
            remaining, bad = 0.0, not rec.reconciled
        else:
            missing = "vial size" if not vial_mg else "delivered amount"
            status, remaining, bad = f"not reconciled ({missing} not charted)", None, True
        performer = next((sg["printed_name"] for sg in view.dose.signatures if sg["meaning"] == "performed"), None)
        start_ev = next((e for e in view.events if e["event"] == SessionEvent.START_INFUSION.value), None)
        administered = performer or (who(start_ev["author"]) if start_ev else "")
        lot = pdata.get("lot") or dose.get("lot") or ""
        common = dict(session_id=s["id"], patient=f"{p['family_name'].upper()}, {p['given_name']}", mrn=p["mrn"],
                      drug=dose["drug"], route=dose["route"],
                      order=order_text(order), lot=lot or "NOT RECORDED",
                      product=(product["text"] if product else ""),
                      reconciliation=status)
        ordered = data_of_row(order)
        ordered_mg = ordered.get("dose_mg")
        if ordered_mg is None and ordered.get("mg_per_kg") and dose.get("weight_kg"):
            ordered_mg = round(float(ordered["mg_per_kg"]) * float(dose["weight_kg"]), 1)
        out.append((at, 0, CsRow(
            when=clk.full(at), entry="administration", ordered_mg=_g(ordered_mg), prepared_mg=_g(dose["dose_mg"]),
            delivered_mg=_g(delivered) if delivered is not None else "not charted", waste_mg=_g(waste_total),
            remaining_mg=_g(remaining), prepared_by=who(dose.get("prepared_by")), administered_by=administered,
            witness=witnesses, flag=bad or order is None or not lot, **common)))
        for w in wastes:
            amount = float(w.data.get("amount_mg", w.row["value"]) or 0)
            witness = who(w.data.get("witness")) if w.data.get("witness") else "NO WITNESS"
            out.append((w.row["effective_at"], 1, CsRow(
                when=clk.full(w.row["effective_at"]), entry="waste", ordered_mg="",
                prepared_mg="", delivered_mg="", waste_mg=_g(amount), remaining_mg="",
                prepared_by=who(dose.get("prepared_by")), administered_by="", witness=witness,
                flag=not w.data.get("witness"), **common)))
    out.sort(key=lambda r: (r[0], r[1]))
    return [r for _, _, r in out]


def write_cs_csv(rows: list[CsRow], fh: TextIO) -> None:
    names = [f.name for f in fields(CsRow)]
    w = csv.DictWriter(fh, fieldnames=names, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (int(v) if isinstance(v, bool) else v) for k, v in asdict(r).items()})


def cs_log_doc(rows: list[CsRow], first: date, last: date, settings: ReportSettings) -> Doc:
    headers = ["When", "Entry", "Patient / MRN", "Drug, route, lot", "Ordered / prepared / delivered / waste mg",
               "Prepared by", "Administered by", "Witness", "Reconciliation"]
    table_rows = []
    for r in rows:
        amounts = (f"{r.ordered_mg or '-'} / {r.prepared_mg or '-'} / {r.delivered_mg or '-'} / {r.waste_mg or '-'}"
                   if r.entry == "administration" else f"waste {r.waste_mg}")
        order = f"\norder: {r.order}" if r.entry == "administration" else ""
        table_rows.append([r.when, r.entry, f"{r.patient}\n{r.mrn}", f"{r.drug} {r.route}\nlot {r.lot}{order}", amounts,
                           r.prepared_by, r.administered_by, r.witness, r.reconciliation])
    flagged = sum(1 for r in rows if r.flag)
    blocks = [Table(headers, table_rows, [0.08, 0.09, 0.11, 0.16, 0.13, 0.09, 0.09, 0.09, 0.16], [r.flag for r in rows]),
              Para(f"{sum(1 for r in rows if r.entry == 'administration')} administrations, "
                   f"{sum(1 for r in rows if r.entry != 'administration')} wastes; {flagged} flagged (red: no order, "
                   "no lot, no witness, or the vial does not reconcile).", "small")]
    return Doc(
        title="Controlled-substance log (Schedule III: ketamine, esketamine)",
        subtitle=[f"{settings.clinic_name} - {first.isoformat()} to {last.isoformat()}",
                  "vial = delivered + waste + remaining; a discrepancy must be explained and signed"],
        blocks=blocks, footer="KetaChart controlled-substance log", pdf_title="KetaChart controlled-substance log",
        landscape=True)

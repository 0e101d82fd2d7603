"""Export of the audit trail to CSV (admins). The export itself is audited."""

from __future__ import annotations

import csv
from pathlib import Path

from ..store.repository import ChartStore
from .accounts import Accounts, SignedInUser, audit_rows

COLUMNS = ("recorded_at", "effective_at", "author", "action", "target", "details", "device_id", "device_seq", "id")


def export_audit_csv(accounts: Accounts, actor: SignedInUser, path: Path) -> int:
    """Write every audit event (newest first) to ``path``; returns the row count. Needs ``export-audit``."""
    accounts.require(actor, "export-audit")
    store: ChartStore = accounts.store
    rows = audit_rows(store)
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow([
                r[c].isoformat() if hasattr(r[c], "isoformat") else ("" if r[c] is None else r[c]) for c in COLUMNS
            ])
    store.audit("export", "audit_events", {"rows": len(rows), "format": "csv"}, author=actor.user_id)
    return len(rows)

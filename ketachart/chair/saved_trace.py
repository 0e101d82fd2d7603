"""Opt-in trace of what the UI confirmed as saved, so a crash test can check it against the file afterwards.

Off unless ``KETACHART_SAVED_TRACE=/path/to/trace.jsonl`` is set. Then every "saved" confirmation appends one
JSON line *after* the store call it confirms has returned (committed, fsynced) and *before* the UI shows it:

    {"kind": "dissociation", "ids": ["01J..."]}                         a one-tap entry, a command, an alert
    {"kind": "vitals", "session": "01J...", "rows": 12, "committed": 340}  a vitals-writer commit

Ids and counts only - never a name, MRN, value or free text. Each line is one ``write`` to a file opened for
appending, so a killed process leaves whole lines (the last may be cut short; readers skip it).
"""

from __future__ import annotations

import json
import os
import threading

ENV = "KETACHART_SAVED_TRACE"
_lock = threading.Lock()


def trace_saved(kind: str, ids=(), **counts: object) -> None:
    """Record one confirmation (no-op unless ``KETACHART_SAVED_TRACE`` is set). Never raises."""
    path = os.environ.get(ENV)
    if not path:
        return
    entry: dict = {"kind": kind}
    if ids:
        entry["ids"] = [str(i) for i in ids]
    entry.update(counts)
    line = json.dumps(entry, sort_keys=True) + "\n"
    try:
        with _lock, open(path, "a", encoding="utf-8") as fh:
            fh.write(line)
    except OSError:
        pass  # a diagnostics file must never stop charting


def trace_vitals_committed(session_id: str, rows: int, committed: int) -> None:
    """The vitals writer's ``on_committed``: one line per commit, from the writer thread after it returned."""
    trace_saved("vitals", session=session_id, rows=rows, committed=committed)
